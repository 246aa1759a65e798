"""Moving a sweep between machines: its stored runs as gzipped JSON lines.

`export_runs` writes the records a store holds for an experiment's runs, one line per
run, `{"key": store key, "record": record}`; `import_runs` puts those of another
machine's export into a store, so that the sweep resumes where it stopped there
(`--export-runs` / `--import-runs` of every experiment's command, docs/usage.md#shared-flags).
Only runs of the importing command's plan are accepted: a line whose key is not one of
its runs, or whose record the run disowns (`run.matches(record)`, where the run defines
it), refuses the whole file before anything is stored.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Sequence
from pathlib import Path

from .executors import stored_runs
from .store import ResultsStore

__all__ = ["export_runs", "import_runs"]


def export_runs(store: ResultsStore, runs: Sequence, path: str | Path) -> int:
    """Write the records `store` holds for `runs` to `path`, in run order; returns how many."""
    summary = stored_runs(runs, store)
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for key, record in zip(summary.keys, summary.records, strict=True):
            f.write(json.dumps({"key": key, "record": record}, separators=(",", ":"),
                               allow_nan=False) + "\n")
    return len(summary.records)


def import_runs(store: ResultsStore, runs: Sequence, path: str | Path) -> int:
    """Add the runs of an `export_runs` file that `store` lacks; returns how many.

    ValueError, naming the file and line, for an unreadable file or a line that is not a
    record of one of `runs`; nothing is stored then.
    """
    plan = {run.key(): run for run in runs}
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            lines = f.readlines()
    except (OSError, EOFError, UnicodeDecodeError) as error:
        raise ValueError(f"cannot read {path}: {error}") from None
    entries = []
    for line_no, line in enumerate(lines, start=1):
        try:
            entry = json.loads(line)
            key, record = entry["key"], entry["record"]
            run = plan[key]
        except (ValueError, KeyError, TypeError):
            raise ValueError(f"{path}: line {line_no}: not a stored run of this command's "
                             "plan") from None
        matches = getattr(run, "matches", None)
        if not isinstance(record, dict) or (matches is not None and not matches(record)):
            raise ValueError(f"{path}: line {line_no}: the record does not match its key "
                             f"{key[:12]}")
        entries.append((key, record))
    have = set(store.keys())
    new = [(key, record) for key, record in dict(entries).items() if key not in have]
    for key, record in new:
        store.put(key, record)
    return len(new)
