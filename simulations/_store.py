"""The results store: one sqlite row per (spec, instance), keyed by `canonical_key`.

Only the sweep's parent process writes (workers compute and return records), one
transaction per run, so a sweep interrupted at any point (Ctrl-C, kill -9, power
loss) keeps every run that finished and no half-written one. How resume and
`--fresh` use it: `docs/usage.md#results-store`.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from ._specs import package_version

__all__ = ["ResultsStore", "SCHEMA_VERSION"]

# Layout version of the tables below; bump on an incompatible change.
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    key      TEXT PRIMARY KEY,   -- canonical_key(spec, instance): SHA-256 hex
    version  TEXT NOT NULL,      -- package version that computed the record
    record   TEXT NOT NULL,      -- the outcome record as JSON
    written  REAL NOT NULL       -- unix time of the write (provenance only)
);
"""

# Seconds a writer waits for another connection's lock before failing.
_BUSY_TIMEOUT = 60.0


def _encode(record: Mapping) -> str:
    if not isinstance(record, Mapping):
        raise ValueError(f"record must be a mapping; got {type(record).__name__}")
    # allow_nan=False: a NaN would not round-trip as an equal value; run records
    # store non-finite numbers as None (simulations/_run.py).
    try:
        return json.dumps(dict(record), sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"record must be JSON-able without NaN/inf: {exc}") from exc


class ResultsStore:
    """A sqlite3 file of outcome records, one per canonical key.

    Main arguments:
        path: the database file; parent directories are created.

    The database runs in WAL mode with `synchronous=FULL`: each `put` is one
    transaction that is on disk when `put` returns, so a crash or power loss never
    loses a stored run nor leaves a partial one. Use as a context manager or call
    `close()`. Not shared across processes by design: the parent of a sweep is the
    only writer (other readers are safe).
    """

    def __init__(self, path: str | os.PathLike) -> None:
        if not isinstance(path, (str, os.PathLike)) or str(path) == "":
            raise ValueError(f"path must be a non-empty file path; got {path!r}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, one transaction per put.
        self._conn = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        # FULL (not NORMAL): in WAL mode NORMAL may lose the last commits on power loss.
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.executescript(_SCHEMA)
        self._init_meta()

    def _init_meta(self) -> None:
        with self._transaction():
            stored = dict(self._conn.execute("SELECT name, value FROM meta").fetchall())
            if "schema_version" in stored and int(stored["schema_version"]) != SCHEMA_VERSION:
                raise ValueError(
                    f"path {self.path} has store schema {stored['schema_version']}, "
                    f"this package reads schema {SCHEMA_VERSION}"
                )
            defaults = {
                "schema_version": str(SCHEMA_VERSION),
                "created_with_version": package_version(),
                "created": repr(time.time()),
            }
            for name, value in defaults.items():
                self._conn.execute(
                    "INSERT OR IGNORE INTO meta (name, value) VALUES (?, ?)", (name, value)
                )

    @contextlib.contextmanager
    def _transaction(self):
        # BEGIN IMMEDIATE takes the write lock up front, so the transaction cannot
        # fail half-way on a lock held by another connection.
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    # -- queries -------------------------------------------------------------------

    def has(self, key: str) -> bool:
        """Whether a record is stored under `key`."""
        row = self._conn.execute("SELECT 1 FROM runs WHERE key = ?", (key,)).fetchone()
        return row is not None

    def get(self, key: str) -> dict | None:
        """The record stored under `key`, or None."""
        row = self._conn.execute("SELECT record FROM runs WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def records(self, keys: Iterable[str]) -> list[dict]:
        """The records of `keys`, in that order. Raises KeyError naming a missing key."""
        out = []
        for key in keys:
            record = self.get(key)
            if record is None:
                raise KeyError(f"no stored run under key {key!r} in {self.path}")
            out.append(record)
        return out

    def keys(self) -> list[str]:
        """Every stored key, sorted."""
        return [k for (k,) in self._conn.execute("SELECT key FROM runs ORDER BY key")]

    def __len__(self) -> int:
        return self._conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]

    def __contains__(self, key: str) -> bool:
        return self.has(key)

    @property
    def meta(self) -> dict[str, str]:
        """Store provenance: schema_version, created_with_version, created (unix time)."""
        return dict(self._conn.execute("SELECT name, value FROM meta").fetchall())

    # -- writes --------------------------------------------------------------------

    def put(self, key: str, record: Mapping) -> None:
        """Store (or overwrite) `record` under `key` in one durable transaction.

        The record is encoded before the transaction starts, so a record that is not
        JSON-able raises ValueError and writes nothing.
        """
        if not isinstance(key, str) or not key:
            raise ValueError(f"key must be a non-empty string; got {key!r}")
        payload = _encode(record)
        with self._transaction():
            self._conn.execute(
                "INSERT OR REPLACE INTO runs (key, version, record, written) VALUES (?, ?, ?, ?)",
                (key, package_version(), payload, time.time()),
            )

    # -- lifetime ------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection (idempotent)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ResultsStore({str(self.path)!r})"
