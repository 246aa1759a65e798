"""Named presets of the main job and the command-line overrides that turn one into specs.

A preset is a function returning a `PresetGrid` (grid axes n, m, lam and the spec fields
shared by every grid point); `resolve_grid` applies flag overrides to it, and
`build_specs` returns the resulting `ExperimentSpec`s (simulations/_specs.py). Presets
and flags: docs/usage.md#presets, docs/usage.md#flags. Values are in code units
(docs/paper.md#loss); `max_steps` is a step budget.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

from ._specs import ExperimentSpec, _is_int, _is_real

__all__ = [
    "ADAMW_WEIGHT_DECAY",
    "DEFAULT_PRESET",
    "OVERRIDE_KEYS",
    "PRESETS",
    "PresetGrid",
    "build_specs",
    "overridden",
    "preset_help",
    "resolve_grid",
]



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
    # The other ExperimentSpec fields (optimizer, lr, max_steps, tol, seed, instances, ...).
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
    "max_steps": 7500,
}


# Prox-gd to convergence as the `quick` preset and the research studies run it: lam 1e-2,
# lr 0.05 (the engine's default step, 5x inside the stability bound 1/4), stopped at a
# prox-gradient norm of 1e-6, which every instance tried reaches well before the cap.
CONVERGED_PROX_GD = {"optimizer": "prox-gd", "lr": 0.05, "lam": 1e-2, "tol": 1e-6,
                     "max_steps": 50_000}

# Step cap of prox-gd trained to convergence, in units of 1 / (lam lr): convergence takes
# about 5 / (lam lr) steps (measured: 113 445 steps at n = m = 256, lam 1e-3, and ~1e4 at
# n = 64, lam 1e-2; docs/usage.md#gradient-flow), so 15 leaves a 3x margin.
FLOW_CAP_UNITS = 15.0


def flow_step_cap(lam: float, lr: float, units: float = FLOW_CAP_UNITS) -> int:
    """The step cap of a prox-gd run to convergence at (lam, lr): ceil(units / (lam lr))."""
    return int(math.ceil(units / (lam * lr)))


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
        lam=(CONVERGED_PROX_GD["lam"],),
        common={**{k: v for k, v in CONVERGED_PROX_GD.items() if k != "lam"},
                "seed": 0, "instances": 32},
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
    # prox-gradient mapping norm is <= tol; `max_steps` is only a cap (`flow_step_cap`).
    # Cost and subsets: docs/usage.md#gradient-flow.
    return PresetGrid(
        n=(256,),
        m=_E3_M,
        lam=(1e-3,),
        common={
            "optimizer": "prox-gd",
            "lr": 0.05,
            "max_steps": flow_step_cap(1e-3, 0.05),
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


def preset_help(width: int = 79) -> str:
    """Every preset's name and one-line description, one preset a paragraph, for --help."""
    pad = max(len(name) for name in PRESETS) + 4
    return "\n".join(
        textwrap.fill(PRESETS[name]().description, width, initial_indent=f"  {name:<{pad - 2}}",
                      subsequent_indent=" " * pad, break_on_hyphens=False)
        for name in PRESETS
    )


# Keys `build_specs` accepts in `overrides` (the CLI flags without dashes).
OVERRIDE_KEYS = (
    "n",
    "m",
    "m_range",
    "lam",
    "optimizer",
    "lr",
    "max_steps",
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
            optimizer, lr, max_steps, seed, instances, dtype, noise: replace that spec
                field (noise a dynamics.HiddenNoise). Changing
                the optimizer away from adamw sets weight_decay to 0, changing it to
                adamw sets the paper's 0.01; it does not change lr.
            tol: a tolerance > 0, or 0 for "no tolerance, run exactly `max_steps`".

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
    for name in ("optimizer", "lr", "max_steps", "seed", "instances", "dtype", "noise"):
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
