"""AdamW against real PyTorch, without torch at test time (docs/testing.md#pytorch-adamw-fixture).

``tests/data/adamw_torch_<setting>.npz`` hold ``torch.optim.AdamW`` trajectories of the
authors' model (sum-MSE + lam * ||W||_1, autograd, float64), written by
``benchmarks/make_adamw_fixture.py``; the JSON sidecar records the torch, numpy and python
versions and the command. Two comparisons:

1. one step of the numpy reference (``adamw_step_reference``) from torch's state after step
   t - 1 against torch's state after step t, for every t;
2. whole trajectories of ``dynamics.train(..., TrainOptions(optimizer="adamw"))`` from W0
   against torch's weights at several steps.

Tolerances are float64 rounding bounds, derived in the helpers below: the one-step rounding
of one implementation (``_one_step_rounding``) and, for trajectories, its first-order
propagation through the step map (``_trajectory_bounds``). A wrong eps placement, bias
correction, coupled weight decay or sign(0) moves the weights by 1e-5 to 1e-2 in the first
steps (measured on these settings), while the bounds are ~1e-14 there.
"""

import json
from pathlib import Path

import numpy as np
import pytest

import dynamics
from dynamics._toy_model import adamw_step_reference, residual_matrix
from dynamics._training_kernels import OPT_ADAMW, dense_gradient, dense_update

DATA = Path(__file__).parent / "data"
META = json.loads((DATA / "adamw_torch_fixture.json").read_text())
SETTINGS = sorted(META["settings"])
U = np.finfo(float).eps / 2  # unit roundoff of float64
U32 = float(np.finfo(np.float32).eps) / 2  # unit roundoff of float32
CHECKPOINTS = (1, 2, 3, 5, 10, 20, 40)


def gamma(k, u=U):
    """Higham's gamma_k = k u / (1 - k u): relative error bound of a k-term float sum/dot."""
    return k * u / (1 - k * u)


def _load(name, dtype="float64"):
    s = META["settings"][name]
    with np.load(DATA / s["file" if dtype == "float64" else "file_float32"]) as f:
        arrays = {k: f[k] for k in ("W", "exp_avg", "exp_avg_sq")}
    hyper = {"lr": s["lr"], "lam": s["lam"], "betas": tuple(s["betas"]), "eps": s["eps"],
             "weight_decay": s["weight_decay"]}
    return arrays, hyper


def _state(arrays, t):
    """torch's (W, exp_avg, exp_avg_sq) after t steps; the moments start at 0."""
    W = arrays["W"][t]
    if t == 0:
        return W, np.zeros_like(W), np.zeros_like(W)
    return W, arrays["exp_avg"][t - 1], arrays["exp_avg_sq"][t - 1]


def _one_step_rounding(W, m_prev, v_prev, t, lr, lam, betas, eps, weight_decay, u=U):
    """Componentwise bound on the rounding error of ONE AdamW step from an exact state, in a
    precision of unit roundoff u (float64 by default; every operation, the products
    included, rounds at u).

    Gradient g = 4 R W + lam sign(W): G = W W^T is an m-term dot, R = G - I one more
    rounding, R W an n-term dot, so |dg| <= 4 gamma(m + n + 2) ((|W||W|^T + I)|W| + |R||W|)
    + 2 u lam (the first term also covers a ReLU gate flipped by a G_ij within rounding of 0).
    Moments: each is two products and a sum, 4 u of their terms, plus the propagated dg.
    Update lr m_hat / (sqrt(v_hat) + eps): first-order propagation of the moment errors
    (with |d sqrt(v)| <= min(dv / (2 sqrt v), sqrt dv)), 10 u for the update's own operations,
    and the bias corrections 1 - beta^t, whose relative error u beta^t / (1 - beta^t) is
    ~1000 u for beta2 = 0.999 at t = 1. Returns (rho_W, rho_m, rho_v) for the new state.
    """
    b1, b2 = betas
    n, m = W.shape
    R = residual_matrix(W @ W.T)
    absW = np.abs(W)
    g = 4.0 * R @ W + lam * np.sign(W)
    dg = 4 * gamma(m + n + 2, u) * ((absW @ absW.T + np.eye(n)) @ absW + np.abs(R) @ absW)
    dg += 2 * u * lam
    m_new = b1 * m_prev + (1 - b1) * g
    v_new = b2 * v_prev + (1 - b2) * g * g
    rho_m = (1 - b1) * dg + 4 * u * (b1 * np.abs(m_prev) + (1 - b1) * np.abs(g))
    rho_v = (1 - b2) * (2 * np.abs(g) * dg + dg * dg) + 4 * u * (b2 * v_prev + (1 - b2) * g * g)
    bc1, bc2 = 1 - b1**t, 1 - b2**t
    root = np.sqrt(v_new / bc2)
    den = root + eps
    step = lr * np.abs(m_new) / bc1 / den
    with np.errstate(divide="ignore"):  # v_new = 0 takes the sqrt(dv) branch
        d_root = np.minimum(np.where(v_new > 0, rho_v / (2 * np.sqrt(v_new)), np.inf),
                            np.sqrt(rho_v)) / np.sqrt(bc2)
    rel_update = 10 * u + u * b1**t / bc1 + 0.5 * u * b2**t / bc2
    d_step = lr * rho_m / bc1 / den + step * d_root / den + rel_update * step
    W_new = W * (1 - lr * weight_decay) - step
    rho_W = d_step + 3 * u * (np.abs(W) + np.abs(W_new) + step)
    return rho_W, rho_m, rho_v


def _trajectory_bounds(arrays, hyper, u=U):
    """Bound on max |W_t(ours) - W_t(torch)| for every t, by running error analysis.

    Both implementations start from the same exact state (W0, 0, 0) and each step adds at
    most rho_t (``_one_step_rounding``) per implementation; an error e_{t-1} in the state
    x = (W, m, v) reaches step t as |J_t| e_{t-1} to first order, J_t the Jacobian of the
    step map at torch's state, here by central differences (relative step 1e-6, exact to
    ~1e-12 relative on this smooth map away from ReLU kinks and zero weights). So
        e_t <= |J_t| e_{t-1} + 2 rho_t,   e_0 = 0,
    componentwise. |J| ignores cancellations between error components, so the bound grows
    faster than the real error, but it stays far below what a changed algorithm does.
    """
    W = arrays["W"]
    shape = W.shape[1:]
    size = W[0].size
    e = np.zeros(3 * size)
    bounds = [0.0]
    for t in range(1, W.shape[0]):
        x = np.concatenate([a.ravel() for a in _state(arrays, t - 1)])

        def step(z, t=t):
            parts = [z[i * size:(i + 1) * size].reshape(shape) for i in range(3)]
            return np.concatenate([a.ravel() for a in
                                   adamw_step_reference(*parts, t, **hyper)])

        propagated = np.zeros_like(e)
        for j in np.flatnonzero(e):  # columns that carry an error
            h = max(1e-6 * abs(x[j]), e[j])
            zp, zm = x.copy(), x.copy()
            zp[j] += h
            zm[j] -= h
            propagated += np.abs((step(zp) - step(zm)) / (2 * h)) * e[j]
        rho = np.concatenate([r.ravel() for r in
                              _one_step_rounding(*_state(arrays, t - 1), t, **hyper, u=u)])
        e = propagated + 2 * rho
        bounds.append(float(e[:size].max()))
    return np.array(bounds)


def test_fixture_records_its_provenance_and_settings():
    """The sidecar names the generating command and versions; the settings exercise eps,
    bias corrections, decoupled decay and sign(0) (exact zeros in W0)."""
    assert META["command"] == "python -m benchmarks.make_adamw_fixture"
    assert {"torch", "numpy", "python"} <= set(META)
    assert max(s["eps"] for s in META["settings"].values()) >= 1e-3
    assert all(s["weight_decay"] > 0 for s in META["settings"].values())
    arrays, _ = _load("large-eps")
    assert np.count_nonzero(arrays["W"][0] == 0.0) == len(META["settings"]["large-eps"]["zeros"])
    for name in SETTINGS:
        arrays, _ = _load(name)
        assert arrays["W"].shape == (META["steps"] + 1, META["n"], META["m"])
        assert np.all(np.isfinite(arrays["W"]))


@pytest.mark.parametrize("name", SETTINGS)
def test_one_reference_step_matches_torch(name):
    """From torch's state after step t - 1, one step of the numpy reference gives torch's
    weights and moments after step t, within the two implementations' one-step rounding."""
    arrays, hyper = _load(name)
    for t in range(1, arrays["W"].shape[0]):
        prev = _state(arrays, t - 1)
        ours = adamw_step_reference(*prev, t, **hyper)
        rho = _one_step_rounding(*prev, t, **hyper)
        for label, a, b, r in zip(("W", "exp_avg", "exp_avg_sq"), ours, _state(arrays, t), rho,
                                  strict=True):
            err = np.abs(a - b)
            assert np.all(err <= 2 * r), (name, t, label, float(err.max()),
                                          float((2 * r).min()))


@pytest.mark.parametrize("name", SETTINGS)
def test_train_follows_the_torch_trajectory(name):
    """dynamics.train with optimizer="adamw" from the fixture's W0 reproduces torch's weights
    at every checkpoint within the propagated rounding bound (``_trajectory_bounds``)."""
    arrays, hyper = _load(name)
    bounds = _trajectory_bounds(arrays, hyper)
    for steps in CHECKPOINTS:
        options = dynamics.TrainOptions(optimizer="adamw", lr=hyper["lr"], lam=hyper["lam"],
                                        betas=hyper["betas"], eps=hyper["eps"],
                                        weight_decay=hyper["weight_decay"], max_steps=steps,
                                        record_weights=True)
        (record,) = dynamics.train(arrays["W"][0], options)
        err = float(np.max(np.abs(record.W - arrays["W"][steps])))
        assert err <= bounds[steps], (name, steps, err, bounds[steps])



def _engine_step_float32(W, m_prev, v_prev, t, lr, lam, betas, eps, weight_decay):
    """One step of the engine's float32 kernels (the ones ``train`` runs) from a state."""
    W, M1, M2 = (np.array(a, np.float32) for a in (W, m_prev, v_prev))
    n, m = W.shape
    G, R, grad = np.empty((n, n), np.float32), np.empty((n, n), np.float32), np.empty_like(W)
    dense_gradient(W, G, R, grad)
    dense_update(OPT_ADAMW, W, grad, M1, M2, t, lr, lam, betas[0], betas[1], eps,
                 weight_decay, False)
    return W, M1, M2


@pytest.mark.parametrize("name", SETTINGS)
def test_one_float32_engine_step_matches_torch_float32(name):
    """The authors trained in float32. From torch's float32 state after step t - 1 (exactly
    representable, so an exact common start), one step of the engine's float32 kernels gives
    torch's float32 state after step t within both implementations' one-step rounding at
    float32's unit roundoff, componentwise (``_one_step_rounding(u=U32)``)."""
    arrays, hyper = _load(name, "float32")
    for t in range(1, arrays["W"].shape[0]):
        prev = _state(arrays, t - 1)
        ours = _engine_step_float32(*prev, t, **hyper)
        rho = _one_step_rounding(*prev, t, **hyper, u=U32)
        for label, a, b, r in zip(("W", "exp_avg", "exp_avg_sq"), ours, _state(arrays, t), rho,
                                  strict=True):
            err = np.abs(a.astype(np.float64) - b)
            assert np.all(err <= 2 * r), (name, t, label, float(err.max()),
                                          float((2 * r).min()))
