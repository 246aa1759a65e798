"""Executors: reuse and --fresh, failures, determinism across executors, resume after kill -9.

Records are compared with `without_timings`: wall-time fields are the only part of a
record that may differ between two executions of the same run.
"""

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from simulations._run import TIMING_FIELDS, run_instance, run_specs, spec_runs, without_timings
from simulations._specs import ExperimentSpec, canonical_key, instance_seed
from simulations.runner.executors import RunSummary, run_all
from simulations.runner.store import ResultsStore

REPO = Path(__file__).resolve().parents[1]
# Upper bound on how long the resume test waits for the first stored run or for the
# killed sweep's processes; only reached when something is broken.
GIVE_UP_SECONDS = 120.0

# Tiny real specs: every optimizer, and sgd, whose batch order is random, so that
# determinism covers both the initial weights and the training randomness.
TINY = [
    ExperimentSpec(n=8, m=16, lam=1e-2, max_steps=300, seed=1, instances=2),
    ExperimentSpec(n=8, m=8, lam=1e-2, max_steps=300, tol=1e-6, seed=1, instances=2),
    ExperimentSpec(n=8, m=16, lam=1e-2, optimizer="sgd", lr=0.02, batch_size=4, max_steps=300),
    ExperimentSpec(
        n=8, m=16, lam=1e-3, optimizer="adamw", lr=1e-3, weight_decay=0.01, max_steps=300, seed=2
    ),
]


def standin_runner(run):
    """Fast deterministic stand-in for run_spec (module level: workers import it)."""
    spec, instance = run.spec, run.instance
    gen = np.random.default_rng(instance_seed(spec, instance))
    return {
        "key": canonical_key(spec, instance),
        "m": spec.m,
        "instance": instance,
        "value": float(gen.standard_normal()),
        "train_status": "diverged" if spec.lam >= 1.0 else "converged",
        "wall_time": time.perf_counter(),
    }


def failing_runner(run):
    if run.instance == 2:
        raise RuntimeError("boom in run 2")
    return standin_runner(run)


def thread_report_runner(run):
    """Report the thread pools a worker runs with, after a real run has loaded them all."""
    import numba
    from threadpoolctl import threadpool_info

    record = run_instance(run.spec, run.instance)
    pools = sorted({(p["internal_api"], p["num_threads"]) for p in threadpool_info()})
    return {**record, "pools": pools, "numba_threads": numba.get_num_threads()}


def _spec(m, lam=1e-2, instances=3):
    return ExperimentSpec(n=4, m=m, lam=lam, max_steps=10, instances=instances)


def _stripped(summary: RunSummary):
    return [without_timings(r) for r in summary.records]


def test_reuse_fresh_order_and_failures(tmp_path, capsys):
    store_path = tmp_path / "r.sqlite"
    specs = [_spec(8), _spec(4, lam=2.0, instances=2), _spec(8)]  # the duplicate runs once
    first = run_all(spec_runs(specs), store=store_path, workers=2, runner=standin_runner)
    assert (first.done, first.reused, first.failed, first.total) == (5, 0, 2, 5)
    assert [(r["m"], r["instance"]) for r in first.records] == [
        (8, 0),
        (8, 1),
        (8, 2),
        (4, 0),
        (4, 1),
    ]
    assert list(first.keys) == [r["key"] for r in first.records]
    assert "5 runs: 5 done, 0 reused from the store, 2 failed" in capsys.readouterr().err

    # Everything stored: nothing recomputed, identical records (timings included,
    # since they are read back rather than recomputed).
    again = run_all(spec_runs(specs), store=store_path, workers=2, runner=standin_runner,
                    progress=False)
    assert (again.done, again.reused, again.failed) == (0, 5, 2)
    assert again.records == first.records
    assert capsys.readouterr().err == ""

    # More instances reuse the first ones: `instances` is not part of the key.
    more = run_all(spec_runs([_spec(8, instances=4)]), store=store_path, runner=standin_runner,
                   progress=False)
    assert (more.done, more.reused) == (1, 3)

    # --fresh does not read the store and overwrites what is there.
    with ResultsStore(store_path) as store:
        store.put(first.keys[0], {"stale": True})
        fresh = run_all(spec_runs(specs), store=store, fresh=True, runner=standin_runner,
                        progress=False)
        assert (fresh.done, fresh.reused) == (5, 0)
        assert store.get(first.keys[0])["value"] == first.records[0]["value"]
    assert [r["value"] for r in fresh.records] == [r["value"] for r in first.records]


def test_a_record_from_older_code_is_recomputed_not_reused(tmp_path):
    """The key hashes the spec, not the code: a stored run_instance record that lacks a
    field the current code writes (here the per-instance predictor's score) is redone."""
    spec = ExperimentSpec(n=4, m=8, lam=1e-2, max_steps=50, instances=2)
    with ResultsStore(tmp_path / "r.sqlite") as store:
        first = run_specs([spec], store=store, workers=1, progress=False)
        old = {k: v for k, v in first.records[0].items() if k != "predictor_feature_accuracy"}
        store.put(first.keys[0], old)
        again = run_specs([spec], store=store, workers=1, progress=False)
        assert (again.done, again.reused) == (1, 1)
        assert "predictor_feature_accuracy" in store.get(first.keys[0])
    assert _stripped(again) == _stripped(first)


def test_a_record_without_the_fast_argmax_baseline_is_reused(tmp_path):
    """The fast-phase argmax scores came after the stores of long sweeps were written: a
    prox-gd record without them is reused, not recomputed, and the report leaves it out
    of their means; a new record carries them."""
    from simulations._report import report_rows

    spec = ExperimentSpec(n=4, m=8, lam=1e-2, max_steps=50, instances=2)
    with ResultsStore(tmp_path / "r.sqlite") as store:
        first = run_specs([spec], store=store, workers=1, progress=False)
        assert first.records[0]["fast_argmax_feature_accuracy"] is not None
        fast = [k for k in first.records[0] if k.startswith("fast_argmax_")]
        old = {k: v for k, v in first.records[0].items() if k not in fast}
        store.put(first.keys[0], old)
        again = run_specs([spec], store=store, workers=1, progress=False)
        assert (again.done, again.reused) == (0, 2)
    (row,) = report_rows([spec], list(again.records))
    assert row["fast_argmax_accuracy"] == first.records[1]["fast_argmax_feature_accuracy"]


def test_a_crashing_run_propagates_and_keeps_finished_runs(tmp_path):
    spec = _spec(8, instances=4)
    with ResultsStore(tmp_path / "r.sqlite") as store:
        with pytest.raises(RuntimeError, match="boom in run 2"):
            run_all(spec_runs([spec]), store=store, workers=1, runner=failing_runner,
                    progress=False)
        # One worker takes runs in order: 0 and 1 finished and were stored before 2 failed.
        assert store.has(canonical_key(spec, 0)) and store.has(canonical_key(spec, 1))
        assert not store.has(canonical_key(spec, 2))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"workers": 0}, "workers"),
        ({"workers": 1.5}, "workers"),
        ({"scheduler": ""}, "scheduler"),
        ({"runner": "run_instance"}, "runner"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        run_all(spec_runs([_spec(8)]), store=tmp_path / "r.sqlite",
                **{"runner": standin_runner, **kwargs})


def test_bad_runs_and_specs(tmp_path):
    with pytest.raises(ValueError, match="runs must have a key"):
        run_all([{"n": 4}], store=tmp_path / "r.sqlite", runner=standin_runner)
    with pytest.raises(ValueError, match="specs"):
        run_specs([{"n": 4}], store=tmp_path / "r.sqlite")


def test_real_runs_are_identical_on_every_executor(tmp_path):
    # thread_report_runner is run_instance plus the worker's thread pools, so this also
    # checks workers x threads <= cores: one BLAS/OpenMP and one numba thread per worker.
    kwargs = {"runner": thread_report_runner, "progress": False}
    runs = spec_runs(TINY)
    one = run_all(runs, store=tmp_path / "one.sqlite", workers=1, **kwargs)
    two = run_all(runs, store=tmp_path / "two.sqlite", workers=2, **kwargs)
    dask = run_all(runs, store=tmp_path / "dask.sqlite", scheduler="local", workers=2, **kwargs)
    for record in one.records + two.records + dask.records:
        assert record["numba_threads"] == 1
        assert record["pools"] and all(threads == 1 for _, threads in record["pools"])
    assert one.total == 6 and one.failed == 0
    assert _stripped(one) == _stripped(two) == _stripped(dask)
    # The comparison is not vacuous: timing fields exist and were the only ones removed.
    assert all(set(r) - set(without_timings(r)) == set(TIMING_FIELDS) for r in one.records)
    # In-process runs with the default runner agree as well (no executor at all).
    direct = [without_timings(run_instance(TINY[2], 0)), without_timings(run_instance(TINY[3], 0))]
    extra = ("pools", "numba_threads")
    assert direct == [{k: v for k, v in r.items() if k not in extra} for r in _stripped(one)[4:6]]
    # Different instances really differ (seeds are per instance).
    assert one.records[0]["init_final_diag"] != one.records[1]["init_final_diag"]


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _stored_count(path: Path) -> int:
    try:
        with sqlite3.connect(path, timeout=5) as conn:
            return conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


def test_resume_after_kill_9(tmp_path):
    """kill -9 a running sweep; the rerun reuses every stored run and matches a clean run."""
    # Fixed-step prox-gd runs long enough that the sweep is still running when the
    # first record lands (one worker computes them one at a time).
    specs = [ExperimentSpec(n=16, m=m, lam=1e-2, max_steps=4000, seed=5, instances=4)
             for m in (32, 64)]
    store_path = tmp_path / "killed.sqlite"
    script = textwrap.dedent(
        f"""
        from simulations._run import run_specs
        from simulations._specs import ExperimentSpec
        specs = [ExperimentSpec(n=16, m=m, lam=1e-2, max_steps=4000, seed=5, instances=4)
                 for m in (32, 64)]
        run_specs(specs, store={str(store_path)!r}, workers=1, progress=False)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + GIVE_UP_SECONDS
        while _stored_count(store_path) == 0 and proc.poll() is None:
            assert time.monotonic() < deadline, "the sweep stored nothing"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)  # the sweep process only, as `kill -9 PID` does
        assert proc.wait() == -signal.SIGKILL
        # Its worker notices the death of its parent and exits on its own, emptying
        # the process group (killpg with signal 0 only checks that members exist).
        while _group_alive(proc.pid):
            assert time.monotonic() < deadline, "a worker outlived the killed sweep"
            time.sleep(0.1)
    finally:
        # Clear the session even when an assertion failed, so that a broken
        # watchdog cannot leave processes behind.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    stored = _stored_count(store_path)
    assert 0 < stored < 8, f"the kill did not land mid-sweep ({stored} of 8 runs stored)"

    resumed = run_specs(specs, store=store_path, workers=2, progress=False)
    assert (resumed.reused, resumed.done, resumed.failed) == (stored, 8 - stored, 0)
    clean = run_specs(specs, store=tmp_path / "clean.sqlite", workers=2, progress=False)
    assert _stripped(resumed) == _stripped(clean)
