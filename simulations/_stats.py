"""The statistics every experiment's report uses, in one place.

Student-t intervals of a mean over independent instances, the paired t-test, Holm's
correction and the weighted least-squares slope. The half-width of a two-sided CI_LEVEL
interval of the mean of k i.i.d. values with sample standard deviation s is
t_{(1 + CI_LEVEL)/2, k-1} s / sqrt(k) (docs/results.md#statistics).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

__all__ = ["CI_LEVEL", "holm", "paired", "t_half_width", "t_interval", "wls_slope"]

CI_LEVEL = 0.95  # two-sided confidence level of every interval the experiments report


def t_half_width(values: np.ndarray, axis: int = -1) -> np.ndarray | float:
    """Half-width of the CI_LEVEL Student-t interval of the mean along `axis`.

    Needs k >= 2 values along `axis` (the sample sd has k - 1 degrees of freedom).
    """
    values = np.asarray(values, dtype=float)
    k = values.shape[axis]
    half = stats.t.ppf(0.5 + CI_LEVEL / 2, k - 1) * values.std(axis=axis, ddof=1) / math.sqrt(k)
    return half


def t_interval(values: np.ndarray) -> tuple[float, float, float]:
    """Mean and CI_LEVEL Student-t interval (low, high) of the mean of i.i.d. values.

    With fewer than two values the interval is (nan, nan): one value has no spread.
    """
    values = np.asarray(values, dtype=float)
    k = values.size
    mean = float(values.mean())
    if k < 2:
        return mean, math.nan, math.nan
    half = float(t_half_width(values))
    return mean, mean - half, mean + half


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values (step-down, monotone, capped at 1); NaN stays NaN."""
    p = np.asarray(p_values, dtype=float)
    order = [i for i in np.argsort(p) if math.isfinite(p[i])]
    adjusted = np.full(p.shape, math.nan)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * p[i]))
        adjusted[i] = running
    return adjusted.tolist()


def paired(d: np.ndarray) -> dict:
    """Mean, CI_LEVEL t-interval, t and two-sided p of paired differences d."""
    k = d.size
    mean, low, high = t_interval(d) if k else (math.nan,) * 3
    out = {"pairs": int(k), "mean_diff": mean, "ci_low": low, "ci_high": high,
           "t": math.nan, "p": math.nan}
    if k < 2:
        return out
    sd = float(d.std(ddof=1))
    if sd == 0:
        # identical differences: no evidence either way if all zero, certainty otherwise
        if mean == 0:
            out.update(p=1.0)
        else:
            out.update(t=math.copysign(math.inf, mean), p=0.0)
        return out
    out["t"] = mean / (sd / math.sqrt(k))
    out["p"] = float(2 * stats.t.sf(abs(out["t"]), k - 1))
    return out


def wls_slope(x: np.ndarray, y: np.ndarray, var_y: np.ndarray) -> tuple[float, float]:
    """Weighted least-squares slope of y on x and its standard error (known variances)."""
    w = 1 / var_y
    X = np.column_stack([np.ones_like(x), x])
    cov = np.linalg.inv(X.T @ (X * w[:, None]))
    beta = cov @ (X.T @ (w * y))
    return float(beta[1]), float(math.sqrt(cov[1, 1]))
