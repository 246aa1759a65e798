"""Running an experiment from Python (a notebook, a script): records and tables as plain objects.

    from simulations import compare, run
    result = run(compare.EXPERIMENT, compare.config("quick", m=[16, 32], instances=4))
    result.table                      # the printed table, as text
    result.records                    # one dict per run, in run order
    result.columns("results")         # a CSV table as {column: numpy array}
    result.frame("results")           # the same as a pandas DataFrame (needs pandas)

The runs go through the same runner as the commands (results store, resume, workers);
nothing is written but the store. Usage: docs/usage.md#from-python.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .executors import run_all
from .protocol import Experiment
from .store import ResultsStore, default_store_path

__all__ = ["Result", "run"]


@dataclass(frozen=True)
class Result:
    """What `run` returns.

    Fields:
        records: one JSON-like dict per run, in the experiment's run order.
        report: the experiment's report (what report.json holds, without provenance).
        table: the text the command prints.
        tables: the CSV tables, {name: list of row dicts}.
        done, reused: runs computed by this call, and read from the store.
    """

    records: list[dict] = field(repr=False)
    report: dict = field(repr=False)
    table: str = field(repr=False)
    tables: dict[str, list[dict]] = field(repr=False)
    done: int = 0
    reused: int = 0

    def columns(self, name: str) -> dict[str, np.ndarray]:
        """Table `name` as {column: numpy array} (missing or non-finite values: NaN in
        numeric columns, None in object ones)."""
        rows = self._rows(name)
        names = list(dict.fromkeys(k for row in rows for k in row))
        out = {}
        for column in names:
            values = [row.get(column) for row in rows]
            numeric = all(v is None or (isinstance(v, int | float | np.number)
                                        and not isinstance(v, bool)) for v in values)
            out[column] = (np.array([np.nan if v is None else v for v in values], float)
                           if numeric else np.array(values, dtype=object))
        return out

    def frame(self, name: str):
        """Table `name` as a pandas DataFrame (pandas is optional, not a dependency)."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("Result.frame needs pandas (pip install pandas); "
                              "Result.columns gives numpy arrays without it") from None
        return pd.DataFrame(self._rows(name))

    def _rows(self, name: str) -> list[dict]:
        if name not in self.tables:
            raise KeyError(f"no table {name!r}; this experiment writes {sorted(self.tables)}")
        return self.tables[name]


def run(experiment: Experiment, config, *, store=None, workers: int | None = None,
        progress: bool = True) -> Result:
    """Run `config` of `experiment` through the results store (default: the user's store,
    `docs/usage.md#results-store`) and return its records, report and tables.

    Runs already stored are reused, as on the command line; an interrupted call loses
    nothing that finished.
    """
    with ResultsStore(default_store_path() if store is None else store) as opened:
        summary = run_all(experiment.runs(config), runner=experiment.run_one, store=opened,
                          workers=workers, progress=progress,
                          is_current=experiment.is_current)
    records = list(summary.records)
    report = experiment.report(config, records)
    return Result(records=records, report=report, table=experiment.format_table(report),
                  tables=experiment.tables(report), done=summary.done, reused=summary.reused)
