"""Tests of the tilted injective occupancy (docs/theory/tilted-occupancy.md).

Exact checks only (the model's mean and SD are finite sums, no Monte Carlo): eq. T2
against brute-force enumeration of injective placements, eq. T4 (w = 1) and eq. T5
(n = 2) in exact rational arithmetic, the large-m bracket of eq. T9, and the lam
dependence of eq. T7. Tolerances: the float sums of `tilted_moments` have at most
n/2 + 1 positive terms, each with relative rounding of a few ulp after the log-sum-exp,
so 1e-12 relative is a bound with two orders of margin at n <= 400.
"""

import itertools
import math
from fractions import Fraction

import pytest

from theory import tilted_occupancy as T

REL = 1e-12


def _exact_law(n: int, m: int, w: Fraction) -> tuple[Fraction, Fraction]:
    """Mean and variance of X under P(f) ~ N(f) w^f with exact integers (eq. T2, T3)."""
    num = {f: math.comb(m, f) * math.comb(m - f, n - 2 * f) * 2 ** (n - 2 * f)
           for f in range(n // 2 + 1) if n - 2 * f <= m - f}
    z = sum(Fraction(c) * w**f for f, c in num.items())
    mean = sum(f * Fraction(c) * w**f for f, c in num.items()) / z
    second = sum(f * f * Fraction(c) * w**f for f, c in num.items()) / z
    return mean, second - mean**2


def _brute(n: int, m: int, w: Fraction) -> tuple[Fraction, Fraction]:
    """The same law by enumerating every injective placement of n labelled features into
    the 2m (neuron, sign) bins, weighted by w^X (the definition, eq. T1 and T3)."""
    bins = [(k, s) for k in range(m) for s in (0, 1)]
    z = s1 = s2 = Fraction(0)
    for place in itertools.permutations(bins, n):
        neurons = [k for k, _ in place]
        x = sum(1 for k in set(neurons) if neurons.count(k) == 2)
        wt = w**x
        z, s1, s2 = z + wt, s1 + x * wt, s2 + x * x * wt
    return s1 / z, s2 / z - (s1 / z) ** 2


@pytest.mark.parametrize("n,m", [(2, 2), (3, 2), (4, 2), (3, 3), (4, 3), (5, 3)])
@pytest.mark.parametrize("w", [Fraction(1), Fraction(3, 2), Fraction(1, 3)])
def test_counting_formula_matches_enumeration(n, m, w):
    assert _exact_law(n, m, w) == _brute(n, m, w)
    mo = T.tilted_moments(n, m, math.log(w))
    mean, var = _exact_law(n, m, w)
    assert mo["mean"] == pytest.approx(float(mean), rel=REL, abs=1e-15)
    assert mo["sd"] ** 2 == pytest.approx(float(var), rel=1e-11, abs=1e-15)


@pytest.mark.parametrize("n,m", [(2, 5), (7, 7), (16, 40), (64, 64), (100, 300), (384, 3072)])
def test_uniform_injective_mean(n, m):
    """w = 1: E[X] = n(n-1)/(2(2m-1)) (eq. T4), exactly in rationals, to 1e-12 in floats."""
    if n <= 100:
        assert _exact_law(n, m, Fraction(1))[0] == Fraction(n * (n - 1), 2 * (2 * m - 1))
    assert T.tilted_moments(n, m, 0.0)["mean"] == pytest.approx(
        n * (n - 1) / (2 * (2 * m - 1)), rel=REL)


@pytest.mark.parametrize("m", [1, 2, 4, 1000])
@pytest.mark.parametrize("w", [Fraction(1), Fraction(5, 4), Fraction(2, 7)])
def test_two_features(m, w):
    """n = 2: P(X = 1) = w / (w + 2(m - 1)) (eq. T5); w = 1 gives 1/(2m - 1)."""
    p = w / (w + 2 * (m - 1))
    assert _exact_law(2, m, w)[0] == p
    assert T.tilted_moments(2, m, math.log(w))["mean"] == pytest.approx(float(p), rel=REL)


@pytest.mark.parametrize("n", [3, 8, 30])
@pytest.mark.parametrize("m", [10**3, 10**4, 10**6])
@pytest.mark.parametrize("log_w", [-0.4, 0.0, 0.3])
def test_large_m_bracket(n, m, log_w):
    """Eq. T9: with r = w n(n-1)/(4(m-n+1)), -r <= E/r - 1 <= 0 at every m >= n, so
    E -> w n(n-1)/(4m): w times the sign-bin first-order count as m/n -> infinity."""
    w = math.exp(log_w)
    r = w * n * (n - 1) / (4 * (m - n + 1))
    e = T.tilted_moments(n, m, log_w)["mean"]
    assert -r - 1e-12 <= e / r - 1 <= 1e-12


def test_tilt_is_a_log_clock():
    """Eq. T7: ln w = -theta ln(T_f); theta = 0 is the uniform law; with theta > 0 a smaller
    lam (longer dense phase) tilts further, by the ratio of the logs of the clocks."""
    assert T.log_tilt(64, 1e-2, 0.0) == 0.0
    a, b = T.log_tilt(256, 1e-3, 0.05), T.log_tilt(256, 1e-2, 0.05)
    assert a < b < 0
    assert a / b == pytest.approx(math.log(T.freeze_time(256, 1e-3)) /
                                  math.log(T.freeze_time(256, 1e-2)), rel=REL)
    # the clock is a flow time: lam~ T_f = 1.01-1.10 over the page's range (eq. T6; the
    # bounds are the page's two decimals, so +-0.005 of rounding), hence T_f ~ 1/lam
    for m in (64, 3072):
        for lam in (1e-3, 1e-2, 1e-1):
            assert 1.005 <= T.freeze_time(m, lam) * lam / 4 <= 1.105, (m, lam)


def test_theta_error_propagation():
    """se_mean_theta = Var X |d ln w / d theta| THETA_SE (eq. T8: dE/d ln w = Var X)."""
    mo = T.tilted_model(64, 128, 1e-2)
    if T.THETA == 0:
        assert mo["se_mean_theta"] == 0
    else:
        expected = mo["dmean_dlogw"] * abs(mo["log_w"] / T.THETA) * T.THETA_SE
        assert mo["se_mean_theta"] == pytest.approx(expected, rel=REL)
    # eq. T8 itself: finite difference of the mean in ln w
    h = 1e-5
    d = (T.tilted_moments(64, 128, h)["mean"] - T.tilted_moments(64, 128, -h)["mean"]) / (2 * h)
    assert d == pytest.approx(T.tilted_moments(64, 128, 0.0)["dmean_dlogw"], rel=1e-8)
