"""The authors' PyTorch training step for the paper's AdamW runs (benchmark baseline only).

Follows github.com/kushalthaman/polysemanticity (commit b1ad7ed), written in our own words:

- ``project-code/models/autoencoder.py``: ``AutoEncoder`` with ``tied_weights=True`` and
  ``nonlinearity=True`` (one float32 parameter ``W`` of shape (n_instances, n_features,
  n_hidden)), its ``generate_batch`` (``torch.eye(n_features)`` expanded over instances),
  its ``forward`` (``hidden = einsum("...ibf, ifh -> ...ibh", batch, W)``, plus a zero noise
  vector of shape (n_hidden,) when ``noise`` is ``NoiseOptions.NONE``, then ``output =
  relu(einsum("...ibh, ifh -> ...ibf", hidden, W))``) and ``train_autoencoder`` (per step:
  ``zero_grad``; ``loss = F.mse_loss(output, batch, reduction='sum')``; ``loss += l1 *
  torch.norm(W, p=1)``; ``backward``; ``step``).
- ``project-code/experiments/collisions.py`` (also ``correlations.py``, ``all_curves.py``):
  ``optimizer=torch.optim.AdamW`` with ``optimizer_kwargs={"lr": lr}`` only, so PyTorch's
  default weight_decay 0.01, betas (0.9, 0.999) and eps 1e-8; defaults lr = l1 = 1e-3,
  n_instances 16, n_features 256, 7500 steps, device "cpu".

Deviations: W starts from the given W0 (cast to float32) instead of torch's own
N(0, 1/n_hidden) draw, so that every implementation starts from the same weights; the
``...`` of the einsum strings is dropped (the batch has no leading dimensions, so the
products are the same); no tqdm bar, no loss print every 1000 steps and no fourth-moment
recording (``moments=None`` in their AdamW experiments). The zero noise vector is kept
(allocated each step, as theirs is) because it is part of the work their step does.

Only ``benchmarks/`` imports torch; it is never a runtime dependency.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


class AuthorsAdamW:
    """W (instances, n_features, n_hidden) as a float32 parameter, stepped as the authors did."""

    def __init__(self, W0: np.ndarray, lr: float = 1e-3, lam: float = 1e-3):
        self.W = torch.nn.Parameter(torch.tensor(W0, dtype=torch.float32))
        n_inst, n, self.m = W0.shape
        self.batch = torch.eye(n).expand(n_inst, -1, -1)
        self.lam = lam
        self.opt = torch.optim.AdamW([self.W], lr=lr)  # default weight_decay (0.01)

    def step(self) -> None:
        self.opt.zero_grad()
        hidden = torch.einsum("ibf,ifh->ibh", self.batch, self.W)
        hidden = hidden + torch.zeros(self.m)  # their NoiseOptions.NONE branch
        out = F.relu(torch.einsum("ibh,ifh->ibf", hidden, self.W))
        loss = F.mse_loss(out, self.batch, reduction="sum")
        loss = loss + self.lam * torch.norm(self.W, p=1)
        loss.backward()
        self.opt.step()

    def weights(self) -> np.ndarray:
        return self.W.detach().numpy().copy()
