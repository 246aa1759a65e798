"""Experiment specs: validation, canonical keys, instance seeds, presets and overrides."""

import dataclasses
import hashlib
import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulations._presets import DEFAULT_PRESET, PRESETS, build_specs
from simulations._specs import (
    ExperimentSpec,
    canonical_key,
    instance_seed,
)
from simulations.runner import keys

# A fixed spec whose key is pinned below: any change to the canonical encoding
# (field order, float formatting, hash) would silently orphan every stored run.
PINNED_SPEC = ExperimentSpec(n=8, m=16, lam=1e-2, max_steps=100, seed=3, instances=4)
PINNED_VERSION = "0.0-test"
# The canonical JSON of (PINNED_SPEC, instance 0), written out by hand: sorted keys,
# no spaces, floats in shortest repr, `instances` left out.
PINNED_JSON = (
    '{"instance":0,"spec":{"batch_size":null,"init_std":1.0,"lam":0.01,"lr":0.05,"m":16,'
    '"n":8,"noise":null,"optimizer":"prox-gd","seed":3,"steps":100,"tol":null,'
    '"weight_decay":0.0},"version":"0.0-test"}'
)
PINNED_KEY_0 = "e85d37f8a49b0db0f7d0a3d340a06c38fbefa25b946e1698c5ac3390b6b290b4"


@pytest.fixture
def fixed_version(monkeypatch):
    monkeypatch.setattr(keys, "package_version", lambda: PINNED_VERSION)


def test_canonical_key_is_pinned(fixed_version):
    assert hashlib.sha256(PINNED_JSON.encode("utf-8")).hexdigest() == PINNED_KEY_0
    assert canonical_key(PINNED_SPEC, 0) == PINNED_KEY_0


def test_canonical_key_depends_on_every_run_field_and_the_instance(fixed_version):
    base = canonical_key(PINNED_SPEC, 0)
    changes = {
        "n": 9,
        "m": 17,
        "lam": 2e-2,
        "optimizer": "gd",
        "lr": 0.04,
        "max_steps": 101,
        "tol": 1e-6,
        "init_std": 0.9,
        "batch_size": 4,
        "seed": 4,
    }
    keys = {base, canonical_key(PINNED_SPEC, 1)}
    for name, value in changes.items():
        keys.add(canonical_key(dataclasses.replace(PINNED_SPEC, **{name: value}), 0))
    adamw = dataclasses.replace(PINNED_SPEC, optimizer="adamw")
    keys.add(canonical_key(adamw, 0))
    keys.add(canonical_key(dataclasses.replace(adamw, weight_decay=0.01), 0))
    assert len(keys) == len(changes) + 4


def test_canonical_key_ignores_instances_and_int_float_spelling(fixed_version):
    more = dataclasses.replace(PINNED_SPEC, instances=32)
    assert canonical_key(more, 0) == canonical_key(PINNED_SPEC, 0)
    as_ints = ExperimentSpec(n=8, m=16, lam=1, lr=1, max_steps=100, seed=3, instances=4)
    as_floats = ExperimentSpec(n=8, m=16, lam=1.0, lr=1.0, max_steps=100, seed=3, instances=4)
    assert canonical_key(as_ints, 2) == canonical_key(as_floats, 2)
    assert as_ints == as_floats


def test_canonical_key_includes_the_package_version(monkeypatch):
    monkeypatch.setattr(keys, "package_version", lambda: "1.0")
    first = canonical_key(PINNED_SPEC, 0)
    monkeypatch.setattr(keys, "package_version", lambda: "1.1")
    assert canonical_key(PINNED_SPEC, 0) != first


def test_package_version_falls_back_to_the_module_constant(monkeypatch):
    def missing(name):
        raise keys.importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(keys.importlib.metadata, "version", missing)
    keys.package_version.cache_clear()  # read once per process
    try:
        assert keys.package_version() == keys._FALLBACK_VERSION
    finally:
        keys.package_version.cache_clear()


SPECS = st.builds(
    ExperimentSpec,
    n=st.integers(1, 512),
    m=st.integers(1, 8192),
    lam=st.floats(0.0, 1.0),
    optimizer=st.sampled_from(["prox-gd", "gd", "adamw"]),
    lr=st.floats(1e-6, 0.2),
    max_steps=st.integers(1, 10**6),
    tol=st.none() | st.floats(1e-12, 1.0),
    init_std=st.floats(0.01, 10.0),
    seed=st.integers(0, 2**63),
    instances=st.integers(1, 64),
)


@given(spec=SPECS, instance=st.integers(0, 63))
def test_key_survives_a_json_round_trip_of_the_spec(spec, instance):
    # Records carry the spec as JSON; a spec rebuilt from them must map to the same runs.
    instance = instance % spec.instances
    rebuilt = ExperimentSpec(**json.loads(json.dumps(spec.to_dict())))
    assert rebuilt == spec
    assert canonical_key(rebuilt, instance) == canonical_key(spec, instance)
    assert len(canonical_key(spec, instance)) == 64


@pytest.mark.parametrize("instance", [-1, 4, 1.0, True, "0"])
def test_canonical_key_rejects_bad_instance(instance):
    with pytest.raises(ValueError, match="instance"):
        canonical_key(PINNED_SPEC, instance)


def test_instance_seed_is_the_documented_seed_sequence():
    seed = instance_seed(PINNED_SPEC, 2)
    assert seed.entropy == 3 and seed.spawn_key == (2,)
    expected = np.random.SeedSequence(3, spawn_key=(2,)).generate_state(4)
    assert np.array_equal(seed.generate_state(4), expected)
    # Different instances draw different streams.
    other = instance_seed(PINNED_SPEC, 1).generate_state(4)
    assert not np.array_equal(seed.generate_state(4), other)


@pytest.mark.parametrize(
    "field, value",
    [
        ("n", 0),
        ("n", 2.0),
        ("n", True),
        ("m", 0),
        ("lam", -1e-3),
        ("lam", float("nan")),
        ("lr", 0.0),
        ("lr", float("inf")),
        ("optimizer", "adam"),
        ("max_steps", 0),
        ("tol", 0.0),
        ("tol", -1.0),
        ("init_std", 0.0),
        ("batch_size", 0),
        ("batch_size", 9),
        ("weight_decay", -0.1),
        ("weight_decay", 0.01),  # only adamw has weight decay
        ("noise", 0.1),
        ("seed", -1),
        ("instances", 0),
    ],
)
def test_validation_names_the_field(field, value):
    kwargs = {"n": 8, "m": 16, "lam": 1e-3, field: value}
    with pytest.raises(ValueError, match=field):
        ExperimentSpec(**kwargs)


def test_flow_time_conversion():
    spec = ExperimentSpec(n=4, m=8, lam=4e-3, lr=0.05, max_steps=1000)
    # tau = 4 lr steps and lam_tilde = lam / 4 (docs/paper.md#normalized-units).
    assert spec.flow_time == pytest.approx(200.0)
    assert spec.lam_normalized == pytest.approx(1e-3)
    adam = ExperimentSpec(n=4, m=8, lam=4e-3, optimizer="adamw", lr=1e-3)
    assert adam.flow_time is None


def test_presets_build_as_documented():
    assert DEFAULT_PRESET == "quick" and set(PRESETS) == {
        "quick",
        "paper",
        "gradient-flow",
        "lambdas",
    }
    quick = build_specs()
    assert [s.m for s in quick] == [64, 128, 256, 512, 1024]
    assert {(s.n, s.optimizer) for s in quick} == {(64, "prox-gd")}
    paper = build_specs("paper")
    assert [s.m for s in paper] == list(range(256, 4097, 256))
    assert {
        (s.n, s.lam, s.optimizer, s.lr, s.max_steps, s.weight_decay, s.instances, s.tol)
        for s in paper
    } == {(256, 1e-3, "adamw", 1e-3, 7500, 0.01, 16, None)}
    flow = build_specs("gradient-flow")
    assert [s.m for s in flow] == [s.m for s in paper]
    assert all(s.optimizer == "prox-gd" and s.tol is not None for s in flow)
    lambdas = build_specs("lambdas")
    assert len(lambdas) == 3 * len(paper)
    assert sorted({s.lam for s in lambdas}) == [1e-3, 1e-2, 1e-1]


def test_overrides_replace_axes_and_fields():
    specs = build_specs(
        "paper",
        {
            "n": [32, 64],
            "m_range": (64, 256, 64),
            "lam": 1e-2,
            "optimizer": "prox-gd",
            "lr": 0.05,
            "max_steps": 10,
            "tol": 0,
            "instances": 2,
            "seed": 7,
            "m": None,  # None means "flag not given"
        },
    )
    assert [(s.n, s.m) for s in specs] == [(n, m) for n in (32, 64) for m in (64, 128, 192, 256)]
    for s in specs:
        assert (s.lam, s.optimizer, s.lr, s.max_steps, s.tol, s.instances, s.seed) == (
            1e-2,
            "prox-gd",
            0.05,
            10,
            None,
            2,
            7,
        )
        # Leaving adamw drops its weight decay instead of failing validation.
        assert s.weight_decay == 0.0


def test_switching_to_adamw_uses_the_paper_weight_decay():
    specs = build_specs("quick", {"optimizer": "adamw", "lr": 1e-3})
    assert {(s.optimizer, s.weight_decay) for s in specs} == {("adamw", 0.01)}


def test_overrides_keep_order_and_drop_duplicates():
    specs = build_specs("quick", {"m": [128, 64, 128]})
    assert [s.m for s in specs] == [128, 64]


@pytest.mark.parametrize(
    "preset, overrides, match",
    [
        ("nope", {}, "preset"),
        ("quick", {"bogus": 1}, "bogus"),
        ("quick", {"m": []}, "empty"),
        ("quick", {"lam": []}, "empty"),
        ("quick", {"m_range": (512, 256, 64)}, "empty"),
        ("quick", {"m_range": (64, 128)}, "m_range"),
        ("quick", {"m": [64], "m_range": (64, 128, 64)}, "m_range"),
        ("quick", {"n": [0]}, "n"),
        ("quick", {"lr": -1.0}, "lr"),
        ("quick", {"optimizer": "adam"}, "optimizer"),
    ],
)
def test_build_specs_rejects(preset, overrides, match):
    with pytest.raises(ValueError, match=match):
        build_specs(preset, overrides)


def test_noise_and_dtype_fields_are_real():
    """A spec's noise is a dynamics.HiddenNoise (given as one, as its JSON dict or as
    'shape:sigma:sharing:draws'), allowed with gd and no tol only; dtype float32 with adamw
    only; run_instance trains exactly what dynamics.train does with the spec's seeds."""
    from dynamics import HiddenNoise, TrainOptions, init_weights, train
    from simulations._run import run_instance
    from simulations._specs import noise_seed

    noise = HiddenNoise(0.1, "bernoulli", "independent", 1)
    base = dict(n=6, m=12, lam=0.0, optimizer="gd", lr=0.02, max_steps=50, seed=3, instances=2)
    forms = [ExperimentSpec(noise=form, **base) for form in
             (noise, {"sigma": 0.1, "shape": "bernoulli", "sharing": "independent", "draws": 1},
              "bernoulli:0.1:independent:1", "bernoulli:0.1:independent")]
    assert all(spec == forms[0] for spec in forms)
    assert ExperimentSpec(**json.loads(json.dumps(forms[0].to_dict()))) == forms[0]
    for bad in (dict(optimizer="prox-gd"), dict(tol=1e-6)):
        with pytest.raises(ValueError, match="noise"):
            ExperimentSpec(noise=noise, **{**base, **bad})
    with pytest.raises(ValueError, match="noise"):
        ExperimentSpec(noise="bernoulli", **base)
    with pytest.raises(ValueError, match="dtype"):
        ExperimentSpec(dtype="float32", **base)
    # float64 is left out of the key (stores written before the field existed stay
    # valid, test_canonical_key_is_pinned); float32 is a different run
    adam = dict(n=6, m=12, lam=1e-3, optimizer="adamw", lr=1e-3, weight_decay=0.01)
    assert canonical_key(ExperimentSpec(**adam), 0) == canonical_key(
        ExperimentSpec(dtype="float64", **adam), 0)
    assert canonical_key(ExperimentSpec(dtype="float32", **adam), 0) != canonical_key(
        ExperimentSpec(**adam), 0)
    spec = forms[0]
    rec = run_instance(spec, 1)
    W0 = init_weights(6, 12, [instance_seed(spec, 1)])
    direct = train(W0, TrainOptions(optimizer="gd", lr=0.02, lam=0.0, max_steps=50, noise=noise,
                                    record_weights=True), noise_seed=noise_seed(spec, 1))[0]
    assert rec["noise"] == "bernoulli:0.1:independent:1"
    assert rec["train_final_loss"] == direct.final_loss
    # shared noise: one stream for every instance of the spec
    shared = ExperimentSpec(noise="bernoulli:0.1:shared", **base)
    assert noise_seed(shared, 0).spawn_key == noise_seed(shared, 1).spawn_key
    assert noise_seed(spec, 0).spawn_key != noise_seed(spec, 1).spawn_key


@pytest.mark.parametrize("optimizer", ["prox-gd", "gd", "sgd", "adamw"])
def test_spec_training_defaults_are_the_engines(optimizer):
    """A spec that names only its optimizer trains as `TrainOptions` with only that
    optimizer would: the lr, weight decay, step budget and tol have one home (the engine);
    weight decay is 0 where it does not act."""
    from dynamics import TrainOptions

    spec = ExperimentSpec(n=4, m=4, lam=1e-3, optimizer=optimizer)
    engine = TrainOptions(optimizer=optimizer, lam=1e-3)
    assert (spec.lr, spec.max_steps, spec.tol) == (engine.lr, engine.max_steps, engine.tol)
    assert spec.weight_decay == (engine.weight_decay if optimizer == "adamw" else 0.0)
    assert spec.train == engine
