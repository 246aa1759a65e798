"""Numerical-method tests of the single-feature L1 solvers (docs/theory/sparsification.md).

Layers: a closed-form single-weight reference; exact vs ode on random initial conditions
(deaths and trajectories within a bound derived from the integrator tolerance); Euler's
first-order convergence; invariants (order, monotone m', signs); the numba kernel against its
numpy oracle; input validation.
"""

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy import integrate

from dynamics import SparsificationOptions, integrate_sparsification
from dynamics._sparsification_euler import euler_kernel, euler_reference
from dynamics._sparsification_types import LAM_MAX
from tests.helpers import rng

RTOL = 1e-10  # integrator tolerance used by the comparisons below
ATOL = 1e-13
EPS = np.finfo(float).eps


def _draw(seed, m, signed=True):
    g = rng(seed)
    w = g.normal(0.0, 1.0 / math.sqrt(m), m)
    return w if signed else np.abs(w)


def _accumulated_bound(*results):
    """Relative global-error bound of tolerance-controlled solvers: the local error of every
    accepted step (and every restart) is <= rtol relative; the flow is contracting in the norm
    direction and neutral along (A, c), so local errors add at most linearly:
    |global| <= rtol x (total steps + restarts) of both solvers. No cancellation is assumed."""
    n = sum(r.stats.n_steps + r.stats.n_restarts for r in results)
    return RTOL * n


# --- closed-form reference: one weight, t(x) = int_x0^x dx / ((1 - x^2) x - lam) -------------


def test_single_weight_matches_quadrature_of_the_scalar_ode():
    """With m = 1 the flow is x' = (1 - x^2) x - lam; t(x) is a quadrature (eq. (8))."""
    lam, x0, t_end = 0.05, 0.3, 6.0
    opts = SparsificationOptions(t_eval=(0.0, t_end), rtol=RTOL, atol=ATOL)
    for method in ("exact", "ode"):
        r = integrate_sparsification(np.array([x0]), lam, t_end, method=method, options=opts)
        x_end = r.l1[-1]
        t_quad, err = integrate.quad(lambda x: 1.0 / ((1 - x * x) * x - lam), x0, x_end,
                                     epsabs=0, epsrel=1e-13)
        # error in x at fixed t maps to an error in t(x) through 1/x'; bound it by the
        # accumulated solver bound times t_end (relative error of a time-like quantity)
        bound = _accumulated_bound(r) * t_end + err
        assert abs(t_quad - t_end) <= bound, (method, t_quad, t_end, bound)
        assert r.m_prime[-1] == 1 and r.t_full == 0.0


# --- exact vs ode ---------------------------------------------------------------------------


@settings(max_examples=12)
@given(
    m=st.integers(2, 160),
    lam=st.floats(3e-3, 5e-2),
    seed=st.integers(0, 2**31 - 1),
)
# the pilot's t_max cut once gave a last record 3.7e-9 relative beyond t_max (fresh-venv failure)
@example(m=104, lam=0.011970982379725388, seed=10336)
def test_exact_agrees_with_ode_deaths_and_trajectories(m, lam, seed):
    """Death times and ||w||_1, ||w||^2 at common times agree within the accumulated bound."""
    w0 = _draw(seed, m)
    t_max = 2.5 / lam
    opts = SparsificationOptions(rtol=RTOL, atol=ATOL, record_deaths=True, n_records=24,
                                 segment_deaths=m)
    ex = integrate_sparsification(w0, lam, t_max, method="exact", options=opts)
    opts_ode = SparsificationOptions(rtol=RTOL, atol=ATOL, record_deaths=True,
                                     t_eval=tuple(ex.t))
    od = integrate_sparsification(w0, lam, t_max, method="ode", options=opts_ode)
    bound = _accumulated_bound(ex, od)
    fin = np.isfinite(ex.death_times)
    assert np.array_equal(fin, np.isfinite(od.death_times))
    # death times: relative bound on a time-like quantity, plus the root-finder's xtol
    dt_err = np.abs(ex.death_times[fin] - od.death_times[fin])
    assert np.all(dt_err <= bound * ex.death_times[fin] + 1e-15 * t_max), dt_err.max()
    if math.isfinite(ex.t_full):
        assert abs(ex.t_full - od.t_full) <= bound * ex.t_full
    # trajectories at the same times
    assert np.allclose(ex.t, od.t, rtol=0, atol=0)
    rel_l1 = np.abs(ex.l1 - od.l1) / ex.l1.clip(min=1e-300)
    assert np.all(rel_l1[ex.l1 > 0] <= bound), rel_l1.max()
    rel_l2 = np.abs(ex.l2sq - od.l2sq) / ex.l2sq.clip(min=1e-300)
    assert np.all(rel_l2[ex.l2sq > 0] <= 2 * bound)  # squared quantity: twice the relative
    # m' may differ only where a death lies within the bound of the record time
    diff = ex.m_prime != od.m_prime
    for i in np.flatnonzero(diff):
        near = np.abs(ex.death_times[fin] - ex.t[i]) <= bound * ex.t[i]
        assert near.any(), (ex.t[i], ex.m_prime[i], od.m_prime[i])


def test_exact_handles_zeros_ties_and_one_weight():
    """Zeros are dead from the start; tied magnitudes die together; a tied top pair never
    splits (eq. (5)), so m' stays 2 and t_full is infinite; m = 1 has t_full = 0."""
    w0 = np.array([0.0, 0.3, -0.3, 0.1, 0.0, 0.05, -0.05])
    opts = SparsificationOptions(rtol=RTOL, atol=ATOL, record_deaths=True, segment_deaths=10)
    lam = 0.05
    ex = integrate_sparsification(w0, lam, 400.0, method="exact", options=opts)
    od = integrate_sparsification(w0, lam, 400.0, method="ode",
                                  options=SparsificationOptions(rtol=RTOL, atol=ATOL,
                                                                record_deaths=True,
                                                                t_eval=tuple(ex.t)))
    assert ex.m_prime[0] == 5
    assert ex.death_times[0] == 0.0 and ex.death_times[4] == 0.0
    assert ex.death_times[5] == ex.death_times[6]  # ties: same cut, same time
    assert ex.m_prime[-1] == 2 and od.m_prime[-1] == 2
    assert math.isinf(ex.t_full) and math.isinf(od.t_full)
    bound = _accumulated_bound(ex, od)
    fin = np.isfinite(ex.death_times) & (ex.death_times > 0)
    assert np.array_equal(fin, np.isfinite(od.death_times) & (od.death_times > 0))
    assert np.allclose(ex.death_times[fin], od.death_times[fin], rtol=bound, atol=0)
    assert np.allclose(ex.l1, od.l1, rtol=bound, atol=0)
    one = integrate_sparsification(np.array([-0.4]), lam, 50.0, method="exact")
    assert one.t_full == 0.0 and np.all(one.m_prime == 1)
    # fixed point of a lone weight: x (1 - x^2) = lam, the larger root (docs/paper.md#identities)
    long = integrate_sparsification(np.array([0.4]), lam, 200.0, method="exact")
    x_star = long.l1[-1]
    # a relative error b of x moves x (1 - x^2) by |1 - 3 x^2| x b to first order
    assert abs(x_star * (1 - x_star**2) - lam) <= (
        abs(1 - 3 * x_star**2) * x_star * _accumulated_bound(long))


# --- Euler: first order ---------------------------------------------------------------------

# Euler's global error at fixed T is e(dt) = C1 dt (1 + O(L dt)) with L ~ 2 the largest rate of
# the linearized flow (norm relaxation). Over dt in [dt_min, dt_max] the fitted log-log slope
# therefore differs from 1 by at most about L dt_max. With dt_max = 0.04: band 1 +- 0.08.
EULER_DTS = (0.04, 0.02, 0.01, 0.005)
EULER_SLOPE_BAND = 2.0 * EULER_DTS[0]


def test_euler_converges_at_first_order():
    """No weight dies before T here (all start well above lam T), so the error is smooth."""
    g = rng(11)
    m, lam, T = 12, 0.02, 4.0
    w0 = g.uniform(0.15, 0.35, m) * np.where(g.random(m) < 0.5, -1, 1)
    ref = integrate_sparsification(
        w0, lam, T, method="ode",
        options=SparsificationOptions(rtol=1e-12, atol=1e-14, t_eval=(T,), record_weights=True))
    assert ref.m_prime[-1] == m
    errs = []
    for dt in EULER_DTS:
        e = integrate_sparsification(
            w0, lam, T, method="euler",
            options=SparsificationOptions(dt=dt, t_eval=(T,), record_weights=True))
        errs.append(np.max(np.abs(e.weights[-1] - ref.weights[-1])))
    slope = np.polyfit(np.log(EULER_DTS), np.log(errs), 1)[0]
    assert abs(slope - 1.0) <= EULER_SLOPE_BAND, (slope, errs)


def test_euler_kernel_matches_numpy_oracle():
    """Same recursion; the only difference is the summation order of q (numba: sequential,
    numpy: pairwise), |dq| <= m eps q per step. Propagated: |dx_N| <= N dt m eps e^{L N dt} |x|
    with L <= 3 (bound of |d/dx of the vector field| for ||x|| <= 1)."""
    g = rng(5)
    m, lam, dt, n = 50, 0.01, 0.1, 20
    x0 = np.abs(g.normal(0, 1 / math.sqrt(m), m))
    ref = euler_reference(x0, lam, dt, n)
    x = x0.copy()
    rec = np.array([n], np.int64)
    mp, l1, l2 = np.zeros(1, np.int64), np.zeros(1), np.zeros(1)
    rw = np.zeros((1, m))
    death = np.full(m, -1, np.int64)
    euler_kernel(x, lam, dt, n, rec, mp, l1, l2, rw, death)
    bound = n * dt * m * EPS * math.exp(3 * n * dt) * x0.max()
    assert np.max(np.abs(rw[0] - ref)) <= bound
    assert mp[0] == np.count_nonzero(ref)


# --- invariants -----------------------------------------------------------------------------


@settings(max_examples=8)
@given(m=st.integers(3, 80), lam=st.floats(5e-3, 5e-2), seed=st.integers(0, 2**31 - 1),
       method=st.sampled_from(["exact", "ode", "euler"]))
def test_invariants_order_monotone_m_prime_signs(m, lam, seed, method):
    """Order of |w| never changes, survivors are the top m' initial magnitudes, m' is
    non-increasing, and no weight changes sign (eq. (5))."""
    w0 = _draw(seed, m)
    r = integrate_sparsification(
        w0, lam, 3.0 / lam, method=method,
        options=SparsificationOptions(record_weights=True, n_records=30, dt=0.05))
    assert np.all(np.diff(r.m_prime) <= 0)
    order0 = np.argsort(-np.abs(w0), kind="stable")
    for w, mp in zip(r.weights, r.m_prime, strict=True):
        nz = np.flatnonzero(w != 0)
        assert nz.size == mp
        assert np.all(np.sign(w[nz]) == np.sign(w0[nz]))
        assert set(nz) == set(order0[:mp])
        a = np.abs(w)[order0[:mp]]
        assert np.all(np.diff(a) <= 0)
    assert np.all(np.isfinite(r.l1)) and r.l1.dtype == np.float64


# --- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(w0=np.array([np.nan, 1.0])), "w0 must be finite"),
        (dict(w0=np.zeros((2, 2))), "1-D"),
        (dict(w0=np.array([])), "non-empty"),
        (dict(lam=0.0), "lam must be in"),
        (dict(lam=LAM_MAX), "lam must be in"),
        (dict(t_max=-1.0), "t_max must be"),
        (dict(t_max=math.inf), "t_max must be"),
        (dict(method="rk4"), "method must be one of"),
        (dict(method="euler", options=SparsificationOptions(dt=1.5)), "dt must be <= 1"),
        (dict(options=SparsificationOptions(t_eval=(2.0, 1.0))), "strictly increasing"),
        (dict(options=SparsificationOptions(t_eval=(0.0, 99.0))), "within"),
        (dict(options=SparsificationOptions(rtol=0.0)), "rtol"),
        (dict(options="fast"), "SparsificationOptions"),
    ],
)
def test_validation_names_the_argument(kwargs, match):
    args = dict(w0=np.array([0.3, 0.2]), lam=0.01, t_max=10.0, method="exact", options=None)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        integrate_sparsification(args["w0"], args["lam"], args["t_max"], method=args["method"],
                                 options=args["options"])


def test_tolerance_below_100_eps_is_clamped_with_warning():
    with pytest.warns(UserWarning, match="100 eps"):
        r = integrate_sparsification(np.array([0.3, 0.2]), 0.01, 5.0,
                                     options=SparsificationOptions(rtol=1e-17))
    assert r.status == 0
