"""The ``ode`` solver: the full m-dimensional single-feature L1 flow with event location.

Eq. (1) of docs/theory/sparsification.md#setup on the survivors' magnitudes, integrated by
scipy's DOP853; every zero crossing is located on the solver's dense output and the crossed
weights are removed (docs/theory/sparsification.md#ode-deaths). The reference for ``exact``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.integrate import DOP853
from scipy.optimize import brentq

from dynamics._sparsification_types import (
    Recorder,
    SolverFailure,
    SparsificationOptions,
    SparsificationStats,
)

# Batch rule (docs/theory/sparsification.md#ode-deaths): the crossings of one step are all
# taken from its dense output, with one restart, when they perturb q by at most this fraction
# of rtol q; a tenth of the local error the step is already allowed.
BATCH_Q_FRACTION = 0.1
# Bisection of the batched crossings on [t_old, t_new]: the step is shorter than t_new, so 60
# halvings leave t_new 2^-60, below float64 resolution (2^-52 relative) of the death time.
BATCH_BISECTION_ITERATIONS = 60
# Brent's method on the first crossing: the smallest rtol brentq accepts (4 eps), and an
# absolute xtol of about 4.5 eps times max(1, t).
BRENTQ_RTOL = 4 * np.finfo(float).eps
BRENTQ_XTOL = 1e-15


class _SurvivorFlow:
    """Eq. (1) on the survivors' magnitudes y (all > 0): y' = (1 - ||y||^2) y - lam.

    Counts its evaluations over all restarts in ``nfev``.
    """

    def __init__(self, lam: float):
        self.lam = lam
        self.nfev = 0

    def __call__(self, t, y):
        self.nfev += 1
        return (1.0 - y @ y) * y - self.lam


class _OdeRecorder(Recorder):
    """Records the survivors' magnitudes y; ``alive`` maps them to the original weights."""

    def __init__(self, record_weights: bool, sign: np.ndarray):
        super().__init__(record_weights)
        self.sign = sign

    def push(self, t, y, alive):
        y = np.maximum(y, 0.0)  # a batched step may carry just-crossed weights (dead)
        w = None
        if self.record_weights:
            w = np.zeros(self.sign.size)
            w[alive] = self.sign[alive] * y
        self.append(t, int(np.count_nonzero(y)), float(y.sum()), float(y @ y), w)

    def push_all_dead(self, times):
        for tr in times:
            w = np.zeros(self.sign.size) if self.record_weights else None
            self.append(float(tr), 0, 0.0, 0.0, w)


def integrate_ode(w0, lam, t_max, options: SparsificationOptions, t_eval):
    """Full system (eq. (1)) on the survivors' magnitudes, DOP853, restarts at deaths.

    After each accepted step the survivors are checked for zero crossings; ordering is
    preserved (eq. (5)), so the smallest one is the next to die. Its crossing is located on
    the 7th-order dense output by Brent's method, the state is taken from the dense output at
    that time, the weight is removed and the solver restarts. When the crossings of one step
    perturb q by less than 0.1 rtol q (batch rule, docs/theory/sparsification.md#ode-deaths),
    all of them are located on the dense output and removed with a single restart.

    Raises :class:`SolverFailure` when DOP853 fails or the state stops being finite.
    """
    m = w0.size
    x0 = np.abs(w0)
    alive = np.flatnonzero(x0 > 0)
    # keep survivors sorted ascending so that index 0 is the next to die
    alive = alive[np.argsort(x0[alive], kind="stable")]
    x = x0[alive].copy()
    death_times = np.full(m, math.inf)
    death_times[x0 == 0] = 0.0
    n_steps = n_restarts = 0
    rtol = options.rtol
    flow = _SurvivorFlow(lam)
    rec = _OdeRecorder(options.record_weights, np.sign(w0))

    ri = 0  # next record index
    t = 0.0
    t_full = 0.0 if x.size <= 1 else math.inf
    status = 0
    while True:
        while ri < t_eval.size and t_eval[ri] <= t:
            if t_eval[ri] == t:
                rec.push(t, x, alive)
            ri += 1
        if x.size == 0:
            status = 1
            rec.push_all_dead(t_eval[ri:])
            break
        if t >= t_max:
            break
        solver = DOP853(flow, t, x, t_max, rtol=rtol, atol=options.atol,
                        max_step=options.max_step)
        n_restarts += 1
        died = False
        while solver.status == "running":
            msg = solver.step()
            n_steps += 1
            if solver.status == "failed":
                raise SolverFailure(f"DOP853 failed at t={solver.t:g}: {msg}")
            t_old, t_new = solver.t_old, solver.t
            y_new = solver.y
            if not np.all(np.isfinite(y_new)):
                raise SolverFailure(f"non-finite state at t={t_new:g}")
            dense = None
            crossing = np.flatnonzero(y_new <= 0.0) if y_new[0] <= 0.0 else np.empty(0, int)
            # Batch rule (docs/theory/sparsification.md#ode-deaths): inside this step the
            # crossed weights went on with -lam instead of stopping; their only effect on the
            # others is through q, polluted by sum y_new[k]^2 (exact: q is C^1 at a death).
            # If that is small against rtol q, all deaths of the step are taken from the dense
            # output without restarting at each; otherwise restart at the first death.
            batch = crossing.size > 0 and (
                float(y_new[crossing] @ y_new[crossing])
                <= BATCH_Q_FRACTION * rtol * float(y_new @ y_new)
            )
            if crossing.size and not batch:
                dense = solver.dense_output()
                t_d = _first_crossing(dense, t_old, t_new)
                t_hi = t_d
            else:
                t_hi = t_new
            # records inside (t_old, t_hi]; entries that crossed count as dead (clipped)
            while ri < t_eval.size and t_eval[ri] <= t_hi:
                if dense is None:
                    dense = solver.dense_output()
                rec.push(float(t_eval[ri]), dense(t_eval[ri]), alive)
                ri += 1
            if batch:
                if dense is None:
                    dense = solver.dense_output()
                td = _batched_crossings(dense, crossing, t_old, t_new)
                death_times[alive[crossing]] = td
                n_before = x.size
                keep = np.ones(x.size, bool)
                keep[crossing] = False
                alive = alive[keep]
                if not math.isfinite(t_full) and alive.size <= 1:
                    t_full = float(np.sort(td)[n_before - 2])
                x = y_new[keep]
                t = t_new
                died = True
                break
            if crossing.size:
                y_d = dense(t_d)
                # the crossing weight, plus exact ties, die at t_d
                kill = np.union1d(np.flatnonzero(y_d <= 0.0), [0])
                death_times[alive[kill]] = t_d
                keep = np.ones(x.size, bool)
                keep[kill] = False
                alive = alive[keep]
                x = y_d[keep]
                t = t_d
                if x.size <= 1 and not math.isfinite(t_full):
                    t_full = t_d
                died = True
                break
            t, x = t_new, y_new
        if not died and solver.status == "finished":
            t, x = float(solver.t), solver.y
            while ri < t_eval.size and t_eval[ri] <= t:
                rec.push(float(t_eval[ri]), x, alive)
                ri += 1
            break
    n_deaths = int(np.count_nonzero(np.isfinite(death_times)))
    stats = SparsificationStats(n_steps=n_steps, n_rhs=flow.nfev, n_restarts=n_restarts,
                                n_deaths=n_deaths)
    return rec.result(death_times=death_times if options.record_deaths else None,
                      t_full=t_full, status=status, method="ode", stats=stats)


def _first_crossing(dense, t_old, t_new) -> float:
    """Time in [t_old, t_new] where the smallest survivor (component 0) crosses zero."""
    return brentq(lambda s: dense(s)[0], t_old, t_new,
                  xtol=BRENTQ_XTOL * max(1.0, t_new), rtol=BRENTQ_RTOL)


def _batched_crossings(dense, crossing, t_old, t_new) -> np.ndarray:
    """Crossing time of each component ``crossing`` on the step's dense output (bisection).

    ``dense`` is evaluated at a vector of times, one per crossing component, and component i
    is read at its own time: O(m k) per evaluation for k crossings among m survivors, through
    scipy's public dense-output interface. The loop stops early once no interval changes,
    because the same (lo, hi) then give the same midpoints for ever.
    """
    cols = np.arange(crossing.size)
    lo = np.full(crossing.size, t_old)
    hi = np.full(crossing.size, t_new)
    for _ in range(BATCH_BISECTION_ITERATIONS):
        mid = 0.5 * (lo + hi)
        pos = dense(mid)[crossing, cols] > 0.0
        new_lo = np.where(pos, mid, lo)
        new_hi = np.where(pos, hi, mid)
        if np.array_equal(new_lo, lo) and np.array_equal(new_hi, hi):
            break
        lo, hi = new_lo, new_hi
    return 0.5 * (lo + hi)
