"""The command line every protocol experiment shares (docs/usage.md#protocol).

`run_experiment(experiment, argv)` parses the shared flags (`cli.add_shared_flags`) and
the experiment's own, builds its config and checks memory and the output folder before
any work. It adds the runs of an --import-runs file to the results store, runs what the
store does not hold (`executors.run_all`: resume, progress bar, local processes or Dask,
Ctrl-C; round by round when the experiment has rounds), writes the store's runs to an
--export-runs file (`transfer`), then writes report.json, the CSV tables and the figures
with `protocol.write_results` and prints the table or the JSON report. An experiment may
instead read its records from the store alone (`Experiment.no_run`) or from elsewhere
(`Experiment.records_from`).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import sys
import textwrap
from pathlib import Path

from . import memory as _memory
from .cli import (
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
from .executors import (
    RunSummary,
    SchedulerError,
    SweepFailed,
    available_cores,
    run_all,
    stored_runs,
)
from .protocol import TABLE_WIDTH, Experiment, provenance, write_results
from .store import (
    ResultsStore,
    StoreError,
    StoreLostError,
    StoreReadError,
    default_store_path,
)
from .transfer import export_runs, import_runs

__all__ = ["build_parser", "command", "open_store", "run_experiment", "sweep_errors"]


def open_store(path, out=None, readonly: bool = False) -> ResultsStore:
    """The results store at `path` (None: the user's default), or a one-line CliError.

    With `out` (the output folder) a store that is one of the output files is refused
    first (`cli.check_store_apart`); `readonly` opens it for reading only (--no-run).
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
    `cli.run_cli` turns into one line and an exit status (docs/usage.md#errors).
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
    records = None if experiment.records_from is None else experiment.records_from(config)
    summary = None
    if records is not None and (args.import_runs or args.export_runs):
        raise CliError("--import-runs and --export-runs move stored runs; this command "
                       "reads its records from elsewhere and opens no store")
    if records is None:
        runs = experiment.runs(config)
        if args.import_runs:
            _import(runs, args.import_runs, args.store, out)
        if experiment.no_run is not None and experiment.no_run(config):
            summary, store_path = _stored(runs, args.store, out)
        else:
            store = open_store(args.store, out)
            with store, sweep_errors():
                summary = _run_rounds(experiment, runs, store, args)
            store_path = store.path
        if args.export_runs:
            with open_store(store_path, out, readonly=True) as store:
                count = export_runs(store, runs, args.export_runs)
            print(f"exported {count} runs to {args.export_runs}", file=sys.stderr)
        records = list(summary.records)
    report = experiment.report(config, records)
    if summary is not None:
        report["runs"] = {"done": summary.done, "reused": summary.reused,
                          "failed": summary.failed}
        report["store"] = str(store_path)
    report["overrides"] = changes
    report["provenance"] = provenance(prog, argv, config, smoke=bool(args.quick))
    figures = None if args.no_figures else (lambda: experiment.figures(config, report))
    tables = ({} if experiment.record_tables is None
              else dict(experiment.record_tables(config, records)))
    tables.update(experiment.tables(report))

    def write() -> list[str]:
        written = write_results(out, report, tables, figures)
        if experiment.table_file is not None:
            path = out / experiment.table_file
            path.write_text(experiment.format_table(report) + "\n")
            written.append(str(path))
        return written

    # The runs are in the store already; only the report files are at risk here.
    written = write_outputs(out, write)
    _print(experiment, args, report, changes, written)
    return 0


def command(experiment: Experiment):
    """The `main(argv=None) -> exit status` of an experiment's own command: `run_experiment`
    with one-line errors (`cli.run_cli`, docs/usage.md#errors)."""
    def main(argv: list[str] | None = None) -> int:
        return run_cli(lambda args: run_experiment(experiment, args), experiment.prog, argv)

    main.__doc__ = f"`{experiment.prog}`: returns the exit status (docs/usage.md#errors)."
    return main


def _run_rounds(experiment: Experiment, runs: list, store: ResultsStore, args) -> RunSummary:
    """`run_all` once per round of `experiment.round_of` (one call without it), each round
    stored before the next starts; one summary of them all, records in `runs` order."""
    rounds = ([list(group) for _, group in itertools.groupby(runs, key=experiment.round_of)]
              if experiment.round_of is not None and runs else [runs])
    summaries = []
    for k, part in enumerate(rounds, start=1):
        if len(rounds) > 1 and not args.no_progress:
            print(f"round {k} of {len(rounds)}: {len(part)} runs", file=sys.stderr)
        summaries.append(run_all(part, store=store, workers=args.workers,
                                 scheduler=args.scheduler, fresh=args.fresh,
                                 progress=not args.no_progress, runner=experiment.run_one,
                                 is_current=experiment.is_current))
    if len(summaries) == 1:
        return summaries[0]
    return RunSummary(done=sum(s.done for s in summaries),
                      reused=sum(s.reused for s in summaries),
                      failed=sum(s.failed for s in summaries),
                      records=tuple(r for s in summaries for r in s.records),
                      keys=tuple(k for s in summaries for k in s.keys),
                      wall_time=sum(s.wall_time for s in summaries))


def _import(runs: list, source: str, path, out: Path) -> None:
    """--import-runs: add the file's runs of this plan to the store, before any work."""
    with open_store(path, out) as store:
        try:
            added = import_runs(store, runs, source)
        except ValueError as error:
            raise CliError(str(error)) from None
        print(f"imported {added} runs into {store.path}", file=sys.stderr)


def _stored(runs: list, path, out: Path) -> tuple[RunSummary, Path]:
    """--no-run: the runs the store holds, read-only; a missing store or one holding none
    of the runs is a CliError (status 2)."""
    path = default_store_path() if path is None else path
    if not Path(path).is_file():
        raise CliError(f"--no-run: no results store at {path}")
    # read-only: an archived store on read-only media can be analysed
    store = open_store(path, out, readonly=True)
    with store, sweep_errors():
        summary = stored_runs(runs, store)
    if not summary.records:
        raise CliError(f"--no-run: the store {store.path} holds none of the runs this "
                       "command asks for")
    return summary, store.path


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
    # records read from elsewhere (records_from) name no store
    stored = f"; runs stored in {report['store']}" if "store" in report else ""
    print("\n" + _wrap("wrote: " + ", ".join(written) + stored))


def _wrap(text: str) -> str:
    # within the printed table's width (a path longer than that keeps its own line whole)
    return textwrap.fill(text, width=TABLE_WIDTH, subsequent_indent="  ",
                         break_long_words=False, break_on_hyphens=False)
