"""The project's best count prediction at (n, m, lam), and where each model holds.

Three models predict the number of polysemantic neurons: the exact sign-bin model
(docs/theory/collisions.md#exact-mean), the cascade model (docs/theory/cascades.md) and the
tilted injective occupancy (docs/theory/tilted-occupancy.md), the only one with lam. The
best prediction is the tilted model where its preregistered confirmation found it right
(docs/preregistration-single-model.md#adoption), and the cascade/sign-bin verdict of
docs/theory/cascades.md#verdict elsewhere. Everything was confirmed under prox-gd to
convergence only.

Adoption rule (fixed before the confirmation's data were read): the confirmation grid's
points that passed C2 (|z| <= 3.38) are TILTED_CONFIRMED. A point (n, m, lam) is in the
adopted region when every corner of its grid cell passed: n, m/n and lam are each
bracketed by consecutive grid values (a grid value brackets itself), and each of the up
to 8 combinations of bracketing values is in TILTED_CONFIRMED. Outside the grid's span
nothing is adopted.
"""

from __future__ import annotations

import bisect
import itertools
import math

from . import cascades, tilted_occupancy

__all__ = [
    "GRID_N",
    "GRID_RATIOS",
    "GRID_LAMS",
    "TILTED_CONFIRMED",
    "tilted_adopted",
    "best_moments",
    "best_model_name",
    "expected_poly_best",
    "sd_poly_best",
]

# The confirmation grid of docs/preregistration-single-model.md#grid (m = round(ratio n)).
GRID_N = (64, 128, 256, 384)
GRID_RATIOS = (1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 8.0)
GRID_LAMS = (1e-3, 1e-2)
# (n, m/n, lam) grid points where the tilted model passed C2 on master seed 9 000 019:
# `single_model_confirm.c2_points` of docs/data/single_model_confirm.csv (a test pins the
# two together; docs/preregistration-single-model.md#results). It failed C2 at m = n,
# lam = 1e-3 for n <= 128 and at every m <= 1.5n (n = 256) and m <= 2n (n = 384).
TILTED_CONFIRMED: frozenset[tuple[int, float, float]] = frozenset(
    [(n, 1.0, 1e-2) for n in (64, 128)]
    + [(n, r, lam) for n in (64, 128) for r in (1.25, 1.5, 2.0, 3.0, 4.0, 8.0) for lam in GRID_LAMS]
    + [(256, r, lam) for r in (2.0, 3.0, 4.0, 8.0) for lam in GRID_LAMS]
    + [(384, r, lam) for r in (3.0, 4.0, 8.0) for lam in GRID_LAMS])

TILTED_NAME = (f"{tilted_occupancy.MODEL_NAME}, confirmed here under prox-gd "
               "(docs/preregistration-single-model.md#adoption)")


def _bracket(grid: tuple, value: float, log: bool = False) -> tuple | None:
    """The grid values that bracket `value` (one if it is a grid value, within 1e-9
    relative), or None outside the grid's span."""
    key = math.log if log else float
    points = [key(g) for g in grid]
    x = key(value)
    for g, p in zip(grid, points, strict=True):
        if math.isclose(x, p, rel_tol=1e-9, abs_tol=1e-12):
            return (g,)
    i = bisect.bisect_left(points, x)
    if i == 0 or i == len(points):
        return None
    return grid[i - 1], grid[i]


def tilted_adopted(n: int, m: int, lam: float | None) -> bool:
    """Whether (n, m, lam) lies in a grid cell whose corners all passed C2 (module doc)."""
    if lam is None:
        return False
    axes = (_bracket(GRID_N, n), _bracket(GRID_RATIOS, m / n), _bracket(GRID_LAMS, lam, log=True))
    if any(axis is None for axis in axes):
        return False
    return all(corner in TILTED_CONFIRMED for corner in itertools.product(*axes))


def best_moments(n: int, m: int, lam: float | None = None) -> dict:
    """Mean, SD and standard error of the best model's mean, and its name.

    {"mean", "sd", "se_mean", "model"}: the tilted model (se_mean from its fitted
    constant's error, eq. T8) where it is adopted at this lam, else
    `cascades.best_moments` (se_mean its Monte Carlo error, 0 for the sign-bin model).
    se_mean is added in quadrature to a simulation's standard error in a z.
    """
    if tilted_adopted(n, m, lam):
        model = tilted_occupancy.tilted_model(n, m, lam)
        return {"mean": model["mean"], "sd": model["sd"], "se_mean": model["se_mean_theta"],
                "model": TILTED_NAME}
    return cascades.best_moments(n, m)


def best_model_name(n: int, m: int, lam: float | None = None) -> str:
    """Name of the model behind expected_poly_best(n, m, lam)."""
    return TILTED_NAME if tilted_adopted(n, m, lam) else cascades.best_model_name(n, m)


def expected_poly_best(n: int, m: int, lam: float | None = None) -> float:
    """The project's best prediction of E[X] at (n, m, lam) (module doc)."""
    return best_moments(n, m, lam)["mean"]


def sd_poly_best(n: int, m: int, lam: float | None = None) -> float:
    """SD[X] of the model behind expected_poly_best(n, m, lam)."""
    return best_moments(n, m, lam)["sd"]
