"""Tests of theory/noise.py: symbolic identities, sympy vs lambdified faces, Monte Carlo checks.

docs/theory/noise.md. Monte Carlo tests use fixed seeds (deterministic); each states the
false-failure rate its z-bound would have if the seed were drawn at random.
"""

import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate, optimize

from tests.helpers import rng, two_sided_z
from theory import _symbols as S
from theory.noise import (
    NOISE_KURTOSIS,
    expressions,
    noise_advantage_argmax,
    noise_centred_simplex_fourth,
    noise_edgeworth_correction,
    noise_leak_edgeworth,
    noise_leak_gaussian,
    noise_leak_one_sparse,
    noise_margin_limit,
    noise_projection_kurtosis,
    noise_sigma_optimum,
    noise_sigma_star,
    noise_simplex_fourth,
    noise_simplex_leak,
    noise_simplex_weights,
    noise_sparse_advantage,
    noise_sparsest_simplex,
    noise_window,
    projected_fourth_cumulant,
)

EPS = np.finfo(np.float64).eps
# Per-assertion false-failure rate of the Monte Carlo z-bounds (two-sided).
MC_FALSE_FAILURE = 1e-4
Z_MC = two_sided_z(MC_FALSE_FAILURE)  # about 3.9


def _draw(gen, shape, size):
    """Unit-variance noise of the given shape (independent of dynamics, on purpose)."""
    if shape == "bernoulli":
        return gen.choice([-1.0, 1.0], size)
    if shape == "gaussian":
        return gen.standard_normal(size)
    if shape == "uniform":
        return gen.uniform(-math.sqrt(3), math.sqrt(3), size)
    return gen.laplace(0.0, 1 / math.sqrt(2), size)


# --- symbolic identities ---------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_projected_fourth_cumulant_is_additive(k):
    """E Z^4 - 3 (E Z^2)^2 = kappa sigma^4 sum w^4 exactly, for k explicit coordinates (eq. 1)."""
    cumulant, expected = projected_fourth_cumulant(k)
    assert sp.expand(cumulant - expected) == 0


def test_projected_fourth_cumulant_rejects_bad_k():
    with pytest.raises(ValueError, match="k must be"):
        projected_fourth_cumulant(0)


def test_edgeworth_correction_closed_form_and_sign():
    """Eq. (5): (kappa/12) c s^2 phi_s(c), and d leak / d q carries the sign of kappa (eq. 6)."""
    e = expressions()
    phi_s_c = sp.exp(-S.c**2 / (2 * S.s**2)) / (sp.sqrt(2 * sp.pi) * S.s)
    closed = S.kappa / 12 * S.c * S.s**2 * phi_s_c
    assert sp.simplify(e["edgeworth_correction"] - closed) == 0
    ratio = sp.simplify(e["dleak_dq"] / S.kappa)  # positive for every c, s > 0
    assert ratio.is_positive
    assert e["window_argmax"] == 1
    assert sp.simplify(e["sigma_star"] - 1 / (S.n - 1)) == 0
    # At c -> 0 the leak is Var/2 for any symmetric shape: no shape preference (eq. 4, 5).
    assert sp.limit(e["leak_edgeworth"], S.c, 0) == S.s**2 / 2


def test_gaussian_leak_matches_quadrature():
    """Eq. (4) against adaptive quadrature of (z - c)^2 phi_s(z) over (c, inf)."""
    for c_, s_ in [(1 / 7, 0.15), (0.05, 0.3), (0.4, 0.1), (0.01, 0.01)]:
        val, err = integrate.quad(
            lambda x, c_=c_, s_=s_: (x - c_) ** 2 * math.exp(-x * x / (2 * s_ * s_))
            / (math.sqrt(2 * math.pi) * s_),
            c_, np.inf, epsabs=0, epsrel=1e-12,
        )
        got = float(noise_leak_gaussian(c_, s_))
        # quad's own error estimate plus the closed form's rounding: its terms are at most
        # s^2 (1 + a^2) in size, a = c/s <= 4, each carrying a few ulp -> 64 eps s^2 (1 + a^2).
        tol = err + 64 * EPS * s_**2 * (1 + (c_ / s_) ** 2)
        assert abs(got - val) <= tol, (c_, s_, got, val, tol)


# --- sympy face == numeric face --------------------------------------------------------------


def _abs_terms(expr, subs):
    """Sum of |terms| of an Add at a point: the scale of its rounding error in float64."""
    terms = expr.args if isinstance(expr, sp.Add) else (expr,)
    return float(sum(abs(sp.N(t.subs(subs), 30)) for t in terms))


@given(
    c_=st.floats(0.01, 0.5),
    a_=st.floats(0.1, 4.0),
    kap=st.floats(-2.0, 3.0),
)
def test_sympy_expressions_equal_lambdified(c_, a_, kap):
    """Each numeric companion equals its sympy expression evaluated with 30 digits.

    Tolerance: float64 evaluation of a sum of O(5) terms with erfc/exp each good to a few ulp;
    the error is at most ~16 eps times the sum of the terms' absolute values (rounding of each
    term and of each addition), which bounds cancellation too.
    """
    e = expressions()
    s_ = c_ / a_
    subs = {S.c: sp.Float(c_, 30), S.s: sp.Float(s_, 30), S.kappa: sp.Float(kap, 30)}
    cases = [
        ("leak_gaussian", noise_leak_gaussian(c_, s_)),
        ("edgeworth_correction", noise_edgeworth_correction(c_, s_, kap)),
        ("leak_edgeworth", noise_leak_edgeworth(c_, s_, kap)),
        ("leak_one_sparse_bernoulli", noise_leak_one_sparse("bernoulli", c_, s_)),
        ("leak_one_sparse_uniform", noise_leak_one_sparse("uniform", c_, s_)),
        ("leak_one_sparse_laplace", noise_leak_one_sparse("laplace", c_, s_)),
    ]
    for name, got in cases:
        expr = e[name]
        if isinstance(expr, sp.Piecewise):
            # the active branch is a sum of terms (e.g. the expanded uniform leak
            # -sqrt3 c^3/(18 s) + c^2/2 - sqrt3 c s/2 + s^2/2) that cancel near the branch edge,
            # so the rounding scale is the sum of their absolute values, as for an Add below
            branch = next(e for e, cond in expr.args if bool(cond.subs(subs)))
            exact = sp.N(branch.subs(subs), 30)
            scale = _abs_terms(branch, subs)
        else:
            exact = sp.N(expr.subs(subs), 30)
            scale = _abs_terms(expr, subs)
        assert abs(float(got) - float(exact)) <= 16 * EPS * scale + 1e-300, name
    w = float(sp.N(e["window"].subs(S.a, sp.Float(a_, 30)), 30))
    assert abs(float(noise_window(a_)) - w) <= 16 * EPS * w
    kq = float(noise_projection_kurtosis(kap, np.array([1.0, 2.0, -0.5])))
    q_ = (1 + 16 + 0.0625) / (1 + 4 + 0.25) ** 2
    assert abs(kq - kap * q_) <= 16 * EPS * abs(kap * q_) + 1e-300


def test_margin_and_sigma_star_numeric():
    """Eq. (7)-(8): 1/(n-1); the regular simplex attains the bound; the window peaks at a = 1."""
    for n_ in (2, 3, 8, 32):
        assert noise_margin_limit(n_) == pytest.approx(1 / (n_ - 1), rel=4 * EPS)
        assert noise_sigma_star(n_) == pytest.approx(1 / (n_ - 1), rel=4 * EPS)
        # regular simplex: centred basis vectors, normalised -> overlaps exactly -1/(n-1)
        V = np.eye(n_) - 1.0 / n_
        V /= np.linalg.norm(V, axis=1, keepdims=True)
        G = V @ V.T
        mean_off = (G.sum() - np.trace(G)) / (n_ * (n_ - 1))
        # n^2 products each rounded: error <= n^2 eps in the mean of O(1) entries
        assert abs(mean_off + noise_margin_limit(n_)) <= n_**2 * EPS
    res = optimize.minimize_scalar(lambda x: -float(noise_window(x)), bounds=(0.1, 5),
                                   method="bounded", options={"xatol": 1e-10})
    # window is quadratic near its peak: |x - 1| ~ sqrt(2 eps / |w''|) ~ 3e-8 at best; xatol 1e-10
    # is then never the limiting factor, so 1e-6 is a safe multiple of the flat-top width.
    assert abs(res.x - 1.0) < 1e-6


@given(st.integers(2, 12), st.integers(2, 12), st.integers(0, 2**31 - 1))
def test_mean_overlap_never_below_margin(n_, m_, seed):
    """For any n unit rows, mean_{i != j} <W_i, W_j> >= -1/(n-1) (eq. 7)."""
    W = rng(seed).standard_normal((n_, m_))
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    G = W @ W.T
    mean_off = (G.sum() - np.trace(G)) / (n_ * (n_ - 1))
    # rounding of n^2 m products of O(1) values
    assert mean_off >= -float(noise_margin_limit(n_)) - n_**2 * m_ * EPS


def test_validation_errors():
    with pytest.raises(ValueError, match="kappa_xi"):
        noise_projection_kurtosis(-3.0, np.ones(3))
    with pytest.raises(ValueError, match="c_margin"):
        noise_leak_gaussian(-1.0, 0.1)
    with pytest.raises(ValueError, match="shape"):
        noise_leak_one_sparse("cauchy", 0.1, 0.1)
    with pytest.raises(ValueError, match="n_features"):
        noise_margin_limit(1)


# --- Monte Carlo ----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", sorted(NOISE_KURTOSIS))
def test_projection_kurtosis_matches_monte_carlo(shape):
    """Sample excess kurtosis of <w, xi> vs kappa ||w||_4^4/||w||_2^4 (eq. 2).

    Standard error from B = 40 batch estimates (each of 25 000 draws): the batch kurtosis
    estimator has bias O(1/25 000) (e.g. -6/N for Gaussian data, 2.4e-4), two orders below the
    standard error of the mean of batches (~ sqrt(Var/1e6) with Var <= 200 for Laplace sums),
    so the z-bound is dominated by the sampling error. False-failure rate 1e-4 per shape.
    """
    gen = rng(601 + sorted(NOISE_KURTOSIS).index(shape))
    w = np.array([1.0, 0.7, -0.4, 0.2, 0.1, 0.0, -0.05, 0.3])
    B, N = 40, 25_000
    ests = []
    for _ in range(B):
        Z = _draw(gen, shape, (N, w.size)) @ w
        Z = Z - Z.mean()
        ests.append(np.mean(Z**4) / np.mean(Z**2) ** 2 - 3.0)
    ests = np.asarray(ests)
    predicted = float(noise_projection_kurtosis(float(NOISE_KURTOSIS[shape]), w))
    se = ests.std(ddof=1) / math.sqrt(B)
    assert abs(ests.mean() - predicted) <= Z_MC * se, (shape, ests.mean(), predicted, se)


@pytest.mark.parametrize("shape", sorted(NOISE_KURTOSIS))
def test_one_sparse_leak_matches_monte_carlo(shape):
    """Exact 1-sparse leak (eq. 9) against the sample mean of ReLU(s xi - c)^2.

    Standard error from the sample variance of 400 000 draws; false-failure rate 1e-4. For
    Bernoulli at c < s the leak is deterministic given the sign, so the check is sharp.
    """
    gen = rng(611 + sorted(NOISE_KURTOSIS).index(shape))
    c_, s_, N = 1 / 7, 0.15, 400_000
    sample = np.maximum(s_ * _draw(gen, shape, N) - c_, 0.0) ** 2
    exact = float(noise_leak_one_sparse(shape, c_, s_))
    se = sample.std(ddof=1) / math.sqrt(N)
    assert abs(sample.mean() - exact) <= Z_MC * se + 16 * EPS * exact


@pytest.mark.parametrize("shape", ["uniform", "laplace", "bernoulli"])
def test_edgeworth_improves_on_gaussian_and_has_kappa_sign(shape):
    """For a dense row (k = 6 equal weights, kappa_Z = kappa/6) the leak at c = s differs from
    the Gaussian one with the sign of kappa, and the Edgeworth value (eq. 5) is closer.

    Gaussian-vs-MC gap ~ |kappa_Z|/12 * a phi(a) s^2 >= 0.2/12 * 0.24 s^2 = 4e-3 s^2, against a
    standard error ~ sqrt(E[leak^2]/N) ~ 0.3 s^2 / sqrt(N) = 4e-4 s^2 at N = 6e5: a >= 10 sigma
    gap, so the sign assertion has a false-failure rate < 1e-20 and the comparison assertion
    uses the z-bound (false-failure rate 1e-4) on the Edgeworth residual.
    """
    gen = rng(621 + ["uniform", "laplace", "bernoulli"].index(shape))
    k, N, s_ = 6, 600_000, 0.1
    c_ = s_
    Z = _draw(gen, shape, (N, k)).sum(axis=1) * (s_ / math.sqrt(k))
    sample = np.maximum(Z - c_, 0.0) ** 2
    mc, se = sample.mean(), sample.std(ddof=1) / math.sqrt(N)
    kz = float(NOISE_KURTOSIS[shape]) / k
    gauss = float(noise_leak_gaussian(c_, s_))
    edge = float(noise_leak_edgeworth(c_, s_, kz))
    assert np.sign(mc - gauss) == np.sign(kz)
    assert abs(mc - gauss) > Z_MC * se
    assert abs(mc - edge) < abs(mc - gauss)


# --- anchored simplex (eq. 10-11) -------------------------------------------------------------


def test_anchored_simplex_closed_forms():
    """The derived roots equal u = (1 + (n-2) sqrt n)/(n-1)^{3/2}, v = (1 - sqrt n)/(n-1)^{3/2}."""
    e = expressions()
    n_ = S.n
    u_closed = (1 + (n_ - 2) * sp.sqrt(n_)) / (n_ - 1) ** sp.Rational(3, 2)
    v_closed = (1 - sp.sqrt(n_)) / (n_ - 1) ** sp.Rational(3, 2)
    # At integer n both sides are radicals; symbolic simplification of the difference is slow
    # (seconds per point), so evaluate it with 60 significant digits: a true identity leaves
    # only the 60-digit rounding of O(1) terms, < 1e-55; a wrong root would leave O(0.1).
    for k in (3, 4, 5, 8, 16, 33):
        assert abs(sp.N((e["simplex_main"] - u_closed).subs(n_, k), 60)) < 1e-55
        assert abs(sp.N((e["simplex_off"] - v_closed).subs(n_, k), 60)) < 1e-55


@pytest.mark.parametrize("n_", [3, 4, 8, 16, 32])
def test_anchored_simplex_attains_the_margin_bound(n_):
    """Build the configuration: unit rows, every off-diagonal overlap -1/(n-1), rows sum to 0,
    and mean sum_k W^4 equals noise_simplex_fourth (eq. 10-11). Tolerance: n^2 float products
    of O(1) numbers, n^2 eps."""
    u, v = (float(x) for x in noise_simplex_weights(n_))
    W = np.full((n_, n_ - 1), v)
    W[np.arange(n_ - 1), np.arange(n_ - 1)] = u
    W[-1] = -1 / math.sqrt(n_ - 1)
    G = W @ W.T
    tol = n_**2 * EPS
    assert np.allclose(np.diag(G), 1.0, rtol=0, atol=tol)
    off = G[~np.eye(n_, dtype=bool)]
    assert np.allclose(off, -float(noise_margin_limit(n_)), rtol=0, atol=tol)
    assert np.allclose(W.sum(axis=0), 0.0, rtol=0, atol=tol)
    assert abs(np.mean(np.sum(W**4, axis=1)) - float(noise_simplex_fourth(n_))) <= tol
    # sparse rows concentrate on their own neuron (main weight close to 1 for n >= 4)
    assert u > 0.95 and abs(v) < 1 / math.sqrt(n_ - 1)


# --- the optimum of the exact effect (eq. 12) -------------------------------------------------


def _advantage_by_quadrature(a_):
    """Eq. (12) from its definition, independent of the sympy expression: the Gaussian leak
    int_a^inf (x - a)^2 phi(x) dx by adaptive quadrature minus the 1-sparse Bernoulli leak
    E[ReLU(e - a)^2] = (1 - a)_+^2 / 2 over e = +-1 (both per s^2)."""
    gauss, _ = integrate.quad(lambda x: (x - a_) ** 2 * math.exp(-x * x / 2)
                              / math.sqrt(2 * math.pi), a_, np.inf, epsabs=0, epsrel=1e-13)
    bern = 0.5 * max(1.0 - a_, 0.0) ** 2 + 0.5 * max(-1.0 - a_, 0.0) ** 2
    return gauss - bern


def test_advantage_argmax_against_brute_force():
    """a* of eq. (12) against a bounded scalar maximisation of the quadrature objective.

    Tolerance: near its peak D(a) ~ D* - |D''| (a - a*)^2 / 2 with D'' = 2 Q(a*) - 1 = -0.53,
    so an objective error delta moves the argmax by sqrt(2 delta / |D''|). quad's relative
    error 1e-13 on D ~ 0.1 gives delta ~ 1e-14 and a shift <= 2e-7; xatol adds 1e-10. The
    bound 1e-6 is five times that; a wrong maximiser (e.g. the Edgeworth a = 1) is 0.27 away.
    """
    res = optimize.minimize_scalar(lambda x: -_advantage_by_quadrature(x), bounds=(0.05, 3.0),
                                   method="bounded", options={"xatol": 1e-10})
    a_star = noise_advantage_argmax()
    assert abs(res.x - a_star) < 1e-6, (res.x, a_star)
    # the numeric face equals the definition at a few points (quad error ~1e-14, 64 eps margin)
    for a_ in (0.2, a_star, 1.0, 1.7):
        assert abs(float(noise_sparse_advantage(a_)) - _advantage_by_quadrature(a_)) < 1e-12
    # the correction of the docs: the scale sigma (n-1) = 1 (a = 1) is not the maximiser;
    # D(a*) - D(1) = 0.022 is 1e10 times the evaluation error above
    assert float(noise_sparse_advantage(a_star)) - float(noise_sparse_advantage(1.0)) > 0.02
    for n_ in (4, 8, 16, 32):
        assert float(noise_sigma_optimum(n_)) * (n_ - 1) == pytest.approx(1 / a_star, rel=8 * EPS)


def test_advantage_slope_is_the_sympy_derivative():
    """The stated slope 2 a Q(a) - 2 phi(a) + 1 - a (docs eq. 12) is d/da of the expression, and
    a* is its root to the 30 digits nsolve was asked for."""
    e = expressions()
    x = S.a
    q_tail = sp.erfc(x / sp.sqrt(2)) / 2
    stated = 2 * x * q_tail - 2 * sp.exp(-x**2 / 2) / sp.sqrt(2 * sp.pi) + 1 - x
    assert sp.simplify(e["advantage_slope"] - stated) == 0
    assert abs(sp.N(stated.subs(x, e["advantage_argmax"]), 40)) < 1e-28


# --- which regular simplex is sparsest (eq. 11 vs eq. 13) -------------------------------------


def _centred(n_):
    return math.sqrt(n_ / (n_ - 1)) * (np.eye(n_) - 1.0 / n_)


def _anchored(n_):
    u, v = (float(x) for x in noise_simplex_weights(n_))
    W = np.full((n_, n_ - 1), v)
    W[np.arange(n_ - 1), np.arange(n_ - 1)] = u
    W[-1] = -1 / math.sqrt(n_ - 1)
    return W


@pytest.mark.parametrize("n_", [3, 8, 12, 13, 16, 24, 32])
def test_simplex_ordering_by_direct_construction(n_):
    """Both simplices built as arrays: unit rows, overlaps -1/(n-1); their mean sum w^4 equals
    eqs. (11), (13), and noise_sparsest_simplex names the larger (crossover between 12 and 13).
    Tolerance: n^2 products of O(1) numbers, n^2 eps; the smallest gap in the list (n = 12:
    0.0018, n = 13: 0.00098) is 1e10 times larger."""
    tol = n_**2 * EPS
    f4 = {}
    for kind, W in (("anchored", _anchored(n_)), ("centred", _centred(n_))):
        G = W @ W.T
        assert np.allclose(np.diag(G), 1.0, rtol=0, atol=tol)
        assert np.allclose(G[~np.eye(n_, dtype=bool)], -1 / (n_ - 1), rtol=0, atol=tol)
        f4[kind] = float(np.mean(np.sum(W**4, axis=1)))
    assert abs(f4["centred"] - float(noise_centred_simplex_fourth(n_))) <= tol
    assert abs(f4["anchored"] - float(noise_simplex_fourth(n_))) <= tol
    assert noise_sparsest_simplex(n_) == max(f4, key=f4.get)
    assert noise_sparsest_simplex(n_) == ("centred" if n_ >= 13 else "anchored")


@pytest.mark.parametrize("n_", [6, 16])
def test_no_rotation_of_the_simplex_is_sparser(n_):
    """Projected gradient ascent of mean sum w^4 over W = V Q (V a unit simplex in n - 1
    dimensions, Q with orthonormal rows into m = 2n neurons: every regular simplex in R^m),
    from 8 random starts, never beats max(eq. 11, eq. 13). Deterministic search (seed 631);
    the tolerance 1e-9 covers the 1e-12-level drift of the re-orthonormalisation. This can fail:
    it would if a sparser configuration existed in a start's basin."""
    gen = rng(631 + n_)
    m_ = 2 * n_
    C = _centred(n_)
    V = C @ np.linalg.svd(C)[2][: n_ - 1].T  # (n, n-1), same Gram as C
    best = -1.0
    for _ in range(8):
        Q = np.linalg.qr(gen.standard_normal((m_, n_ - 1)))[0].T
        for _ in range(1500):
            W = V @ Q
            u_, _, vt = np.linalg.svd(Q + 0.5 * V.T @ (4 * W**3) / n_, full_matrices=False)
            Q = u_ @ vt
        best = max(best, float(np.mean(np.sum((V @ Q) ** 4, axis=1))))
    bound = max(float(noise_simplex_fourth(n_)), float(noise_centred_simplex_fourth(n_)))
    assert best <= bound + 1e-9
    assert best >= bound - 1e-3  # the search does reach the better candidate


# --- exact Bernoulli leaks of the two simplices ----------------------------------------------


def _leak_by_enumeration(W, sigma_, c_):
    """sum_j E[ReLU(sigma <W_j, e> - c)^2] over all 2^k sign vectors e of W's k columns."""
    k = W.shape[1]
    signs = 1.0 - 2.0 * ((np.arange(2**k)[:, None] >> np.arange(k)) & 1)
    Z = sigma_ * signs @ W.T  # (2^k, n)
    return float(np.mean(np.maximum(Z - c_, 0.0) ** 2, axis=0).sum())


@pytest.mark.parametrize("n_", [8, 13, 16])
def test_simplex_leak_against_enumeration(n_):
    """noise_simplex_leak (binomial grouping) equals the brute-force sum over all sign vectors
    of the constructed matrices. Tolerance: 2^n terms of size <= sigma^2 n, each rounded:
    2^n n eps relative bound, far below the 5% anchored/centred gap it is used to compare."""
    for x in (1.0, 1.375, 2.0):
        sigma_ = x / (n_ - 1)
        for kind, W in (("anchored", _anchored(n_)), ("centred", _centred(n_))):
            exact = _leak_by_enumeration(W, sigma_, 1 / (n_ - 1))
            got = float(noise_simplex_leak(kind, n_, sigma_))
            assert abs(got - exact) <= 2**n_ * n_ * EPS * max(exact, 1e-300), (kind, x)


def test_anchored_leaks_less_at_n16():
    """At n = 16 the centred simplex is sparser (eq. 13 > eq. 11) but the anchored one has the
    smaller exact Bernoulli leak for sigma (n-1) in [1, 3]; the smallest relative gap on the
    grid (3: 0.4%) is 1e11 times the enumeration-checked evaluation error."""
    for x in (1.0, 1.375, 2.0, 3.0):
        la = float(noise_simplex_leak("anchored", 16, x / 15))
        lc = float(noise_simplex_leak("centred", 16, x / 15))
        assert la < lc * (1 - 1e-3), (x, la, lc)
