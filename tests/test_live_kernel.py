"""The live-structure prox-GD kernel (dynamics/_sparse_kernels.py) against the numpy oracle,
revival of zero weights, and the two-way switch between dense and live steps
(docs/dynamics/training.md#sparse-representation, #switching).

Bounds: one step of the kernel and of the oracle differ by rounding only. Both compute
G_ij = <W_i, W_j> and (R W)_ik as sums of at most m and n products, so each entry carries
at most gamma(m) |W||W|^T and gamma(n + 2) |R||W| of error per implementation (Higham's
gamma(k) = k u / (1 - k u)); the soft-threshold is 1-Lipschitz. ``_one_step_bound`` of
test_training_kernels.py spells this out and is reused here.
"""

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dynamics import TrainOptions, init_weights, train
from dynamics import _stepping as S
from dynamics import _training_kernels as K
from dynamics._sparse_kernels import SWITCH_TO_DENSE, live_prox_gd_steps
from dynamics._toy_model import prox_gd_step_reference, smooth_gradient
from tests.helpers import rng
from tests.test_training_kernels import _one_step_bound

LR = 0.05


def _live(W, n_steps=1, lr=LR, lam=1e-3, tol=-1.0, max_ops=-1.0):
    W = W.copy()
    out = np.zeros(5)
    live_prox_gd_steps(W, n_steps, lr, lam, tol, 1e300, max_ops, out)
    return W, out


def _random_sparse_state(seed, n, m, density):
    g = rng(seed)
    W = g.normal(0, 1 / np.sqrt(m), (n, m))
    W[g.random((n, m)) > density] = 0.0
    return W


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 24), m=st.integers(1, 40),
       density=st.floats(0.0, 1.0), lam=st.sampled_from([0.0, 1e-3, 0.05, 0.5]))
@example(seed=3, n=5, m=7, density=0.0, lam=1e-3)  # all zero: nothing moves
def test_one_live_step_matches_the_oracle(seed, n, m, density, lam):
    """From random sparse states (any density, zero rows, any lam) one live step equals one
    dense reference step within the rounding bound, and the zero patterns agree wherever the
    soft-threshold input is farther than the bound from the threshold (revivals included)."""
    W = _random_sparse_state(seed, n, m, density)
    got, out = _live(W, lam=lam)
    ref = prox_gd_step_reference(W, LR, lam)
    bound = _one_step_bound(W, LR)
    assert out[0] == 1
    assert np.all(np.abs(got - ref) <= bound)
    x = W - LR * smooth_gradient(W)
    undecided = np.abs(np.abs(x) - LR * lam) <= bound
    assert np.all(((got != 0) == (ref != 0)) | undecided)


def test_a_zero_weight_revives_exactly_when_its_gradient_beats_lam():
    """Features 0 and 1 share neuron 0 with the same sign (G_01 = 0.3 > 0). Feature 1 has a
    zero weight on neuron 1, where feature 0 lives, so its gradient there is
    4 R_10 W_01 = 4 * 0.3 * 0.6 = 0.72: above lam = 0.5 it revives to -lr (0.72 - lam),
    below lam = 0.8 it stays exactly zero (hand-computed, no oracle)."""
    W = np.array([[0.6, 0.6, 0.0], [0.5, 0.0, 0.0]])
    g01 = W[0] @ W[1]
    grad = 4 * g01 * W[0, 1]
    for lam, expect in ((0.5, -LR * (grad - 0.5)), (0.8, 0.0)):
        got, _ = _live(W, lam=lam)
        assert got[1, 1] == pytest.approx(expect, rel=1e-14, abs=0)
        assert got[1, 2] == 0.0 and got[0, 2] == 0.0  # nothing reaches neuron 2
        np.testing.assert_allclose(got, prox_gd_step_reference(W, LR, lam), rtol=0,
                                   atol=_one_step_bound(W, LR).max())


def test_whole_runs_match_the_dense_oracle_step_by_step():
    """200 live steps along a real run from a sparse state: at every step the oracle, started
    from the kernel's own state, agrees within the one-step bound, and the zero patterns
    agree except where the threshold is undecided within that bound."""
    W0 = init_weights(16, 48, [np.random.SeedSequence(5)])[0]
    W = train(W0, TrainOptions(lr=LR, lam=0.02, max_steps=400, sparse="never",
                               record_weights=True))[0].W
    assert np.mean(W == 0) > 0.5, "not sparse yet: lengthen the warm-up"
    for _ in range(200):
        nxt, _ = _live(W, lam=0.02)
        ref = prox_gd_step_reference(W, LR, 0.02)
        bound = _one_step_bound(W, LR)
        assert np.all(np.abs(nxt - ref) <= bound)
        x = W - LR * smooth_gradient(W)
        undecided = np.abs(np.abs(x) - LR * 0.02) <= bound
        assert np.all(((nxt != 0) == (ref != 0)) | undecided)
        W = nxt


def test_convergence_status_and_mapping_norm():
    """A state at a converged point stays put and reports CONVERGED after one step."""
    W0 = init_weights(8, 32, [np.random.SeedSequence(2)])[0]
    r = train(W0, TrainOptions(lr=LR, lam=0.02, tol=1e-10, max_steps=50_000, sparse="never",
                               record_weights=True))[0]
    assert r.converged
    W, out = _live(r.W, lam=0.02, tol=1e-10)
    assert out[1] == K.CONVERGED and out[0] == 1 and out[3] <= 1e-10


def test_live_path_hands_back_to_dense_when_it_gets_dear():
    """Forced into the live representation from a dense state, the auto rule takes one live
    step (its cost (S1) is only known after it), sees that it exceeded the dense cost by more
    than the hysteresis factor and continues with dense steps; the result equals the oracle."""
    W = rng(7).normal(0, 1 / np.sqrt(64), (1, 32, 64))
    out = np.zeros((1, 6))
    empty = np.zeros((1, 0, 0))
    S.advance_serial(K.OPT_PROX_GD, W, empty, empty, np.zeros(1, np.int64),
                     np.zeros((1, 0, 0), np.int64), np.zeros((0, 1, 1, 1, 1)), LR, 1e-3,
                     0.9, 0.999, 1e-8, 0.01, -1.0, np.full(1, 1e300), 5, K.SPARSE_AUTO,
                     np.ones(1, bool), np.ones(1, bool), out)
    assert out[0, 0] == 5 and out[0, 4] == 1 and out[0, 5] == 0  # 1 live step, ends dense
    # and the kernel alone reports the switch
    _, o = _live(W[0], max_ops=1.0)
    assert o[1] == SWITCH_TO_DENSE and o[0] == 1


def test_auto_runs_go_live_and_stay_exact():
    """An auto run switches to the live representation once sparse, and its converged point
    equals the forced-dense run's within the fixed-point bound of T8 (as in
    test_sparse_and_dense_runs_reach_the_same_point)."""
    W0 = init_weights(24, 96, [np.random.SeedSequence(9)])
    lr, tol, lam = 0.1, 1e-10, 0.05
    runs = {mode: train(W0, TrainOptions(lr=lr, lam=lam, tol=tol, max_steps=50_000,
                                         sparse=mode, record_weights=True))[0]
            for mode in ("never", "auto")}
    assert runs["auto"].sparse_steps > 0 and runs["never"].sparse_steps == 0
    assert all(r.converged for r in runs.values())
    dist = 2 * (1 + 8 * lr) * tol / (8 - 12 * lam / 4)
    np.testing.assert_array_equal(runs["auto"].W != 0, runs["never"].W != 0)
    assert np.max(np.abs(runs["auto"].W - runs["never"].W)) <= dist
