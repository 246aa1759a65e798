"""Experiment specs, their canonical keys and seeds, and the named presets.

An `ExperimentSpec` is one point of a sweep: one (n, m, lam, optimizer, ...) setting
trained on `instances` independent initialisations. Every instance has its own
canonical key (the results-store key) and its own seed stream. Presets are
functions returning a `PresetGrid`; `build_specs` turns a preset plus command-line
overrides into a list of specs. How presets and flags are used is in
`docs/usage.md`.

Units. Everything is in the units of the authors' code (docs/paper.md#loss): the loss is
sum-SSE + lam * ||W||_1 and `lr` is the step size on that loss. The analysis uses
normalized units (docs/paper.md#normalized-units): flow time tau = 4 t and lam_tilde = lam / 4, so

    one (proximal) GD step of size lr advances normalized flow time by 4 * lr,
    tau = FLOW_TIME_PER_LR_STEP * lr * steps.

This module is the single place that states that conversion
(`ExperimentSpec.flow_time`, `ExperimentSpec.lam_normalized`).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import math
import numbers
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np

from dynamics import HiddenNoise

__all__ = [
    "ADAMW_WEIGHT_DECAY",
    "DEFAULT_PRESET",
    "FLOW_TIME_PER_LR_STEP",
    "OPTIMIZERS",
    "OVERRIDE_KEYS",
    "PRESETS",
    "ExperimentSpec",
    "PresetGrid",
    "SPEC_FIELDS",
    "build_specs",
    "canonical_key",
    "check_step_sizes",
    "is_unstable",
    "overridden",
    "resolve_grid",
    "step_size_bound",
    "instance_seed",
    "noise_label",
    "noise_seed",
    "parse_noise",
    "package_version",
]

# Distribution name in pyproject.toml; its version enters every canonical key.
_DISTRIBUTION = "incidental-polysemanticity"
# Used when the package runs from a source tree without installed metadata.
# Keep equal to pyproject.toml's version.
_FALLBACK_VERSION = "0.1.0"

# Optimizers the training engine accepts (dynamics.TrainOptions.optimizer).
OPTIMIZERS = ("prox-gd", "gd", "sgd", "adamw")
# Optimizers that follow the gradient flow with time step 4 * lr (docs/paper.md#normalized-units).
_FLOW_OPTIMIZERS = ("prox-gd", "gd")
# d(tau)/d(step) / lr: the code loss' gradient is 4x the normalized one
# (docs/paper.md#normalized-units).
FLOW_TIME_PER_LR_STEP = 4.0

# Spec fields that do not change what one instance computes, so they stay out of
# the canonical key: raising `instances` from 16 to 32 reuses the first 16 runs.
_KEY_EXCLUDED = ("instances",)
# Spec fields added after stores existed, with the default that leaves them out of the key.
_KEY_DEFAULTS_OMITTED = {"dtype": "float64"}


def package_version() -> str:
    """The installed package version, or `_FALLBACK_VERSION` when running from a source tree."""
    try:
        return importlib.metadata.version(_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return _FALLBACK_VERSION


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
    optimizer: str = "prox-gd"
    # Step size on the code loss; finite, > 0. For gd/prox-gd one step is flow time 4 * lr.
    lr: float = 0.05
    # Maximum number of optimizer steps (exactly this many when tol is None); integer >= 1.
    steps: int = 10_000
    # Convergence tolerance (dynamics.TrainOptions.tol): a run stops once the Frobenius
    # norm of its prox-gradient mapping, in code-loss gradient units, is <= tol; reached
    # by prox-gd, rarely by gd/sgd/adamw. None trains exactly `steps` steps. Finite, > 0.
    tol: float | None = None
    # Initial weights W_ik ~ N(0, (init_std)^2 / m), i.e. in units of the paper's
    # 1/sqrt(m) (docs/paper.md#initialization; dynamics.init_weights). Finite, > 0.
    init_std: float = 1.0
    # Mini-batch size for sgd, in inputs (features) per step; None = full batch (all n
    # one-hot inputs). Integer in [1, n] when given.
    batch_size: int | None = None
    # AdamW decoupled weight decay (dimensionless, per unit lr); finite, >= 0, and
    # nonzero only with optimizer "adamw" (torch's AdamW default is 0.01, docs/paper.md#optimizers).
    weight_decay: float = 0.0
    # Hidden-layer noise (docs/theory/noise.md#setup): None, or a dynamics.HiddenNoise
    # (sigma per hidden coordinate, shape, sharing, draws); only with optimizer "gd" and
    # tol None. Instances share one noise stream ("shared") or get their own
    # ("independent"), see `noise_seed`.
    noise: HiddenNoise | None = None
    # Floating-point type of the weights: "float64", or "float32" for adamw only (as the
    # authors trained; docs/dynamics/training.md#precision).
    dtype: str = "float64"
    # Master seed of the spec; instance i uses SeedSequence(seed, spawn_key=(i,)).
    # Integer >= 0.
    seed: int = 0
    # Number of independent instances (initialisations); integer >= 1. Not in the key.
    instances: int = 1

    def __post_init__(self) -> None:
        def set_(name, value):
            object.__setattr__(self, name, value)

        for name, low in (("n", 1), ("m", 1), ("steps", 1), ("seed", 0), ("instances", 1)):
            value = getattr(self, name)
            if not _is_int(value) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}; got {value!r}")
            set_(name, int(value))
        for name, strictly_positive in (
            ("lam", False),
            ("lr", True),
            ("init_std", True),
            ("weight_decay", False),
        ):
            value = getattr(self, name)
            bad = not _is_real(value) or not math.isfinite(value)
            bad = bad or (value <= 0 if strictly_positive else value < 0)
            if bad:
                bound = "> 0" if strictly_positive else ">= 0"
                raise ValueError(f"{name} must be a finite number {bound}; got {value!r}")
            set_(name, float(value))
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}; got {self.optimizer!r}")
        if self.tol is not None:
            if not _is_real(self.tol) or not math.isfinite(self.tol) or self.tol <= 0:
                raise ValueError(f"tol must be None or a finite number > 0; got {self.tol!r}")
            set_("tol", float(self.tol))
        if self.batch_size is not None:
            if not _is_int(self.batch_size) or not 1 <= self.batch_size <= self.n:
                raise ValueError(
                    f"batch_size must be None or an integer in [1, n={self.n}]; "
                    f"got {self.batch_size!r}"
                )
            set_("batch_size", int(self.batch_size))
        if self.weight_decay != 0.0 and self.optimizer != "adamw":
            raise ValueError(
                f"weight_decay must be 0 unless optimizer is 'adamw'; got "
                f"weight_decay={self.weight_decay} with optimizer={self.optimizer!r}"
            )
        if isinstance(self.noise, Mapping):  # the JSON form of to_dict()
            set_("noise", HiddenNoise(**self.noise))
        if isinstance(self.noise, str):  # the CLI and record form, noise_label()
            set_("noise", parse_noise(self.noise))
        if self.noise is not None:
            if not isinstance(self.noise, HiddenNoise):
                raise ValueError(f"noise must be None or a dynamics.HiddenNoise; got "
                                 f"{self.noise!r}")
            if self.optimizer != "gd" or self.tol is not None:
                raise ValueError("noise needs optimizer 'gd' and tol None (the noisy step is "
                                 f"not a prox-gradient step); got optimizer={self.optimizer!r}, "
                                 f"tol={self.tol!r}")
        if self.dtype not in ("float64", "float32"):
            raise ValueError(f"dtype must be 'float64' or 'float32'; got {self.dtype!r}")
        if self.dtype == "float32" and self.optimizer != "adamw":
            raise ValueError(f"dtype 'float32' is for optimizer 'adamw' only; got "
                             f"optimizer={self.optimizer!r}")

    @property
    def flow_time(self) -> float | None:
        """Normalized flow time tau = 4 * lr * steps reached after `steps` steps (gd/prox-gd).

        None for sgd and adamw, whose steps are not a discretisation of the gradient
        flow (docs/paper.md#optimizer-gap). With a `tol` the run may stop earlier.
        """
        if self.optimizer not in _FLOW_OPTIMIZERS:
            return None
        return FLOW_TIME_PER_LR_STEP * self.lr * self.steps

    @property
    def lam_normalized(self) -> float:
        """lam_tilde = lam / 4, the L1 coefficient of the normalized flow
        (docs/paper.md#normalized-units)."""
        return self.lam / FLOW_TIME_PER_LR_STEP

    def to_dict(self) -> dict:
        """All fields as a JSON-able dict (field order as declared)."""
        return asdict(self)


def _canonical_json(payload: Mapping) -> str:
    # sort_keys + fixed separators: one byte string per value. json writes floats
    # with repr(), the shortest round-tripping form, so equal floats give equal text.
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)


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
    fields_ = {k: v for k, v in spec.to_dict().items() if k not in _KEY_EXCLUDED}
    # fields added later enter the key only when they differ from their default, so the
    # runs stored before they existed keep their keys (and stay reusable)
    for name, default in _KEY_DEFAULTS_OMITTED.items():
        if fields_.get(name) == default:
            del fields_[name]
    payload = {
        "spec": fields_,
        "instance": int(instance),
        "version": package_version(),
    }
    return hashlib.sha256(_canonical_json(payload).encode("utf-8")).hexdigest()


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
    if spec.noise is not None and spec.noise.sharing == "shared":
        return np.random.SeedSequence(spec.seed, spawn_key=(_SHARED_NOISE_KEY,))
    return np.random.SeedSequence(spec.seed, spawn_key=(int(instance), 1))


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
    return np.random.SeedSequence(spec.seed, spawn_key=(int(instance),))


# ---------------------------------------------------------------------------------------
# Presets
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PresetGrid:
    """A preset: grid axes (n, m, lam) and the spec fields shared by every grid point.

    `specs()` is the cartesian product in the order n, then m, then lam.
    """

    # Feature counts to sweep.
    n: tuple[int, ...]
    # Neuron counts to sweep.
    m: tuple[int, ...]
    # L1 coefficients to sweep (code units).
    lam: tuple[float, ...]
    # The other ExperimentSpec fields (optimizer, lr, steps, tol, seed, instances, ...).
    common: Mapping = field(default_factory=dict)
    # One line for --help and docs.
    description: str = ""

    @property
    def size(self) -> int:
        """Number of grid points before duplicates are removed (len(n) len(m) len(lam))."""
        return len(self.n) * len(self.m) * len(self.lam)

    def specs(self) -> list[ExperimentSpec]:
        """Every grid point as an ExperimentSpec, duplicates removed, order preserved.

        Linear in the number of grid points: duplicates are found by hashing (specs are
        frozen dataclasses), not by scanning the list built so far.
        """
        common = dict(self.common)
        out = (
            ExperimentSpec(n=n, m=m, lam=lam, **common)
            for n in self.n
            for m in self.m
            for lam in self.lam
        )
        return list(dict.fromkeys(out))


# E3's neuron grid: m = 256..4096 step 256 (docs/paper.md#experiments).
_E3_M = tuple(range(256, 4096 + 1, 256))
# PyTorch's AdamW default weight decay, used by the paper (docs/paper.md#optimizers).
ADAMW_WEIGHT_DECAY = 0.01
# The authors' AdamW: torch defaults apart from lr (docs/paper.md#optimizers).
_PAPER_ADAMW = {
    "optimizer": "adamw",
    "lr": 1e-3,
    "weight_decay": ADAMW_WEIGHT_DECAY,
    "steps": 7500,
}


def _quick() -> PresetGrid:
    # Sized to finish in < 3 minutes on 2 cores from a cold start, numba compilation
    # included (measured: docs/usage.md#quick). lam = 1e-2 instead of the paper's 1e-3:
    # prox-gd then converges in ~1e4 steps instead of ~2.5e4 (sparsification time is
    # ~1/(lam lr) steps, docs/paper.md#assumptions); at n = 64 the count agrees with the sign-bin
    # model at both lam = 1e-3 and 1e-2 (docs/results.md, item 4; at n = 256 it
    # does depend on lam), and lam_tilde sqrt(m) = 0.08 << 1 keeps the balance regime
    # (docs/paper.md#quick-reference). lr = 0.05 is the engine's default, 5x inside the GD
    # stability bound 1/4. tol = 1e-6 on the prox-gradient mapping norm is reached by
    # every instance tried well before the 50 000-step cap.
    return PresetGrid(
        n=(64,),
        m=(64, 128, 256, 512, 1024),
        lam=(1e-2,),
        common={
            "optimizer": "prox-gd",
            "lr": 0.05,
            "steps": 50_000,
            "tol": 1e-6,
            "seed": 0,
            "instances": 32,
        },
        description="n=64, m=64..1024 (x2), prox-gd lam 1e-2 to convergence, 32 instances: "
        "about a minute on 2 cores, shows the n^2/4m scaling",
    )


def _paper() -> PresetGrid:
    return PresetGrid(
        n=(256,),
        m=_E3_M,
        lam=(1e-3,),
        common={**_PAPER_ADAMW, "seed": 0, "instances": 16},
        description="E3 as published: n=256, m=256..4096 step 256, 16 instances, "
        "AdamW lr 1e-3 wd 0.01, lam 1e-3, 7500 steps",
    )


def _gradient_flow() -> PresetGrid:
    # The regime the theory is about (docs/paper.md#optimizer-gap): proximal GD at the engine's
    # default lr (5x inside the stability bound 1/4), lam as in E3, stopped when the
    # prox-gradient mapping norm is <= tol; `steps` is only a cap. Convergence takes
    # about 5 / (lam lr) steps (measured: 113 445 steps at n = m = 256, and ~1e4 at
    # n = 64, lam = 1e-2), so the cap of 15 / (lam lr) leaves a 3x margin.
    # Cost and subsets: docs/usage.md#gradient-flow.
    return PresetGrid(
        n=(256,),
        m=_E3_M,
        lam=(1e-3,),
        common={
            "optimizer": "prox-gd",
            "lr": 0.05,
            "steps": 300_000,
            "tol": 1e-6,
            "seed": 0,
            "instances": 16,
        },
        description="E3's grid trained by prox-gd lam 1e-3 to convergence (the theory's "
        "regime); hours on 2 cores, see docs/usage.md",
    )


def _lambdas() -> PresetGrid:
    return PresetGrid(
        n=(256,),
        m=_E3_M,
        lam=(1e-3, 1e-2, 1e-1),
        common={**_PAPER_ADAMW, "seed": 0, "instances": 16},
        description="E5: E3 with lam in {1e-3, 1e-2, 1e-1}",
    )


# Name -> preset function (scipy METHODS-style registry). The first one is the default.
PRESETS: dict[str, Callable[[], PresetGrid]] = {
    "quick": _quick,
    "paper": _paper,
    "gradient-flow": _gradient_flow,
    "lambdas": _lambdas,
}
DEFAULT_PRESET = "quick"

# Keys `build_specs` accepts in `overrides` (the CLI flags without dashes).
OVERRIDE_KEYS = (
    "n",
    "m",
    "m_range",
    "lam",
    "optimizer",
    "lr",
    "steps",
    "tol",
    "instances",
    "seed",
    "dtype",
    "noise",
)


def _positive_ints(name: str, values) -> tuple[int, ...]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        values = (values,)
    values = tuple(values)
    for v in values:
        if not _is_int(v) or v < 1:
            raise ValueError(f"{name} values must be integers >= 1; got {v!r}")
    return tuple(int(v) for v in values)


def _m_range(value) -> tuple[int, ...]:
    try:
        start, stop, step = value
    except (TypeError, ValueError):
        raise ValueError(f"m_range must be (start, stop, step); got {value!r}") from None
    start, stop, step = _positive_ints("m_range", (start, stop, step))
    # Inclusive stop, as in the paper's "m = 256..4096 step 256".
    return tuple(range(start, stop + 1, step))


def build_specs(
    preset: str = DEFAULT_PRESET, overrides: Mapping | None = None
) -> list[ExperimentSpec]:
    """The specs of a preset with flag overrides applied (see docs/usage.md#flags).

    `resolve_grid(preset, overrides).specs()`; see `resolve_grid` for the arguments.
    """
    return resolve_grid(preset, overrides).specs()


def resolve_grid(preset: str = DEFAULT_PRESET, overrides: Mapping | None = None) -> PresetGrid:
    """The grid of a preset with flag overrides applied, before any spec is built.

    Lets a caller check the grid's size (`PresetGrid.size`, the largest n m) before
    building what may be millions of specs.

    Main arguments:
        preset: a name in PRESETS.
        overrides: keys from OVERRIDE_KEYS; a value of None means "not given" (so an
            argparse namespace can be passed as `vars(args)` filtered to these keys).
            n, m, lam: a value or a list of values replacing that grid axis.
            m_range: (start, stop, step), stop inclusive; replaces the m axis (give
                either m or m_range, not both).
            optimizer, lr, steps, seed, instances, dtype, noise: replace that spec
                field (noise a dynamics.HiddenNoise). Changing
                the optimizer away from adamw sets weight_decay to 0, changing it to
                adamw sets the paper's 0.01; it does not change lr.
            tol: a tolerance > 0, or 0 for "no tolerance, run exactly `steps`".

    Returns the resolved PresetGrid; its `specs()` are in grid order (n, then m, then
    lam), without duplicates.

    Raises ValueError for an unknown preset, an unknown override key, a bad value
    (naming the field) or an empty grid.
    """
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}; got {preset!r}")
    overrides = {k: v for k, v in dict(overrides or {}).items() if v is not None}
    unknown = sorted(set(overrides) - set(OVERRIDE_KEYS))
    if unknown:
        raise ValueError(f"unknown override(s) {unknown}; accepted: {list(OVERRIDE_KEYS)}")
    grid = PRESETS[preset]()
    axes = {"n": grid.n, "m": grid.m, "lam": grid.lam}
    common = dict(grid.common)
    if "m" in overrides and "m_range" in overrides:
        raise ValueError("give either m or m_range, not both")
    if "n" in overrides:
        axes["n"] = _positive_ints("n", overrides["n"])
    if "m" in overrides:
        axes["m"] = _positive_ints("m", overrides["m"])
    if "m_range" in overrides:
        axes["m"] = _m_range(overrides["m_range"])
    if "lam" in overrides:
        lam = overrides["lam"]
        is_list = isinstance(lam, Iterable) and not isinstance(lam, str)
        axes["lam"] = tuple(lam) if is_list else (lam,)
    for name in ("optimizer", "lr", "steps", "seed", "instances", "dtype", "noise"):
        if name in overrides:
            common[name] = overrides[name]
    if common.get("optimizer") != "adamw":
        common["weight_decay"] = 0.0
    elif "weight_decay" not in common:
        # Switching a preset to adamw uses the paper's (= PyTorch's) AdamW decay.
        common["weight_decay"] = ADAMW_WEIGHT_DECAY
    if "tol" in overrides:
        tol = overrides["tol"]
        common["tol"] = None if (_is_real(tol) and tol == 0) else tol
    for name, values in axes.items():
        if not values:
            raise ValueError(f"the grid is empty: no values for {name}")
    # Validate every shared field and lam value now (n and m are checked above), so a bad
    # value is reported before anything is sized or built.
    for lam in axes["lam"]:
        ExperimentSpec(n=max(axes["n"]), m=axes["m"][0], lam=lam, **common)
    return replace(grid, n=axes["n"], m=axes["m"], lam=axes["lam"], common=common)


def overridden(preset: str, grid: PresetGrid) -> list[str]:
    """What `grid` changed of `preset`'s own values, as "name old -> new" strings.

    Printed by the CLI and kept in the report, so that no explicit flag silently loses
    to a preset, nor a preset value silently to a flag.
    """
    base = resolve_grid(preset, {})
    changes = []
    for name in ("n", "m", "lam"):
        old, new = getattr(base, name), getattr(grid, name)
        if old != new:
            changes.append(f"{name} {_short(old)} -> {_short(new)}")
    for name in sorted(set(base.common) | set(grid.common)):
        old, new = base.common.get(name), grid.common.get(name)
        if old != new:
            changes.append(f"{name} {old!r} -> {new!r}")
    return changes


def _short(values: tuple) -> str:
    if len(values) <= 4:
        return ",".join(f"{v:g}" for v in values)
    return f"{values[0]:g},{values[1]:g},...,{values[-1]:g} ({len(values)} values)"


def step_size_bound(spec: ExperimentSpec) -> float:
    """The optimizer's stability bound on lr for this spec (docs/dynamics/training.md#step-size).

    `dynamics.gd_step_size_bound` with the spec's n and batch size (full batch when
    None): 1/4 for gd and prox-gd, b/(4n) for sgd, inf for adamw.
    """
    from dynamics import gd_step_size_bound

    return gd_step_size_bound(spec.optimizer, spec.n, spec.batch_size or spec.n)


def is_unstable(spec: ExperimentSpec) -> bool:
    """Whether the spec's lr is at or above its optimizer's stability bound."""
    return spec.lr >= step_size_bound(spec)


def check_step_sizes(specs: Iterable[ExperimentSpec], allow_unstable: bool = False) -> None:
    """Refuse specs whose lr is at or above the stability bound, unless `allow_unstable`.

    Above the bound (prox-)GD oscillates or diverges instead of following the gradient
    flow (docs/dynamics/training.md#step-size), so its counts are not the theory's. With
    `allow_unstable` such runs are computed, then flagged and excluded from the counts by
    the report. Raises ValueError naming the first offending lr and its bound.
    """
    for spec in specs:
        if not isinstance(spec, ExperimentSpec):
            raise ValueError(
                f"specs must contain ExperimentSpec objects; got {type(spec).__name__}"
            )
        if not allow_unstable and is_unstable(spec):
            raise ValueError(
                f"lr {spec.lr:g} is at or above the {spec.optimizer} stability bound "
                f"lr < {step_size_bound(spec):g} at n={spec.n} "
                "(docs/dynamics/training.md#step-size): runs would oscillate or diverge; "
                "use a smaller lr, or --allow-unstable to run them flagged and excluded "
                "from the counts"
            )


# Field names, for consumers that flatten specs into records.
SPEC_FIELDS = tuple(f.name for f in fields(ExperimentSpec))
