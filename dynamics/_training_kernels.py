"""Numba kernels for training the tied ReLU autoencoder: pure array-in, array-out, no RNG.

Each kernel implements an update rule of ``docs/dynamics/training.md`` whose plain-numpy
reference lives in ``dynamics/_toy_model.py``; the tests compare them step by step.

Why numba *and* BLAS. A dense step is two matrix products, ``G = W W^T`` (symmetric: a
SYRK, ``n^2 m`` flops) and ``(4R) W`` (a GEMM, ``2 n^2 m`` flops), plus ``O(n^2 + n m)``
elementwise work. The products go to BLAS (GEMM through numba's ``np.dot``, SYRK through
the address scipy exports) because a hand-written numba triple loop without fast-math
cannot vectorise the reduction and runs ~10-20x below the GEMM rate. Everything
else (residual matrix, loss, soft-thresholding, AdamW moments, the divergence and
stopping checks) is fused in numba loops, one pass over memory each, and the whole
step loop runs inside numba so a step costs no Python overhead. The sparse phase of
prox-GD (``_sparse_kernels``) is pure numba: its work is scattered index arithmetic that
BLAS cannot express.

Parallelism is across instances (``prange``); one instance is always computed by one
thread in a fixed order, so results do not depend on the number of numba threads. The
driver (``_training.py``) sets how many BLAS threads each product may use.
"""

from __future__ import annotations

import math

import llvmlite.binding as llvm
import numpy as np
import scipy.linalg.cython_blas  # noqa: F401  (loads the BLAS whose SYRK is bound below)
from numba import njit, types
from numba.extending import get_cython_function_address

# Optimizer codes (the driver maps names to these).
OPT_PROX_GD = 0
OPT_GD = 1
OPT_SGD = 2
OPT_ADAMW = 3

# Run status codes, one per instance.
RUNNING = 0
CONVERGED = 1
MAX_STEPS = 2  # set by the driver when the step budget is spent
DIVERGED_NONFINITE = 3
DIVERGED_GROWTH = 4

# Sparse-representation modes.
SPARSE_NEVER = 0
SPARSE_AUTO = 1
SPARSE_ALWAYS = 2

# Columns of the per-instance result row ``out`` that the stepping kernels fill.
OUT_STEPS = 0  # steps taken in the call
OUT_STATUS = 1  # status code (RUNNING, CONVERGED, ...)
OUT_LOSS = 2  # loss (T1) at the last step's input
OUT_RESIDUAL = 3  # prox-gradient mapping norm (T6) of the last step
OUT_LIVE_STEPS = 4  # steps taken in the live representation
OUT_ENDS_LIVE = 5  # 1 if the instance ended in the live representation, else 0
OUT_COLUMNS = 6
# In auto mode, how often (in steps) a dense prox-GD run re-estimates the sparse cost.
SPARSE_CHECK_EVERY = 8


@njit(cache=True)
def _residual_and_sse(G, R, scale):
    """R_ij = scale (ReLU(G_ij) - delta_ij) 1[G_ij > 0] (eq. T2); returns the summed squared
    error of the unscaled residual.

    Reads the lower triangle of G (``gram_into``) and writes R in full, so R is exactly
    symmetric. ``scale = 4`` folds the gradient's factor into the n x n matrix instead of
    the n x m product; a power of two, so (4R) W == 4 (R W) bit for bit.
    """
    n = G.shape[0]
    sse = 0.0
    for i in range(n):
        for j in range(i):
            g = G[i, j]
            r = g if g > 0.0 else 0.0
            sse += 2.0 * r * r
            R[i, j] = scale * r
            R[j, i] = scale * r
        g = G[i, i]
        r = g - 1.0 if g > 0.0 else -1.0
        sse += r * r  # (ReLU(g) - 1)^2, also when ReLU(g) = 0
        R[i, i] = scale * r if g > 0.0 else 0.0
    return sse


@njit(cache=True)
def stop_status(res, tol):
    """The one stopping rule of every prox-gd kernel, on the prox-gradient mapping norm res:
    DIVERGED_NONFINITE if it is not finite, CONVERGED if tol >= 0 and res <= tol, else
    RUNNING (docs/dynamics/training.md)."""
    if not np.isfinite(res):
        return DIVERGED_NONFINITE
    if tol >= 0.0 and res <= tol:
        return CONVERGED
    return RUNNING


@njit(cache=True)
def _l1(W):
    s = 0.0
    for i in range(W.shape[0]):
        for k in range(W.shape[1]):
            s += abs(W[i, k])
    return s


@njit(cache=True)
def _soft(x, threshold):
    # branch-free (max + copysign): the branchy form mispredicts on random signs and made
    # the O(nm) update slower than the two matrix products at m = 4096
    a = abs(x) - threshold
    a = a if a > 0.0 else 0.0
    return math.copysign(a, x)


@njit(cache=True)
def _sign(x):
    # sign(0) = 0, as torch.sign; branch-free because weight signs are random and a
    # mispredicted branch per weight doubled the cost of the AdamW update
    return (x > 0.0) * 1.0 - (x < 0.0) * 1.0


# SYRK (C = A^T A, one triangle) from the BLAS that numba's np.dot uses. numba exposes GEMM
# only; binding the symbol by name (not a ctypes pointer) keeps the kernels cacheable.
for _name in ("ssyrk", "dsyrk"):
    llvm.add_symbol(f"incidental_poly_{_name}",
                    get_cython_function_address("scipy.linalg.cython_blas", _name))
_SYRK_SIG = types.void(*[types.voidptr] * 10)
_ssyrk = types.ExternalFunction("incidental_poly_ssyrk", _SYRK_SIG)
_dsyrk = types.ExternalFunction("incidental_poly_dsyrk", _SYRK_SIG)


@njit(cache=True)
def gram_into(W, G):
    """G = W W^T in place by one SYRK (n^2 m flops, half a GEMM's); only the lower triangle
    of G (diagonal included) is written.

    Row-major W (n, m) is the column-major A (m, n), so W W^T = A^T A: Fortran SYRK with
    trans 'T' and uplo 'U' fills the upper triangle of column-major G, the lower one of
    row-major G. Every pair (i, j) is one dot product, so G is exactly symmetric.
    """
    n, m = W.shape
    flags = np.array([ord("U"), ord("T")], np.uint8)
    dims = np.array([n, m, m, n], np.int32)  # n, k, lda, ldc (BLAS int: 32-bit in scipy)
    coef = np.array([1.0, 0.0], W.dtype)  # alpha, beta
    syrk = (flags[0:].ctypes, flags[1:].ctypes, dims[0:].ctypes, dims[1:].ctypes,
            coef[0:].ctypes, W.ctypes, dims[2:].ctypes, coef[1:].ctypes, G.ctypes,
            dims[3:].ctypes)
    if W.itemsize == 4:
        _ssyrk(*syrk)
    else:
        _dsyrk(*syrk)


@njit(cache=True)
def dense_gradient(W, G, R, grad):
    """Fill G = W W^T (lower triangle), R = 4 x (T2) and grad = R W (T2) in place; return the
    summed squared error."""
    gram_into(W, G)  # BLAS SYRK: n^2 m flops
    sse = _residual_and_sse(G, R, 4.0)
    np.dot(R, W, grad)  # BLAS GEMM: 2 n^2 m flops
    return sse


@njit(cache=True)
def minibatch_gradient_into(W, batch, G, R, grad, masked, tmp):
    """grad = (2n/b)(D R W + R D W) for the inputs ``batch`` (eq. T3), in place; returns the
    full-batch summed squared error (G and R are full, so it comes for free)."""
    gram_into(W, G)
    sse = _residual_and_sse(G, R, 1.0)
    n, m = W.shape
    b = batch.shape[0]
    masked[:, :] = 0.0
    for a in range(b):
        i = batch[a]
        for k in range(m):
            masked[i, k] = W[i, k]
    np.dot(R, masked, grad)  # R D W (BLAS)
    np.dot(R, W, tmp)  # R W (BLAS); only the batch rows are used: D R W
    for a in range(b):
        i = batch[a]
        for k in range(m):
            grad[i, k] += tmp[i, k]
    scale = 2.0 * n / b
    for i in range(n):
        for k in range(m):
            grad[i, k] *= scale
    return sse


@njit(cache=True)
def _mapping_sq(w, g, lr, thr):
    """Squared entry of the prox-gradient mapping (W - soft(W - lr g, lr lam)) / lr (T6)."""
    d = w - _soft(w - lr * g, thr)
    return d * d  # the caller divides the sum by lr^2 once


# error_model="numpy": division by zero gives inf/nan (caught by the divergence checks)
# instead of a raise, which removes a branch per division and lets the loop vectorise.
@njit(cache=True, error_model="numpy")
def dense_update(opt, W, grad, M1, M2, t, lr, lam, beta1, beta2, eps, wd, want_res=True):
    """Apply one update rule (T5a-d) in place, given grad = gradient of the smooth loss.

    ``t`` is the 1-based AdamW step. For gd/sgd/adamw the mapping norm costs a second
    soft-threshold per weight, so it is skipped (returns 0) when ``want_res`` is False;
    prox-GD gets it for free. Returns ``lr^2`` times the squared Frobenius norm of
    the prox-gradient mapping at the pre-update W (T6), with the smooth gradient passed in.
    """
    n, m = W.shape
    thr = lr * lam
    res2 = 0.0
    if opt == OPT_PROX_GD:
        for i in range(n):
            for k in range(m):
                w = W[i, k]
                new = _soft(w - lr * grad[i, k], thr)
                d = w - new
                res2 += d * d
                W[i, k] = new
    elif opt == OPT_GD or opt == OPT_SGD:
        if want_res:
            for i in range(n):
                for k in range(m):
                    res2 += _mapping_sq(W[i, k], grad[i, k], lr, thr)
        for i in range(n):
            for k in range(m):
                w = W[i, k]
                W[i, k] = w - lr * (grad[i, k] + lam * _sign(w))
    else:  # AdamW, in the operation order of PyTorch's single-tensor implementation
        # The scalars in the weights' precision, so float32 weights get float32 arithmetic
        # as in torch (mixed float64 arithmetic also doubled the cost of this pass).
        c = np.empty(9, W.dtype)
        c[0] = 1.0 - lr * wd  # decoupled weight decay factor
        c[1] = 1.0 - beta1
        c[2] = beta2
        c[3] = 1.0 - beta2
        c[4] = lr / (1.0 - beta1**t)  # step size with bias correction 1
        c[5] = np.sqrt(1.0 - beta2**t)  # sqrt of bias correction 2
        c[6] = eps
        c[7] = lam
        c[8] = 0.0
        decay, one_b1, b2, one_b2, step_size, bc2_sqrt, eps_, lam_, zero = (
            c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8])
        if want_res:  # a separate pass: a reduction in the update loop blocks vectorization
            for i in range(n):
                for k in range(m):
                    res2 += _mapping_sq(W[i, k], grad[i, k], lr, thr)
        for i in range(n):
            for k in range(m):
                w = W[i, k]
                # lam sign(w) with sign(0) = 0 as torch.sign; selects, not branches
                g = grad[i, k] + (lam_ if w > zero else (-lam_ if w < zero else zero))
                w = w * decay
                mk = M1[i, k] + one_b1 * (g - M1[i, k])
                vk = M2[i, k] * b2 + one_b2 * g * g
                M1[i, k] = mk
                M2[i, k] = vk
                W[i, k] = w - step_size * (mk / (np.sqrt(vk) / bc2_sqrt + eps_))
    return res2


@njit(cache=True)
def _sparse_cost_estimate(W, G, col_count, row_count):
    """Scalar operations of one sparse prox-GD step at W: pair products sum_k c_k^2 plus
    gradient scatters sum_{G_ij > 0} nnz(W_j).

    See ``docs/dynamics/training.md#sparse-representation``.
    """
    n, m = W.shape
    col_count[:] = 0
    for i in range(n):
        c = 0
        for k in range(m):
            if W[i, k] != 0.0:
                col_count[k] += 1
                c += 1
        row_count[i] = c
    ops = 0.0
    for k in range(m):
        ops += col_count[k] * col_count[k]
    for i in range(n):  # G holds its lower triangle (gram_into); pair (i, j) counts both ways
        if G[i, i] > 0.0:
            ops += row_count[i]
        for j in range(i):
            if G[i, j] > 0.0:
                ops += row_count[i] + row_count[j]
    return ops


@njit(cache=True)
def noisy_gd_step(W, xi, lr, lam, H, R, grad):
    """One full-batch GD step with hidden-layer noise, in place (docs/theory/noise.md#setup).

    xi: (K, nx, m), the K draws of this step (nx = 1: one draw shared by all inputs).
    With P_ij = <h_i, W_j>, h_i = W_i + xi_i and R_ij = 2 (P_ij - delta_ij) 1[P_ij > 0],
    dL/dW_j = sum_i R_ij h_i + sum_k R_jk W_k; the step averages it over the draws and adds
    lam * sign(W) (sign(0) = 0). Returns the noisy summed squared error, averaged over draws.

    Plain loops, not BLAS: E2's sizes (n, m <= 64) are far below where a BLAS call beats its
    own dispatch overhead.
    """
    n, m = W.shape
    n_draws, nx, _ = xi.shape
    grad[:, :] = 0.0
    sse = 0.0
    for k in range(n_draws):
        for i in range(n):
            xrow = i if nx > 1 else 0
            for d in range(m):
                H[i, d] = W[i, d] + xi[k, xrow, d]
        for i in range(n):
            for j in range(n):
                p = 0.0
                for d in range(m):
                    p += W[j, d] * H[i, d]
                delta = 1.0 if i == j else 0.0
                if p > 0.0:
                    R[i, j] = 2.0 * (p - delta)
                    sse += (p - delta) * (p - delta)
                else:
                    R[i, j] = 0.0
                    sse += delta
        for i in range(n):
            for j in range(n):
                r = R[i, j]
                if r != 0.0:
                    for d in range(m):
                        grad[j, d] += r * H[i, d]
                        grad[i, d] += r * W[j, d]
    scale = lr / n_draws
    for i in range(n):
        for d in range(m):
            w0 = W[i, d]
            l1 = lam if w0 > 0.0 else (-lam if w0 < 0.0 else 0.0)
            W[i, d] = w0 - scale * grad[i, d] - lr * l1
    return sse / n_draws

