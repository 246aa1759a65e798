"""Single-feature sparsification under L1: the interference-free gradient flow of one encoding.

Normalized units (PAPER.md 2.2): for one feature with encoding w in R^m,

    dw_k/dt = (1 - ||w||^2) w_k - lam sign(w_k),      a weight that reaches 0 stays 0.

Three solvers share one entry point, :func:`integrate_sparsification`:

* ``"euler"``  the authors' scheme (fixed dt, weights <= 0 deleted); numba kernel.
* ``"ode"``    the full m-dimensional system, scipy DOP853 with exact event location at
               every zero crossing (the state shrinks as weights die).
* ``"exact"``  the affine reduction of docs/theory/sparsification.md#affine-reduction:
               |w_k(t)| = e^{A(t)} (|w_k(0)| - c(t)), so the flow is two scalar ODEs
               integrated in the cut c (deaths happen at known c, eq. (5)); S(c) is
               evaluated in O(log m) from sorted prefix sums (eq. (4)).

All three return the same frozen :class:`SparsificationResult`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numba
import numpy as np
from scipy.integrate import DOP853, solve_ivp
from scipy.integrate._ivp.rk import Dop853DenseOutput

__all__ = [
    "SparsificationOptions",
    "SparsificationResult",
    "SparsificationStats",
    "integrate_sparsification",
]

METHODS = ("exact", "ode", "euler")

# A single surviving weight has a stable fixed point iff x(1 - x^2) = lam has a positive root
# above the unstable one, i.e. lam < max_x x(1 - x^2) = 2 / (3 sqrt 3)
# (docs/theory/sparsification.md#fixed-point).
LAM_MAX = 2.0 / (3.0 * math.sqrt(3.0))
# Tolerances tighter than this many machine epsilons cannot be met in float64 (scipy's rule).
MIN_RTOL = 100 * np.finfo(float).eps
# Below this many survivors S(c) is summed directly instead of from prefix sums (precision).
DIRECT_SUM_MAX = 32
# Memory guard for record_weights: at most this many float64 entries in the weights record.
MAX_WEIGHT_RECORD = 50_000_000


@dataclass(frozen=True)
class SparsificationOptions:
    """Options of :func:`integrate_sparsification` (all keyword, all with safe defaults).

    Attributes:
        rtol, atol: local error tolerances of the ``ode`` and ``exact`` integrators
            (default 1e-10, 1e-13). How to choose: the defaults are safe for float64; results
            (times, ||w||_1, m') then agree between ``ode`` and ``exact`` to a few hundred rtol.
            Tolerances below 100 eps are clamped with a warning. ``atol`` is absolute in weight
            units (weights are O(1/sqrt m) at start) and in units of A for ``exact``.
        dt: time step of ``euler`` (the authors used 0.5). Ignored by the other methods.
        t_eval: times at which to record (sorted, in [0, t_max]); ``None`` gives 0 plus
            ``n_records`` log-spaced times in [min(1, t_max), t_max]. ``euler`` records at the
            nearest step; ``exact`` records at a time equal to the request up to its pilot
            tolerance (the reported ``t`` is the time of the recorded state, to rtol).
        n_records: number of log-spaced record times when ``t_eval`` is None.
        record_weights: also return the full signed weight vectors at every record time.
        record_deaths: also return the death time of every weight (inf: alive at the end).
        segment_deaths: ``exact`` integrates the last ``segment_deaths`` deaths segment by
            segment (so that S(c) is a polynomial inside each segment); the bulk before them
            is integrated across its (C^1) kinks under error control.
        max_step: largest step of the integrators (in t for ``ode``, in c for ``exact``).
        throw: raise ``RuntimeError`` on solver failure (default). With ``False`` the
            failure is reported in ``status``/``message`` instead (for sweeps).
    """

    rtol: float = 1e-10
    atol: float = 1e-13
    dt: float = 0.5
    t_eval: tuple[float, ...] | None = None
    n_records: int = 64
    record_weights: bool = False
    record_deaths: bool = False
    segment_deaths: int = 64
    max_step: float = math.inf
    throw: bool = True


@dataclass(frozen=True)
class SparsificationStats:
    """Work counters: accepted steps, right-hand-side and Jacobian evaluations, restarts."""

    n_steps: int = 0
    n_rhs: int = 0
    n_jac: int = 0
    n_restarts: int = 0
    n_deaths: int = 0


# status codes, scipy style
STATUS_MESSAGES = {
    0: "reached t_max",
    1: "all weights died before t_max",
    -1: "integration failed",
}


@dataclass(frozen=True)
class SparsificationResult:
    """Trajectory record shared by all methods.

    Attributes (R = number of record times, m = number of weights):
        t: float64 [R], record times.
        m_prime: int64 [R], number of nonzero weights m'(t).
        l1: float64 [R], ||w(t)||_1.
        l2sq: float64 [R], ||w(t)||_2^2.
        weights: float64 [R, m] signed weights (zeros for dead ones), or None.
        death_times: float64 [m], time each weight reached 0 (inf if alive; 0 if w_k(0)=0),
            or None.
        t_full: first time m' reaches 1 (inf if not reached by t_max; 0 if m' <= 1 at t=0).
        status: 0 reached t_max, 1 all weights died, -1 failed (see ``message``).
        method: "exact", "ode" or "euler".
        stats: work counters.
    """

    t: np.ndarray
    m_prime: np.ndarray
    l1: np.ndarray
    l2sq: np.ndarray
    weights: np.ndarray | None
    death_times: np.ndarray | None
    t_full: float
    status: int
    message: str
    method: str
    stats: SparsificationStats = field(default_factory=SparsificationStats)


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------


def _validate(w0, lam, t_max, method, options):
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if options is None:
        options = SparsificationOptions()
    if not isinstance(options, SparsificationOptions):
        raise ValueError("options must be a SparsificationOptions instance")
    w0 = np.asarray(w0)
    if w0.ndim != 1 or w0.size == 0:
        raise ValueError(f"w0 must be a non-empty 1-D array of weights, got shape {w0.shape}")
    if not np.issubdtype(w0.dtype, np.number):
        raise ValueError("w0 must be numeric")
    w0 = w0.astype(np.float64, copy=False)
    if not np.all(np.isfinite(w0)):
        raise ValueError("w0 must be finite (found NaN or inf)")
    lam = float(lam)
    if not (0.0 < lam < LAM_MAX):
        raise ValueError(
            f"lam must be in (0, {LAM_MAX:.6f}) (above 2/(3 sqrt 3) no weight survives), got {lam}"
        )
    t_max = float(t_max)
    if not (math.isfinite(t_max) and t_max > 0):
        raise ValueError(f"t_max must be finite and > 0, got {t_max}")
    if not (options.rtol > 0 and options.atol > 0):
        raise ValueError("options.rtol and options.atol must be > 0")
    if options.rtol < MIN_RTOL:
        import warnings

        warnings.warn(
            f"rtol {options.rtol:g} below 100 eps cannot be met in float64; using {MIN_RTOL:g}",
            stacklevel=3,
        )
        options = SparsificationOptions(**{**options.__dict__, "rtol": MIN_RTOL})
    if method == "euler" and not (0 < options.dt and math.isfinite(options.dt)):
        raise ValueError(f"options.dt must be finite and > 0, got {options.dt}")
    if method == "euler" and options.dt > 1.0:
        # the linearized decay rate of ||w||^2 is 2; Euler is unstable above dt = 1
        raise ValueError(f"options.dt must be <= 1 (Euler is unstable above 1), got {options.dt}")
    if options.n_records < 1:
        raise ValueError("options.n_records must be >= 1")
    if options.segment_deaths < 0:
        raise ValueError("options.segment_deaths must be >= 0")
    if not options.max_step > 0:
        raise ValueError("options.max_step must be > 0")
    if options.t_eval is None:
        lo = min(1.0, t_max)
        t_eval = np.unique(np.concatenate([[0.0], np.geomspace(lo, t_max, options.n_records)]))
    else:
        t_eval = np.asarray(options.t_eval, dtype=np.float64).ravel()
        if t_eval.size == 0 or not np.all(np.isfinite(t_eval)):
            raise ValueError("options.t_eval must be a non-empty sequence of finite times")
        if np.any(np.diff(t_eval) <= 0) or t_eval[0] < 0 or t_eval[-1] > t_max:
            raise ValueError("options.t_eval must be strictly increasing within [0, t_max]")
    if options.record_weights and t_eval.size * w0.size > MAX_WEIGHT_RECORD:
        raise ValueError(
            f"record_weights needs {t_eval.size} x {w0.size} entries > {MAX_WEIGHT_RECORD}; "
            "record fewer times or do not record weights"
        )
    return w0, lam, t_max, options, t_eval


def _fail(options, method, msg):
    if options.throw:
        raise RuntimeError(f"{method}: {msg}")
    e = np.empty(0)
    return SparsificationResult(
        e, np.empty(0, np.int64), e, e, None, None, math.inf, -1, msg, method
    )


def integrate_sparsification(
    w0, lam: float, t_max: float, *, method: str = "exact", options=None
) -> SparsificationResult:
    """Integrate the interference-free single-feature L1 flow from ``w0`` up to ``t_max``.

    dw_k/dt = (1 - ||w||^2) w_k - lam sign(w_k), zero absorbing (docs/theory/sparsification.md
    #setup, eq. (1)). Signs never change, so the solvers work on |w| and restore signs.

    Main arguments:
        w0: initial weights, 1-D array of length m (any signs; exact zeros are dead).
        lam: L1 strength in normalized units (lambda_code / 4), in (0, 2/(3 sqrt 3)).
        t_max: final time in normalized units (> 0).

    Other arguments:
        method: "exact" (default; affine reduction, scales to m = 1e8), "ode" (full system
            with event location, reference), "euler" (the authors' fixed-step scheme).
        options: :class:`SparsificationOptions`.

    Returns:
        :class:`SparsificationResult` with t, m', ||w||_1, ||w||_2^2 at the record times,
        t_full and optionally weights and death times.

    Raises:
        ValueError: a bad argument (the message names it and its accepted range).
        RuntimeError: solver failure, unless ``options.throw`` is False.
    """
    w0, lam, t_max, options, t_eval = _validate(w0, lam, t_max, method, options)
    if method == "exact":
        return _integrate_exact(w0, lam, t_max, options, t_eval)
    if method == "ode":
        return _integrate_ode(w0, lam, t_max, options, t_eval)
    return _integrate_euler(w0, lam, t_max, options, t_eval)


# --------------------------------------------------------------------------------------------
# exact: the affine reduction, integrated in the cut c
# --------------------------------------------------------------------------------------------


class _SortedMagnitudes:
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

    def count(self, c):
        """n(c) = #{x_k > c}."""
        return np.searchsorted(self.neg, -np.asarray(c), side="left")

    def sums(self, c: float) -> tuple[int, float, float]:
        """(n, sum (x-c)_+, sum (x-c)_+^2) at one cut c."""
        n = int(np.searchsorted(self.neg, -c, side="left"))
        if n <= DIRECT_SUM_MAX:
            d = self.top[:n] - c
            return n, float(d.sum()), float(d @ d)
        s1 = self.p1[n] - n * c
        s2 = self.p2[n] - 2.0 * c * self.p1[n] + n * c * c
        return n, s1, max(s2, 0.0)

    def sums_vec(self, c: np.ndarray):
        c = np.asarray(c, dtype=np.float64)
        n = self.count(c)
        s1 = self.p1[n] - n * c
        s2 = np.maximum(self.p2[n] - 2.0 * c * self.p1[n] + n * c * c, 0.0)
        small = n <= DIRECT_SUM_MAX
        if np.any(small):
            for i in np.flatnonzero(small):
                d = self.top[: n[i]] - c[i]
                s1[i], s2[i] = d.sum(), d @ d
        return n, s1, s2


def _integrate_exact(w0, lam, t_max, options, t_eval):
    """Affine reduction (docs/theory/sparsification.md#affine-reduction, eqs. (3)-(6)).

    With c = lam B as the independent variable (c increases: dc/dt = lam e^{-A} > 0),
        dA/dc = e^A (1 - e^{2A} S(c)) / lam,   dt/dc = e^A / lam,        eq. (6)
    weight k dies exactly when c reaches |w_k(0)|, so deaths cost nothing. Integration in c
    runs to the second-largest magnitude (t_full); the last weight then follows the scalar
    ODE x' = (1 - x^2) x - lam in t (eq. (8)).
    """
    m = w0.size
    x0 = np.abs(w0)
    order = np.argsort(-x0, kind="stable")
    x_desc = x0[order]
    m_pos = int(np.count_nonzero(x_desc > 0))
    x_desc = x_desc[:m_pos]
    sm = _SortedMagnitudes(x_desc)
    rtol, atol = options.rtol, options.atol
    stats = dict(n_steps=0, n_rhs=0, n_jac=0, n_restarts=0)

    def fun(c, y):
        _, _, s2 = sm.sums(c)
        ea = math.exp(y[0])
        return np.array([ea * (1.0 - ea * ea * s2) / lam, ea / lam])

    def jac(c, y):
        _, _, s2 = sm.sums(c)
        ea = math.exp(y[0])
        return np.array([[(ea - 3.0 * ea**3 * s2) / lam, 0.0], [ea / lam, 0.0]])

    # the top group: all magnitudes tied with the largest stay tied forever (eq. (5)); with one
    # weight on top, t_full is reached when c = x_(2), else the group never splits
    n_top = int(np.count_nonzero(x_desc == x_desc[0])) if m_pos else 0
    c_end = x_desc[n_top] if m_pos > n_top else 0.0

    # --- stage 1 in c: a pilot pass (loose tolerance) locates record cuts and the t_max cut
    c_rec = np.empty(0)
    t_stage1_end = 0.0
    c_stop = 0.0
    y_stop = np.zeros(2)
    rec_c_list: list[float] = []
    rec_y_list: list[np.ndarray] = []
    deaths_c: np.ndarray = np.empty(0)
    deaths_t: np.ndarray = np.empty(0)
    reached_full = m_pos <= n_top
    t_pilot_end = 0.0
    if m_pos > n_top:
        hit_tmax = lambda c, y: y[1] - t_max  # noqa: E731
        hit_tmax.terminal = True
        pilot = solve_ivp(
            fun, (0.0, c_end), np.zeros(2), method="Radau", jac=jac, rtol=1e-7, atol=1e-10,
            events=hit_tmax, dense_output=True, max_step=options.max_step,
        )
        stats["n_steps"] += pilot.t.size - 1
        stats["n_rhs"] += pilot.nfev
        stats["n_jac"] += pilot.njev
        if pilot.status < 0:
            return _fail(options, "exact", f"pilot integration failed: {pilot.message}")
        c_pilot_end = float(pilot.t[-1])
        reached_full = pilot.status == 0
        # record cuts: invert the pilot's monotone t(c) at the requested times (bisection)
        t_pilot_end = float(pilot.y[1, -1])
        t_in = t_eval[(t_eval > 0) & (t_eval < t_pilot_end)]
        lo = np.zeros_like(t_in)
        hi = np.full_like(t_in, c_pilot_end)
        for _ in range(64 if t_in.size else 0):
            mid = 0.5 * (lo + hi)
            below = pilot.sol(mid)[1] < t_in
            lo = np.where(below, mid, lo)
            hi = np.where(below, hi, mid)
        c_rec = 0.5 * (lo + hi)
        if not reached_full and t_eval[-1] >= t_pilot_end:
            c_rec = np.append(c_rec, c_pilot_end)  # the record at t_max is the stop cut
        # breakpoints: record cuts, the last `segment_deaths` deaths, the stop cut
        k_seg = min(options.segment_deaths, m_pos - 1)
        death_cuts = x_desc[1 : 1 + k_seg] if k_seg > 0 else np.empty(0)
        death_cuts = death_cuts[death_cuts < c_pilot_end]
        stop = c_end if reached_full else c_pilot_end
        bps = np.unique(np.concatenate([c_rec, death_cuts, [stop]]))
        bps = bps[(bps > 0) & (bps <= stop)]
        c_cur, y_cur = 0.0, np.zeros(2)
        seg_c, seg_y = [0.0], [y_cur.copy()]
        for b in bps:
            # the stop cut at t_max comes from the loose pilot; the accurate pass relocates it
            # with its own event so that the last record is at t_max, never beyond it
            to_tmax = not reached_full and b == stop
            sol = solve_ivp(
                fun, (c_cur, c_end if to_tmax else b), y_cur, method="Radau", jac=jac,
                rtol=rtol, atol=atol, max_step=options.max_step,
                events=hit_tmax if to_tmax else None,
            )
            stats["n_steps"] += sol.t.size - 1
            stats["n_rhs"] += sol.nfev
            stats["n_jac"] += sol.njev
            stats["n_restarts"] += 1
            if sol.status < 0 or not np.all(np.isfinite(sol.y[:, -1])):
                return _fail(options, "exact", f"integration in c failed at c={c_cur:g}: "
                             f"{sol.message}")
            c_cur, y_cur = float(b), sol.y[:, -1].copy()
            if to_tmax and sol.status == 1:
                c_cur, y_cur = float(sol.t_events[0][0]), sol.y_events[0][0].copy()
                y_cur[1] = min(y_cur[1], t_max)  # the root is at t_max up to rounding
                c_rec[c_rec == b] = c_cur
            elif to_tmax:
                reached_full = True  # the accurate flow splits the top just before t_max
                c_cur = c_end
            seg_c.append(c_cur)
            seg_y.append(y_cur.copy())
        seg_c_arr = np.array(seg_c)
        seg_y_arr = np.array(seg_y)
        c_stop, y_stop = c_cur, y_cur
        t_stage1_end = float(y_cur[1])
        if not reached_full:
            t_stage1_end = max(t_stage1_end, t_max)  # the pilot stopped at t_max
        rec_mask = np.isin(seg_c_arr, c_rec)
        rec_c_list = list(seg_c_arr[rec_mask])
        rec_y_list = list(seg_y_arr[rec_mask])
        deaths_c, deaths_t = seg_c_arr, seg_y_arr[:, 1]  # exact (c, t) pairs at breakpoints

    if m_pos <= 1:
        t_full = 0.0
    elif n_top == 1 and reached_full:
        t_full = float(y_stop[1])
    else:
        t_full = math.inf  # not reached by t_max, or a tied top group (set below if it dies)
    t_group = float(y_stop[1]) if (m_pos > n_top and reached_full) else 0.0  # stage-2 start

    # --- assemble records for stage 1 (t = 0 and the record cuts)
    rec_t, rec_mp, rec_l1, rec_l2, rec_w = [], [], [], [], []
    sign = np.sign(w0)

    def push_cut(c, a, t):
        n, s1, s2 = sm.sums(c)
        ea = math.exp(a)
        rec_t.append(t)
        rec_mp.append(n)
        rec_l1.append(ea * s1)
        rec_l2.append(ea * ea * s2)
        if options.record_weights:
            rec_w.append(sign * ea * np.maximum(x0 - c, 0.0))

    if t_eval[0] == 0.0:
        push_cut(0.0, 0.0, 0.0)
    for c, y in zip(rec_c_list, rec_y_list, strict=True):
        # requests after the last split belong to the top-group stage
        if not reached_full or (float(y[1]) < t_group and c < c_end):
            push_cut(c, y[0], float(y[1]))

    # --- stage 2: the top group of n_top tied weights, x' = (1 - n_top x^2) x - lam (eq. (8))
    status = 0
    t_all_dead = math.inf
    if m_pos == 0:
        status = 1
        t_all_dead = 0.0
        for tb in t_eval[t_eval > 0]:
            push_cut(0.0, 0.0, float(tb))
    if m_pos >= 1 and reached_full and t_group < t_max:
        top = order[:n_top]
        x_start = (x_desc[0] if m_pos == n_top
                   else math.exp(y_stop[0]) * (x_desc[0] - x_desc[n_top]))
        t_start = t_group
        t2 = t_eval[t_eval > t_start]
        bounds = t2 if (t2.size and t2[-1] == t_max) else np.append(t2, t_max)

        # requests between the pilot's and the accurate t_full (a pilot-tolerance sliver) are
        # recorded at t_full itself, the time of the recorded state
        def push_top(t, x):
            # the tied top group: n_top equal magnitudes x (all dead when x = 0)
            alive = n_top if x > 0 else 0
            rec_t.append(t)
            rec_mp.append(alive)
            rec_l1.append(alive * x)
            rec_l2.append(alive * x * x)
            if options.record_weights:
                w = np.zeros(m)
                w[top] = sign[top] * x
                rec_w.append(w)

        for _ in t_eval[(t_eval > 0) & (t_eval >= t_pilot_end) & (t_eval <= t_start)]:
            push_top(t_start, x_start)

        def f1(t, x):
            return (1.0 - n_top * x * x) * x - lam

        def j1(t, x):
            return np.array([[1.0 - 3.0 * n_top * x[0] ** 2]])

        def dead(t, x):
            return x[0]

        dead.terminal = True
        dead.direction = -1
        t_cur, x_cur = t_start, x_start
        for tb in bounds:
            sol = solve_ivp(f1, (t_cur, tb), [x_cur], method="Radau", jac=j1, rtol=rtol,
                            atol=atol, events=dead)
            stats["n_steps"] += sol.t.size - 1
            stats["n_rhs"] += sol.nfev
            stats["n_jac"] += sol.njev
            stats["n_restarts"] += 1
            if sol.status < 0:
                return _fail(options, "exact", f"one-weight stage failed: {sol.message}")
            if sol.status == 1:
                t_all_dead = float(sol.t_events[0][0])
                status = 1
                t_full = min(t_full, t_all_dead)  # m' drops from n_top to 0
                break
            t_cur, x_cur = float(tb), float(sol.y[0, -1])
            if tb in t2:
                push_top(t_cur, x_cur)
        if status == 1:
            for tb in t2[t2 >= t_all_dead]:
                push_top(float(tb), 0.0)

    death_times = None
    if options.record_deaths:
        death_times = np.full(m, math.inf)
        death_times[order[m_pos:]] = 0.0
        if m_pos > n_top:
            # deaths inside the segmented part land on breakpoints (exact); earlier ones are
            # read from the pilot's dense output refined by one Newton step on dt/dc
            pos = np.arange(1, m_pos)
            pos = pos[x_desc[pos] <= c_stop][::-1]  # ascending cut = ascending death time
            kill = x_desc[pos]
            exact_t = dict(zip(deaths_c.tolist(), deaths_t.tolist(), strict=True))
            tk = np.array([exact_t.get(c, np.nan) for c in kill.tolist()])
            miss = np.isnan(tk)
            if np.any(miss):
                tk[miss] = _t_of_c(fun, deaths_c, seg_y_arr, kill[miss], rtol, atol)
            death_times[order[pos]] = tk
        if status == 1:
            death_times[order[:n_top]] = t_all_dead

    n_deaths = int(m - (rec_mp[-1] if rec_mp else m_pos))
    st = SparsificationStats(n_deaths=n_deaths, **stats)
    return SparsificationResult(
        t=np.array(rec_t),
        m_prime=np.array(rec_mp, dtype=np.int64),
        l1=np.array(rec_l1),
        l2sq=np.array(rec_l2),
        weights=np.array(rec_w) if options.record_weights else None,
        death_times=death_times,
        t_full=t_full,
        status=status,
        message=STATUS_MESSAGES[status],
        method="exact",
        stats=st,
    )


def _t_of_c(fun, seg_c, seg_y, targets, rtol, atol):
    """Times at cuts ``targets`` (sorted ascending) by integrating from the nearest breakpoint.

    Each target is integrated to exactly (Radau's dense output is only 3rd order), one short
    solve_ivp per target: about a millisecond each, so record_deaths is meant for m <~ 1e5.
    """
    out = np.empty(targets.size)
    idx = np.searchsorted(seg_c, targets, side="right") - 1
    for j in np.unique(idx):
        sel = idx == j
        cs = targets[sel]
        start = seg_c[j]
        y = seg_y[j]
        ts = []
        c_cur, y_cur = start, y
        for c in cs:
            if c > c_cur:
                sol = solve_ivp(fun, (c_cur, c), y_cur, method="Radau", rtol=rtol, atol=atol)
                if sol.status < 0:
                    raise RuntimeError(f"exact: death-time integration failed: {sol.message}")
                c_cur, y_cur = c, sol.y[:, -1]
            ts.append(y_cur[1])
        out[sel] = ts
    return out


# --------------------------------------------------------------------------------------------
# ode: the full m-dimensional system with exact event location at every death
# --------------------------------------------------------------------------------------------


def _integrate_ode(w0, lam, t_max, options, t_eval):
    """Full system (eq. (1)) on the survivors' magnitudes, DOP853, restarts at deaths.

    After each accepted step the survivors are checked for zero crossings; ordering is
    preserved (eq. (5)), so the smallest one is the next to die. Its crossing is located on
    the 7th-order dense output by Brent's method, the state is taken from the dense output at
    that time, the weight is removed and the solver restarts. When the crossings of one step
    perturb q by less than 0.1 rtol q (batch rule, docs/theory/sparsification.md#ode-deaths),
    all of them are located on the dense output and removed with a single restart.
    """
    from scipy.optimize import brentq

    m = w0.size
    x0 = np.abs(w0)
    sign = np.sign(w0)
    alive = np.flatnonzero(x0 > 0)
    # keep survivors sorted ascending so that index 0 is the next to die
    alive = alive[np.argsort(x0[alive], kind="stable")]
    x = x0[alive].copy()
    death_times = np.full(m, math.inf)
    death_times[x0 == 0] = 0.0
    stats = dict(n_steps=0, n_rhs=0, n_jac=0, n_restarts=0)
    rtol, atol = options.rtol, options.atol
    nfev = [0]

    def fun(t, y):
        nfev[0] += 1
        return (1.0 - y @ y) * y - lam

    rec_t, rec_mp, rec_l1, rec_l2, rec_w = [], [], [], [], []

    def push(t, y):
        y = np.maximum(y, 0.0)  # a batched step may carry just-crossed weights (dead)
        rec_t.append(t)
        rec_mp.append(int(np.count_nonzero(y)))
        rec_l1.append(float(y.sum()))
        rec_l2.append(float(y @ y))
        if options.record_weights:
            w = np.zeros(m)
            w[alive] = sign[alive] * y
            rec_w.append(w)

    ri = 0  # next record index
    t = 0.0
    t_full = 0.0 if x.size <= 1 else math.inf
    status = 0
    while True:
        while ri < t_eval.size and t_eval[ri] <= t:
            if t_eval[ri] == t:
                push(t, x)
            ri += 1
        if x.size == 0:
            status = 1
            for tr in t_eval[ri:]:
                rec_t.append(float(tr))
                rec_mp.append(0)
                rec_l1.append(0.0)
                rec_l2.append(0.0)
                if options.record_weights:
                    rec_w.append(np.zeros(m))
            break
        if t >= t_max:
            break
        solver = DOP853(fun, t, x, t_max, rtol=rtol, atol=atol, max_step=options.max_step)
        stats["n_restarts"] += 1
        died = False
        while solver.status == "running":
            msg = solver.step()
            stats["n_steps"] += 1
            if solver.status == "failed":
                return _fail(options, "ode", f"DOP853 failed at t={solver.t:g}: {msg}")
            t_old, t_new = solver.t_old, solver.t
            y_new = solver.y
            if not np.all(np.isfinite(y_new)):
                return _fail(options, "ode", f"non-finite state at t={t_new:g}")
            dense = None
            crossing = np.flatnonzero(y_new <= 0.0) if y_new[0] <= 0.0 else np.empty(0, int)
            # Batch rule (docs/theory/sparsification.md#ode-deaths): inside this step the
            # crossed weights went on with -lam instead of stopping; their only effect on the
            # others is through q, polluted by sum y_new[k]^2 (exact: q is C^1 at a death).
            # If that is below 0.1 rtol q, all deaths of the step are taken from the dense
            # output without restarting at each; otherwise restart at the first death.
            batch = crossing.size > 0 and (
                float(y_new[crossing] @ y_new[crossing]) <= 0.1 * rtol * float(y_new @ y_new)
            )
            if crossing.size and not batch:
                dense = solver.dense_output()
                t_d = brentq(lambda s, d=dense: d(s)[0], t_old, t_new,
                             xtol=1e-15 * max(1.0, t_new), rtol=4 * np.finfo(float).eps)
                t_hi = t_d
            else:
                t_hi = t_new
            # records inside (t_old, t_hi]; entries that crossed count as dead (clipped)
            while ri < t_eval.size and t_eval[ri] <= t_hi:
                if dense is None:
                    dense = solver.dense_output()
                push(float(t_eval[ri]), dense(t_eval[ri]))
                ri += 1
            if batch:
                if dense is None:
                    dense = solver.dense_output()
                # vectorized bisection on the dense output of the crossing components only
                sub = _component_dense(dense, crossing)
                lo = np.full(crossing.size, t_old)
                hi = np.full(crossing.size, t_new)
                for _ in range(60):
                    mid = 0.5 * (lo + hi)
                    vals = sub(mid)
                    pos = vals > 0.0
                    lo = np.where(pos, mid, lo)
                    hi = np.where(pos, hi, mid)
                td = 0.5 * (lo + hi)
                death_times[alive[crossing]] = td
                n_before = x.size
                keep = np.ones(x.size, bool)
                keep[crossing] = False
                alive = alive[keep]
                if not math.isfinite(t_full) and alive.size <= 1:
                    t_full = float(np.sort(td)[n_before - 2])
                x = y_new[keep]
                t = t_new
                stats["n_batched"] = stats.get("n_batched", 0) + 1
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
                push(float(t_eval[ri]), x)
                ri += 1
            break
    stats["n_rhs"] = nfev[0]
    stats.pop("n_batched", None)
    n_deaths = int(np.count_nonzero(np.isfinite(death_times)))
    return SparsificationResult(
        t=np.array(rec_t),
        m_prime=np.array(rec_mp, dtype=np.int64),
        l1=np.array(rec_l1),
        l2sq=np.array(rec_l2),
        weights=np.array(rec_w) if options.record_weights else None,
        death_times=death_times if options.record_deaths else None,
        t_full=t_full,
        status=status,
        message=STATUS_MESSAGES[status],
        method="ode",
        stats=SparsificationStats(n_deaths=n_deaths, **stats),
    )


def _component_dense(dense, idx):
    """Evaluate components ``idx`` of a dense output, component i at its own time t[i].

    For DOP853 the interpolant is evaluated directly on the selected rows of its coefficient
    array (O(k) per call instead of O(m k)); other dense outputs fall back to full evaluation.
    """
    if isinstance(dense, Dop853DenseOutput) and hasattr(dense, "F"):
        F = dense.F[:, idx]
        y0 = dense.y_old[idx]

        def sub(tt):
            x = (tt - dense.t_old) / dense.h
            y = np.zeros(idx.size)
            for i, f in enumerate(F[::-1]):  # scipy's nested form (rk.py, Dop853DenseOutput)
                y += f
                y *= x if i % 2 == 0 else 1.0 - x
            return y + y0

        return sub
    return lambda tt: dense(tt)[idx, np.arange(idx.size)]


# --------------------------------------------------------------------------------------------
# euler: the authors' scheme (numba, with a numpy reference used as a test oracle)
# --------------------------------------------------------------------------------------------


# numba, not numpy: each step touches every survivor twice (norm, update) and compacts the
# survivors in place; numpy would allocate three temporaries per step for 3e5+ steps.
@numba.njit(cache=True)
def _euler_kernel(x, lam, dt, n_steps, rec_steps, rec_mp, rec_l1, rec_l2, rec_w, death_step):
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


def _euler_reference(x0, lam, dt, n_steps):
    """Plain-numpy oracle of :func:`_euler_kernel`: final magnitudes (zeros for deleted)."""
    x = np.array(x0, dtype=np.float64)
    alive = x > 0
    for _ in range(n_steps):
        q = float(np.sum(x[alive] ** 2))
        x = np.where(alive, x + dt * ((1.0 - q) * x - lam), 0.0)
        alive = alive & (x > 0)
        x = np.where(alive, x, 0.0)
    return x


def _integrate_euler(w0, lam, t_max, options, t_eval):
    """Authors' fixed-step scheme (PAPER.md 6, E1); first order in dt.

    See docs/theory/sparsification.md#euler.
    """
    dt = options.dt
    m = w0.size
    n_steps = int(math.floor(t_max / dt + 1e-9))
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
    _, full_step = _euler_kernel(x, lam, dt, n_steps, rec_steps, rec_mp, rec_l1, rec_l2,
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
