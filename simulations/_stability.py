"""Step-size checks of specs: the optimizer's stability bound, and refusing runs above it.

The bound itself belongs to `dynamics` (`dynamics.gd_step_size_bound`,
docs/dynamics/training.md#step-size); this module applies it to specs.
"""

from __future__ import annotations

from collections.abc import Iterable

from dynamics import gd_step_size_bound

from ._specs import ExperimentSpec

__all__ = ["check_step_sizes", "is_unstable", "step_size_bound"]


def step_size_bound(spec: ExperimentSpec) -> float:
    """The optimizer's stability bound on lr for this spec (docs/dynamics/training.md#step-size).

    `dynamics.gd_step_size_bound` with the spec's n and batch size (full batch when
    None): 1/4 for gd and prox-gd, b/(4n) for sgd, inf for adamw.
    """
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
