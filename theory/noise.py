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
]

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
        the predicted plateau of noise training (below 1: one row must stay dense).
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
    """Noise scale where the kurtosis incentive peaks for unit rows: sigma* = 1/(n-1) (eq. 8).

    docs/theory/noise.md#margin. The predicted window is sigma (n-1) of order 1.
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
