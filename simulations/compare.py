"""The main job: theory against simulation for the number of polysemantic neurons.

    python -m simulations.compare [PRESET] [flags]      (docs/usage.md)

Builds the experiment specs of a preset (with flag overrides), runs what the
results store does not hold yet (local processes or Dask), joins the outcome
records with the collision theory, and writes results.csv, report.json and the
figures E3, E4, E5 (and E1, single-feature sparsification) to --out. Every
prediction is labelled with the docs anchor that derives it.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import replace
from pathlib import Path

from dynamics import OPTIMIZERS

from . import _memory
from ._cli import (
    CliError,
    OneLineErrorParser,
    add_shared_flags,
    check_shared_flags,
    integer,
    jsonable,
    output_dir,
    run_cli,
)
from ._cli import write_outputs as _write_outputs
from ._executors import available_cores, run_all
from ._experiment_cli import open_store, run_experiment, sweep_errors
from ._presets import (
    DEFAULT_PRESET,
    OVERRIDE_KEYS,
    PRESETS,
    PresetGrid,
    overridden,
    resolve_grid,
)
from ._protocol import provenance, write_results
from ._report import ANCHORS, CI_LEVEL, EXCLUSION_REASONS, report_rows, slope_fits
from ._specs import instance_seed
from ._stability import check_step_sizes, is_unstable

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


# Name -> the protocol Experiment (simulations/_protocol.py); imported when chosen, so that
# the main job does not pay for the others' imports. "e3" is this module's own job.
EXPERIMENTS = {MAIN_EXPERIMENT: None, "e1": _e1, "e2": _e2, "noise-optimum": _noise_optimum}

# Smoke mode (--quick): the chosen experiment's optimizer and settings on a tiny
# grid, so that the whole pipeline runs in seconds. Not a measurement. The step cap
# applies only without an explicit --max-steps. With the quick preset's tol, prox-gd at
# n = 16 converged in 5977, 6953 and 6362 steps on average at m = 16, 32, 64 (4
# instances each, all converged); a cap of 20 000 leaves about 3x margin, and runs stop
# at convergence, so the cap costs nothing when it is not reached.
SMOKE = {"n": [16], "m": [16, 32, 64], "instances": 4, "max_steps": 20_000}

# Columns of the printed table: (header, row key, format).
_TABLE = [
    ("n", "n", "d"),
    ("m", "m", "d"),
    ("lam", "lam", "g"),
    ("optimizer", "optimizer", "s"),
    ("k", "measured_instances", "d"),
    ("excl.", "excluded", "d"),
    ("sim mean", "sim_mean", ".2f"),
    ("95% CI", None, None),
    ("assign.", "sim_mean_assignment", ".2f"),
    ("n²/4m", "pred_first_order", ".2f"),
    ("exact E", "pred_exact", ".2f"),
    ("ratio", "ratio_exact", ".2f"),
    ("z", "z_exact", "+.1f"),
    ("best E", "pred_best", ".2f"),
    ("z best", "z_best", "+.1f"),
    ("pred.acc", "predictor_accuracy", ".2f"),
    ("pred.P/R", "predictor_pr", None),
    ("argmax acc", "init_argmax_accuracy", ".2f"),
    ("opp.sign", "opposite_sign_fraction", ".2f"),
    ("repr.", "features_represented", ".3f"),
    ("conv.", "converged_fraction", ".2f"),
    ("argmax", "winner_is_init_argmax", ".2f"),
]


def build_parser() -> argparse.ArgumentParser:
    p = OneLineErrorParser(
        prog=PROG,
        description="Theory vs simulation of incidental polysemanticity (docs/usage.md).",
    )
    p.add_argument("preset", nargs="?", default=DEFAULT_PRESET, help=f"one of {sorted(PRESETS)}")
    p.add_argument("--n", type=integer, nargs="+", help="feature counts (replaces the preset's n)")
    p.add_argument("--m", type=integer, nargs="+", help="neuron counts (replaces the preset's m)")
    p.add_argument("--m-range", type=integer, nargs=3, metavar=("START", "STOP", "STEP"))
    p.add_argument("--lam", type=float, nargs="+",
                   help="L1 coefficients in code units (loss SSE + lam ||W||_1; the "
                   "normalized lam~ is lam / 4, docs/paper.md#normalized-units)")
    p.add_argument("--optimizer", help=", ".join(OPTIMIZERS))
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
    add_shared_flags(p, default_out="./results/PRESET", default_seed=None,
                     seed_help="; instance i of every spec uses SeedSequence(seed, "
                     "spawn_key=(i,))")
    return p


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
    """Peak bytes of a sweep over `grid`, from the measured constants of simulations/_memory.py.

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


def _provenance(args: argparse.Namespace, argv: list[str]) -> dict:
    return provenance(PROG, argv, preset=args.preset, smoke=bool(args.quick),
                      seeds="instance i of a spec uses numpy SeedSequence(spec.seed, "
                      "spawn_key=(i,))")


def _cell(row: dict, key, fmt) -> str:
    if key is None:  # the CI column
        lo, hi = row["sim_ci_low"], row["sim_ci_high"]
        return "-" if math.isnan(lo) else f"[{lo:.2f}, {hi:.2f}]"
    if key == "predictor_pr":
        pair = (row["predictor_precision"], row["predictor_recall"])
        return "/".join("-" if math.isnan(v) else f"{v:.2f}" for v in pair)
    value = row[key]
    if isinstance(value, float) and math.isnan(value):
        return "-"
    return format(value, fmt)


def format_table(rows: list[dict], fits: list[dict]) -> str:
    """The report as text: one line per grid point, then the slope fits."""
    cells = [[h for h, _, _ in _TABLE]] + [[_cell(r, k, f) for _, k, f in _TABLE] for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(_TABLE))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(line, widths, strict=True)) for line in cells]
    lines.append("")
    excluded = {k: sum(r[f"excluded_{k}"] for r in rows) for k in EXCLUSION_REASONS}
    if any(excluded.values()):
        lines.append(
            "excl.: runs left out of k and of every count: "
            + "; ".join(f"{v} {EXCLUSION_REASONS[k]}" for k, v in excluded.items() if v)
        )
    lines.append(
        "sim mean: window rule |w| in [0.8, 1.2] (arXiv 2312.03096, docs/paper.md); "
        "assign.: dominant-neuron rule; "
        f"CI: {CI_LEVEL:.0%} Student-t; z uses the exact model's SD; best E: the project's "
        "best model (cascade for m < 1.5n or, from n = 256, m <= 2n; else sign-bin; chosen "
        "from prox-gd data and checked only on prox-gd at lam 1e-2: AdamW rows are outside "
        "that) with its own SD in z best; "
        "pred.acc, pred.P/R: the per-instance predictor's feature accuracy and the "
        "precision/recall of its polysemantic set; argmax acc: the init-argmax baseline."
    )
    precision = " and ".join(sorted({r["dtype"] for r in rows}))
    lines.append(f"weights trained in {precision} (float32: AdamW as the authors trained; "
                 "docs/results.md#float32-against-float64-adamw)")
    for key, anchor in ANCHORS.items():
        lines.append(f"  {key}: {anchor}")
    for fit in fits:
        fixed = ", ".join(f"{k}={fit[k]}" for k in ("n", "m", "lam", "optimizer") if k in fit)
        subset = f" [{fit['subset']}]" if "subset" in fit else ""
        lines.append(
            f"log-log slope vs {fit['axis']} ({fixed}){subset}: {fit['slope']:+.3f} "
            f"[{fit['slope_ci_low']:+.3f}, {fit['slope_ci_high']:+.3f}]; theory "
            f"{fit['slope_first_order']:+.0f} (first order), "
            f"{fit['slope_exact_model']:+.3f} (exact model on this grid)"
        )
    return "\n".join(lines)


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


def _figures(specs, rows: list[dict]) -> dict:
    """E3, E4 (one retrained instance), and E5 when lam varies: name -> Figure.

    E1's figure is not drawn here: it comes from `python -m simulations.sparsification`
    (or `--experiment e1`), the command that computes E1.
    """
    from ._compare_figures import figure_e3, figure_e4, figure_e5

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


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit status (docs/usage.md#errors)."""
    return run_cli(_main, PROG, argv)


def _main(argv: list[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # --experiment picks the experiment before anything else is parsed: the others have
    # their own flags, and answer exactly as their own commands do
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--experiment", default=MAIN_EXPERIMENT)
    chosen, rest = pre.parse_known_args(argv)
    if chosen.experiment != MAIN_EXPERIMENT:
        if chosen.experiment not in EXPERIMENTS:
            build_parser().error(f"argument --experiment: invalid choice: "
                                 f"{chosen.experiment!r} (choose from "
                                 f"{', '.join(sorted(EXPERIMENTS))})")
        return run_experiment(EXPERIMENTS[chosen.experiment](), rest,
                              prog=f"{PROG} --experiment {chosen.experiment}")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.preset not in PRESETS:
        parser.error(f"unknown preset {args.preset!r}; choose one of {sorted(PRESETS)}")
    check_shared_flags(parser, args)
    try:
        grid = _grid(args)
    except ValueError as error:
        parser.error(str(error))
    workers = args.workers or available_cores()
    local = args.scheduler in (None, "local")
    estimate = memory_estimate(grid, workers, local, figures=not args.no_figures)
    try:
        _memory.check_memory(estimate, f"this sweep ({grid.size * grid.common['instances']} "
                                       f"runs, largest n*m = {max(grid.n) * max(grid.m)}, "
                                       f"{workers if local else 0} local workers)")
    except ValueError as error:
        raise CliError(str(error)) from None
    try:
        specs = grid.specs()
        check_step_sizes(specs, args.allow_unstable)
    except ValueError as error:
        parser.error(str(error))
    default_out = Path("results") / (args.preset + ("-smoke" if args.quick else ""))
    out = output_dir(default_out if args.out is None else args.out)
    store = open_store(args.store, out)
    changes = overridden(args.preset, grid)
    with store, sweep_errors():
        summary = run_all(specs, store=store, workers=args.workers, scheduler=args.scheduler,
                          fresh=args.fresh, progress=not args.no_progress,
                          allow_unstable=args.allow_unstable)
    return _report(args, argv, specs, summary, out, store.path, changes)


def _report(args, argv, specs, summary, out: Path, store_path: Path, changes) -> int:
    rows = report_rows(specs, summary.records)
    fits = slope_fits(rows)
    report = {
        "rows": rows,
        "fits": fits,
        "anchors": ANCHORS,
        "runs": {"done": summary.done, "reused": summary.reused, "failed": summary.failed},
        "excluded": {k: sum(r[f"excluded_{k}"] for r in rows) for k in EXCLUSION_REASONS},
        "store": str(store_path),
        "overrides": changes,
        "provenance": _provenance(args, argv),
    }

    figures = None if args.no_figures else (lambda: _figures(specs, rows))
    # The runs are in the store already; only the report files are at risk here.
    _write_outputs(out, lambda: write_results(out, report, {"results": rows}, figures))
    report = jsonable(report)
    if args.json:
        print(json.dumps(report))
    else:
        if changes:
            source = "--quick and flags" if args.quick else "flags"
            print(f"{source} override preset {args.preset!r}: " + "; ".join(changes) + "\n")
        print(format_table(rows, fits))
        print(
            f"\nwrote {out / 'results.csv'}, {out / 'report.json'}"
            + (", figures" if not args.no_figures else "")
            + f"; runs stored in {store_path}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
