"""The public training API: options, initial weights, records, determinism, errors, and the
mechanism checks of docs/paper.md#benign-collisions on converged proximal-GD runs."""

import json
import math
import warnings

import numba
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from dynamics import (
    DivergenceError,
    TrainOptions,
    gd_step_size_bound,
    init_weights,
    lam_to_normalized,
    measure,
    polysemantic_neurons,
    train,
)
from dynamics._training import batch_seed
from tests.helpers import two_sided_z

FALSE_FAILURE_RATE = 1e-6  # for the one statistical assertion below (fixed seed: deterministic)


def _seeds(master, count):
    return np.random.SeedSequence(master).spawn(count)


# ----------------------------------------------------------------------------- options
@pytest.mark.parametrize("kwargs,field", [
    ({"optimizer": "adam"}, "optimizer"),
    ({"lr": 0.0}, "lr"),
    ({"lr": math.nan}, "lr"),
    ({"lam": -1e-3}, "lam"),
    ({"max_steps": -1}, "max_steps"),
    ({"max_steps": 1.5}, "max_steps"),
    ({"tol": 0.0}, "tol"),
    ({"batch_size": 0, "optimizer": "sgd"}, "batch_size"),
    ({"betas": (0.9, 1.0), "optimizer": "adamw"}, "betas"),
    ({"eps": 0.0, "optimizer": "adamw"}, "eps"),
    ({"weight_decay": -0.1, "optimizer": "adamw"}, "weight_decay"),
    ({"seed": -3}, "seed"),
    ({"sparse": "sometimes"}, "sparse"),
    ({"chunk_steps": 0}, "chunk_steps"),
    ({"divergence_factor": 0.5}, "divergence_factor"),
])
def test_bad_options_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=f"TrainOptions.{field} must be"):
        TrainOptions(**kwargs)


def test_option_defaults_and_warnings():
    assert TrainOptions().lr == 0.05 and TrainOptions(optimizer="adamw").lr == 1e-3
    o = TrainOptions(optimizer="adamw")
    assert (o.betas, o.eps, o.weight_decay) == ((0.9, 0.999), 1e-8, 0.01)
    with pytest.warns(UserWarning, match="betas ignored"):
        TrainOptions(optimizer="gd", betas=(0.5, 0.9))
    with pytest.warns(UserWarning, match="100 eps"):
        TrainOptions(tol=1e-20)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        TrainOptions(optimizer="sgd", batch_size=4, seed=1)
    assert gd_step_size_bound("gd") == 0.25
    assert gd_step_size_bound("sgd", n=64, batch_size=16) == 0.0625
    assert gd_step_size_bound("adamw") == math.inf


def test_bad_train_inputs():
    W0 = init_weights(4, 6, _seeds(0, 2))
    with pytest.raises(ValueError, match="W0 must be finite"):
        bad = W0.copy()
        bad[0, 0, 0] = np.nan
        train(bad)
    with pytest.raises(ValueError, match="W0 must have shape"):
        train(np.zeros(5))
    with pytest.raises(ValueError, match="seeds must have one SeedSequence per instance"):
        train(W0, seeds=_seeds(0, 3))
    with pytest.raises(ValueError, match="batch_size must be in"):
        train(W0, TrainOptions(optimizer="sgd", batch_size=5, seed=0))
    with pytest.raises(ValueError, match="sgd needs randomness"):
        train(W0, TrainOptions(optimizer="sgd"))
    with pytest.raises(ValueError, match="init_std"):
        init_weights(4, 6, _seeds(0, 1), init_std=0.0)
    with pytest.raises(ValueError, match="SeedSequence"):
        init_weights(4, 6, [1, 2])


# ----------------------------------------------------------------------------- init
def test_init_weights_per_seed_and_variance():
    seeds = _seeds(3, 8)
    n, m, std = 40, 50, 0.9
    W = init_weights(n, m, seeds, init_std=std)
    assert W.shape == (8, n, m) and W.dtype == np.float64
    # instance i depends only on seeds[i]
    np.testing.assert_array_equal(init_weights(n, m, seeds[5:6], init_std=std)[0], W[5])
    # sample variance of N iid N(0, s^2) entries has standard deviation s^2 sqrt(2/(N-1))
    N = W.size
    s2 = std**2 / m
    z = two_sided_z(FALSE_FAILURE_RATE)
    assert abs(W.var(ddof=1) - s2) <= z * s2 * math.sqrt(2 / (N - 1))


# ----------------------------------------------------------------------------- records
def test_records_are_json_able_and_complete():
    seeds = _seeds(4, 3)
    W0 = init_weights(8, 16, seeds)
    recs = train(W0, TrainOptions(lr=0.1, lam=0.05, max_steps=50, record_weights=True),
                 seeds=seeds)
    assert [r.instance for r in recs] == [0, 1, 2]
    r = recs[0]
    assert r.status == "max_steps" and r.steps == 50 and not r.converged
    np.testing.assert_array_equal(r.W0, W0[0])
    assert r.W.shape == (8, 16) and r.nonzeros == np.count_nonzero(r.W)
    d = json.loads(json.dumps(r.to_dict(include_weights=True)))
    assert d["seed"]["spawn_key"] == [0] and len(d["W"]) == 8
    assert train(W0, TrainOptions(max_steps=3))[0].W is None
    np.testing.assert_array_equal(W0, init_weights(8, 16, seeds))  # W0 not modified


def test_max_steps_zero_returns_initial_weights():
    W0 = init_weights(5, 7, _seeds(5, 1))
    r = train(W0, TrainOptions(max_steps=0, record_weights=True))[0]
    assert r.steps == 0 and math.isnan(r.residual)
    np.testing.assert_array_equal(r.W, W0[0])


# ----------------------------------------------------------------------------- determinism
def _fingerprint(records):
    return [(r.status, r.steps, r.sparse_steps, r.final_loss, r.W.tobytes()) for r in records]


@pytest.mark.parametrize("optimizer,instances", [("prox-gd", 5), ("adamw", 5), ("prox-gd", 1),
                                                 ("sgd", 3)])
def test_bit_identical_across_thread_counts(optimizer, instances):
    seeds = _seeds(6, instances)
    W0 = init_weights(24, 64, seeds)
    # sgd with b = 8 of n = 24 is stable only for lr < b / (4 n) = 1/12 (T7)
    lr = {"adamw": 1e-2, "sgd": 0.05}.get(optimizer, 0.1)
    opts = TrainOptions(optimizer=optimizer, lr=lr, lam=0.05, max_steps=400, record_weights=True,
                        batch_size=8 if optimizer == "sgd" else None)
    before = numba.get_num_threads()
    results = []
    try:
        for threads in sorted({1, numba.config.NUMBA_NUM_THREADS}):
            numba.set_num_threads(threads)
            results.append(_fingerprint(train(W0, opts, seeds=seeds)))
        with threadpool_limits(1, user_api="blas"):
            results.append(_fingerprint(train(W0, opts, seeds=seeds)))
    finally:
        numba.set_num_threads(before)
    assert all(r == results[0] for r in results)


def test_chunking_does_not_change_results():
    seeds = _seeds(7, 2)
    W0 = init_weights(16, 48, seeds)
    base = dict(lr=0.1, lam=0.05, max_steps=900, record_weights=True)
    a = train(W0, TrainOptions(chunk_steps=500, **base))
    b = train(W0, TrainOptions(chunk_steps=37, **base))
    assert a[0].sparse_steps > 0, "run long enough to cross the sparse switch"
    assert _fingerprint(a) == _fingerprint(b)


def test_sgd_randomness_comes_from_the_seeds():
    seeds = _seeds(8, 2)
    W0 = init_weights(10, 20, seeds)
    o = TrainOptions(optimizer="sgd", batch_size=3, max_steps=60, record_weights=True)
    a = train(W0, o, seeds=seeds)
    # spawning from the seeds elsewhere does not change the batch order
    seeds[0].spawn(4)
    assert batch_seed(seeds[0]).spawn_key == (0, 1)
    b = train(W0, o, seeds=seeds)
    assert _fingerprint(a) == _fingerprint(b)
    c = train(W0, o, seeds=_seeds(9, 2))
    assert a[0].W.tobytes() != c[0].W.tobytes()
    # the full batch (b = n) is exactly gradient descent: same products, exact doublings
    full = train(W0, TrainOptions(optimizer="sgd", batch_size=10, lr=0.05, max_steps=60,
                                  record_weights=True), seeds=seeds)
    gd = train(W0, TrainOptions(optimizer="gd", lr=0.05, max_steps=60, record_weights=True))
    assert [r.W.tobytes() for r in full] == [r.W.tobytes() for r in gd]


# ----------------------------------------------------------------------------- divergence
def test_unstable_step_is_refused_unless_allowed():
    """lr at or above 2/L (T7) is refused with the bound in the message; with allow_unstable
    the run goes ahead and its records say so."""
    W0 = init_weights(8, 16, _seeds(12, 1))
    for opt, lr, extra in (("prox-gd", 0.25, {}), ("gd", 0.3, {}),
                           ("sgd", 0.1, dict(batch_size=2, seed=0))):
        with pytest.raises(ValueError, match=r"TrainOptions.lr=.*stability bound"):
            train(W0, TrainOptions(optimizer=opt, lr=lr, max_steps=10, **extra))
    rec = train(W0, TrainOptions(lr=0.3, max_steps=10, allow_unstable=True))[0]
    assert rec.step_above_bound and "stability bound" in rec.message
    assert not train(W0, TrainOptions(lr=0.2, max_steps=10))[0].step_above_bound


def test_divergence_raises_with_step_bound():
    W0 = init_weights(16, 32, _seeds(10, 2))
    with pytest.raises(DivergenceError, match=r"lr < 2/L = 0.25"):
        train(W0, TrainOptions(optimizer="gd", lr=1.0, max_steps=2000, allow_unstable=True))
    recs = train(W0, TrainOptions(optimizer="prox-gd", lr=1.0, max_steps=2000,
                                  allow_unstable=True), throw=False)
    assert all(r.status == "diverged" and "0.25" in r.message for r in recs)
    json.dumps([r.to_dict() for r in recs])  # NaN fields become None
    with pytest.raises(DivergenceError, match=r"b/\(4n\)"):
        train(W0, TrainOptions(optimizer="sgd", lr=0.5, batch_size=4, seed=0, max_steps=2000,
                               allow_unstable=True))
    with pytest.raises(DivergenceError, match="AdamW"):
        train(W0, TrainOptions(optimizer="adamw", lr=5.0, max_steps=2000))


def test_stable_step_does_not_diverge_and_loss_decreases():
    W0 = init_weights(16, 32, _seeds(11, 2))
    r0 = train(W0, TrainOptions(lr=0.2, lam=0.01, max_steps=0))
    r = train(W0, TrainOptions(lr=0.2, lam=0.01, max_steps=3000))
    # prox-GD with lr < 1/L_local decreases the objective monotonically (descent lemma)
    assert all(a.final_loss < b.final_loss for a, b in zip(r, r0, strict=True))


# ----------------------------------------------------------------------------- mechanism
MECH_N, MECH_M, MECH_SEEDS = 32, 128, 20
MECH_LR, MECH_LAM, MECH_TOL = 0.1, 0.05, 1e-9


def test_mechanism_on_converged_prox_gd_runs():
    """docs/paper.md#benign-collisions: at convergence every feature is represented, every
    polysemantic neuron holds exactly two features of opposite sign, and no pair overlaps
    positively."""
    seeds = _seeds(2024, MECH_SEEDS)
    W0 = init_weights(MECH_N, MECH_M, seeds)
    recs = train(W0, TrainOptions(lr=MECH_LR, lam=MECH_LAM, tol=MECH_TOL, max_steps=20_000,
                                  record_weights=True), seeds=seeds)
    assert all(r.converged for r in recs), [r.steps for r in recs]
    # T8: a point whose mapping norm is <= tol lies within d = (1 + lr L) tol / mu of the
    # (locally strongly convex, modulus mu = f''(w) = 8 - 12 lam~ on the support) solution,
    # where positive overlaps are 0; <W_i, W_j> then moves by <= 2 d (1 + d).
    mu = 8 - 12 * lam_to_normalized(MECH_LAM)
    d = (1 + 8 * MECH_LR) * MECH_TOL / mu
    overlap_tol = 2 * d * (1 + d)
    n_poly = 0
    for r in recs:
        assert r.features_represented == MECH_N
        assert r.max_positive_overlap <= overlap_tol
        for _, pos, neg in polysemantic_neurons(r.W):
            assert (pos, neg) == (1, 1)
            n_poly += 1
        meas = measure(r.W0, r.W)
        # winning weights sit at sqrt(1 - lam~) ~ 0.99, inside [0.8, 1.2]: the rules agree
        assert meas.window_count == meas.assignment_count
    assert n_poly > 0, "no collision at all: the check above was vacuous"


def test_bit_identical_when_blas_gets_several_threads():
    """One instance with n^2 m >= 2^24 lets each product use up to T BLAS threads. OpenBLAS
    splits a GEMM's output among threads but not its inner sums, so results must not move."""
    seeds = _seeds(12, 1)
    W0 = init_weights(256, 256, seeds)
    opts = TrainOptions(lr=0.05, lam=1e-3, max_steps=20, record_weights=True)
    before = numba.get_num_threads()
    results = []
    try:
        for threads in sorted({1, numba.config.NUMBA_NUM_THREADS}):
            numba.set_num_threads(threads)
            results.append(_fingerprint(train(W0, opts)))
    finally:
        numba.set_num_threads(before)
    assert all(r == results[0] for r in results)


@pytest.mark.slow
def test_mechanism_under_the_papers_adamw_setting():
    """docs/paper.md#benign-collisions under the paper's optimizer (AdamW lr 1e-3, lam 1e-3, wd
    0.01, 7500 steps) at n=64, m=256, 20 seeds: every feature represented, and every polysemantic
    neuron (assignment rule) holds one positive and one negative feature. ~1-2 min."""
    seeds = _seeds(77, 20)
    W0 = init_weights(64, 256, seeds)
    recs = train(W0, TrainOptions(optimizer="adamw", lr=1e-3, lam=1e-3, max_steps=7500,
                                  record_weights=True), seeds=seeds)
    n_poly = 0
    for r in recs:
        assert r.features_represented == 64
        for _, pos, neg in polysemantic_neurons(r.W):
            assert (pos, neg) == (1, 1)
            n_poly += 1
    assert n_poly > 0
