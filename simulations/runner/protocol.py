"""The experiment protocol: what every experiment provides, and what they all share.

Every experiment (E1 `simulations.sparsification`, E2 `simulations.noise`, E3
`simulations.compare`, the noise optimum `simulations.noise_optimum`, the lam/lr
replication `simulations.replication`, the paper at its own settings
`simulations.paper_settings`) is an `Experiment`:
a frozen config, `runs(config)` that expands it into independent runs, a module-level
`run_one(run) -> dict` record function (picklable, so that local processes and Dask can
call it), `report(config, records)`, a table formatter, CSV tables and figures.
`simulations.runner.command.run_experiment` runs any of them through the executors and
the results store (resume, progress bar, local or Dask workers, Ctrl-C) and writes the
outputs with `write_results`; `evaluate` computes one in this process. Usage:
docs/usage.md#protocol.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import platform
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from .cli import jsonable
from .keys import package_version, versioned_key

__all__ = ["Experiment", "Run", "declare", "evaluate", "provenance", "write_results"]

# Libraries whose versions are recorded with every output.
_VERSIONED = ("numpy", "scipy", "sympy", "numba", "matplotlib")
# Columns every printed table and its notes fit in (docs/usage.md#printed-table).
TABLE_WIDTH = 100
# Resolution of saved figures; every figure is written as PNG and PDF.
FIGURE_DPI = 150


@dataclass(frozen=True)
class Run:
    """One independent run of an experiment, as the executors and the store see it.

    Fields:
        experiment: the experiment's name (e.g. "e2"); part of the key, so that two
            experiments never share a stored record.
        params: every parameter the run's result depends on (JSON-able, seeds
            included); `run_one` reads nothing else.
        instance: index among runs with the same params (0 when there is one).
        cost: relative cost, for scheduling the longest runs first (e.g. n^2 m steps).
    """

    experiment: str
    params: Mapping = field(default_factory=dict)
    instance: int = 0
    cost: float = 1.0

    def key(self) -> str:
        """Store key: SHA-256 of the canonical JSON of (experiment, params, instance) and the
        package version, the same construction as `simulations.canonical_key`."""
        return versioned_key({"experiment": self.experiment,
                                    "params": dict(self.params), "instance": self.instance})


@dataclass(frozen=True)
class Experiment:
    """What an experiment module provides to the shared driver (docs/usage.md#protocol).

    Fields:
        name: the name `python -m simulations.compare --experiment NAME` accepts.
        prog: its own command, e.g. "python -m simulations.noise".
        description: one line for --help.
        default_out: output folder when --out is not given.
        default_seed: master seed when --seed is not given.
        add_flags: adds the experiment's own flags to an argparse parser.
        configure: (parsed args) -> (config, overrides): the frozen config (its `quick()`
            version under --quick, explicit flags winning) and "field old -> new" notes;
            raises ValueError naming the bad flag.
        runs: config -> the list of independent runs (`Run`s, or any object with a
            `key()` and a `cost`, such as E3's `SpecRun`).
        run_one: run -> JSON-able record; module-level (pickled to workers).
        report: (config, records in `runs` order) -> JSON-able report dict.
        format_table: report -> text printed without --json.
        tables: report -> {CSV name: rows} written next to report.json.
        figures: (config, report) -> {name: matplotlib Figure}.
        memory_estimate: (config, local workers) -> (peak bytes, what to name in the
            error), or None when sizes are fixed.
        format_wide: report -> the full table, printed under --wide (None: the
            experiment has no --wide).
        is_current: stored record -> whether it may be reused (None: all may).
        out_for: parsed args -> output folder when --out is not given (None:
            `default_out`).
        overrides_heading: parsed args -> the words before the override notes (None:
            "explicit flags override the default (or --quick) values").
        seed_help: words appended to --seed's help.
        round_of: run -> its round (any comparable label), or None for one round. `runs`
            then lists the runs round by round, and each round (consecutive runs with the
            same label) is run and stored before the next starts, so that an interrupted
            sweep leaves whole rounds (the replication's complete pairs); within a round
            the longest runs start first.
        no_run: config -> whether to compute nothing and report the runs the store holds,
            opened read-only (the replication's --no-run).
        records_from: config -> records read from elsewhere (the replication's --from-csv),
            or None to take them from the store; with records, no store is opened and
            nothing runs.
        record_tables: (config, records) -> {CSV name: rows} built from the records
            rather than the report (one row per run), written before `tables`; the rows
            do not enter report.json.
        table_file: file name in the output folder that also receives the printed table
            (e.g. "report.md"), written last; None: none.
    """

    name: str
    prog: str
    description: str
    default_out: str
    default_seed: int
    add_flags: Callable
    configure: Callable
    runs: Callable
    run_one: Callable
    report: Callable
    format_table: Callable
    tables: Callable
    figures: Callable
    memory_estimate: Callable | None = None
    format_wide: Callable | None = None
    is_current: Callable | None = None
    out_for: Callable | None = None
    overrides_heading: Callable | None = None
    seed_help: str = ""
    round_of: Callable | None = None
    no_run: Callable | None = None
    records_from: Callable | None = None
    record_tables: Callable | None = None
    table_file: str | None = None


# The hooks an experiment module defines, by name (`declare`).
HOOKS = ("add_flags", "configure", "runs", "run_one", "report", "format_table", "tables",
         "figures", "memory_estimate")


def declare(namespace: Mapping, **fields) -> Experiment:
    """The Experiment of a module that defines its hooks under the protocol's names.

    Each hook in HOOKS is the module's `_name` or, failing that, `name` (pass
    `globals()`); `fields` gives the rest (name, prog, description, ...) and may override
    a hook. So an experiment module wires itself in one call instead of a list of
    `hook=hook` lines that every module would repeat.
    """
    hooks = {}
    for hook in HOOKS:
        for name in (f"_{hook}", hook):
            if callable(namespace.get(name)):
                hooks[hook] = namespace[name]
                break
    return Experiment(**{**hooks, **fields})


def evaluate(experiment: Experiment, config) -> dict:
    """The report of `config` computed in this process, without store or workers.

    Records pass through JSON as in the executors, so the report equals the one
    `run_experiment` writes for the same config (apart from run counts and provenance).
    """
    records = [json.loads(json.dumps(jsonable(experiment.run_one(run)), allow_nan=False))
               for run in experiment.runs(config)]
    return experiment.report(config, records)


def provenance(prog: str, argv: Sequence[str], config: Any = None, **extra) -> dict:
    """Command, config, seeds rule, package versions and machine, stored with every output;
    `extra` entries are added last."""
    versions = {"incidental-polysemanticity": package_version(),
                "python": platform.python_version()}
    for name in _VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    out = {"command": " ".join([prog, *argv])}
    if config is not None:
        out["config"] = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else config
    out.update({
        "versions": versions,
        "machine": platform.platform(),
        "seeds": "every run draws from a numpy SeedSequence stream of the master seed "
                 "(docs/usage.md#seeds); each record names its own",
    })
    out.update(extra)  # an experiment's own entries (e.g. compare's preset and seed rule)
    return out


def write_results(out: Path, report: dict, tables: Mapping[str, list[dict]],
                  figures: Callable[[], Mapping] | None = None,
                  json_name: str = "report.json") -> list[str]:
    """Write figures (PNG and PDF), the report as JSON and each table as CSV into `out`.

    `figures` is called here, so that a figure that cannot be drawn or saved fails like
    any other output; their paths are added to the report under "figures". Non-finite
    numbers become null in JSON and empty cells in CSV; nested values are JSON text.
    Returns the written paths, tables then report then figures.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written_figures = []
    for name, fig in (figures() if figures is not None else {}).items():
        for ext in ("png", "pdf"):
            path = out / f"{name}.{ext}"
            fig.savefig(path, dpi=FIGURE_DPI, bbox_inches="tight")
            written_figures.append(str(path))
        plt.close(fig)
    if figures is not None:
        report["figures"] = written_figures
    written = []
    for name, rows in tables.items():
        if rows:
            path = out / f"{name}.csv"
            _write_csv(path, rows)
            written.append(str(path))
    path = out / json_name
    path.write_text(json.dumps(jsonable(report), indent=1, allow_nan=False))
    written.append(str(path))
    return written + written_figures


def _write_csv(path: Path, rows: list[dict]) -> None:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in jsonable(rows):
            writer.writerow({k: json.dumps(v) if isinstance(v, list | dict) else v
                             for k, v in row.items()})
