"""Confirmation run of docs/theory/cascades.md: per-instance records behind its tables.

`python -m simulations.studies.cascade_check --master 7000001 --instances 32
--out docs/data/cascades_confirm.csv`

For each (n, m) on the grid and each `--lam` (default 1e-2), instance i starts from
`init_weights` with seed `SeedSequence([master, n, m]).spawn(instances)[i]` (the same
W0 at every lam) and is trained by prox-gd to convergence (lr 0.05, tol 1e-6, at most
max(50 000, ceil(15 / (lam lr))) steps). One CSV row per run: the polysemantic count,
the predictor's and the init-argmax baseline's scores
(`simulations.predict.score_prediction`), and, for the first `timed` instances of each
grid point, the wall time of the predictor and of training that one instance alone to
convergence.

The analyses of the preregistrations that use these records read the CSV again:
`--switch-table` (docs/preregistration-best-model.md) and `--lam-table`
(docs/preregistration-lam-n64.md, docs/preregistration-fast-sparsification.md).

Each (n, m, lam, instance) is one `Run` ("study-cascade-check": the seed rule, the training
options and whether it is timed in its params), computed by `run_one` through the
executors and the results store (`--store`, `--workers`; simulations/studies/_runs.py):
an interrupted run resumes, and a rerun reuses what is stored. The records other than
the timings are those of the batch this script trained before (`dynamics.train` computes
each instance on its own, in a fixed order, whatever the batch); tests/test_studies.py
checks them against `docs/data/cascades_confirm.csv`. A timed instance is timed in its
worker after its own training compiled everything; with several workers the timings share
the cores.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

from dynamics import TrainOptions, count_polysemantic_assignment, init_weights, train
from simulations._presets import CONVERGED_PROX_GD
from simulations._stats import holm, t_interval
from simulations.predict import init_argmax, predict_instance, score_prediction
from simulations.replication import PREREGISTERED
from simulations.runner.cli import run_cli
from simulations.runner.protocol import Run
from simulations.studies import _runs
from theory import expected_poly_cascade, expected_poly_exact

PROG = "python -m simulations.studies.cascade_check"
GRID_N = (32, 64)
GRID_RATIO = (1.0, 1.5, 2.0, 4.0, 8.0)
OPTIONS = CONVERGED_PROX_GD  # the `quick` preset's training (simulations/_presets.py)
FIELDS = ["n", "m", "lam", "instance", "count", "converged", "steps", "pred_accuracy",
          "pred_precision", "pred_recall", "pred_n_poly", "base_accuracy", "base_precision",
          "base_recall", "base_n_poly", "predict_seconds", "train_seconds"]


def options(lam: float) -> dict:
    """OPTIONS at another lam; the step cap grows to the replication's 15 / (lam lr)."""
    cap = max(OPTIONS["max_steps"], PREREGISTERED.step_cap(lam, OPTIONS["lr"]))
    return {**OPTIONS, "lam": lam, "max_steps": cap}


def runs(master: int, points, lams, instances: int, timed: int) -> list[Run]:
    """One Run per (n, m) in `points`, lam in `lams` and instance, in the order of the CSV rows.

    Instance i of (n, m) starts from `SeedSequence([master, n, m]).spawn(instances)[i]` at
    every lam (so runs at different lam are paired), the seed of every published record;
    the first `timed` instances of each point are also timed.
    """
    return [Run("study-cascade-check",
                {"n": n, "m": m, "lam": lam, "options": options(lam),
                 "seed": _runs.seed_param([master, n, m], i), "timed": i < timed},
                instance=i, cost=float(n * n * m * options(lam)["max_steps"]))
            for n, m in points for lam in lams for i in range(instances)]


def run_one(run: Run) -> dict:
    """Train one instance to convergence and score the predictor and the baseline on it;
    its CSV row (FIELDS; the timings empty unless the run is timed)."""
    p, i = run.params, run.instance
    n, m, lam, opt = p["n"], p["m"], p["lam"], p["options"]
    seed = _runs.seed_sequence(p["seed"])
    W0 = init_weights(n, m, [seed])[0]
    (rec,) = train(W0, TrainOptions(record_weights=True, **opt), seeds=[seed])
    pred = score_prediction(predict_instance(W0, lam, opt["lr"]), rec.W)
    base = score_prediction(init_argmax(W0), rec.W)
    row = {"n": n, "m": m, "lam": lam, "instance": i,
           "count": count_polysemantic_assignment(rec.W),
           "converged": int(rec.converged), "steps": rec.steps,
           "pred_accuracy": pred["feature_accuracy"], "pred_precision": pred["poly_precision"],
           "pred_recall": pred["poly_recall"], "pred_n_poly": pred["n_poly_predicted"],
           "base_accuracy": base["feature_accuracy"], "base_precision": base["poly_precision"],
           "base_recall": base["poly_recall"], "base_n_poly": base["n_poly_predicted"],
           "predict_seconds": "", "train_seconds": ""}
    if p["timed"]:  # this instance alone, after the calls above compiled everything
        t = time.perf_counter()
        predict_instance(W0, lam, opt["lr"])
        row["predict_seconds"] = time.perf_counter() - t
        t = time.perf_counter()
        train(W0, TrainOptions(**opt))
        row["train_seconds"] = time.perf_counter() - t
    return row


def closer_model(counts, n: int, m: int) -> dict:
    """Which model's mean is closer to the simulated mean (docs/preregistration-best-model.md).

    |mean - E_cascade| < |mean - E_signbin| exactly when the mean lies beyond the midpoint
    of the two predictions on the cascade side, so the question is a one-sample t-test of
    the counts against the midpoint, one-sided towards the cascade model.
    """
    cascade, sign_bin = expected_poly_cascade(n, m), float(expected_poly_exact(n, m))
    midpoint = (cascade + sign_bin) / 2
    side = "greater" if cascade > sign_bin else "less"
    test = stats.ttest_1samp(np.asarray(counts, float), midpoint, alternative=side)
    return {"n": n, "m": m, "k": len(counts), "mean": float(np.mean(counts)),
            "cascade": cascade, "sign_bin": sign_bin, "midpoint": midpoint,
            "t": float(test.statistic), "p_cascade_closer": float(test.pvalue)}


def _points(rows: list[dict]) -> list[tuple[int, int]]:
    """The (n, m) grid points of CSV rows, sorted."""
    return sorted({(int(r["n"]), int(r["m"])) for r in rows})


def _counts(rows: list[dict], n: int, m: int, lam: float | None = None) -> list[int]:
    """Counts of the converged runs at (n, m), and at `lam` if given."""
    return [int(r["count"]) for r in rows if int(r["n"]) == n and int(r["m"]) == m
            and (lam is None or float(r["lam"]) == lam) and int(r["converged"])]


def _switch_table(rows: list[dict]) -> str:
    lines = ["| n | m | k | mean | cascade | sign-bin | midpoint | t | p (cascade closer) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for n, m in _points(rows):
        c = closer_model(_counts(rows, n, m), n, m)
        lines.append(f"| {n} | {m} | {c['k']} | {c['mean']:.2f} | {c['cascade']:.2f} | "
                     f"{c['sign_bin']:.2f} | {c['midpoint']:.2f} | {c['t']:+.2f} | "
                     f"{c['p_cascade_closer']:.2g} |")
    return "\n".join(lines)


def lam_effect(rows: list[dict]) -> list[dict]:
    """Paired count(largest lam) - count(smallest lam) per (n, m), one-sided (greater)
    t-test, Holm over the grid points (docs/preregistration-lam-n64.md)."""
    lams = sorted({float(r["lam"]) for r in rows})
    out = []
    for n, m in _points(rows):
        at = {(float(r["lam"]), int(r["instance"])): r for r in rows
              if int(r["n"]) == n and int(r["m"]) == m}
        pairs = [i for (lam, i) in at if lam == lams[0] and (lams[-1], i) in at
                 and int(at[(lams[0], i)]["converged"]) and int(at[(lams[-1], i)]["converged"])]
        d = np.array([int(at[(lams[-1], i)]["count"]) - int(at[(lams[0], i)]["count"])
                      for i in sorted(pairs)], float)
        mean, low, high = t_interval(d)
        test = stats.ttest_1samp(d, 0.0, alternative="greater")
        out.append({"n": n, "m": m, "pairs": d.size, "mean": mean, "low": low, "high": high,
                    "t": float(test.statistic), "p": float(test.pvalue)})
    for row, adjusted in zip(out, holm([r["p"] for r in out]), strict=True):
        row["p_holm"] = adjusted
    return out


def within_cascade(counts, n: int, m: int, margin: float = 0.1) -> dict:
    """Equivalence (TOST) of the mean count with the cascade model, within +-margin E
    (docs/preregistration-fast-sparsification.md): two one-sided t-tests, p = the larger."""
    counts = np.asarray(counts, float)
    cascade = expected_poly_cascade(n, m)
    delta = margin * cascade
    above = stats.ttest_1samp(counts, cascade - delta, alternative="greater").pvalue
    below = stats.ttest_1samp(counts, cascade + delta, alternative="less").pvalue
    return {"n": n, "m": m, "k": counts.size, "mean": float(counts.mean()),
            "cascade": cascade, "delta": delta, "p_tost": float(max(above, below))}


def _lam_table(rows: list[dict]) -> str:
    lams = sorted({float(r["lam"]) for r in rows})
    lines = [f"count(lam {lams[-1]:g}) - count(lam {lams[0]:g}), paired", "",
             "| n | m | pairs | mean | 95% CI | t | p (one-sided) | p (Holm) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in lam_effect(rows):
        lines.append(f"| {r['n']} | {r['m']} | {r['pairs']} | {r['mean']:+.2f} | "
                     f"[{r['low']:+.2f}, {r['high']:+.2f}] | {r['t']:+.2f} | {r['p']:.2g} | "
                     f"{r['p_holm']:.2g} |")
    lines += ["", f"At lam {lams[-1]:g}: equivalence with the cascade model within 10%", "",
              "| n | m | k | mean | cascade | margin | p (TOST) |", "|---|---|---|---|---|---|---|"]
    for n, m in _points(rows):
        e = within_cascade(_counts(rows, n, m, lams[-1]), n, m)
        lines.append(f"| {n} | {m} | {e['k']} | {e['mean']:.2f} | {e['cascade']:.2f} | "
                     f"±{e['delta']:.2f} | {e['p_tost']:.2g} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit status (docs/usage.md#errors)."""
    return run_cli(_main, PROG, argv)


def _main(argv: list[str] | None) -> int:
    parser = _runs.parser(PROG, __doc__.splitlines()[0], instances=32)
    parser.add_argument("--timed", type=int, default=4, help="instances timed alone per point")
    parser.add_argument("--n", type=int, nargs="+", default=list(GRID_N))
    parser.add_argument("--ratios", type=float, nargs="+", default=list(GRID_RATIO),
                        help="values of m/n")
    parser.add_argument("--out", type=Path, required=True, help="CSV file to write")
    parser.add_argument("--lam", type=float, nargs="+", default=[OPTIONS["lam"]],
                        help="L1 strengths (code units); every lam trains the same W0")
    parser.add_argument("--switch-table", action="store_true",
                        help="read --out instead of running and print the closer-model test")
    parser.add_argument("--lam-table", action="store_true",
                        help="read --out instead of running and print the paired lam effect")
    args = parser.parse_args(argv)
    if args.master < 0 or args.instances < 2 or min(args.lam) <= 0:
        parser.error("--master must be >= 0, --instances >= 2 and every --lam > 0")
    for flag, table in (("switch_table", _switch_table), ("lam_table", _lam_table)):
        if getattr(args, flag):
            print(table(_runs.read_csv(args.out)))
            return 0
    points = [(n, int(round(ratio * n))) for n in args.n for ratio in args.ratios]
    todo = runs(args.master, points, args.lam, args.instances, args.timed)
    _runs.write_csv(args.out, _runs.compute(todo, run_one, args, out=args.out), FIELDS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
