"""Measurements on hand-built weight matrices whose answers are known exactly."""

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dynamics._measurements import (
    Measurement,
    assign_features,
    count_polysemantic_assignment,
    count_polysemantic_window,
    features_represented,
    fourth_norms,
    init_final_correlation,
    max_positive_overlap,
    mean_offdiagonal_overlap,
    measure,
    polysemantic_neurons,
    winner_is_init_argmax,
)
from tests.helpers import rng

# Hand-built matrices are sums/products of a handful of exact binary fractions, so
# every reduction below is exact in float64 except the Gram products with 0.9/1.1;
# for those one product plus one sum each round once: relative error <= 2 eps.
EXACT_RTOL = 4 * np.finfo(float).eps


def _solution():
    """n=5, m=4: neuron 0 holds features 0 (+) and 1 (-); neuron 2 holds 2 (+) and 3 (+)
    at 0.9 and 0.6 (a same-sign pair, only one inside the window); feature 4 is dead."""
    W = np.zeros((5, 4))
    W[0, 0] = 1.0
    W[1, 0] = -1.1
    W[2, 2] = 0.9
    W[3, 2] = 0.6
    W[3, 1] = 0.25
    return W


def test_assign_features_and_dead_rows():
    neuron, sign = assign_features(_solution())
    np.testing.assert_array_equal(neuron, [0, 0, 2, 2, -1])
    np.testing.assert_array_equal(sign, [1, -1, 1, 1, 0])


def test_counting_rules_differ_as_documented():
    W = _solution()
    # window: neuron 0 has two hits (1.0, 1.1); neuron 2 has only 0.9 (0.6 is outside)
    assert count_polysemantic_window(W) == 1
    # assignment: neurons 0 and 2 each dominate two features
    assert count_polysemantic_assignment(W) == 2
    assert polysemantic_neurons(W) == [(0, 1, 1), (2, 2, 0)]
    # window edges are inclusive
    assert count_polysemantic_window(W, low=0.6, high=1.1) == 2
    with pytest.raises(ValueError, match="low"):
        count_polysemantic_window(W, low=1.3, high=1.2)


def test_overlaps_fourth_norms_representation():
    W = _solution()
    # the only positive pair is (2, 3): 0.9 * 0.6
    assert max_positive_overlap(W) == pytest.approx(0.54, rel=EXACT_RTOL)
    G = W @ W.T
    expected_mean = (G.sum() - np.trace(G)) / 20
    assert mean_offdiagonal_overlap(W) == pytest.approx(expected_mean, rel=EXACT_RTOL)
    np.testing.assert_allclose(
        fourth_norms(W), [1.0, 1.1**4, 0.9**4, 0.6**4 + 0.25**4, 0.0], rtol=EXACT_RTOL
    )
    assert features_represented(W) == 4
    assert features_represented(W, threshold=0.95) == 2
    assert max_positive_overlap(-np.eye(3)) == 0.0
    assert max_positive_overlap(np.ones((1, 3))) == 0.0


def test_winner_and_correlation():
    W = _solution()
    W0 = np.zeros_like(W)
    W0[:, 0] = 0.5  # every feature starts with neuron 0 as argmax
    W0[2, 2] = 0.7  # except feature 2
    # matches: features 0, 1 (neuron 0) and 2 (neuron 2); 3 moved; 4 is dead
    assert winner_is_init_argmax(W0, W) == pytest.approx(3 / 5, rel=EXACT_RTOL)
    np.testing.assert_array_equal(init_final_correlation(W0, W), W0 @ W.T)
    with pytest.raises(ValueError, match="same shape"):
        init_final_correlation(W0[:, :3], W)


def test_measure_bundle_is_json_able():
    W = _solution()
    W0 = rng(0).normal(size=W.shape)
    meas = measure(W0, W)
    assert isinstance(meas, Measurement)
    assert meas.opposite_sign_pairs == 1
    assert meas.nonzeros == 5
    d = json.loads(json.dumps(meas.to_dict()))
    assert d["composition"] == [[0, 1, 1], [2, 2, 0]]
    assert d["window_count"] == 1 and d["assignment_count"] == 2


def test_opposite_sign_pairs_are_exactly_one_plus_one_minus():
    """Measurement.opposite_sign_pairs counts neurons of composition exactly (1, 1): a neuron
    with a third feature, or two of one sign, is polysemantic but not a benign pair."""
    W = np.zeros((7, 3))
    W[0, 0], W[1, 0] = 1.0, -1.0  # (1, 1): the benign pair of docs/paper.md#benign-collisions
    W[2, 1], W[3, 1], W[4, 1] = 1.0, 0.9, -1.0  # (2, 1)
    W[5, 2], W[6, 2] = 1.0, 0.9  # (2, 0)
    meas = measure(W, W)
    assert meas.composition == ((0, 1, 1), (1, 2, 1), (2, 2, 0))
    assert meas.opposite_sign_pairs == 1


def test_bad_input():
    with pytest.raises(ValueError, match="shape"):
        assign_features(np.zeros(3))
    with pytest.raises(ValueError, match="finite"):
        fourth_norms(np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError, match="threshold"):
        features_represented(np.eye(2), threshold=-1.0)


@given(n=st.integers(1, 12), m=st.integers(1, 12), seed=st.integers(0, 2**32 - 1))
def test_signed_permutation_is_monosemantic(n, m, seed):
    """A signed partial permutation (each feature on its own neuron) is never polysemantic,
    and the counts are invariant to flipping signs and permuting neurons."""
    g = rng(seed)
    k = min(n, m)
    W = np.zeros((n, m))
    cols = g.permutation(m)[:k]
    W[np.arange(k), cols] = g.choice([-1.0, 1.0], size=k)
    assert count_polysemantic_window(W) == 0
    assert count_polysemantic_assignment(W) == 0
    assert max_positive_overlap(W) == 0.0
    # with a random dense perturbation the counts are invariant under the symmetry
    V = g.normal(size=(n, m))
    P = g.permutation(m)
    S = g.choice([-1.0, 1.0], size=m)
    VP = V[:, P] * S
    assert count_polysemantic_assignment(VP) == count_polysemantic_assignment(V)
    assert count_polysemantic_window(VP) == count_polysemantic_window(V)
    assert sorted(n_p + n_q for _, n_p, n_q in polysemantic_neurons(VP)) == sorted(
        n_p + n_q for _, n_p, n_q in polysemantic_neurons(V)
    )
