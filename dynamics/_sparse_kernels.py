"""Proximal-GD steps whose cost follows the live weights.

Derivation: docs/dynamics/training.md#sparse-representation.

Once most weights are exactly zero, a dense step still pays two n x n x m products. Here one
step of (T5a) costs

    O(n + m + z + sum_k r_k^2 + sum_{i != j, G_ij > 0} nnz(W_j))                  (S1)

for z live weights, r_k live features on neuron k, and one term per positive overlap: the
Gram matrix is built through the neurons, and the gradient of row i gathers only the rows
j with G_ij > 0, since R_ij = 0 otherwise (T2). The last term is what keeps revival exact:
a zero weight W_ik moves iff |4 (R W)_ik| > lam, and (R W)_ik has contributions only from
those rows.

Data layout. W lives in CSR (row pointers, column indices sorted within each row, values)
and a CSC index is rebuilt from it every step by a counting sort, O(m + z). Per row i the
kernel uses two dense scratch vectors, the Gram row (length n) and the gradient row
(length m), both cache-resident for the sizes of the paper (n = 256: 2 KiB; m = 4096:
32 KiB), reset through stamp arrays, never cleared in O(n m). The new W is written to a
second CSR (synchronous update), in canonical row-major order, so the summation order of
the next step is a function of W alone, whatever the chunking.

numba, not BLAS: the work is index arithmetic over short, irregular lists.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from dynamics._training_kernels import (
    DIVERGED_GROWTH,
    DIVERGED_NONFINITE,
    RUNNING,
    _soft,
    stop_status,
)

# Status returned when the live structure got too expensive and the caller should go dense.
SWITCH_TO_DENSE = -1


@njit(cache=True)
def dense_to_csr(W):
    """Row pointers, column indices and values of the nonzeros of W (n, m), row-major."""
    n, m = W.shape
    ptr = np.zeros(n + 1, np.int64)
    for i in range(n):
        c = 0
        for k in range(m):
            if W[i, k] != 0.0:
                c += 1
        ptr[i + 1] = ptr[i] + c
    z = ptr[n]
    cols = np.empty(max(z, 1), np.int64)
    vals = np.empty(max(z, 1), W.dtype)
    e = 0
    for i in range(n):
        for k in range(m):
            if W[i, k] != 0.0:
                cols[e] = k
                vals[e] = W[i, k]
                e += 1
    return ptr, cols, vals


@njit(cache=True)
def csr_to_dense(ptr, cols, vals, W):
    """Write the CSR matrix into W (n, m), zeros elsewhere."""
    n = W.shape[0]
    W[:, :] = 0.0
    for i in range(n):
        for e in range(ptr[i], ptr[i + 1]):
            W[i, cols[e]] = vals[e]


@njit(cache=True)
def _build_csc(ptr, cols, m, col_ptr, col_rows, col_pos, fill):
    """CSC index of the CSR pattern (rows ascending within each column): O(m + z).

    ``col_pos[c]`` is the CSR position of CSC entry c, so that values can be refreshed
    without rebuilding while the pattern stays the same.
    """
    n = ptr.size - 1
    col_ptr[:] = 0
    for e in range(ptr[n]):
        col_ptr[cols[e] + 1] += 1
    for k in range(m):
        col_ptr[k + 1] += col_ptr[k]
        fill[k] = col_ptr[k]
    for i in range(n):
        for e in range(ptr[i], ptr[i + 1]):
            k = cols[e]
            c = fill[k]
            col_rows[c] = i
            col_pos[c] = e
            fill[k] = c + 1


@njit(cache=True)
def _grow(a, need):
    if need <= a.size:
        return a
    b = np.empty(max(need, 2 * a.size), a.dtype)
    b[: a.size] = a
    return b


@njit(cache=True)
def live_prox_gd_steps(W, n_steps, lr, lam, tol, growth_limit, max_ops, out):
    """Run up to ``n_steps`` prox-GD steps (T5a) on W (n, m) in place, at cost (S1) per step.

    Same maths as ``dense_gradient`` + ``dense_update(OPT_PROX_GD)``; only the order of
    floating-point summation differs. After a step whose operation count (S1) exceeded
    ``max_ops`` the call returns with status ``SWITCH_TO_DENSE``, so that the caller
    continues with dense BLAS steps (``max_ops < 0``: never).

    ``out`` receives [steps taken, status, loss at the last step's input, mapping norm
    of the last step (T6), operations (S1) of the last step].
    """
    n, m = W.shape
    ptr, cols, vals = dense_to_csr(W)
    cap = max(cols.size, n)
    cols = _grow(cols, cap)
    vals = _grow(vals, cap)
    nptr = np.zeros(n + 1, np.int64)
    ncols = np.empty(cap, np.int64)
    nvals = np.empty(cap, W.dtype)
    col_ptr = np.zeros(m + 1, np.int64)
    col_rows = np.empty(cap, np.int64)
    col_pos = np.empty(cap, np.int64)
    col_vals = np.empty(cap, W.dtype)
    fill = np.empty(m, np.int64)
    pattern_changed = True
    g = np.zeros(n)  # Gram row i, valid where g_stamp == stamp
    g_stamp = np.full(n, -1, np.int64)
    nbr = np.empty(n, np.int64)
    acc = np.zeros(m)  # (R W)_i, valid where acc_stamp == stamp
    acc_stamp = np.full(m, -1, np.int64)
    touched = np.empty(m, np.int64)
    row_mark = np.full(m, -1, np.int64)  # row_mark[k] == stamp: W_ik is live
    rev_k = np.empty(m, np.int64)
    rev_v = np.empty(m)
    thr = lr * lam
    status = RUNNING
    loss = 0.0
    res = 0.0
    ops = 0.0
    step = 0
    stamp = 0
    while step < n_steps:
        z = ptr[n]
        if pattern_changed:
            if col_rows.size < z:
                col_rows = np.empty(2 * z, np.int64)
                col_pos = np.empty(2 * z, np.int64)
                col_vals = np.empty(2 * z, W.dtype)
            _build_csc(ptr, cols, m, col_ptr, col_rows, col_pos, fill)
            rk2 = 0.0
            for k in range(m):
                r = col_ptr[k + 1] - col_ptr[k]
                rk2 += r * r
        for c in range(z):
            col_vals[c] = vals[col_pos[c]]
        sse = 0.0
        l1 = 0.0
        ops = n + m + z + rk2
        for e in range(z):
            l1 += abs(vals[e])
        res2 = 0.0
        znew = 0
        for i in range(n):
            stamp += 1
            nptr[i] = znew
            a = ptr[i]
            b = ptr[i + 1]
            if a == b:
                sse += 1.0  # its diagonal output is 0 instead of 1 (T1)
                continue  # and its gradient is zero: it stays zero (a saddle of (T1))
            nn = 0
            for e in range(a, b):
                k = cols[e]
                w = vals[e]
                row_mark[k] = stamp
                for c in range(col_ptr[k], col_ptr[k + 1]):
                    # branch-free first touch: whether j was seen in this row is random, and
                    # a mispredicted branch per pair cost more than the pair itself
                    j = col_rows[c]
                    fresh = g_stamp[j] != stamp
                    nbr[nn] = j
                    nn += fresh
                    g_stamp[j] = stamp
                    g[j] = (0.0 if fresh else g[j]) + w * col_vals[c]
            nt = 0
            for q in range(nn):
                j = nbr[q]
                r = g[j]
                if j == i:
                    sse += (r - 1.0) * (r - 1.0) if r > 0.0 else 1.0
                elif r > 0.0:
                    sse += r * r
                    ops += ptr[j + 1] - ptr[j]
                if r <= 0.0:
                    continue
                if j == i:
                    r -= 1.0
                for e in range(ptr[j], ptr[j + 1]):
                    k = cols[e]
                    fresh = acc_stamp[k] != stamp
                    touched[nt] = k
                    nt += fresh
                    acc_stamp[k] = stamp
                    acc[k] = (0.0 if fresh else acc[k]) + r * vals[e]
            # revivals: zero weights of row i whose |gradient| 4 |(R W)_ik| beats lam
            nrev = 0
            for t in range(nt):
                k = touched[t]
                if row_mark[k] != stamp:
                    new = _soft(-lr * (4.0 * acc[k]), thr)
                    if new != 0.0:
                        rev_k[nrev] = k
                        rev_v[nrev] = new
                        nrev += 1
            if nrev > 1:
                order = np.argsort(rev_k[:nrev])
                rev_k[:nrev] = rev_k[:nrev][order]
                rev_v[:nrev] = rev_v[:nrev][order]
            need = znew + (b - a) + nrev
            if need > ncols.size:
                ncols = _grow(ncols, need)
                nvals = _grow(nvals, need)
            # merge the row's live entries (sorted) with the revived ones (sorted)
            p = 0
            for e in range(a, b):
                k = cols[e]
                while p < nrev and rev_k[p] < k:
                    ncols[znew] = rev_k[p]
                    nvals[znew] = rev_v[p]
                    res2 += rev_v[p] * rev_v[p]
                    znew += 1
                    p += 1
                w = vals[e]
                new = _soft(w - lr * (4.0 * acc[k]), thr)
                d = w - new
                res2 += d * d
                if new != 0.0:
                    ncols[znew] = k
                    nvals[znew] = new
                    znew += 1
            while p < nrev:
                ncols[znew] = rev_k[p]
                nvals[znew] = rev_v[p]
                res2 += rev_v[p] * rev_v[p]
                znew += 1
                p += 1
        nptr[n] = znew
        loss = sse + lam * l1  # at the step's input, as in the dense path
        if not np.isfinite(loss):
            status = DIVERGED_NONFINITE
            break  # W keeps the step's input
        if loss > growth_limit:
            status = DIVERGED_GROWTH
            break
        # the positions of the live entries are unchanged iff no weight died or revived
        pattern_changed = znew != z
        if not pattern_changed:
            for e in range(z):
                if ncols[e] != cols[e]:
                    pattern_changed = True
                    break
        ptr, nptr = nptr, ptr
        cols, ncols = ncols, cols
        vals, nvals = nvals, vals
        res = np.sqrt(res2) / lr
        step += 1
        status = stop_status(res, tol)
        if status != RUNNING:
            break
        if max_ops >= 0.0 and ops > max_ops:
            status = SWITCH_TO_DENSE  # the step was taken; the next one is cheaper dense
            break
    csr_to_dense(ptr, cols, vals, W)
    out[0] = step
    out[1] = status
    out[2] = loss
    out[3] = res
    out[4] = ops
