"""Collision theory: how many polysemantic neurons random initialization produces.

The sign-bin model (docs/theory/collisions.md#setup): each of n features ends on
one of m neurons with one of two signs, independently and uniformly, i.e. in one
of 2m equally likely (neuron, sign) bins. A neuron is polysemantic when both of
its bins are occupied (an opposite-sign, benign collision); same-sign duplicates
are resolved by interference and leave no trace.

Every quantity has two faces: `expressions()` returns the sympy expressions
(derived here, shown in the docs, checked by the tests), and a numeric function
of the same name evaluates it in float64, vectorised over arrays of n and m.
The numeric functions are lambdified from algebraically equivalent forms that
avoid cancellation (expm1/log1p, the regularized incomplete beta), except for
the pair-occupancy probability and P(no polysemantic neuron), whose closed
forms are alternating sums; those use the positive series and the Cauchy
integral derived in docs/theory/collisions.md#numerics.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import sympy as sp
from scipy import optimize, special
from sympy.codegen.cfunctions import expm1, log1p

from ._symbols import eps, m, n

__all__ = [
    "expressions",
    "series_large_m",
    "p_collision",
    "p_benign_collision",
    "expected_pairs",
    "expected_multi",
    "expected_poly_first_order",
    "expected_poly_pairs",
    "expected_poly_exact",
    "var_poly_exact",
    "sd_poly_exact",
    "p_no_poly",
    "m_threshold_expected_below_one",
    "m_threshold_p_no_poly_half",
    "m_threshold_expected_below_one_asymptotic",
    "m_threshold_p_no_poly_half_asymptotic",
    "collision_table",
    "ANCHORS",
]

# Docs anchor that derives each quantity (labels in the CLI and in reports).
_DOC = "docs/theory/collisions.md"
ANCHORS = {
    "p_collision": f"{_DOC}#pair-probabilities",
    "p_benign_collision": f"{_DOC}#pair-probabilities",
    "expected_pairs": f"{_DOC}#expected-pairs",
    "expected_multi": f"{_DOC}#occupancy",
    "expected_poly_first_order": f"{_DOC}#first-order",
    "expected_poly_pairs": f"{_DOC}#first-order",
    "expected_poly_exact": f"{_DOC}#exact-mean",
    "var_poly_exact": f"{_DOC}#variance",
    "sd_poly_exact": f"{_DOC}#variance",
    "p_no_poly": f"{_DOC}#no-polysemantic-neuron",
    "m_threshold_expected_below_one": f"{_DOC}#birthday-thresholds",
    "m_threshold_p_no_poly_half": f"{_DOC}#birthday-thresholds",
}

_q = 1 / (2 * m)  # probability that one feature lands in one given (neuron, sign) bin, eq. (1)


def _all_bins_occupied(j: int) -> sp.Expr:
    """P(j given bins are all occupied), by inclusion-exclusion over empty bins (eq. 4)."""
    i = sp.Symbol("i", integer=True, nonnegative=True)
    return sp.Sum((-1) ** i * sp.binomial(j, i) * (1 - i * _q) ** n, (i, 0, j)).doit()


@cache
def expressions() -> dict[str, sp.Expr]:
    """The exact sympy expressions of every collision quantity, keyed by name.

    Keys: p_collision, p_benign_collision, expected_pairs, expected_multi,
    expected_poly_first_order, expected_poly_pairs, p_neuron_poly, p_pair_poly,
    expected_poly_exact, var_poly_exact, p_no_poly (a finite alternating sum),
    and the large-m threshold m_threshold_expected_below_one_asymptotic.
    Derivations: docs/theory/collisions.md.
    """
    p1 = _all_bins_occupied(2)  # one neuron polysemantic, eq. (5)
    p2 = _all_bins_occupied(4)  # two given neurons both polysemantic, eq. (8)
    j = sp.Symbol("j", integer=True, nonnegative=True)
    exprs = {
        "p_collision": 1 / m,  # eq. (2)
        "p_benign_collision": 2 * _q**2 * m,  # same neuron, opposite signs, eq. (2)
        "expected_pairs": sp.binomial(n, 2) / m,  # eq. (3)
        "expected_multi": m * (1 - (1 - 1 / m) ** n - n / m * (1 - 1 / m) ** (n - 1)),  # eq. (6)
        "expected_poly_first_order": n**2 / (4 * m),  # the paper's estimate, eq. (7)
        "expected_poly_pairs": n * (n - 1) / (4 * m),  # eq. (7)
        "p_neuron_poly": p1,
        "p_pair_poly": p2,
        "expected_poly_exact": m * p1,  # eq. (5)
        "var_poly_exact": m * p1 * (1 - p1) + m * (m - 1) * (p2 - p1**2),  # eq. (9)
        # eq. (11): P(X = 0) = sum_j C(m, j) 2^j (-1)^(m-j) (j / 2m)^n
        "p_no_poly": sp.Sum(
            sp.binomial(m, j) * 2**j * (-1) ** (m - j) * (j / (2 * m)) ** n, (j, 0, m)
        ),
    }
    exprs["m_threshold_expected_below_one_asymptotic"] = _threshold_series()
    return exprs


def series_large_m(name: str, order: int = 3) -> sp.Expr:
    """Series of an expression in 1/m at fixed n (m >> n), truncated after `order` terms.

    Computed by sympy from the exact expression; docs/theory/collisions.md#large-m.
    """
    if name not in {"expected_poly_exact", "expected_multi", "expected_pairs", "var_poly_exact"}:
        raise ValueError(f"name must be one of the count expectations, got {name!r}")
    return _inverse_m_series(expressions()[name], order)


def _inverse_m_series(expr: sp.Expr, order: int) -> sp.Expr:
    """`expr` expanded in 1/m at fixed n, through the (1/m)^order term."""
    series = sp.series(expr.subs(m, 1 / eps), eps, 0, order + 1)
    return series.removeO().subs(eps, 1 / m).expand()


def _threshold_series() -> sp.Expr:
    """m at which the exact mean count equals 1, asymptotically for large n (eq. 12).

    Ansatz m = n^2/4 + a_1 n + a_0 + a_{-1}/n; substitute into the 1/m series of
    E[X] and solve E = 1 order by order in 1/n. The k-th term of the series is
    O(n^(1-k)) at m ~ n^2, so four terms fix the coefficients through a_{-1}.
    """
    u = sp.Symbol("u", positive=True)  # u = 1/n
    coeffs = sp.symbols("a1 a0 a_1")
    m_ansatz = 1 / (4 * u**2) + coeffs[0] / u + coeffs[1] + coeffs[2] * u
    # expressions() is still being built here, so expand eq. (5) directly
    e_mean = _inverse_m_series(m * _all_bins_occupied(2), 5)
    e_series = e_mean.subs(m, m_ansatz).subs(n, 1 / u)
    residual = sp.expand(sp.series(e_series - 1, u, 0, len(coeffs) + 1).removeO())
    solution: dict = {}
    for k, a in enumerate(coeffs, start=1):
        solution[a] = sp.solve(residual.coeff(u, k).subs(solution), a)[0]
    return sp.expand(m_ansatz.subs(solution).subs(u, 1 / n))


# --------------------------------------------------------------------------- numerics


def _counts(name: str, value) -> np.ndarray:
    """Validate an integer-valued count >= 1 (scalar or array) and return int64."""
    arr = np.asarray(value)
    if arr.dtype == bool or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise ValueError(f"{name} must be an integer >= 1 (or an array of them), got {value!r}")
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError(f"{name} must be integer-valued, got {value!r}")
    if np.any(arr < 1):
        raise ValueError(f"{name} must be >= 1, got {value!r}")
    if np.any(arr > 2**52):
        raise ValueError(f"{name} must be <= 2**52 so that float64 holds it exactly")
    return arr.astype(np.int64)


def _nm(n_, m_) -> tuple[np.ndarray, np.ndarray]:
    nn, mm = np.broadcast_arrays(_counts("n", n_), _counts("m", m_))
    return nn.astype(np.float64), mm.astype(np.float64)


def _out(x) -> np.ndarray | float:
    x = np.asarray(x, dtype=np.float64)
    return x.item() if x.ndim == 0 else x


@cache
def _stable_lambdas():
    """Lambdified cancellation-free forms (docs/theory/collisions.md#numerics)."""
    x = n * log1p(-_q)  # log (1 - q)^n
    r2 = (_q / (1 - _q)) ** 2
    # 1 - 2(1-q)^n + (1-2q)^n = expm1(x)^2 + e^{2x} expm1(n log1p(-r^2)), eq. (13)
    p1_stable = expm1(x) ** 2 + sp.exp(2 * x) * expm1(n * log1p(-r2))
    # P(Binomial(n, 1/m) >= 2) = I_{1/m}(2, n - 1) for n/m < 1/2, eq. (14);
    # beyond, the two subtracted terms are <= e^{-1/2} and the direct form of
    # eq. (6) is well conditioned (scipy's betainc loses ~1e-10 at n ~ 1e7).
    y = n * log1p(-1 / m)
    multi_stable = m * sp.betainc_regularized(2, n - 1, 0, 1 / m)
    multi_direct = m * (-expm1(y) - n / (m - 1) * sp.exp(y))
    mods = ["scipy", "numpy"]
    return {
        "p_neuron_poly": sp.lambdify((n, m), p1_stable, modules=mods),
        "expected_multi": sp.lambdify((n, m), multi_stable, modules=mods),
        "expected_multi_direct": sp.lambdify((n, m), multi_direct, modules=mods),
        "stable_exprs": {
            "p_neuron_poly": p1_stable,
            "expected_multi": multi_stable,
            "expected_multi_direct": multi_direct,
        },
    }


def p_collision(n_, m_):
    """P(two given features share a neuron) = 1/m. docs/theory/collisions.md#pair-probabilities"""
    _, mm = _nm(n_, m_)
    return _out(1.0 / mm)


def p_benign_collision(n_, m_):
    """P(two given features share a neuron with opposite signs) = 1/(2m).

    docs/theory/collisions.md#pair-probabilities
    """
    _, mm = _nm(n_, m_)
    return _out(0.5 / mm)


def expected_pairs(n_, m_):
    """Expected number of colliding feature pairs, C(n,2)/m.

    docs/theory/collisions.md#expected-pairs
    """
    nn, mm = _nm(n_, m_)
    return _out(nn * (nn - 1) / 2 / mm)


def expected_multi(n_, m_):
    """Expected number of neurons holding >= 2 features (birthday occupancy), m I_{1/m}(2, n-1).

    docs/theory/collisions.md#occupancy
    """
    nn, mm = _nm(n_, m_)
    lambdas = _stable_lambdas()
    with np.errstate(invalid="ignore", divide="ignore"):
        val = np.where(
            2 * nn < mm, lambdas["expected_multi"](nn, mm), lambdas["expected_multi_direct"](nn, mm)
        )
    val = np.where(mm == 1, 1.0, val)  # every feature on the single neuron
    return _out(np.where(nn < 2, 0.0, val))


def expected_poly_first_order(n_, m_):
    """The paper's first-order estimate n^2/(4m). docs/theory/collisions.md#first-order"""
    nn, mm = _nm(n_, m_)
    return _out(nn * nn / (4 * mm))


def expected_poly_pairs(n_, m_):
    """Expected number of benign (opposite-sign) colliding pairs, n(n-1)/(4m).

    docs/theory/collisions.md#first-order
    """
    nn, mm = _nm(n_, m_)
    return _out(nn * (nn - 1) / (4 * mm))


def _p_neuron_poly(nn: np.ndarray, mm: np.ndarray) -> np.ndarray:
    """P(one given neuron is polysemantic), stable form eq. (13)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        val = _stable_lambdas()["p_neuron_poly"](nn, mm)
    # n = 1: no pair; m = 1: log1p(-1) = -inf, use the direct 1 - 2^(1-n).
    val = np.where(mm == 1, -np.expm1((1 - nn) * math.log(2)), val)
    return np.where(nn < 2, 0.0, val)


def expected_poly_exact(n_, m_):
    """Exact expected number of polysemantic neurons under the sign-bin model.

    E[X] = m [1 - 2(1 - 1/(2m))^n + (1 - 1/m)^n]  (eq. 5), evaluated without
    cancellation via eq. (13). Valid for any n, m >= 1; it is the idealised
    count (no cascades when same-sign collisions are resolved).
    docs/theory/collisions.md#exact-mean
    """
    nn, mm = _nm(n_, m_)
    return _out(mm * _p_neuron_poly(nn, mm))


def _p_pair_poly_series(nn: np.ndarray, q: np.ndarray) -> np.ndarray:
    """P(two given neurons both polysemantic) by the positive series eq. (15).

    t_s = C(n,s) q^s surj(s,4) (1-4q)^(n-s) over the number s of features in
    the four bins; used for n q < 1/2, where successive terms shrink by at
    least 2nq/(s+1) < 1/(s+1), so 56 terms leave a tail below 1e-70.
    """
    base = np.exp((nn - 4) * np.log1p(-4 * q))
    term = nn * (nn - 1) * (nn - 2) * (nn - 3) * q**4 * base  # s = 4: surj(4,4)/4! = 1
    total = term.copy()
    ratio_q = q / (1 - 4 * q)
    for s in range(4, 60):
        surj = 4.0**s - 4 * 3.0**s + 6 * 2.0**s - 4
        surj_next = 4.0 ** (s + 1) - 4 * 3.0 ** (s + 1) + 6 * 2.0 ** (s + 1) - 4
        term = term * np.maximum(nn - s, 0) / (s + 1) * ratio_q * surj_next / surj
        total += term
    return np.where(nn >= 4, total, 0.0)


def _covariance(nn: np.ndarray, mm: np.ndarray, p1: np.ndarray) -> np.ndarray:
    """Cov(I_k, I_l) = p2 - p1^2 for two distinct neurons, without cancellation (eq. 18).

    Expanding eqs. (5), (8) with a_i = (1 - iq)^n gives
    p2 - p1^2 = -4 d_11 + 4 d_12 - d_22,  d_ij = a_i a_j - a_(i+j)
              = a_(i+j) expm1(n log1p(ij q^2 / (1 - (i+j) q))) >= 0,
    whose terms are ~ n q^2 each: well conditioned once n (nq)^2 >= 1. Below
    that, p2 from the positive series minus p1^2 loses at most a factor E[X].
    """
    q = 0.5 / mm
    out = np.zeros_like(nn)
    use_d = (nn * (nn * q) ** 2 >= 1) & (mm >= 3)
    nd, qd = nn[use_d], q[use_d]
    a = [np.exp(nd * np.log1p(-i * qd)) for i in range(5)]

    def d(i, j):
        z = nd * np.log1p(i * j * qd**2 / (1 - (i + j) * qd))
        # z <= 1: the expm1 form is exact to a few ulps; z > 1: a_i a_j >= e a_(i+j),
        # so the plain difference loses less than one bit (and cannot overflow).
        with np.errstate(over="ignore"):
            return np.where(z <= 1, a[i + j] * np.expm1(np.minimum(z, 1)), a[i] * a[j] - a[i + j])

    out[use_d] = -4 * d(1, 1) + 4 * d(1, 2) - d(2, 2)
    # m = 2: the four bins are all bins, (1 - 4q)^n = 0; eq. (8) is then O(1)-sized.
    two = mm == 2
    a2 = [np.exp(nn[two] * np.log1p(-i * q[two])) for i in range(4)]
    out[two] = 1 - 4 * a2[1] + 6 * a2[2] - 4 * a2[3] - p1[two] ** 2
    use_s = ~use_d & (mm >= 3)
    out[use_s] = _p_pair_poly_series(nn[use_s], q[use_s]) - p1[use_s] ** 2
    return out


def var_poly_exact(n_, m_):
    """Variance of the polysemantic count under the sign-bin model.

    Var X = m p1 (1 - p1) + m(m-1) (p2 - p1^2)  (eq. 9), with p1 = P(a neuron
    is polysemantic) and p2 = P(two given neurons both are).
    docs/theory/collisions.md#variance
    """
    nn, mm = _nm(n_, m_)
    p1 = _p_neuron_poly(nn, mm)
    var = mm * p1 * (1 - p1) + mm * (mm - 1) * _covariance(nn, mm, p1)
    return _out(np.maximum(var, 0.0))


def sd_poly_exact(n_, m_):
    """Standard deviation of the polysemantic count, sqrt(var_poly_exact).

    docs/theory/collisions.md#variance
    """
    return _out(np.sqrt(np.asarray(var_poly_exact(n_, m_))))


# Trapezoid points per standard deviation of the tilted occupancy in the Cauchy
# integral: aliasing from coefficients N away from n is then below e^{-(30)^2/2}.
_POINTS_PER_SD = 30
# Floor on the number of points for a narrow bump (few features): the nearest alias, n + N,
# is then at least 64 coefficients away from n.
_MIN_POINTS = 64


def _log_f(w: np.ndarray) -> np.ndarray:
    """log(2 e^w - 1) without overflow or cancellation, on either half plane."""
    right = w.real >= 0
    out = np.empty_like(w)
    wr, wl = w[right], w[~right]
    out[right] = wr + np.log1p(-np.expm1(-wr))  # log(e^w (2 - e^-w)), no overflow for large w
    out[~right] = np.log1p(2 * np.expm1(wl))  # |e^w| <= 1 here, accurate near w = 0
    return out


def _log_p_no_poly_one(n_: int, m_: int) -> float:
    """log P(X = 0) for one (n, m) by the saddle-point Cauchy integral, eq. (16)."""
    if n_ == 1:
        return 0.0
    ratio = n_ / m_

    def h(rho):  # rho F'(rho)/F(rho) - n/m with F(w) = 2 e^w - 1
        return 2 * rho / (2 - np.exp(-rho)) - ratio

    # rho F'/F lies in (rho, 2 rho), so the root is bracketed by [n/(2m), n/m].
    rho = optimize.brentq(h, ratio / 2, ratio, xtol=1e-300, rtol=4 * np.finfo(float).eps)
    d = 2 - np.exp(-rho)  # F(rho) e^-rho, kept O(1) so that large rho cannot overflow
    var_k = m_ * rho * 2 * (d - rho * np.exp(-rho)) / d**2  # tilted Var K = m rho (rho F'/F)'
    n_points = int(_MIN_POINTS + _POINTS_PER_SD * math.ceil(math.sqrt(var_k)))
    theta = 2 * np.pi * np.arange(n_points) / n_points
    w = rho * np.exp(1j * theta)
    log_f_rho = _log_f(np.array([rho + 0j]))[0].real
    # Phase of w^-n reduced mod 2 pi exactly in integers before multiplying.
    phase = 2 * np.pi * ((n_ * np.arange(n_points)) % n_points) / n_points
    terms = np.exp(m_ * (_log_f(w) - log_f_rho) - 1j * phase)
    s = float(np.mean(terms).real)
    if s <= 0:
        return -np.inf
    return (
        special.gammaln(n_ + 1)
        - n_ * math.log(2 * m_)
        + m_ * log_f_rho
        - n_ * math.log(rho)
        + math.log(s)
    )


def p_no_poly(n_, m_):
    """Probability that no neuron is polysemantic under the sign-bin model.

    P(X = 0) = n!/(2m)^n [w^n] (2 e^w - 1)^m  (eq. 11), computed by a
    trapezoidal Cauchy integral on the saddle-point circle (eq. 16): relative
    error ~1e-9 for n, m <= 1e7; values below ~1e-308 underflow to 0.
    docs/theory/collisions.md#no-polysemantic-neuron
    """
    nn, mm = np.broadcast_arrays(_counts("n", n_), _counts("m", m_))
    pairs = zip(nn.ravel(), mm.ravel(), strict=True)
    flat = [math.exp(_log_p_no_poly_one(int(a), int(b))) for a, b in pairs]
    return _out(np.array(flat, dtype=np.float64).reshape(nn.shape))


# Largest count the functions accept (_counts): float64 holds every integer up to 2**52.
_MAX_COUNT = 2**52


def _smallest_m(predicate, lo: int, hi: int, what: str = "threshold") -> int:
    """Smallest m in [lo, hi] with predicate(m) true, for a predicate monotone in m
    that holds at hi.

    The search never evaluates an m above _MAX_COUNT: when hi is beyond it, the
    predicate is checked at _MAX_COUNT first, and a threshold that lies beyond raises
    ValueError naming `what` (the asymptotic forms, eqs. 12 and 17, still apply).
    """
    if hi > _MAX_COUNT:
        hi = _MAX_COUNT
        if not predicate(hi):
            raise ValueError(f"{what} exceeds 2**52, the largest m computed exactly; "
                             "use its _asymptotic form")
    if predicate(lo):
        return lo
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if predicate(mid):
            hi = mid
        else:
            lo = mid
    return hi


def _m_expected_below_one_one(n_: int) -> int:
    """Smallest m* with E[X](n, m) < 1 for every m >= m* (one n)."""
    # E rises with m up to m ~ n/2.5 (eq. 10) and falls beyond: search the
    # falling branch m >= n/2 by bisection, then check the rising branch.
    start = n_ // 2 + 1
    hi = n_ * (n_ - 1) // 4 + 1  # E <= n(n-1)/(4m) < 1 there (eq. 7 bounds eq. 5)
    if expected_poly_exact(n_, start) >= 1:
        return _smallest_m(lambda mm: expected_poly_exact(n_, mm) < 1, start, max(hi, start),
                           f"m_threshold_expected_below_one at n={n_}")
    rising = np.asarray(expected_poly_exact(n_, np.arange(1, start + 1)))
    above = np.nonzero(rising >= 1)[0]
    return 1 if above.size == 0 else int(above[-1]) + 2


def m_threshold_expected_below_one(n_):
    """Smallest m beyond which the exact expected polysemantic count stays < 1 (exact search).

    E[X] is unimodal in m (it peaks near m = n/2.5, where every neuron is
    crowded, eq. 10), so "drops below 1" means: E(n, m') < 1 for all m' >= m.
    docs/theory/collisions.md#birthday-thresholds
    """
    nn = _counts("n", n_)
    res = [_m_expected_below_one_one(int(a)) for a in nn.ravel()]
    return _out(np.array(res, dtype=np.float64).reshape(nn.shape))


def m_threshold_p_no_poly_half(n_):
    """Smallest m at which P(no polysemantic neuron) >= 1/2 (exact search).

    By Markov, P(X = 0) >= 1 - E[X] >= 1/2 once n(n-1)/(4m) <= 1/2, which
    bounds the search. docs/theory/collisions.md#birthday-thresholds
    """
    nn = _counts("n", n_)
    res = [
        _smallest_m(lambda mm, a=int(a): p_no_poly(a, mm) >= 0.5, 1, int(a * (a - 1) // 2) + 1,
                    f"m_threshold_p_no_poly_half at n={int(a)}")
        for a in nn.ravel()
    ]
    return _out(np.array(res, dtype=np.float64).reshape(nn.shape))


@cache
def _threshold_lambda():
    return sp.lambdify(n, expressions()["m_threshold_expected_below_one_asymptotic"], "numpy")


def m_threshold_expected_below_one_asymptotic(n_):
    """Large-n form of the E[X] < 1 threshold, from sympy (eq. 12): n^2/4 - 3n/4 + 7/12 + ...

    docs/theory/collisions.md#birthday-thresholds
    """
    nn = _counts("n", n_).astype(np.float64)
    return _out(_threshold_lambda()(nn))


def m_threshold_p_no_poly_half_asymptotic(n_):
    """Large-n form of the P(X = 0) >= 1/2 threshold: n(n-1)/(4 ln 2) (eq. 17).

    docs/theory/collisions.md#birthday-thresholds
    """
    nn = _counts("n", n_).astype(np.float64)
    return _out(nn * (nn - 1) / (4 * math.log(2)))


def collision_table(n_: int, m_: int) -> dict:
    """Every collision quantity for one (n, m) as a JSON-able dict with stable keys."""
    n_i, m_i = int(_counts("n", n_)), int(_counts("m", m_))
    return {
        "n": n_i,
        "m": m_i,
        "p_collision": p_collision(n_i, m_i),
        "p_benign_collision": p_benign_collision(n_i, m_i),
        "expected_pairs": expected_pairs(n_i, m_i),
        "expected_multi": expected_multi(n_i, m_i),
        "expected_poly_first_order": expected_poly_first_order(n_i, m_i),
        "expected_poly_pairs": expected_poly_pairs(n_i, m_i),
        "expected_poly_exact": expected_poly_exact(n_i, m_i),
        "var_poly_exact": var_poly_exact(n_i, m_i),
        "sd_poly_exact": sd_poly_exact(n_i, m_i),
        "p_no_poly": p_no_poly(n_i, m_i),
        "m_threshold_expected_below_one": int(m_threshold_expected_below_one(n_i)),
        "m_threshold_p_no_poly_half": int(m_threshold_p_no_poly_half(n_i)),
    }
