"""The research studies (simulations/studies) through the executors and the results store.

Each study reruns the smallest slice of a per-instance CSV it published under docs/data,
through its command line (worker process, store, CSV), and must give the published rows
(timings excepted): the runs are now trained one instance (fate, cascade_check) or one
grid point (cascade_explore) at a time, with the seeds of the published batches. The same
command again reuses every stored run; a study interrupted after K runs resumes from the
store.
"""

import csv
import json
import os
from pathlib import Path

import pytest

from simulations.runner.cli import jsonable
from simulations.runner.executors import run_all
from simulations.runner.protocol import Run
from simulations.runner.store import ResultsStore
from simulations.studies import cascade_check, cascade_explore, fate

DATA = Path(__file__).resolve().parents[1] / "docs" / "data"
# Wall and CPU times: measured, not reproducible.
TIMINGS = {"predict_seconds", "train_seconds", "ratio", "cost_fraction"}
# Runs stored before the planted failure in the resume test.
K_DONE = 1


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _published(name: str, count: int, **where) -> list[dict]:
    """The first `count` rows of docs/data/`name` whose columns equal `where`."""
    rows = [r for r in _rows(DATA / name) if all(r[k] == str(v) for k, v in where.items())]
    return rows[:count]


def _without_timings(rows: list[dict], columns) -> list[dict]:
    return [{k: r[k] for k in columns if k not in TIMINGS} for r in rows]


def _cli(main, tmp_path, capsys, runs: int, *argv) -> list[dict]:
    """Run a study's command twice on one store: the rows of its CSV, after checking that
    the second time reused all `runs` runs of the first and wrote the same file."""
    out, store = tmp_path / "out.csv", str(tmp_path / "s.sqlite")
    assert main([*argv, "--out", str(out), "--store", store, "--workers", "1",
                 "--no-progress"]) == 0
    first = out.read_text()
    capsys.readouterr()
    assert main([*argv, "--out", str(out), "--store", store]) == 0  # progress: summary line
    assert f"{runs} runs: 0 done, {runs} reused from the store" in capsys.readouterr().err
    assert out.read_text() == first
    return _rows(out)


def test_fate_reproduces_docs_data_fate_confirm(tmp_path, capsys):
    # the preregistered run's smallest point, instances 0-1 (of 64)
    rows = _cli(fate.main, tmp_path, capsys, 2, "--master", "7000003", "--n", "64",
                "--ratios", "1", "--instances", "2")
    assert rows == _published("fate_confirm.csv", 2, n=64, m=64)


def test_cascade_check_reproduces_docs_data_cascades_confirm(tmp_path, capsys):
    # the confirmation's smallest point, instances 0-2 (of 32); the file predates --lam
    rows = _cli(cascade_check.main, tmp_path, capsys, 3, "--master", "7000001", "--n", "32",
                "--ratios", "1", "--instances", "3", "--timed", "1")
    published = _published("cascades_confirm.csv", 3, n=32, m=32)
    assert _without_timings(rows, published[0]) == _without_timings(published, published[0])
    assert [r["lam"] for r in rows] == ["0.01"] * 3
    assert float(rows[0]["train_seconds"]) > 0 and rows[1]["train_seconds"] == ""


def test_cascade_explore_reproduces_docs_data_cascades_small(tmp_path, capsys):
    # all six points, instances 0-1 (of 400)
    rows = _cli(cascade_explore.main, tmp_path, capsys, 6, "small", "--instances", "2")
    published = [r for r in _rows(DATA / "cascades_small.csv") if int(r["instance"]) < 2]
    assert rows == published


# --- resume and reuse: the same runs as above, cut short ---------------------------------


def failing_run_one(run: Run) -> dict:
    """The study's run_one, except that the run whose key is in STUDY_FAIL_KEY raises
    (module level, so that worker processes can import it)."""
    if run.key() == os.environ["STUDY_FAIL_KEY"]:
        raise RuntimeError("planted failure")
    return _RUNNERS[run.experiment](run)


_RUNNERS = {"study-fate": fate.run_one, "study-cascade-check": cascade_check.run_one,
            "study-cascade-explore": cascade_explore.run_one}


# Resume is run_all's, the same for every study: fate's case stays in the default run, the
# other two (10-20 s each, two worker processes apiece) run with `-m slow`.
@pytest.mark.parametrize("runs", [
    pytest.param(fate.runs(7000003, [(16, 16)], 3), id="fate"),
    pytest.param(cascade_check.runs(7000001, [(16, 16)], [1e-2], 3, timed=0),
                 id="cascade_check", marks=pytest.mark.slow),
    pytest.param(cascade_explore.small(2)[:3], id="cascade_explore", marks=pytest.mark.slow),
])
def test_an_interrupted_study_resumes_and_a_rerun_computes_nothing(runs, tmp_path, monkeypatch):
    # one worker computes the costliest runs first (a stable sort): the failure comes after
    # K_DONE of them
    order = sorted(runs, key=lambda run: -run.cost)
    monkeypatch.setenv("STUDY_FAIL_KEY", order[K_DONE].key())
    runner = _RUNNERS[runs[0].experiment]
    with ResultsStore(tmp_path / "s.sqlite") as store:
        with pytest.raises(RuntimeError, match="planted failure"):
            run_all(runs, store=store, workers=1, runner=failing_run_one, progress=False)
        assert sum(store.has(run.key()) for run in runs) == K_DONE
        resumed = run_all(runs, store=store, workers=1, runner=runner, progress=False)
        rerun = run_all(runs, store=store, workers=1, runner=runner, progress=False)
    assert (resumed.reused, resumed.done) == (K_DONE, len(runs) - K_DONE)
    assert (rerun.reused, rerun.done) == (len(runs), 0)
    here = [json.loads(json.dumps(jsonable(runner(run)), sort_keys=True)) for run in runs]
    assert list(resumed.records) == list(rerun.records) == here
