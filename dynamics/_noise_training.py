"""Training the tied toy model with noise added to the hidden layer (experiment E2).

Model (PAPER.md 5.1; docs/theory/noise.md#setup): for input e_i the hidden layer is
h_i = W_i + xi_i (tied weights, no bias, no hidden ReLU) and the output is ReLU(W h_i), so
output j is ReLU(P_ij) with P_ij = <W_j, h_i>. The loss of one step is the sum of squared
errors over the full batch of the n one-hot inputs (no L1 by default, as in the paper)

    L = sum_i sum_j (ReLU(P_ij) - delta_ij)^2,

whose gradient, with R_ij = 2 (P_ij - delta_ij) 1[P_ij > 0], is

    dL/dW_j = sum_i R_ij h_i   (decoder use of W_j)   +   sum_k R_jk W_k   (encoder use of W_j).

An optional L1 term lam * ||W||_1 (off by default) adds the subgradient lam * sign(W), with
sign(0) = 0 as in torch (PAPER.md 2.1).

Plain SGD: W <- W - lr * (1/K) sum_{draws} dL/dW. With K = 1 this is the authors' stochastic
update; K > 1 averages K independent noise draws per step (the expected-gradient mode, which
approaches gradient flow on the expected loss as K grows).

Randomness never enters the numba kernel: noise is drawn outside, from numpy Generators seeded
by SeedSequence, in chunks of steps so memory stays bounded, and passed in as arrays. Draws
use only sequential double streams, so the result does not depend on the chunk size.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numba import njit

from dynamics._measurements import fourth_norms, mean_offdiagonal_overlap

__all__ = [
    "NOISE_SHAPES",
    "NOISE_SHARING",
    "NoiseTrainingOptions",
    "NoiseTrainingResult",
    "NoiseDivergenceError",
    "draw_noise",
    "noise_initial_weights",
    "record_schedule",
    "train_with_noise",
]

#: Noise shapes, all with variance sigma^2 (docs/theory/noise.md#shapes).
NOISE_SHAPES = ("bernoulli", "gaussian", "uniform", "laplace")
#: "shared": one draw per step for the whole batch and all instances (the authors' code);
#: "independent": a separate draw per instance and per input.
NOISE_SHARING = ("shared", "independent")
#: The per-feature loss (||W_i||^2 - 1)^2 has curvature 8 along W_i at ||W_i|| = 1, so plain
#: gradient descent is stable only for lr < 2/8.
LR_STABILITY_BOUND = 0.25
#: Noise values held in memory per chunk (float64): 2**22 values = 32 MiB.
_CHUNK_BUDGET = 1 << 22


class NoiseDivergenceError(FloatingPointError):
    """Training produced non-finite or exploding weights (see ``NoiseTrainingOptions.lr``)."""


@dataclass(frozen=True)
class NoiseTrainingOptions:
    """Options of :func:`train_with_noise`; validated on construction.

    Fields:
      sigma: noise standard deviation per hidden coordinate, > 0 (paper: 0.07, 0.1, 0.15).
      shape: one of ``NOISE_SHAPES``; every shape has variance sigma^2.
      sharing: one of ``NOISE_SHARING`` (default "shared", as in the authors' code).
      draws: K >= 1 noise draws averaged per step (K > 1 is the expected-gradient mode).
      lr: SGD step size, 0 < lr < 0.25 (paper: 0.02). One step advances code time by lr.
      lam: L1 strength on the weights in code units, >= 0 (paper noise experiment: 0).
      steps: number of SGD steps, >= 1 (paper: 100 000).
      n_records: number of log-spaced record points besides step 0, >= 1.
      chunk_steps: steps of noise drawn at once (memory bound); does not change the result.
      max_abs_weight: divergence threshold on |W|, > 1.
      throw: raise ``NoiseDivergenceError`` on divergence (True) or return a result with
        ``status == "diverged"`` (False, for sweeps).
    """

    sigma: float = 0.1
    shape: str = "bernoulli"
    sharing: str = "shared"
    draws: int = 1
    lr: float = 0.02
    lam: float = 0.0
    steps: int = 100_000
    n_records: int = 50
    chunk_steps: int = 8192
    max_abs_weight: float = 1e3
    throw: bool = True

    def __post_init__(self) -> None:
        def bad(name: str, rng: str) -> ValueError:
            return ValueError(f"{name} must be {rng}, got {getattr(self, name)!r}")

        sig = self.sigma
        if not (isinstance(sig, (int, float)) and np.isfinite(sig) and sig > 0):
            raise bad("sigma", "a finite float > 0")
        if self.shape not in NOISE_SHAPES:
            raise bad("shape", f"one of {NOISE_SHAPES}")
        if self.sharing not in NOISE_SHARING:
            raise bad("sharing", f"one of {NOISE_SHARING}")
        for name, lo in (("draws", 1), ("steps", 1), ("n_records", 1), ("chunk_steps", 1)):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < lo:
                raise bad(name, f"an integer >= {lo}")
        if not (isinstance(self.lr, (int, float)) and 0 < self.lr < LR_STABILITY_BOUND):
            raise bad("lr", f"in (0, {LR_STABILITY_BOUND}) (GD stability bound 2/8)")
        if not (isinstance(self.lam, (int, float)) and np.isfinite(self.lam) and self.lam >= 0):
            raise bad("lam", "a finite float >= 0")
        if not (np.isfinite(self.max_abs_weight) and self.max_abs_weight > 1):
            raise bad("max_abs_weight", "a finite float > 1")
        if not isinstance(self.throw, bool):
            raise bad("throw", "a bool")


@dataclass(frozen=True)
class NoiseTrainingResult:
    """Outcome of :func:`train_with_noise`.

    Fields (I instances, n features, m neurons, R record points):
      weights: final weights, shape (I, n, m) (at the divergence step if diverged).
      record_steps: int array (R,), steps at which the records were taken (0 first).
      fourth: (R, I, n), per-feature sum_k W_ik^4 ("fourth norm", PAPER.md 8.8).
      sq_norms: (R, I, n), per-feature ||W_i||^2.
      mean_overlap: (R, I), mean off-diagonal <W_i, W_j> (the negative margin, eq. 7).
      clean_loss: (R, I), the noise-free loss sum_ij (ReLU(<W_i,W_j>) - delta_ij)^2.
      status: "ok" or "diverged"; message: human-readable reason.
      steps_taken: steps completed.
      options: the options used; noise_seed: the SeedSequence entropy of the noise streams.
    """

    weights: np.ndarray
    record_steps: np.ndarray
    fourth: np.ndarray
    sq_norms: np.ndarray
    mean_overlap: np.ndarray
    clean_loss: np.ndarray
    status: str
    message: str
    steps_taken: int
    options: NoiseTrainingOptions
    noise_seed: int | list[int] | None = field(default=None)

    @property
    def mean_fourth(self) -> np.ndarray:
        """(R, I): per-instance mean over features of sum_k W_ik^4."""
        return self.fourth.mean(axis=-1)


def draw_noise(gen: np.random.Generator, shape: str, sigma: float, size) -> np.ndarray:
    """Draw noise of variance sigma^2 and the given shape (docs/theory/noise.md#shapes).

    bernoulli: +-sigma (excess kurtosis -2); gaussian: N(0, sigma^2) (0); uniform:
    U(-sqrt3 sigma, sqrt3 sigma) (-6/5); laplace: scale sigma/sqrt2 (+3). Every shape consumes
    the generator's double stream sequentially, so chunked draws equal one big draw.
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


def noise_initial_weights(n: int, m: int, instances: int, seed) -> np.ndarray:
    """Initial weights W_ik ~ N(0, 1/m) i.i.d. (PAPER.md 1.3), shape (instances, n, m).

    ``seed``: int, sequence of ints or ``SeedSequence``. Instance i uses child i of
    ``SeedSequence(seed)``, so it does not depend on how many instances are drawn.
    """
    for name, v in (("n", n), ("m", m), ("instances", instances)):
        if not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    children = ss.spawn(int(instances))
    return np.stack(
        [np.random.default_rng(ch).normal(0.0, 1.0 / np.sqrt(m), (n, m)) for ch in children]
    )


def record_schedule(steps: int, n_records: int) -> np.ndarray:
    """Record steps: 0 plus ~n_records log-spaced integers in [1, steps], always ending at steps."""
    pts = np.unique(np.round(np.geomspace(1, steps, n_records)).astype(np.int64))
    return np.concatenate([[0], pts])


# numba rather than BLAS: each step is n x n x m with n, m ~ 8-64, far below the size where a
# BLAS call beats its own dispatch overhead; the loop over steps must stay in compiled code.
@njit(cache=True)
def _noisy_sgd_kernel(W, xi, lr, lam, max_abs):
    """Run xi.shape[0] SGD steps; returns (new W, index of the diverging step or -1).

    W: (I, n, m); xi: (S, K, Ix, nx, m) with Ix in {1, I}, nx in {1, n} (broadcast). Pure:
    W is copied, nothing random happens here.
    """
    n_inst, n, m = W.shape
    n_steps, n_draws, ix, nx, _ = xi.shape
    W = W.copy()
    grad = np.empty((n, m))
    H = np.empty((n, m))
    R = np.empty((n, n))
    scale = lr / n_draws
    for step in range(n_steps):
        for inst in range(n_inst):
            xinst = inst if ix > 1 else 0
            grad[:, :] = 0.0
            for k in range(n_draws):
                for i in range(n):
                    xrow = i if nx > 1 else 0
                    for d in range(m):
                        H[i, d] = W[inst, i, d] + xi[step, k, xinst, xrow, d]
                for i in range(n):  # R_ij = 2 (P_ij - delta_ij) 1[P_ij > 0], P_ij = <W_j, h_i>
                    for j in range(n):
                        p = 0.0
                        for d in range(m):
                            p += W[inst, j, d] * H[i, d]
                        if p > 0.0:
                            R[i, j] = 2.0 * (p - (1.0 if i == j else 0.0))
                        else:
                            R[i, j] = 0.0
                for i in range(n):  # dL/dW_j += R_ij h_i ; dL/dW_i += R_ij W_j
                    for j in range(n):
                        r = R[i, j]
                        if r != 0.0:
                            for d in range(m):
                                grad[j, d] += r * H[i, d]
                                grad[i, d] += r * W[inst, j, d]
            bad = False
            for i in range(n):
                for d in range(m):
                    w0 = W[inst, i, d]
                    l1 = lam if w0 > 0.0 else (-lam if w0 < 0.0 else 0.0)
                    w = w0 - scale * grad[i, d] - lr * l1
                    W[inst, i, d] = w
                    if not (abs(w) <= max_abs):  # also catches NaN
                        bad = True
            if bad:
                return W, step
    return W, -1


def _noisy_sgd_numpy(W: np.ndarray, xi: np.ndarray, lr: float, lam: float = 0.0) -> np.ndarray:
    """Plain-numpy oracle of ``_noisy_sgd_kernel`` (same math, vectorised; for the tests)."""
    W = np.array(W, dtype=np.float64, copy=True)
    n = W.shape[1]
    eye = np.eye(n)
    for step in range(xi.shape[0]):
        grad = np.zeros_like(W)
        for k in range(xi.shape[1]):
            H = W + xi[step, k]  # (I, n, m), broadcasting shared noise
            P = np.einsum("aim,ajm->aij", H, W)  # P_ij = <h_i, W_j>
            R = np.where(P > 0, 2.0 * (P - eye), 0.0)
            grad += np.einsum("aij,aim->ajm", R, H) + np.einsum("aij,ajm->aim", R, W)
        W = W - lr / xi.shape[1] * grad - lr * lam * np.sign(W)
    return W


def _clean_loss(W: np.ndarray) -> np.ndarray:
    """Noise-free loss per instance, sum_ij (ReLU(<W_i, W_j>) - delta_ij)^2; W (I, n, m)."""
    G = np.einsum("aim,ajm->aij", W, W)
    return np.sum((np.maximum(G, 0.0) - np.eye(W.shape[1])) ** 2, axis=(1, 2))


class _NoiseSource:
    """Draws chunks of noise of shape (S, K, Ix, nx, m) from SeedSequence-seeded Generators."""

    def __init__(self, opts: NoiseTrainingOptions, instances: int, n: int, m: int, seed):
        self.opts, self.instances, self.n, self.m = opts, instances, n, m
        ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
        self.entropy = ss.entropy
        if opts.sharing == "shared":
            self.gens = [np.random.default_rng(ss)]
        else:  # one stream per instance, so instance i's noise does not depend on I
            self.gens = [np.random.default_rng(ch) for ch in ss.spawn(instances)]

    def chunk(self, steps: int) -> np.ndarray:
        o, K, m = self.opts, self.opts.draws, self.m
        if o.sharing == "shared":
            return draw_noise(self.gens[0], o.shape, o.sigma, (steps, K, 1, 1, m))
        per = [draw_noise(g, o.shape, o.sigma, (steps, K, self.n, m)) for g in self.gens]
        return np.stack(per, axis=2)

    def values_per_step(self) -> int:
        o = self.opts
        per = self.m if o.sharing == "shared" else self.instances * self.n * self.m
        return o.draws * per


def train_with_noise(W0, options: NoiseTrainingOptions, seed) -> NoiseTrainingResult:
    """Train the tied toy model with hidden-layer noise by plain SGD (docs/theory/noise.md#setup).

    Main arguments:
      W0: initial weights, shape (I, n, m) or (n, m) (one instance); finite.
      options: a :class:`NoiseTrainingOptions`.
      seed: int, sequence of ints or ``numpy.random.SeedSequence`` of the noise streams.

    Returns: a :class:`NoiseTrainingResult` (records at ``record_schedule(steps, n_records)``).

    Raises: ``ValueError`` on bad inputs; ``NoiseDivergenceError`` (naming the step-size bound)
    if the weights become non-finite or exceed ``max_abs_weight`` and ``options.throw``.
    """
    if not isinstance(options, NoiseTrainingOptions):
        raise ValueError("options must be a NoiseTrainingOptions")
    W = np.array(W0, dtype=np.float64, copy=True)
    if W.ndim == 2:
        W = W[None]
    if W.ndim != 3 or min(W.shape) < 1:
        raise ValueError(f"W0 must have shape (I, n, m) or (n, m), got {np.shape(W0)}")
    if not np.all(np.isfinite(W)):
        raise ValueError("W0 must be finite")
    instances, n, m = W.shape
    src = _NoiseSource(options, instances, n, m, seed)
    chunk = max(1, min(options.chunk_steps, _CHUNK_BUDGET // src.values_per_step()))
    sched = record_schedule(options.steps, options.n_records)

    fourth, sq, ovl, loss, rec = [], [], [], [], []

    def record(step: int, Wc: np.ndarray) -> None:
        rec.append(step)
        fourth.append(np.stack([fourth_norms(w) for w in Wc]))
        sq.append(np.sum(Wc**2, axis=-1))
        ovl.append(np.array([mean_offdiagonal_overlap(w) for w in Wc]))
        loss.append(_clean_loss(Wc))

    record(0, W)
    status, message, done = "ok", "completed", 0
    for target in sched[1:]:
        while done < target:
            s = int(min(chunk, target - done))
            W_new, bad = _noisy_sgd_kernel(
                W, src.chunk(s), float(options.lr), float(options.lam),
                float(options.max_abs_weight),
            )
            if bad >= 0:
                done += int(bad) + 1
                message = (
                    f"weights diverged (|W| > {options.max_abs_weight:g} or non-finite) at step "
                    f"{done} with lr={options.lr:g}, sigma={options.sigma:g}; lower lr well below "
                    f"the stability bound {LR_STABILITY_BOUND:g} = 2/8 (smaller still for large "
                    f"noise)"
                )
                if options.throw:
                    raise NoiseDivergenceError(message)
                status, W = "diverged", W_new
                break
            W, done = W_new, done + s
        if status != "ok":
            break
        record(done, W)

    return NoiseTrainingResult(
        weights=W,
        record_steps=np.asarray(rec, dtype=np.int64),
        fourth=np.asarray(fourth),
        sq_norms=np.asarray(sq),
        mean_overlap=np.asarray(ovl),
        clean_loss=np.asarray(loss),
        status=status,
        message=message,
        steps_taken=done,
        options=options,
        noise_seed=src.entropy,
    )

