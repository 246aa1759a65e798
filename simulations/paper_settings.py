"""The paper at its own settings: E3, E4 and E5 as published (AdamW, n = 256), the flow beside.

    python -m simulations.paper_settings [--stage NAME ...] [--store PATH] [--workers K]

Runs, in this order, the stages fixed in docs/preregistration-e5-adamw.md (one master
seed, so every stage at one m starts from the same W(0) and every comparison is paired):

1. ``float32-check``: E3's settings at m = 256 and 1024 in float32 and float64;
2. ``e5``: the `lambdas` preset at the five E5 widths (lam 1e-3 shared with E3);
3. ``e3``: the `paper` preset, all 16 widths;
4. ``flow``: the `gradient-flow` preset (prox-gd to convergence) at the E5 widths.

Each stage goes through the same specs, results store, executors and resume as
`simulations.compare`, in rounds of `ROUND` instances, so that an interrupted job leaves
complete pairs for the first instances. Rerunning the command resumes; runs already
stored are reused. Usage: docs/usage.md#the-paper-at-its-own-settings.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import replace

from ._cli import CliError, OneLineErrorParser, integer, run_cli
from ._executors import run_all
from ._experiment_cli import open_store, sweep_errors
from ._presets import resolve_grid
from ._specs import ExperimentSpec

PROG = "python -m simulations.paper_settings"
# The master seed of every stage, fixed in docs/preregistration-e5-adamw.md#grid and never
# used before it.
MASTER_SEED = 7_000_009
# Instances per grid point (the paper's 16) and per round.
INSTANCES = 16
ROUND = 4
# The E5 widths (docs/preregistration-e5-adamw.md#grid).
E5_M = (256, 512, 1024, 2048, 4096)
# The widths at which float32 is checked against float64 on the same W(0).
CHECK_M = (256, 1024)

# Stage name -> (preset, overrides) of each grid it runs, in order.
STAGES: dict[str, tuple[tuple[str, dict], ...]] = {
    "float32-check": (("paper", {"m": CHECK_M, "dtype": "float32"}),
                      ("paper", {"m": CHECK_M, "dtype": "float64"})),
    "e5": (("lambdas", {"m": E5_M, "dtype": "float32"}),),
    "e3": (("paper", {"dtype": "float32"}),),
    "flow": (("gradient-flow", {"m": E5_M}),),
}


def stage_specs(name: str, instances: int = INSTANCES) -> list[ExperimentSpec]:
    """Every spec of a stage, with `instances` instances each and the master seed."""
    specs = []
    for preset, overrides in STAGES[name]:
        grid = resolve_grid(preset, {**overrides, "seed": MASTER_SEED})
        specs += [replace(s, instances=instances) for s in grid.specs()]
    return specs


def rounds(name: str) -> list[list[ExperimentSpec]]:
    """A stage's specs in rounds: instances [0, ROUND), then [0, 2 ROUND), ... (the runs
    of earlier rounds are stored by then and reused, so each round adds ROUND per spec)."""
    return [stage_specs(name, k) for k in range(ROUND, INSTANCES + 1, ROUND)]


def build_parser() -> argparse.ArgumentParser:
    p = OneLineErrorParser(prog=PROG, description=__doc__.splitlines()[0])
    p.add_argument("--stage", nargs="+", choices=list(STAGES), default=list(STAGES),
                   help="stages to run, in the given order (default: all, in plan order)")
    p.add_argument("--store", help="results store (default: the user's store)")
    p.add_argument("--workers", type=integer, help="local worker processes (default: cores)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.workers is not None and args.workers < 1:
        raise CliError(f"--workers must be >= 1; got {args.workers}")
    store = open_store(args.store)
    with store, sweep_errors():
        for name in args.stage:
            for k, specs in enumerate(rounds(name), start=1):
                if not args.no_progress:
                    print(f"stage {name}, round {k}: instances 0-{specs[0].instances - 1} of "
                          f"{len(specs)} grid points", file=sys.stderr)
                run_all(specs, store=store, workers=args.workers,
                        progress=not args.no_progress)
    print(f"runs stored in {store.path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the exit status (docs/usage.md#errors)."""
    return run_cli(_main, PROG, argv)


if __name__ == "__main__":
    sys.exit(main())
