"""Shared test helpers: seeded generators, tolerance-unit errors, matrix closeness."""

import numpy as np
from scipy import stats


def rng(seed: int) -> np.random.Generator:
    """A fresh generator for one test; every test names its own seed."""
    return np.random.default_rng(seed)


def tolerance_units(actual, expected, rtol: float, atol: float) -> float:
    """max |actual - expected| / (atol + rtol |expected|): <= 1 means within tolerance."""
    actual, expected = np.asarray(actual, float), np.asarray(expected, float)
    return float(np.max(np.abs(actual - expected) / (atol + rtol * np.abs(expected))))


def assert_close_matrices(actual, expected, rtol: float, name: str = "") -> None:
    """Relative Frobenius closeness; the message shows both errors on failure."""
    actual, expected = np.asarray(actual, float), np.asarray(expected, float)
    diff = np.linalg.norm(actual - expected)
    scale = max(np.linalg.norm(expected), np.finfo(float).tiny)
    rel = diff / scale
    assert rel <= rtol, (f"{name}: relative Frobenius error {rel:.3e} > rtol {rtol:.1e} "
                         f"(abs {diff:.3e})")


def two_sided_z(false_failure_rate: float) -> float:
    """The z such that P(|Z| > z) = false_failure_rate for a standard normal Z."""
    return float(stats.norm.isf(false_failure_rate / 2))
