"""The research studies (simulations/studies), declared on the experiment protocol.

Each study reruns the smallest slice of a per-instance CSV it published under docs/data,
through its command line (worker process, store, the CSV in --out), and must give the
published rows (timings excepted): the runs are now trained one instance (fate,
cascade_check) or one grid point (cascade_explore) at a time, with the seeds of the
published batches. The same command again reuses every stored run; a study interrupted
after K runs resumes from the store. Their store keys are those of the builders the
studies had before they were declared on the protocol, and --from-csv reads a CSV back.
"""

import csv
import hashlib
import json
import os
from pathlib import Path

import pytest

from simulations.runner.cli import jsonable
from simulations.runner.command import build_parser
from simulations.runner.executors import run_all
from simulations.runner.keys import payload_key
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


def _cli(main, tmp_path, capsys, runs: int, csv_name: str, *argv) -> list[dict]:
    """Run a study's command twice on one store: the rows of its CSV, after checking that
    the second time reused all `runs` runs of the first and wrote the same files."""
    out, store = tmp_path / "out", str(tmp_path / "s.sqlite")
    flags = ["--out", str(out), "--store", store, "--no-figures"]
    assert main([*argv, *flags, "--workers", "1", "--no-progress"]) == 0
    first = (out / csv_name).read_text(), (out / "report.md").read_text()
    capsys.readouterr()
    assert main([*argv, *flags]) == 0  # progress: summary line
    assert f"{runs} runs: 0 done, {runs} reused from the store" in capsys.readouterr().err
    assert ((out / csv_name).read_text(), (out / "report.md").read_text()) == first
    return _rows(out / csv_name)


def test_fate_reproduces_docs_data_fate_confirm(tmp_path, capsys):
    # the preregistered run's smallest point, instances 0-1 (of 64)
    rows = _cli(fate.main, tmp_path, capsys, 2, "fate.csv", "--n", "64", "--ratios", "1",
                "--instances", "2")  # the default seed is the published run's
    assert rows == _published("fate_confirm.csv", 2, n=64, m=64)


def test_cascade_check_reproduces_docs_data_cascades_confirm(tmp_path, capsys):
    # the confirmation's smallest point, instances 0-2 (of 32); the file predates --lam
    rows = _cli(cascade_check.main, tmp_path, capsys, 3, "cascade_check.csv", "--seed",
                "7000001", "--n", "32", "--ratios", "1", "--instances", "3", "--timed", "1")
    published = _published("cascades_confirm.csv", 3, n=32, m=32)
    assert _without_timings(rows, published[0]) == _without_timings(published, published[0])
    assert [r["lam"] for r in rows] == ["0.01"] * 3
    assert float(rows[0]["train_seconds"]) > 0 and rows[1]["train_seconds"] == ""


def test_cascade_explore_reproduces_docs_data_cascades_small(tmp_path, capsys):
    # all six points, instances 0-1 (of 400)
    rows = _cli(cascade_explore.main, tmp_path, capsys, 6, "cascades_small.csv", "small",
                "--instances", "2")
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
    pytest.param(cascade_explore.small(1100, 2)[:3], id="cascade_explore",
                 marks=pytest.mark.slow),
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


# --- the protocol's view: keys, --from-csv, --quick ----------------------------------------


def _config(experiment, *argv):
    return experiment.configure(build_parser(experiment).parse_args(list(argv)))[0]


def _digest(runs) -> str:
    """Of the runs' keys without the package version (which every key also hashes)."""
    keys = sorted(payload_key({"experiment": r.experiment, "params": dict(r.params),
                               "instance": r.instance}) for r in runs)
    return hashlib.sha256("".join(keys).encode()).hexdigest()[:16]


# The default grid of each study, digested with the builders as they were before the
# studies were declared on the protocol (fate at seed 7000003, cascade_check at 7000001,
# cascade_explore at each subcommand's published seed and instances).
DEFAULT_GRIDS = {
    ("fate",): "122d40397afed956", ("cascade_check",): "5f2e96f89f80fded",
    ("cascade_explore", "small"): "a236e1f8d81fe0f4",
    ("cascade_explore", "drift"): "b4eafdc768087cce",
    ("cascade_explore", "sensitivity"): "44d57dba4822c4c0",
    ("cascade_explore", "cost"): "f3e29c2608f5c07d",
    ("cascade_explore", "frontier"): "300a7ef264a78603",
    ("cascade_explore", "truncate"): "6189426e0f521667",
    ("cascade_explore", "lam"): "04cf4e2d57e70dfe",
    ("cascade_explore", "fate"): "6957432d13ac275f",
    ("cascade_explore", "fate-adamw"): "45bf87565de9856c",
    ("cascade_explore", "fast-lam"): "6434bc3f7fca2c37",
}
STUDIES = {"fate": fate, "cascade_check": cascade_check, "cascade_explore": cascade_explore}


@pytest.mark.parametrize("argv", list(DEFAULT_GRIDS), ids=" ".join)
def test_the_default_grid_keeps_its_store_keys(argv):
    experiment = STUDIES[argv[0]].EXPERIMENT
    assert _digest(experiment.runs(_config(experiment, *argv[1:]))) == DEFAULT_GRIDS[argv]


def test_the_commands_build_the_runs_of_the_builders():
    # a published command line of each study gives the runs its builder gives
    adamw = _config(fate.EXPERIMENT, "--seed", "7000006", "--training", "paper-adamw",
                    "--n", "64", "128", "--ratios", "2", "4", "--instances", "32")
    assert fate.EXPERIMENT.runs(adamw) == fate.runs(
        7000006, [(64, 128), (64, 256), (128, 256), (128, 512)], 32, fate.PAPER_ADAMW)
    lam = _config(cascade_check.EXPERIMENT, "--seed", "7000007", "--n", "64", "--ratios",
                  "1", "2", "4", "--lam", "1e-3", "1e-2", "--instances", "64", "--timed", "0")
    assert cascade_check.EXPERIMENT.runs(lam) == cascade_check.runs(
        7000007, [(64, 64), (64, 128), (64, 256)], [1e-3, 1e-2], 64, 0)


def _from_csv(main, tmp_path, capsys, rows: list[dict], *argv) -> str:
    """The table a study prints for a CSV of `rows`, after checking that it was also
    written to report.md and that no CSV was written again."""
    source, out = tmp_path / "in.csv", tmp_path / "out"
    with open(source, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert main([*argv, "--from-csv", str(source), "--out", str(out), "--no-figures"]) == 0
    printed = capsys.readouterr().out
    assert (out / "report.md").read_text() in printed
    assert sorted(p.name for p in out.iterdir()) == ["report.json", "report.md"]
    return printed


def test_fate_from_csv_prints_the_preregistered_table(tmp_path, capsys):
    rows = _published("fate_confirm.csv", 6, n=64, m=64)
    printed = _from_csv(fate.main, tmp_path, capsys, rows, "--seed", "7000003")
    assert "| 64 | 64 | 6 | " in printed and "random injection" in printed


def test_cascade_check_from_csv_prints_the_closer_model_and_lam_tables(tmp_path, capsys):
    rows = [r for r in _rows(DATA / "lam_n64_confirm.csv")
            if r["m"] == "64" and int(r["instance"]) < 8]
    printed = _from_csv(cascade_check.main, tmp_path, capsys, rows)
    for heading in ("Closer model at lam 0.001", "Closer model at lam 0.01",
                    "count(lam 0.01) - count(lam 0.001), paired",
                    "At lam 0.01: equivalence with the cascade model within 10%"):
        assert heading in printed
    assert "| 64 | 64 | 8 | " in printed


def test_cascade_explore_from_csv_prints_the_means_per_point(tmp_path, capsys):
    rows = [r for r in _rows(DATA / "cascades_sensitivity.csv")
            if r["m"] == "64" and int(r["instance"]) < 2]  # two instances at two lr
    printed = _from_csv(cascade_explore.main, tmp_path, capsys, rows, "sensitivity")
    for lr in ("0.025", "0.1"):
        mean = sum(float(r["agreement"]) for r in rows if r["lr"] == lr) / 2
        assert f"| 64 | 64 | {lr} | 2 | {mean:.4g} | 1 |" in printed


@pytest.mark.parametrize("study", list(STUDIES))
def test_a_bad_from_csv_is_one_line(study, tmp_path, capsys):
    argv = ["small"] if study == "cascade_explore" else []
    missing = str(tmp_path / "missing.csv")
    assert STUDIES[study].main([*argv, "--from-csv", missing, "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip().endswith("cannot read (No such file or directory)")


def test_quick_configs_are_small():
    # --quick: a few runs at small n, seconds
    for experiment, argv in ((fate.EXPERIMENT, ()), (cascade_check.EXPERIMENT, ()),
                             (cascade_explore.EXPERIMENT, ("small",))):
        runs = experiment.runs(_config(experiment, "--quick", *argv))
        assert 1 <= len(runs) <= 8 and max(r.params["n"] for r in runs) <= 32


def test_a_study_run_as_a_module_names_itself(monkeypatch, capsys):
    """Under `python -m` a module's __name__ is "__main__": the command, its output folder
    and its CSV must still carry the study's own name (run as `python -m` does, in-process)."""
    import runpy
    import sys
    import warnings

    monkeypatch.setattr(sys, "argv", ["cascade_check", "--help"])
    with warnings.catch_warnings(), pytest.raises(SystemExit) as stop:
        warnings.simplefilter("ignore", RuntimeWarning)  # runpy: the module is imported already
        runpy.run_module("simulations.studies.cascade_check", run_name="__main__")
    out = capsys.readouterr().out
    assert stop.value.code == 0
    assert out.startswith("usage: python -m simulations.studies.cascade_check")
    assert "results/cascade_check" in out and "__main__" not in out
