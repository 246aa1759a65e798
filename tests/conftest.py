"""Test configuration: strict floating point, deterministic hypothesis, `slow` marker."""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# Deterministic by default so CI never flakes; `HYPOTHESIS_PROFILE=random` explores.
settings.register_profile(
    "deterministic",
    derandomize=True,
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("random", derandomize=False, max_examples=200, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))


@pytest.fixture(autouse=True)
def strict_floating_point():
    """Overflow, invalid operations and division by zero raise; underflow to 0 is benign."""
    with np.errstate(divide="raise", over="raise", invalid="raise", under="ignore"):
        yield


@pytest.fixture(autouse=True)
def private_default_store(tmp_path, monkeypatch):
    """Commands run without --store use a store inside the test's folder, never the user's
    (the default store lives under $XDG_DATA_HOME, simulations._store.default_store_path)."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))


# Behind the `slow` marker for the 4-minute budget of the default run: on the 2-core CI
# machine (AMD EPYC Zen 1, idle) the whole default suite took 876 s on 2026-12-05, and these
# took 8-48 s each (measured with --durations; ~650 s together). Each still runs with
# `python -m pytest -m slow`. Named by test function (all its parameters), or by the
# expensive module fixture their tests share.
SLOW_BY_DURATION = {
    "tests/test_compare.py": ("test_quick_smoke_end_to_end",
                              "test_every_run_converged_and_every_feature_is_represented"),
    "tests/test_noise_cli.py": ("test_quick_run_writes_json_and_figures",),
    "tests/test_protocol.py": ("test_an_interrupted_experiment_resumes",
                               "test_e1_reuses_its_stored_run_and_fresh_recomputes",
                               "test_noise_optimum_json_output",
                               "test_compare_runs_the_other_experiments_by_name"),
    "tests/test_fate.py": ("test_initial_collisions_mostly_dissolve_but_more_often_than_chance",),
    "tests/test_sparsity_flow.py": ("test_exact_agrees_with_ode_deaths_and_trajectories",),
    "tests/test_sparsification_cli.py": ("test_json_run_writes_outputs_and_has_the_issue_keys",
                                         "test_text_output_has_the_ratio_table",
                                         "test_same_seed_same_numbers"),
    "tests/test_noise_training.py": ("test_margin_condition_sigma_times_n_minus_1",),
    "tests/test_executors.py": ("test_real_runs_are_identical_on_every_executor",
                                "test_resume_after_kill_9",
                                "test_a_record_from_older_code_is_recomputed_not_reused",
                                "test_reuse_fresh_order_and_failures"),
    "tests/test_replication.py": (
        "test_the_published_h_lam_conclusion_follows_from_the_published_records",),
    "tests/test_noise_optimum.py": ("test_cli_quick_writes_csvs",),
    "tests/test_reliability.py": ("test_closed_pipe_stops_quietly",),
    "tests/test_cascades.py": ("test_crowded_regime_cascade_beats_sign_bin",),
    "tests/test_collisions.py": ("test_cli_bad_arguments_exit_2_with_one_line",
                                 "test_cli_json_has_stable_keys"),
}
# Module fixtures of 35-48 s (subprocesses interrupted or timed; a two-round replication):
# every test that uses one goes behind `slow` with it.
SLOW_FIXTURES = {"tests/test_reliability.py": "subprocess_results",
                 "tests/test_replication.py": "smoke"}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Mark SLOW_BY_DURATION and SLOW_FIXTURES `slow` before `-m` selects."""
    for item in items:
        path = item.nodeid.split("::")[0]
        name = getattr(item, "originalname", item.name)
        if name in SLOW_BY_DURATION.get(path, ()) or \
                SLOW_FIXTURES.get(path) in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
