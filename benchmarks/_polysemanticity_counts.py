"""Polysemantic-neuron counts of prox-gd and AdamW at n = 64 (not a benchmark of speed).

It produces item 7 ("AdamW at n = 64") of docs/results.md, section "Where theory and
simulation agree, and where they do not".

    python -m benchmarks._polysemanticity_counts [--json out.json]

For n = 64, m in {64, 256, 1024}, 20 seeds each, trains prox-gd (lr 0.1, lam 4e-3 code
units, until the mapping norm is <= 1e-8) and adamw (the paper's setting: lr 1e-3,
lam 1e-3, weight decay 0.01, 7500 steps) from the same initial weights, and prints the
mean window-rule and assignment-rule counts, the fraction of polysemantic neurons whose
features have opposite signs, the winner = initial-argmax fraction, and n(n-1)/(4m).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from dynamics import TrainOptions, init_weights, measure, train

N = 64
MS = (64, 256, 1024)
SEEDS = 20
SETTINGS = {
    "prox-gd": TrainOptions(optimizer="prox-gd", lr=0.1, lam=4e-3, tol=1e-8,
                            max_steps=400_000, record_weights=True, chunk_steps=2000),
    "adamw": TrainOptions(optimizer="adamw", lr=1e-3, lam=1e-3, max_steps=7500,
                          record_weights=True, chunk_steps=2500),
}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json")
    args = p.parse_args(argv)
    rows = []
    for m in MS:
        seeds = np.random.SeedSequence(20261125 + m).spawn(SEEDS)
        W0 = init_weights(N, m, seeds)
        for name, opts in SETTINGS.items():
            t = time.perf_counter()
            recs = train(W0, opts, seeds=seeds)
            wall = time.perf_counter() - t
            ms = [measure(r.W0, r.W) for r in recs]
            poly = [c for mm in ms for c in mm.composition]
            opposite = sum(1 for _, a, b in poly if a >= 1 and b >= 1)
            row = {
                "optimizer": name, "n": N, "m": m, "seeds": SEEDS,
                "converged": sum(r.converged for r in recs),
                "steps_mean": float(np.mean([r.steps for r in recs])),
                "steps_max": int(max(r.steps for r in recs)),
                "window_mean": float(np.mean([mm.window_count for mm in ms])),
                "assignment_mean": float(np.mean([mm.assignment_count for mm in ms])),
                "poly_neurons": len(poly),
                "opposite_sign_fraction": opposite / len(poly) if poly else None,
                "exactly_two_opposite": sum(1 for _, a, b in poly if (a, b) == (1, 1)),
                "winner_init_argmax": float(np.mean([mm.winner_is_init_argmax for mm in ms])),
                "features_represented_min": min(mm.features_represented for mm in ms),
                "max_positive_overlap": max(mm.max_positive_overlap for mm in ms),
                "n2_over_4m": N * (N - 1) / (4 * m),
                "wall_s": wall,
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
