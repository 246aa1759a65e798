"""The command line every protocol experiment shares (docs/usage.md#protocol).

`run_experiment(experiment, argv)` parses the shared flags (`_cli.add_shared_flags`) and
the experiment's own, builds its config, checks memory and the output folder before any
work, runs what the results store does not hold (`_executors.run_all`: resume, progress
bar, local processes or Dask, Ctrl-C), then writes report.json, the CSV tables and the
figures with `_protocol.write_results` and prints the table or the JSON report.
"""

from __future__ import annotations

import contextlib
import json
import sys
import textwrap
from pathlib import Path

from . import _memory
from ._cli import (
    CliError,
    OneLineErrorParser,
    add_shared_flags,
    check_path_lengths,
    check_shared_flags,
    check_store_apart,
    jsonable,
    output_dir,
    run_cli,
    write_outputs,
)
from ._executors import SchedulerError, SweepFailed, available_cores, run_all
from ._protocol import TABLE_WIDTH, Experiment, provenance, write_results
from ._store import (
    ResultsStore,
    StoreError,
    StoreLostError,
    StoreReadError,
    default_store_path,
)

__all__ = ["build_parser", "command", "open_store", "run_experiment", "sweep_errors"]


def open_store(path, out=None, readonly: bool = False) -> ResultsStore:
    """The results store at `path` (None: the user's default), or a one-line CliError.

    With `out` (the output folder) a store that is one of the output files is refused
    first (`_cli.check_store_apart`); `readonly` opens it for reading only (--no-run).
    """
    path = default_store_path() if path is None else path
    check_path_lengths(Path(path), "--store")
    if out is not None:
        check_store_apart(out, path)
    try:
        return ResultsStore(path, readonly=readonly)
    except StoreError as error:
        raise CliError(str(error)) from None


@contextlib.contextmanager
def sweep_errors():
    """Turn a sweep's failures into one-line CliErrors (docs/usage.md#errors): status 1
    for an unreachable scheduler or a store deleted mid-sweep (what finished is stored),
    status 2 for arguments `run_all` refuses before any work."""
    try:
        yield
    except (SchedulerError, StoreLostError, SweepFailed, StoreReadError) as error:
        raise CliError(str(error), status=1) from None
    except ValueError as error:
        raise CliError(str(error)) from None


def build_parser(experiment: Experiment, prog: str | None = None) -> OneLineErrorParser:
    """The experiment's parser: its own flags after the shared ones."""
    parser = OneLineErrorParser(prog=prog or experiment.prog, description=experiment.description)
    add_shared_flags(parser, default_out=experiment.default_out,
                     default_seed=experiment.default_seed, seed_help=experiment.seed_help)
    experiment.add_flags(parser)
    return parser


def run_experiment(experiment: Experiment, argv: list[str] | None,
                   prog: str | None = None) -> int:
    """Parse `argv`, run the experiment through the store and executors, write and print.

    Returns 0; bad flags exit with status 2 (argparse) or raise CliError, which
    `_cli.run_cli` turns into one line and an exit status (docs/usage.md#errors).
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    prog = prog or experiment.prog
    parser = build_parser(experiment, prog)
    args = parser.parse_args(argv)
    check_shared_flags(parser, args)
    try:
        config, changes = experiment.configure(args)
    except ValueError as error:
        parser.error(str(error))
    workers = args.workers or available_cores()
    local = args.scheduler in (None, "local")
    if experiment.memory_estimate is not None:
        estimate, what = experiment.memory_estimate(config, workers if local else 0)
        try:
            _memory.check_memory(estimate, what)
        except ValueError as error:
            raise CliError(str(error)) from None
    default_out = (experiment.default_out if experiment.out_for is None
                   else experiment.out_for(args))
    out = output_dir(default_out if args.out is None else args.out)
    runs = experiment.runs(config)
    store = open_store(args.store, out)
    with store, sweep_errors():
        summary = run_all(runs, store=store, workers=args.workers, scheduler=args.scheduler,
                          fresh=args.fresh, progress=not args.no_progress,
                          runner=experiment.run_one, is_current=experiment.is_current)
    report = experiment.report(config, list(summary.records))
    report["runs"] = {"done": summary.done, "reused": summary.reused, "failed": summary.failed}
    report["store"] = str(store.path)
    report["overrides"] = changes
    report["provenance"] = provenance(prog, argv, config, smoke=bool(args.quick))
    figures = None if args.no_figures else (lambda: experiment.figures(config, report))
    # The runs are in the store already; only the report files are at risk here.
    written = write_outputs(out, lambda: write_results(out, report, experiment.tables(report),
                                                      figures))
    _print(experiment, args, report, changes, written)
    return 0


def command(experiment: Experiment):
    """The `main(argv=None) -> exit status` of an experiment's own command: `run_experiment`
    with one-line errors (`_cli.run_cli`, docs/usage.md#errors)."""
    def main(argv: list[str] | None = None) -> int:
        return run_cli(lambda args: run_experiment(experiment, args), experiment.prog, argv)

    main.__doc__ = f"`{experiment.prog}`: returns the exit status (docs/usage.md#errors)."
    return main


def _print(experiment: Experiment, args, report: dict, changes: list[str],
           written: list[str]) -> None:
    if args.json:
        print(json.dumps(jsonable({**report, "written": written}), allow_nan=False))
        return
    if changes:
        heading = (f"explicit flags override the {'--quick' if args.quick else 'default'} "
                   "values" if experiment.overrides_heading is None
                   else experiment.overrides_heading(args))
        print(_wrap(f"{heading}: " + "; ".join(changes)) + "\n")
    wide = getattr(args, "wide", False) and experiment.format_wide is not None
    print((experiment.format_wide if wide else experiment.format_table)(report))
    print("\n" + _wrap("wrote: " + ", ".join(written) + f"; runs stored in {report['store']}"))


def _wrap(text: str) -> str:
    # within the printed table's width (a path longer than that keeps its own line whole)
    return textwrap.fill(text, width=TABLE_WIDTH, subsequent_indent="  ",
                         break_long_words=False, break_on_hyphens=False)
