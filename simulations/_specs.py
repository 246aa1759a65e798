"""Experiment specs of the main job: the type, its validation, canonical keys and seeds.

An `ExperimentSpec` is one point of a sweep: one (n, m, lam, optimizer, ...) setting
trained on `instances` independent initialisations. Every instance has its own
canonical key (the results-store key) and its own seed stream. Presets and command-line
overrides that build lists of specs are in `simulations/_presets.py`; the step-size
checks in `simulations/_stability.py`. How presets and flags are used is in
`docs/usage.md`.

Units. Everything is in the units of the authors' code (docs/paper.md#loss): the loss is
sum-SSE + lam * ||W||_1 and `lr` is the step size on that loss. The analysis uses
normalized units (docs/paper.md#normalized-units): flow time tau = 4 t and lam_tilde = lam / 4,
so one (proximal) GD step of size lr advances normalized flow time by 4 * lr. The factor
and the conversions are defined once, in `dynamics` (`dynamics.FLOW_TIME_PER_LR_STEP`,
`dynamics.steps_to_normalized_time`, `dynamics.lam_to_normalized`); a spec only applies
them (`ExperimentSpec.flow_time`, `ExperimentSpec.lam_normalized`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace

import numpy as np

from dynamics import (
    FLOW_OPTIMIZERS,
    HiddenNoise,
    TrainOptions,
    lam_to_normalized,
    steps_to_normalized_time,
)

from ._seeds import instance_seed_of, stream_seed
from .runner.keys import canonical_json, package_version, payload_key, versioned_key

__all__ = [
    "ExperimentSpec",
    "canonical_json",
    "canonical_key",
    "instance_seed",
    "noise_label",
    "noise_seed",
    "package_version",
    "parse_noise",
    "payload_key",
    "versioned_key",
]

# Spec fields that do not change what one instance computes, so they stay out of
# the canonical key: raising `instances` from 16 to 32 reuses the first 16 runs.
_KEY_EXCLUDED = ("instances",)
# Spec fields added after stores existed, with the default that leaves them out of the key.
_KEY_DEFAULTS_OMITTED = {"dtype": "float64"}
# Spec fields renamed after stores existed -> the name they are hashed under. The step budget
# was called `steps` when the first runs were stored; hashing it under that name keeps their
# keys, so a renamed field never orphans stored runs.
_KEY_NAMES = {"max_steps": "steps"}


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


@dataclass(frozen=True)
class ExperimentSpec:
    """One sweep point: a training configuration and how many instances to run.

    Fields are in the code's units (module docstring); the normalized flow time and
    lam are derived properties. Validation happens in `__post_init__`, which also
    canonicalises types (ints stay ints, reals become floats) so that equal specs
    have equal canonical keys. See `docs/usage.md#presets` for the presets.
    """

    # Number of features (rows of W, shape (n, m)); integer >= 1.
    n: int
    # Number of hidden neurons (columns of W); integer >= 1. The theory's regime is m >= n.
    m: int
    # L1 coefficient on the weights in code units (loss = SSE + lam * ||W||_1);
    # finite, >= 0. Normalized lam_tilde = lam / 4 (`lam_normalized`).
    lam: float
    # Training algorithm, one of OPTIMIZERS (dynamics.TrainOptions.optimizer).
    optimizer: str = TrainOptions.optimizer
    # Step size on the code loss; finite, > 0. For gd/prox-gd one step is flow time 4 * lr.
    # None (default): the optimizer's own, dynamics.DEFAULT_LR (resolved on construction).
    lr: float | None = None
    # Step budget: maximum number of optimizer steps (exactly this many when tol is None),
    # as dynamics.TrainOptions.max_steps; integer >= 1. The record's `train_steps` is the
    # number taken.
    max_steps: int = TrainOptions.max_steps
    # Convergence tolerance (dynamics.TrainOptions.tol): a run stops once the Frobenius
    # norm of its prox-gradient mapping, in code-loss gradient units, is <= tol; reached
    # by prox-gd, rarely by gd/sgd/adamw. None trains exactly `max_steps` steps. Finite, > 0.
    tol: float | None = TrainOptions.tol
    # Initial weights W_ik ~ N(0, (init_std)^2 / m), i.e. in units of the paper's
    # 1/sqrt(m) (docs/paper.md#initialization; dynamics.init_weights). Finite, > 0.
    init_std: float = 1.0
    # Mini-batch size for sgd, in inputs (features) per step; None = full batch (all n
    # one-hot inputs). Integer in [1, n] when given.
    batch_size: int | None = None
    # AdamW decoupled weight decay (dimensionless, per unit lr); finite, >= 0, and
    # nonzero only with optimizer "adamw". None (default): TrainOptions' 0.01 for adamw
    # (torch's AdamW default, docs/paper.md#optimizers), 0 for the others.
    weight_decay: float | None = None
    # Hidden-layer noise (docs/theory/noise.md#setup): None, or a dynamics.HiddenNoise
    # (sigma per hidden coordinate, shape, sharing, draws); only with optimizer "gd" and
    # tol None. Instances share one noise stream ("shared") or get their own
    # ("independent"), see `noise_seed`.
    noise: HiddenNoise | None = None
    # Floating-point type of the weights: "float64", or "float32" for adamw only (as the
    # authors trained; docs/dynamics/training.md#precision).
    dtype: str = TrainOptions.dtype
    # Master seed of the spec; instance i uses SeedSequence(seed, spawn_key=(i,)).
    # Integer >= 0.
    seed: int = 0
    # Number of independent instances (initialisations); integer >= 1. Not in the key.
    instances: int = 1

    def __post_init__(self) -> None:
        """Validate once: the spec's own fields here, the training fields by
        `dynamics.TrainOptions` (held as `train`), whose canonical values are copied back."""
        def set_(name, value):
            object.__setattr__(self, name, value)

        for name, low in (("n", 1), ("m", 1), ("max_steps", 1), ("seed", 0),
                          ("instances", 1)):
            value = getattr(self, name)
            if not _is_int(value) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}; got {value!r}")
        if not _is_real(self.init_std) or not math.isfinite(self.init_std) or self.init_std <= 0:
            raise ValueError(f"init_std must be a finite number > 0; got {self.init_std!r}")
        set_("init_std", float(self.init_std))
        for name in ("n", "m", "seed", "instances"):
            set_(name, int(getattr(self, name)))
        if isinstance(self.noise, Mapping):  # the JSON form of to_dict()
            set_("noise", HiddenNoise(**self.noise))
        if isinstance(self.noise, str):  # the CLI and record form, noise_label()
            set_("noise", parse_noise(self.noise))
        # Rules of a sweep point beyond what training checks: weight decay only where it
        # acts (its value enters the key), a batch of 1 to n of the n inputs for any optimizer.
        if self.optimizer != "adamw" and self.weight_decay is None:
            set_("weight_decay", 0.0)
        if self.optimizer != "adamw" and not (_is_real(self.weight_decay)
                                              and self.weight_decay == 0):
            raise ValueError(
                f"weight_decay must be 0 unless optimizer is 'adamw'; got "
                f"weight_decay={self.weight_decay!r} with optimizer={self.optimizer!r}"
            )
        if self.batch_size is not None:
            if not _is_int(self.batch_size) or not 1 <= self.batch_size <= self.n:
                raise ValueError(f"batch_size must be None or an integer in [1, n={self.n}]; "
                                 f"got {self.batch_size!r}")
            set_("batch_size", int(self.batch_size))
        train = TrainOptions(**self._train_fields())
        set_("train", train)
        for name in ("lam", "lr", "max_steps", "tol"):
            set_(name, getattr(train, name))
        set_("weight_decay", train.weight_decay if self.optimizer == "adamw"
             else float(self.weight_decay))

    def _train_fields(self) -> dict:
        """The fields `TrainOptions` validates; optimizer-specific ones only where they act
        (the engine warns about ignored options)."""
        out = {"optimizer": self.optimizer, "lr": self.lr, "lam": self.lam,
               "max_steps": self.max_steps, "tol": self.tol, "noise": self.noise,
               "dtype": self.dtype}
        if self.optimizer == "adamw" and self.weight_decay is not None:
            out["weight_decay"] = self.weight_decay
        if self.optimizer == "sgd":
            out["batch_size"] = self.batch_size
        return out

    def train_options(self, **changes) -> TrainOptions:
        """The engine options of this spec (`train`) with `changes`, e.g.
        `record_weights=True`."""
        return replace(self.train, **changes)

    @property
    def flow_time(self) -> float | None:
        """Normalized flow time tau = 4 * lr * max_steps reached by the whole budget (gd/prox-gd).

        None for sgd and adamw, whose steps are not a discretisation of the gradient
        flow (docs/paper.md#optimizer-gap). With a `tol` the run may stop earlier.
        """
        if self.optimizer not in FLOW_OPTIMIZERS:
            return None
        return steps_to_normalized_time(self.max_steps, self.lr)

    @property
    def lam_normalized(self) -> float:
        """lam_tilde = lam / 4, the L1 coefficient of the normalized flow
        (docs/paper.md#normalized-units)."""
        return lam_to_normalized(self.lam)

    def to_dict(self) -> dict:
        """All fields as a JSON-able dict (field order as declared)."""
        return asdict(self)


def canonical_key(spec: ExperimentSpec, instance: int) -> str:
    """Stable results-store key of one (spec, instance): a SHA-256 hex digest.

    It hashes the canonical JSON of every spec field except `instances`, the instance
    index and the package version. The version is included because a new release may
    change what a run computes; stored runs of an older version are then not reused.
    """
    if not isinstance(spec, ExperimentSpec):
        raise ValueError(f"spec must be an ExperimentSpec; got {type(spec).__name__}")
    if not _is_int(instance) or not 0 <= instance < spec.instances:
        raise ValueError(
            f"instance must be an integer in [0, instances={spec.instances}); got {instance!r}"
        )
    fields_ = {_KEY_NAMES.get(k, k): v for k, v in spec.to_dict().items()
               if k not in _KEY_EXCLUDED}
    # fields added later enter the key only when they differ from their default, so the
    # runs stored before they existed keep their keys (and stay reusable)
    for name, default in _KEY_DEFAULTS_OMITTED.items():
        if fields_.get(name) == default:
            del fields_[name]
    return versioned_key({"spec": fields_, "instance": int(instance)})


def noise_label(noise: HiddenNoise) -> str:
    """The flat form "shape:sigma:sharing:draws" of a noise option (records, CLI)."""
    return f"{noise.shape}:{noise.sigma!r}:{noise.sharing}:{noise.draws}"


def parse_noise(text: str) -> HiddenNoise:
    """Parse "shape:sigma[:sharing[:draws]]" (e.g. "bernoulli:0.1:independent")."""
    parts = text.split(":")
    if not 2 <= len(parts) <= 4:
        raise ValueError(f"noise must be 'shape:sigma[:sharing[:draws]]'; got {text!r}")
    try:
        sigma = float(parts[1])
        draws = int(parts[3]) if len(parts) == 4 else 1
    except ValueError:
        raise ValueError(f"noise must be 'shape:sigma[:sharing[:draws]]' with a number "
                         f"sigma and an integer draws; got {text!r}") from None
    sharing = parts[2] if len(parts) >= 3 else "shared"
    return HiddenNoise(sigma, parts[0], sharing, draws)


# spawn_key of the noise stream shared by all instances of a spec; instance indices stay
# far below it, so it never coincides with an instance's key.
_SHARED_NOISE_KEY = 1 << 32


def noise_seed(spec: ExperimentSpec, instance: int) -> np.random.SeedSequence:
    """Seed of an instance's hidden-layer noise: one stream for all instances of the spec
    when ``spec.noise.sharing == "shared"`` (as the authors' code shares one draw),
    else ``SeedSequence(spec.seed, spawn_key=(instance, 1))``, distinct from its W0 seed."""
    stream = stream_seed(spec.seed)
    if spec.noise is not None and spec.noise.sharing == "shared":
        return instance_seed_of(stream, _SHARED_NOISE_KEY)
    return instance_seed_of(instance_seed_of(stream, instance), 1)


def instance_seed(spec: ExperimentSpec, instance: int) -> np.random.SeedSequence:
    """The seed of one instance: `SeedSequence(spec.seed, spawn_key=(instance,))`.

    Instances of one spec get independent streams; specs that differ only in lam
    or optimizer (same seed, n, m) start from identical weights, which makes their
    comparison paired. Record `entropy` and `spawn_key` to reproduce a run.
    """
    if not isinstance(spec, ExperimentSpec):
        raise ValueError(f"spec must be an ExperimentSpec; got {type(spec).__name__}")
    if not _is_int(instance) or instance < 0:
        raise ValueError(f"instance must be an integer >= 0; got {instance!r}")
    return instance_seed_of(stream_seed(spec.seed), instance)
