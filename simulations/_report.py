"""The theory-vs-simulation report: per-grid-point rows, log-log fits, and the table.

Pure computation on outcome records (simulations/_run.py) and `theory`
predictions, and `format_table`, the report as the text the main job prints; nothing
here trains or plots. Statistics: docs/results.md#statistics; the fields and the
printed columns: docs/usage.md#report-columns.
"""

from __future__ import annotations

import math
import sys
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

import theory
from theory import best_model, cascades

from ._specs import ExperimentSpec
from ._stability import is_unstable
from ._stats import CI_LEVEL, wls_slope
from ._stats import t_interval as _t_interval
from .runner.protocol import TABLE_WIDTH

__all__ = ["ANCHORS", "CI_LEVEL", "DEFAULT_COLUMNS", "EXCLUSION_REASONS", "TABLE_WIDTH",
           "WIDE_COLUMNS", "exclusion", "format_table", "report_rows", "slope_fits"]


# Docs anchor that derives each prediction (printed with the table, stored in the report).
ANCHORS = {
    "pred_first_order": theory.collisions.ANCHORS["expected_poly_first_order"],
    "pred_exact": theory.collisions.ANCHORS["expected_poly_exact"],
    "pred_exact_sd": theory.collisions.ANCHORS["var_poly_exact"],
    "pred_best": cascades.ANCHORS["expected_poly_best"],
    "predictor_accuracy": "docs/theory/cascades.md#per-instance-predictor",
    "slope_theory": "docs/theory/collisions.md#large-m",
}
# Scores of the per-instance predictions kept in each prox-gd record (simulations/_run.py):
# report column suffix -> record field suffix.
_PREDICTION_SCORES = {"accuracy": "feature_accuracy", "precision": "poly_precision",
                      "recall": "poly_recall"}


def _mean_or_nan(values) -> float:
    finite = [float(v) for v in values if v is not None]
    return float(np.mean(finite)) if finite else math.nan


# Why a run is left out of the counts, in the order the reasons are checked; each one
# has a column `excluded_<reason>` in the report.
EXCLUSION_REASONS = {
    "failed": "training diverged or failed",
    "unstable_lr": "lr at or above the optimizer's stability bound (--allow-unstable)",
    "not_converged": "a tolerance was requested and not reached within the step budget",
    "degenerate": "no feature represented (every weight ~0, e.g. lam too large): the "
                  "theory's counts assume every feature holds a neuron",
}


def exclusion(spec: ExperimentSpec, record: dict) -> str | None:
    """The reason (a key of EXCLUSION_REASONS) to leave `record` out of the counts, or None.

    A count measured on weights that are still oscillating, diverging or short of the
    requested convergence is not the count the theory predicts; it is reported as
    excluded, never averaged in.
    """
    status = record.get("train_status")
    if status not in ("converged", "max_steps") or record.get("window_count") is None:
        return "failed"
    if is_unstable(spec):
        return "unstable_lr"
    if spec.tol is not None and status != "converged":
        return "not_converged"
    if record.get("features_represented") == 0:
        # a count of 0 here is L1 winning, not an absence of collisions
        return "degenerate"
    return None


def report_row(spec: ExperimentSpec, records: Sequence[dict]) -> dict:
    """One row of the report: simulation summary of one spec next to the theory.

    Only runs without an `exclusion` are measured; `measured_instances` counts them and
    `excluded_<reason>` the others (`failed` repeats `excluded_failed`).
    z is (sim_mean - pred_exact) / (pred_exact_sd / sqrt(k)): the theory's own
    variance (docs/theory/collisions.md#variance), not the sample's, so a
    spread that differs from the sign-bin model shows up too. z_best does the same
    with the project's best model (docs/theory/cascades.md#verdict), adding its Monte
    Carlo standard error in quadrature: (mean - E) / sqrt(sd^2 / k + se_mc^2).
    predictor_*, init_argmax_* and fast_argmax_* are means over the measured runs of the
    per-instance scores (simulations.predict.score_prediction; NaN for optimizers it does
    not model, and fast_argmax_* for records stored before it was added).
    """
    reasons = [exclusion(spec, r) for r in records]
    ok = [r for r, why in zip(records, reasons, strict=True) if why is None]
    excluded = {f"excluded_{key}": reasons.count(key) for key in EXCLUSION_REASONS}
    window = np.array([r["window_count"] for r in ok], dtype=float)
    assignment = np.array([r["assignment_count"] for r in ok], dtype=float)
    mean, low, high = _t_interval(window) if ok else (math.nan,) * 3
    a_mean, a_low, a_high = _t_interval(assignment) if ok else (math.nan,) * 3
    pred_exact = float(theory.expected_poly_exact(spec.n, spec.m))
    pred_sd = float(theory.sd_poly_exact(spec.n, spec.m))
    k = len(ok)
    se_theory = pred_sd / math.sqrt(k) if k else math.nan
    best = best_model.best_moments(spec.n, spec.m, spec.lam)
    se_best = math.sqrt(best["sd"] ** 2 / k + best["se_mean"] ** 2) if k else math.nan
    poly_neurons = sum(len(r["composition"]) for r in ok)
    opposite = sum(r["opposite_sign_pairs"] for r in ok)
    return {
        "n": spec.n,
        "m": spec.m,
        "lam": spec.lam,
        "optimizer": spec.optimizer,
        "dtype": spec.dtype,
        "lr": spec.lr,
        "max_steps": spec.max_steps,
        "tol": spec.tol,
        "instances": spec.instances,
        "measured_instances": k,
        "excluded": len(records) - k,
        **excluded,
        "failed": excluded["excluded_failed"],
        "sim_mean": mean,
        "sim_ci_low": low,
        "sim_ci_high": high,
        "sim_sd": float(window.std(ddof=1)) if k > 1 else math.nan,
        "sim_mean_assignment": a_mean,
        "sim_ci_low_assignment": a_low,
        "sim_ci_high_assignment": a_high,
        "pred_first_order": float(theory.expected_poly_first_order(spec.n, spec.m)),
        "pred_exact": pred_exact,
        "pred_exact_sd": pred_sd,
        "ratio_exact": mean / pred_exact if pred_exact > 0 else math.nan,
        "z_exact": (mean - pred_exact) / se_theory if se_theory > 0 else math.nan,
        "z_exact_assignment": (a_mean - pred_exact) / se_theory if se_theory > 0 else math.nan,
        "pred_best": best["mean"],
        "pred_best_sd": best["sd"],
        "model_best": best["model"],
        "z_best": (mean - best["mean"]) / se_best if se_best > 0 else math.nan,
        "z_best_assignment": (a_mean - best["mean"]) / se_best if se_best > 0 else math.nan,
        **{f"{who}_{name}": _mean_or_nan(r.get(f"{who}_{field}") for r in ok)
           for who in ("predictor", "init_argmax", "fast_argmax")
           for name, field in _PREDICTION_SCORES.items()},
        "opposite_sign_fraction": opposite / poly_neurons if poly_neurons else math.nan,
        "features_represented": _mean_or_nan(r["features_represented"] / spec.n for r in ok),
        "converged_fraction": _mean_or_nan(bool(r["train_converged"]) for r in records),
        "winner_is_init_argmax": _mean_or_nan(r["winner_is_init_argmax"] for r in ok),
        "mean_steps": _mean_or_nan(r["train_steps"] for r in records),
        "init_final_diag_mean": _mean_or_nan(
            float(np.mean(r["init_final_diag"])) for r in ok if r["init_final_diag"]
        ),
        "init_final_offdiag_std": _mean_or_nan(r["init_final_offdiag_std"] for r in ok),
    }


def report_rows(specs: Sequence[ExperimentSpec], records: Sequence[dict]) -> list[dict]:
    """Rows for every spec; `records` are in run_all order (specs, then instances)."""
    rows, start = [], 0
    _announce_slow_models(specs)
    for spec in specs:
        rows.append(report_row(spec, records[start : start + spec.instances]))
        start += spec.instances
    return rows


# Cells of the cascade Monte Carlo (theory.cascades.greedy_cost) above which the report
# says on stderr that it is computing it: about 3 s on one core.
_ANNOUNCE_CELLS = 2**24


def _announce_slow_models(specs: Sequence[ExperimentSpec]) -> None:
    # the best model's Monte Carlo for m < n can take seconds per grid point; a report
    # that computes several must not look stalled
    slow = sorted({(s.n, s.m) for s in specs if s.m < s.n
                   and cascades.best_model_name(s.n, s.m) == cascades.MODEL_NAME
                   and cascades.greedy_cost(s.n, s.m) > _ANNOUNCE_CELLS})
    if slow:
        print(f"report: computing the cascade model's Monte Carlo at {len(slow)} grid "
              f"point(s) with m < n (up to {cascades.greedy_cost(*slow[-1]):.2g} cells, "
              "about 30 s at most each)", file=sys.stderr, flush=True)


def _fit(rows: Sequence[dict], axis: str) -> dict | None:
    """log(mean count) against log(axis) over rows with a positive mean.

    var(log mean) ~ sd^2 / (k mean^2) (delta method, sample sd per row); the
    slope's CI is Normal with the WLS standard error. The theory slope is the
    same fit applied to the exact prediction, so both see the same grid.
    """
    usable = [r for r in rows if r["sim_mean"] > 0 and r["measured_instances"] > 1]
    if len({r[axis] for r in usable}) < 3:
        return None
    x = np.log([r[axis] for r in usable])
    y = np.log([r["sim_mean"] for r in usable])
    # A row whose instances all agree has sd 0; floor its variance at the
    # theory's (1/k) SD, which is what a zero sample spread underestimates.
    var = np.array(
        [
            max(r["sim_sd"] ** 2, r["pred_exact_sd"] ** 2)
            / (r["measured_instances"] * r["sim_mean"] ** 2)
            for r in usable
        ]
    )
    slope, se = wls_slope(x, y, var)
    theory_slope, _ = wls_slope(x, np.log([r["pred_exact"] for r in usable]), var)
    z = stats.norm.ppf(0.5 + CI_LEVEL / 2)
    return {
        "axis": axis,
        "points": len(usable),
        "slope": slope,
        "slope_ci_low": slope - z * se,
        "slope_ci_high": slope + z * se,
        "slope_first_order": -1.0 if axis == "m" else 2.0,
        "slope_exact_model": theory_slope,
    }


def slope_fits(rows: Sequence[dict]) -> list[dict]:
    """Log-log fits of the count against m (per n, lam, optimizer) and against n (per m, ...)."""
    fits = []
    for axis, other in (("m", "n"), ("n", "m")):
        groups: dict[tuple, list[dict]] = {}
        for r in rows:
            groups.setdefault((r[other], r["lam"], r["optimizer"]), []).append(r)
        for (value, lam, optimizer), group in sorted(groups.items()):
            fit = _fit(group, axis)
            if fit is not None:
                fit.update({other: value, "lam": lam, "optimizer": optimizer})
                fits.append(fit)
            sparse = [r for r in group if r["m"] >= 4 * r["n"]]
            if axis == "m" and len(sparse) < len(group):
                fit = _fit(sparse, axis)
                if fit is not None:
                    fit.update({other: value, "lam": lam, "optimizer": optimizer})
                    fit["subset"] = "m >= 4n"
                    fits.append(fit)
    return fits


# --- The printed table ----------------------------------------------------------------------
# `python -m simulations.compare` prints the rows as a table, a legend of the columns shown
# and the notes that the numbers need (docs/usage.md#report-columns). results.csv and
# report.json always hold every field; the table shows a selection.

# TABLE_WIDTH (simulations.runner.protocol): the terminal columns of every line `format_table`
# prints by default (legend and notes wrapped to it); --wide prints every column and only
# wraps the text below the table.


@dataclass(frozen=True)
class _Column:
    """One printed column: its header, how a row becomes its cell, and one legend line."""

    header: str
    cell: Callable[[dict], str]
    legend: str


def cell(value, spec: str) -> str:
    """A Markdown table cell: `value` formatted, or an em dash when it is missing or not
    finite (the replication's and the paper-settings reports)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return format(value, spec)


def ci_cell(row: dict, spec: str) -> str:
    """`row`'s interval, "[ci_low, ci_high]", each end as `cell`."""
    return f"[{cell(row['ci_low'], spec)}, {cell(row['ci_high'], spec)}]"


def _number(value, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, fmt)


def _field(key: str, fmt: str) -> Callable[[dict], str]:
    return lambda row: _number(row[key], fmt)


def _interval(row: dict) -> str:
    low, high = row["sim_ci_low"], row["sim_ci_high"]
    return "-" if math.isnan(low) else f"[{low:.2f}, {high:.2f}]"


def _mean_and_interval(row: dict) -> str:
    mean = _number(row["sim_mean"], ".2f")
    return mean if math.isnan(row["sim_ci_low"]) else f"{mean} {_interval(row)}"


def _precision_recall(row: dict) -> str:
    return "/".join(_number(row[k], ".2f") for k in ("predictor_precision", "predictor_recall"))


_CI = f"{CI_LEVEL:.0%} CI"
# Every column either table can show, by header.
_COLUMNS = {c.header: c for c in (
    _Column("n", _field("n", "d"), "features"),
    _Column("m", _field("m", "d"), "neurons"),
    _Column("lam", _field("lam", "g"), "L1 coefficient in code units (loss SSE + lam ||W||_1)"),
    _Column("optimizer", _field("optimizer", "s"), "training algorithm"),
    _Column("k", _field("measured_instances", "d"),
            "runs measured, of the instances per grid point (excluded runs are not in k)"),
    _Column("excl.", _field("excluded", "d"),
            "runs left out of k and of every count (reasons below, if any)"),
    _Column(f"mean [{_CI}]", _mean_and_interval,
            f"polysemantic neurons, mean of the k runs (window rule below); {CI_LEVEL:.0%} "
            "Student-t CI"),
    _Column("sim mean", _field("sim_mean", ".2f"),
            "polysemantic neurons, mean of the k runs (window rule below)"),
    _Column(_CI, _interval, f"its {CI_LEVEL:.0%} Student-t confidence interval"),
    _Column("assign.", _field("sim_mean_assignment", ".2f"),
            "the same mean by the dominant-neuron rule (each feature on its argmax_k |W_ik|)"),
    _Column("n²/4m", _field("pred_first_order", ".2f"), "first-order prediction of the mean"),
    _Column("exact E", _field("pred_exact", ".2f"), "mean of the exact sign-bin model"),
    _Column("ratio", _field("ratio_exact", ".2f"), "sim mean / exact E"),
    _Column("z", _field("z_exact", "+.1f"),
            "(sim mean - exact E) / (SD / sqrt(k)), SD: the exact model's, of one run's count"),
    _Column("best E", _field("pred_best", ".2f"),
            "mean of the project's best model (which model: see below)"),
    _Column("z best", _field("z_best", "+.1f"),
            "(mean - best E) / sqrt(SD²/k + SE²), SD and Monte Carlo SE of the best model"),
    _Column("pred.acc", _field("predictor_accuracy", ".2f"),
            "per-instance predictor: fraction of features whose final neuron and sign it "
            "predicts"),
    _Column("pred.P/R", _precision_recall,
            "its precision / recall on the set of polysemantic neurons"),
    _Column("fast.acc", _field("fast_argmax_accuracy", ".2f"),
            "the same accuracy for the argmax after the predictor's fast phase (what the "
            "predictor's cascade step adds over it)"),
    _Column("opp.sign", _field("opposite_sign_fraction", ".2f"),
            "fraction of polysemantic neurons (dominant-neuron rule) holding one + and one - "
            "feature"),
    _Column("repr.", _field("features_represented", ".3f"),
            "mean fraction of features represented (max_k |W_ik| >= 0.5)"),
    _Column("conv.", _field("converged_fraction", ".2f"),
            "fraction of all runs (excluded ones too) that reached tol; 0 without a tol"),
    _Column("argmax", _field("winner_is_init_argmax", ".2f"),
            "fraction of features whose final dominant neuron is their initial "
            "argmax_k |W_ik(0)|"),
)}
# The default table; lam, optimizer and excl. are added when they vary, resp. are not all 0.
DEFAULT_COLUMNS = ("n", "m", "k", f"mean [{_CI}]", "n²/4m", "best E", "z best", "conv.")
# --wide: every column of the earlier (182-character) table but one of its two argmax
# columns: it keeps the record's winner_is_init_argmax, defined for every optimizer, and
# drops init_argmax_accuracy, the init-argmax baseline's score, which also asks for the
# sign and exists only for noiseless prox-gd (docs/usage.md#printed-table).
WIDE_COLUMNS = ("n", "m", "lam", "optimizer", "k", "excl.", "sim mean", _CI, "assign.",
                "n²/4m", "exact E", "ratio", "z", "best E", "z best", "pred.acc", "pred.P/R",
                "fast.acc", "opp.sign", "repr.", "conv.", "argmax")
# How the anchors (docs pages deriving each prediction) are named under the table.
_ANCHOR_LABELS = {"pred_first_order": "n²/4m", "pred_exact": "exact E",
                  "pred_exact_sd": "SD in z", "pred_best": "best E",
                  "predictor_accuracy": "pred.acc, pred.P/R", "slope_theory": "slopes"}


def _headers(rows: Sequence[dict], wide: bool) -> list[str]:
    if wide:
        return list(WIDE_COLUMNS)
    varies = {key for key in ("lam", "optimizer") if len({r[key] for r in rows}) > 1}
    headers = list(DEFAULT_COLUMNS)
    headers[2:2] = [h for h in ("lam", "optimizer") if h in varies]
    if any(r["excluded"] for r in rows):
        headers.insert(headers.index("k") + 1, "excl.")
    return headers


def _wrap(text: str, indent: str = "  ", first: str = "") -> list[str]:
    return textwrap.wrap(text, TABLE_WIDTH, initial_indent=first,
                         subsequent_indent=indent, break_on_hyphens=False)


def _best_model_note() -> str:
    return ("best E: the tilted model where its preregistered confirmation adopted it, for "
            "lam 1e-3 to 1e-2 and m <= 8n at n = 64-128 from m = 1.25n, n = 128-256 from 2n "
            "and n = 256-384 from 3n (docs/preregistration-single-model.md"
            "#adoption-on-the-grid); elsewhere the cascade model for "
            f"m < {cascades.BEST_SWITCH_RATIO:g}n (and for m <= "
            f"{cascades.LARGE_N_SWITCH_RATIO:g}n from n = {cascades.LARGE_N} on) and the exact "
            "sign-bin model otherwise, chosen from prox-gd data and checked on prox-gd at "
            "lam 1e-2. All of it was confirmed under prox-gd only: AdamW rows are untested")


def format_table(rows: list[dict], fits: list[dict], *, wide: bool = False) -> str:
    """The report as text: one line per grid point, a legend, notes, anchors and the fits.

    By default the columns n, m, k, mean [CI], n²/4m, best E, z best and conv. (with lam
    and optimizer when they vary across rows, and excl. when a run was excluded), and
    every line within TABLE_WIDTH columns (legend and notes wrapped; the table's gaps
    shrink to one space if two would not fit). `wide`: every column of WIDE_COLUMNS.
    Each column's legend line and every field: docs/usage.md#report-columns.
    """
    headers = _headers(rows, wide)
    columns = [_COLUMNS[h] for h in headers]
    cells = [[c.header for c in columns]] + [[c.cell(r) for c in columns] for r in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    gap = "  " if wide or sum(widths) + 2 * (len(widths) - 1) <= TABLE_WIDTH else " "
    lines = [gap.join(c.rjust(w) for c, w in zip(line, widths, strict=True)) for line in cells]

    lines.append("")
    name_width = max(len(c.header) for c in columns)
    for c in columns:
        lines += _wrap(c.legend, " " * (name_width + 4), f"  {c.header:<{name_width}}  ")
    lines.append("")
    hidden = [key for key in ("lam", "optimizer") if key not in headers]
    if hidden and rows:
        lines += _wrap("every row: " + ", ".join(f"{k} {_COLUMNS[k].cell(rows[0])}"
                                                 for k in hidden))
    excluded = {k: sum(r[f"excluded_{k}"] for r in rows) for k in EXCLUSION_REASONS}
    if any(excluded.values()):
        lines += _wrap("excl.: runs left out of k and of every count: "
                       + "; ".join(f"{v} {EXCLUSION_REASONS[k]}" for k, v in excluded.items()
                                   if v))
    lines += _wrap("window rule: a neuron is polysemantic when at least two of its weights have "
                   "|w| in [0.8, 1.2] (the authors' rule, arXiv 2312.03096; "
                   "docs/paper.md#counting-rule)")
    lines += _wrap(_best_model_note())
    if wide:
        lines += _wrap("pred.acc, pred.P/R: '-' for optimizers other than noiseless prox-gd, "
                       "which the predictor does not model; computing it (its fast phase, "
                       "ceil(1/lr) dense steps) costs 1-3% of a converged prox-gd run "
                       "(docs/theory/cascades.md#accuracy-against-cost)")
    precision = " and ".join(sorted({r["dtype"] for r in rows}))
    lines += _wrap(f"weights trained in {precision} (float32: AdamW as the authors trained; "
                   "docs/results.md#float32-against-float64-adamw)")
    if not wide:
        lines += _wrap("all columns: --wide; every field: results.csv and report.json "
                       "(docs/usage.md#report-columns)")
    lines.append("where the predictions come from:")
    for key, anchor in ANCHORS.items():
        lines += _wrap(f"{_ANCHOR_LABELS.get(key, key)} ({key}): {anchor}", "    ", "  ")
    for fit in fits:
        fixed = ", ".join(f"{k}={fit[k]}" for k in ("n", "m", "lam", "optimizer") if k in fit)
        subset = f" [{fit['subset']}]" if "subset" in fit else ""
        lines += _wrap(f"log-log slope vs {fit['axis']} ({fixed}){subset}: {fit['slope']:+.3f} "
                       f"[{_CI} {fit['slope_ci_low']:+.3f}, {fit['slope_ci_high']:+.3f}]")
        lines += _wrap(f"theory {fit['slope_first_order']:+.0f} (first order), "
                       f"{fit['slope_exact_model']:+.3f} (exact model on this grid)",
                       "    ", "  ")
    return "\n".join(lines)
