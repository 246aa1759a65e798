"""The experiment protocol (simulations/runner/protocol.py): E1, E2 and the noise optimum
through the shared executors and store: the same numbers as before the protocol, resume,
JSON output.

Pinned numbers were computed by the serial runners that the protocol replaced, at the quick
sizes below, before the refactor. A run's arithmetic is unchanged by the refactor (same seeds,
same operations in the same order, and the engine is bit-identical for any thread count,
docs/dynamics/training.md), so the pins are exact on one machine: any difference means a run
now computes something else. E1's pins allow the few-ULP differences of numpy's vectorised
exp/log between CPUs (PIN_RTOL).
"""

import json
import os
from dataclasses import replace

import pytest

from simulations import noise, noise_optimum, sparsification
from simulations.runner.executors import run_all
from simulations.runner.protocol import Run, evaluate
from simulations.runner.store import ResultsStore

# Protocol runs that complete before the failing one in the resume tests.
K_DONE = 2
# Numbers that pass through numpy's vectorised exp/log/power differ by a few ULP between
# CPU dispatch targets (NumPy documents up to 4 ULP for its SIMD exp/log): the pins below
# were written on an AVX-512 machine, and an AVX2 machine gives E1's t_full and l1[10]
# 8e-13 and 4e-12 apart relative and E2's phase index 1 ULP apart. Those are compared at
# rtol 1e-9: 250x the largest difference seen between machines, and far below what a change
# of the inputs moves (a 1% larger sigma0 moves t_full by 7e-6 and l1[10] by 1.5e-4
# relative; another seed by 1e-2 to 0.2). The numba training kernels' outputs stay exact.
PIN_RTOL = 1e-9


def test_e1_numbers_are_unchanged():
    cfg = replace(sparsification.E1Config.quick(), seed=3)
    rep = evaluate(sparsification.EXPERIMENT, cfg)
    assert rep["t_full"] == pytest.approx(993.6943578814696, rel=PIN_RTOL, abs=0)
    assert rep["t"][10] == pytest.approx(9.999999912034161, rel=PIN_RTOL, abs=0)
    assert rep["m_prime"][10] == 1975
    assert rep["l1"][10] == pytest.approx(33.99027412026969, rel=PIN_RTOL, abs=0)
    assert rep["t_full_distribution"]["mean"] == pytest.approx(2276.584039468142, rel=PIN_RTOL,
                                                               abs=0)


def test_e2_numbers_are_unchanged():
    # the bernoulli run, the n = 4 row of the phase map and the count cell of the quick config
    # have the same seeds with the other shapes and sizes left out (keys name shape and n)
    cfg = replace(noise.NoiseConfig.quick(), e2_shapes=("bernoulli",), phase_ns=(4,),
                  parts=("e2", "phase", "counts"))
    rep = evaluate(noise.EXPERIMENT, cfg)
    (run,) = rep["e2"]["runs"]
    assert (run["shape"], run["sigma"]) == ("bernoulli", 0.15)
    assert run["final_per_instance"] == [0.27703890449624624, 0.3853498814080981,
                                         0.3042041739696184]
    assert rep["phase"]["shared"]["index"][0] == pytest.approx(
        [0.07463761415998894, 0.4220066347030439, -0.036824719408689484], rel=PIN_RTOL, abs=0)
    (row,) = rep["counts"]["rows"]
    assert row["assignment"] == [0, 1, 0, 1] and row["z"] == -0.6386305219703735


def test_noise_optimum_numbers_are_unchanged():
    rep = evaluate(noise_optimum.EXPERIMENT, noise_optimum.OptimumConfig.quick())
    assert [r["f4_final"] for r in rep["speed"]["rows"]] == [
        0.3794460404007992, 0.3996307621376084, 0.10947481764410452, 0.1325792182077971]
    assert all(r["t_half"] is None for r in rep["speed"]["rows"])  # censored at 1000 steps
    simplex = rep["simplex"]["rows"][:3]
    assert [(r["final_dist_anchored"], r["final_nearer"]) for r in simplex] == [
        (1.919239602025005, "centred"), (2.0326839477546934, "centred"),
        (0.1621467349757188, "anchored")]
    assert [(r["assignment"], r["f4_final"]) for r in rep["long"]["rows"]] == [
        (0, 0.20756437849271311), (1, 0.22573742338950675)]


# --- resume: a sweep that stops after K_DONE runs, then the same command -----------------------


def failing_run_one(run: Run) -> dict:
    """The experiment's run_one, except that the run whose key is in HOUSE_FAIL_KEY raises
    (module level, so that worker processes can import it)."""
    if run.key() == os.environ["HOUSE_FAIL_KEY"]:
        raise RuntimeError("planted failure")
    return _RUNNERS[run.experiment](run)


_RUNNERS = {"e2": noise.run_one, "noise-optimum": noise_optimum.run_one}


def _execution_order(runs):
    # run_all computes the costliest runs first (a stable sort); one worker keeps that order
    return sorted(runs, key=lambda run: -run.cost)


@pytest.mark.parametrize("experiment, cfg", [
    (noise.EXPERIMENT, replace(noise.NoiseConfig.quick(), parts=("e2",))),
    (noise_optimum.EXPERIMENT, replace(noise_optimum.OptimumConfig.quick(),
                                       parts=("simplex", "counts"))),
], ids=["e2", "noise-optimum"])
def test_an_interrupted_experiment_resumes(experiment, cfg, tmp_path, monkeypatch):
    runs = experiment.runs(cfg)
    assert len(runs) > K_DONE
    monkeypatch.setenv("HOUSE_FAIL_KEY", _execution_order(runs)[K_DONE].key())
    with ResultsStore(tmp_path / "s.sqlite") as store:
        with pytest.raises(RuntimeError, match="planted failure"):
            run_all(runs, store=store, workers=1, runner=failing_run_one, progress=False)
        assert sum(store.has(run.key()) for run in runs) == K_DONE
        summary = run_all(runs, store=store, workers=1, runner=experiment.run_one,
                          progress=False)
    assert (summary.reused, summary.done) == (K_DONE, len(runs) - K_DONE)
    assert experiment.report(cfg, list(summary.records)) == evaluate(experiment, cfg)


def test_e1_reuses_its_stored_run_and_fresh_recomputes(tmp_path, capsys):
    argv = ["--quick", "--json", "--no-figures", "--no-progress", "--store",
            str(tmp_path / "s.sqlite"), "--out", str(tmp_path / "o")]
    assert sparsification.main(argv) == 0
    first = json.loads(capsys.readouterr().out)
    assert sparsification.main(argv) == 0
    second = json.loads(capsys.readouterr().out)
    assert sparsification.main([*argv, "--fresh"]) == 0
    third = json.loads(capsys.readouterr().out)
    assert [r["runs"] for r in (first, second, third)] == [
        {"done": 1, "reused": 0, "failed": 0}, {"done": 0, "reused": 1, "failed": 0},
        {"done": 1, "reused": 0, "failed": 0}]
    assert first["t_full"] == second["t_full"] == third["t_full"]


# --- one CLI shape ------------------------------------------------------------------------------


@pytest.mark.parametrize("module", [sparsification, noise, noise_optimum])
def test_every_experiment_has_the_shared_flags(module, capsys):
    from simulations.runner.cli import SHARED_FLAGS

    with pytest.raises(SystemExit) as exc:
        module.main(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert all(flag in text for flag in SHARED_FLAGS)


def test_noise_optimum_json_output(tmp_path, capsys):
    argv = ["--quick", "--json", "--no-figures", "--no-progress", "--parts", "counts",
            "--store", str(tmp_path / "s.sqlite"), "--out", str(tmp_path / "o")]
    assert noise_optimum.main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["parts"] == ["counts"] and out["runs"]["done"] == 1
    assert out["provenance"]["config"]["seed"] == noise_optimum.OptimumConfig.seed
    (cell,) = out["counts"]["summary"].values()
    assert cell["models"] == 2
    assert (tmp_path / "o" / "noise_optimum_counts.csv").exists()


def test_compare_runs_the_other_experiments_by_name(tmp_path, capsys):
    from simulations import compare

    argv = ["--experiment", "e1", "--quick", "--json", "--no-figures", "--no-progress",
            "--store", str(tmp_path / "s.sqlite"), "--out", str(tmp_path / "o")]
    assert compare.main(argv) == 0
    via_compare = json.loads(capsys.readouterr().out)
    assert sparsification.main(argv[2:]) == 0
    own = json.loads(capsys.readouterr().out)
    # one store key for both commands: the second one reuses the run of the first
    assert via_compare["runs"]["done"] == 1 and own["runs"]["reused"] == 1
    assert via_compare["t_full"] == own["t_full"]
    assert via_compare["provenance"]["command"].startswith(
        "python -m simulations.compare --experiment e1")
