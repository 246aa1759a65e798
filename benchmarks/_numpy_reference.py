"""Plain-numpy training loop (benchmark baseline): one Python iteration per step, the
reference update rules of ``dynamics._toy_model`` applied instance by instance."""

from __future__ import annotations

import numpy as np

from dynamics._toy_model import adamw_step_reference, prox_gd_step_reference


class NumpyTrainer:
    def __init__(self, W0: np.ndarray, optimizer: str, lr: float, lam: float):
        self.W = np.array(W0, dtype=np.float64)
        self.optimizer, self.lr, self.lam = optimizer, lr, lam
        self.m1 = np.zeros_like(self.W)
        self.m2 = np.zeros_like(self.W)
        self.t = 0

    def step(self) -> None:
        self.t += 1
        for a in range(self.W.shape[0]):
            if self.optimizer == "prox-gd":
                self.W[a] = prox_gd_step_reference(self.W[a], self.lr, self.lam)
            else:
                self.W[a], self.m1[a], self.m2[a] = adamw_step_reference(
                    self.W[a], self.m1[a], self.m2[a], self.t, self.lr, self.lam)

    def weights(self) -> np.ndarray:
        return self.W.copy()
