"""One model of the polysemantic count at every m/n and lam: the tilted injective occupancy.

Derivation: docs/theory/tilted-occupancy.md (equations T1-T9 there).

* T1: the trained features occupy n distinct (neuron, sign) bins out of 2m (measured: no
  two features ever end in one same-sign bin); X = number of neurons with both bins held.
* T2: the number of such configurations with X = f is
  N(f) = C(m, f) C(m - f, n - 2f) 2^(n - 2f).
* T3: if the dense phase reshuffles features between bins reversibly, with a paired feature
  (one sharing its neuron with an opposite-sign feature) leaving its bin w^-1 times as
  often as a lone one, detailed balance gives P(X = f) proportional to N(f) w^f: the uniform
  injective law (w = 1) tilted by w per polysemantic neuron.
* T4: w = 1 is the uniform random injective assignment, E[X] = n(n-1) / (2(2m-1)) exactly,
  the large-n law of the cascade model (docs/theory/cascades.md#monte-carlo).
* T6-T7: the tilt accumulates over the dense phase, a constant factor per e-fold of time
  between the interference time tau_0 = 1 and the freezing time T_f (normalized units):
  ln w = -theta ln(T_f / tau_0), T_f the mean-field time at which m' = 2 weights are left
  (docs/theory/sparsification.md#mean-field), about 1.1 / lam~ with lam~ = lam / 4.
* theta is the model's one fitted parameter (THETA, fitted on exploration seeds at
  n <= 128; docs/theory/tilted-occupancy.md#fit).

Mean and SD are exact finite sums over f (no Monte Carlo): `tilted_moments`.
The step size does not enter (the flow's time is step-independent, T_f is a flow time).
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import sympy as sp
from scipy.special import gammaln

__all__ = [
    "THETA",
    "THETA_SE",
    "MODEL_NAME",
    "count_weights",
    "freeze_time",
    "log_tilt",
    "tilted_moments",
    "expected_poly_tilted",
    "sd_poly_tilted",
    "tilted_model",
    "expressions",
]

MODEL_NAME = "tilted injective occupancy (docs/theory/tilted-occupancy.md)"
# Fitted on the exploration runs of docs/data/single_model_explore.csv (master seed
# 8 219 019, n = 64, 128; m/n = 1 ... 8; lam 1e-3, 1e-2): weighted least squares of the
# per-point means, docs/theory/tilted-occupancy.md#fit. THETA_SE is its standard error.
THETA = 0.03833
THETA_SE = 0.00597
# Interference time in normalized units: positive overlaps relax at rate ||W||^2 ~ 1
# (eq. C0 of docs/theory/cascades.md in normalized time).
TAU0 = 1.0
# The dense phase ends when the mean-field feature has this many live weights left.
FREEZE_WEIGHTS = 2.0


def _size(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def count_weights(n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """(f, ln N(f)) for every feasible f (eq. T2): injective placements of n features into
    the 2m bins with exactly f neurons holding both signs, up to the common factor n!."""
    n, m = _size("n", n), _size("m", m)
    if n > 2 * m:
        raise ValueError(f"n = {n} features do not fit injectively into 2m = {2 * m} bins")
    f = np.arange(0, n // 2 + 1)
    f = f[(n - 2 * f) <= (m - f)]
    lone = n - 2 * f
    ln = (gammaln(m + 1) - gammaln(f + 1) - gammaln(m - f - lone + 1) - gammaln(lone + 1)
          + lone * math.log(2.0))
    return f.astype(np.int64), ln


@cache
def freeze_time(m: int, lam: float) -> float:
    """T_f (normalized time): the mean-field time at which FREEZE_WEIGHTS live weights are
    left (eq. T6; docs/theory/sparsification.md#mean-field with sigma_0 = 1, lam~ = lam/4)."""
    from .sparsification import mean_field

    m = _size("m", m)
    if not (lam > 0 and math.isfinite(lam)):
        raise ValueError(f"lam must be a finite number > 0, got {lam!r}")
    if m <= FREEZE_WEIGHTS:
        return 0.0
    lt = lam / 4.0
    t = np.geomspace(1e-2, 40.0 / lt, 400)
    mp = mean_field(t, m, lt, 1.0, rtol=1e-8).m_prime
    i = int(np.argmax(mp <= FREEZE_WEIGHTS))
    if mp[i] > FREEZE_WEIGHTS:
        raise RuntimeError("mean field did not reach the freezing point")
    # log-linear interpolation between the bracketing grid points
    lo = max(i - 1, 0)
    if i == lo or mp[lo] == mp[i]:
        return float(t[i])
    x = (math.log(mp[lo]) - math.log(FREEZE_WEIGHTS)) / (math.log(mp[lo]) - math.log(mp[i]))
    return float(math.exp(math.log(t[lo]) + x * (math.log(t[i]) - math.log(t[lo]))))


def log_tilt(m: int, lam: float, theta: float | None = None) -> float:
    """ln w = -theta max(0, ln(T_f / tau_0)) (eq. T7)."""
    theta = THETA if theta is None else theta
    return -theta * max(0.0, math.log(freeze_time(m, lam) / TAU0))


def tilted_moments(n: int, m: int, log_w: float) -> dict[str, float]:
    """Exact mean and SD of X under P(X = f) proportional to N(f) w^f (eq. T3), and
    d mean / d ln w = Var X (eq. T8). Cost O(n)."""
    f, ln = count_weights(n, m)
    lp = ln + f * log_w
    p = np.exp(lp - lp.max())
    p /= p.sum()
    mean = float(p @ f)
    var = float(p @ (f - mean) ** 2)
    return {"mean": mean, "sd": math.sqrt(var), "dmean_dlogw": var}


def tilted_model(n: int, m: int, lam: float, theta: float | None = None) -> dict[str, float]:
    """{"mean", "sd", "dmean_dlogw", "se_mean_theta", "log_w"} at (n, m, lam) (eqs. T3, T7,
    T8); theta defaults to the fitted THETA."""
    theta = THETA if theta is None else theta
    lw = log_tilt(m, lam, theta)
    out = tilted_moments(n, m, lw)
    # parameter error of the mean: |dE/dtheta| THETA_SE, dE/dtheta = Var X d ln w/d theta
    out["se_mean_theta"] = abs(out["dmean_dlogw"] * lw / theta) * THETA_SE if theta else 0.0
    out["log_w"] = lw
    return out


def expected_poly_tilted(n: int, m: int, lam: float, theta: float | None = None) -> float:
    """E[X] of the tilted injective occupancy at L1 strength lam (code units).
    docs/theory/tilted-occupancy.md#the-model"""
    return tilted_model(n, m, lam, theta)["mean"]


def sd_poly_tilted(n: int, m: int, lam: float, theta: float | None = None) -> float:
    """SD[X] of the tilted injective occupancy at L1 strength lam (code units)."""
    return tilted_model(n, m, lam, theta)["sd"]


def expressions() -> dict[str, sp.Expr]:
    """Symbolic T2 and its closed-form consequences (checked in tests):
    N(f); the w = 1 mean n(n-1)/(2(2m-1)) (eq. T4); P(X = 1) at n = 2 (eq. T5); and the
    ratios N(1)/N(0), N(2)/N(1) behind the large-m limit (eq. T9)."""
    n, m, f, w = sp.symbols("n m f w", positive=True)
    N = sp.binomial(m, f) * sp.binomial(m - f, n - 2 * f) * 2 ** (n - 2 * f)
    return {
        "N": N,
        "mean_uniform": n * (n - 1) / (2 * (2 * m - 1)),
        "p1_n2": w / (w + 2 * (m - 1)),
        "ratio_10": n * (n - 1) / (4 * (m - n + 1)),
        "ratio_21": (n - 2) * (n - 3) / (8 * (m - n + 2)),
    }

