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
