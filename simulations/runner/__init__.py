"""The ground floor every experiment stands on; it knows runs, not experiments.

- `keys`: a run's results-store key;
- `store`: the embedded results store (sqlite3), one record per run;
- `executors`: `run_all`, runs on local processes or Dask, stored as they finish;
- `protocol`: `Experiment` and `Run`, what an experiment declares, and the writer;
- `command`: the command line every experiment shares (`run_experiment`);
- `cli`: flags, one-line errors and output folders;
- `memory`: the memory check before a sweep;
- `in_python`: `run`, an experiment from a notebook or script.

Usage: docs/usage.md#protocol, docs/usage.md#execution, docs/usage.md#results-store.
"""
