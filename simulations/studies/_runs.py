"""What the studies share: the seed rule of their runs and their place on the protocol.

Each study is declared on the experiment protocol (`simulations.runner.protocol`) by
`experiment(...)` and run by `simulations.runner.command.run_experiment`, with the shared
flags, results store, executors, resume and writer of every experiment
(docs/usage.md#research-studies). What differs from the product experiments is kept here
once: the per-instance CSV written next to report.json (`record_tables`, its name fixed
per study), `--from-csv FILE` that analyses such a CSV instead of running (the values are
then text, which the analyses convert), and the explicit study flags that override the
default or --quick config, each with its note.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

from simulations._seeds import instance_seed_of, stream_seed
from simulations.runner.cli import CliError, integer
from simulations.runner.protocol import Experiment
from pathlib import Path
from simulations.runner.cli import OneLineErrorParser
from simulations.runner.command import open_store, sweep_errors
from simulations.runner.executors import run_all

# File in the output folder that also receives the printed tables (Experiment.table_file).
TABLE_FILE = "report.md"


def seed_param(entropy: Sequence[int], instance: int) -> dict:
    """A run's seed as its params hold it (so that its key covers the seed rule):
    `SeedSequence(entropy).spawn(k)[instance]`, the convention of every published CSV.
    That child depends on its index only, not on k, so one instance is drawn alone."""
    return {"entropy": [int(e) for e in entropy], "spawn_key": [int(instance)]}


def seed_sequence(param: dict) -> np.random.SeedSequence:
    """The SeedSequence of a `seed_param`: instance i of the stream [master, n, m]
    (docs/usage.md#seeds)."""
    (instance,) = param["spawn_key"]
    return instance_seed_of(stream_seed(*param["entropy"]), instance)


def add_source_flags(parser: argparse.ArgumentParser, instances_help: str) -> None:
    """--instances (default None: the config's, so that --quick can tell it was not given)
    and --from-csv, the read-back mode of every study."""
    parser.add_argument("--instances", type=integer, default=None, help=instances_help)
    parser.add_argument("--from-csv", metavar="FILE", default=None,
                        help="analyse this per-instance CSV (one the study wrote, or one of "
                        "docs/data) instead of running; no store, nothing computed")


def override(base, args: argparse.Namespace, names: Sequence[str]) -> tuple[object, list[str]]:
    """`base` (the default or --quick config) with every flag in `names` that was given,
    and a "field old -> new" note for each that changes it; --from-csv is copied as is."""
    values, changes = {"from_csv": args.from_csv}, []
    for name in names:
        value = getattr(args, name)
        if value is None:
            continue
        value = tuple(value) if isinstance(value, list) else value
        if value != getattr(base, name):
            changes.append(f"{name} {_text(getattr(base, name))} -> {_text(value)}")
        values[name] = value
    return dataclasses.replace(base, **values), changes


def _text(value) -> str:
    return " ".join(map(str, value)) if isinstance(value, tuple) else str(value)


def read_csv(path: str) -> list[dict]:
    """The rows of a study's CSV (values as text), or a one-line CliError."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as error:
        raise CliError(f"--from-csv {path}: cannot read ({error.strerror})") from None
    except (csv.Error, UnicodeDecodeError) as error:
        raise CliError(f"--from-csv {path}: not a readable CSV ({error})") from None
    if not rows:
        raise CliError(f"--from-csv {path}: holds no row")
    return rows


def in_columns(rows: Sequence[dict], columns: Sequence[str]) -> list[dict]:
    """`rows` with their values in `columns` order (a record comes back from the store with
    its keys sorted); a missing value is an empty cell."""
    return [{c: row.get(c, "") for c in columns} for row in rows]


def experiment(*, csv_name: Callable, records_from_csv: Callable = read_csv,
               **fields) -> Experiment:
    """A study's Experiment: `fields` as `Experiment` takes them, plus what every study has.

    `csv_name(config)` names the per-instance CSV (without .csv) that `record_tables(config,
    records)` fills; it is not written again when the records came from --from-csv, whose
    rows `records_from_csv(path)` reads. The study writes no other CSV, and its printed
    tables go to TABLE_FILE too.
    """
    rows = fields.pop("record_tables")

    def record_tables(config, records):
        return {} if config.from_csv is not None else {csv_name(config): rows(config, records)}

    def records_from(config):
        return None if config.from_csv is None else records_from_csv(config.from_csv)

    return Experiment(record_tables=record_tables, records_from=records_from,
                      tables=lambda report: {}, table_file=TABLE_FILE, **fields)


# --- the old command line of cascade_check and cascade_explore, until they move ---


def parser(prog: str, description: str, instances: int | None = None) -> OneLineErrorParser:
    """A study's parser with --store, --workers and --no-progress, and with `instances`
    (a default) the --master seed and --instances per grid point; errors are one line."""
    out = OneLineErrorParser(prog=prog, description=description)
    if instances is not None:
        out.add_argument("--master", type=int, required=True, help="master seed (>= 0)")
        out.add_argument("--instances", type=int, default=instances,
                         help="instances per grid point")
    out.add_argument("--store", type=Path, help="results store (default "
                     "$XDG_DATA_HOME/incidental-polysemanticity/store.sqlite); finished runs "
                     "are kept there, so an interrupted study resumes with the same command")
    out.add_argument("--workers", type=integer,
                     help="local worker processes (default: the available cores)")
    out.add_argument("--no-progress", action="store_true", help="no progress bar")
    return out



def compute(runs: list, runner: Callable[..., dict], args: argparse.Namespace,
            out: Path | None = None) -> list[dict]:
    """The records of `runs` (in order): stored ones reused, the rest computed by `runner`
    on `args.workers` processes and stored as they finish. `out`, the CSV the study will
    write, is checked before any work: its folder must be writable and not hold the store."""
    if args.workers is not None and args.workers < 1:
        raise CliError(f"--workers must be an integer >= 1; got {args.workers}")
    if out is not None:
        if out.is_dir():
            raise CliError(f"--out {out}: is a folder; give the CSV file to write")
        folder = out.parent
        if not folder.is_dir():
            raise CliError(f"--out {out}: the folder {folder} does not exist")
    store = open_store(args.store, None if out is None else out.parent)
    with store, sweep_errors():
        summary = run_all(runs, runner=runner, store=store, workers=args.workers,
                          progress=not args.no_progress)
    return list(summary.records)


def write_csv(path: Path, rows: list[dict], fields: Sequence[str]) -> None:
    """Write `rows` under the header `fields` (a missing value is an empty cell)."""
    try:
        with open(path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(fields))
            writer.writeheader()
            writer.writerows(rows)
    except OSError as error:
        raise CliError(f"cannot write {path} ({error.strerror}); the runs are stored, "
                       "rerun the same command to write it", status=1) from None
