"""Options, result, work counters and argument validation of the single-feature L1 solvers.

Shared by the three solvers of :func:`dynamics.integrate_sparsification`
(``_sparsification_exact``, ``_sparsification_ode``, ``_sparsification_euler``); the flow they
integrate is eq. (1) of docs/theory/sparsification.md#setup.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

METHODS = ("exact", "ode", "euler")

# A single surviving weight has a stable fixed point iff x(1 - x^2) = lam has a positive root
# above the unstable one, i.e. lam < max_x x(1 - x^2) = 2 / (3 sqrt 3)
# (docs/theory/sparsification.md#fixed-point).
LAM_MAX = 2.0 / (3.0 * math.sqrt(3.0))
# Tolerances tighter than this many machine epsilons cannot be met in float64 (scipy's rule).
MIN_RTOL = 100 * np.finfo(float).eps
# Memory guard for record_weights: at most this many float64 entries (400 MB) in the record.
MAX_WEIGHT_RECORD = 50_000_000
# Euler's step size bound: the norm mode of the linearized flow decays at rate 2, and explicit
# Euler is stable for rate x dt < 2 (docs/theory/sparsification.md#euler).
EULER_DT_MAX = 1.0


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


class SolverFailure(Exception):
    """Raised inside a solver; :func:`integrate_sparsification` turns it into ``failed``."""


class Recorder:
    """Growing lists of the record quantities (t, m', ||w||_1, ||w||_2^2 and optionally w)."""

    def __init__(self, record_weights: bool):
        self.record_weights = record_weights
        self.t: list[float] = []
        self.m_prime: list[int] = []
        self.l1: list[float] = []
        self.l2sq: list[float] = []
        self.weights: list[np.ndarray] = []

    def append(self, t, m_prime, l1, l2sq, weights=None):
        """One record; ``weights`` is only read when weights are recorded."""
        self.t.append(t)
        self.m_prime.append(m_prime)
        self.l1.append(l1)
        self.l2sq.append(l2sq)
        if self.record_weights:
            self.weights.append(weights)

    def result(self, *, death_times, t_full, status, method, stats) -> SparsificationResult:
        return SparsificationResult(
            t=np.array(self.t),
            m_prime=np.array(self.m_prime, dtype=np.int64),
            l1=np.array(self.l1),
            l2sq=np.array(self.l2sq),
            weights=np.array(self.weights) if self.record_weights else None,
            death_times=death_times,
            t_full=t_full,
            status=status,
            message=STATUS_MESSAGES[status],
            method=method,
            stats=stats,
        )


def failed(options: SparsificationOptions, method: str, msg: str) -> SparsificationResult:
    """Raise ``RuntimeError`` (``options.throw``) or return an empty result with status -1."""
    if options.throw:
        raise RuntimeError(f"{method}: {msg}")
    e = np.empty(0)
    return SparsificationResult(
        e, np.empty(0, np.int64), e, e, None, None, math.inf, -1, msg, method
    )


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------


def validate_arguments(w0, lam, t_max, method, options):
    """Check and normalize the arguments of :func:`integrate_sparsification`.

    Returns (w0 as float64, lam, t_max, options with rtol clamped to MIN_RTOL, record times).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if options is None:
        options = SparsificationOptions()
    if not isinstance(options, SparsificationOptions):
        raise ValueError("options must be a SparsificationOptions instance")
    w0 = _validate_weights(w0)
    lam = float(lam)
    if not (0.0 < lam < LAM_MAX):
        raise ValueError(
            f"lam must be in (0, {LAM_MAX:.6f}) (above 2/(3 sqrt 3) no weight survives), got {lam}"
        )
    t_max = float(t_max)
    if not (math.isfinite(t_max) and t_max > 0):
        raise ValueError(f"t_max must be finite and > 0, got {t_max}")
    options = _validate_options(options, method)
    t_eval = _record_times(options, t_max)
    if options.record_weights and t_eval.size * w0.size > MAX_WEIGHT_RECORD:
        raise ValueError(
            f"record_weights needs {t_eval.size} x {w0.size} entries > {MAX_WEIGHT_RECORD}; "
            "record fewer times or do not record weights"
        )
    return w0, lam, t_max, options, t_eval


def _validate_weights(w0) -> np.ndarray:
    w0 = np.asarray(w0)
    if w0.ndim != 1 or w0.size == 0:
        raise ValueError(f"w0 must be a non-empty 1-D array of weights, got shape {w0.shape}")
    if not np.issubdtype(w0.dtype, np.number):
        raise ValueError("w0 must be numeric")
    w0 = w0.astype(np.float64, copy=False)
    if not np.all(np.isfinite(w0)):
        raise ValueError("w0 must be finite (found NaN or inf)")
    return w0


def _validate_options(options: SparsificationOptions, method: str) -> SparsificationOptions:
    if not (options.rtol > 0 and options.atol > 0):
        raise ValueError("options.rtol and options.atol must be > 0")
    if options.rtol < MIN_RTOL:
        warnings.warn(
            f"rtol {options.rtol:g} below 100 eps cannot be met in float64; using {MIN_RTOL:g}",
            stacklevel=4,
        )
        options = SparsificationOptions(**{**options.__dict__, "rtol": MIN_RTOL})
    if method == "euler" and not (0 < options.dt and math.isfinite(options.dt)):
        raise ValueError(f"options.dt must be finite and > 0, got {options.dt}")
    if method == "euler" and options.dt > EULER_DT_MAX:
        raise ValueError(f"options.dt must be <= 1 (Euler is unstable above 1), got {options.dt}")
    if options.n_records < 1:
        raise ValueError("options.n_records must be >= 1")
    if options.segment_deaths < 0:
        raise ValueError("options.segment_deaths must be >= 0")
    if not options.max_step > 0:
        raise ValueError("options.max_step must be > 0")
    return options


def _record_times(options: SparsificationOptions, t_max: float) -> np.ndarray:
    """``options.t_eval`` checked, or 0 plus ``n_records`` log-spaced times up to t_max."""
    if options.t_eval is None:
        lo = min(1.0, t_max)
        return np.unique(np.concatenate([[0.0], np.geomspace(lo, t_max, options.n_records)]))
    t_eval = np.asarray(options.t_eval, dtype=np.float64).ravel()
    if t_eval.size == 0 or not np.all(np.isfinite(t_eval)):
        raise ValueError("options.t_eval must be a non-empty sequence of finite times")
    if np.any(np.diff(t_eval) <= 0) or t_eval[0] < 0 or t_eval[-1] > t_max:
        raise ValueError("options.t_eval must be strictly increasing within [0, t_max]")
    return t_eval
