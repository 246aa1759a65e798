"""The one seed convention of every experiment (docs/usage.md#seeds).

A run draws its randomness from a *stream* named by integers: the master seed, then the
stream's key (none for E3; the part and sizes for the noise studies; (n, m) for the
research studies). Instance i of a stream uses the stream's child with spawn key (i,):

    stream_seed(master, *key)          = SeedSequence([master, *key])  (master alone: no key)
    instance_seed_of(stream, i)        = SeedSequence(stream.entropy, spawn_key=(i,))

which is numpy's `stream.spawn(k)[i]` for any k > i, so a run does not depend on how
many instances its batch holds. Keys within one experiment have the same length and
differ in a tag, so no two streams coincide by accident of trailing zeros.
"""

from __future__ import annotations

import numpy as np

__all__ = ["instance_seed_of", "stream_seed"]


def stream_seed(master: int, *key: int) -> np.random.SeedSequence:
    """The stream named by the master seed and `key` (integers >= 0)."""
    return np.random.SeedSequence([int(master), *map(int, key)] if key else int(master))


def instance_seed_of(stream: np.random.SeedSequence, instance: int) -> np.random.SeedSequence:
    """Instance `instance` of `stream`: the child numpy's `stream.spawn` gives it."""
    return np.random.SeedSequence(stream.entropy, spawn_key=(*stream.spawn_key, int(instance)))
