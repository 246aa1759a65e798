"""Symbolic and numeric tests of theory.sparsification (docs/theory/sparsification.md)."""

import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate

from tests.helpers import rng
from theory._symbols import delta, gamma, gap, lam, m, t  # noqa: F401
from theory.sparsification import (
    _g_numeric,
    _tail_moments,
    expressions,
    mean_field,
    paper_law,
    refined_law,
    t_full_adiabatic,
    two_weight_stage_time,
)

EPS = np.finfo(float).eps
QUAD_RTOL = 1e-11  # requested relative accuracy of scipy.integrate.quad references


# --- symbolic layer -------------------------------------------------------------------------


def test_tail_moments_closed_forms_and_identities():
    """G_j(0) are the half-normal moments; dG_2/dgamma = -2 G_1, dG_1/dgamma = -G_0 (eq. (9))."""
    ex = expressions()
    g0, g1, g2 = ex["g0"], ex["g1"], ex["g2"]
    assert sp.simplify(g0.subs(gamma, 0) - 1) == 0
    assert sp.simplify(g1.subs(gamma, 0) - sp.sqrt(2 / sp.pi)) == 0
    assert sp.simplify(g2.subs(gamma, 0) - 1) == 0
    assert sp.simplify(sp.diff(g2, gamma) + 2 * g1) == 0
    assert sp.simplify(sp.diff(g1, gamma) + g0) == 0
    assert ex["r_at_0"] == sp.pi / 2 - 1  # docs/paper.md#relative-variance: r starts at pi/2 - 1


def test_paper_law_special_values():
    ex = expressions()
    assert ex["paper_m_prime"].subs({t: 0, m: 100}) == 100
    assert ex["paper_l1"].subs({t: 0, m: 100}) == 10
    assert ex["paper_m_prime"].subs({t: 1 / lam, m: 100}) == 1  # clipped at 1 once lam t >= 1
    mp, l1 = paper_law([0.0, 1e5], 1e4, 1e-5)
    assert mp[0] == pytest.approx(1e4, rel=4 * EPS) and l1[0] == pytest.approx(100, rel=4 * EPS)
    assert mp[1] == 1.0 and l1[1] == 1.0


def test_two_weight_stage_symbolic_equals_quadrature():
    """Eq. (17) against direct quadrature of dc / sqrt((x1 - c)^2 + (x2 - c)^2)."""
    ex = expressions()["two_weight_stage"]
    for g_, d_ in [(1e-3, 5e-3), (0.2, 0.01), (1.0, 1.0)]:
        sym = float(ex.subs({gap: g_, delta: d_}))
        num, err = integrate.quad(lambda x, g=g_: 1 / math.sqrt((x + g) ** 2 + x * x), 0, d_,
                                  epsrel=QUAD_RTOL, epsabs=0)
        assert abs(sym - num) <= QUAD_RTOL * abs(num) + err
        assert abs(two_weight_stage_time(g_, d_, 1.0) - sym) <= 8 * EPS * sym


@settings(max_examples=30)
@given(gam=st.floats(0.0, 6.0))
def test_numeric_tail_moments_match_sympy_and_quadrature(gam):
    """_tail_moments (Mills-ratio form) vs the lambdified sympy result and vs quadrature.

    Cancellation in G_2 = 2 phi ((1 + gamma^2) R - gamma) costs a factor ~ (1 + gamma^2)^2 of
    eps relative (the bracket is ~2/gamma^3 while its terms are ~gamma); G_1 loses (1+gamma^2).
    The erfc-based sympy form cancels the same way, so both are compared at 64 (1+g^2)^2 eps.
    """
    num = _tail_moments(gam)
    sym = [f(gam) for f in _g_numeric()[:3]]
    phi = lambda u: math.exp(-u * u / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    for j in range(3):
        quad, err = integrate.quad(lambda u, j=j: 2 * (u - gam) ** j * phi(u), gam, np.inf,
                                   epsrel=QUAD_RTOL, epsabs=0)
        canc = 64 * (1 + gam * gam) ** 2 * EPS
        assert abs(num[j] - quad) <= (canc + QUAD_RTOL) * quad + err
        assert abs(sym[j] - num[j]) <= 2 * canc * quad


# --- mean field at its limits ---------------------------------------------------------------


def test_mean_field_initial_values_and_balance():
    """t = 0: m' = m, ||w||_1 = sigma0 sqrt(2m/pi), ||w||^2 = sigma0^2. After the transient the
    balance q (1 - q) = lam ||w||_1 (eq. (7)) holds up to its own O(lam sqrt m) drift term."""
    mm, ll, s0 = 1e6, 1e-5, 0.9
    tv = np.array([0.0, 50.0, 500.0, 5000.0])
    mf = mean_field(tv, mm, ll, s0)
    assert mf.m_prime[0] == pytest.approx(mm, rel=1e-14)
    assert mf.l1[0] == pytest.approx(s0 * math.sqrt(2 * mm / math.pi), rel=1e-14)
    assert mf.l2sq[0] == pytest.approx(s0**2, rel=1e-14)
    q = mf.l2sq[1:]
    # quasi-static error of the balance: d ln q/dt = 2(1-q) - 2 lam l1/q, so the residual
    # q(1-q) - lam l1 is ~ (1/2) q dq/dt, and |dq/dt| <= lam * d l1/dt ~ lam^2 l1^2 (eq. (14))
    resid = np.abs(q * (1 - q) - ll * mf.l1[1:])
    assert np.all(resid <= ll**2 * mf.l1[1:] ** 2 + 1e-9), resid


def test_mean_field_depends_on_lam_sqrt_m_only():
    """The ODE (10) contains m and lam only through lam sqrt(m); m'/m and l1/sqrt(m) agree."""
    tv = np.geomspace(1, 2e4, 12)
    a = mean_field(tv, 1e6, 1e-5)
    b = mean_field(tv, 4e6, 0.5e-5)
    assert np.allclose(a.m_prime / 1e6, b.m_prime / 4e6, rtol=1e-7, atol=0)  # 1000 x rtol
    assert np.allclose(a.l1 / 1e3, b.l1 / 2e3, rtol=1e-7, atol=0)


def test_relative_variance_goes_from_pi_over_2_minus_1_to_1():
    """r(gamma) increases from pi/2 - 1 to 1 (exponential-tail limit, docs#relative-variance)."""
    g = np.linspace(0, 6, 61)
    g0, g1, g2 = _tail_moments(g)
    r = g0 * g2 / g1**2 - 1
    assert r[0] == pytest.approx(math.pi / 2 - 1, rel=1e-13)
    assert np.all(np.diff(r) > 0)
    # asymptotic series (from the Mills-ratio series, docs eq. (11)):
    # r = 1 - 2/gamma^2 + 18/gamma^4 - 210/gamma^6 + ...; an alternating asymptotic series,
    # so the truncation error after the gamma^-4 term is bounded by the first omitted term.
    for gg in (6.0, 8.0):
        a, b, c = _tail_moments(gg)
        rr = a * c / b**2 - 1
        assert abs(rr - (1 - 2 / gg**2 + 18 / gg**4)) <= 210 / gg**6


# --- time to full sparsification ------------------------------------------------------------


def test_t_full_adiabatic_equals_quadrature_of_the_integral():
    """Eq. (16) summed in closed form vs quadrature of dc / sqrt(S(c)) segment by segment."""
    x = np.sort(np.abs(rng(3).normal(0, 0.1, 25)))[::-1]
    ll = 0.01

    def S(c):
        d = np.clip(x - c, 0, None)
        return float(d @ d)

    edges = np.concatenate([[0.0], x[::-1][:-1]])  # 0, x_(m), ..., x_(2)
    total, err = 0.0, 0.0
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        v, e = integrate.quad(lambda c: S(c) ** -0.5, a, b, epsrel=QUAD_RTOL, epsabs=0)
        total, err = total + v, err + e
    pred = t_full_adiabatic(x, ll, corrected=False)
    assert abs(pred * ll - total) <= QUAD_RTOL * total + err + 64 * EPS * total


def test_refined_law_starts_from_the_balanced_l1():
    mp, l1 = refined_law([0.0], 1e6, 1e-5)
    assert l1[0] == pytest.approx(math.sqrt(2e6 / math.pi), rel=1e-12)
    # eq. (15) at t = 0: m' = (1 + r(0)) l1^2 / q with r(0) = pi/2 - 1 and q the larger root
    # of q (1 - q) = lam l1; a handful of roundings, 16 eps relative
    q = 0.5 * (1 + math.sqrt(1 - 4e-5 * l1[0]))
    assert mp[0] == pytest.approx(math.pi / 2 * l1[0] ** 2 / q, rel=16 * EPS)


@pytest.mark.parametrize("bad", [dict(m_value=0), dict(lam_value=-1.0), dict(m_value=np.nan)])
def test_theory_validates_inputs(bad):
    args = dict(m_value=1e4, lam_value=1e-3)
    args.update(bad)
    with pytest.raises(ValueError):
        paper_law([1.0], args["m_value"], args["lam_value"])
    with pytest.raises(ValueError):
        mean_field([1.0], args["m_value"], args["lam_value"])
