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


def experiment(module: str, doc: str, *, columns: Sequence[str] | None = None,
               csv_name: Callable | None = None, **fields) -> Experiment:
    """The Experiment of the study `module` (its dotted name, written out: under `python -m`
    the module's `__name__` is "__main__"; `doc`, its docstring, gives the description):
    `fields` as `Experiment` takes them, the rest what every study has.

    For `simulations.studies.fate` the name is "study-fate", the command `python -m
    simulations.studies.fate`, the output folder `results/fate` and the per-instance CSV
    `fate.csv` (`csv_name(config)` may name another), whose rows are the records in
    `columns` order unless `record_tables` builds them. That CSV is not written again when
    the records came from --from-csv. The study writes no other CSV, its printed tables go
    to TABLE_FILE too, and it draws no figure unless `figures` says otherwise.
    """
    if not module.startswith("simulations.studies."):
        raise ValueError(f"a study's module name, simulations.studies.NAME; got {module!r}")
    short = module.rsplit(".", 1)[-1]
    rows = fields.pop("record_tables", lambda config, records: in_columns(records, columns))
    name_of = csv_name or (lambda config: short)

    def record_tables(config, records):
        return {} if config.from_csv is not None else {name_of(config): rows(config, records)}

    def records_from(config):
        return None if config.from_csv is None else read_csv(config.from_csv)

    defaults = {"name": "study-" + short.replace("_", "-"), "prog": f"python -m {module}",
                "description": doc.splitlines()[0], "default_out": f"results/{short}",
                "figures": lambda config, report: {}, "tables": lambda report: {}}
    return Experiment(**{**defaults, **fields}, record_tables=record_tables,
                      records_from=records_from, table_file=TABLE_FILE)
