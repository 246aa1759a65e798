"""The ``exact`` solver: the affine reduction of the single-feature L1 flow, integrated in the cut.

docs/theory/sparsification.md#affine-reduction: every living magnitude is
|w_k(t)| = e^{A(t)} (|w_k(0)| - c(t)) (eq. (3)), so the m-dimensional flow is two scalar ODEs
in the cut c (eq. (6)), weight k dies exactly when c reaches |w_k(0)| (eq. (5)), and
S(c) = sum_k (|w_k(0)| - c)_+^2 costs O(log m) from sorted prefix sums (eq. (4)).

The run has two stages:

1. in c, from 0 to the second-largest magnitude (the top group splits off: t_full) or to the
   cut where t reaches t_max. A loose pilot pass locates the cuts of the record times; an
   accurate pass integrates segment by segment between those cuts and the last
   ``segment_deaths`` death cuts (:func:`_integrate_in_cut`);
2. in t, the tied top group alone, x' = (1 - n_top x^2) x - lam (eq. (8),
   :func:`_top_group_stage`), because dt/dc diverges as c approaches the largest magnitude.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp

from dynamics._sparsification_types import (
    Recorder,
    SolverFailure,
    SparsificationOptions,
    SparsificationStats,
)

# Below this many survivors S(c) is summed directly instead of from prefix sums: the prefix
# form P2 - 2 c P1 + n c^2 cancels when the survivors are few and close to c, while the direct
# sum costs at most this many flops per right-hand side (docs/theory/sparsification.md, eq. (4)).
DIRECT_SUM_MAX = 32
# Pilot tolerances: the pilot only places the record cuts and the t_max cut; the recorded
# state is integrated accurately to that cut, so pilot error moves a record's time by about
# PILOT_RTOL relative, never its accuracy (docs/theory/sparsification.md#decisions, 3).
# PILOT_ATOL keeps the default ratio atol / rtol = 1e-3 of SparsificationOptions.
PILOT_RTOL = 1e-7
PILOT_ATOL = 1e-10
# Bisection of the pilot's monotone t(c) on [0, c_end]: 64 halvings leave an interval
# c_end 2^-64, below float64 resolution (2^-52 relative) of every cut above c_end 2^-12.
CUT_BISECTION_ITERATIONS = 64


class SortedMagnitudes:
    """Magnitudes sorted descending with prefix sums: n(c), S(c), sum_(x>c)(x - c) in O(log m).

    S(c) = sum_k (x_k - c)_+^2 = P2[n] - 2 c P1[n] + n c^2 with n = #{x_k > c} and P1, P2 the
    prefix sums of the n largest (docs/theory/sparsification.md#affine-reduction, eq. (4)).
    Prefix sums run from the largest down so that the last few survivors are summed exactly.
    """

    def __init__(self, x_desc: np.ndarray):
        self.neg = -x_desc  # ascending, for searchsorted
        self.top = np.ascontiguousarray(x_desc[:DIRECT_SUM_MAX])
        self.p1 = np.empty(x_desc.size + 1)
        self.p1[0] = 0.0
        np.cumsum(x_desc, out=self.p1[1:])
        self.p2 = np.empty(x_desc.size + 1)
        self.p2[0] = 0.0
        np.cumsum(np.square(x_desc), out=self.p2[1:])

    def sums(self, c: float) -> tuple[int, float, float]:
        """(n, sum (x-c)_+, sum (x-c)_+^2) at one cut c."""
        n = int(np.searchsorted(self.neg, -c, side="left"))
        if n <= DIRECT_SUM_MAX:
            d = self.top[:n] - c
            return n, float(d.sum()), float(d @ d)
        s1 = self.p1[n] - n * c
        s2 = self.p2[n] - 2.0 * c * self.p1[n] + n * c * c
        return n, s1, max(s2, 0.0)


class _CutFlow:
    """Eq. (6), y = (A, t) as functions of the cut c:
    dA/dc = e^A (1 - e^{2A} S(c)) / lam,   dt/dc = e^A / lam."""

    def __init__(self, sm: SortedMagnitudes, lam: float):
        self.sm = sm
        self.lam = lam

    def rhs(self, c, y):
        _, _, s2 = self.sm.sums(c)
        ea = math.exp(y[0])
        return np.array([ea * (1.0 - ea * ea * s2) / self.lam, ea / self.lam])

    def jac(self, c, y):
        _, _, s2 = self.sm.sums(c)
        ea = math.exp(y[0])
        return np.array([[(ea - 3.0 * ea**3 * s2) / self.lam, 0.0], [ea / self.lam, 0.0]])


class _TopGroupFlow:
    """Eq. (8): n_top tied magnitudes x, x' = (1 - n_top x^2) x - lam."""

    def __init__(self, n_top: int, lam: float):
        self.n_top = n_top
        self.lam = lam

    def rhs(self, t, x):
        return (1.0 - self.n_top * x * x) * x - self.lam

    def jac(self, t, x):
        return np.array([[1.0 - 3.0 * self.n_top * x[0] ** 2]])


class _ReachesTime:
    """Terminal event of solve_ivp in c: t(c) reaches ``t_stop``."""

    terminal = True

    def __init__(self, t_stop: float):
        self.t_stop = t_stop

    def __call__(self, c, y):
        return y[1] - self.t_stop


def _weight_dies(t, x):
    """Terminal event of the top-group stage: the tied magnitude reaches 0 from above."""
    return x[0]


_weight_dies.terminal = True
_weight_dies.direction = -1


@dataclass
class _Work:
    """Work counters summed over all solve_ivp calls."""

    n_steps: int = 0
    n_rhs: int = 0
    n_jac: int = 0
    n_restarts: int = 0

    def add(self, sol, restart: bool = True):
        self.n_steps += sol.t.size - 1
        self.n_rhs += sol.nfev
        self.n_jac += sol.njev
        self.n_restarts += int(restart)


@dataclass
class _Problem:
    """The sorted initial magnitudes and what the stages need from them.

    x0: float64 [m] magnitudes |w0|; sign: float64 [m] signs of w0;
    order: int [m] indices of x0 sorted descending (stable); x_desc: float64 [m_pos] the
    positive magnitudes, descending; n_top: size of the tied top group; c_end: the cut where
    the top group is all that is left (x_desc[n_top], 0 if nothing is below the top group).
    """

    x0: np.ndarray
    sign: np.ndarray
    order: np.ndarray
    x_desc: np.ndarray
    sm: SortedMagnitudes
    n_top: int
    c_end: float

    @property
    def m(self) -> int:
        return self.x0.size

    @property
    def m_pos(self) -> int:
        return self.x_desc.size


def _sort_magnitudes(w0: np.ndarray) -> _Problem:
    x0 = np.abs(w0)
    order = np.argsort(-x0, kind="stable")
    x_desc = x0[order]
    m_pos = int(np.count_nonzero(x_desc > 0))
    x_desc = x_desc[:m_pos]
    # the top group: all magnitudes tied with the largest stay tied forever (eq. (5)); with one
    # weight on top, t_full is reached when c = x_(2), else the group never splits
    n_top = int(np.count_nonzero(x_desc == x_desc[0])) if m_pos else 0
    c_end = x_desc[n_top] if m_pos > n_top else 0.0
    return _Problem(x0, np.sign(w0), order, x_desc, SortedMagnitudes(x_desc), n_top, c_end)


@dataclass
class _CutStage:
    """Outcome of stage 1, the integration in c.

    reached_full: the cut reached c_end (the top group split off) before t_max.
    t_pilot_end: t at the end of the pilot pass.
    c_rec: float64 [R1] accurate cuts of the record times inside stage 1.
    seg_c, seg_y: float64 [B], [B, 2] breakpoints and the exact (A, t) there (seg_c[0] = 0).
    """

    reached_full: bool
    t_pilot_end: float
    c_rec: np.ndarray
    seg_c: np.ndarray
    seg_y: np.ndarray

    @property
    def c_stop(self) -> float:
        return float(self.seg_c[-1])

    @property
    def y_stop(self) -> np.ndarray:
        return self.seg_y[-1]


def _no_cut_stage() -> _CutStage:
    """Stage 1 when nothing lies below the top group: the top group is alone from t = 0."""
    return _CutStage(True, 0.0, np.empty(0), np.zeros(1), np.zeros((1, 2)))


def integrate_exact(w0, lam, t_max, options: SparsificationOptions, t_eval):
    """Affine reduction (docs/theory/sparsification.md#affine-reduction, eqs. (3)-(6)).

    With c = lam B as the independent variable (c increases: dc/dt = lam e^{-A} > 0),
        dA/dc = e^A (1 - e^{2A} S(c)) / lam,   dt/dc = e^A / lam,        eq. (6)
    weight k dies exactly when c reaches |w_k(0)|, so deaths cost nothing. Integration in c
    runs to the second-largest magnitude (t_full); the last weight then follows the scalar
    ODE x' = (1 - x^2) x - lam in t (eq. (8)).

    Raises :class:`SolverFailure` when an integration fails.
    """
    p = _sort_magnitudes(w0)
    flow = _CutFlow(p.sm, lam)
    work = _Work()
    if p.m_pos > p.n_top:
        stage = _integrate_in_cut(flow, p, t_max, t_eval, options, work)
    else:
        stage = _no_cut_stage()
    t_full = _t_full_after_cut_stage(p, stage)
    # stage 2 starts when the top group is alone
    t_group = float(stage.y_stop[1]) if (p.m_pos > p.n_top and stage.reached_full) else 0.0

    rec = Recorder(options.record_weights)
    _record_cut_stage(rec, p, stage, t_eval, t_group)

    status = 0
    t_all_dead = math.inf
    if p.m_pos == 0:  # every weight is zero from the start
        status = 1
        t_all_dead = 0.0
        for tb in t_eval[t_eval > 0]:
            _record_cut(rec, p, 0.0, 0.0, float(tb))
    if p.m_pos >= 1 and stage.reached_full and t_group < t_max:
        t_all_dead = _top_group_stage(rec, p, lam, stage, t_group, t_max, t_eval, options, work)
        if math.isfinite(t_all_dead):
            status = 1
            t_full = min(t_full, t_all_dead)  # m' drops from n_top to 0

    death_times = None
    if options.record_deaths:
        death_times = _death_times(flow, p, stage, t_all_dead, options)

    n_deaths = int(p.m - (rec.m_prime[-1] if rec.m_prime else p.m_pos))
    stats = SparsificationStats(n_steps=work.n_steps, n_rhs=work.n_rhs, n_jac=work.n_jac,
                                n_restarts=work.n_restarts, n_deaths=n_deaths)
    return rec.result(death_times=death_times, t_full=t_full, status=status, method="exact",
                      stats=stats)


def _t_full_after_cut_stage(p: _Problem, stage: _CutStage) -> float:
    """t_full as known after stage 1: 0 when m' <= 1 from the start; the time the cut reaches
    c_end when one weight is on top; else inf (t_max came first, or a tied top group that
    never splits: stage 2 lowers it if the group dies)."""
    if p.m_pos <= 1:
        return 0.0
    if p.n_top == 1 and stage.reached_full:
        return float(stage.y_stop[1])
    return math.inf


# --------------------------------------------------------------------------------------------
# stage 1: in the cut c
# --------------------------------------------------------------------------------------------


def _integrate_in_cut(flow, p: _Problem, t_max, t_eval, options, work) -> _CutStage:
    """Stage 1: pilot pass, record cuts, breakpoints, then the accurate segments."""
    pilot = _pilot_pass(flow, p.c_end, t_max, options.max_step, work)
    c_pilot_end = float(pilot.t[-1])
    t_pilot_end = float(pilot.y[1, -1])
    reached_full = pilot.status == 0
    c_rec = _record_cuts(pilot.sol, t_eval[(t_eval > 0) & (t_eval < t_pilot_end)], c_pilot_end)
    if not reached_full and t_eval[-1] >= t_pilot_end:
        c_rec = np.append(c_rec, c_pilot_end)  # the record at t_max is the stop cut
    stop = p.c_end if reached_full else c_pilot_end
    bps = _breakpoints(c_rec, p.x_desc, options.segment_deaths, c_pilot_end, stop)
    return _accurate_segments(flow, p.c_end, bps, stop, reached_full, t_max, c_rec,
                              t_pilot_end, options, work)


def _pilot_pass(flow, c_end, t_max, max_step, work):
    """Loose pass in c from 0 to c_end or to t = t_max, with a dense output of t(c)."""
    pilot = solve_ivp(
        flow.rhs, (0.0, c_end), np.zeros(2), method="Radau", jac=flow.jac, rtol=PILOT_RTOL,
        atol=PILOT_ATOL, events=_ReachesTime(t_max), dense_output=True, max_step=max_step,
    )
    work.add(pilot, restart=False)
    if pilot.status < 0:
        raise SolverFailure(f"pilot integration failed: {pilot.message}")
    return pilot


def _record_cuts(t_of_c, t_in: np.ndarray, c_hi: float) -> np.ndarray:
    """Cuts where the pilot's monotone t(c) reaches the times ``t_in`` (vectorized bisection)."""
    lo = np.zeros_like(t_in)
    hi = np.full_like(t_in, c_hi)
    for _ in range(CUT_BISECTION_ITERATIONS if t_in.size else 0):
        mid = 0.5 * (lo + hi)
        below = t_of_c(mid)[1] < t_in
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    return 0.5 * (lo + hi)


def _breakpoints(c_rec, x_desc, segment_deaths, c_pilot_end, stop) -> np.ndarray:
    """Cuts where the accurate pass stops: record cuts, the last ``segment_deaths`` death cuts
    that the pilot reached, and the stop cut; sorted, in (0, stop]."""
    k_seg = min(segment_deaths, x_desc.size - 1)
    death_cuts = x_desc[1 : 1 + k_seg] if k_seg > 0 else np.empty(0)
    death_cuts = death_cuts[death_cuts < c_pilot_end]
    bps = np.unique(np.concatenate([c_rec, death_cuts, [stop]]))
    return bps[(bps > 0) & (bps <= stop)]


def _accurate_segments(flow, c_end, bps, stop, reached_full, t_max, c_rec, t_pilot_end,
                       options, work) -> _CutStage:
    """Integrate at the requested tolerance from breakpoint to breakpoint.

    The stop cut at t_max comes from the loose pilot; the last segment relocates it with its
    own event, so that the last record is at t_max, never beyond it. ``c_rec`` is updated in
    place to the relocated stop cut.
    """
    reaches_t_max = _ReachesTime(t_max)
    c_cur, y_cur = 0.0, np.zeros(2)
    seg_c, seg_y = [0.0], [y_cur.copy()]
    for b in bps:
        to_t_max = not reached_full and b == stop
        sol = solve_ivp(
            flow.rhs, (c_cur, c_end if to_t_max else b), y_cur, method="Radau", jac=flow.jac,
            rtol=options.rtol, atol=options.atol, max_step=options.max_step,
            events=reaches_t_max if to_t_max else None,
        )
        work.add(sol)
        if sol.status < 0 or not np.all(np.isfinite(sol.y[:, -1])):
            raise SolverFailure(f"integration in c failed at c={c_cur:g}: {sol.message}")
        c_cur, y_cur = float(b), sol.y[:, -1].copy()
        if to_t_max and sol.status == 1:
            c_cur, y_cur = float(sol.t_events[0][0]), sol.y_events[0][0].copy()
            y_cur[1] = min(y_cur[1], t_max)  # the root is at t_max up to rounding
            c_rec[c_rec == b] = c_cur
        elif to_t_max:
            reached_full = True  # the accurate flow splits the top just before t_max
            c_cur = c_end
        seg_c.append(c_cur)
        seg_y.append(y_cur.copy())
    return _CutStage(reached_full, t_pilot_end, c_rec, np.array(seg_c), np.array(seg_y))


# --------------------------------------------------------------------------------------------
# records
# --------------------------------------------------------------------------------------------


def _record_cut(rec: Recorder, p: _Problem, c, a, t):
    """Record the state at cut c with A = a, at time t (eqs. (3), (4))."""
    n, s1, s2 = p.sm.sums(c)
    ea = math.exp(a)
    w = p.sign * ea * np.maximum(p.x0 - c, 0.0) if rec.record_weights else None
    rec.append(t, n, ea * s1, ea * ea * s2, w)


def _record_cut_stage(rec, p, stage: _CutStage, t_eval, t_group):
    """Records at t = 0 and at the record cuts; requests after the last split belong to the
    top-group stage."""
    if t_eval[0] == 0.0:
        _record_cut(rec, p, 0.0, 0.0, 0.0)
    rec_mask = np.isin(stage.seg_c, stage.c_rec)
    for c, y in zip(stage.seg_c[rec_mask], stage.seg_y[rec_mask], strict=True):
        if not stage.reached_full or (float(y[1]) < t_group and c < p.c_end):
            _record_cut(rec, p, c, y[0], float(y[1]))


def _record_top(rec: Recorder, p: _Problem, t, x):
    """Record the tied top group: n_top equal magnitudes x (all dead when x = 0)."""
    alive = p.n_top if x > 0 else 0
    w = None
    if rec.record_weights:
        top = p.order[: p.n_top]
        w = np.zeros(p.m)
        w[top] = p.sign[top] * x
    rec.append(t, alive, alive * x, alive * x * x, w)


# --------------------------------------------------------------------------------------------
# stage 2: the top group in t
# --------------------------------------------------------------------------------------------


def _top_group_stage(rec, p: _Problem, lam, stage: _CutStage, t_start, t_max, t_eval,
                     options, work) -> float:
    """Stage 2: the n_top tied weights, x' = (1 - n_top x^2) x - lam (eq. (8)), from t_start.

    Records every requested time after t_start; returns the time the group dies (inf if it
    survives t_max).
    """
    n_top = p.n_top
    x_start = (p.x_desc[0] if p.m_pos == n_top
               else math.exp(stage.y_stop[0]) * (p.x_desc[0] - p.x_desc[n_top]))
    t2 = t_eval[t_eval > t_start]
    bounds = t2 if (t2.size and t2[-1] == t_max) else np.append(t2, t_max)

    # requests between the pilot's and the accurate t_full (a pilot-tolerance sliver) are
    # recorded at t_full itself, the time of the recorded state
    for _ in t_eval[(t_eval > 0) & (t_eval >= stage.t_pilot_end) & (t_eval <= t_start)]:
        _record_top(rec, p, t_start, x_start)

    flow = _TopGroupFlow(n_top, lam)
    t_cur, x_cur = t_start, x_start
    for tb in bounds:
        sol = solve_ivp(flow.rhs, (t_cur, tb), [x_cur], method="Radau", jac=flow.jac,
                        rtol=options.rtol, atol=options.atol, events=_weight_dies)
        work.add(sol)
        if sol.status < 0:
            raise SolverFailure(f"one-weight stage failed: {sol.message}")
        if sol.status == 1:
            t_all_dead = float(sol.t_events[0][0])
            for tr in t2[t2 >= t_all_dead]:
                _record_top(rec, p, float(tr), 0.0)
            return t_all_dead
        t_cur, x_cur = float(tb), float(sol.y[0, -1])
        if tb in t2:
            _record_top(rec, p, t_cur, x_cur)
    return math.inf


# --------------------------------------------------------------------------------------------
# death times
# --------------------------------------------------------------------------------------------


def _death_times(flow, p: _Problem, stage: _CutStage, t_all_dead, options) -> np.ndarray:
    """Time each weight dies: 0 for zeros, inf for survivors (eq. (5): weight k dies at cut
    |w_k(0)|). Deaths on breakpoints are read there (exact); the others are integrated to."""
    death_times = np.full(p.m, math.inf)
    death_times[p.order[p.m_pos :]] = 0.0
    if p.m_pos > p.n_top:
        pos = np.arange(1, p.m_pos)
        pos = pos[p.x_desc[pos] <= stage.c_stop][::-1]  # ascending cut = ascending death time
        kill = p.x_desc[pos]
        exact_t = dict(zip(stage.seg_c.tolist(), stage.seg_y[:, 1].tolist(), strict=True))
        tk = np.array([exact_t.get(c, np.nan) for c in kill.tolist()])
        miss = np.isnan(tk)
        if np.any(miss):
            tk[miss] = _times_at_cuts(flow, stage.seg_c, stage.seg_y, kill[miss], options)
        death_times[p.order[pos]] = tk
    if math.isfinite(t_all_dead):
        death_times[p.order[: p.n_top]] = t_all_dead
    return death_times


def _times_at_cuts(flow, seg_c, seg_y, targets, options) -> np.ndarray:
    """Times at cuts ``targets`` (sorted ascending) by integrating from the nearest breakpoint.

    Each target is integrated to exactly (Radau's dense output is only 3rd order), one short
    solve_ivp per target: about a millisecond each, so record_deaths is meant for m <~ 1e5.
    """
    out = np.empty(targets.size)
    idx = np.searchsorted(seg_c, targets, side="right") - 1
    for j in np.unique(idx):
        sel = idx == j
        c_cur, y_cur = seg_c[j], seg_y[j]
        ts = []
        for c in targets[sel]:
            if c > c_cur:
                sol = solve_ivp(flow.rhs, (c_cur, c), y_cur, method="Radau", rtol=options.rtol,
                                atol=options.atol)
                if sol.status < 0:
                    raise SolverFailure(f"death-time integration failed: {sol.message}")
                c_cur, y_cur = c, sol.y[:, -1]
            ts.append(y_cur[1])
        out[sel] = ts
    return out
