"""Second origin story: hidden-layer noise with negative excess kurtosis sparsifies encodings.

Noise xi in R^m (i.i.d. coordinates, mean 0, variance sigma^2, excess kurtosis kappa) is added
to the hidden layer, h = W^T x + xi. For input e_i the off-target output j != i is
ReLU(a_ij + Z_j) with a_ij = <W_i, W_j> and Z_j = <W_j, xi>. With a negative margin
a_ij = -c the expected loss of that output is the tail functional (the "leak")

    L(c) = E[ReLU(Z_j - c)^2]                                   docs/theory/noise.md#leak

which depends on the *shape* of Z_j only through its tails. Its excess kurtosis is
kappa * q with q = ||W_j||_4^4 / ||W_j||_2^4 (eq. 2), and the first-order Edgeworth
correction (eq. 5) to the leak carries the sign of kappa: for kappa < 0 a larger fourth
norm (a sparser W_j) leaks less. The effect is largest when the margin and the noise are
comparable, c ~ s, and the achievable margin is 1/(n-1) (eq. 7), so the noise must scale as
sigma ~ 1/(n-1) (eq. 8).

Every quantity has two faces: a sympy expression, available from :func:`expressions`, and a
float64 numeric companion lambdified once and cached. The expressions are *derived* here
(sympy integrates the Gaussian and Edgeworth tail integrals and expands the projected
fourth cumulant), not typed in. This reading of the mechanism is the project's own
reconstruction: the paper's text was not available (docs/theory/noise.md#provenance).
"""

from __future__ import annotations

import itertools
import math
from functools import cache, lru_cache

import numpy as np
import sympy as sp

from theory._symbols import a, c, kappa, n, q, s, sigma, z

__all__ = [
    "NOISE_KURTOSIS",
    "expressions",
    "projected_fourth_cumulant",
    "noise_projection_kurtosis",
    "noise_leak_gaussian",
    "noise_edgeworth_correction",
    "noise_leak_edgeworth",
    "noise_leak_one_sparse",
    "noise_window",
    "noise_margin_limit",
    "noise_sigma_star",
    "noise_simplex_fourth",
    "noise_simplex_weights",
    "noise_sparse_advantage",
    "noise_advantage_argmax",
    "noise_sigma_optimum",
    "noise_centred_simplex_fourth",
    "noise_sparsest_simplex",
    "noise_bernoulli_row_leak",
    "noise_simplex_leak",
    "SIMPLEX_KINDS",
]

#: The two regular simplices at the margin bound compared in docs/theory/noise.md#simplices:
#: "anchored" (eq. 10-11: n - 1 near-axis rows and one dense anchor, fits in n - 1 neurons) and
#: "centred" (eq. 13: rows sqrt(n/(n-1)) (e_i - 1/n), needs n neurons).
SIMPLEX_KINDS = ("anchored", "centred")

#: Excess kurtosis of one noise coordinate for the four shapes at matched variance sigma^2
#: (docs/theory/noise.md#shapes). Exact rationals; -2 is the minimum over all distributions.
NOISE_KURTOSIS: dict[str, sp.Rational] = {
    "bernoulli": sp.Integer(-2),  # +-sigma with probability 1/2 each
    "uniform": sp.Rational(-6, 5),  # U(-sqrt(3) sigma, sqrt(3) sigma)
    "gaussian": sp.Integer(0),  # N(0, sigma^2)
    "laplace": sp.Integer(3),  # Laplace with scale sigma / sqrt(2)
}


def _std_normal_pdf(x: sp.Expr) -> sp.Expr:
    return sp.exp(-(x**2) / 2) / sp.sqrt(2 * sp.pi)


def _std_normal_sf(x: sp.Expr) -> sp.Expr:
    return sp.erfc(x / sp.sqrt(2)) / 2


def projected_fourth_cumulant(k: int) -> tuple[sp.Expr, sp.Expr]:
    """Fourth cumulant of Z = sum_k w_k xi_k for ``k`` explicit coordinates, by brute expansion.

    Math: E[Z^4] - 3 E[Z^2]^2 expanded over all index 4-tuples with the moment rules of i.i.d.
    mean-zero coordinates (E xi^2 = sigma^2, E xi^4 = (3 + kappa) sigma^4, odd moments 0).
    Returns ``(cumulant, expected)`` where expected = kappa sigma^4 sum_k w_k^4 (eq. 1); the
    two are equal for every k, which is the additivity of cumulants written out.
    docs/theory/noise.md#kurtosis
    """
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    w = sp.symbols(f"w0:{k}", real=True)
    moment = {0: sp.Integer(1), 1: sp.Integer(0), 2: sigma**2, 3: sp.Integer(0)}
    moment[4] = (3 + kappa) * sigma**4

    def expect(indices: tuple[int, ...]) -> sp.Expr:
        out = sp.Integer(1)
        for idx in set(indices):
            out *= moment[indices.count(idx)]
        return out

    fourth = sum(
        sp.Mul(*(w[i] for i in idx)) * expect(idx) for idx in itertools.product(range(k), repeat=4)
    )
    second = sum(w[i] * w[j] * expect((i, j)) for i in range(k) for j in range(k))
    cumulant = sp.expand(fourth - 3 * second**2)
    expected = sp.expand(kappa * sigma**4 * sum(wi**4 for wi in w))
    return cumulant, expected


@lru_cache(maxsize=1)
def expressions() -> dict[str, sp.Expr]:
    """All symbolic results of the noise mechanism, keyed by name (docs/theory/noise.md).

    Keys and equations:
      * ``projection_kurtosis``: kappa q, excess kurtosis of Z_j = <W_j, xi> (eq. 2);
      * ``leak_gaussian``: E[ReLU(Z - c)^2] for Z ~ N(0, s^2) (eq. 4);
      * ``edgeworth_correction``: (kappa_Z / 12) c s^2 phi_s(c), first-order Edgeworth term,
        with kappa_Z written as the symbol ``kappa`` (eq. 5);
      * ``leak_edgeworth``: the sum of the two (eq. 5);
      * ``dleak_dq``: derivative of the Edgeworth leak with respect to q at kappa_Z = kappa q,
        whose sign is the sign of kappa (eq. 6, the prediction);
      * ``leak_one_sparse_{bernoulli,uniform,laplace}``: exact leak of a 1-sparse W_j, i.e.
        Z = ||W_j|| xi_k, for the non-Gaussian shapes (eq. 9);
      * ``window``: the Edgeworth term in units of s^2 at fixed kappa_Z, a phi(a) with
        a = c / s (eq. 8); ``window_argmax``: its maximiser a = 1;
      * ``margin_limit``: 1 / (n - 1), the most negative achievable mean overlap (eq. 7);
      * ``sigma_star``: the noise scale where the window peaks for unit-norm rows (eq. 8);
      * ``simplex_main``, ``simplex_off``: main and off weights of the n - 1 sparse rows of the
        anchored simplex (eq. 10); ``simplex_mean_fourth``: its mean sum_k W_ik^4 (eq. 11),
        the measured plateau of noise training (below 1: one row must stay dense);
      * ``advantage_bernoulli``: the exact leak of a dense (Gaussian) row minus that of a
        1-sparse Bernoulli row, in units of s^2, as a function of a = c/s (eq. 12);
        ``advantage_slope``: its derivative on a < 1; ``advantage_argmax``: the root a* of
        the slope (a 30-digit Float, by ``nsolve``); ``sigma_optimum``: 1 / (a* (n - 1)),
        the noise that maximises eq. (12) for unit rows at the margin bound;
      * ``centred_main``, ``centred_off``, ``centred_mean_fourth``: the centred regular
        simplex sqrt(n/(n-1)) (e_i - 1/n) and its mean sum_k W_ik^4 (eq. 13).
    Sympy derives each from its integral; the call is cached (a few seconds the first time).
    """
    # Integrals are taken in the standardised variable x = z / s with a = c / s, so that
    # E[ReLU(Z - c)^2] = s^2 int_a^inf (x - a)^2 p(x) dx; the plain (non-Meijer-G) integrator
    # handles polynomial x Gaussian integrands in about a second.
    x = sp.Symbol("x", real=True)
    phi = _std_normal_pdf(x)

    def tail(integrand: sp.Expr) -> sp.Expr:
        val = sp.integrate(sp.expand(integrand), (x, a, sp.oo), meijerg=False)
        return sp.simplify(s**2 * val).subs(a, c / s)

    # eq. (4): Gaussian leak, by integration of (x - a)^2 against the N(0, 1) density.
    leak_g = tail((x - a) ** 2 * phi)
    # Written with erfc instead of 1 - erf so the float companion keeps relative precision in
    # the tail (c >> s), where 1 - erf cancels catastrophically.
    leak_g = sp.expand(leak_g.replace(sp.erf, lambda u: 1 - sp.erfc(u)))
    # eq. (5): Edgeworth density phi(x) [1 + kappa_Z/24 He_4(x)], He_4(x) = x^4 - 6x^2 + 3.
    he4 = x**4 - 6 * x**2 + 3
    corr = sp.simplify(kappa / 24 * tail((x - a) ** 2 * he4 * phi))
    leak_e = leak_g + corr
    dleak_dq = sp.simplify(sp.diff(leak_e.subs(kappa, kappa * q), q))
    # eq. (9): exact 1-sparse leaks, Z = s * (unit-variance coordinate).
    leak_bern = sp.Piecewise(((s - c) ** 2 / 2, c < s), (0, True))
    r3 = sp.sqrt(3) * s  # half-width of the uniform with variance s^2
    leak_unif = sp.Piecewise(
        (sp.integrate((z - c) ** 2 / (2 * r3), (z, c, r3)), c < r3), (0, True)
    )
    b = s / sp.sqrt(2)  # Laplace scale with variance s^2
    leak_lap = sp.simplify(
        sp.integrate(sp.expand((z - c) ** 2 * sp.exp(-z / b) / (2 * b)), (z, c, sp.oo),
                     meijerg=False)
    )
    # eq. (8): the Edgeworth term divided by kappa_Z s^2 / 12 is a * phi(a).
    window = sp.simplify((corr / (kappa * s**2 / 12)).subs(c, a * s))
    window_argmax = sp.solve(sp.diff(window, a), a)
    # eq. (7): 0 <= ||sum_i W_i||^2 = n + n(n-1) * mean overlap  =>  mean overlap >= -1/(n-1).
    mean_overlap = sp.Symbol("abar", real=True)
    margin = -sp.solve(sp.Eq(n + n * (n - 1) * mean_overlap, 0), mean_overlap)[0]
    sigma_star = margin * window_argmax[0]  # c = s * a_star with s = sigma ||W_j|| = sigma
    # eq. (10)-(11): equality in eq. (7) needs sum_i W_i = 0. With n - 1 rows concentrated on
    # their own neuron (main weight u, weight v on the other n - 2 such neurons) the last row is
    # forced to be the dense "anchor" -(sum of the others), of equal magnitude 1/sqrt(n-1) on
    # all n - 1 neurons. Unit norms and sum zero fix u and v.
    v = sp.Symbol("v", real=True)
    u_of_v = 1 / sp.sqrt(n - 1) - (n - 2) * v  # anchor overlap = -1/(n-1)
    roots = sp.solve(sp.Eq(u_of_v**2 + (n - 2) * v**2, 1), v)
    # the root with v < 0 (checked at n = 8) keeps the main weight u close to 1: the sparse one
    v_sol = next(r for r in roots if r.subs(n, 8) < 0)
    v_sol = sp.simplify(v_sol)
    u_sol = sp.simplify(u_of_v.subs(v, v_sol))
    simplex_f4 = sp.simplify(((n - 1) * (u_sol**4 + (n - 2) * v_sol**4) + 1 / (n - 1)) / n)
    # eq. (12): exact s^2-normalised advantage of a 1-sparse Bernoulli row over a dense row,
    # whose projected noise is Gaussian by the CLT (q -> 0 in eq. 2): Gaussian leak (eq. 4) minus
    # the 1-sparse Bernoulli leak (eq. 9), both divided by s^2 at c = a s.
    gauss_std = sp.simplify((leak_g / s**2).subs(c, a * s))
    bern_std = (1 - a) ** 2 / 2  # eq. (9) / s^2 on a < 1; zero for a >= 1
    advantage = sp.Piecewise((gauss_std - bern_std, a < 1), (gauss_std, True))
    # On a >= 1 the advantage is the Gaussian leak alone, decreasing in a, so the maximum lies
    # on a < 1, where the slope is 2 a Q(a) - 2 phi(a) + 1 - a: positive at 0 (1 - 2 phi(0)),
    # negative at 1 (2 Q(1) - 2 phi(1)). Transcendental: no closed form; nsolve to 30 digits.
    slope = sp.simplify(sp.diff(gauss_std - bern_std, a))
    a_opt = sp.nsolve(slope, a, 0.7, prec=30)
    sigma_opt = 1 / (a_opt * (n - 1))  # a = c/s = 1/((n-1) sigma) for unit rows at the bound
    # eq. (13): centred simplex, rows sqrt(n/(n-1)) (e_i - 1/n) in n neurons.
    scale = sp.sqrt(n / (n - 1))
    cen_main = sp.simplify(scale * (1 - 1 / n))
    cen_off = sp.simplify(-scale / n)
    cen_f4 = sp.simplify(cen_main**4 + (n - 1) * cen_off**4)  # every row has the same profile
    return {
        "projection_kurtosis": kappa * q,
        "leak_gaussian": leak_g,
        "edgeworth_correction": corr,
        "leak_edgeworth": leak_e,
        "dleak_dq": dleak_dq,
        "leak_one_sparse_bernoulli": leak_bern,
        "leak_one_sparse_uniform": leak_unif,
        "leak_one_sparse_laplace": leak_lap,
        "window": window,
        "window_argmax": window_argmax[0],
        "margin_limit": margin,
        "sigma_star": sp.simplify(sigma_star),
        "simplex_main": u_sol,
        "simplex_off": v_sol,
        "simplex_mean_fourth": simplex_f4,
        "advantage_bernoulli": advantage,
        "advantage_slope": slope,
        "advantage_argmax": a_opt,
        "sigma_optimum": sigma_opt,
        "centred_main": cen_main,
        "centred_off": cen_off,
        "centred_mean_fourth": cen_f4,
    }


@cache
def _compiled(name: str, args: tuple[str, ...]):
    sym = {"c": c, "s": s, "kappa": kappa, "q": q, "a": a, "n": n}
    expr = expressions()[name]
    return sp.lambdify([sym[x] for x in args], expr, modules=["scipy", "numpy"])


def _as_float(name: str, value, *, positive: bool) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    if positive and np.any(arr <= 0):
        raise ValueError(f"{name} must be > 0")
    return arr


def noise_projection_kurtosis(kappa_xi, W) -> np.ndarray:
    """Excess kurtosis of Z_j = <W_j, xi> for each row W_j: kappa ||W_j||_4^4 / ||W_j||_2^4.

    Math: eq. (2) of docs/theory/noise.md#kurtosis; valid for i.i.d. coordinates with finite
    fourth moment. ``W`` has shape (..., m); rows must be nonzero. Returns shape (...).
    """
    W = _as_float("W", W, positive=False)
    k = _as_float("kappa_xi", kappa_xi, positive=False)
    if np.any(k < -2):
        raise ValueError("kappa_xi must be >= -2 (the minimum excess kurtosis)")
    sq = np.sum(W**2, axis=-1)
    if np.any(sq == 0):
        raise ValueError("W rows must be nonzero")
    return _compiled("projection_kurtosis", ("kappa", "q"))(k, np.sum(W**4, axis=-1) / sq**2)


def noise_leak_gaussian(c_margin, s_noise) -> np.ndarray:
    """Gaussian off-target leak E[ReLU(Z - c)^2], Z ~ N(0, s^2): s^2[(1+a^2) Q(a) - a phi(a)].

    Math: eq. (4), docs/theory/noise.md#leak; a = c/s, Q the normal survival function.
    Exact for any c > 0, s > 0. Vectorised.
    """
    cc = _as_float("c_margin", c_margin, positive=True)
    ss = _as_float("s_noise", s_noise, positive=True)
    return np.asarray(_compiled("leak_gaussian", ("c", "s"))(cc, ss), dtype=np.float64)


def noise_edgeworth_correction(c_margin, s_noise, kappa_z) -> np.ndarray:
    """First-order Edgeworth correction to the leak: (kappa_Z / 12) c s^2 phi_s(c).

    Math: eq. (5), docs/theory/noise.md#edgeworth. Its sign is the sign of kappa_Z for c > 0.
    Valid to first order in kappa_Z (small |kappa_Z|, i.e. dense rows or near-Gaussian noise)
    and for c not far in the tail (a = c/s of order 1). Vectorised.
    """
    cc = _as_float("c_margin", c_margin, positive=True)
    ss = _as_float("s_noise", s_noise, positive=True)
    kz = _as_float("kappa_z", kappa_z, positive=False)
    return np.asarray(
        _compiled("edgeworth_correction", ("c", "s", "kappa"))(cc, ss, kz), dtype=np.float64
    )


def noise_leak_edgeworth(c_margin, s_noise, kappa_z) -> np.ndarray:
    """Edgeworth approximation of the leak: eq. (4) + eq. (5) (docs/theory/noise.md#edgeworth)."""
    cc = _as_float("c_margin", c_margin, positive=True)
    ss = _as_float("s_noise", s_noise, positive=True)
    kz = _as_float("kappa_z", kappa_z, positive=False)
    return np.asarray(
        _compiled("leak_edgeworth", ("c", "s", "kappa"))(cc, ss, kz), dtype=np.float64
    )


def noise_leak_one_sparse(shape: str, c_margin, s_noise) -> np.ndarray:
    """Exact leak E[ReLU(Z - c)^2] of a 1-sparse row, Z = s * (unit-variance noise coordinate).

    Math: eq. (9), docs/theory/noise.md#one-sparse: Bernoulli (s-c)_+^2/2; uniform
    (sqrt3 s - c)_+^3 / (6 sqrt3 s); Laplace (s^2/2) exp(-sqrt2 c/s); Gaussian eq. (4).
    """
    if shape not in NOISE_KURTOSIS:
        raise ValueError(f"shape must be one of {sorted(NOISE_KURTOSIS)}, got {shape!r}")
    if shape == "gaussian":
        return noise_leak_gaussian(c_margin, s_noise)
    cc = _as_float("c_margin", c_margin, positive=True)
    ss = _as_float("s_noise", s_noise, positive=True)
    fn = _compiled(f"leak_one_sparse_{shape}", ("c", "s"))
    return np.asarray(np.vectorize(fn, otypes=[np.float64])(cc, ss), dtype=np.float64)


def noise_window(a_ratio) -> np.ndarray:
    """Edgeworth term per unit kappa_Z s^2 / 12 as a function of a = c/s: a phi(a).

    Math: eq. (8), docs/theory/noise.md#margin; maximal at a = 1, vanishing as a -> 0 (noise
    much larger than the margin) and as a -> infinity (noise much smaller).
    """
    aa = _as_float("a_ratio", a_ratio, positive=True)
    return np.asarray(_compiled("window", ("a",))(aa), dtype=np.float64)


def noise_margin_limit(n_features) -> np.ndarray:
    """Largest achievable mean negative overlap of n unit rows: 1/(n-1) (eq. 7).

    docs/theory/noise.md#margin; from ||sum_i W_i||^2 >= 0. Requires n >= 2.
    """
    nn = _as_float("n_features", n_features, positive=True)
    if np.any(nn < 2):
        raise ValueError("n_features must be >= 2")
    return np.asarray(_compiled("margin_limit", ("n",))(nn), dtype=np.float64)


def noise_sigma_star(n_features) -> np.ndarray:
    """The noise *scale* 1/(n-1): where the noise sd equals the margin of eq. (7) (a = 1).

    Math: eq. (8), docs/theory/noise.md#margin: sigma (n-1) = 1 is where the standardised
    margin a = c/s of unit rows at the bound is 1 and where the first-order Edgeworth term,
    divided by s^2, peaks. It is a scale, not the optimum of the exact effect: the exact
    s^2-normalised advantage peaks at sigma (n-1) = 1/a* = 1.375 (``noise_sigma_optimum``) and
    the measured fastest sparsification lies above it too (docs/theory/noise.md#optimum).
    """
    nn = _as_float("n_features", n_features, positive=True)
    if np.any(nn < 2):
        raise ValueError("n_features must be >= 2")
    return np.asarray(_compiled("sigma_star", ("n",))(nn), dtype=np.float64)


def noise_simplex_weights(n_features) -> tuple[np.ndarray, np.ndarray]:
    """Main and off weights (u, v) of the sparse rows of the anchored simplex (eq. 10).

    u = (1 + (n-2) sqrt n) / (n-1)^{3/2}, v = (1 - sqrt n) / (n-1)^{3/2}; the anchor row has
    magnitude 1/sqrt(n-1) on the n - 1 neurons. docs/theory/noise.md#anchored-simplex.
    """
    nn = _as_float("n_features", n_features, positive=True)
    if np.any(nn < 3):
        raise ValueError("n_features must be >= 3")
    u_fn = _compiled("simplex_main", ("n",))
    v_fn = _compiled("simplex_off", ("n",))
    return np.asarray(u_fn(nn), dtype=np.float64), np.asarray(v_fn(nn), dtype=np.float64)


def noise_simplex_fourth(n_features) -> np.ndarray:
    """Mean over rows of sum_k W_ik^4 for the anchored simplex: the predicted plateau (eq. 11).

    n - 1 rows sparse (u, v of eq. 10) plus one dense anchor with sum_k W^4 = 1/(n-1); the
    configuration attains the margin bound of eq. (7) exactly (sum_i W_i = 0).
    docs/theory/noise.md#anchored-simplex. Requires n >= 3.
    """
    nn = _as_float("n_features", n_features, positive=True)
    if np.any(nn < 3):
        raise ValueError("n_features must be >= 3")
    return np.asarray(_compiled("simplex_mean_fourth", ("n",))(nn), dtype=np.float64)


def noise_sparse_advantage(a_ratio) -> np.ndarray:
    """Exact leak of a dense row minus that of a 1-sparse Bernoulli row, per s^2 (eq. 12).

    D(a) = (1 + a^2) Q(a) - a phi(a) - (1 - a)_+^2 / 2 with a = c/s: the s^2-normalised
    expected-loss gain of one off-target output when its row W_j is 1-sparse instead of dense
    (the dense row's projected noise is Gaussian, q -> 0 in eq. 2). D(0) = 0, D -> 0 as
    a -> infinity, unique maximum D(a*) = 0.0971 at a* = 0.7272 (``noise_advantage_argmax``).
    docs/theory/noise.md#optimum. Vectorised over a > 0.
    """
    aa = _as_float("a_ratio", a_ratio, positive=True)
    fn = _compiled("advantage_bernoulli", ("a",))
    return np.asarray(np.vectorize(fn, otypes=[np.float64])(aa), dtype=np.float64)


def noise_advantage_argmax() -> float:
    """a* = argmax_a of eq. (12), the root of 2 a Q(a) - 2 phi(a) + 1 - a on (0, 1).

    docs/theory/noise.md#optimum; sympy's ``nsolve`` to 30 digits, returned as a float
    (0.727152181943...). Exact for the stated objective; no closed form (transcendental).
    """
    return float(expressions()["advantage_argmax"])


def noise_sigma_optimum(n_features) -> np.ndarray:
    """Noise sd that maximises eq. (12) for unit rows at the margin bound: 1 / (a* (n - 1)).

    sigma (n-1) = 1/a* = 1.3752 for every n. docs/theory/noise.md#optimum. Regime: unit rows,
    mean overlap at the bound -1/(n-1) (eq. 7), one row compared at a time; the norm shrink at
    large sigma (docs/theory/noise.md#phase-map) is not included. Requires n >= 2.
    """
    nn = _as_float("n_features", n_features, positive=True)
    if np.any(nn < 2):
        raise ValueError("n_features must be >= 2")
    return np.asarray(_compiled("sigma_optimum", ("n",))(nn), dtype=np.float64)


def noise_centred_simplex_fourth(n_features) -> np.ndarray:
    """Mean sum_k W_ik^4 of the centred regular simplex sqrt(n/(n-1)) (e_i - 1/n) (eq. 13).

    ((n-1)/n)^2 + 1/(n^2 (n-1)); it meets the margin bound of eq. (7) like the anchored one
    (eq. 11) and is sparser from n = 13 on. docs/theory/noise.md#simplices. Requires n >= 2.
    """
    nn = _as_float("n_features", n_features, positive=True)
    if np.any(nn < 2):
        raise ValueError("n_features must be >= 2")
    return np.asarray(_compiled("centred_mean_fourth", ("n",))(nn), dtype=np.float64)


def noise_sparsest_simplex(n_features: int) -> str:
    """Which of ``SIMPLEX_KINDS`` has the larger mean sum_k W_ik^4 at n (eq. 11 vs eq. 13).

    "anchored" for 3 <= n <= 12, "centred" for n >= 13 (docs/theory/noise.md#simplices).
    A numerical search over all rotations of the simplex (the docs) found nothing sparser.
    """
    if isinstance(n_features, bool) or not isinstance(n_features, int | np.integer) \
            or n_features < 3:
        raise ValueError(f"n_features must be an integer >= 3, got {n_features!r}")
    anchored = float(noise_simplex_fourth(n_features))
    centred = float(noise_centred_simplex_fourth(n_features))
    return "centred" if centred > anchored else "anchored"


def noise_bernoulli_row_leak(main: float, off: float, k: int, sigma, c_margin) -> np.ndarray:
    """Exact E[ReLU(Z - c)^2] for Bernoulli noise and a row with one weight ``main`` and ``k``
    weights ``off`` (all other weights 0): Z = sigma (main e_0 + off sum_{l=1..k} e_l), e = +-1.

    Math: eq. (3) summed over the 2^(k+1) sign patterns, grouped by the number of + signs
    among the k equal weights (binomial weights). docs/theory/noise.md#simplices. ``sigma``
    and ``c_margin`` are vectorised; k >= 0.
    """
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 0:
        raise ValueError(f"k must be an integer >= 0, got {k!r}")
    sg = _as_float("sigma", sigma, positive=True)
    cc = _as_float("c_margin", c_margin, positive=True)
    from scipy.stats import binom

    plus = np.arange(k + 1)
    weight = binom.pmf(plus, k, 0.5) / 2  # and 1/2 for the sign of the main weight
    sums = 2 * plus - k  # sum of the k signs
    out = np.zeros(np.broadcast(sg, cc).shape)
    for e0 in (1.0, -1.0):
        z = np.multiply.outer(sg, float(main) * e0 + float(off) * sums)  # (..., k + 1)
        out = out + np.sum(weight * np.maximum(z - np.asarray(cc)[..., None], 0.0) ** 2, axis=-1)
    return out


def noise_simplex_leak(kind: str, n_features: int, sigma) -> np.ndarray:
    """Exact Bernoulli leak summed over the n rows of a unit simplex at the bound, c = 1/(n-1).

    sum_j E[ReLU(Z_j - 1/(n-1))^2]; every row is off-target in n - 1 outputs, so the
    off-target part of the expected loss is (n - 1) times this. "anchored": n - 1 rows
    (u, v on n - 2) of eq. (10) plus the anchor (1/sqrt(n-1) on n - 1); "centred": n rows
    (main, off on n - 1) of eq. (13). docs/theory/noise.md#simplices. ``sigma`` vectorised.
    """
    if kind not in SIMPLEX_KINDS:
        raise ValueError(f"kind must be one of {SIMPLEX_KINDS}, got {kind!r}")
    if isinstance(n_features, bool) or not isinstance(n_features, int | np.integer) \
            or n_features < 3:
        raise ValueError(f"n_features must be an integer >= 3, got {n_features!r}")
    nn = int(n_features)
    c_b = 1.0 / (nn - 1)
    if kind == "anchored":
        u_, v_ = (float(x) for x in noise_simplex_weights(nn))
        sparse = noise_bernoulli_row_leak(u_, v_, nn - 2, sigma, c_b)
        anchor = noise_bernoulli_row_leak(0.0, 1 / math.sqrt(nn - 1), nn - 1, sigma, c_b)
        return (nn - 1) * sparse + anchor
    main = float(_compiled("centred_main", ("n",))(nn))
    off = float(_compiled("centred_off", ("n",))(nn))
    return nn * noise_bernoulli_row_leak(main, off, nn - 1, sigma, c_b)
