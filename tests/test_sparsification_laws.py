"""The refined law (eq. 14) and the distribution of t_full over draws (eq. 18) against
independent computations (docs/theory/sparsification.md#refined-law,
docs/theory/sparsification.md#distribution-over-draws).

Each test compares a theory function with a different route to the same quantity: the
refined law with the mean-field ODE solution, the order-statistics sampler of t_full with
explicit i.i.d. draws pushed through the per-draw prediction (which the exact solver
confirms draw by draw in test_sparsification_compare.py).
"""

import math

import numpy as np
from scipy import stats

from tests.helpers import two_sided_z
from theory.sparsification import mean_field, refined_law, t_full_adiabatic, t_full_distribution

SIGMA0 = 0.9
R0 = math.pi / 2 - 1  # smallest relative variance, at the start (eq. 11)
# False-failure rate of each statistical assertion below if its seeds were drawn at random;
# the seeds are fixed, so the outcome is deterministic.
FFR = 1e-3


def test_refined_law_l1_increments_follow_the_mean_field():
    """d(1/l1)/dt = lam r (eq. 14): the refined law's increments of 1/l1 between t0 = 20
    (after the O(1) norm transient) and later times equal the mean-field solution's.

    Derivation of the tolerance. Exactly, l1' = (1 - q) l1 - lam m' and m' = (1 + r) l1^2 / q,
    so d(1/l1)/dt = lam r / q - delta / (q l1) with delta = q (1 - q) - lam l1 the balance
    residual, |delta| <= lam^2 l1^2 (asserted in test_mean_field_initial_values_and_balance).
    Relative to lam r the neglected terms are (1/q - 1) + lam l1 / (q r), and with
    1 - q <= 2 lam l1 both are <= lam l1 (2 + 1/r0) / q. l1 decreases, so l1(t0) bounds
    it on every interval; 1e-6 covers the trapezoid rule for int r and the ODE tolerance.
    """
    m, lam = 1e6, 1e-5  # lam sqrt(m) = 0.01: the balance regime (A1)
    tv = np.concatenate([[20.0], np.geomspace(100.0, 2e4, 8)])
    _, l1_refined = refined_law(tv, m, lam, SIGMA0)
    mf = mean_field(tv, m, lam, SIGMA0)
    inc_refined = 1 / l1_refined[1:] - 1 / l1_refined[0]
    inc_mf = 1 / mf.l1[1:] - 1 / mf.l1[0]
    lam_l1 = lam * mf.l1[0]
    q_min = 1 - 2 * lam_l1
    bound = lam_l1 * (2 + 1 / R0) / q_min + 1e-6
    rel = inc_refined / inc_mf - 1
    assert np.all(np.abs(rel) <= bound), (rel, bound)


def _explicit_draws(m, lam, n_draws, seed):
    """lam t_full of i.i.d. initial conditions |N(0, sigma0^2/m)|, predicted per draw by
    eq. (19); that prediction matches the exact solver to ~1e-8 relative."""
    gen = np.random.default_rng(np.random.SeedSequence(seed))
    return np.array([lam * t_full_adiabatic(np.abs(gen.normal(0.0, SIGMA0 / math.sqrt(m), m)),
                                            lam) for _ in range(n_draws)])


def _assert_same_distribution(sampled, explicit):
    """Two-sample z-test of the means and Kolmogorov-Smirnov test, each at FFR / 2.

    The means' difference has variance s_a^2/N_a + s_b^2/N_b (both samples i.i.d.); lam t_full
    has all moments (its tail is logarithmic in the top gap, eq. 17), so the CLT applies at
    N ~ 1e3. The KS test is exact for continuous distributions.
    """
    se = math.sqrt(sampled.var(ddof=1) / sampled.size + explicit.var(ddof=1) / explicit.size)
    z = (sampled.mean() - explicit.mean()) / se
    assert abs(z) <= two_sided_z(FFR / 2), (sampled.mean(), explicit.mean(), se)
    assert stats.ks_2samp(sampled, explicit).pvalue >= FFR / 2


def test_t_full_distribution_all_order_statistics_drawn():
    """m = 64 <= k_top: every order statistic comes from uniform spacings and eq. (16) is
    summed over all of them. Against 3000 explicit draws; eq. (19)'s corrections and the
    second-order remainder shift lam t_full by < lam * 5 = 5e-4, far below the standard
    error of the mean difference (~0.02)."""
    m, lam = 64, 1e-4
    sampled = lam * t_full_distribution(m, lam, SIGMA0, n_draws=3000, seed=5)
    explicit = _explicit_draws(m, lam, 3000, seed=6)
    _assert_same_distribution(sampled, explicit)


def test_t_full_distribution_with_mean_field_bulk():
    """m = 4000 > k_top = 400: the top 400 order statistics are drawn, the bulk below them
    is the mean field (eq. 18). The bulk's share of lam t_full is
    int_0^{gamma_K} G_2^{-1/2} / sqrt(m) ~ 0.04 and its relative sampling error
    ~ 1/sqrt(m - k_top) = 2%, i.e. ~1e-3, below the standard error (~0.03) of 1500 draws."""
    m, lam = 4000, 1e-4
    sampled = lam * t_full_distribution(m, lam, SIGMA0, n_draws=1500, k_top=400, seed=7)
    explicit = _explicit_draws(m, lam, 1500, seed=8)
    _assert_same_distribution(sampled, explicit)


def test_t_full_distribution_progress_reports_every_draw_once():
    """The progress callback sees every draw exactly once, in chunks of DRAWS_PER_REPORT
    and a remainder, and does not touch the random stream (same draws with and without)."""
    from theory.sparsification import DRAWS_PER_REPORT

    n = 2 * DRAWS_PER_REPORT + 7
    chunks = []
    with_bar = t_full_distribution(64, 1e-3, SIGMA0, n_draws=n, seed=3, on_draws=chunks.append)
    assert chunks == [DRAWS_PER_REPORT, DRAWS_PER_REPORT, 7]
    np.testing.assert_array_equal(with_bar, t_full_distribution(64, 1e-3, SIGMA0, n_draws=n,
                                                                seed=3))
