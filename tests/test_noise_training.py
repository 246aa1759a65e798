"""Tests of hidden-layer noise as an option of ``dynamics.train``: kernel vs numpy oracle,
gradient, seeding, validation, divergence, and the statistical signature of the noise
mechanism (docs/theory/noise.md#measurements).

Statistical tests run on fixed seeds (deterministic). Each compares instance means with a
Welch-type Student-t bound built from the instance spread; the stated false-failure rate is
the rate the bound would have if the seed were drawn at random. Instances use "independent"
noise so that their spread is an honest estimate of the sampling error (shared noise
correlates the instances, docs/paper.md#noise-quirks).
"""

import math

import numpy as np
import pytest
from scipy import stats

from dynamics import (
    NOISE_SHAPES,
    DivergenceError,
    HiddenNoise,
    TrainOptions,
    draw_noise,
    fourth_norms,
    init_weights,
    train,
)
from dynamics._toy_model import noisy_gd_steps_reference
from dynamics._training_kernels import noisy_gd_step
from simulations.noise import record_schedule
from tests.helpers import assert_close_matrices, rng, two_sided_z

EPS = np.finfo(np.float64).eps
# One-sided false-failure rate of every Welch bound below (per assertion).
ALPHA = 1e-3
# Small statistical setting where the effect is visible (measured: Bernoulli 0.71 +- 0.04,
# Gaussian 0.16 +- 0.02 over 8 instances at 10k steps; n=8, m=16, sigma=0.15 as in E2).
N, M, INSTANCES, SIGMA, STEPS = 8, 16, 8, 0.15, 10_000


def _welch(x, y):
    """(mean difference, its standard error, one-sided t critical value at ALPHA)."""
    x, y = np.asarray(x), np.asarray(y)
    vx, vy = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    se = math.sqrt(vx + vy)
    # Welch-Satterthwaite degrees of freedom
    dof = (vx + vy) ** 2 / (vx**2 / (x.size - 1) + vy**2 / (y.size - 1))
    return x.mean() - y.mean(), se, stats.t.ppf(1 - ALPHA, dof)


def _init(n, m, instances, seed):
    return init_weights(n, m, np.random.SeedSequence(seed).spawn(instances))


def _train(W0, steps, seed, *, lr=0.02, throw=True, record_steps=(), **noise):
    """Plain full-batch GD with hidden-layer noise and no L1, the paper's E2 setting."""
    opts = TrainOptions(optimizer="gd", lr=lr, lam=0.0, max_steps=steps,
                        noise=HiddenNoise(**noise), record_weights=True,
                        record_steps=record_steps)
    return train(W0, opts, noise_seed=seed, throw=throw)


def _finals(records):
    return np.stack([r.W for r in records])


def _final_mean_fourth(shape, *, sigma=SIGMA, draws=1, n=N, m=M, steps=STEPS, init_seed=101,
                       noise_seed=102, instances=INSTANCES):
    recs = _train(_init(n, m, instances, init_seed), steps, noise_seed, sigma=sigma,
                  shape=shape, sharing="independent", draws=draws)
    assert all(r.status == "max_steps" for r in recs)
    return np.array([fourth_norms(r.W).mean() for r in recs])


# --- the update itself -----------------------------------------------------------------------


def _loss(W, xi):
    """Loss of one step for fixed noise: sum_ij (ReLU(<W_j, W_i + xi_i>) - delta_ij)^2."""
    H = W + xi
    P = np.einsum("aim,ajm->aij", H, W)
    return float(np.sum((np.maximum(P, 0) - np.eye(W.shape[1])) ** 2))


def test_oracle_gradient_matches_finite_differences():
    """One oracle step with K = 1 is W - lr grad; grad vs central differences of the loss.

    Central differences with h = 1e-6 have truncation error h^2 |L'''| / 6 ~ 1e-12 * O(10) and
    rounding error eps |L| / h ~ 2e-16 * 10 / 1e-6 = 2e-9; 1e-6 relative (Frobenius) is ~500x
    the larger of the two, and a sign or factor error in the gradient would give O(1).
    """
    gen = rng(1)
    W = gen.normal(0, 0.4, (1, 3, 5))
    xi = gen.normal(0, 0.2, (1, 1, 1, 3, 5))  # independent per input
    lr = 1e-3
    grad = (W - noisy_gd_steps_reference(W, xi, lr)) / lr
    fd = np.zeros_like(W)
    h = 1e-6
    for idx in np.ndindex(W.shape):
        Wp, Wm = W.copy(), W.copy()
        Wp[idx] += h
        Wm[idx] -= h
        fd[idx] = (_loss(Wp, xi[0, 0]) - _loss(Wm, xi[0, 0])) / (2 * h)
    # (W - W') / lr loses log10(|W|/(lr |grad|)) ~ 3 digits to cancellation: 1e-13 relative
    assert_close_matrices(grad, fd, rtol=1e-6, name="gradient")


@pytest.mark.parametrize("sharing", ["shared", "independent"])
def test_kernel_matches_numpy_oracle(sharing):
    """The numba step and the numpy oracle agree to float64 rounding after 6 steps with K=3.

    Each gradient entry is a sum of ~2 n m = 80 products accumulated in different orders
    (loops vs einsum): difference <= 80 eps relative per step; 6 steps with contraction factor
    |1 - lr * curvature| <= 1 keep it additive: 6 * 80 eps ~ 1e-13. Bound 1e-12 (x10 margin).
    """
    gen = rng(2)
    inst, n, m, K, S = 3, 4, 10, 3, 6
    W = gen.normal(0, 1 / math.sqrt(m), (inst, n, m))
    shape = (S, K, 1, 1, m) if sharing == "shared" else (S, K, inst, n, m)
    xi = gen.normal(0, 0.15, shape)
    H, R, grad = np.empty((n, m)), np.empty((n, n)), np.empty((n, m))
    for lam in (0.0, 0.01):  # without and with the optional L1 subgradient
        Wk = W.copy()
        for a in range(inst):
            for step in range(S):
                noisy_gd_step(Wk[a], xi[step, :, a if sharing == "independent" else 0], 0.05,
                              lam, H, R, grad)
        ref = noisy_gd_steps_reference(W, xi, 0.05, lam)
        assert_close_matrices(Wk, ref, rtol=1e-12, name=sharing)
    assert Wk.dtype == np.float64 and np.all(np.isfinite(Wk))


def test_chunking_and_records_do_not_change_the_result():
    """Noise is drawn from sequential double streams: chunk size and record schedule are
    invisible (bit-identical final weights)."""
    W0 = _init(4, 6, 2, 5)
    for sharing in ("shared", "independent"):
        for shape in NOISE_SHAPES:
            noise = HiddenNoise(0.1, shape, sharing)
            a = train(W0, TrainOptions(optimizer="gd", lr=0.02, lam=0.0, max_steps=200,
                                       noise=noise, chunk_steps=7, record_steps=(3, 50, 200)),
                      noise_seed=9)
            b = train(W0, TrainOptions(optimizer="gd", lr=0.02, lam=0.0, max_steps=200,
                                       noise=noise, record_steps=(*range(1, 200, 5), 200)),
                      noise_seed=9)
            for ra, rb in zip(a, b, strict=True):
                np.testing.assert_array_equal(ra.snapshots[-1], rb.snapshots[-1])
                assert ra.snapshot_steps == (0, 3, 50, 200)


def test_shared_and_independent_streams():
    """Shared noise: identical instances stay identical. Independent noise: instance i's
    trajectory does not depend on how many instances run (one stream per instance)."""
    w = _init(4, 6, 1, 3)
    res = _finals(_train(np.concatenate([w, w]), 100, 4, sigma=0.1))
    np.testing.assert_array_equal(res[0], res[1])
    W3 = _init(4, 6, 3, 8)
    r3 = _finals(_train(W3, 100, 4, sigma=0.1, sharing="independent"))
    r2 = _finals(_train(W3[:2], 100, 4, sigma=0.1, sharing="independent"))
    np.testing.assert_array_equal(r3[:2], r2)
    # shared and independent streams differ
    assert not np.array_equal(r3[0], _finals(_train(W3[:1], 100, 4, sigma=0.1))[0])


@pytest.mark.parametrize("shape", NOISE_SHAPES)
def test_noise_shapes_have_matched_variance_and_their_kurtosis(shape):
    """draw_noise has variance sigma^2 and the excess kurtosis of NOISE_KURTOSIS (theory).

    Values: Bernoulli -2, uniform -6/5, Gaussian 0, Laplace 3 (docs/theory/noise.md#shapes).
    Standard errors: Var(x^2)/N for the variance; for the kurtosis the delta-method variance
    (mu8 - mu4^2)/(N sigma^8) up to O(1) factors, bounded here by the batch spread of 20
    batches. False-failure rate 1e-4 per assertion (two-sided z = 3.9).
    """
    expected_kurt = {"bernoulli": -2.0, "uniform": -1.2, "gaussian": 0.0, "laplace": 3.0}[shape]
    gen = rng(30 + NOISE_SHAPES.index(shape))
    sigma = 0.3
    x = draw_noise(gen, shape, sigma, (20, 50_000))
    var_b = np.mean(x**2, axis=1)
    kurt_b = np.mean(x**4, axis=1) / sigma**4 - 3.0  # mean known to be 0: no centring bias
    z = two_sided_z(1e-4)
    assert abs(var_b.mean() - sigma**2) <= z * var_b.std(ddof=1) / math.sqrt(20) + 4 * EPS
    assert abs(kurt_b.mean() - expected_kurt) <= z * kurt_b.std(ddof=1) / math.sqrt(20) + 1e-12


def test_options_validation_names_the_field():
    for kwargs, field in [
        (dict(sigma=0.0), "sigma"), (dict(sigma=float("nan")), "sigma"),
        (dict(sigma=True), "sigma"), (dict(sigma=0.1, shape="cauchy"), "shape"),
        (dict(sigma=0.1, sharing="batch"), "sharing"), (dict(sigma=0.1, draws=0), "draws"),
    ]:
        with pytest.raises(ValueError, match=field):
            HiddenNoise(**kwargs)
    noise = HiddenNoise(0.1)
    for kwargs in (dict(optimizer="prox-gd"), dict(optimizer="adamw"),
                   dict(optimizer="gd", tol=1e-6)):
        with pytest.raises(ValueError, match="noise"):
            TrainOptions(noise=noise, **kwargs)
    opts = TrainOptions(optimizer="gd", max_steps=5, noise=noise)
    with pytest.raises(ValueError, match="W0"):
        train(np.full((2, 3), np.nan), opts, noise_seed=0)
    with pytest.raises(ValueError, match="noise_seed"):
        train(np.ones((2, 3)), opts)


def test_divergence_is_loud_and_collectable():
    """Weights far from the basin with a large step explode; the error names the lr bound,
    with the engine's one exception type and status vocabulary."""
    W0 = 30.0 * _init(4, 6, 2, 11)
    with pytest.raises(DivergenceError, match=r"lr < 2/L = 0\.25.*lr=0\.2"):
        _train(W0, 50, 1, lr=0.2, sigma=0.1)
    recs = _train(W0, 50, 1, lr=0.2, sigma=0.1, throw=False)
    assert all(r.status == "diverged" and "lr < 2/L" in r.message for r in recs)
    assert all(r.steps < 50 for r in recs)


def test_record_schedule():
    s = record_schedule(100_000, 50)
    assert s[0] == 0 and s[-1] == 100_000 and np.all(np.diff(s) > 0)
    assert record_schedule(1, 5).tolist() == [0, 1]


# --- the mechanism (statistical) ------------------------------------------------------------


def test_bernoulli_noise_sparsifies_well_above_gaussian():
    """Mean sum w^4 after Bernoulli noise exceeds the Gaussian run's by a margin that clears
    the instance-spread bound: diff - t_{1-alpha} SE > 0, and by at least half of the gap
    between the Gaussian level and 1 (the 1-sparse value). Measured t ~ 36; false-failure
    rate ALPHA if the true effect were only just positive, far less at the measured size."""
    b = _final_mean_fourth("bernoulli")
    g = _final_mean_fourth("gaussian")
    diff, se, t = _welch(b, g)
    assert diff - t * se > 0.5 * (1.0 - g.mean()), (b.mean(), g.mean(), se)


def test_laplace_noise_does_not_exceed_gaussian():
    """kappa = +3 > 0: no sparsification. One-sided Welch upper bound: the Laplace mean may not
    exceed the Gaussian mean beyond t_{1-alpha} SE (false-failure rate ALPHA if equal)."""
    lap = _final_mean_fourth("laplace")
    g = _final_mean_fourth("gaussian")
    diff, se, t = _welch(lap, g)
    assert diff <= t * se, (lap.mean(), g.mean(), se)


def test_effect_survives_k_draw_averaging():
    """With K = 8 noise draws averaged per step (expected-gradient mode) the Bernoulli excess
    persists: it is a property of the expected loss, not of SGD fluctuations. Same bound as
    the K = 1 test."""
    b = _final_mean_fourth("bernoulli", draws=8)
    g = _final_mean_fourth("gaussian", draws=8)
    diff, se, t = _welch(b, g)
    assert diff - t * se > 0.5 * (1.0 - g.mean()), (b.mean(), g.mean(), se)


def test_margin_condition_sigma_times_n_minus_1():
    """At n = 16, m = 32 the effect appears at sigma (n-1) = 1 and is absent at 0.25 (the leak
    is exponentially small, window a phi(a) at a = 4 is 2e-3 of its peak) and at 6 (norms
    collapse and the noise swamps the margin, a = 1/6). 'Absent' is a two-sided Welch bound
    |diff| <= t SE (false-failure rate 2 ALPHA if the true difference is 0); 'present' is the
    one-sided bound diff > t SE (false-failure rate ALPHA if the effect were only just there).
    30k steps, 6 instances (measured: 0.69 +- 0.09 vs 0.088 at sigma (n-1) = 1). Unlike the
    n = 8 test there is no 'half the gap' requirement: at n = 16 some instances are still
    mid-way through sparsifying at 30k steps (per-instance f4 0.5-0.8), which is a statement
    about the time scale, not about the presence of the effect."""
    kw = dict(n=16, m=32, steps=30_000, instances=6, init_seed=103, noise_seed=104)
    for scaled, present in ((1.0, True), (0.25, False), (6.0, False)):
        b = _final_mean_fourth("bernoulli", sigma=scaled / 15, **kw)
        g = _final_mean_fourth("gaussian", sigma=scaled / 15, **kw)
        diff, se, t = _welch(b, g)
        if present:
            assert diff - t * se > 0, (scaled, b.mean(), g.mean(), se)
        else:
            t2 = stats.t.ppf(1 - ALPHA, 2 * kw["instances"] - 2)
            assert abs(diff) <= t2 * se, (scaled, b.mean(), g.mean(), se)


@pytest.mark.slow
def test_e2_paper_setting_full_length():
    """Paper E2 (shared noise, 5 instances, 1e5 steps): Bernoulli at sigma = 0.1 and 0.15 ends
    well above Gaussian; uniform (kappa = -1.2) also sparsifies. Run with `pytest -m slow`."""
    W0 = _init(8, 16, 5, 13)
    finals = {}
    for shape in ("bernoulli", "gaussian", "uniform"):
        for sigma in (0.1, 0.15):
            recs = _train(W0, 100_000, 14, sigma=sigma, shape=shape)
            finals[shape, sigma] = np.array([fourth_norms(r.W).mean() for r in recs])
    for sigma in (0.1, 0.15):
        for shape in ("bernoulli", "uniform"):
            diff, se, t = _welch(finals[shape, sigma], finals["gaussian", sigma])
            assert diff - t * se > 0, (shape, sigma)
