"""Results store: round trip, overwrite, ordering, atomicity and durability under kill -9."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from simulations.runner.store import SCHEMA_VERSION, ResultsStore

REPO = Path(__file__).resolve().parents[1]
RECORD = {"n": 8, "m": 16, "lam": 0.01, "composition": [[3, 1, 1]], "tol": None, "x": 0.1}


def test_round_trip_and_queries(tmp_path):
    with ResultsStore(tmp_path / "sub" / "r.sqlite") as store:
        assert not store.has("a") and store.get("a") is None and len(store) == 0
        store.put("a", RECORD)
        store.put("b", {**RECORD, "x": 0.2})
        assert store.has("a") and "b" in store and len(store) == 2
        assert store.get("a") == RECORD
        assert store.records(["b", "a"]) == [{**RECORD, "x": 0.2}, RECORD]
        assert store.keys() == ["a", "b"]
        with pytest.raises(KeyError, match="missing"):
            store.records(["a", "missing"])
        meta = store.meta
        assert meta["schema_version"] == str(SCHEMA_VERSION) and meta["created_with_version"]


def test_put_overwrites_and_survives_reopen(tmp_path):
    path = tmp_path / "r.sqlite"
    with ResultsStore(path) as store:
        store.put("a", RECORD)
        store.put("a", {"x": 2})
    with ResultsStore(path) as store:
        assert store.get("a") == {"x": 2} and len(store) == 1
    # Plain sqlite sees one row per key with the package version beside the JSON.
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT key, version, record FROM runs").fetchall()
        assert [(k, json.loads(r)) for k, _, r in rows] == [("a", {"x": 2})]
        assert rows[0][1]
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize("record", [{"x": float("nan")}, {"x": object()}, [1, 2]])
def test_bad_record_writes_nothing(tmp_path, record):
    with ResultsStore(tmp_path / "r.sqlite") as store:
        with pytest.raises(ValueError, match="record"):
            store.put("a", record)
        assert len(store) == 0


def test_failed_transaction_rolls_back(tmp_path):
    with ResultsStore(tmp_path / "r.sqlite") as store:
        store.put("a", RECORD)
        with pytest.raises(RuntimeError):
            with store._transaction():
                store._conn.execute(
                    "INSERT INTO runs (key, version, record, written) VALUES ('b', 'v', '{}', 0)"
                )
                raise RuntimeError("crash inside the transaction")
        assert store.keys() == ["a"]


@pytest.mark.parametrize("key", ["", None, 3])
def test_bad_key(tmp_path, key):
    with ResultsStore(tmp_path / "r.sqlite") as store, pytest.raises(ValueError, match="key"):
        store.put(key, RECORD)


def test_bad_path():
    with pytest.raises(ValueError, match="path"):
        ResultsStore("")


def test_schema_mismatch_is_refused(tmp_path):
    path = tmp_path / "r.sqlite"
    ResultsStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = '999' WHERE name = 'schema_version'")
    with pytest.raises(ValueError, match="schema"):
        ResultsStore(path)


def test_every_put_survives_kill_9(tmp_path):
    """A writer killed with SIGKILL right after put() returns loses none of its rows."""
    path = tmp_path / "r.sqlite"
    script = textwrap.dedent(
        f"""
        import os, signal
        from simulations.runner.store import ResultsStore
        store = ResultsStore({str(path)!r})
        for i in range(20):
            store.put(f"k{{i}}", {{"i": i}})
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    with ResultsStore(path) as store:
        assert store.records(f"k{i}" for i in range(20)) == [{"i": i} for i in range(20)]
        assert store._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_store_written_before_the_marker_is_recognised_and_marked(tmp_path):
    """Schema-1 stores from before the application marker keep working (exact schema match)."""
    from simulations.runner.store import _SCHEMA

    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:
        conn.executescript(_SCHEMA)
        conn.execute("INSERT INTO meta VALUES ('schema_version', '1'), "
                     "('created_with_version', '0.1.0')")
    conn.close()
    with ResultsStore(path) as store:
        assert store.meta["application"] == "incidental-polysemanticity results store"


def test_a_store_of_another_schema_version_is_refused_untouched(tmp_path):
    path = tmp_path / "future.sqlite"
    with ResultsStore(path) as store:
        store._conn.execute("UPDATE meta SET value = '99' WHERE name = 'schema_version'")
    before = path.read_bytes()
    with pytest.raises(ValueError, match=r"future\.sqlite: has store schema 99, this package "
                                         r"reads schema 1"):
        ResultsStore(path)
    assert path.read_bytes() == before
