"""One run of E3: initialise, train and measure one instance of a spec.

A `SpecRun` is one (spec, instance) as the runner (simulations/runner/executors.py) sees it,
`run_spec` computes it with `run_instance`, and `run_specs` runs every instance of a
list of specs through the store and executors. The record is small, flat and JSON-able;
its schema is documented on `run_instance` and in `docs/usage.md#outcome-records`.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dynamics import TrainOptions, assign_features, init_weights, measure, train

from ._specs import (
    ExperimentSpec,
    canonical_key,
    instance_seed,
    noise_label,
    noise_seed,
    package_version,
)
from ._stability import check_step_sizes, is_unstable
from .runner.executors import RunSummary, run_all

__all__ = ["TIMING_FIELDS", "SpecRun", "run_instance", "run_spec", "run_specs",
           "spec_runs", "train_options", "without_timings", "final_digest"]

# Record fields that measure elapsed time. They differ between two executions of the
# same run; every other field is a deterministic function of (spec, instance).
TIMING_FIELDS = ("wall_time", "cpu_time", "train_wall_time")
# RunRecord fields left out of the record: `instance` is the index inside the engine's
# batch (always 0 here), optimizer repeats the spec, seed is recorded as seed_*.
_RUN_FIELDS_DROPPED = ("instance", "optimizer", "seed")
# Spec fields that are not properties of one run (see _specs._KEY_EXCLUDED).
_SPEC_FIELDS_DROPPED = ("instances",)


def train_options(spec: ExperimentSpec) -> TrainOptions:
    """The engine options of a spec (`spec.train`), with the final weights recorded.

    The sweep refused unstable specs unless --allow-unstable (`check_step_sizes`); the
    engine refuses them too unless told, and then flags their records.
    """
    return spec.train_options(record_weights=True, allow_unstable=is_unstable(spec))


def _finite_or_none(value):
    # Strict JSON has no NaN/inf; a diverged run's numbers become None (its
    # train_status and train_message say why).
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def run_instance(spec: ExperimentSpec, instance: int) -> dict:
    """Train instance `instance` of `spec` and return its outcome record.

    W0 is drawn by `dynamics.init_weights` from `instance_seed(spec, instance)`;
    training is `dynamics.train(..., throw=False)`, so a diverging run comes back with
    `train_status="diverged"` instead of raising; measurements are `dynamics.measure`
    (docs/dynamics/training.md#measurements).

    Record fields (flat, JSON-able; non-finite numbers become None):
        key, version: canonical key and package version.
        every ExperimentSpec field except `instances`, and `instance`.
        seed_entropy, seed_spawn_key: the instance's SeedSequence.
        flow_time: normalized flow time of the step budget, 4 lr max_steps (None for
            sgd/adamw).
        train_*: the engine's RunRecord fields (status, message, converged, steps,
            sparse_steps, final_loss, residual, nonzeros, features_represented,
            max_positive_overlap, wall_time).
        the Measurement fields except n, m (window_count, assignment_count,
            composition, opposite_sign_pairs, winner_is_init_argmax,
            features_represented, max_positive_overlap, mean_offdiagonal_overlap,
            mean_fourth_norm, nonzeros); None when the final weights are not finite.
        init_final_diag: <W_i(0), W_i(T)> for every feature i (diagonal of E4's matrix
            W(0) W(T)^T, docs/paper.md#experiments); init_final_offdiag_mean/_std: mean and standard
            deviation of its off-diagonal entries, for the heatmap's noise level.
        final_neuron, final_sign: every feature's neuron argmax_k |W_ik(T)| and its sign
            (dynamics.assign_features), so two runs from the same W(0) can be compared
            feature by feature.
        predictor_*, init_argmax_*: for prox-gd without noise, the per-instance
            predictor's score against the trained weights and the init-argmax baseline's
            (simulations.predict.score_prediction: feature_accuracy, poly_precision,
            poly_recall, n_poly_predicted, n_poly_true); None otherwise.
        wall_time: seconds for the whole run (init, training, measurement).
        cpu_time: CPU seconds this process spent on the run (all its threads).

    Two records of the same (spec, instance) are equal after `without_timings`.
    """
    started, cpu_started = time.perf_counter(), time.process_time()
    key = canonical_key(spec, instance)
    seed = instance_seed(spec, instance)
    W0 = init_weights(spec.n, spec.m, [seed], init_std=spec.init_std)
    noise = None if spec.noise is None else noise_seed(spec, instance)
    (run,) = train(W0, train_options(spec), seeds=[seed], noise_seed=noise, throw=False)
    W0, W = W0[0], run.W

    record = {"key": key, "version": package_version()}
    record.update({k: v for k, v in spec.to_dict().items() if k not in _SPEC_FIELDS_DROPPED})
    # flat records (CSV): the noise as "shape:sigma:sharing:draws"
    record["noise"] = None if spec.noise is None else noise_label(spec.noise)
    record["instance"] = int(instance)
    record["seed_entropy"] = int(seed.entropy)
    record["seed_spawn_key"] = [int(k) for k in seed.spawn_key]
    record["flow_time"] = spec.flow_time
    for name, value in run.to_dict().items():
        if name not in _RUN_FIELDS_DROPPED:
            record[f"train_{name}"] = _finite_or_none(value)

    if np.all(np.isfinite(W)):
        measured = measure(W0, W).to_dict()
        cross = W0 @ W.T  # E4's init-final matrix; only summaries are kept
        diag = np.diag(cross)
        off = cross[~np.eye(spec.n, dtype=bool)]
        summary = {
            "init_final_diag": [float(x) for x in diag],
            "init_final_offdiag_mean": float(off.mean()) if off.size else None,
            "init_final_offdiag_std": float(off.std()) if off.size else None,
        }
    else:
        measured = {name: None for name in _measurement_fields()}
        summary = {
            "init_final_diag": None,
            "init_final_offdiag_mean": None,
            "init_final_offdiag_std": None,
        }
    for name, value in measured.items():
        if name not in ("n", "m"):
            record[name] = _finite_or_none(value)
    record.update(summary)
    record.update(_assignment_and_prediction(spec, W0, W))
    record["wall_time"] = time.perf_counter() - started
    # CPU seconds of this process during the run (numba compilation included on a
    # worker's first run): a cost that does not depend on how busy the machine is.
    record["cpu_time"] = time.process_time() - cpu_started
    return record


# Who is scored in a record, and the scores (simulations.predict.score_prediction).
_PREDICTORS = ("predictor", "init_argmax", "fast_argmax")
_SCORES = ("feature_accuracy", "poly_precision", "poly_recall", "n_poly_predicted", "n_poly_true")


def _assignment_and_prediction(spec: ExperimentSpec, W0: np.ndarray, W: np.ndarray) -> dict:
    # The predictor models noiseless prox-gd (docs/theory/cascades.md#per-instance-predictor);
    # its fast phase, ceil(1 / lr) dense steps, costs 1-3% of a converged run
    # (docs/theory/cascades.md#accuracy-against-cost). Imported here, not at the top:
    # `simulations` imports this module, and `python -m simulations.predict` would then
    # find its own module imported already (runpy's RuntimeWarning on stderr).
    from .predict import (
        argmax_prediction,
        cascade_prediction,
        fast_phase,
        init_argmax,
        score_prediction,
    )

    out: dict = {"final_neuron": None, "final_sign": None}
    out.update({f"{who}_{name}": None for who in _PREDICTORS for name in _SCORES})
    if not np.all(np.isfinite(W)):
        return out
    neuron, sign = assign_features(W)
    out["final_neuron"], out["final_sign"] = neuron.tolist(), sign.tolist()
    if spec.optimizer != "prox-gd" or spec.noise is not None or is_unstable(spec):
        # the predictor models the noiseless flow, which an unstable lr does not follow
        return out
    predictions = {"init_argmax": init_argmax(W0)}
    try:
        W_fast = fast_phase(W0, lam=spec.lam, lr=spec.lr)
        # the predictor, and the argmax after the same fast phase: what its cascade adds
        predictions["predictor"] = cascade_prediction(W_fast)
        predictions["fast_argmax"] = argmax_prediction(W_fast)
    except (ValueError, FloatingPointError):
        # a fast phase that diverges (e.g. m = 1) leaves the predictor's scores None: the
        # prediction is a by-product and must never stop the sweep (docs/usage.md#errors)
        pass
    for who, prediction in predictions.items():
        for name, value in score_prediction(prediction, W).items():
            out[f"{who}_{name}"] = _finite_or_none(value)
    return out


# Fields added to the record after its first format. A stored record without one of them
# was written by older code (the store key hashes the spec, not the code), and is
# recomputed instead of reused: a new field must be appended here.
# The fast_argmax_* scores, added later still, are not in it: a record without them is
# reused and the report leaves them out, so that a new baseline never recomputes a store
# (`--fresh` adds them).
FIELDS_ADDED = ("final_neuron", "final_sign",
                *(f"{who}_{name}" for who in ("predictor", "init_argmax") for name in _SCORES))


def record_is_current(record: dict) -> bool:
    """Whether a stored run_instance record has every field the current code writes."""
    return all(name in record for name in FIELDS_ADDED)


def _measurement_fields() -> tuple[str, ...]:
    from dataclasses import fields

    from dynamics import Measurement

    return tuple(f.name for f in fields(Measurement))


def without_timings(record: dict) -> dict:
    """`record` without its wall-time fields: the part that is identical on every executor."""
    return {k: v for k, v in record.items() if k not in TIMING_FIELDS}


@dataclass(frozen=True)
class SpecRun:
    """One instance of an E3 spec as the runner sees it (`simulations.runner.executors.run_all`).

    Its store key is `canonical_key(spec, instance)`; its cost, n^2 m max_steps, is what a
    dense step costs, so the longest runs start first.
    """

    spec: ExperimentSpec
    instance: int

    def key(self) -> str:
        return canonical_key(self.spec, self.instance)

    @property
    def cost(self) -> float:
        return float(self.spec.n * self.spec.n * self.spec.m * self.spec.max_steps)

    def matches(self, record: dict) -> bool:
        """Whether `record` carries this run's instance and spec fields (a record moved
        between machines, `runner.transfer.import_runs`, is checked against its key)."""
        noise = None if self.spec.noise is None else noise_label(self.spec.noise)
        return (record.get("instance") == self.instance and record.get("noise") == noise
                and all(record.get(k) == v for k, v in self.spec.to_dict().items()
                        if k not in _SPEC_FIELDS_DROPPED + ("noise",)))


def spec_runs(specs: Sequence[ExperimentSpec]) -> list[SpecRun]:
    """Every (spec, instance) of `specs`, in spec order then instance order."""
    for spec in specs:
        if not isinstance(spec, ExperimentSpec):
            raise ValueError(f"specs must contain ExperimentSpec objects; got "
                             f"{type(spec).__name__}")
    return [SpecRun(spec, i) for spec in specs for i in range(spec.instances)]


def run_spec(run: SpecRun) -> dict:
    """The runner of E3's runs: `run_instance(run.spec, run.instance)`."""
    return run_instance(run.spec, run.instance)


def run_specs(specs: Sequence[ExperimentSpec], *, store, allow_unstable: bool = False,
              **options) -> RunSummary:
    """Every instance of `specs` through the store and executors (`run_all`'s `options`:
    workers, scheduler, fresh, progress).

    Refuses a spec whose lr is at or above its optimizer's stability bound unless
    `allow_unstable` (`_stability.check_step_sizes`; the report then flags its runs and
    excludes them from the counts). A stored record written by older code that lacks a
    field the current code writes (`FIELDS_ADDED`) is recomputed.
    """
    if not isinstance(allow_unstable, bool):
        raise ValueError(f"allow_unstable must be a bool; got {allow_unstable!r}")
    runs = spec_runs(specs)
    check_step_sizes(specs, allow_unstable)
    return run_all(runs, runner=run_spec, store=store, is_current=record_is_current,
                   **options)


def final_digest(record: dict) -> str | None:
    """First 16 hex digits of the SHA-256 of the final (neuron, sign) of every feature."""
    if record.get("final_neuron") is None:
        return None
    text = json.dumps([record["final_neuron"], record["final_sign"]], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
