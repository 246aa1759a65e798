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
from urllib.parse import quote

from .keys import package_version

__all__ = [
    "ResultsStore",
    "SCHEMA_VERSION",
    "StoreError",
    "StoreLostError",
    "StoreReadError",
    "StoreWriteError",
    "default_store_path",
]

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
# Attempts of a put whose write lock stays busy for _BUSY_TIMEOUT each.
_PUT_ATTEMPTS = 2
# The first 16 bytes of every SQLite 3 database file (sqlite.org/fileformat.html).
_SQLITE_HEADER = b"SQLite format 3\x00"
# Value of meta.application in a results store: how a store is told from other databases.
_MARKER = "incidental-polysemanticity results store"


def _encode(record: Mapping) -> str:
    if not isinstance(record, Mapping):
        raise ValueError(f"record must be a mapping; got {type(record).__name__}")
    # allow_nan=False: a NaN would not round-trip as an equal value; run records
    # store non-finite numbers as None (simulations/_run.py).
    try:
        return json.dumps(dict(record), sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"record must be JSON-able without NaN/inf: {exc}") from exc


class StoreError(ValueError):
    """The store path cannot be used as a results store; the message names the path."""


class StoreLostError(RuntimeError):
    """The store file was deleted or replaced while it was open."""


class StoreWriteError(RuntimeError):
    """A record could not be written (disk full, lock held past the busy timeout, ...)."""


class StoreReadError(RuntimeError):
    """A stored record or table cannot be read; the message names the store and the key."""


def _refuse(path: Path, why: str) -> StoreError:
    return StoreError(f"store {path}: {why}")


# Smallest SQLite page: a shorter file cannot hold a table, let alone a run.
_MIN_PAGE = 512
# Largest file inspected as a possible stub (one 64 KiB page, SQLite's largest).
_MAX_STUB = 65536


def _is_stub(path: Path) -> bool:
    """What creating a store on a full disk leaves behind, holding nothing: the SQLite
    header cut short (at least 8 of its 16 bytes) in a file below one page, or the header
    followed by zero bytes only (a first page never filled). Any other file is not ours
    to reset."""
    try:
        if not path.is_file() or not 0 < path.stat().st_size <= _MAX_STUB:
            return False
        data = path.read_bytes()
    except OSError:
        return False
    if len(data) < _MIN_PAGE and 8 <= len(data) < len(_SQLITE_HEADER):
        return _SQLITE_HEADER.startswith(data)
    return data.startswith(_SQLITE_HEADER) and not any(data[len(_SQLITE_HEADER):])


def _recognise(path: Path) -> bool | None:
    """Whether the existing file at `path` is a results store, read-only.

    Returns True for a store that carries `_MARKER`; None for an empty (0-byte) file,
    which becomes a new store; False for a store written before the marker existed
    (schema 1: exactly the tables meta and runs, meta holding schema_version and
    created_with_version). Raises StoreError for anything else, without having written
    a byte: the file is opened with sqlite's `mode=ro`.
    """
    if path.is_dir():
        raise _refuse(path, "is a folder, not a results store file")
    if not path.is_file():
        raise _refuse(path, "is not a regular file")
    try:
        with path.open("rb") as handle:
            header = handle.read(len(_SQLITE_HEADER))
    except OSError as error:
        raise _refuse(path, f"cannot be read ({error.strerror})") from None
    if not header:
        # An empty file holds nothing to protect, and sqlite reads it as an empty
        # database (a reader polling a store before its first write creates one).
        return None
    if header != _SQLITE_HEADER:
        raise _refuse(path, "is not an SQLite database, not a results store; refusing to "
                            "modify it")
    # immutable=1 where the folder is read-only: a WAL store cannot be read there
    # otherwise (sqlite would create PATH-shm), which is a read-only mount, not a bad file
    immutable = "&immutable=1" if not os.access(path.parent, os.W_OK) else ""
    uri = f"file:{quote(str(path.resolve()))}?mode=ro{immutable}"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=_BUSY_TIMEOUT)
        try:
            tables = {t for (t,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            meta = dict(conn.execute("SELECT name, value FROM meta")) if "meta" in tables else {}
        finally:
            conn.close()
    except sqlite3.Error as error:
        raise _refuse(path, f"cannot be opened as an SQLite database ({error})") from None
    if not tables:
        # Nothing to protect: another sweep creating this store right now (its schema is
        # not committed yet), or a stub left by a failure before the first table.
        return None
    if meta.get("application") == _MARKER:
        marked = True
    elif tables == {"meta", "runs"} and {"schema_version", "created_with_version"} <= set(meta):
        marked = False
    else:
        listed = ", ".join(sorted(tables)) or "none"
        raise _refuse(path, f"is another program's SQLite database (tables: {listed}), "
                            "not a results store; refusing to modify it")
    if meta.get("schema_version") != str(SCHEMA_VERSION):
        raise _refuse(path, f"has store schema {meta.get('schema_version')}, this package "
                            f"reads schema {SCHEMA_VERSION}")
    return marked


class ResultsStore:
    """A sqlite3 file of outcome records, one per canonical key.

    Main arguments:
        path: the database file; parent directories are created.

    An existing file is first opened read-only and recognised as a results store (its
    `meta` table carries this package's marker); only then is it opened for writing.
    Anything else (a folder, a file that is not a database, another program's
    database, an unreadable or unwritable path) raises `StoreError`, a ValueError whose
    one-line message names the path, and the file is left untouched.

    The database runs in WAL mode with `synchronous=FULL`: each `put` is one
    transaction that is on disk when `put` returns, so a crash or power loss never
    loses a stored run nor leaves a partial one. `put` raises `StoreLostError` if the
    file was deleted or replaced since it was opened (its runs would otherwise go to
    an unlinked file and vanish). Use as a context manager or call `close()`. Not
    shared across processes by design: the parent of a sweep is the only writer (other
    readers are safe).
    """

    def __init__(self, path: str | os.PathLike, readonly: bool = False) -> None:
        if not isinstance(path, (str, os.PathLike)) or str(path) == "":
            raise ValueError(f"path must be a non-empty file path; got {path!r}")
        self.path = Path(path)
        self.readonly = readonly
        self._conn = None
        if readonly:
            self._open_readonly()
            return
        if _is_stub(self.path):
            # cut short before its first page (disk full at creation): holds no run
            try:
                os.truncate(self.path, 0)
            except OSError as error:
                raise _refuse(self.path, f"is a stub of a store that holds no run and cannot "
                                         f"be reset ({error.strerror})") from None
        marked = _recognise(self.path) if self.path.exists() else None
        if not self.path.exists():
            self._create_parent()
        elif not os.access(self.path, os.W_OK) or not os.access(self.path.parent, os.W_OK):
            # WAL mode writes PATH-wal and PATH-shm next to the file.
            raise _refuse(self.path, "exists but is not writable here (file or its folder); "
                                     "reading it with --no-run works where offered")
        self._open_retrying(marked)
        self._inode = os.stat(self.path).st_ino

    def _open_retrying(self, marked: bool | None) -> None:
        # Two sweeps creating one store at once: switching to WAL and creating the schema
        # can meet SQLITE_BUSY without sqlite's busy handler; the loser retries, then
        # finds the winner's schema (CREATE TABLE IF NOT EXISTS, INSERT OR IGNORE).
        deadline = time.monotonic() + _BUSY_TIMEOUT
        while True:
            try:
                self._open(marked)
                return
            except sqlite3.OperationalError as error:
                self.close()
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise _refuse(self.path, f"cannot be opened for writing ({error})") from None
                time.sleep(0.05)
            except sqlite3.Error as error:
                self.close()
                raise _refuse(self.path, f"cannot be opened for writing ({error})") from None

    def _open_readonly(self) -> None:
        """Open an existing store for reading only, also on read-only media (an archive).

        `immutable=1` when the folder is not writable: sqlite then needs no -shm file
        (which it cannot create there) and trusts that nobody writes meanwhile.
        """
        if not self.path.is_file():
            raise _refuse(self.path, "no such results store file")
        if _recognise(self.path) is None:
            raise _refuse(self.path, "is empty: holds no run")
        immutable = "&immutable=1" if not os.access(self.path.parent, os.W_OK) else ""
        uri = f"file:{quote(str(self.path.resolve()))}?mode=ro{immutable}"
        try:
            self._conn = sqlite3.connect(uri, uri=True, timeout=_BUSY_TIMEOUT)
            self._conn.execute("SELECT COUNT(*) FROM runs").fetchone()
        except sqlite3.Error as error:
            self.close()
            raise _refuse(self.path, f"cannot be opened for reading ({error})") from None
        self._inode = os.stat(self.path).st_ino

    def _create_parent(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise _refuse(self.path, f"cannot create its folder ({error.strerror})") from None
        if not os.access(self.path.parent, os.W_OK):
            raise _refuse(self.path, f"cannot create it: folder {self.path.parent} is not "
                                     "writable")

    def _open(self, marked: bool | None) -> None:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, one transaction per put.
        self._conn = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        # FULL (not NORMAL): in WAL mode NORMAL may lose the last commits on power loss.
        self._conn.execute("PRAGMA synchronous=FULL")
        if not marked:
            self._init_meta(schema=marked is None)

    def _init_meta(self, schema: bool) -> None:
        # schema and marker in one transaction: a sweep opening the store meanwhile sees
        # either no table or a marked store, never tables without the marker
        with self._transaction():
            if schema:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        self._conn.execute(statement)
            defaults = {
                "application": _MARKER,
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
            self._conn.execute("COMMIT")
        except BaseException:
            if self._conn.in_transaction:  # a failed COMMIT (disk full) leaves it open
                self._conn.execute("ROLLBACK")
            raise

    # -- queries -------------------------------------------------------------------

    def _query(self, sql: str, args: tuple = ()) -> list:
        # A table dropped or a page damaged by another program: one line naming the store.
        try:
            return self._conn.execute(sql, args).fetchall()
        except sqlite3.Error as error:
            raise StoreReadError(f"store {self.path}: cannot be read ({error}); it was "
                                 "modified by another program or damaged") from None

    def has(self, key: str) -> bool:
        """Whether a record is stored under `key`."""
        return bool(self._query("SELECT 1 FROM runs WHERE key = ?", (key,)))

    def get(self, key: str) -> dict | None:
        """The record stored under `key`, or None. StoreReadError if it is not a record."""
        rows = self._query("SELECT record FROM runs WHERE key = ?", (key,))
        if not rows:
            return None
        try:
            record = json.loads(rows[0][0])
        except (TypeError, ValueError):
            record = None
        if not isinstance(record, dict):
            raise StoreReadError(f"store {self.path}: the record under key {key} is damaged "
                                 "(not a JSON object); rerun with --fresh to recompute it")
        return record

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
        return [k for (k,) in self._query("SELECT key FROM runs ORDER BY key")]

    def __len__(self) -> int:
        return self._query("SELECT COUNT(*) FROM runs")[0][0]

    def __contains__(self, key: str) -> bool:
        return self.has(key)

    @property
    def meta(self) -> dict[str, str]:
        """Store provenance: schema_version, created_with_version, created (unix time)."""
        return dict(self._query("SELECT name, value FROM meta"))

    # -- writes --------------------------------------------------------------------

    def put(self, key: str, record: Mapping) -> None:
        """Store (or overwrite) `record` under `key` in one durable transaction.

        The record is encoded before the transaction starts, so a record that is not
        JSON-able raises ValueError and writes nothing.
        """
        if not isinstance(key, str) or not key:
            raise ValueError(f"key must be a non-empty string; got {key!r}")
        payload = _encode(record)
        if self.readonly:
            raise StoreWriteError(f"store {self.path}: opened read-only")
        self._check_not_lost()
        # A lock held past the busy timeout is retried once more before giving up: the
        # record took a whole run to compute.
        for attempt in range(_PUT_ATTEMPTS):
            try:
                with self._transaction():
                    self._conn.execute(
                        "INSERT OR REPLACE INTO runs (key, version, record, written) "
                        "VALUES (?, ?, ?, ?)", (key, package_version(), payload, time.time()))
                return
            except sqlite3.OperationalError as error:
                if "locked" in str(error) and attempt + 1 < _PUT_ATTEMPTS:
                    continue
                raise StoreWriteError(f"store {self.path}: cannot write the run {key} "
                                      f"({error})") from None
            except sqlite3.Error as error:
                raise StoreWriteError(f"store {self.path}: cannot write the run {key} "
                                      f"({error})") from None

    def _check_not_lost(self) -> None:
        try:
            same = os.stat(self.path).st_ino == self._inode
        except OSError:
            same = False
        if not same:
            raise StoreLostError(
                f"the results store {self.path} was deleted or replaced while open; "
                "stopping (runs written to it are gone; choose a --store outside folders "
                "that get cleaned)"
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


def default_store_path() -> Path:
    """Where sweeps store their runs unless told otherwise: one store per user.

    `$XDG_DATA_HOME/incidental-polysemanticity/store.sqlite` (default
    `~/.local/share/...`). It lives outside every output folder on purpose: deleting or
    cleaning an output folder, even mid-sweep, loses no stored run
    (docs/usage.md#results-store). Keys include every setting and the package version,
    so one store serves every preset.
    """
    base = os.environ.get("XDG_DATA_HOME", "")
    if not os.path.isabs(base):
        # the XDG base directory spec: a relative path is invalid and must be ignored
        base = Path.home() / ".local" / "share"
    return Path(base) / "incidental-polysemanticity" / "store.sqlite"
