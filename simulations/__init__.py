"""Experiments: sweeps, the theory-vs-simulation report, the results store, figures."""

# Execution and storage layer of the main job (issue 5): specs and presets, one run,
# the results store, and the executors. Usage: docs/usage.md.
from simulations._executors import RunSummary, run_all  # noqa: F401
from simulations._run import run_instance, without_timings  # noqa: F401
from simulations._specs import (  # noqa: F401
    DEFAULT_PRESET,
    PRESETS,
    ExperimentSpec,
    build_specs,
    canonical_key,
    instance_seed,
)
from simulations._store import ResultsStore  # noqa: F401
