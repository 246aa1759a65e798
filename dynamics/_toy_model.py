"""The tied ReLU autoencoder: loss, gradient, unit conversions, and plain-numpy update rules.

Single instance, ``W`` of shape ``(n, m)`` (row ``W_i`` encodes feature ``i``). The
inputs are the ``n`` one-hot vectors, the output for input ``e_i`` is
``ReLU(W W^T e_i)``, and the loss, in the *code units* of the authors' code
(docs/paper.md#loss), is

    L(W) = sum_ij (ReLU(G_ij) - delta_ij)^2 + lam * ||W||_1,      G = W W^T.      (T1)

Its smooth part has gradient ``4 R W`` with ``R_ij = (ReLU(G_ij) - delta_ij) 1[G_ij > 0]``
(eq. T2 of ``docs/dynamics/training.md#gradient``).

This module is the readable reference: the numba kernels in ``_training_kernels.py``
implement the same maths and are tested against these functions step by step. It is
written for clarity, not speed (every step is two dense ``n x n x m`` products).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "FLOW_TIME_PER_LR_STEP",
    "adamw_step_reference",
    "gd_step_reference",
    "lam_from_normalized",
    "lam_to_normalized",
    "loss",
    "minibatch_gradient",
    "prox_gd_step_reference",
    "prox_gradient_mapping",
    "residual_matrix",
    "sgd_step_reference",
    "smooth_gradient",
    "smooth_loss",
    "soft_threshold",
    "steps_to_normalized_time",
]


# ----------------------------------------------------------------------------- units
# The code loss' gradient is 4x the normalized flow's (eq. T4, docs/paper.md#normalized-units):
# one GD step of size lr advances normalized time tau by 4 lr, and lam_code = 4 lam~.
# Every conversion between the two unit systems uses this one constant.
FLOW_TIME_PER_LR_STEP = 4.0


def lam_to_normalized(lam_code: float) -> float:
    """Code-unit L1 strength -> the normalized ``lam~ = lam / 4`` of
    docs/paper.md#normalized-units (eq. T4)."""
    return lam_code / FLOW_TIME_PER_LR_STEP


def lam_from_normalized(lam_normalized: float) -> float:
    """Normalized ``lam~``
    (docs/paper.md#normalized-units) -> code units, ``lam = 4 lam~`` (eq. T4)."""
    return FLOW_TIME_PER_LR_STEP * lam_normalized


def steps_to_normalized_time(steps: float, lr: float) -> float:
    """Normalized time ``tau = 4 lr steps`` reached by ``steps`` GD steps of size ``lr`` (T4)."""
    return FLOW_TIME_PER_LR_STEP * lr * steps


# ----------------------------------------------------------------------------- loss
def residual_matrix(G: np.ndarray) -> np.ndarray:
    """``R_ij = (ReLU(G_ij) - delta_ij) * 1[G_ij > 0]`` (eq. T2); symmetric when G is."""
    n = G.shape[0]
    return np.where(G > 0.0, G - np.eye(n), 0.0)


def smooth_loss(W: np.ndarray) -> float:
    """``sum_ij (ReLU(<W_i, W_j>) - delta_ij)^2``: the summed squared error of (T1)."""
    G = W @ W.T
    return float(np.sum((np.maximum(G, 0.0) - np.eye(W.shape[0])) ** 2))


def loss(W: np.ndarray, lam: float) -> float:
    """The full code-unit loss (T1): summed squared error plus ``lam * ||W||_1``."""
    return smooth_loss(W) + lam * float(np.sum(np.abs(W)))


def smooth_gradient(W: np.ndarray) -> np.ndarray:
    """Gradient of the summed squared error, ``4 R W`` (eq. T2)."""
    return 4.0 * residual_matrix(W @ W.T) @ W


def minibatch_gradient(W: np.ndarray, batch: np.ndarray) -> np.ndarray:
    """Unbiased minibatch gradient ``(2 n / b) (D R + R D) W`` for the inputs in ``batch`` (T3).

    ``D`` is the 0/1 diagonal indicator of the ``b`` input indices in ``batch``. With
    the full batch this is ``4 R W``.
    """
    n = W.shape[0]
    d = np.zeros(n)
    d[np.asarray(batch)] = 1.0
    R = residual_matrix(W @ W.T)
    return (2.0 * n / len(batch)) * (d[:, None] * (R @ W) + R @ (d[:, None] * W))


def soft_threshold(X: np.ndarray, threshold: float) -> np.ndarray:
    """Proximal map of ``threshold * ||.||_1``: ``sign(X) * max(|X| - threshold, 0)``."""
    return np.sign(X) * np.maximum(np.abs(X) - threshold, 0.0)


def prox_gradient_mapping(W: np.ndarray, grad: np.ndarray, lr: float, lam: float) -> np.ndarray:
    """``(W - soft(W - lr grad, lr lam)) / lr``: zero exactly at stationary points (T6)."""
    return (W - soft_threshold(W - lr * grad, lr * lam)) / lr


# ----------------------------------------------------------------------------- updates
def prox_gd_step_reference(W: np.ndarray, lr: float, lam: float) -> np.ndarray:
    """One proximal-gradient step (T5a): ``soft(W - lr 4RW, lr lam)``."""
    return soft_threshold(W - lr * smooth_gradient(W), lr * lam)


def gd_step_reference(W: np.ndarray, lr: float, lam: float) -> np.ndarray:
    """One subgradient step (T5b) with ``sign(0) = 0`` as in PyTorch."""
    return W - lr * (smooth_gradient(W) + lam * np.sign(W))


def sgd_step_reference(W: np.ndarray, lr: float, lam: float, batch: np.ndarray) -> np.ndarray:
    """One minibatch subgradient step (T5c) on the inputs ``batch`` (unbiased scaling, T3)."""
    return W - lr * (minibatch_gradient(W, batch) + lam * np.sign(W))


def adamw_step_reference(
    W: np.ndarray,
    exp_avg: np.ndarray,
    exp_avg_sq: np.ndarray,
    step: int,
    lr: float,
    lam: float,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.01,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One AdamW step, a transcription of the algorithm in PyTorch's ``torch.optim.AdamW`` docs.

    ``step`` is the 1-based index of this step. The gradient is that of (T1) with
    ``sign(0) = 0``, as autograd gives for ``torch.norm(W, p=1)``. Returns the new
    ``(W, exp_avg, exp_avg_sq)``; the inputs are not modified. (T5d)

        theta <- theta - lr * weight_decay * theta                (decoupled decay)
        m     <- beta1 m + (1 - beta1) g
        v     <- beta2 v + (1 - beta2) g^2
        m_hat  = m / (1 - beta1^t),   v_hat = v / (1 - beta2^t)
        theta <- theta - lr * m_hat / (sqrt(v_hat) + eps)
    """
    beta1, beta2 = betas
    g = smooth_gradient(W) + lam * np.sign(W)
    theta = W - lr * weight_decay * W
    m = beta1 * exp_avg + (1.0 - beta1) * g
    v = beta2 * exp_avg_sq + (1.0 - beta2) * g * g
    m_hat = m / (1.0 - beta1**step)
    v_hat = v / (1.0 - beta2**step)
    theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps)
    return theta, m, v


def noisy_gd_steps_reference(W: np.ndarray, xi: np.ndarray, lr: float,
                             lam: float = 0.0) -> np.ndarray:
    """GD steps with hidden-layer noise (docs/theory/noise.md#setup), plain numpy, batched.

    W: (I, n, m); xi: (S, K, Ix, nx, m) with Ix in {1, I}, nx in {1, n} (broadcast). Step s
    averages the gradient of sum_ij (ReLU(<h_i, W_j>) - delta_ij)^2, h_i = W_i + xi_i, over
    the K draws, and adds lam * sign(W). The oracle of ``noisy_gd_step``.
    """
    W = np.array(W, dtype=np.float64, copy=True)
    n = W.shape[1]
    eye = np.eye(n)
    for step in range(xi.shape[0]):
        grad = np.zeros_like(W)
        for k in range(xi.shape[1]):
            H = W + xi[step, k]
            P = np.einsum("aim,ajm->aij", H, W)  # P_ij = <h_i, W_j>
            R = np.where(P > 0, 2.0 * (P - eye), 0.0)
            grad += np.einsum("aij,aim->ajm", R, H) + np.einsum("aij,ajm->aim", R, W)
        W = W - lr / xi.shape[1] * grad - lr * lam * np.sign(W)
    return W

