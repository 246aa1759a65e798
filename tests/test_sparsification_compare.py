"""Theory vs simulation for single-feature sparsification (docs/theory/sparsification.md).

The simulation is `dynamics` (exact reduction, itself checked against the full ODE in
test_sparsity_flow.py); the predictions are `theory`. Sampling errors are derived from the
influence function of the adiabatic law (docs#mean-field-error) and evaluated by quadrature.
"""

import math

import numpy as np
import pytest
from scipy import integrate

from dynamics import SparsificationOptions, integrate_sparsification
from tests.helpers import two_sided_z
from theory.sparsification import (
    _tail_moments,
    mean_field,
    paper_law,
    t_full_adiabatic,
)

SIGMA0 = 0.9
R0 = math.pi / 2 - 1  # relative variance at the start, its minimum (eq. 11)


def e1_draw(m, seed):
    """The authors' initial condition |N(0, 0.9^2/m)| from a named seed."""
    g = np.random.default_rng(np.random.SeedSequence(seed))
    return np.abs(g.normal(0.0, SIGMA0 / math.sqrt(m), m))


def influence_sd(gam_bar, m):
    """Sampling sd of m'(t)/m and of ln ||w||_1(t) at fixed t, to first order in 1/sqrt(m).

    Adiabatic law: lam t = int_0^c S^{-1/2} dc'. A perturbation dS of the empirical S moves the
    cut at fixed t by dc = (1/2) sqrt(S(c)) int_0^c dS S^{-3/2} dc'. In units u = x sqrt(m) /
    sigma0 (u ~ half-normal), one weight contributes (docs eq. (20))
        psi_m(u)  = 1[u > g] - 2 phi(g) sqrt(G2(g)) (1/2) J(u)
        psi_l1(u) = (u-g)_+/G1 - (u-g)_+^2/(2 G2) + (G1/G2 - G0/G1) sqrt(G2(g)) (1/2) J(u)
    with J(u) = int_0^{min(u,g)} (u - g')^2 G2(g')^{-3/2} dg'; Var = Var_u(psi)/m.
    """
    gp = np.linspace(0.0, gam_bar, 4001)
    _, _, g2p = _tail_moments(gp)
    w = g2p**-1.5
    i0 = integrate.cumulative_trapezoid(w, gp, initial=0)
    i1 = integrate.cumulative_trapezoid(gp * w, gp, initial=0)
    i2 = integrate.cumulative_trapezoid(gp * gp * w, gp, initial=0)
    u = np.linspace(0.0, 12.0, 24001)
    dens = 2 * np.exp(-u * u / 2) / math.sqrt(2 * math.pi)
    a = np.minimum(u, gam_bar)
    J = u * u * np.interp(a, gp, i0) - 2 * u * np.interp(a, gp, i1) + np.interp(a, gp, i2)
    g0, g1, g2 = _tail_moments(gam_bar)
    phi = math.exp(-gam_bar**2 / 2) / math.sqrt(2 * math.pi)
    ex = np.clip(u - gam_bar, 0, None)
    psi_m = (u > gam_bar) - 2 * phi * math.sqrt(g2) * 0.5 * J
    psi_l = ex / g1 - ex**2 / (2 * g2) + (g1 / g2 - g0 / g1) * math.sqrt(g2) * 0.5 * J

    def var(psi):
        mean = integrate.trapezoid(psi * dens, u)
        return integrate.trapezoid((psi - mean) ** 2 * dens, u)

    return math.sqrt(var(psi_m) / m), math.sqrt(var(psi_l) / m)


# False-failure rate of each statistical test below: 1e-3 in total, Bonferroni over the
# compared points (the statistics are first-order Gaussian: sums of m i.i.d. influences).
FFR = 1e-3


def _compare_mean_field(m, lam, seed, times):
    w0 = e1_draw(m, seed)
    tv = np.asarray(times)
    ex = integrate_sparsification(w0, lam, float(tv[-1]), method="exact",
                                  options=SparsificationOptions(t_eval=tuple(tv)))
    mf = mean_field(ex.t, m, lam, SIGMA0)
    z = two_sided_z(FFR / (2 * tv.size))
    for i in range(tv.size):
        sd_m, sd_l = influence_sd(float(mf.gamma[i]), m)
        dm = ex.m_prime[i] / m - mf.m_prime[i] / m
        dl = math.log(ex.l1[i] / mf.l1[i])
        # first-order bias of the mean field is O(1/m), << sd ~ 1/sqrt(m): not added
        assert abs(dm) <= z * sd_m, (ex.t[i], dm, sd_m)
        assert abs(dl) <= z * sd_l, (ex.t[i], dl, sd_l)
    return ex, mf


def test_mean_field_matches_exact_at_m_1e6_within_sampling_error():
    """m = 1e6, lam = 1e-5 (lam sqrt m = 0.01): times where the mean field has m' >= 1e3."""
    _compare_mean_field(10**6, 1e-5, 2024, np.geomspace(10.0, 1.5e4, 5))


@pytest.mark.slow
def test_mean_field_matches_exact_at_m_1e7_within_sampling_error():
    _compare_mean_field(10**7, 1e-5, 7, np.geomspace(10.0, 1.5e4, 8))


def _paper_ratio_band(t, r, l1_t0, t0, m, lam):
    """Derived band [low, high] for R = m' / m'_paper at times t >= t0 (docs#paper-law).

    R = (1 + r) l1^2 (1/sqrt m + lam t)^2 / q exactly (eq. 15 with eq. 12). By eq. (14),
    1/l1(t) = 1/l1(t0) + lam int_t0^t r ds, to relative accuracy eps (the neglected
    O(lam l1) terms, test_refined_law_l1_increments_follow_the_mean_field), and r increases
    in t (eq. 11 along eq. 10), so the integral lies between r(t0)(t - t0) and r(t)(t - t0).
    With q <= 1 below and q >= 1 - 2 lam l1(t0) above:
        low  = (1 + r) [(b + lam t) / (1/l1(t0) + lam r(t) (t - t0))]^2 (1 - eps)^2,
        high = (1 + r) [(b + lam t) / (1/l1(t0) + lam r(t0) (t - t0))]^2 (1 + eps)^2 / q_min,
    b = 1/sqrt m. For lam t >> b these tend to (1 + r)/r^2 >= 2 and (1 + r)/r0^2 <= 2/r0^2,
    r0 = pi/2 - 1: the law is low by a factor between 2 and 6.1 late, and right (R = 1) at
    t = 0, where m' = m. Returns (low, high, eps, q_min).
    """
    r0_t = r[0]
    lam_l1 = lam * l1_t0
    q_min = 1 - 2 * lam_l1
    eps = lam_l1 * (2 + 1 / R0) / q_min
    b = 1 / math.sqrt(m)
    low = (1 + r) * ((b + lam * t) / (1 / l1_t0 + lam * r * (t - t0))) ** 2 * (1 - eps) ** 2
    high = (1 + r) * ((b + lam * t) / (1 / l1_t0 + lam * r0_t * (t - t0))) ** 2
    return low, high * (1 + eps) ** 2 / q_min, eps, q_min


def test_paper_law_band():
    """docs/paper.md#e1 says m' sits 2-3x above the plotted law mid-way. The band follows from
    eqs. (11)-(15) and the range of r (``_paper_ratio_band``); here the mean field (the
    m -> inf limit, integrator error 1e-10) is checked to lie in it at every time from
    t0 = 20 (after the O(1) norm transient) while m' >= 10. At t = 1, m' <= m gives
    R <= (1 + lam sqrt m)^2. The measured peaks, 2.71 (m = 1e5) and 2.69 (m = 1e7), are
    recorded in docs#paper-law, not asserted.
    """
    t0 = 20.0
    for m, lam in [(1e5, 1e-5), (1e7, 1e-5)]:
        tv = np.concatenate([[1.0], np.geomspace(t0, 1.0 / lam, 400)])
        mf = mean_field(tv, m, lam, SIGMA0)
        pm, _ = paper_law(tv, m, lam)
        ratio = mf.m_prime / pm
        assert ratio[0] <= (1 + lam * math.sqrt(m)) ** 2
        valid = mf.m_prime[1:] >= 10  # mean field meaningful
        t, r, R = tv[1:][valid], mf.r[1:][valid], ratio[1:][valid]
        low, high, eps, q_min = _paper_ratio_band(t, r, mf.l1[1], t0, m, lam)
        assert np.all(low <= R) and np.all(R <= high), (m, (R / low).min(), (R / high).max())
        # the band reaches above 2: the law is low by at least 2x mid-way (docs/paper.md#e1)
        assert low.max() >= 2.0
        # constants only, every t: 1 + r in [pi/2, 2], and (b + lam t) l1 lies between
        # sqrt(2/pi) (l1(0+) = sqrt(2m/pi)) and 1/r0, so 1 <= R <= 2/r0^2 (up to eps, q_min)
        assert np.all(R >= (1 - eps) ** 2) and np.all(R <= 2 / R0**2 * (1 + eps) ** 2 / q_min)


def test_simulated_paper_ratio_at_m_1e5_follows_the_mean_field():
    """The E1 configuration (m = 1e5, lam = 1e-5): simulated m'/law at log-spaced times equals
    the mean-field ratio within the sampling error (same derivation as above), and at
    t = 1e4 it lies above the derived band's lower edge minus that sampling error."""
    m, lam, t0 = 10**5, 1e-5, 20.0
    ex, mf = _compare_mean_field(m, lam, 0, np.geomspace(10.0, 1e4, 4))
    pm, _ = paper_law(ex.t, m, lam)
    ratio = ex.m_prime / pm
    band_mf = mean_field(np.array([t0, ex.t[-1]]), m, lam, SIGMA0)
    low, _, _, _ = _paper_ratio_band(ex.t[-1:], band_mf.r[1:], band_mf.l1[0], t0, m, lam)
    sd_m, _ = influence_sd(float(band_mf.gamma[1]), m)
    z = two_sided_z(FFR / (2 * ex.t.size))  # the bound _compare_mean_field asserted
    assert ratio[-1] >= low[0] - z * sd_m * m / pm[-1], (ratio[-1], low[0])


@pytest.mark.parametrize("m, lam, seed", [(10**5, 1e-5, 0), (10**4, 1e-4, 2), (10**3, 1e-3, 4)])
def test_t_full_matches_the_corrected_adiabatic_prediction(m, lam, seed):
    """t_full of the exact flow vs eq. (19). Neglected: the second-order term of sqrt(q),
    (3/8) lam^2 int ||w||_1^2 dt, with ||w||_1 <= ||w(0+)||_1 = sqrt(2m/pi) until
    t0 = 1/(lam ||w||_1(0+)) and ||w||_1 <= 1/(lam r_min t) after, r_min = pi/2 - 1:
    bound (3/8) * 2 * lam sqrt(2m/pi) / r_min^2, plus the solver's accumulated rtol bound."""
    w0 = e1_draw(m, seed)
    r = integrate_sparsification(w0, lam, 40.0 / lam, method="exact")
    pred = t_full_adiabatic(w0, lam)
    r_min = math.pi / 2 - 1
    bound = 0.75 * lam * math.sqrt(2 * m / math.pi) / r_min**2
    bound += 1e-10 * (r.stats.n_steps + r.stats.n_restarts) * r.t_full
    assert abs(r.t_full - pred) <= bound, (r.t_full, pred, bound)
    # the uncorrected law (16) is late by at least the q < 1 correction of eq. (19),
    # (1/4) ln(S(0)/S(x_(2))) (the transient bracket is >= 0 for q_0 < 1), a few time units
    raw = t_full_adiabatic(w0, lam, corrected=False)
    top2 = np.sort(w0)[-2:]
    assert raw - r.t_full >= 0.25 * math.log(np.sum(w0**2) / (top2[1] - top2[0]) ** 2) - bound
