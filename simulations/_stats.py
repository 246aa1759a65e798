"""Student-t intervals of a mean over independent instances, shared by every experiment's report.

The half-width of a two-sided CI_LEVEL interval of the mean of k i.i.d. values with sample
standard deviation s is t_{(1 + CI_LEVEL)/2, k-1} s / sqrt(k) (docs/results.md#statistics).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

__all__ = ["CI_LEVEL", "t_half_width", "t_interval"]

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
