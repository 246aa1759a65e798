"""What the studies share: their runs go through the executors and a results store.

A study's unit of independent work (one training; one grid point where the measurement is
of a batch) is a `simulations.runner.protocol.Run`, computed by a module-level function through
`simulations.runner.executors.run_all`. Each record is stored as it finishes, so an interrupted
study resumes with the same command and a rerun reuses what is stored
(docs/usage.md#results-store). The studies keep their own command lines (a CSV file as
--out, table modes that read it back), so they take only the flags of the store and the
executors from the experiments' shared set.
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from simulations._seeds import instance_seed_of, stream_seed
from simulations.runner.cli import CliError, OneLineErrorParser, integer
from simulations.runner.command import open_store, sweep_errors
from simulations.runner.executors import run_all


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


def read_csv(path: Path) -> list[dict]:
    """The rows of a study's CSV (values as text), or a one-line CliError."""
    try:
        with open(path, newline="") as handle:
            return list(csv.DictReader(handle))
    except OSError as error:
        raise CliError(f"--out {path}: cannot read ({error.strerror})") from None


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
