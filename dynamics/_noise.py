"""Hidden-layer noise: the option of ``dynamics.train`` behind experiment E2.

Model (docs/theory/noise.md#setup): for input e_i the hidden layer is h_i = W_i + xi_i and
the output is ReLU(W h_i). Noise is drawn here, outside the numba kernels, from numpy
Generators seeded by ``SeedSequence``, in chunks of steps; the kernels receive arrays. Every
shape consumes its generator's double stream sequentially, so chunked draws equal one big
draw and results do not depend on the chunk size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["NOISE_SHAPES", "NOISE_SHARING", "HiddenNoise", "draw_noise"]

#: Noise shapes, all with variance sigma^2 (docs/theory/noise.md#shapes).
NOISE_SHAPES = ("bernoulli", "gaussian", "uniform", "laplace")
#: "shared": one draw per step for the whole batch and all instances (the authors' code);
#: "independent": a separate draw per instance and per input.
NOISE_SHARING = ("shared", "independent")
# Noise values held in memory per chunk (float64): 2**22 values = 32 MiB.
CHUNK_BUDGET = 1 << 22


@dataclass(frozen=True)
class HiddenNoise:
    """Noise added to the hidden layer at every step (``TrainOptions.noise``).

    Fields:
        sigma: standard deviation per hidden coordinate, > 0 (paper: 0.07, 0.1, 0.15).
        shape: one of ``NOISE_SHAPES``; every shape has variance sigma^2.
        sharing: one of ``NOISE_SHARING`` (default "shared", as in the authors' code).
        draws: K >= 1 independent draws averaged per step (K > 1: the expected-gradient
            mode, which approaches gradient descent on the expected loss as K grows).
    """

    sigma: float
    shape: str = "bernoulli"
    sharing: str = "shared"
    draws: int = 1

    def __post_init__(self):
        s = self.sigma
        if isinstance(s, bool) or not isinstance(s, int | float | np.number) \
                or not (math.isfinite(s) and s > 0):
            raise ValueError(f"HiddenNoise.sigma must be a finite number > 0; got {s!r}")
        object.__setattr__(self, "sigma", float(s))
        if self.shape not in NOISE_SHAPES:
            raise ValueError(f"HiddenNoise.shape must be one of {NOISE_SHAPES}; "
                             f"got {self.shape!r}")
        if self.sharing not in NOISE_SHARING:
            raise ValueError(f"HiddenNoise.sharing must be one of {NOISE_SHARING}; "
                             f"got {self.sharing!r}")
        d = self.draws
        if isinstance(d, bool) or not isinstance(d, int | np.integer) or d < 1:
            raise ValueError(f"HiddenNoise.draws must be an integer >= 1; got {d!r}")
        object.__setattr__(self, "draws", int(d))


def draw_noise(gen: np.random.Generator, shape: str, sigma: float, size) -> np.ndarray:
    """Draw noise of variance sigma^2 and the given shape (docs/theory/noise.md#shapes).

    bernoulli: +-sigma (excess kurtosis -2); gaussian: N(0, sigma^2) (0); uniform:
    U(-sqrt3 sigma, sqrt3 sigma) (-6/5); laplace: scale sigma/sqrt2 (+3).
    """
    if shape == "bernoulli":
        return np.where(gen.random(size) < 0.5, -sigma, sigma)
    if shape == "gaussian":
        return gen.normal(0.0, sigma, size)
    if shape == "uniform":
        half = np.sqrt(3.0) * sigma
        return gen.uniform(-half, half, size)
    if shape == "laplace":
        return gen.laplace(0.0, sigma / np.sqrt(2.0), size)
    raise ValueError(f"shape must be one of {NOISE_SHAPES}, got {shape!r}")


class NoiseSource:
    """Chunks of noise of shape (steps, K, Ix, nx, m), Ix in {1, I}, nx in {1, n}.

    Shared noise is one stream seeded by ``seed``; independent noise gives instance i the
    stream of ``seed.spawn(I)[i]``, so an instance's noise does not depend on I.
    """

    def __init__(self, noise: HiddenNoise, instances: int, n: int, m: int,
                 seed: np.random.SeedSequence):
        self.noise, self.n, self.m = noise, n, m
        self.entropy = seed.entropy
        if noise.sharing == "shared":
            self.gens = [np.random.default_rng(seed)]
        else:
            self.gens = [np.random.default_rng(ch) for ch in seed.spawn(instances)]

    def values_per_step(self) -> int:
        per = self.m if self.noise.sharing == "shared" else len(self.gens) * self.n * self.m
        return self.noise.draws * per

    def chunk(self, steps: int) -> np.ndarray:
        o, K = self.noise, self.noise.draws
        if o.sharing == "shared":
            return draw_noise(self.gens[0], o.shape, o.sigma, (steps, K, 1, 1, self.m))
        per = [draw_noise(g, o.shape, o.sigma, (steps, K, self.n, self.m)) for g in self.gens]
        return np.stack(per, axis=2)
