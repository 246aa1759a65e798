"""The main job: theory against simulation for the number of polysemantic neurons.

    python -m simulations.compare [PRESET] [flags]      (docs/usage.md)

Builds the experiment specs of a preset (with flag overrides), runs what the
results store does not hold yet (local processes or Dask), joins the outcome
records with the collision theory, and writes results.csv, report.json and the
figures E3, E4 and E5 to --out. Every prediction is labelled with the docs anchor that
derives it. E3 is declared on the experiment protocol (`EXPERIMENT`), like the others
`--experiment` names.
"""

from __future__ import annotations

import argparse
import functools
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from dynamics import OPTIMIZERS

from ._presets import (
    DEFAULT_PRESET,
    OVERRIDE_KEYS,
    PRESETS,
    PresetGrid,
    overridden,
    preset_help,
    resolve_grid,
)
from ._report import (
    ANCHORS,
    EXCLUSION_REASONS,
    TABLE_WIDTH,
    format_table,
    report_rows,
    slope_fits,
)
from ._run import record_is_current, run_spec, spec_runs
from ._specs import ExperimentSpec, instance_seed
from ._stability import check_step_sizes, is_unstable
from .runner import memory as _memory
from .runner.cli import integer, run_cli
from .runner.command import build_parser as build_experiment_parser
from .runner.command import run_experiment
from .runner.protocol import Experiment

PROG = "python -m simulations.compare"
# The experiment this command runs without --experiment: E3 (and E4, E5), the main job.
MAIN_EXPERIMENT = "e3"


def _e1():
    from .sparsification import EXPERIMENT

    return EXPERIMENT


def _e2():
    from .noise import EXPERIMENT

    return EXPERIMENT


def _noise_optimum():
    from .noise_optimum import EXPERIMENT

    return EXPERIMENT


def _replication():
    from .replication import EXPERIMENT

    return EXPERIMENT


def _paper_settings():
    from .paper_settings import EXPERIMENT

    return EXPERIMENT


# Name -> the protocol Experiment (simulations/runner/protocol.py); imported when chosen, so that
# the main job does not pay for the others' imports. "e3" is this module's own job.
EXPERIMENTS = {MAIN_EXPERIMENT: None, "e1": _e1, "e2": _e2, "noise-optimum": _noise_optimum,
               "replication": _replication, "paper-settings": _paper_settings}

# Smoke mode (--quick): the chosen experiment's optimizer and settings on a tiny
# grid, so that the whole pipeline runs in seconds. Not a measurement. The step cap
# applies only without an explicit --max-steps. With the quick preset's tol, prox-gd at
# n = 16 converged in 5977, 6953 and 6362 steps on average at m = 16, 32, 64 (4
# instances each, all converged); a cap of 20 000 leaves about 3x margin, and runs stop
# at convergence, so the cap costs nothing when it is not reached.
SMOKE = {"n": [16], "m": [16, 32, 64], "instances": 4, "max_steps": 20_000}

def _add_flags(p: argparse.ArgumentParser) -> None:
    """E3's own flags (the shared ones are added by the protocol's parser)."""
    # the presets, one per line, after the flags in --help
    p.epilog = "presets (docs/usage.md#presets):\n" + preset_help()
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("preset", nargs="?", default=DEFAULT_PRESET,
                   help=f"one of: {', '.join(PRESETS)} (default {DEFAULT_PRESET}; described "
                   "under 'presets' below)")
    p.add_argument("--n", type=integer, nargs="+", help="feature counts (replaces the preset's n)")
    p.add_argument("--m", type=integer, nargs="+", help="neuron counts (replaces the preset's m)")
    p.add_argument("--m-range", type=integer, nargs=3, metavar=("START", "STOP", "STEP"),
                   help="neuron counts START, START+STEP, ... up to STOP inclusive, e.g. 256 "
                   "4096 256 (replaces the preset's m; not together with --m)")
    p.add_argument("--lam", type=float, nargs="+",
                   help="L1 coefficients in code units (loss SSE + lam ||W||_1; the "
                   "normalized lam~ is lam / 4, docs/paper.md#normalized-units)")
    p.add_argument("--optimizer", help=f"one of: {', '.join(OPTIMIZERS)} (default: the "
                   "preset's)")
    p.add_argument("--lr", type=float,
                   help="step size on the code loss; one gd/prox-gd step is normalized flow "
                   "time 4 lr")
    p.add_argument("--max-steps", type=integer,
                   help="step budget in optimizer steps (exactly this many without --tol)")
    p.add_argument("--tol", type=float,
                   help="stop when the prox-gradient mapping norm (code-loss gradient units) "
                   "is <= tol; 0 = none")
    p.add_argument("--instances", type=integer,
                   help="independent initialisations per grid point")
    p.add_argument("--dtype", choices=("float64", "float32"),
                   help="weights' floating-point type; float32 is for adamw only")
    p.add_argument("--noise", metavar="SHAPE:SIGMA[:SHARING[:DRAWS]]",
                   help="hidden-layer noise for optimizer gd without tol, e.g. "
                        "bernoulli:0.1:independent (docs/theory/noise.md#setup)")
    p.add_argument("--allow-unstable", action="store_true",
                   help="run an lr at or above the optimizer's stability bound; its runs are "
                   "flagged and excluded from the counts (default: refuse)")
    p.add_argument("--experiment", choices=sorted(EXPERIMENTS), default=MAIN_EXPERIMENT,
                   help=f"which experiment to run (default {MAIN_EXPERIMENT}, this job); the "
                   "others take their own flags, as their own commands do (docs/usage.md#protocol)")
    p.add_argument("--wide", action="store_true",
                   help="print every column of the table (default: the main ones, within "
                   f"{TABLE_WIDTH} columns); results.csv and --json always hold every field "
                   "(docs/usage.md#report-columns)")

def build_parser() -> argparse.ArgumentParser:
    """The command's parser: the shared flags, then E3's own."""
    return build_experiment_parser(EXPERIMENT)


def _overrides(args: argparse.Namespace) -> dict:
    """The flags as build_specs overrides; --quick fills what no explicit flag gave."""
    out = {k: getattr(args, k) for k in OVERRIDE_KEYS}
    if args.quick:
        for k in ("n", "instances"):
            if out[k] is None:
                out[k] = SMOKE[k]
        if out["m"] is None and out["m_range"] is None:
            out["m"] = SMOKE["m"]
    return out


def _grid(args: argparse.Namespace) -> PresetGrid:
    grid = resolve_grid(args.preset, _overrides(args))
    if args.quick and args.max_steps is None:
        # The smoke cap applies only when --max-steps was not given: explicit flags win.
        budget = min(grid.common["max_steps"], SMOKE["max_steps"])
        grid = replace(grid, common={**grid.common, "max_steps": budget})
    return grid


def memory_estimate(grid: PresetGrid, workers: int, local: bool, figures: bool) -> float:
    """Peak bytes of a sweep over `grid`, from the measured constants of
    simulations/runner/memory.py.

    The parent holds one record per run (size a + b n) and, for the E4 figure, retrains
    the largest spec; each local worker trains one spec at a time (bytes per weight n m).
    A remote cluster's workers use their own machines' memory, not this one's.
    """
    runs = grid.size * grid.common.get("instances", 1)
    largest = max(grid.n) * max(grid.m)
    per_record = _memory.RECORD_BYTES_FIXED + _memory.RECORD_BYTES_PER_FEATURE * max(grid.n)
    train = _memory.TRAIN_BYTES_PER_WEIGHT * largest
    parent = _memory.PROCESS_BASELINE + runs * per_record + (train if figures else 0)
    workers = min(workers, runs) if local else 0
    return parent + workers * (_memory.PROCESS_BASELINE + train)


def _e4_matrix(specs, rows):
    """W(0) W(T)^T of instance 0 of the widest spec, recomputed deterministically.

    Only summaries are stored per run; retraining one instance from its seed
    reproduces the stored record exactly (tests/test_executors.py) at the cost of one run.
    """
    from dynamics import init_weights, train

    from ._run import train_options

    spec = max(specs, key=lambda s: (s.m, s.n))
    seed = instance_seed(spec, 0)
    W0 = init_weights(spec.n, spec.m, [seed], init_std=spec.init_std)
    (run,) = train(W0, train_options(spec), seeds=[seed], throw=False)
    label = f"n={spec.n}, m={spec.m}, λ={spec.lam:g}, {spec.optimizer}"
    return W0[0] @ run.W.T, label


def _figures(config: E3Config, report: dict) -> dict:
    """E3, E4 (one retrained instance), and E5 when lam varies: name -> Figure.

    E1's figure is not drawn here: it comes from `python -m simulations.sparsification`
    (or `--experiment e1`), the command that computes E1.
    """
    from ._compare_figures import figure_e3, figure_e4, figure_e5

    specs, rows = config.specs, report["rows"]
    made = {"e3_count_vs_m": figure_e3(rows)}
    # E4 retrains one instance; a spec at or above the stability bound (--allow-unstable)
    # would show a diverging run, not the theory's picture, and is never used for it.
    stable = [s for s in specs if not is_unstable(s)]
    if stable:
        cross, label = _e4_matrix(stable, rows)
        made["e4_init_vs_final"] = figure_e4(cross, rows, label)
    if len({r["lam"] for r in rows}) > 1:
        made["e5_count_vs_m_per_lambda"] = figure_e5(rows)
    return made


@dataclass(frozen=True)
class E3Config:
    """A resolved E3 sweep: the preset and its grid after the flags (report.json's
    provenance holds both)."""

    preset: str
    grid: PresetGrid
    allow_unstable: bool = False

    @functools.cached_property
    def specs(self) -> tuple[ExperimentSpec, ...]:
        """The grid's specs (duplicates removed, grid order)."""
        return tuple(self.grid.specs())


def config(preset: str = DEFAULT_PRESET, *, allow_unstable: bool = False,
           **overrides) -> E3Config:
    """The E3 sweep of a preset with overrides, as the command builds it from its flags.

    `overrides` are the flags without dashes (`OVERRIDE_KEYS`: n, m, m_range, lam,
    optimizer, lr, max_steps, tol, instances, seed, dtype, noise), e.g.
    `config("quick", m=[16, 32], instances=4)`. Raises ValueError naming a bad value or
    an lr at or above the stability bound (unless `allow_unstable`).
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    unknown = sorted(set(overrides) - set(OVERRIDE_KEYS))
    if unknown:
        raise ValueError(f"unknown override(s) {', '.join(unknown)}; choose from "
                         f"{', '.join(OVERRIDE_KEYS)}")
    return _config(preset, resolve_grid(preset, overrides), allow_unstable)


def _config(preset: str, grid: PresetGrid, allow_unstable: bool) -> E3Config:
    # The stability bound depends on neither m nor lam, so one m and one lam of the grid
    # stand for all: a million-point grid is refused by the memory check, not built here.
    check_step_sizes(replace(grid, m=grid.m[:1], lam=grid.lam[:1]).specs(), allow_unstable)
    return E3Config(preset, grid, allow_unstable)


def _configure(args: argparse.Namespace) -> tuple[E3Config, list[str]]:
    """The sweep of the preset and flags; ValueError names a bad flag or an unstable lr."""
    if args.preset not in PRESETS:
        raise ValueError(f"unknown preset {args.preset!r}; choose one of {sorted(PRESETS)}")
    grid = _grid(args)
    return _config(args.preset, grid, args.allow_unstable), overridden(args.preset, grid)


def _memory_estimate(config: E3Config, local_workers: int) -> tuple[float, str]:
    grid = config.grid
    runs = grid.size * grid.common["instances"]
    # the figures' retrained instance is counted whether or not --no-figures is given
    estimate = memory_estimate(grid, local_workers, True, figures=True)
    return estimate, (f"this sweep ({runs} runs, largest n*m = "
                      f"{max(grid.n) * max(grid.m)}, {local_workers} local workers)")


def _report(config: E3Config, records: list[dict]) -> dict:
    rows = report_rows(list(config.specs), records)
    return {"rows": rows, "fits": slope_fits(rows), "anchors": ANCHORS,
            "excluded": {k: sum(r[f"excluded_{k}"] for r in rows) for k in EXCLUSION_REASONS}}


def _out_for(args: argparse.Namespace) -> str:
    return str(Path("results") / (args.preset + ("-smoke" if args.quick else "")))


def _overrides_heading(args: argparse.Namespace) -> str:
    return f"{'--quick and flags' if args.quick else 'flags'} override preset {args.preset!r}"


EXPERIMENT = Experiment(
    name=MAIN_EXPERIMENT, prog=PROG,
    description="Theory vs simulation of incidental polysemanticity (docs/usage.md).",
    default_out="./results/PRESET", default_seed=None,
    seed_help="; default: the preset's; instance i of every spec uses "
              "SeedSequence(seed, spawn_key=(i,))",
    add_flags=_add_flags, configure=_configure, runs=lambda config: spec_runs(config.specs),
    run_one=run_spec, report=_report,
    format_table=lambda report: format_table(report["rows"], report["fits"]),
    format_wide=lambda report: format_table(report["rows"], report["fits"], wide=True),
    tables=lambda report: {"results": report["rows"]}, figures=_figures,
    memory_estimate=_memory_estimate, is_current=record_is_current, out_for=_out_for,
    overrides_heading=_overrides_heading)


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit status (docs/usage.md#errors)."""
    return run_cli(_main, PROG, argv)


def _main(argv: list[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    # --experiment picks the experiment before anything else is parsed: the others have
    # their own flags, and answer exactly as their own commands do
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--experiment", default=MAIN_EXPERIMENT)
    chosen, rest = pre.parse_known_args(argv)
    if chosen.experiment == MAIN_EXPERIMENT:
        return run_experiment(EXPERIMENT, argv)
    if chosen.experiment not in EXPERIMENTS:
        build_parser().error(f"argument --experiment: invalid choice: {chosen.experiment!r} "
                             f"(choose from {', '.join(sorted(EXPERIMENTS))})")
    return run_experiment(EXPERIMENTS[chosen.experiment](), rest,
                          prog=f"{PROG} --experiment {chosen.experiment}")


if __name__ == "__main__":
    sys.exit(main())
