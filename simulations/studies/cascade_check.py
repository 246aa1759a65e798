"""Confirmation run of docs/theory/cascades.md: per-instance records behind its tables.

    python -m simulations.studies.cascade_check [--n N ...] [--ratios R ...] [--lam L ...]
        [--instances K] [--timed T] [--from-csv FILE] [shared flags]

The published confirmation: `--seed 7000001 --out results/cascade_check` writes
`results/cascade_check/cascade_check.csv` (docs/data/cascades_confirm.csv); the
preregistrations name the seeds and flags of the others (docs/usage.md#research-studies).

For each (n, m) on the grid and each `--lam` (default 1e-2), instance i starts from
`init_weights` with seed `SeedSequence([master, n, m]).spawn(instances)[i]` (the same
W0 at every lam) and is trained by prox-gd to convergence (lr 0.05, tol 1e-6, at most
max(50 000, ceil(15 / (lam lr))) steps). One CSV row per run: the polysemantic count,
the predictor's and the init-argmax baseline's scores
(`simulations.predict.score_prediction`), and, for the first `timed` instances of each
grid point, the wall time of the predictor and of training that one instance alone to
convergence.

The printed tables (also in report.md) are the analyses of the preregistrations that use
these records, per lam: the closer-model test (docs/preregistration-best-model.md) and,
with two or more lam, the paired lam effect and the equivalence with the cascade model
(docs/preregistration-lam-n64.md, docs/preregistration-fast-sparsification.md).
`--from-csv FILE` prints them for a CSV already written (one without a lam column
predates --lam and was run at lam 1e-2).

Each (n, m, lam, instance) is one `Run` ("study-cascade-check": the seed rule, the training
options and whether it is timed in its params), computed by `run_one`. The study is
declared on the experiment protocol (`EXPERIMENT`; simulations/studies/_runs.py), so the
shared runner stores, resumes and reuses its runs. The records other than
the timings are those of the batch this script trained before (`dynamics.train` computes
each instance on its own, in a fixed order, whatever the batch); tests/test_studies.py
checks them against `docs/data/cascades_confirm.csv`. A timed instance is timed in its
worker after its own training compiled everything; with several workers the timings share
the cores.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass

import numpy as np
from scipy import stats

from dynamics import TrainOptions, count_polysemantic_assignment, init_weights, train
from simulations._presets import CONVERGED_PROX_GD, flow_step_cap
from simulations._stats import holm, t_interval
from simulations.predict import init_argmax, predict_instance, score_prediction
from simulations.runner.cli import integer
from simulations.runner.command import command
from simulations.runner.protocol import Run
from simulations.studies import _runs
from theory import expected_poly_cascade, expected_poly_exact

GRID_N = (32, 64)
GRID_RATIO = (1.0, 1.5, 2.0, 4.0, 8.0)
OPTIONS = CONVERGED_PROX_GD  # the `quick` preset's training (simulations/_presets.py)
# The master seed of docs/data/cascades_confirm.csv (docs/theory/cascades.md#confirmation).
PUBLISHED_SEED = 7_000_001
FIELDS = ["n", "m", "lam", "instance", "count", "converged", "steps", "pred_accuracy",
          "pred_precision", "pred_recall", "pred_n_poly", "base_accuracy", "base_precision",
          "base_recall", "base_n_poly", "predict_seconds", "train_seconds"]


def options(lam: float) -> dict:
    """OPTIONS at another lam; the step cap grows to flow_step_cap(lam, lr)."""
    cap = max(OPTIONS["max_steps"], flow_step_cap(lam, OPTIONS["lr"]))
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


def _lam(row: dict) -> float:
    """A row's lam; a CSV without that column predates --lam and ran at OPTIONS' lam."""
    return float(row.get("lam") or OPTIONS["lam"])


def _counts(rows: list[dict], n: int, m: int, lam: float) -> list[int]:
    """Counts of the converged runs at (n, m) and `lam`."""
    return [int(r["count"]) for r in rows if int(r["n"]) == n and int(r["m"]) == m
            and _lam(r) == lam and int(r["converged"])]


def lam_effect(rows: list[dict]) -> list[dict]:
    """Paired count(largest lam) - count(smallest lam) per (n, m), one-sided (greater)
    t-test, Holm over the grid points (docs/preregistration-lam-n64.md)."""
    lams = sorted({_lam(r) for r in rows})
    out = []
    for n, m in _points(rows):
        at = {(_lam(r), int(r["instance"])): r for r in rows
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


def summary(rows: list[dict]) -> dict:
    """The analyses of the records (store records or CSV text): the closer-model test at each
    lam and, with two or more lam, the paired effect of the largest against the smallest
    and the equivalence with the cascade model at the largest."""
    lams = sorted({_lam(r) for r in rows})
    out = {"lams": lams, "closer_model": [{"lam": lam, **closer_model(_counts(rows, n, m, lam),
                                                                      n, m)}
                                          for lam in lams for n, m in _points(rows)]}
    if len(lams) > 1:
        out["lam_effect"] = lam_effect(rows)
        out["within_cascade"] = [within_cascade(_counts(rows, n, m, lams[-1]), n, m)
                                 for n, m in _points(rows)]
    return out


def format_tables(report: dict) -> str:
    """The report's tables as markdown."""
    lines = []
    for lam in report["lams"]:
        lines += [f"Closer model at lam {lam:g}", "",
                  "| n | m | k | mean | cascade | sign-bin | midpoint | t | p (cascade closer) |",
                  "|---|---|---|---|---|---|---|---|---|"]
        lines += [f"| {c['n']} | {c['m']} | {c['k']} | {c['mean']:.2f} | {c['cascade']:.2f} | "
                  f"{c['sign_bin']:.2f} | {c['midpoint']:.2f} | {c['t']:+.2f} | "
                  f"{c['p_cascade_closer']:.2g} |"
                  for c in report["closer_model"] if c["lam"] == lam]
        lines.append("")
    if "lam_effect" in report:
        lo, hi = report["lams"][0], report["lams"][-1]
        lines += [f"count(lam {hi:g}) - count(lam {lo:g}), paired", "",
                  "| n | m | pairs | mean | 95% CI | t | p (one-sided) | p (Holm) |",
                  "|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['n']} | {r['m']} | {r['pairs']} | {r['mean']:+.2f} | "
                  f"[{r['low']:+.2f}, {r['high']:+.2f}] | {r['t']:+.2f} | {r['p']:.2g} | "
                  f"{r['p_holm']:.2g} |" for r in report["lam_effect"]]
        lines += ["", f"At lam {hi:g}: equivalence with the cascade model within 10%", "",
                  "| n | m | k | mean | cascade | margin | p (TOST) |",
                  "|---|---|---|---|---|---|---|"]
        lines += [f"| {e['n']} | {e['m']} | {e['k']} | {e['mean']:.2f} | {e['cascade']:.2f} | "
                  f"±{e['delta']:.2f} | {e['p_tost']:.2g} |" for e in report["within_cascade"]]
    return "\n".join(lines).rstrip()


# ---------------------------------------------------------------------------------------
# the command, declared on the experiment protocol (simulations/runner/protocol.py)


@dataclass(frozen=True)
class CheckConfig:
    """What one invocation does: the grid (n x m/n, m rounded), the lam values (each on the
    same W0), instances per point and how many of them are timed, the master seed, or a
    CSV to analyse instead (from_csv)."""

    seed: int = PUBLISHED_SEED
    n: tuple[int, ...] = GRID_N
    ratios: tuple[float, ...] = GRID_RATIO
    lam: tuple[float, ...] = (OPTIONS["lam"],)
    instances: int = 32
    timed: int = 4
    from_csv: str | None = None

    @classmethod
    def quick(cls) -> CheckConfig:
        """Seconds: two points at n = 16, three instances, one timed. Not a measurement."""
        return cls(n=(16,), ratios=(1.0, 2.0), instances=3, timed=1)


def _add_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--n", type=integer, nargs="+", default=None,
                   help=f"features n (default {' '.join(map(str, GRID_N))})")
    p.add_argument("--ratios", type=float, nargs="+", default=None,
                   help=f"values of m/n (default {' '.join(f'{r:g}' for r in GRID_RATIO)})")
    p.add_argument("--lam", type=float, nargs="+", default=None,
                   help=f"L1 strengths (code units; default {OPTIONS['lam']:g}); every lam "
                   "trains the same W0")
    p.add_argument("--timed", type=integer, default=None,
                   help="instances per point also timed alone (default 4)")
    _runs.add_source_flags(p, "instances per grid point (default 32)")


def _configure(args: argparse.Namespace) -> tuple[CheckConfig, list[str]]:
    config, changes = _runs.override(CheckConfig.quick() if args.quick else CheckConfig(),
                                     args, ("seed", "n", "ratios", "lam", "instances", "timed"))
    if config.instances < 2 or config.timed < 0 or min(config.lam) <= 0:
        raise ValueError("--instances must be >= 2, --timed >= 0 and every --lam > 0")
    return config, changes


def _runs_of(config: CheckConfig) -> list[Run]:
    points = [(n, int(round(ratio * n))) for n in config.n for ratio in config.ratios]
    return runs(config.seed, points, config.lam, config.instances, config.timed)


# The published seed is the default; each preregistration names its own.
EXPERIMENT = _runs.experiment(
    "simulations.studies.cascade_check", __doc__, default_seed=PUBLISHED_SEED, columns=FIELDS,
    seed_help="; the seed of docs/data/cascades_confirm.csv", add_flags=_add_flags,
    configure=_configure, runs=_runs_of, run_one=run_one, format_table=format_tables,
    report=lambda config, records: summary(records))


main = command(EXPERIMENT)


if __name__ == "__main__":
    sys.exit(main())
