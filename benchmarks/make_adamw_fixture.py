"""Write the PyTorch AdamW trajectories that the default suite compares with (needs torch).

    pip install -e ".[bench]"          # torch; never a runtime or test dependency
    python -m benchmarks.make_adamw_fixture

Trains the paper's model with ``torch.optim.AdamW`` exactly as the authors' code does
(identity batch, ``out = ReLU((I W) W^T)``, ``mse_loss(reduction="sum") + lam *
torch.norm(W, p=1)``, autograd; arXiv 2312.03096, docs/paper.md) in float64 and in float32
from a fixed small W0, and saves every step's weights and AdamW moments to
``tests/data/adamw_torch_<name>.npz`` (``..._float32.npz`` for float32) with a sidecar
``tests/data/adamw_torch_fixture.json`` (torch, numpy and python versions, the command, and
the settings). ``tests/test_adamw_fixture.py`` compares ``dynamics.train``, its float32
kernels and the numpy reference with these files; see docs/testing.md#pytorch-adamw-fixture.

The settings make the details of the algorithm visible: ``eps = 1e-3`` is comparable to
sqrt(v_hat) for the small gradients, so eps placement matters; the first steps carry
large bias corrections; weight_decay is on (decoupled vs L2 differ); and ``large-eps`` has
exact zeros in W0 where ``torch.sign(0) = 0`` gives the L1 term no push.
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

import numpy as np
import torch

OUT = Path(__file__).resolve().parent.parent / "tests" / "data"
N, M = 6, 10  # features, neurons: small enough for a committed fixture, big enough for overlaps
STEPS = 40

# name -> (lr, lam, betas, eps, weight_decay, seed of W0, exact zeros in W0)
SETTINGS = {
    "large-eps": dict(lr=1e-2, lam=1e-2, betas=(0.9, 0.999), eps=1e-3, weight_decay=0.1,
                      seed=11, zeros=((0, 3), (2, 7), (5, 0))),
    "paper-defaults": dict(lr=1e-2, lam=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01,
                           seed=12, zeros=()),
    "short-memory": dict(lr=3e-2, lam=3e-2, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.5,
                         seed=13, zeros=()),
}


def initial_weights(seed: int, zeros) -> np.ndarray:
    """W0 ~ N(0, 1/m) (the paper's init), with the listed entries set to exactly 0."""
    W0 = np.random.default_rng(seed).normal(0.0, 1.0 / np.sqrt(M), size=(N, M))
    for i, k in zeros:
        W0[i, k] = 0.0
    return W0


def trajectory(W0: np.ndarray, lr, lam, betas, eps, weight_decay,
               dtype=torch.float64) -> dict[str, np.ndarray]:
    """Run torch.optim.AdamW (single-tensor implementation) in ``dtype`` and record every
    step (as float64 arrays; float32 values convert exactly)."""
    W = torch.nn.Parameter(torch.tensor(W0, dtype=dtype))
    # foreach=False pins the single-tensor code path (the CPU default; the float64 operation
    # order is what the comparison is about)
    opt = torch.optim.AdamW([W], lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                            foreach=False)
    batch = torch.eye(N, dtype=dtype)
    weights, exp_avg, exp_avg_sq = [W0.copy()], [], []
    for _ in range(STEPS):
        opt.zero_grad()
        hidden = torch.einsum("bf,fh->bh", batch, W)
        out = torch.relu(hidden @ W.T)
        loss = torch.nn.functional.mse_loss(out, batch, reduction="sum")
        loss = loss + lam * torch.norm(W, p=1)
        loss.backward()
        opt.step()
        state = opt.state[W]
        weights.append(W.detach().numpy().astype(np.float64))
        exp_avg.append(state["exp_avg"].numpy().astype(np.float64))
        exp_avg_sq.append(state["exp_avg_sq"].numpy().astype(np.float64))
    weights[0] = np.asarray(torch.tensor(W0, dtype=dtype).numpy(), np.float64)  # W0 as trained
    return {"W": np.stack(weights), "exp_avg": np.stack(exp_avg),
            "exp_avg_sq": np.stack(exp_avg_sq)}


def main() -> int:
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    OUT.mkdir(parents=True, exist_ok=True)
    meta = {
        "command": "python -m benchmarks.make_adamw_fixture",
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "n": N, "m": M, "steps": STEPS,
        "model": "out = relu((I W) W^T); loss = mse_loss(out, I, reduction='sum') "
                 "+ lam * torch.norm(W, p=1); torch.optim.AdamW(foreach=False), float64 "
                 "(file) and float32 (file_float32, from W0 rounded to float32)",
        "arrays": "W: (steps + 1, n, m), W[0] = W0; exp_avg, exp_avg_sq: (steps, n, m), "
                  "the AdamW state after each step",
        "settings": {},
    }
    for name, s in SETTINGS.items():
        W0 = initial_weights(s["seed"], s["zeros"])
        hyper = {k: s[k] for k in ("lr", "lam", "betas", "eps", "weight_decay")}
        files = {}
        for label, dtype in (("", torch.float64), ("_float32", torch.float32)):
            arrays = trajectory(W0, **hyper, dtype=dtype)
            path = OUT / f"adamw_torch_{name}{label}.npz"
            np.savez(path, **arrays)
            files["file" + label] = path.name
            print(f"wrote {path.relative_to(OUT.parent.parent)}: final |W|_max "
                  f"{np.abs(arrays['W'][-1]).max():.6f}")
        meta["settings"][name] = {**hyper, "betas": list(s["betas"]), "seed": s["seed"],
                                  "zeros": [list(z) for z in s["zeros"]], **files}
    (OUT / "adamw_torch_fixture.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"torch {torch.__version__}, numpy {np.__version__}, python {sys.version.split()[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
