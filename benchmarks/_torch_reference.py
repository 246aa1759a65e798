"""Plain-PyTorch training written the way the authors did (benchmark baseline only).

Identity batch expanded over instances, hidden = batch @ W through einsum, output =
ReLU(hidden @ W^T), loss = sum-MSE + lam * ||W||_1 via ``torch.norm(W, p=1)``, autograd,
and a torch optimizer (``AdamW``) -- as in the authors' ``train_autoencoder``
(docs/paper.md#loss, docs/paper.md#optimizers). Proximal GD, which the authors did not use, is
written the same way: ``SGD`` on the summed squared error, then soft-thresholding under ``no_grad``.

Only ``benchmarks/`` imports torch; it is never a runtime dependency.
"""

from __future__ import annotations

import numpy as np
import torch


class TorchTrainer:
    """Holds W (instances, n, m) as a float64 torch parameter and steps it."""

    def __init__(self, W0: np.ndarray, optimizer: str, lr: float, lam: float):
        self.W = torch.nn.Parameter(torch.tensor(W0, dtype=torch.float64))
        n_inst, n, _ = W0.shape
        self.batch = torch.eye(n, dtype=torch.float64).expand(n_inst, n, n)
        self.lam = lam
        self.lr = lr
        self.prox = optimizer == "prox-gd"
        if optimizer == "adamw":
            self.opt = torch.optim.AdamW([self.W], lr=lr)
        elif self.prox:
            self.opt = torch.optim.SGD([self.W], lr=lr)
        else:
            raise ValueError(f"unsupported optimizer {optimizer!r}")

    def step(self) -> None:
        self.opt.zero_grad()
        hidden = torch.einsum("ibf,ifh->ibh", self.batch, self.W)
        out = torch.relu(torch.einsum("ibh,ifh->ibf", hidden, self.W))
        loss = torch.nn.functional.mse_loss(out, self.batch, reduction="sum")
        if not self.prox:
            loss = loss + self.lam * torch.norm(self.W, p=1)
        loss.backward()
        self.opt.step()
        if self.prox:
            with torch.no_grad():
                thr = self.lr * self.lam
                self.W.copy_(torch.sign(self.W) * torch.clamp(self.W.abs() - thr, min=0.0))

    def weights(self) -> np.ndarray:
        return self.W.detach().numpy().copy()
