"""Theory of single-feature sparsification under L1
(docs/paper.md#sparsification; docs/theory/sparsification.md).

Flow (normalized units): dw_k/dt = (1 - ||w||^2) w_k - lam sign(w_k), zero absorbing.
Initial condition of the paper (E1): |w_k(0)| ~ |N(0, sigma_0^2 / m)| i.i.d., sigma_0 = 0.9.

Each derived quantity has a symbolic face (:func:`expressions`) and a numeric companion:

* :func:`paper_law`               the curves the authors plot (eqs. (12)-(13))
* :func:`mean_field`              the m -> infinity solution, no sampling (eqs. (9)-(11))
* :func:`refined_law`             balance condition + relative variance r(t) from mean field
                                  (eqs. (14)-(15))
* :func:`t_full_adiabatic`        time to full sparsification of one given draw (eq. (16))
* :func:`two_weight_stage_time`   closed form of the last two-weight stage (eq. (17))
* :func:`t_full_distribution`     distribution of lam * t_full over draws, finite m (eq. (18))

`theory` never imports `dynamics` or `simulations`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import sympy as sp
from scipy import integrate, special, stats

from theory._symbols import A_exp, delta, gamma, gap, lam, m, sigma0, t, u

__all__ = [
    "MeanFieldCurve",
    "expressions",
    "mean_field",
    "paper_law",
    "refined_law",
    "t_full_adiabatic",
    "t_full_distribution",
    "two_weight_stage_time",
]

SIGMA0_PAPER = 0.9  # the authors' init scale in E1: |N(0, 0.9^2 / m)|
                    # (docs/paper.md#initialization)
# Absolute tolerance of the mean-field integration: A and gamma are O(1) (gamma <~ 6 while
# m' >= 1 for m <= 1e9), so the relative tolerance governs; this only guards their start at 0.
MEAN_FIELD_ATOL = 1e-12
# Grid of the time integral of r in refined_law: 0, then log-spaced from REFINED_GRID_START
# (r is smooth in log t); 4000 points over 10 decades are steps of 0.006 in log t, a
# trapezoid error of order 0.006^2 / 12 = 3e-6 relative.
REFINED_GRID_POINTS = 4000
REFINED_GRID_START = 1e-3
# Table of the bulk integral int_0^gamma G_2^{-1/2} in t_full_distribution (eq. (18)). gamma of
# the k_top-th largest of m half-normals solves 2 Q(gamma) = k_top / m: about 7.1 at
# k_top / m = 1e-12, so 12 covers every feasible draw (np.interp clamps beyond). The
# integrand grows like e^{gamma^2 / 4}; with step 6e-4 the trapezoid error is ~1e-6 relative
# at gamma = 12 and smaller below.
BULK_GAMMA_MAX = 12.0
BULK_GRID_POINTS = 20001
# t_full_distribution reports progress every this many draws (about 0.2 s of work).
DRAWS_PER_REPORT = 1000


# --------------------------------------------------------------------------------------------
# symbolic face
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def expressions() -> dict[str, sp.Expr]:
    """All symbolic results of docs/theory/sparsification.md, derived once and cached.

    Keys (eq. numbers of docs/theory/sparsification.md):
        ``g0, g1, g2``: G_j(gamma) = 2 int_gamma^oo (u - gamma)^j phi(u) du, the half-normal
            tail moments; m'/m = G_0, S(c) = sigma_0^2 G_2, sum_(x>c)(x - c) = sigma_0 sqrt(m)
            G_1 (eq. (9)).
        ``r``: relative variance of the survivors' excess, r = G_0 G_2 / G_1^2 - 1 (eq. (11)).
        ``dA_dt, dgamma_dt``: the mean-field ODE in (A, gamma) (eq. (10)).
        ``m_prime_mf, l1_mf, l2sq_mf``: mean-field observables given (A, gamma) (eq. (9)).
        ``paper_m_prime, paper_l1``: the authors' plotted law (eqs. (12)-(13)).
        ``two_weight_stage``: lam * duration of the two-weight stage (eq. (17)).
        ``r_at_0``: r at gamma = 0, pi/2 - 1.
    """
    gp = sp.Symbol("gamma_p", positive=True)  # positive dummy: avoids sympy's Piecewise at 0
    phi = sp.exp(-(u**2) / 2) / sp.sqrt(2 * sp.pi)
    g = []
    for j in range(3):
        gj = 2 * sp.integrate((u - gp) ** j * phi, (u, gp, sp.oo))
        gj = sp.simplify(gj.rewrite(sp.erfc)).subs(gp, gamma)
        g.append(gj)
    g0, g1, g2 = g
    r = g0 * g2 / g1**2 - 1
    e = sp.exp(A_exp)
    dA_dt = 1 - sigma0**2 * e**2 * g2
    dgamma_dt = lam * sp.sqrt(m) / sigma0 / e
    x = sp.Symbol("x", nonnegative=True)
    stage = sp.integrate(1 / sp.sqrt((x + gap) ** 2 + x**2), (x, 0, delta))
    inv = 1 / sp.sqrt(m) + lam * t
    return {
        "g0": g0,
        "g1": g1,
        "g2": g2,
        "r": r,
        "r_at_0": sp.nsimplify(sp.simplify(sp.limit(r, gamma, 0))),
        "dA_dt": dA_dt,
        "dgamma_dt": dgamma_dt,
        "m_prime_mf": m * g0,
        "l1_mf": sigma0 * sp.sqrt(m) * e * g1,
        "l2sq_mf": sigma0**2 * e**2 * g2,
        "paper_m_prime": sp.Max(1, inv**-2),
        "paper_l1": sp.Max(1, inv**-1),
        "two_weight_stage": sp.simplify(stage),
    }


# --------------------------------------------------------------------------------------------
# numeric companions
# --------------------------------------------------------------------------------------------


def _check_positive(name, value, upper=math.inf):
    v = float(value)
    if not (math.isfinite(v) and 0 < v < upper):
        raise ValueError(f"{name} must be in (0, {upper}), got {value}")
    return v


def paper_law(t_values, m_value: float, lam_value: float) -> tuple[np.ndarray, np.ndarray]:
    """The authors' plotted law
    (docs/paper.md#plotted-law; docs/theory/sparsification.md#paper-law).

    m'(t) = max(1, (1/sqrt m + lam t)^-2),  ||w||_1(t) = max(1, (1/sqrt m + lam t)^-1),
    eqs. (12)-(13). Returns (m_prime, l1) as float arrays of the shape of ``t_values``.
    """
    m_value = _check_positive("m", m_value)
    lam_value = _check_positive("lam", lam_value)
    tv = np.asarray(t_values, dtype=np.float64)
    if np.any(tv < 0) or not np.all(np.isfinite(tv)):
        raise ValueError("t must be finite and >= 0")
    inv = 1.0 / math.sqrt(m_value) + lam_value * tv
    return np.maximum(1.0, inv**-2), np.maximum(1.0, 1.0 / inv)


def _tail_moments(gam):
    """(G_0, G_1, G_2)(gamma) in a cancellation-reduced form via the Mills ratio.

    G_0 = 2 phi R, G_1 = 2 phi (1 - gamma R), G_2 = 2 phi ((1 + gamma^2) R - gamma) with
    R = Q/phi = sqrt(pi/2) erfcx(gamma/sqrt 2) (eq. (9)). The brackets lose about
    log10(gamma^4) digits to cancellation: 3 digits at gamma = 6 (m' = m 2e-9), harmless here.
    """
    gam = np.asarray(gam, dtype=np.float64)
    phi = np.exp(-0.5 * gam**2) / math.sqrt(2 * math.pi)
    R = math.sqrt(math.pi / 2) * special.erfcx(gam / math.sqrt(2))
    return 2 * phi * R, 2 * phi * (1 - gam * R), 2 * phi * ((1 + gam**2) * R - gam)


@functools.lru_cache(maxsize=1)
def _g_numeric():
    """Lambdified G_0, G_1, G_2 and r from :func:`expressions` (reference for tests)."""
    ex = expressions()
    return tuple(sp.lambdify(gamma, ex[k], modules=["scipy", "numpy"]) for k in
                 ("g0", "g1", "g2", "r"))


@dataclass(frozen=True)
class MeanFieldCurve:
    """Mean-field (m -> infinity) sparsification curve at the requested times.

    Attributes (all float64 [T]): t; gamma (scaled cut c sqrt(m)/sigma_0); A (log growth);
    m_prime (= m G_0(gamma), real-valued); l1; l2sq; r (relative variance of survivors).
    """

    t: np.ndarray
    gamma: np.ndarray
    A: np.ndarray
    m_prime: np.ndarray
    l1: np.ndarray
    l2sq: np.ndarray
    r: np.ndarray


def mean_field(t_values, m_value: float, lam_value: float, sigma0_value: float = SIGMA0_PAPER,
               *, rtol: float = 1e-10) -> MeanFieldCurve:
    """Mean-field solution (docs/theory/sparsification.md#mean-field, eqs. (9)-(11)).

    As m -> infinity with |w_k(0)| ~ |N(0, sigma_0^2/m)|, S(c) -> sigma_0^2 G_2(gamma) with
    gamma = c sqrt(m)/sigma_0, and the affine reduction becomes the autonomous system
        dA/dt = 1 - sigma_0^2 e^{2A} G_2(gamma),  dgamma/dt = (lam sqrt(m)/sigma_0) e^{-A},
    from A = gamma = 0. It depends on m and lam only through lam sqrt(m). m'/m = G_0(gamma),
    ||w||_1 = sigma_0 sqrt(m) e^A G_1(gamma), ||w||^2 = sigma_0^2 e^{2A} G_2(gamma).
    Valid while m' >> 1 (relative sampling error ~ 1/sqrt(m'),
    docs/theory/sparsification.md#mean-field-error).
    Integrated with Radau (stiff: the norm relaxes at rate ~2 while gamma moves at lam sqrt m).
    """
    m_value = _check_positive("m", m_value)
    lam_value = _check_positive("lam", lam_value)
    sigma0_value = _check_positive("sigma0", sigma0_value)
    tv = np.asarray(t_values, dtype=np.float64).ravel()
    if tv.size == 0 or np.any(tv < 0) or np.any(np.diff(tv) < 0) or not np.all(np.isfinite(tv)):
        raise ValueError("t must be a non-empty, non-decreasing array of finite times >= 0")
    k = lam_value * math.sqrt(m_value) / sigma0_value
    s2 = sigma0_value**2

    def fun(_, y):
        a, gam = y
        g0, g1, g2 = _tail_moments(gam)
        return [1.0 - s2 * math.exp(2 * a) * g2, k * math.exp(-a)]

    def jac(_, y):
        a, gam = y
        g0, g1, g2 = _tail_moments(gam)
        e2 = math.exp(2 * a)
        # dG_2/dgamma = -2 G_1 (eq. (9))
        return [[-2 * s2 * e2 * g2, 2 * s2 * e2 * g1], [-k * math.exp(-a), 0.0]]

    t_end = float(tv[-1])
    if t_end > 0:
        sol = integrate.solve_ivp(fun, (0.0, t_end), [0.0, 0.0], method="Radau",
                                  jac=jac, t_eval=tv, rtol=rtol, atol=MEAN_FIELD_ATOL)
        if sol.status < 0:
            raise RuntimeError(f"mean_field: integration failed: {sol.message}")
        a, gam = sol.y
    else:
        a, gam = np.zeros(tv.size), np.zeros(tv.size)
    g0, g1, g2 = _tail_moments(gam)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(g1 > 0, g0 * g2 / np.where(g1 > 0, g1, 1.0) ** 2 - 1.0, 1.0)
    ea = np.exp(a)
    return MeanFieldCurve(t=tv, gamma=gam, A=a, m_prime=m_value * g0,
                          l1=sigma0_value * math.sqrt(m_value) * ea * g1,
                          l2sq=s2 * ea**2 * g2, r=r)


def refined_law(t_values, m_value: float, lam_value: float,
                sigma0_value: float = SIGMA0_PAPER) -> tuple[np.ndarray, np.ndarray]:
    """docs/paper.md#l1-law made quantitative (docs/theory/sparsification.md#refined-law).

    Exact identity: d||w||_1/dt = (1 - ||w||^2)||w||_1 - lam m'. With the balance condition
    q(1 - q) = lam ||w||_1 (q = ||w||^2, eq. (7)) and m' = (1 + r)||w||_1^2 / q:
        d(1/||w||_1)/dt = lam r(t) + O(lam^2 ||w||_1),                              eq. (14)
        ||w||_1(0+) = sqrt(2m/pi),  m'(t) = (1 + r) ||w||_1^2 / q,                  eq. (15)
    with r(t) taken from :func:`mean_field` (not assumed constant) and q the larger root of
    q(1 - q) = lam ||w||_1. ||w||_1(0+) is the value after the O(1) transient in which the
    norm relaxes from sigma_0 to ~1 (e^A: 1 -> 1/sigma_0), so the law is meant for t >> 1.
    Clipped below at 1 like the paper's law. Returns (m_prime, l1).
    """
    tv = np.asarray(t_values, dtype=np.float64).ravel()
    if tv.size == 0 or np.any(tv < 0) or np.any(np.diff(tv) < 0):
        raise ValueError("t must be a non-empty non-decreasing array of times >= 0")
    # fine grid for the time integral of r: log-spaced plus the requested points (a positive
    # t_end keeps geomspace defined when every requested time is 0)
    t_end = max(float(tv[-1]), 1e-12)
    log_grid = np.geomspace(min(REFINED_GRID_START, t_end), t_end, REFINED_GRID_POINTS)
    grid = np.unique(np.concatenate([[0.0], log_grid, tv]))
    mf = mean_field(grid, m_value, lam_value, sigma0_value)
    int_r = integrate.cumulative_trapezoid(mf.r, grid, initial=0.0)
    # after the O(1) norm transient e^A = 1/sigma_0, so ||w||_1 starts from sqrt(2m/pi)
    inv_l1 = 1.0 / math.sqrt(2 * m_value / math.pi) + lam_value * int_r
    l1 = 1.0 / inv_l1
    disc = np.clip(1.0 - 4.0 * lam_value * l1, 0.0, None)
    q = 0.5 * (1.0 + np.sqrt(disc))
    mp = (1.0 + mf.r) * l1**2 / q
    idx = np.searchsorted(grid, tv)
    return np.maximum(1.0, mp[idx]), np.maximum(1.0, l1[idx])


def two_weight_stage_time(gap_value, delta_value, lam_value: float):
    """Duration of the two-weight stage (docs/theory/sparsification.md#two-weight-stage).

    With two survivors at gap g = x_(1) - x_(2) and the cut starting at x_(3) = x_(2) - delta,
    the adiabatic law dc/dt = lam sqrt(S(c)) integrates in closed form (eq. (17)):
        lam T_2 = (asinh(1 + 2 delta / g) - asinh(1)) / sqrt(2)
    (a logarithm of delta/g: near-ties between the top two make the last stage long).
    """
    g_ = np.asarray(gap_value, dtype=np.float64)
    d_ = np.asarray(delta_value, dtype=np.float64)
    return (np.arcsinh(1 + 2 * d_ / g_) - np.arcsinh(1.0)) / (math.sqrt(2) * lam_value)


def _adiabatic_segments(c_lo: np.ndarray, c_hi: np.ndarray, n: np.ndarray, p1: np.ndarray,
                        p2: np.ndarray) -> np.ndarray:
    """int_{c_lo}^{c_hi} dc / sqrt(S(c)) per segment with n survivors (S quadratic, eq. (16)).

    S(c) = n (mu - c)^2 + V with mu = P1/n, V = P2 - P1^2/n >= 0; the antiderivative is
    -asinh(sqrt(n)(mu - c)/sqrt(V))/sqrt(n), or -log(mu - c) when V = 0 (one survivor).
    Written as a log ratio to avoid the difference of two large asinh values.
    """
    mu = p1 / n
    V = np.maximum(p2 - p1 * p1 / n, 0.0)
    sn = np.sqrt(n)
    z_lo = sn * (mu - c_lo)
    z_hi = sn * (mu - c_hi)
    out = np.empty(c_lo.size)
    pos = V > 0
    sv = np.sqrt(V[pos])
    # asinh(a/s) - asinh(b/s) = log((a + sqrt(a^2 + s^2)) / (b + sqrt(b^2 + s^2)))
    a, b = z_lo[pos], z_hi[pos]
    out[pos] = np.log((a + np.sqrt(a * a + sv * sv)) / (b + np.sqrt(b * b + sv * sv))) / sn[pos]
    out[~pos] = np.log(z_lo[~pos] / z_hi[~pos]) / sn[~pos]
    return out


def t_full_adiabatic(w0, lam_value: float, *, corrected: bool = True) -> float:
    """Predicted time to full sparsification of one initial draw, eqs. (16), (19).

    docs/theory/sparsification.md#time-to-full-sparsification.

    Balance (q ~ 1) gives e^{2A} S(c) = 1, so dc/dt = lam e^{-A} = lam sqrt(S(c)) and
        t_ad = (1/lam) int_0^{x_(2)} dc / sqrt(S(c)),                              eq. (16)
    S piecewise quadratic between consecutive sorted magnitudes: a sum of closed forms,
    O(m log m). With ``corrected`` two first-order corrections are subtracted (eq. (19)):
    q = 1 - lam ||w||_1 < 1 gives exactly (1/4) ln(S(0)/S(x_(2))) (because ||w||_1 = -S'/2
    e^{A}), and the initial transient of the norm from q_0 = S(0) to 1 gives
    (s_0 - 1) - ln((1 + s_0)/2) with s_0 = q_0^{-1/2}. Remaining error O(lam ||w(0)||_1)
    time units. Ties at the top (x_(1) = x_(2)) give an infinite t_full.
    """
    lam_value = _check_positive("lam", lam_value)
    x = np.sort(np.abs(np.asarray(w0, dtype=np.float64)))[::-1]
    x = x[x > 0]
    if x.size <= 1:
        return 0.0
    p1 = np.cumsum(x)
    p2 = np.cumsum(x * x)
    # one segment per number n = 2..M of survivors (the top n): c in [x_(n+1), x_(n)]
    nn = np.arange(2, x.size + 1)  # number of survivors on the segment (>= 2 before t_full)
    c_hi = x[1:]  # x_(n) for n = 2..M
    c_lo = np.append(x[2:], 0.0)  # x_(n+1), 0 for the first segment (all M alive)
    if x[0] == x[1]:
        return math.inf
    total = _adiabatic_segments(c_lo, c_hi, nn.astype(np.float64), p1[1:], p2[1:])
    t_ad = float(np.sum(total[c_hi > c_lo]) / lam_value)
    if not corrected:
        return t_ad
    q0 = float(p2[-1])
    s_end = (x[0] - x[1]) ** 2
    s0 = q0**-0.5
    return t_ad - 0.25 * math.log(q0 / s_end) - ((s0 - 1.0) - math.log((1.0 + s0) / 2.0))


@functools.lru_cache(maxsize=4)
def _bulk_table(n_grid: int = BULK_GRID_POINTS, g_max: float = BULK_GAMMA_MAX):
    """Cumulative int_0^gamma G_2^{-1/2} on a fine grid (bulk part of eq. (18))."""
    g = np.linspace(0.0, g_max, n_grid)
    _, _, g2 = _tail_moments(g)
    return g, integrate.cumulative_trapezoid(g2**-0.5, g, initial=0.0)


def t_full_distribution(m_value: float, lam_value: float, sigma0_value: float = SIGMA0_PAPER,
                        *, n_draws: int = 2000, k_top: int = 2000, seed: int = 0,
                        on_draws: Callable[[int], None] | None = None) -> np.ndarray:
    """Draws of the adiabatic t_full over initial conditions, eq. (18).

    docs/theory/sparsification.md#distribution-over-draws.

    The top ``k_top`` order statistics of m half-normals are drawn exactly through uniform
    spacings (U_(k) = Gamma_k / Gamma_{m+1}, x = sigma_0/sqrt(m) Phi^-1(1 - U/2)); the cut
    below x_(k_top) uses the mean-field S = sigma_0^2 G_2 (eq. (18)):
        lam t_full = (1/sqrt m) int_0^{gamma_K} G_2^{-1/2} dgamma + sum of top segments (16).
    Returns ``n_draws`` values of t_full (the caller takes mean, quantiles). Monte-Carlo over
    a theoretical distribution, seeded through ``numpy.random.SeedSequence(seed)``.
    ``on_draws(k)``, if given, is called after every ``DRAWS_PER_REPORT`` draws and at the
    end with the number of draws since its last call (for a progress bar: a draw costs
    about 0.2 ms at k_top = 2000, so 10^6 draws take minutes).
    """
    m_value = _check_positive("m", m_value)
    lam_value = _check_positive("lam", lam_value)
    sigma0_value = _check_positive("sigma0", sigma0_value)
    if m_value < 3:
        raise ValueError("m must be >= 3")
    k = int(min(k_top, m_value))
    gen = np.random.default_rng(np.random.SeedSequence(seed))
    gtab, ctab = _bulk_table()
    out = np.empty(n_draws)
    scale = sigma0_value / math.sqrt(m_value)
    reported = 0
    for i in range(n_draws):
        gam_k = gen.standard_exponential(k + 1)
        csum = np.cumsum(gam_k)
        g_tot = csum[k - 1] + gen.standard_gamma(m_value + 1 - k) if m_value > k else csum[k]
        uu = csum[:k] / g_tot
        x = scale * stats.norm.isf(uu / 2)  # descending
        p1, p2 = np.cumsum(x), np.cumsum(x * x)
        nn = np.arange(2, k + 1, dtype=np.float64)
        c_hi = x[1:]
        # the last segment (n = K) is covered by the bulk integral when m > K, else it starts at 0
        c_lo = np.append(x[2:], x[-1] if m_value > k else 0.0)
        top = _adiabatic_segments(c_lo, c_hi, nn, p1[1:], p2[1:])
        bulk = 0.0
        if m_value > k:
            gam_K = x[-1] / scale
            bulk = np.interp(gam_K, gtab, ctab) / math.sqrt(m_value)
        out[i] = (bulk + top[c_hi > c_lo].sum()) / lam_value
        if on_draws is not None and (i + 1 - reported == DRAWS_PER_REPORT or i + 1 == n_draws):
            on_draws(i + 1 - reported)
            reported = i + 1
    return out
