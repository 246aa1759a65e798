"""The theory-vs-simulation report: per-grid-point rows and log-log fits.

Pure computation on outcome records (simulations/_run.py) and `theory`
predictions; nothing here trains or plots. Statistics:
docs/results.md#statistics.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence

import numpy as np
from scipy import stats

import theory
from theory import cascades

from ._specs import ExperimentSpec
from ._stability import is_unstable
from ._stats import CI_LEVEL, wls_slope
from ._stats import t_interval as _t_interval

__all__ = ["ANCHORS", "EXCLUSION_REASONS", "exclusion", "report_rows", "slope_fits", "CI_LEVEL"]


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
    predictor_* and init_argmax_* are means over the measured runs of the per-instance
    scores (simulations.predict.score_prediction; NaN for optimizers it does not model).
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
    best = cascades.best_moments(spec.n, spec.m)
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
           for who in ("predictor", "init_argmax") for name, field in _PREDICTION_SCORES.items()},
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
