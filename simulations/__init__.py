"""Experiments: sweeps, the theory-vs-simulation report, the results store, figures."""

# The execution and storage layer every experiment shares: specs and presets of the main
# job, one run, the results store and the executors. Usage: docs/usage.md.
from simulations._presets import DEFAULT_PRESET, PRESETS, build_specs  # noqa: F401
from simulations._run import (  # noqa: F401
    SpecRun,
    run_instance,
    run_spec,
    run_specs,
    spec_runs,
    without_timings,
)
from simulations._specs import (  # noqa: F401
    ExperimentSpec,
    canonical_key,
    instance_seed,
)
from simulations.runner.executors import RunSummary, run_all  # noqa: F401
from simulations.runner.in_python import Result, run  # noqa: F401
from simulations.runner.protocol import Experiment, Run, evaluate  # noqa: F401
from simulations.runner.store import ResultsStore  # noqa: F401
