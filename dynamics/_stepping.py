"""Stepping one instance: dense BLAS steps and live-structure steps, switched by cost.

The switch rule (docs/dynamics/training.md#switching) compares the estimated cost of the
next step in both representations, in units of one flop of a dense BLAS product:

    dense:  DENSE_FLOPS(n, m) = 4 n^2 m + DENSE_ELEMENTWISE * n m
    live:   SPARSE_OP_COST * ops,   ops = (S1) of ``_sparse_kernels``

and goes live when the live cost is below the dense one by the factor SWITCH_HYSTERESIS,
back to dense when it exceeds it by that factor (so a run near break-even does not
oscillate). SPARSE_OP_COST is measured by ``python -m benchmarks.bench_live calibrate``
(docs/performance.md#switch-calibration); both constants are fixed numbers, not measured
at run time, so that a run's result is a function of its inputs only, on every machine.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from dynamics._sparse_kernels import SWITCH_TO_DENSE, live_prox_gd_steps
from dynamics._training_kernels import (
    DIVERGED_GROWTH,
    DIVERGED_NONFINITE,
    OPT_PROX_GD,
    OPT_SGD,
    OUT_ENDS_LIVE,
    OUT_LIVE_STEPS,
    OUT_LOSS,
    OUT_RESIDUAL,
    OUT_STATUS,
    OUT_STEPS,
    RUNNING,
    SPARSE_ALWAYS,
    SPARSE_AUTO,
    SPARSE_CHECK_EVERY,
    _l1,
    _sparse_cost_estimate,
    dense_gradient,
    dense_update,
    minibatch_gradient_into,
    noisy_gd_step,
    stop_status,
)

# Cost of one live-structure operation (S1) in dense-flop units: CPU time per operation
# over CPU time per naive dense flop, median over 11 states near break-even at (n, m) =
# (64, 256), (256, 1024), (256, 4096); range 117-450, higher in sparser states whose short
# loops cost more per operation (benchmarks/bench_live.py calibrate, docs/performance.md).
SPARSE_OP_COST = 190.0
# Elementwise passes of a dense step (residual, loss, L1, update) in dense-flop units per
# weight, from the same dense-step timings (54 at n = 256, m = 1024; 80 at n = 64, m = 256):
# they matter against 4 n^2 m only when n is small.
DENSE_ELEMENTWISE = 60.0
# Switch only when the other representation is at least this much cheaper.
SWITCH_HYSTERESIS = 1.5


@njit(cache=True)
def dense_step_cost(n, m):
    """Estimated cost of one dense step in dense-flop units."""
    return 4.0 * n * n * m + DENSE_ELEMENTWISE * n * m


@njit(cache=True)
def _dense_steps(opt, W, M1, M2, t0, batches, noise, lr, lam, beta1, beta2, eps, wd, tol,
                 growth_limit, n_steps, sparse_mode, out):
    """Dense steps (BLAS products) until n_steps, a stop, or, in auto mode, until the live
    structure is estimated cheaper (checked every SPARSE_CHECK_EVERY steps).

    ``noise``: (steps, K, nx, m) hidden-layer noise of this instance (GD only), or empty.
    ``out``: OUT_STEPS, OUT_STATUS, OUT_LOSS (at the last step's input) and OUT_RESIDUAL
    (mapping norm of the last step; NaN with noise: the noisy step is not a prox-gradient
    step); returns True if the caller should continue in the sparse representation.
    """
    n, m = W.shape
    dt = W.dtype
    G = np.empty((n, n), dt)
    R = np.empty((n, n), dt)
    H = np.empty((n, m), dt) if noise.shape[0] > 0 else np.empty((0, 0), dt)  # noisy hidden
    grad = np.empty((n, m), dt)
    masked = np.empty((n, m), dt) if opt == OPT_SGD else np.empty((0, 0), dt)
    tmp = np.empty((n, m), dt) if opt == OPT_SGD else np.empty((0, 0), dt)
    col_count = np.empty(m, np.int64)
    row_count = np.empty(n, np.int64)
    dense_cost = dense_step_cost(n, m)
    status = RUNNING
    loss = 0.0
    res = 0.0
    step = 0
    go_sparse = False
    noisy = noise.shape[0] > 0
    while step < n_steps and noisy:
        l1 = _l1(W)
        loss = noisy_gd_step(W, noise[step], lr, lam, H, R, grad) + lam * l1
        step += 1
        res = np.nan
        if not np.isfinite(loss) or not np.isfinite(_l1(W)):
            status = DIVERGED_NONFINITE
            break
        if loss > growth_limit:
            status = DIVERGED_GROWTH
            break
    while step < n_steps and not noisy:
        if opt == OPT_SGD:
            sse = minibatch_gradient_into(W, batches[step], G, R, grad, masked, tmp)
        else:
            sse = dense_gradient(W, G, R, grad)
        loss = sse + lam * _l1(W)
        if not np.isfinite(loss):
            status = DIVERGED_NONFINITE
            break
        if loss > growth_limit:
            status = DIVERGED_GROWTH
            break
        if opt == OPT_PROX_GD and (t0 + step) % SPARSE_CHECK_EVERY == 0:
            ops = _sparse_cost_estimate(W, G, col_count, row_count)
            if sparse_mode == SPARSE_AUTO:
                go_sparse = SWITCH_HYSTERESIS * SPARSE_OP_COST * ops < dense_cost
        # the mapping norm is needed for the stopping test and for the last step's record
        want_res = tol >= 0.0 or step == n_steps - 1
        res = np.sqrt(dense_update(opt, W, grad, M1, M2, t0 + step + 1, lr, lam, beta1, beta2,
                                   eps, wd, want_res)) / lr
        step += 1
        status = stop_status(res, tol)
        if status != RUNNING:
            break
        if go_sparse:
            break
    out[OUT_STEPS] = step
    out[OUT_STATUS] = status
    out[OUT_LOSS] = loss
    out[OUT_RESIDUAL] = res
    return go_sparse and status == RUNNING


@njit(cache=True)
def _advance_one(
    opt, W, M1, M2, t0, batches, noise, lr, lam, beta1, beta2, eps, wd, tol, growth_limit,
    n_steps, sparse_mode, in_sparse, out,
):
    """Advance one instance by up to n_steps, switching between the dense and the live
    representation by estimated cost (docs/dynamics/training.md#switching).

    out: the row of ``advance`` (columns OUT_* of ``_training_kernels``).
    """
    n, m = W.shape
    sparse = opt == OPT_PROX_GD and (sparse_mode == SPARSE_ALWAYS or in_sparse)
    # in auto mode the live path hands back to BLAS when it gets dearer than a dense step
    max_ops = (SWITCH_HYSTERESIS * dense_step_cost(n, m) / SPARSE_OP_COST
               if sparse_mode == SPARSE_AUTO else -1.0)
    sub = np.zeros(5)
    step = 0
    sparse_steps = 0
    status = RUNNING
    loss = 0.0
    res = 0.0
    while step < n_steps and status == RUNNING:
        if sparse:
            live_prox_gd_steps(W, n_steps - step, lr, lam, tol, growth_limit, max_ops, sub)
        else:
            sparse = _dense_steps(opt, W, M1, M2, t0 + step, batches[step:], noise[step:], lr,
                                  lam, beta1, beta2, eps, wd, tol, growth_limit,
                                  n_steps - step, sparse_mode, sub[:4])
            step += int(sub[OUT_STEPS])
            status = int(sub[OUT_STATUS])
            if sub[OUT_STEPS] > 0:
                loss, res = sub[OUT_LOSS], sub[OUT_RESIDUAL]
            continue
        step += int(sub[OUT_STEPS])
        sparse_steps += int(sub[OUT_STEPS])
        status = int(sub[OUT_STATUS])
        if sub[OUT_STEPS] > 0:
            loss, res = sub[OUT_LOSS], sub[OUT_RESIDUAL]
        if status == SWITCH_TO_DENSE:
            status = RUNNING
            sparse = False
    out[OUT_STEPS] = step
    out[OUT_STATUS] = status
    out[OUT_LOSS] = loss
    out[OUT_RESIDUAL] = res
    out[OUT_LIVE_STEPS] = sparse_steps
    out[OUT_ENDS_LIVE] = 1.0 if sparse else 0.0


@njit(parallel=True, cache=True)
def advance(
    opt, W, M1, M2, t0, batches, noise, lr, lam, beta1, beta2, eps, wd, tol, growth_limit,
    n_steps, sparse_mode, in_sparse, active, out,
):
    """Advance every active instance of W (I, n, m) by up to n_steps steps, in parallel.

    Main arguments:
        opt: optimizer code (OPT_*). W: weights (I, n, m), updated in place.
        M1, M2: AdamW first/second moments (I, n, m) (unused otherwise; may be (I, 0, 0)).
        t0: (I,) int64, AdamW steps already taken per instance.
        batches: (I, n_steps, b) int64 minibatch input indices for sgd, else (I, 0, 0).
        noise: (n_steps, K, Ix, nx, m) hidden-layer noise for gd, Ix in {1, I} (shared or
            per instance), nx in {1, n}; (0, 1, 1, 1, 1) for none.
        active: (I,) bool; inactive instances are skipped.
        in_sparse: (I,) bool; prox-GD instances that start in the live representation
            (the driver copies it from out[:, OUT_ENDS_LIVE] of the previous call).
        growth_limit: (I,) loss above which a run counts as diverged.
        tol: stop when the mapping norm (T6) is <= tol; negative = never.
    Returns via ``out`` (I, OUT_COLUMNS), one row per instance with the columns named
    OUT_* in ``_training_kernels``: steps taken, status, loss at the last step's input,
    mapping norm of the last step, steps taken in the live representation, and 1 if the
    instance ended in the live representation.
    """
    n_inst = W.shape[0]
    for a in prange(n_inst):
        if active[a]:
            xa = np.int64(a) if noise.shape[2] > 1 else np.int64(0)  # per instance, or shared
            _advance_one(
                opt, W[a], M1[a], M2[a], t0[a], batches[a], noise[:, :, xa], lr, lam, beta1,
                beta2, eps, wd, tol, growth_limit[a], n_steps, sparse_mode, in_sparse[a], out[a],
            )


@njit(cache=True)
def advance_serial(
    opt, W, M1, M2, t0, batches, noise, lr, lam, beta1, beta2, eps, wd, tol, growth_limit,
    n_steps, sparse_mode, in_sparse, active, out,
):
    """``advance`` without the parallel region, for one active instance or one thread.

    Entering a numba parallel region wakes the thread pool; on a busy machine that cost
    ~10 ms per call, 100x a 64 x 256 step. Same arguments and results as ``advance``.
    """
    for a in range(W.shape[0]):
        if active[a]:
            xa = np.int64(a) if noise.shape[2] > 1 else np.int64(0)  # per instance, or shared
            _advance_one(
                opt, W[a], M1[a], M2[a], t0[a], batches[a], noise[:, :, xa], lr, lam, beta1,
                beta2, eps, wd, tol, growth_limit[a], n_steps, sparse_mode, in_sparse[a], out[a],
            )
