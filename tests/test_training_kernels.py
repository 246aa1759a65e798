"""Numba kernels vs the plain-numpy oracle (``_toy_model``), one step at a time, and the sparse
prox-GD path vs the dense one. Bounds are Higham-style rounding bounds of one step."""

import numpy as np
import pytest

from dynamics import _stepping as S
from dynamics import _training_kernels as K
from dynamics._toy_model import (
    adamw_step_reference,
    gd_step_reference,
    prox_gd_step_reference,
    residual_matrix,
    sgd_step_reference,
    smooth_gradient,
)
from tests.helpers import rng

U = np.finfo(float).eps / 2
# Agreement demanded of every kernel with its numpy oracle: near float64 round-off for these
# small sizes, so a wrong term cannot hide; each test also checks its derived bound is below it.
ORACLE_RTOL = 1e-12
N_INST, N, M = 3, 12, 30
LAM = 0.05


def gamma(k):
    return k * U / (1 - k * U)


def _advance(opt, W, n_steps=1, lr=0.1, lam=LAM, M1=None, M2=None, t0=None, batches=None,
             sparse=K.SPARSE_NEVER, tol=-1.0):
    n_inst = W.shape[0]
    M1 = np.zeros((n_inst, 0, 0)) if M1 is None else M1
    M2 = np.zeros((n_inst, 0, 0)) if M2 is None else M2
    t0 = np.zeros(n_inst, np.int64) if t0 is None else t0
    batches = np.zeros((n_inst, 0, 0), np.int64) if batches is None else batches
    out = np.zeros((n_inst, 6))
    S.advance(opt, W, M1, M2, t0, batches, np.zeros((0, 1, 1, 1, 1)), lr, lam, 0.9, 0.999,
              1e-8, 0.01, tol,
              np.full(n_inst, 1e12), n_steps, sparse, np.zeros(n_inst, bool),
              np.ones(n_inst, bool), out)
    return out


def _one_step_bound(W, lr, scale=1.0):
    """Entrywise bound on the difference of two float64 evaluations of W - lr * scale * 4RW.

    G = W W^T has |dG| <= gamma(m) |W||W|^T per implementation; R inherits it; (RW) adds
    gamma(n) |R||W|. Two implementations: factor 2. The subtraction and the 1-Lipschitz
    soft-threshold add 2u (|W| + lr |g|)."""
    A = np.abs(W) @ np.abs(W).T
    R = np.abs(residual_matrix(W @ W.T))
    m, n = W.shape[1], W.shape[0]
    g_err = 4 * scale * 2 * (gamma(m) * A @ np.abs(W) + gamma(n + 2) * R @ np.abs(W))
    g_abs = 4 * scale * (R @ np.abs(W))
    return lr * g_err + 2 * U * (np.abs(W) + lr * (g_abs + LAM)) + 1e-300


def _check(name, got, ref, bound, bound_below_rtol=True):
    assert np.all(np.abs(got - ref) <= bound), f"{name}: outside the derived rounding bound"
    rel = np.linalg.norm(bound) / np.linalg.norm(ref)
    if bound_below_rtol:
        assert rel < ORACLE_RTOL, f"{name}: derived bound {rel:.1e} is not below {ORACLE_RTOL}"
    assert np.linalg.norm(got - ref) <= ORACLE_RTOL * np.linalg.norm(ref)


def _start():
    return rng(11).normal(0, 1 / np.sqrt(M), size=(N_INST, N, M))


@pytest.mark.parametrize("opt,ref", [(K.OPT_PROX_GD, prox_gd_step_reference),
                                     (K.OPT_GD, gd_step_reference)])
def test_full_batch_steps_match_oracle(opt, ref):
    W = _start()
    for _ in range(40):  # 40 consecutive steps, each from the kernel's own state
        prev = W.copy()
        out = _advance(opt, W)
        assert np.all(out[:, 0] == 1)
        for a in range(N_INST):
            _check(f"opt {opt}", W[a], ref(prev[a], 0.1, LAM), _one_step_bound(prev[a], 0.1))


def test_sgd_steps_match_oracle():
    W = _start()
    g = rng(12)
    for _ in range(20):
        prev = W.copy()
        batches = np.stack([g.permutation(N)[:4][None] for _ in range(N_INST)]).astype(np.int64)
        _advance(K.OPT_SGD, W, batches=batches)
        for a in range(N_INST):
            # the minibatch gradient has scale (2n/b)/4 relative to 4RW's bound
            bound = _one_step_bound(prev[a], 0.1, scale=2 * N / 4 / 2)
            _check("sgd", W[a], sgd_step_reference(prev[a], 0.1, LAM, batches[a, 0]), bound)


def test_adamw_steps_match_pytorch_transcription():
    W = _start()
    M1, M2 = np.zeros_like(W), np.zeros_like(W)
    lr = 1e-2
    for t in range(1, 31):
        prev, p1, p2 = W.copy(), M1.copy(), M2.copy()
        _advance(K.OPT_ADAMW, W, lr=lr, M1=M1, M2=M2, t0=np.full(N_INST, t - 1, np.int64))
        for a in range(N_INST):
            Wr, m1, m2 = adamw_step_reference(prev[a], p1[a], p2[a], t, lr, LAM)
            # First-order propagation of a gradient error dg (bounded as in _one_step_bound):
            # dm = (1-b1) dg, dv = 2 (1-b2) |g| dg, and the update lr m_hat / (s + eps),
            # s = sqrt(v_hat), moves by lr/bc1 (dm + |m| ds / s) / (s + eps) with
            # ds = dv / (2 s bc2). The two transcriptions order the moment updates
            # differently (lerp vs weighted sum): a further ~8u relative on each quantity.
            g = smooth_gradient(prev[a]) + LAM * np.sign(prev[a])
            dg = _one_step_bound(prev[a], 1.0) + 4 * U * np.abs(g)
            bc1, bc2 = 1 - 0.9**t, 1 - 0.999**t
            s = np.sqrt(m2 / bc2)
            dm = 0.1 * dg + 8 * U * np.abs(m1)
            dv = 2 * 0.001 * np.abs(g) * dg + 8 * U * m2
            ds = dv / (2 * np.maximum(s, 1e-300) * bc2)
            step = lr / bc1 * np.abs(m1) / (s + 1e-8)
            bound = (lr / bc1 * (dm + np.abs(m1) * ds / (s + 1e-8)) / (s + 1e-8)
                     + 8 * U * (step + np.abs(Wr)))
            # the worst-case AdamW bound is ~1e-12 relative itself (1/(s + eps) amplifies dg
            # where v is small), so only the entrywise bound and the 1e-12 apply
            _check("adamw moment 1", M1[a], m1, dm + 1e-300, bound_below_rtol=False)
            _check("adamw", W[a], Wr, bound, bound_below_rtol=False)


def test_sparse_step_matches_dense_step_along_a_trajectory():
    """From each state of a dense prox-GD trajectory, one sparse step and one dense step agree
    within the rounding bound, and their zero patterns differ only where the soft-threshold
    input is within that bound of the threshold."""
    W = _start()
    lr = 0.1
    switched = 0
    for _ in range(600):
        prev = W.copy()
        Ws = W.copy()
        _advance(K.OPT_PROX_GD, W, lr=lr)
        out = _advance(K.OPT_PROX_GD, Ws, lr=lr, sparse=K.SPARSE_ALWAYS)
        assert np.all(out[:, 4] == 1)
        for a in range(N_INST):
            bound = _one_step_bound(prev[a], lr)
            assert np.all(np.abs(W[a] - Ws[a]) <= bound)
            x = prev[a] - lr * smooth_gradient(prev[a])
            undecided = np.abs(np.abs(x) - lr * LAM) <= bound
            assert np.all(((W[a] != 0) == (Ws[a] != 0)) | undecided)
        switched += np.mean(W == 0) > 0.9
    assert switched > 0, "the trajectory never became sparse; lengthen it"


def test_sparse_and_dense_runs_reach_the_same_point():
    """Whole runs: forced-dense, forced-sparse and auto agree on the zero pattern and on the
    converged weights. At the fixed point both have mapping norm <= tol, so by the error
    bound (T8 in the docs) each is within (1 + 8 lr) tol / mu of it, mu = 8 - 12 lam/4."""
    lr, tol = 0.1, 1e-10
    runs = {}
    for mode in (K.SPARSE_NEVER, K.SPARSE_ALWAYS, K.SPARSE_AUTO):
        W = _start()
        out = _advance(K.OPT_PROX_GD, W, n_steps=20_000, lr=lr, sparse=mode, tol=tol)
        assert np.all(out[:, 1] == K.CONVERGED)
        runs[mode] = W
    dist = 2 * (1 + 8 * lr) * tol / (8 - 12 * LAM / 4)
    for mode in (K.SPARSE_ALWAYS, K.SPARSE_AUTO):
        np.testing.assert_array_equal(runs[mode] != 0, runs[K.SPARSE_NEVER] != 0)
        assert np.max(np.abs(runs[mode] - runs[K.SPARSE_NEVER])) <= dist
