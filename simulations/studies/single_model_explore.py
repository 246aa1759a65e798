"""Exploration runs behind docs/theory/tilted-occupancy.md (issue 19, item 1).

`python -m simulations.studies.single_model_explore --out docs/data/single_model_explore.csv
 [--n 64 128] [--ratios 1 1.25 1.5 2 3 4 8] [--lams 0.01 0.001] [--instances 16]`

Exploration master seed **8 219 019** (the exploration range 8 200 000-8 299 999; the
range 9 000 000-9 999 999 is reserved for the confirmation). Instance i of grid point
(n, m) starts from `SeedSequence([8219019, n, m]).spawn(k)[i]` (docs/usage.md#seeds,
the research-study convention), the same W0 at every lam, so the lam contrast is paired.
Training: prox-gd to convergence as the studies run it (`_presets.CONVERGED_PROX_GD`:
lr 0.05, tol 1e-6) at each lam, with the step cap ceil(15 / (lam lr)) of the lam study
(cascade_explore lam). One row per instance; rows are appended as each point finishes, and
points already in the CSV are skipped (so an interrupted run resumes).
"""

from __future__ import annotations

import argparse
import csv
import math
import time
from pathlib import Path

from dynamics import (
    TrainOptions,
    assign_features,
    count_polysemantic_assignment,
    init_weights,
    train,
)
from simulations._presets import CONVERGED_PROX_GD
from simulations._seeds import stream_seed
from theory.cascades import poly_count

MASTER = 8_219_019
FIELDS = ["n", "m", "lam", "instance", "seed", "count", "count_both_signs", "converged", "steps",
          "seconds"]


def run_point(n: int, m: int, lam: float, instances: int) -> list[dict]:
    seeds = stream_seed(MASTER, n, m).spawn(instances)
    lr = CONVERGED_PROX_GD["lr"]
    opts = TrainOptions(optimizer="prox-gd", lr=lr, lam=lam, tol=CONVERGED_PROX_GD["tol"],
                        max_steps=math.ceil(15 / (lam * lr)), record_weights=True)
    t0 = time.process_time()
    recs = train(init_weights(n, m, seeds), opts, seeds=seeds)
    sec = (time.process_time() - t0) / instances
    return [{"n": n, "m": m, "lam": lam, "instance": i, "seed": f"[{MASTER},{n},{m}]/{i}",
             "count": count_polysemantic_assignment(r.W),
             "count_both_signs": poly_count(*assign_features(r.W), m),
             "converged": int(r.converged), "steps": r.steps, "seconds": round(sec, 3)}
            for i, r in enumerate(recs)]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m simulations.studies.single_model_explore")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--n", type=int, nargs="+", default=[64, 128])
    ap.add_argument("--ratios", type=float, nargs="+", default=[1, 1.25, 1.5, 2, 3, 4, 8])
    ap.add_argument("--lams", type=float, nargs="+", default=[1e-2, 1e-3])
    ap.add_argument("--instances", type=int, default=16)
    a = ap.parse_args(argv)
    if any(n > 128 for n in a.n):
        raise SystemExit("exploration is limited to n <= 128")
    done = set()
    if a.out.exists():
        with a.out.open() as f:
            done = {(int(r["n"]), int(r["m"]), float(r["lam"])) for r in csv.DictReader(f)}
    for lam in a.lams:
        for n in a.n:
            for ratio in a.ratios:
                m = round(ratio * n)
                if (n, m, lam) in done:
                    continue
                rows = run_point(n, m, lam, a.instances)
                new = not a.out.exists()
                with a.out.open("a", newline="") as f:
                    w = csv.DictWriter(f, FIELDS)
                    if new:
                        w.writeheader()
                    w.writerows(rows)
                print(n, m, lam, sum(r["count"] for r in rows) / len(rows),
                      rows[0]["seconds"], flush=True)


if __name__ == "__main__":
    main()
