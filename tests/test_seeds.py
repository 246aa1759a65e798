"""The one seed convention (docs/usage.md#seeds, simulations/_seeds.py)."""

import csv
from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from simulations._seeds import instance_seed_of, stream_seed
from simulations._specs import ExperimentSpec, instance_seed
from simulations.replication import PREREGISTERED

DATA = Path(__file__).resolve().parents[1] / "docs" / "data"


def _state(seed: np.random.SeedSequence) -> list[int]:
    return seed.generate_state(8).tolist()


@given(master=st.integers(0, 2**40), key=st.lists(st.integers(0, 2**20), max_size=3),
       count=st.integers(1, 6), data=st.data())
def test_an_instance_is_numpys_spawned_child_whatever_the_batch(master, key, count, data):
    i = data.draw(st.integers(0, count - 1))
    stream = stream_seed(master, *key)
    assert _state(instance_seed_of(stream, i)) == _state(stream.spawn(count)[i])
    assert _state(instance_seed_of(stream, i)) == _state(stream_seed(master, *key).spawn(i + 1)[i])


def test_e3_instances_use_the_master_seed_with_spawn_key_i():
    spec = ExperimentSpec(n=4, m=8, lam=0.01, seed=7_000_009, instances=4)
    for i in range(4):
        assert _state(instance_seed(spec, i)) == _state(
            np.random.SeedSequence(7_000_009, spawn_key=(i,)))


def test_the_published_replication_records_resolve_to_their_seeds():
    """Every row of docs/data/replication-lam-lr.csv names the seed this convention gives."""
    with open(DATA / "replication-lam-lr.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) > 500
    for row in rows:
        spec = PREREGISTERED.spec(int(row["m"]), float(row["lam"]), float(row["lr"]), 32)
        seed = instance_seed(spec, int(row["instance"]))
        assert (seed.entropy, list(seed.spawn_key)) == (
            int(row["seed_entropy"]), [int(k) for k in row["seed_spawn_key"].split()])
