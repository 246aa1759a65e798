"""The ``euler`` solver: the authors' fixed-step scheme for the single-feature L1 flow.

x <- x + dt ((1 - ||x||^2) x - lam), then weights <= 0 are deleted; first order in dt
(docs/theory/sparsification.md#euler). A numba kernel does the stepping; a plain-numpy
reference of the same recursion is the tests' oracle.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from dynamics._sparsification_types import (
    STATUS_MESSAGES,
    SparsificationOptions,
    SparsificationResult,
    SparsificationStats,
)

# t_max / dt computed in float64 can fall just below a whole number of steps (0.3 / 0.1 is
# 2.9999999999999996): a shortfall below this many steps counts as the whole step. The
# rounding of t_max and dt is a few eps relative, i.e. < 1e-9 steps up to about 1e6 steps.
STEP_COUNT_SLACK = 1e-9


# numba, not numpy: each step touches every survivor twice (norm, update) and compacts the
# survivors in place; numpy would allocate three temporaries per step for 3e5+ steps.
@numba.njit(cache=True)
def euler_kernel(x, lam, dt, n_steps, rec_steps, rec_mp, rec_l1, rec_l2, rec_w, death_step):
    """Authors' Euler scheme in place on magnitudes x (all > 0 on entry).

    x_{n+1} = x_n + dt ((1 - ||x_n||^2) x_n - lam); entries <= 0 are deleted. Records the
    summaries at the steps ``rec_steps`` (ascending); rec_w has shape (R, m) or (0, m).
    death_step[k] receives the step at which original weight k was deleted (-1: alive).
    Returns (number of survivors at the end, step at which m' first reached <= 1 or -1).
    """
    n = x.size
    idx = np.arange(n)
    r = 0
    n_rec = rec_steps.size
    full_step = 0 if n <= 1 else -1
    for step in range(n_steps + 1):
        # record the state at this step
        while r < n_rec and rec_steps[r] == step:
            s1 = 0.0
            s2 = 0.0
            for i in range(n):
                s1 += x[i]
                s2 += x[i] * x[i]
            rec_mp[r] = n
            rec_l1[r] = s1
            rec_l2[r] = s2
            if rec_w.shape[0] > 0:
                for i in range(n):
                    rec_w[r, idx[i]] = x[i]
            r += 1
        if step == n_steps or n == 0:
            if n == 0:
                while r < n_rec:
                    rec_mp[r] = 0
                    rec_l1[r] = 0.0
                    rec_l2[r] = 0.0
                    r += 1
            break
        q = 0.0
        for i in range(n):
            q += x[i] * x[i]
        g = 1.0 - q
        j = 0
        for i in range(n):
            v = x[i] + dt * (g * x[i] - lam)
            if v > 0.0:
                x[j] = v
                idx[j] = idx[i]
                j += 1
            else:
                death_step[idx[i]] = step + 1
        n = j
        if full_step < 0 and n <= 1:
            full_step = step + 1
    return n, full_step


def euler_reference(x0, lam, dt, n_steps):
    """Plain-numpy oracle of :func:`euler_kernel`: final magnitudes (zeros for deleted)."""
    x = np.array(x0, dtype=np.float64)
    alive = x > 0
    for _ in range(n_steps):
        q = float(np.sum(x[alive] ** 2))
        x = np.where(alive, x + dt * ((1.0 - q) * x - lam), 0.0)
        alive = alive & (x > 0)
        x = np.where(alive, x, 0.0)
    return x


def integrate_euler(w0, lam, t_max, options: SparsificationOptions, t_eval):
    """Authors' fixed-step scheme (docs/paper.md#e1); first order in dt.

    Records at the step nearest each requested time. See docs/theory/sparsification.md#euler.
    """
    dt = options.dt
    m = w0.size
    n_steps = int(math.floor(t_max / dt + STEP_COUNT_SLACK))
    # nearest step to each requested time; repeats are allowed (several requests, one step)
    rec_steps = np.minimum(np.rint(t_eval / dt).astype(np.int64), n_steps)
    x0 = np.abs(w0)
    alive = np.flatnonzero(x0 > 0)
    x = x0[alive].copy()
    R = rec_steps.size
    rec_mp = np.zeros(R, np.int64)
    rec_l1 = np.zeros(R)
    rec_l2 = np.zeros(R)
    rec_w_alive = np.zeros((R, x.size) if options.record_weights else (0, x.size))
    death_step = np.full(x.size, -1, np.int64)
    _, full_step = euler_kernel(x, lam, dt, n_steps, rec_steps, rec_mp, rec_l1, rec_l2,
                                rec_w_alive, death_step)
    weights = None
    sign = np.sign(w0)
    if options.record_weights:
        weights = np.zeros((R, m))
        weights[:, alive] = rec_w_alive * sign[alive]
    death_times = None
    if options.record_deaths:
        death_times = np.full(m, math.inf)
        death_times[x0 == 0] = 0.0
        ds = death_step >= 0
        death_times[alive[ds]] = death_step[ds] * dt
    status = 1 if rec_mp[-1] == 0 and np.all(death_step >= 0) else 0
    n_deaths = int(m - rec_mp[-1]) if rec_steps[-1] == n_steps else int(np.sum(death_step >= 0))
    return SparsificationResult(
        t=rec_steps * dt,
        m_prime=rec_mp,
        l1=rec_l1,
        l2sq=rec_l2,
        weights=weights,
        death_times=death_times,
        t_full=full_step * dt if full_step >= 0 else math.inf,
        status=status,
        message=STATUS_MESSAGES[status],
        method="euler",
        stats=SparsificationStats(n_steps=n_steps, n_rhs=n_steps, n_deaths=n_deaths),
    )
