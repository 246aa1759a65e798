"""Collision theory with cascades: the magnitude-rule cascade model.

The sign-bin model (docs/theory/collisions.md) lets a feature that loses a
same-sign collision vanish into an empty neuron. Here it falls back to its
next preference, which may itself be occupied (a cascade); the rule that decides
a same-sign collision is read off the interference force, and the final bins are
the unique stable matching of features to (neuron, sign) bins
(docs/theory/cascades.md#the-cascade-process):

* each feature i ranks the neurons by |W_ik(0)| and keeps sign(W_ik(0)) on each
  (eq. C1: the affine reduction keeps the order and the signs of the survivors);
* two features in the same bin: the one with the larger weight there wins (eq. C2:
  the interference force shrinks the smaller weight relatively faster);
* the loser proposes to its next-ranked neuron (eq. C3); opposite-sign sharing is
  benign and never displaces anyone.

`cascade_assignment` runs this process on one weight matrix (the per-instance
predictor of `simulations.predict` calls it). For random Gaussian initial
weights only the ranks of the n*m magnitudes and the signs matter, so
`sample_poly_cascade` draws the process directly from its order statistics
(eq. C4), and `expected_poly_cascade` / `sd_poly_cascade` are Monte Carlo
estimates with a stated standard error (docs/theory/cascades.md#monte-carlo).
`enumerate_poly_cascade` is the exact law at tiny sizes (all rankings and signs).

No closed form is known for n >= 3; the n = 2 case is exact: E[X] = 1/(2m)
(eq. C5), the sign-bin value.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction
from functools import cache

import numpy as np

from .collisions import expected_poly_exact, sd_poly_exact

__all__ = [
    "MODEL_NAME",
    "SIGN_BIN_NAME",
    "BEST_SWITCH_RATIO",
    "LARGE_N",
    "LARGE_N_SWITCH_RATIO",
    "best_model_name",
    "cascade_assignment",
    "poly_count",
    "sample_poly_cascade",
    "greedy_cost",
    "cascade_moments",
    "expected_poly_cascade",
    "sd_poly_cascade",
    "enumerate_poly_cascade",
    "expected_poly_best",
    "sd_poly_best",
    "best_moments",
    "ANCHORS",
]

MODEL_NAME = "magnitude-rule cascade (docs/theory/cascades.md)"
SIGN_BIN_NAME = "exact sign-bin (docs/theory/collisions.md#exact-mean)"
# Below this m/n the cascade model is the best prediction, at and above it the
# sign-bin model (docs/theory/cascades.md#verdict). Chosen by comparing both models
# with the exploration and first confirmation data; tested on fresh seeds after.
BEST_SWITCH_RATIO = 1.5
# From n = LARGE_N on, the cascade model stays the best up to m = LARGE_N_SWITCH_RATIO n
# inclusive (preregistered, confirmed at n = 256, 384: docs/preregistration-best-model.md;
# the same rule failed at n = 128).
LARGE_N = 256
LARGE_N_SWITCH_RATIO = 2.0
# Monte Carlo samples behind expected_poly_cascade / sd_poly_cascade: the standard
# error of the mean is SD/sqrt(4000) = SD/63, below a tenth of the standard error
# SD/sqrt(k) of a k <= 40-instance simulation mean (docs/theory/cascades.md#monte-carlo).
DEFAULT_SAMPLES = 4000
# Largest n the Monte Carlo accepts: it is pure Python, about n draws per sample, so
# DEFAULT_SAMPLES samples at n = 4096 already take minutes. Above it the best prediction
# falls back to the sign-bin model and says so.
CASCADE_MAX_N = 4096
# The vectorised Monte Carlo for m < n handles samples x n x m cells; this many (n = 256,
# m = 128) take about 30 s on one busy core, more are refused (and the best model falls
# back to sign-bin, saying so).
GREEDY_MAX_CELLS = 2**27
# Cells per chunk of the vectorised Monte Carlo (about 11 bytes each: 90 MB).
_CHUNK_CELLS = 2**23
# Fixed seed of the Monte Carlo, so that the reported prediction is reproducible.
DEFAULT_SEED = 20251126

_DOC = "docs/theory/cascades.md"
ANCHORS = {
    "cascade_assignment": f"{_DOC}#the-cascade-process",
    "expected_poly_cascade": f"{_DOC}#monte-carlo",
    "sd_poly_cascade": f"{_DOC}#monte-carlo",
    "enumerate_poly_cascade": f"{_DOC}#exact-enumeration",
    "expected_poly_best": f"{_DOC}#verdict",
    "sd_poly_best": f"{_DOC}#verdict",
}


def _size(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def _stable_matching(n: int, next_pref) -> tuple[np.ndarray, np.ndarray]:
    """Deferred acceptance of features into (neuron, sign) bins (eqs. C2, C3).

    ``next_pref(i)`` returns feature i's next (magnitude, neuron, sign), or None once
    its m neurons are exhausted (possible only for n > m; the feature then stays
    unassigned, neuron -1, sign 0: the superposition regime, out of scope).
    Bins hold one feature each; a proposal to a held bin keeps the larger magnitude.
    With a common magnitude per (feature, neuron) the stable matching is unique, so
    the order of proposals does not matter.
    """
    neuron = np.full(n, -1, dtype=np.int64)
    sign = np.zeros(n, dtype=np.int64)
    holder: dict[tuple[int, int], tuple[float, int]] = {}
    free = list(range(n))
    while free:
        i = free.pop()
        pref = next_pref(i)
        if pref is None:
            continue
        mag, k, s = pref
        held = holder.get((k, s))
        if held is None:
            holder[(k, s)] = (mag, i)
        elif mag > held[0]:  # eq. C2: the larger weight keeps the bin
            holder[(k, s)] = (mag, i)
            free.append(held[1])
        else:
            free.append(i)  # eq. C3: the loser falls back to its next neuron
    for (k, s), (_, i) in holder.items():
        neuron[i], sign[i] = k, s
    return neuron, sign


def cascade_assignment(W) -> tuple[np.ndarray, np.ndarray]:
    """Final (neuron, sign) of every feature under the cascade process, from weights W (n, m).

    Preferences are the rows of |W| in decreasing order with the signs of W (eq. C1);
    same-sign conflicts go to the larger |W_ik| (eq. C2) and the loser moves to its next
    neuron (eq. C3). Returns two int arrays of shape (n,); features that exhaust their
    neurons (only possible for n > m) get neuron -1, sign 0.
    Cost O(n m log m) for the row sorts plus O(n + displacements) proposals.
    docs/theory/cascades.md#the-cascade-process
    """
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2 or min(W.shape) < 1 or not np.all(np.isfinite(W)):
        raise ValueError(f"W must be a finite array of shape (n, m), n, m >= 1; got {W.shape}")
    n, m = W.shape
    absW = np.abs(W)
    order = np.argsort(-absW, axis=1, kind="stable")
    depth = np.zeros(n, dtype=np.int64)

    def next_pref(i):
        if depth[i] >= m:
            return None
        k = int(order[i, depth[i]])
        depth[i] += 1
        w = W[i, k]
        # a zero weight has no sign; it still ranks last, with sign +1 by convention
        return float(absW[i, k]), k, (1 if w >= 0 else -1)

    return _stable_matching(n, next_pref)


def poly_count(neuron, sign, m: int) -> int:
    """Number of neurons holding a feature of each sign (eq. C6)."""
    neuron, sign = np.asarray(neuron), np.asarray(sign)
    alive = neuron >= 0
    pos = np.bincount(neuron[alive & (sign > 0)], minlength=m)
    neg = np.bincount(neuron[alive & (sign < 0)], minlength=m)
    return int(np.count_nonzero((pos > 0) & (neg > 0)))


def _sample_one(n: int, m: int, rng: np.random.Generator) -> int:
    """One draw of X from the cascade process on i.i.d. continuous weights (eq. C4).

    Row i's magnitudes are m i.i.d. U(0,1) (only ranks matter, so any continuous law
    gives the same process); its j-th largest is drawn lazily by the order-statistics
    recursion V_1 = U^(1/m), V_(j+1) = V_j U^(1/(m-j)); its neuron is uniform among the
    neurons not yet used by row i, and its sign is a fair coin, independent of both.
    """
    used: list[set] = [set() for _ in range(n)]
    # log-space keeps deep recursions (j ~ m) away from underflow
    log_level = np.zeros(n)

    def next_pref(i):
        j = len(used[i])
        if j >= m:
            return None
        log_level[i] += math.log(rng.random()) / (m - j)
        k = int(rng.integers(m))
        while k in used[i]:
            k = int(rng.integers(m))
        used[i].add(k)
        return float(log_level[i]), k, (1 if rng.random() < 0.5 else -1)

    neuron, sign = _stable_matching(n, next_pref)
    return poly_count(neuron, sign, m)


def _greedy_chunk(n: int, m: int, samples: int, rng: np.random.Generator) -> np.ndarray:
    """``samples`` draws of X at once, for m < n (vectorised over the draws).

    With one magnitude per (feature, neuron) ranked the same way by both sides, the unique
    stable matching is the greedy one: walk the n m cells in decreasing magnitude and put
    feature i in bin (k, sign) when both are still free. For i.i.d. weights that order is
    a uniform random permutation of the cells, each with a fair-coin sign. Bins and
    features never become free again, so a cell whose feature is placed or whose bin is
    held can be dropped unvisited; and the unvisited cells are in uniform random order
    whatever was visited. Each round therefore draws the next cells uniformly among the
    still pending ones (a repeat is a no-op), until no draw has a pending cell. X counts
    the neurons whose two bins are both held.
    """
    negative = rng.random((samples, n, m)) < 0.5
    rows = np.arange(samples)
    free = np.ones((samples, n), dtype=bool)
    full = np.zeros((samples, m, 2), dtype=bool)
    per_round = n + m
    while True:
        open_bin = np.where(negative, ~full[:, None, :, 1], ~full[:, None, :, 0])
        pending = (open_bin & free[:, :, None]).reshape(samples, -1)
        counts = pending.sum(axis=1)
        if not counts.any():
            break
        cells = _uniform_among(pending, counts, per_round, rng)
        active = counts > 0
        for step in range(per_round):
            cell = cells[:, step]
            i, k = cell // m, cell % m
            sg = negative[rows, i, k].astype(np.intp)
            ok = active & free[rows, i] & ~full[rows, k, sg]
            free[rows[ok], i[ok]] = False
            full[rows[ok], k[ok], sg[ok]] = True
    return np.count_nonzero(full.all(axis=2), axis=1).astype(np.int64)


def _uniform_among(pending: np.ndarray, counts: np.ndarray, draws: int,
                   rng: np.random.Generator) -> np.ndarray:
    """`draws` cell indices per row, uniform with replacement among the row's True cells
    (0 for a row without any): ranks drawn per row, located in the running count."""
    samples, cells = pending.shape
    running = np.cumsum(pending.ravel())
    before = running[np.arange(samples) * cells] - pending[:, 0]  # True cells of earlier rows
    rank = (rng.random((samples, draws)) * counts[:, None]).astype(np.int64)
    rank = np.minimum(rank, np.maximum(counts[:, None] - 1, 0)) + 1
    position = np.searchsorted(running, rank + before[:, None], side="left")
    position = np.minimum(position, running.size - 1)
    return np.where(counts[:, None] > 0, position - np.arange(samples)[:, None] * cells, 0)


def _sample_greedy(n: int, m: int, samples: int, seed: int) -> np.ndarray:
    # chunks of at most _CHUNK_CELLS cells bound the memory (about 10 bytes a cell)
    per_chunk = max(1, _CHUNK_CELLS // (n * m))
    sizes = [min(per_chunk, samples - start) for start in range(0, samples, per_chunk)]
    streams = np.random.SeedSequence([seed, n, m]).spawn(len(sizes))
    return np.concatenate([_greedy_chunk(n, m, size, np.random.default_rng(stream))
                           for size, stream in zip(sizes, streams, strict=True)])


def greedy_cost(n: int, m: int, samples: int = DEFAULT_SAMPLES) -> int:
    """Cells the vectorised Monte Carlo (m < n) draws and sorts: samples n m."""
    return samples * n * m


def sample_poly_cascade(n: int, m: int, samples: int = DEFAULT_SAMPLES,
                        seed: int = DEFAULT_SEED) -> np.ndarray:
    """``samples`` independent draws of the polysemantic count X under the cascade model.

    For m >= n, draw s uses ``Generator(PCG64(SeedSequence(seed).spawn(samples)[s]))``
    and the lazy order-statistics process (eq. C4). For m < n (the superposition side,
    where that pure-Python process proposes about n m times per draw and took minutes)
    the draws are vectorised (`_greedy_chunk`, the same law, another random stream:
    chunks of ``SeedSequence([seed, n, m]).spawn(...)``); its cost, samples n m cells
    (`greedy_cost`), must stay within GREEDY_MAX_CELLS (about 30 s).
    docs/theory/cascades.md#monte-carlo
    """
    n, m, samples = _size("n", n), _size("m", m), _size("samples", samples)
    if n > CASCADE_MAX_N:
        raise ValueError(f"n must be <= {CASCADE_MAX_N} for the cascade Monte Carlo; got {n}")
    if m < n:
        if greedy_cost(n, m, samples) > GREEDY_MAX_CELLS:
            raise ValueError(f"n={n}, m={m}, {samples} samples: the cascade Monte Carlo would "
                             f"draw {greedy_cost(n, m, samples):.2g} cells, more than the "
                             f"{GREEDY_MAX_CELLS:.2g} (about 30 s) it accepts")
        return _sample_greedy(n, m, samples, seed)
    seeds = np.random.SeedSequence(seed).spawn(samples)
    return np.array([_sample_one(n, m, np.random.Generator(np.random.PCG64(s))) for s in seeds],
                    dtype=np.int64)


@cache
def cascade_moments(n: int, m: int, samples: int = DEFAULT_SAMPLES,
                    seed: int = DEFAULT_SEED) -> dict[str, float]:
    """Monte Carlo mean and SD of X with their standard errors (eq. C7).

    Returns {"mean", "sd", "se_mean", "se_sd", "samples"}: se_mean = sd/sqrt(N) and
    se_sd = sqrt((mu4/sd^4 - 1)/(4N)) sd (delta method on the sample variance, with
    the sample fourth central moment mu4). n = 2 is returned exactly (eq. C5).
    docs/theory/cascades.md#monte-carlo
    """
    n, m = _size("n", n), _size("m", m)
    if n == 1:
        return {"mean": 0.0, "sd": 0.0, "se_mean": 0.0, "se_sd": 0.0, "samples": 0}
    if n == 2:  # eq. C5: X is Bernoulli(1/(2m))
        p = 1 / (2 * m)
        return {"mean": p, "sd": math.sqrt(p * (1 - p)), "se_mean": 0.0, "se_sd": 0.0,
                "samples": 0}
    x = sample_poly_cascade(n, m, samples, seed).astype(np.float64)
    mean, sd = float(x.mean()), float(x.std(ddof=1))
    mu4 = float(np.mean((x - mean) ** 4))
    kurt = mu4 / sd**4 if sd > 0 else 1.0
    return {
        "mean": mean,
        "sd": sd,
        "se_mean": sd / math.sqrt(samples),
        "se_sd": sd * math.sqrt(max(kurt - 1.0, 0.0) / (4 * samples)),
        "samples": samples,
    }


def expected_poly_cascade(n: int, m: int, samples: int = DEFAULT_SAMPLES,
                          seed: int = DEFAULT_SEED) -> float:
    """E[X] under the cascade model (Monte Carlo, standard error sd/sqrt(samples)).

    docs/theory/cascades.md#monte-carlo
    """
    return cascade_moments(n, m, samples, seed)["mean"]


def sd_poly_cascade(n: int, m: int, samples: int = DEFAULT_SAMPLES,
                    seed: int = DEFAULT_SEED) -> float:
    """SD[X] under the cascade model (Monte Carlo). docs/theory/cascades.md#monte-carlo"""
    return cascade_moments(n, m, samples, seed)["sd"]


def enumerate_poly_cascade(n: int, m: int) -> tuple[Fraction, Fraction]:
    """Exact (E[X], Var X) of the cascade model by enumerating all rankings and signs.

    Every one of the (nm)! orderings of the magnitudes and 2^(nm) sign patterns is
    equally likely for i.i.d. continuous weights with a symmetric law; the process is
    run on each. Feasible for n m <= 6. docs/theory/cascades.md#exact-enumeration
    """
    n, m = _size("n", n), _size("m", m)
    if n * m > 6:
        raise ValueError(f"n*m must be <= 6 for exact enumeration, got n={n}, m={m}")
    cells = n * m
    counts: dict[int, int] = {}
    for ranks in itertools.permutations(range(1, cells + 1)):
        mags = np.array(ranks, dtype=np.float64).reshape(n, m)
        for signs in itertools.product((1.0, -1.0), repeat=cells):
            W = mags * np.array(signs).reshape(n, m)
            x = poly_count(*cascade_assignment(W), m)
            counts[x] = counts.get(x, 0) + 1
    total = sum(counts.values())
    mean = Fraction(sum(x * c for x, c in counts.items()), total)
    second = Fraction(sum(x * x * c for x, c in counts.items()), total)
    return mean, second - mean**2


def _cascade_regime(n: int, m: int) -> bool:
    """Whether (n, m) is where the cascade model beats the sign-bin model."""
    n, m = _size("n", n), _size("m", m)
    return m < BEST_SWITCH_RATIO * n or (n >= LARGE_N and m <= LARGE_N_SWITCH_RATIO * n)


def _cascade_is_best(n: int, m: int) -> bool:
    return _cascade_regime(n, m) and _cascade_affordable(n, m)


def _cascade_affordable(n: int, m: int) -> bool:
    return n <= CASCADE_MAX_N and (m >= n or greedy_cost(n, m) <= GREEDY_MAX_CELLS)


def best_model_name(n: int, m: int) -> str:
    """Name of the model behind expected_poly_best(n, m). docs/theory/cascades.md#verdict"""
    if _cascade_is_best(n, m):
        return MODEL_NAME
    if _cascade_regime(n, m):
        why = (f"n > {CASCADE_MAX_N}" if n > CASCADE_MAX_N else
               f"m < n with samples n m > {GREEDY_MAX_CELLS:.2g} cells")
        return f"{SIGN_BIN_NAME}; the cascade model is not computed for {why}"
    return SIGN_BIN_NAME


def expected_poly_best(n: int, m: int) -> float:
    """The project's best prediction of E[X]: the cascade model for m < 1.5 n, and for
    m <= 2 n when n >= 256 (n <= CASCADE_MAX_N), the exact sign-bin model otherwise.
    docs/theory/cascades.md#verdict
    """
    if _cascade_is_best(n, m):
        return expected_poly_cascade(n, m)
    return float(expected_poly_exact(n, m))


def sd_poly_best(n: int, m: int) -> float:
    """SD[X] of the model behind expected_poly_best. docs/theory/cascades.md#verdict"""
    if _cascade_is_best(n, m):
        return sd_poly_cascade(n, m)
    return float(sd_poly_exact(n, m))


def best_moments(n: int, m: int) -> dict:
    """Mean, SD and Monte Carlo standard error of the best model, and its name.

    Returns {"mean", "sd", "se_mean", "model"}; se_mean is 0 for the exact sign-bin
    model and eq. C7's sd/sqrt(N) for the cascade model, to be added in quadrature to
    a simulation's standard error in a z. docs/theory/cascades.md#verdict
    """
    if _cascade_is_best(n, m):
        moments = cascade_moments(n, m)
        return {"mean": moments["mean"], "sd": moments["sd"], "se_mean": moments["se_mean"],
                "model": MODEL_NAME}
    return {"mean": float(expected_poly_exact(n, m)), "sd": float(sd_poly_exact(n, m)),
            "se_mean": 0.0, "model": best_model_name(n, m)}
