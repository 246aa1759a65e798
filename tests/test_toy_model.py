"""The numpy oracle of the toy model: gradient (T2) vs finite differences, unit conversion (T4),
the minibatch gradient (T3) and the soft-threshold. The AdamW transcription is checked against
a committed PyTorch trajectory in tests/test_adamw_fixture.py."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dynamics._toy_model import (
    lam_from_normalized,
    lam_to_normalized,
    loss,
    minibatch_gradient,
    residual_matrix,
    smooth_gradient,
    smooth_loss,
    soft_threshold,
    steps_to_normalized_time,
)
from tests.helpers import rng

U = np.finfo(float).eps / 2  # unit roundoff of float64


def gamma(k):
    """Higham's gamma_k = k u / (1 - k u): relative error bound of a k-term float sum/dot."""
    return k * U / (1 - k * U)


def _weights(seed, n, m):
    return rng(seed).normal(0.0, 1.0 / np.sqrt(m), size=(n, m))


@pytest.mark.parametrize("seed,n,m", [(0, 5, 7), (1, 8, 20), (2, 12, 12)])
def test_gradient_matches_central_differences(seed, n, m):
    W = _weights(seed, n, m)
    G = W @ W.T
    # keep every off-diagonal G_ij away from the ReLU kink: a step h in one weight moves
    # G_ij by at most h |W_jk| <= h, so |G_ij| > 1e-3 >> h keeps each ReLU on one side
    off = np.abs(G[~np.eye(n, dtype=bool)])
    assert off.min() > 1e-3, "pick another seed: a pair sits on the ReLU kink"
    h = 1e-5
    grad = smooth_gradient(W)
    fd = np.empty_like(W)
    for i in range(n):
        for k in range(m):
            Wp, Wm = W.copy(), W.copy()
            Wp[i, k] += h
            Wm[i, k] -= h
            fd[i, k] = (smooth_loss(Wp) - smooth_loss(Wm)) / (2 * h)
    # Truncation: along one coordinate the loss is a quartic whose only t^4, t^3 terms come
    # from (G_ii - 1)^2 = (t^2 + 2 W_ik t + a)^2, so f''' = 24 W_ik and the central
    # difference is off by exactly h^2 f'''/6 = 4 h^2 W_ik (no higher odd terms).
    truncation = 4 * h**2 * np.abs(W)
    # Rounding: each loss is a sum of n^2 squares of G entries, each G a dot of m terms;
    # its absolute error is <= gamma(m + n^2 + 3) * F_abs with F_abs = sum (|G| + 1)^2,
    # and the difference quotient divides two such errors by 2h.
    F_abs = float(np.sum((np.abs(G) + 1.0) ** 2))
    rounding = 2 * gamma(m + n * n + 3) * F_abs / (2 * h)
    err = np.abs(fd - grad)
    assert np.all(err <= truncation + rounding), (err.max(), rounding)
    # the exact truncation term is known, so removing it leaves only rounding
    assert np.all(np.abs(fd - 4 * h**2 * W - grad) <= rounding)


def test_normalized_force_is_paper_section_2_2():
    """-(1/4) dL/dW_i = (1 - |W_i|^2) W_i - sum_{j != i} ReLU(<W_i, W_j>) W_j - lam~ sign(W_i)."""
    W = _weights(3, 6, 9)
    lam = 0.02
    lam_t = lam_to_normalized(lam)
    G = W @ W.T
    force = np.empty_like(W)
    for i in range(6):
        interference = sum(max(G[i, j], 0.0) * W[j] for j in range(6) if j != i)
        force[i] = (1 - G[i, i]) * W[i] - interference - lam_t * np.sign(W[i])
    full = smooth_gradient(W) + lam * np.sign(W)
    # both sides are sums of <= n + 2 rounded products of O(1) terms
    np.testing.assert_allclose(-full / 4, force, rtol=0, atol=gamma(9 + 6 + 4) * 8)
    assert lam_from_normalized(lam_t) == lam
    assert steps_to_normalized_time(100, 0.05) == pytest.approx(20.0, rel=4 * U)


def test_minibatch_gradient_is_unbiased_and_full_batch_exact():
    W = _weights(4, 6, 10)
    full = smooth_gradient(W)
    # b = n: (2n/n)(RW + RW) is an exact doubling of the same product: bitwise equal
    np.testing.assert_array_equal(minibatch_gradient(W, np.arange(6)), full)
    # averaging over the batches of a partition of the inputs gives the full gradient:
    # sum_B (2n/b)(D_B R + R D_B) W / (n/b) = 2(R + R)W. Each side sums n-term products of
    # O(|R||W|) size, so the difference is <= gamma(2n + 4) * 4 * (|R| |W|) entrywise.
    perm = rng(5).permutation(6)
    mean = sum(minibatch_gradient(W, perm[i : i + 2]) for i in range(0, 6, 2)) / 3
    R = residual_matrix(W @ W.T)
    bound = gamma(2 * 6 + 4) * 4 * (np.abs(R) @ np.abs(W)) * 3
    assert np.all(np.abs(mean - full) <= bound)


def test_loss_of_exact_solution_is_l1_only():
    W = np.zeros((3, 5))
    W[0, 1], W[1, 1], W[2, 4] = 1.0, -1.0, 1.0  # opposite-sign pair on neuron 1
    assert smooth_loss(W) == 0.0
    assert loss(W, 0.25) == 0.75
    np.testing.assert_array_equal(smooth_gradient(W), np.zeros_like(W))


@given(x=st.floats(-10, 10), t=st.floats(0, 5))
def test_soft_threshold_is_l1_prox(x, t):
    """soft(x, t) minimises 0.5 (y - x)^2 + t |y|: its subgradient condition holds exactly."""
    y = float(soft_threshold(np.array([x]), t)[0])
    if y != 0.0:
        assert y - x + t * np.sign(y) == pytest.approx(0.0, abs=4 * U * (abs(x) + t))
    else:
        assert abs(x) <= t


# The AdamW transcription is compared with real torch.optim.AdamW trajectories, without torch
# at test time, in tests/test_adamw_fixture.py (fixture written by
# benchmarks/make_adamw_fixture.py).
