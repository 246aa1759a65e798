"""Training driver: options, initial weights, the ``train`` entry point and its run records.

Trains many independent instances of the tied ReLU autoencoder (docs/paper.md#model) with
one of four update rules, derived in ``docs/dynamics/training.md``:

* ``"prox-gd"`` (default ground truth): gradient step on the summed squared error, then
  soft-thresholding by ``lr * lam`` (T5a); weights become exactly zero.
* ``"gd"``: subgradient step with ``sign(0) = 0`` (T5b), as PyTorch does.
* ``"sgd"``: minibatch subgradient steps over one-hot inputs drawn without replacement (T5c).
* ``"adamw"``: PyTorch's ``torch.optim.AdamW`` semantics (T5d), the paper's optimizer.

All numbers are in the code units of the authors' loss (T1); ``lam_to_normalized`` and
``lam_from_normalized`` convert to the normalized units of docs/paper.md#normalized-units.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields

import numba
import numpy as np

# numba's np.dot calls the BLAS of scipy.linalg.cython_blas, which numba loads lazily on
# first use. Load it now, so that threadpoolctl sees (and limits) it from the first call.
import scipy.linalg.cython_blas  # noqa: F401
from threadpoolctl import ThreadpoolController

from dynamics import _stepping as S
from dynamics import _training_kernels as K
from dynamics._measurements import features_represented, max_positive_overlap
from dynamics._noise import CHUNK_BUDGET, HiddenNoise, NoiseSource
from dynamics._toy_model import loss as _loss

__all__ = [
    "FLOW_OPTIMIZERS",
    "OPTIMIZERS",
    "DivergenceError",
    "RunRecord",
    "TrainOptions",
    "gd_step_size_bound",
    "init_weights",
    "train",
]

# Optimizer names TrainOptions accepts; `simulations` imports them from here.
OPTIMIZERS = ("prox-gd", "gd", "sgd", "adamw")
# The optimizers whose steps discretise the gradient flow, with normalized time step
# FLOW_TIME_PER_LR_STEP * lr (docs/paper.md#normalized-units); sgd and adamw do not.
FLOW_OPTIMIZERS = ("prox-gd", "gd")
_OPT_CODES = {"prox-gd": K.OPT_PROX_GD, "gd": K.OPT_GD, "sgd": K.OPT_SGD, "adamw": K.OPT_ADAMW}
# Learning rate used when TrainOptions.lr is None: prox-GD/GD well inside the stability
# bound 1/4 (T7); SGD as in the paper's noise experiment; AdamW as in the paper
# (docs/paper.md#optimizers).
DEFAULT_LR = {"prox-gd": 0.05, "gd": 0.05, "sgd": 0.02, "adamw": 1e-3}
# Largest eigenvalue of the Hessian of the summed squared error at a converged solution
# (every feature with ||W_i|| = 1 and no positive overlap): 8 (T7).
HESSIAN_NORM_AT_SOLUTION = 8.0
_STATUS = {
    K.CONVERGED: "converged",
    K.MAX_STEPS: "max_steps",
    K.DIVERGED_NONFINITE: "diverged",
    K.DIVERGED_GROWTH: "diverged",
}
# A product of fewer multiply-adds than this runs on one BLAS thread: below ~2^24 the
# threads' start-up and spin-waiting cost more than they save, and on a busy machine a
# spinning OpenBLAS thread made a 64 x 256 step ~50x slower (docs/performance.md).
MIN_FLOPS_PER_BLAS_THREAD = 2**24
_SPARSE_MODES = {"never": K.SPARSE_NEVER, "auto": K.SPARSE_AUTO, "always": K.SPARSE_ALWAYS}


class DivergenceError(FloatingPointError):
    """A training run produced NaN/inf or its loss blew up; the message names the step bound."""


def gd_step_size_bound(optimizer: str = "prox-gd", n: int | None = None,
                       batch_size: int | None = None) -> float:
    """Step-size bound for (prox/sub)gradient descent near a converged solution (T7).

    GD on a function whose Hessian has largest eigenvalue L is stable for ``lr < 2/L``.
    At a solution of (T1) ``L = 8``, so ``lr < 1/4`` (normalized time step ``4 lr < 1``).
    For ``sgd`` with batch size ``b`` the unbiased minibatch loss scales one feature's
    term by ``n/b``, so ``L = 8 n / b`` and ``lr < b / (4 n)``. AdamW has no such bound
    (its steps are normalized per coordinate); this returns ``inf`` for it.
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}; got {optimizer!r}")
    if optimizer == "adamw":
        return math.inf
    bound = 2.0 / HESSIAN_NORM_AT_SOLUTION
    if optimizer == "sgd" and n is not None and batch_size is not None:
        bound *= batch_size / n
    return bound


@dataclass(frozen=True)
class TrainOptions:
    """How to train. Every field has a default; invalid values raise ``ValueError``.

    Main fields:
        optimizer: ``"prox-gd"`` (default), ``"gd"``, ``"sgd"`` or ``"adamw"`` (module doc).
        lr: step size > 0; ``None`` (default) picks ``DEFAULT_LR[optimizer]``:
            0.05 for prox-gd/gd, 0.02 for sgd, 1e-3 for adamw. (Prox-)GD is stable only
            for ``lr < 1/4`` (``gd_step_size_bound``).
        lam: L1 strength >= 0 in code units (T1); default 1e-3 as in the paper.
            ``lam_from_normalized`` converts from the lam~ of docs/paper.md#normalized-units.
        max_steps: step budget, integer >= 0 (default 10 000).
        tol: ``None`` (default) runs exactly ``max_steps`` steps; a number > 0 stops an
            instance once the Frobenius norm of its prox-gradient mapping (T6),
            ``||(W - soft(W - lr grad, lr lam)) / lr||``, is <= tol. Meaningful mainly for
            prox-gd, whose iterates reach it; subgradient and Adam iterates oscillate
            around zero weights and typically never do.

    Other fields:
        batch_size: sgd minibatch size in [1, n]; ``None`` (default) = n (full batch).
            Ignored (with a warning if set) by the other optimizers.
        betas, eps, weight_decay: AdamW's, defaults (0.9, 0.999), 1e-8, 0.01 as in
            PyTorch; betas in [0, 1), eps > 0, weight_decay >= 0 with lr*weight_decay < 1.
        record_weights: keep W0 and the final W in each ``RunRecord`` (default False).
        record_steps: steps (integers in [1, max_steps]) at which to keep a snapshot of W
            in ``RunRecord.snapshots`` (with W0 first); default () keeps none.
        noise: a ``HiddenNoise`` adds noise to the hidden layer at every step (experiment
            E2, docs/theory/noise.md#setup); only with ``optimizer="gd"`` and ``tol=None``.
            ``train`` then needs ``noise_seed``. Default None.
        dtype: ``"float64"`` (default) or ``"float32"`` (AdamW only, as the authors trained:
            weights, moments and BLAS products in float32, scalar arithmetic in float64).
        seed: integer >= 0 seeding sgd batch orders when ``train`` gets no ``seeds``
            (instance i uses ``SeedSequence(seed).spawn(I)[i]``); default None.
        sparse: ``"auto"`` (default) lets prox-gd move between dense BLAS steps and
            steps on the live weights, both ways, whichever is estimated cheaper
            (docs/dynamics/training.md#switching); ``"never"``/``"always"`` force a path
            (tests, benchmarks). Results agree up to floating-point summation order.
        chunk_steps: steps per kernel call (>= 1, default 500); results do not depend on
            it. Smaller chunks react sooner to convergence of all instances.
        allow_unstable: ``train`` refuses a (prox-)gd or sgd step size at or above the
            stability bound of ``gd_step_size_bound`` (such runs oscillate or diverge
            instead of following the flow) unless this is True (default False); the records
            of such a run say so in ``step_above_bound`` and in the message.
        divergence_factor: a run has diverged when its loss exceeds
            ``divergence_factor * max(L(W0), n)`` (>= 1, default 100).
    """

    optimizer: str = "prox-gd"
    lr: float | None = None
    lam: float = 1e-3
    max_steps: int = 10_000
    tol: float | None = None
    batch_size: int | None = None
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.01
    record_weights: bool = False
    record_steps: tuple[int, ...] = ()
    noise: HiddenNoise | None = None
    dtype: str = "float64"
    seed: int | None = None
    sparse: str = "auto"
    chunk_steps: int = 500
    divergence_factor: float = 100.0
    allow_unstable: bool = False

    def __post_init__(self):
        import numbers

        # Numbers are any real (numpy scalars included) except bool, which is an int to
        # Python but never a meaningful step size or count; they are stored as float/int.
        def bad(name, rng, value):
            kind = " (a bool, not a number)" if isinstance(value, bool | np.bool_) else ""
            raise ValueError(f"TrainOptions.{name} must be {rng}; got {value!r}{kind}")

        def real(value):
            return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)

        def integral(value):
            return isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_)

        def set_(name, value):
            object.__setattr__(self, name, value)

        if self.optimizer not in OPTIMIZERS:
            bad("optimizer", f"one of {OPTIMIZERS}", self.optimizer)
        if self.lr is None:
            set_("lr", DEFAULT_LR[self.optimizer])
        if not (real(self.lr) and math.isfinite(self.lr) and self.lr > 0):
            bad("lr", "a finite number > 0", self.lr)
        set_("lr", float(self.lr))
        if not (real(self.lam) and math.isfinite(self.lam) and self.lam >= 0):
            bad("lam", "a finite number >= 0", self.lam)
        set_("lam", float(self.lam))
        if not (integral(self.max_steps) and self.max_steps >= 0):
            bad("max_steps", "an integer >= 0", self.max_steps)
        set_("max_steps", int(self.max_steps))
        if self.tol is not None:
            if not (real(self.tol) and math.isfinite(self.tol) and self.tol > 0):
                bad("tol", "None or a finite number > 0", self.tol)
            set_("tol", float(self.tol))
            tiny = 100 * np.finfo(float).eps
            if self.tol < tiny:
                warnings.warn(f"TrainOptions.tol={self.tol:g} is below 100 eps = {tiny:.1e}; "
                              "the mapping norm may never get there in float64", stacklevel=3)
        if self.batch_size is not None:
            if not (integral(self.batch_size) and self.batch_size >= 1):
                bad("batch_size", "None or an integer >= 1", self.batch_size)
            set_("batch_size", int(self.batch_size))
        if not (isinstance(self.betas, tuple | list) and len(self.betas) == 2
                and all(real(b) and 0.0 <= b < 1.0 for b in self.betas)):
            bad("betas", "a pair of numbers in [0, 1)", self.betas)
        set_("betas", (float(self.betas[0]), float(self.betas[1])))
        if not (real(self.eps) and math.isfinite(self.eps) and self.eps > 0):
            bad("eps", "a finite number > 0", self.eps)
        set_("eps", float(self.eps))
        if not (real(self.weight_decay) and math.isfinite(self.weight_decay)
                and self.weight_decay >= 0 and self.weight_decay * self.lr < 1):
            bad("weight_decay", "a finite number >= 0 with lr * weight_decay < 1",
                self.weight_decay)
        set_("weight_decay", float(self.weight_decay))
        if not isinstance(self.record_weights, bool | np.bool_):
            bad("record_weights", "a bool", self.record_weights)
        set_("record_weights", bool(self.record_weights))
        if self.seed is not None:
            if not (integral(self.seed) and self.seed >= 0):
                bad("seed", "None or an integer >= 0", self.seed)
            set_("seed", int(self.seed))
        steps = tuple(self.record_steps)
        if any(not integral(k) for k in steps) or any(not 1 <= k <= self.max_steps for k in steps):
            bad("record_steps", f"integers in [1, max_steps={self.max_steps}]", self.record_steps)
        set_("record_steps", tuple(sorted({int(k) for k in steps})))
        if self.noise is not None:
            if not isinstance(self.noise, HiddenNoise):
                bad("noise", "None or a HiddenNoise", self.noise)
            if self.optimizer != "gd" or self.tol is not None:
                bad("noise", 'used with optimizer="gd" and tol=None only', self.noise)
        if self.dtype not in ("float64", "float32"):
            bad("dtype", '"float64" or "float32"', self.dtype)
        if self.dtype == "float32" and self.optimizer != "adamw":
            bad("dtype", '"float64" for optimizers other than adamw', self.dtype)
        if not isinstance(self.allow_unstable, bool | np.bool_):
            bad("allow_unstable", "a bool", self.allow_unstable)
        set_("allow_unstable", bool(self.allow_unstable))
        if self.sparse not in _SPARSE_MODES:
            bad("sparse", f"one of {tuple(_SPARSE_MODES)}", self.sparse)
        if not (integral(self.chunk_steps) and self.chunk_steps >= 1):
            bad("chunk_steps", "an integer >= 1", self.chunk_steps)
        set_("chunk_steps", int(self.chunk_steps))
        if not (real(self.divergence_factor) and math.isfinite(self.divergence_factor)
                and self.divergence_factor >= 1):
            bad("divergence_factor", "a finite number >= 1", self.divergence_factor)
        set_("divergence_factor", float(self.divergence_factor))
        defaults = {f.name: f.default for f in fields(self)}
        ignored = []
        if self.optimizer != "adamw":
            ignored += [k for k in ("betas", "eps", "weight_decay")
                        if getattr(self, k) != defaults[k]]
        if self.optimizer != "sgd" and self.batch_size is not None:
            ignored.append("batch_size")
        if self.optimizer != "prox-gd" and self.sparse != "auto":
            ignored.append("sparse")
        if ignored:
            warnings.warn(f"TrainOptions: {', '.join(ignored)} ignored by optimizer "
                          f"{self.optimizer!r}", stacklevel=3)

    def step_size_message(self, n: int, batch_size: int) -> str:
        """The stability statement that divergence errors quote (T7)."""
        if self.optimizer == "adamw":
            return (f"AdamW moves every weight by up to about lr * (1-beta1)/sqrt(1-beta2) "
                    f"per step, so lr={self.lr:g} must be small against the weight scale 1 "
                    "(the paper uses 1e-3)")
        bound = gd_step_size_bound(self.optimizer, n, batch_size)
        extra = f" = b/(4n) with b={batch_size}, n={n}" if self.optimizer == "sgd" else ""
        return (f"{self.optimizer} is stable near the solution only for lr < 2/L = "
                f"{bound:g}{extra} (L = Hessian norm, docs/dynamics/training.md#step-size); "
                f"got lr={self.lr:g}")


@dataclass(frozen=True, eq=False)
class RunRecord:
    """Outcome of training one instance.

    Fields:
        instance: index into the batch given to ``train``.
        optimizer: the optimizer name.
        status: ``"converged"`` (mapping norm <= tol), ``"max_steps"`` (budget spent)
            or ``"diverged"``; ``converged`` is ``status == "converged"``.
        message: human-readable detail (the step-size bound for divergences).
        steps: steps taken. sparse_steps: how many of them ran in the sparse representation.
        final_loss: loss (T1) of the final W (NaN if it is not finite).
        residual: prox-gradient mapping norm (T6) of the last step taken (NaN if none).
        nonzeros: exactly nonzero weights of the final W.
        features_represented: features with max_k |W_ik| >= 0.5.
        max_positive_overlap: largest positive off-diagonal <W_i, W_j> (NaN if diverged).
        wall_time: seconds spent in the ``train`` call that trained this instance (instances
            of one call run together, so they share it).
        seed: (entropy, spawn_key) of the instance's SeedSequence, or None.
        W0, W: initial and final weights (n, m), only if ``record_weights``; else None.
        step_above_bound: the step size was at or above the stability bound (only possible
            with ``TrainOptions.allow_unstable``): not a discretisation of the flow.
        snapshot_steps, snapshots: the steps (0 first) and weights (R, n, m) recorded at
            ``TrainOptions.record_steps`` while the instance ran; None if none were asked.
    """

    instance: int
    optimizer: str
    status: str
    message: str
    steps: int
    sparse_steps: int
    final_loss: float
    residual: float
    nonzeros: int
    features_represented: int
    max_positive_overlap: float
    wall_time: float
    seed: tuple | None = None
    W0: np.ndarray | None = field(default=None, repr=False)
    W: np.ndarray | None = field(default=None, repr=False)
    step_above_bound: bool = False
    snapshot_steps: tuple[int, ...] | None = None
    snapshots: np.ndarray | None = field(default=None, repr=False)

    @property
    def converged(self) -> bool:
        return self.status == "converged"

    def to_dict(self, include_weights: bool = False) -> dict:
        """JSON-able dict; NaN becomes None; weights (nested lists) only if asked."""
        def clean(x):
            return None if isinstance(x, float) and not math.isfinite(x) else x

        d = {f.name: clean(getattr(self, f.name)) for f in fields(self)
             if f.name not in ("W0", "W", "snapshots")}
        d["converged"] = self.converged
        if self.seed is not None:
            entropy, spawn_key = self.seed
            entropy = [int(e) for e in entropy] if np.ndim(entropy) else int(entropy)
            d["seed"] = {"entropy": entropy, "spawn_key": [int(k) for k in spawn_key]}
        if include_weights:
            d["W0"] = None if self.W0 is None else self.W0.tolist()
            d["W"] = None if self.W is None else self.W.tolist()
        return d


def _check_seeds(seeds, count: int | None = None, name: str = "seeds") -> list:
    seeds = list(seeds)
    if not all(isinstance(s, np.random.SeedSequence) for s in seeds):
        raise ValueError(f"{name} must be a sequence of numpy.random.SeedSequence")
    if count is not None and len(seeds) != count:
        raise ValueError(f"{name} must have one SeedSequence per instance ({count}); "
                         f"got {len(seeds)}")
    return seeds


def init_weights(n: int, m: int, seeds: Sequence[np.random.SeedSequence],
                 init_std: float = 1.0) -> np.ndarray:
    """Initial weights W0 ~ N(0, init_std^2 / m), shape (len(seeds), n, m)
    (docs/paper.md#initialization).

    Instance i is drawn from ``Generator(PCG64(seeds[i]))`` (one ``standard_normal`` call
    of shape (n, m), scaled), so it depends on its own seed only.
    """
    for name, v in (("n", n), ("m", m)):
        if not (isinstance(v, int | np.integer) and v >= 1):
            raise ValueError(f"{name} must be an integer >= 1; got {v!r}")
    if not (math.isfinite(init_std) and init_std > 0):
        raise ValueError(f"init_std must be a finite number > 0; got {init_std!r}")
    seeds = _check_seeds(seeds)
    if not seeds:
        raise ValueError("seeds must contain at least one SeedSequence")
    scale = init_std / math.sqrt(m)
    return np.stack([
        scale * np.random.Generator(np.random.PCG64(s)).standard_normal((n, m)) for s in seeds
    ])


def batch_seed(seed: np.random.SeedSequence) -> np.random.SeedSequence:
    """The child of an instance seed that drives its sgd batch order.

    Built from the seed's entropy and spawn key (plus a fixed extra key 1), not with
    ``spawn``, so it is the same however often the seed was spawned elsewhere.
    """
    return np.random.SeedSequence(entropy=seed.entropy, spawn_key=(*seed.spawn_key, 1))


class _BatchStream:
    """Minibatches without replacement: each epoch is a fresh permutation of the n inputs
    cut into floor(n / b) batches of b (the last n mod b inputs of the epoch are skipped)."""

    def __init__(self, seed: np.random.SeedSequence, n: int, b: int):
        self.gen = np.random.Generator(np.random.PCG64(batch_seed(seed)))
        self.n, self.b = n, b
        self.pending: list[np.ndarray] = []

    def take(self, steps: int) -> np.ndarray:
        out = np.empty((steps, self.b), np.int64)
        for s in range(steps):
            if not self.pending:
                perm = self.gen.permutation(self.n)
                nb = self.n // self.b
                self.pending = [perm[i * self.b:(i + 1) * self.b] for i in range(nb)][::-1]
            out[s] = self.pending.pop()
        return out


_CONTROLLER: ThreadpoolController | None = None


def _blas_controller() -> ThreadpoolController:
    """One controller per process: scanning the loaded libraries costs ~10 ms, so do it once
    (after numba's BLAS is loaded, see the import above)."""
    global _CONTROLLER
    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER


def _blas_threads_available() -> int:
    blas = [lib.num_threads for lib in _blas_controller().select(user_api="blas").lib_controllers]
    return min(blas) if blas else 1


def train(W0: np.ndarray, options: TrainOptions | None = None, *,
          seeds: Sequence[np.random.SeedSequence] | None = None,
          noise_seed: int | np.random.SeedSequence | None = None,
          on_chunk: Callable[[int, np.ndarray, np.ndarray], None] | None = None,
          throw: bool = True) -> list[RunRecord]:
    """Train every instance of ``W0`` and return one ``RunRecord`` per instance.

    Main arguments:
        W0: initial weights, shape (instances, n, m) or (n, m) for one instance; finite.
            Cast to float64 and copied; never modified.
        options: a ``TrainOptions`` (default ``TrainOptions()``: prox-gd, lr 0.05, lam 1e-3).

    Other arguments:
        seeds: one ``numpy.random.SeedSequence`` per instance, normally the ones given to
            ``init_weights``. Recorded in the records; sgd draws instance i's batch order
            from ``batch_seed(seeds[i])``. If None, sgd uses ``TrainOptions.seed``.
        noise_seed: seed of the noise streams when ``options.noise`` is set (an int or a
            ``SeedSequence``; default ``options.seed``): shared noise is one stream,
            independent noise gives instance i ``SeedSequence(noise_seed).spawn(I)[i]``.
        on_chunk: called as ``on_chunk(steps, W, live)`` after every kernel call (every
            ``chunk_steps`` steps at most), with the weights (instances, n, m) and which
            instances are in the live representation; for progress bars and traces. It
            must not modify the arrays.
        throw: if True (default) a diverged instance raises ``DivergenceError``; if False
            its record has ``status="diverged"`` and the message, and the others go on.

    Returns:
        ``list[RunRecord]`` in instance order.

    Raises:
        ValueError: bad ``W0``, ``seeds`` or ``batch_size`` (message names the argument).
        DivergenceError: NaN/inf or loss blow-up (only with ``throw=True``); the message
            names the step-size bound of the optimizer (T7).

    Threads: instances run in parallel over ``numba.get_num_threads()`` threads; each
    matrix product may use ``max(1, min(B, T // I))`` BLAS threads, with B the caller's
    current BLAS limit (threadpoolctl), T the numba threads and I the instances, so the
    total never exceeds what the caller allowed (one thread when ``n^2 m < 2^24``).
    Results are bit-identical for any thread count (each instance is computed by one
    thread in a fixed order).
    """
    options = TrainOptions() if options is None else options
    if not isinstance(options, TrainOptions):
        raise ValueError(f"options must be a TrainOptions; got {type(options).__name__}")
    dtype = np.float32 if options.dtype == "float32" else np.float64
    if np.iscomplexobj(W0):  # the cast would drop the imaginary part silently
        raise ValueError(f"W0 must be real; got complex dtype {np.asarray(W0).dtype}")
    W = np.array(W0, dtype=dtype, copy=True, order="C")
    if W.ndim == 2:
        W = W[None]
    if W.ndim != 3 or min(W.shape) < 1:
        raise ValueError(f"W0 must have shape (instances, n, m) or (n, m) with every size >= 1; "
                         f"got shape {np.shape(W0)}")
    if not np.all(np.isfinite(W)):
        raise ValueError("W0 must be finite (no NaN or inf)")
    n_inst, n, m = W.shape
    seeds = None if seeds is None else _check_seeds(seeds, n_inst)
    opt = options.optimizer
    b = n if options.batch_size is None else int(options.batch_size)
    if opt == "sgd" and b > n:
        raise ValueError(f"TrainOptions.batch_size must be in [1, n={n}] for these weights; "
                         f"got {b}")
    above_bound = options.lr >= gd_step_size_bound(opt, n, b)
    if above_bound and not options.allow_unstable:
        raise ValueError(f"TrainOptions.lr={options.lr:g} is at or above the stability bound "
                         f"{gd_step_size_bound(opt, n, b):g} of {opt} for n={n}, batch {b} "
                         "(docs/dynamics/training.md#step-size); choose a smaller lr, or set "
                         "allow_unstable=True to run it anyway")
    if opt == "sgd":
        if seeds is None and options.seed is None:
            raise ValueError("sgd needs randomness: pass seeds=... to train or set "
                             "TrainOptions.seed")
        batch_seeds = seeds if seeds is not None else np.random.SeedSequence(
            options.seed).spawn(n_inst)
        streams = [_BatchStream(s, n, b) for s in batch_seeds]
    W_init = W.copy() if options.record_weights else None
    noise = _noise_source(options, noise_seed, n_inst, n, m)
    no_noise = np.zeros((0, 1, 1, 1, 1))
    max_chunk = options.chunk_steps if noise is None else max(
        1, min(options.chunk_steps, CHUNK_BUDGET // noise.values_per_step()))
    record_at = list(options.record_steps)
    snaps = [[(0, W[a].copy())] for a in range(n_inst)] if record_at else None

    start = time.perf_counter()
    shape_m = (n_inst, n, m) if opt == "adamw" else (n_inst, 0, 0)
    M1, M2 = np.zeros(shape_m, dtype), np.zeros(shape_m, dtype)
    steps_done = np.zeros(n_inst, np.int64)
    sparse_steps = np.zeros(n_inst, np.int64)
    in_sparse = np.zeros(n_inst, np.bool_)
    status = np.full(n_inst, K.RUNNING, np.int64)
    residual = np.full(n_inst, np.nan)
    growth = np.array([options.divergence_factor * max(_loss(W[a], options.lam), float(n))
                       for a in range(n_inst)])
    tol = -1.0 if options.tol is None else float(options.tol)
    beta1, beta2 = options.betas
    code = _OPT_CODES[opt]
    sparse_mode = _SPARSE_MODES[options.sparse]
    out = np.zeros((n_inst, K.OUT_COLUMNS))
    no_batches = np.zeros((n_inst, 0, 0), np.int64)

    numba_threads = numba.get_num_threads()
    blas_threads = max(1, min(_blas_threads_available(), numba_threads // n_inst))
    if n * n * m < MIN_FLOPS_PER_BLAS_THREAD:
        blas_threads = 1
    with _blas_controller().limit(limits=blas_threads, user_api="blas"):
        done = 0
        while done < options.max_steps:
            active = status == K.RUNNING
            if not active.any():
                break
            chunk = min(max_chunk, options.max_steps - done)
            if record_at:
                chunk = min(chunk, record_at[0] - done)
            if opt == "sgd":
                batches = np.stack([
                    streams[a].take(chunk) if active[a] else np.zeros((chunk, b), np.int64)
                    for a in range(n_inst)
                ])
            else:
                batches = no_batches
            out[:] = 0.0
            kernel = S.advance if numba_threads > 1 and active.sum() > 1 else S.advance_serial
            xi = no_noise if noise is None else noise.chunk(chunk)
            kernel(code, W, M1, M2, steps_done, batches, xi, options.lr, options.lam, beta1,
                      beta2, options.eps, options.weight_decay, tol, growth, chunk, sparse_mode,
                      in_sparse, active, out)
            took = out[:, K.OUT_STEPS].astype(np.int64)
            steps_done[active] += took[active]
            sparse_steps[active] += out[active, K.OUT_LIVE_STEPS].astype(np.int64)
            in_sparse[active] = out[active, K.OUT_ENDS_LIVE] > 0
            status[active] = out[active, K.OUT_STATUS].astype(np.int64)
            ok = active & (took > 0)
            residual[ok] = out[ok, K.OUT_RESIDUAL]
            done += chunk
            if on_chunk is not None:
                on_chunk(done, W, in_sparse)
            if record_at and done == record_at[0]:
                record_at.pop(0)
                for a in np.flatnonzero(active & (steps_done == done)):
                    snaps[a].append((done, W[a].copy()))
    status[status == K.RUNNING] = K.MAX_STEPS
    wall = time.perf_counter() - start

    records = []
    failures = []
    with np.errstate(all="ignore"):  # a diverged W may overflow in the final loss
        for a in range(n_inst):
            records.append(_record(a, W[a], W_init, options, n, b, status[a], steps_done[a],
                                   sparse_steps[a], residual[a], growth[a], wall, seeds,
                                   failures, None if snaps is None else snaps[a],
                                   above_bound))
    if failures and throw:
        raise DivergenceError(failures[0] + (f" ({len(failures) - 1} more instances diverged)"
                                             if len(failures) > 1 else ""))
    return records


def _noise_source(options, noise_seed, n_inst, n, m) -> NoiseSource | None:
    if options.noise is None:
        if noise_seed is not None:
            warnings.warn("train: noise_seed ignored without TrainOptions.noise", stacklevel=3)
        return None
    seed = options.seed if noise_seed is None else noise_seed
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer | np.random.SeedSequence):
        raise ValueError("noise_seed must be an integer >= 0 or a numpy.random.SeedSequence "
                         "when TrainOptions.noise is set (or set TrainOptions.seed)")
    if not isinstance(seed, np.random.SeedSequence):
        if seed < 0:
            raise ValueError(f"noise_seed must be an integer >= 0; got {seed}")
        seed = np.random.SeedSequence(int(seed))
    return NoiseSource(options.noise, n_inst, n, m, seed)


def _record(a, Wa, W_init, options, n, b, status, steps, sparse_steps, residual, growth, wall,
            seeds, failures, snaps, above_bound) -> RunRecord:
    opt = options.optimizer
    Wa = Wa.astype(np.float64, copy=False)  # measurements in float64 whatever the dtype
    finite = bool(np.all(np.isfinite(Wa)))
    st = _STATUS[int(status)]
    if st == "diverged":
        why = ("the loss became NaN/inf" if status == K.DIVERGED_NONFINITE else
               f"the loss exceeded {growth:.3g} = divergence_factor * max(L(W0), n)")
        message = (f"instance {a}: {opt} diverged after {steps} steps: {why}. "
                   + options.step_size_message(n, b))
        failures.append(message)
    elif st == "converged":
        message = f"mapping norm {residual:.3g} <= tol {options.tol:g}"
    else:
        message = f"ran the full budget of {options.max_steps} steps"
    if above_bound:
        message = "step size above the stability bound (allow_unstable): " + message
    return RunRecord(
        instance=a,
        optimizer=opt,
        status=st,
        message=message,
        steps=int(steps),
        sparse_steps=int(sparse_steps),
        final_loss=_loss(Wa, options.lam) if finite else math.nan,
        residual=float(residual),
        nonzeros=int(np.count_nonzero(Wa)),
        features_represented=features_represented(Wa) if finite else 0,
        max_positive_overlap=max_positive_overlap(Wa) if finite else math.nan,
        wall_time=wall,
        seed=None if seeds is None else (seeds[a].entropy, tuple(seeds[a].spawn_key)),
        W0=None if W_init is None else W_init[a],
        W=Wa.copy() if options.record_weights else None,
        step_above_bound=bool(above_bound),
        snapshot_steps=None if snaps is None else tuple(k for k, _ in snaps),
        snapshots=None if snaps is None else np.stack([w for _, w in snaps]),
    )
