"""Tests of the collision theory (docs/theory/collisions.md).

Three layers: exact checks against brute-force enumeration of the sign-bin model
and against the sympy expressions at high precision; hypothesis properties; and
Monte Carlo of the assignment model with tolerances derived from the formulas'
own variance.
"""

import functools
import itertools
import json
import math
import subprocess
import sys
from fractions import Fraction

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import assume, given
from hypothesis import strategies as st

from tests.helpers import rng, two_sided_z
from theory import collisions as col
from theory._symbols import m, n

# Relative accuracy of the stable float64 evaluations. Each is a handful of
# correctly rounded operations (expm1, log1p, exp, a product with m), so the
# error is a few ulps; 1e-12 leaves room for the n log1p(-q) exponent, whose
# absolute error n * eps * |log1p(-q)| ~ eps * n/(2m) stays below 1e-12 here.
RTOL_STABLE = 1e-12
# The Cauchy-integral P(X = 0) carries the exponent m log F(rho) whose absolute
# rounding error is ~ m * eps; for m <= 1e4 that is 2e-12, and the trapezoid sum
# loses log10(sd K) digits at most: 1e-9 is the documented accuracy.
RTOL_CAUCHY = 1e-9
# False-failure rate of each Monte Carlo assertion.
FALSE_FAILURE = 1e-6
Z = two_sided_z(FALSE_FAILURE)
EPS = np.finfo(float).eps


def brute_force(n_: int, m_: int):
    """Exact distribution of the polysemantic count by enumerating all (2m)^n assignments."""
    counts: dict[int, int] = {}
    for bins in itertools.product(range(2 * m_), repeat=n_):
        occupied = set(bins)
        x = sum(1 for k in range(m_) if 2 * k in occupied and 2 * k + 1 in occupied)
        counts[x] = counts.get(x, 0) + 1
    total = (2 * m_) ** n_
    mean = Fraction(sum(x * c for x, c in counts.items()), total)
    second = Fraction(sum(x * x * c for x, c in counts.items()), total)
    return mean, second - mean**2, Fraction(counts.get(0, 0), total)


def exact_value(name: str, n_: int, m_: int) -> sp.Rational:
    """The sympy expression evaluated exactly at integer (n, m)."""
    return sp.simplify(col.expressions()[name].subs({n: sp.Integer(n_), m: sp.Integer(m_)}).doit())


SMALL = [(1, 1), (2, 1), (3, 2), (4, 2), (5, 3), (4, 4), (3, 5), (6, 2)]


@pytest.mark.parametrize(("n_", "m_"), SMALL)
def test_expressions_match_enumeration_exactly(n_, m_):
    mean, var, p0 = brute_force(n_, m_)
    assert exact_value("expected_poly_exact", n_, m_) == sp.Rational(
        mean.numerator, mean.denominator
    )
    assert exact_value("var_poly_exact", n_, m_) == sp.Rational(var.numerator, var.denominator)
    assert exact_value("p_no_poly", n_, m_) == sp.Rational(p0.numerator, p0.denominator)


@pytest.mark.parametrize(("n_", "m_"), SMALL)
def test_numeric_functions_match_enumeration(n_, m_):
    mean, var, p0 = brute_force(n_, m_)
    # Absolute floor EPS: quantities that are exactly 0 come out as a few ulps.
    assert col.expected_poly_exact(n_, m_) == pytest.approx(
        float(mean), rel=RTOL_STABLE, abs=4 * EPS
    )
    assert col.var_poly_exact(n_, m_) == pytest.approx(float(var), rel=RTOL_STABLE, abs=4 * EPS)
    assert col.p_no_poly(n_, m_) == pytest.approx(float(p0), rel=RTOL_CAUCHY, abs=4 * EPS)


def test_pair_quantities_by_enumeration():
    # Two features, m neurons: collision iff same neuron; benign iff also opposite signs.
    for m_ in (1, 2, 5):
        pairs = list(itertools.product(range(2 * m_), repeat=2))
        same = sum(a // 2 == b // 2 for a, b in pairs) / len(pairs)
        benign = sum(a // 2 == b // 2 and a != b for a, b in pairs) / len(pairs)
        assert col.p_collision(2, m_) == pytest.approx(same, rel=RTOL_STABLE)
        assert col.p_benign_collision(2, m_) == pytest.approx(benign, rel=RTOL_STABLE)


@functools.cache
def _mp_lambda(name: str):
    # expand_func turns binomial(n, 2) into n(n-1)/2 (mpmath's gamma form has poles at n = 1).
    return sp.lambdify((n, m), sp.expand_func(col.expressions()[name]), modules="mpmath")


def mp_exact(name: str, n_: int, m_: int) -> float:
    """The exact expression at 60 significant digits (mpmath), for large n and m.

    Exact rational arithmetic is hopeless here ((1 - 1/2m)^n has ~n log10(m)
    digits); 60 digits leave > 40 after the worst cancellation of eq. (5)/(8).
    """
    func = _mp_lambda(name)
    with mpmath.workdps(60):
        return float(func(mpmath.mpf(n_), mpmath.mpf(m_)))


LARGE = [(256, 10**7), (10**4, 10**7), (10**7, 10**7), (10**7, 3 * 10**6), (64, 65536), (2, 10**7)]


@pytest.mark.parametrize(("n_", "m_"), LARGE)
def test_stable_forms_keep_full_precision_at_large_sizes(n_, m_):
    # The naive closed forms cancel catastrophically here (e.g. n = 2, m = 1e7
    # leaves p1 = 2q^2 ~ 5e-15 out of 1 - 2(1-q)^2 + (1-2q)^2); the stable
    # forms must agree with the 60-digit evaluation to RTOL_STABLE.
    for name, func in [
        ("expected_poly_exact", col.expected_poly_exact),
        ("var_poly_exact", col.var_poly_exact),
        ("expected_multi", col.expected_multi),
    ]:
        assert func(n_, m_) == pytest.approx(mp_exact(name, n_, m_), rel=RTOL_STABLE), name


def test_p_no_poly_against_exact_alternating_sum():
    # eq. (11) summed in exact integer arithmetic (the float sum would cancel
    # ~m log10(2) digits); the sympy form of eq. (11) is checked against
    # enumeration above.
    for n_, m_ in [(10, 50), (40, 300), (25, 100), (60, 200)]:
        total = sum(math.comb(m_, j) * 2**j * (-1) ** (m_ - j) * j**n_ for j in range(m_ + 1))
        exact = Fraction(total, (2 * m_) ** n_)
        assert col.p_no_poly(n_, m_) == pytest.approx(float(exact), rel=RTOL_CAUCHY)


def test_p_no_poly_closed_forms_at_the_edges():
    # m = 1: no polysemantic neuron iff all n features share one sign: 2^(1-n).
    for n_ in (1, 2, 7, 30):
        assert col.p_no_poly(n_, 1) == pytest.approx(2.0 ** (1 - n_), rel=RTOL_CAUCHY)
    # n = 2: the only way to fail is same neuron, opposite signs: 1 - 1/(2m).
    for m_ in (1, 3, 10**6):
        assert col.p_no_poly(2, m_) == pytest.approx(1 - 0.5 / m_, rel=RTOL_CAUCHY)


def test_stable_lambdified_forms_equal_the_exact_expressions():
    # The lambdified forms are algebraic rewrites (eqs. 13, 14); check them
    # symbolically equal at random rational points to 40 digits.
    stable = col._stable_lambdas()["stable_exprs"]
    exact = col.expressions()
    generator = rng(11)
    for _ in range(10):
        n_, m_ = int(generator.integers(2, 500)), int(generator.integers(1, 500))
        for name, key in [
            ("p_neuron_poly", "p_neuron_poly"),
            ("expected_multi", "expected_multi"),
            ("expected_multi", "expected_multi_direct"),
        ]:
            if key == "expected_multi_direct" and m_ == 1:
                continue  # n/(m-1) is the m = 1 singularity the code handles separately
            a = sp.N(stable[key].subs({n: n_, m: m_}), 40)
            b = sp.N(exact[name].subs({n: n_, m: m_}), 40)
            assert abs(a - b) <= sp.Float("1e-35") * max(abs(b), 1), (name, n_, m_)


@given(st.integers(1, 10**7), st.integers(1, 10**7))
def test_symbolic_expressions_equal_numeric_functions(n_, m_):
    # Random points over the whole supported range, compared at 60 digits.
    for name, func in [
        ("p_collision", col.p_collision),
        ("p_benign_collision", col.p_benign_collision),
        ("expected_pairs", col.expected_pairs),
        ("expected_poly_first_order", col.expected_poly_first_order),
        ("expected_poly_pairs", col.expected_poly_pairs),
        ("expected_poly_exact", col.expected_poly_exact),
    ]:
        expected = mp_exact(name, n_, m_)
        assert func(n_, m_) == pytest.approx(expected, rel=RTOL_STABLE, abs=1e-300), name


def test_series_come_from_sympy_and_match_the_paper():
    # Leading term of the exact mean is the benign-pair count n(n-1)/(4m);
    # the paper's n^2/(4m) drops the -n/(4m).
    series = col.series_large_m("expected_poly_exact", 2)
    assert sp.simplify(series - (n * (n - 1) / (4 * m) - n * (n - 1) * (n - 2) / (8 * m**2))) == 0
    # m E[X] -> n(n-1)/4 (= 5 at n = 5): the first-order constant is 1/4, not 1/2.
    assert sp.limit(col.expressions()["expected_poly_exact"].subs(n, 5) * m, m, sp.oo) == 5
    threshold = col.expressions()["m_threshold_expected_below_one_asymptotic"]
    assert sp.simplify(threshold - (n**2 / 4 - 3 * n / 4 + sp.Rational(7, 12) - 1 / (3 * n))) == 0


# ------------------------------------------------------------------ properties

counts = st.integers(1, 10**6)


@given(counts, counts)
def test_probabilities_lie_in_unit_interval(n_, m_):
    for value in (col.p_collision(n_, m_), col.p_benign_collision(n_, m_), col.p_no_poly(n_, m_)):
        assert 0.0 <= value <= 1.0


@given(counts, counts)
def test_expected_count_is_bounded(n_, m_):
    # A polysemantic neuron holds >= 2 features, so X <= n/2, and X <= m.
    assert 0.0 <= col.expected_poly_exact(n_, m_) <= min(m_, n_ / 2) * (1 + 4 * EPS)
    assert col.var_poly_exact(n_, m_) >= 0.0


@given(st.integers(2, 10**5), st.integers(1, 10**6))
def test_monotone_in_m_beyond_half_n_and_in_n(n_, m_):
    # E[X] ~ m (1 - e^{-a})^2 with a = n/(2m) is decreasing in m iff
    # e^a - 1 < 2a, i.e. a < 1.256 (eq. 10): it rises for m < n/2.5. The
    # property is therefore asserted on the falling branch m >= n/2 (a <= 1).
    assume(2 * m_ >= n_)
    e = col.expected_poly_exact(n_, m_)
    # Strict decrease: the step E(m) - E(m+1) ~ E/m is far above rounding (E * 1e-12).
    assert col.expected_poly_exact(n_, m_ + 1) < e
    assert col.expected_poly_exact(n_ + 1, m_) > e
    assert col.p_no_poly(n_, m_ + 1) >= col.p_no_poly(n_, m_) * (1 - RTOL_CAUCHY)


@given(st.integers(3, 10**4), st.integers(1, 10**4))
def test_exact_approaches_first_order_with_sympy_next_order_bound(n_, k):
    # Ratio series from sympy: E/(n(n-1)/4m) = 1 - (n-2)/(2m) + 7(n-2)(n-3)/(48 m^2) - ...
    # For m >= n the terms decrease, so the truncation error of the first
    # correction is bounded by the next term (plus rounding of the two
    # evaluations, 16 eps).
    m_ = n_ * k
    gap = 1 - col.expected_poly_exact(n_, m_) / col.expected_poly_pairs(n_, m_)
    first = (n_ - 2) / (2 * m_)
    second = 7 * (n_ - 2) * (n_ - 3) / (48 * m_**2)
    assert abs(gap - first) <= second + 16 * EPS
    assert col.expected_poly_exact(n_, m_) <= col.expected_poly_pairs(n_, m_) * (1 + 4 * EPS)


# ------------------------------------------------------------------ Monte Carlo


def simulate_counts(n_: int, m_: int, reps: int, seed: int) -> np.ndarray:
    """Draw the assignment model itself: a uniform neuron and sign per feature."""
    generator = rng(seed)
    bins = 2 * generator.integers(m_, size=(reps, n_)) + generator.integers(2, size=(reps, n_))
    occupied = np.zeros((reps, 2 * m_), dtype=bool)
    occupied[np.arange(reps)[:, None], bins] = True
    return (occupied[:, 0::2] & occupied[:, 1::2]).sum(axis=1)


@pytest.mark.parametrize(("n_", "m_"), [(16, 4), (32, 16), (32, 32), (64, 256), (64, 1024)])
def test_monte_carlo_mean_variance_and_zero_probability(n_, m_):
    reps = 20000
    x = simulate_counts(n_, m_, reps, seed=1000 * n_ + m_)
    mean, var, p0 = (
        col.expected_poly_exact(n_, m_),
        col.var_poly_exact(n_, m_),
        col.p_no_poly(n_, m_),
    )
    # Sample mean: standard error sqrt(Var/reps) from the formula's own variance.
    se_mean = np.sqrt(var / reps)
    assert abs(x.mean() - mean) <= Z * se_mean
    # Sample variance: SE = sqrt((mu4 - var^2)/reps) with the fourth central
    # moment mu4 estimated from the sample (reps = 2e4 makes the plug-in exact
    # to a few percent, far inside the 4.9-sigma band).
    mu4 = np.mean((x - x.mean()) ** 4)
    se_var = np.sqrt(max(mu4 - var**2, 0.0) / reps)
    assert abs(x.var(ddof=1) - var) <= Z * se_var + 1e-12
    # P(X = 0): binomial standard error.
    se_p0 = np.sqrt(max(p0 * (1 - p0), 1 / reps) / reps)
    assert abs(np.mean(x == 0) - p0) <= Z * se_p0


# ------------------------------------------------------------------ thresholds


def test_thresholds_by_definition():
    for n_ in (2, 5, 8, 17, 64, 256):
        t = int(col.m_threshold_expected_below_one(n_))
        assert col.expected_poly_exact(n_, t) < 1
        if t > 1:
            assert col.expected_poly_exact(n_, t - 1) >= 1
        h = int(col.m_threshold_p_no_poly_half(n_))
        assert col.p_no_poly(n_, h) >= 0.5
        if h > 1:
            assert col.p_no_poly(n_, h - 1) < 0.5


def test_threshold_asymptotics():
    # eq. (12) is exact through O(1/n): the integer threshold is its ceiling
    # once the O(1/n^2) remainder cannot cross an integer.
    for n_ in (64, 256, 1000):
        asym = col.m_threshold_expected_below_one_asymptotic(n_)
        assert abs(col.m_threshold_expected_below_one(n_) - asym) <= 1
        # P(X=0) ~ exp(-E) gives n(n-1)/(4 ln 2) to relative O(1/n).
        half = col.m_threshold_p_no_poly_half_asymptotic(n_)
        assert abs(col.m_threshold_p_no_poly_half(n_) / half - 1) <= 4 / n_


# ------------------------------------------------------------------ validation and CLI


@pytest.mark.parametrize("bad", [0, -3, 2.5, "7", True, np.nan, [1, 0]])
def test_bad_counts_raise_value_error_naming_the_argument(bad):
    with pytest.raises(ValueError, match="n "):
        col.expected_poly_exact(bad, 10)
    with pytest.raises(ValueError, match="m "):
        col.var_poly_exact(10, bad)


def test_vectorised_over_arrays():
    ms = np.array([256, 512, 1024, 4096])
    out = col.expected_poly_exact(256, ms)
    assert out.shape == (4,) and out.dtype == np.float64
    assert np.allclose(out, [col.expected_poly_exact(256, int(k)) for k in ms], rtol=0, atol=0)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "theory", *args], capture_output=True, text=True, timeout=120
    )


def test_cli_json_has_stable_keys():
    out = run_cli("collisions", "--n", "64", "--m", "64", "256", "--json")
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["m"] for r in rows] == [64, 256]
    for key in (
        "n",
        "m",
        "p_collision",
        "expected_pairs",
        "expected_multi",
        "expected_poly_first_order",
        "expected_poly_exact",
        "var_poly_exact",
        "p_no_poly",
    ):
        assert key in rows[0]
    assert rows[1]["expected_poly_exact"] == col.expected_poly_exact(64, 256)


def test_cli_bad_arguments_exit_2_with_one_line():
    for args in (["collisions", "--n", "0", "--m", "4"], ["collisions", "--m", "4"], ["nope"]):
        out = run_cli(*args)
        assert out.returncode == 2
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr
