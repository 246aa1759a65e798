"""Polysemantic-neuron counts of prox-gd and AdamW at n = 64 (not a benchmark of speed).

It produces item 7 ("AdamW at n = 64") of docs/results.md, section "Where theory and
simulation agree, and where they do not".

    python -m benchmarks._polysemanticity_counts [--json out.json] [--csv runs.csv]
        [--optimizer {prox-gd,adamw}]

For n = 64, m in {64, 256, 1024}, 20 seeds each, trains prox-gd (lr 0.1, lam 4e-3 code
units, until the mapping norm is <= 1e-8) and adamw (the paper's setting: lr 1e-3,
lam 1e-3, weight decay 0.01, 7500 steps) from the same initial weights, and prints the
mean window-rule and assignment-rule counts, the fraction of polysemantic neurons whose
features have opposite signs, the winner = initial-argmax fraction, and n(n-1)/(4m).
``--csv`` also writes one row per run (docs/data/adamw-n64.csv is
``--optimizer adamw --csv docs/data/adamw-n64.csv``); ``--optimizer`` trains only one of
the two settings (the initial weights do not depend on it).
"""

from __future__ import annotations

import argparse
import csv
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


CSV_COLUMNS = ("optimizer", "n", "m", "lam", "lr", "weight_decay", "dtype", "instance",
               "seed_entropy", "seed_spawn_key", "status", "steps", "window_count",
               "assignment_count", "features_represented", "winner_is_init_argmax")


def _csv_rows(name: str, opts: TrainOptions, m: int, recs, ms) -> list[dict]:
    return [{"optimizer": name, "n": N, "m": m, "lam": opts.lam, "lr": opts.lr,
             "weight_decay": opts.weight_decay if name == "adamw" else "",
             "dtype": opts.dtype, "instance": r.instance, "seed_entropy": r.seed[0],
             "seed_spawn_key": " ".join(map(str, r.seed[1])), "status": r.status,
             "steps": r.steps, "window_count": mm.window_count,
             "assignment_count": mm.assignment_count,
             "features_represented": mm.features_represented,
             "winner_is_init_argmax": f"{mm.winner_is_init_argmax:.6g}"}
            for r, mm in zip(recs, ms, strict=True)]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json")
    p.add_argument("--csv", help="also write one row per run to this CSV file")
    p.add_argument("--optimizer", choices=tuple(SETTINGS), help="train only this setting")
    args = p.parse_args(argv)
    settings = {k: v for k, v in SETTINGS.items() if args.optimizer in (None, k)}
    rows, runs = [], []
    for m in MS:
        seeds = np.random.SeedSequence(20261125 + m).spawn(SEEDS)
        W0 = init_weights(N, m, seeds)
        for name, opts in settings.items():
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
            runs += _csv_rows(name, opts, m, recs, ms)
            print(json.dumps(row), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(runs)


if __name__ == "__main__":
    main()
