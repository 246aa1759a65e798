"""Measurements on trained weights of the tied ReLU autoencoder (single instance).

Every function takes one instance's weights ``W`` of shape ``(n, m)`` (row ``W[i]`` is
the encoding of feature ``i`` in the ``m`` neurons, docs/paper.md#architecture) and, where the
initial weights matter, ``W0`` of the same shape. Pure numpy; no numba, no state.
For a batch of shape ``(instances, n, m)`` call them once per instance.

The counting rules and their caveats are in ``docs/dynamics/training.md#measurements``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

__all__ = [
    "Measurement",
    "assign_features",
    "count_polysemantic_assignment",
    "count_polysemantic_window",
    "features_represented",
    "fourth_norms",
    "init_final_correlation",
    "max_positive_overlap",
    "mean_offdiagonal_overlap",
    "measure",
    "polysemantic_neurons",
    "winner_is_init_argmax",
]


def _as_weights(W, name: str = "W") -> np.ndarray:
    """Validate one instance's weights: a finite float64 array of shape (n, m), n, m >= 1."""
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2 or W.shape[0] < 1 or W.shape[1] < 1:
        raise ValueError(f"{name} must have shape (n, m) with n, m >= 1; got shape {W.shape}")
    if not np.all(np.isfinite(W)):
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return W


def _as_pair(W0, W) -> tuple[np.ndarray, np.ndarray]:
    W0, W = _as_weights(W0, "W0"), _as_weights(W, "W")
    if W0.shape != W.shape:
        raise ValueError(f"W0 and W must have the same shape; got {W0.shape} and {W.shape}")
    return W0, W


def assign_features(W) -> tuple[np.ndarray, np.ndarray]:
    """Each feature's dominant neuron ``argmax_k |W_ik|`` and the sign of that weight.

    Returns ``(neuron, sign)``, two int arrays of shape ``(n,)``. Ties go to the lowest
    neuron index (``np.argmax``). A feature whose row is entirely zero has no dominant
    neuron: it gets ``neuron = -1`` and ``sign = 0``; every other feature has
    ``sign`` in ``{+1, -1}``.
    """
    W = _as_weights(W)
    absW = np.abs(W)
    neuron = np.argmax(absW, axis=1).astype(np.int64)
    rows = np.arange(W.shape[0])
    value = W[rows, neuron]
    sign = np.where(value > 0, 1, -1).astype(np.int64)
    dead = absW[rows, neuron] == 0.0
    neuron[dead] = -1
    sign[dead] = 0
    return neuron, sign


def count_polysemantic_window(W, low: float = 0.8, high: float = 1.2) -> int:
    """Neurons with at least two weights ``low <= |W_ik| <= high`` (docs/paper.md#counting-rule).

    This is the rule of the authors' code: a "hit" is a weight inside the window, and
    a neuron is polysemantic when it has ``>= 2`` hits (``per_neuron > 1.1``). It
    assumes trained weights are near ``+-1`` and under-counts otherwise.
    """
    W = _as_weights(W)
    if not (np.isfinite(low) and np.isfinite(high) and 0.0 <= low <= high):
        raise ValueError(f"window must satisfy 0 <= low <= high < inf; got low={low}, high={high}")
    absW = np.abs(W)
    hits = (absW >= low) & (absW <= high)
    return int(np.count_nonzero(hits.sum(axis=0) >= 2))


def _feature_counts(neuron: np.ndarray, m: int) -> np.ndarray:
    alive = neuron >= 0
    return np.bincount(neuron[alive], minlength=m)


def count_polysemantic_assignment(W) -> int:
    """Neurons that are the dominant neuron (``assign_features``) of ``>= 2`` features.

    Unlike the window rule this does not assume ``|w| ~ 1``. All-zero features are
    not assigned to any neuron.
    """
    W = _as_weights(W)
    neuron, _ = assign_features(W)
    return int(np.count_nonzero(_feature_counts(neuron, W.shape[1]) >= 2))


def polysemantic_neurons(W) -> list[tuple[int, int, int]]:
    """``(neuron, n_positive, n_negative)`` for every neuron dominating ``>= 2`` features.

    Signs are those of ``assign_features``. Sorted by neuron index. In a converged L1
    solution every entry should be ``(k, 1, 1)`` (docs/paper.md#benign-collisions).
    """
    W = _as_weights(W)
    neuron, sign = assign_features(W)
    m = W.shape[1]
    alive = neuron >= 0
    pos = np.bincount(neuron[alive & (sign > 0)], minlength=m)
    neg = np.bincount(neuron[alive & (sign < 0)], minlength=m)
    poly = np.flatnonzero(pos + neg >= 2)
    return [(int(k), int(pos[k]), int(neg[k])) for k in poly]


def winner_is_init_argmax(W0, W) -> float:
    """Fraction of features whose final dominant neuron is ``argmax_k |W0_ik|``
    (docs/paper.md#winner-argmax).

    The denominator is ``n`` (all features); an all-zero final row never counts as a match.
    """
    W0, W = _as_pair(W0, W)
    final, _ = assign_features(W)
    initial = np.argmax(np.abs(W0), axis=1)
    return float(np.mean(final == initial))


def fourth_norms(W) -> np.ndarray:
    """Per-feature ``sum_k W_ik^4``, shape (n,): the 4th power of the l4 norm
    (docs/paper.md#fourth-norm)."""
    W = _as_weights(W)
    return np.sum(W**4, axis=1)


def _offdiagonal_gram(W: np.ndarray) -> np.ndarray:
    G = W @ W.T
    return G[~np.eye(W.shape[0], dtype=bool)]


def max_positive_overlap(W) -> float:
    """Largest positive off-diagonal ``<W_i, W_j>``; ``0.0`` if none is positive (or n = 1)."""
    W = _as_weights(W)
    off = _offdiagonal_gram(W)
    if off.size == 0:
        return 0.0
    return float(max(0.0, off.max()))


def mean_offdiagonal_overlap(W) -> float:
    """Mean of ``<W_i, W_j>`` over ordered pairs ``i != j``; ``0.0`` when n = 1."""
    W = _as_weights(W)
    off = _offdiagonal_gram(W)
    return float(off.mean()) if off.size else 0.0


def features_represented(W, threshold: float = 0.5) -> int:
    """Number of features with ``max_k |W_ik| >= threshold``."""
    W = _as_weights(W)
    if not (np.isfinite(threshold) and threshold >= 0.0):
        raise ValueError(f"threshold must be finite and >= 0; got {threshold}")
    return int(np.count_nonzero(np.max(np.abs(W), axis=1) >= threshold))


def init_final_correlation(W0, W) -> np.ndarray:
    """``W0 @ W.T``, shape (n, n): entry (i, j) = <initial row i, final row j> (E4,
    docs/paper.md#experiments)."""
    W0, W = _as_pair(W0, W)
    return W0 @ W.T


@dataclass(frozen=True)
class Measurement:
    """Scalar summary of one trained instance; every field is a plain Python value.

    Fields:
        n, m: number of features and of neurons.
        window_count: ``count_polysemantic_window`` with the paper's window [0.8, 1.2].
        assignment_count: ``count_polysemantic_assignment``.
        composition: ``polysemantic_neurons`` as a tuple of ``(neuron, n_pos, n_neg)``.
        opposite_sign_pairs: polysemantic neurons whose composition is exactly ``(1, 1)``.
        winner_is_init_argmax: ``winner_is_init_argmax(W0, W)``.
        features_represented: ``features_represented(W, 0.5)``.
        max_positive_overlap, mean_offdiagonal_overlap: as the functions of those names.
        mean_fourth_norm: mean over features of ``fourth_norms(W)``.
        nonzeros: number of exactly nonzero weights.
    """

    n: int
    m: int
    window_count: int
    assignment_count: int
    composition: tuple[tuple[int, int, int], ...]
    opposite_sign_pairs: int
    winner_is_init_argmax: float
    features_represented: int
    max_positive_overlap: float
    mean_offdiagonal_overlap: float
    mean_fourth_norm: float
    nonzeros: int

    def to_dict(self) -> dict:
        """JSON-able dict (composition becomes a list of 3-element lists)."""
        d = asdict(self)
        d["composition"] = [list(c) for c in self.composition]
        return d


def measure(W0, W) -> Measurement:
    """Bundle every scalar measurement of one trained instance (see ``Measurement``)."""
    W0, W = _as_pair(W0, W)
    composition = tuple(polysemantic_neurons(W))
    return Measurement(
        n=int(W.shape[0]),
        m=int(W.shape[1]),
        window_count=count_polysemantic_window(W),
        assignment_count=count_polysemantic_assignment(W),
        composition=composition,
        opposite_sign_pairs=sum(1 for _, p, q in composition if p == 1 and q == 1),
        winner_is_init_argmax=winner_is_init_argmax(W0, W),
        features_represented=features_represented(W),
        max_positive_overlap=max_positive_overlap(W),
        mean_offdiagonal_overlap=mean_offdiagonal_overlap(W),
        mean_fourth_norm=float(np.mean(fourth_norms(W))),
        nonzeros=int(np.count_nonzero(W)),
    )
