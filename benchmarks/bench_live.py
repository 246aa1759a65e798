"""Benchmark of the live-structure engine: calibration, converged runs, cost traces.

    python -m benchmarks.bench_live calibrate              # fit the switch constants
    python -m benchmarks.bench_live run --m 4096           # one converged run vs numpy, torch
    python -m benchmarks.bench_live trace --m 1024 4096    # ms/step against live weights
    python -m benchmarks.bench_live big                    # n=1024, m=16384, lam=1e-2
    python -m benchmarks.bench_live quick                  # the quick preset's training
    add --json FILE to any of them; --no-torch skips the PyTorch baseline

``run`` trains W0 to convergence with the engine's ``auto`` switch and times plain numpy
and plain PyTorch per dense step (they cannot skip zeros: a converged run costs their per-step time
times the step count). ``trace`` records the wall time of every chunk of 100 steps and the
live weights at its end, and draws ms/step against live weights with the cost model
(stepping.py) on top. Not a test: no assertion on times. See docs/performance.md#live-engine
(which also keeps the measurements against the first engine's sparse path, since removed).

Times are CPU seconds of this process (``time.process_time``, everything on one thread),
so that a shared, loaded machine inflates them far less than wall time; cache contention
from other processes still does.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numba
import numpy as np
from threadpoolctl import threadpool_limits

from benchmarks.bench_training import _machine
from dynamics import TrainOptions, init_weights, train
from dynamics import _stepping as S
from dynamics._sparse_kernels import live_prox_gd_steps
from dynamics._training_kernels import OPT_PROX_GD, dense_gradient, dense_update

LR = 0.05


def _w0(n, m, seed=4242):
    return init_weights(n, m, np.random.SeedSequence(seed).spawn(1))


def _states(n, m, lam, checkpoints):
    """Weights of one dense prox-gd run at the given step counts."""
    W = _w0(n, m)[0]
    done, out = 0, []
    for c in checkpoints:
        W = train(W, TrainOptions(lr=LR, lam=lam, max_steps=c - done, sparse="never",
                                  record_weights=True))[0].W
        done = c
        out.append((c, W.copy()))
    return out


def _time_dense_step(W, lam, reps=5):
    n, m = W.shape
    G, R, grad = np.empty((n, n)), np.empty((n, n)), np.empty((n, m))
    X = W.copy()
    dense_gradient(X, G, R, grad)
    best = np.inf
    for _ in range(3):
        X = W.copy()
        t = time.process_time()
        for _ in range(reps):
            dense_gradient(X, G, R, grad)
            dense_update(OPT_PROX_GD, X, grad, G, G, 1, LR, lam, 0.9, 0.999, 1e-8, 0.01, True)
        best = min(best, (time.process_time() - t) / reps)
    return best


def _time_live_step(W, lam, reps):
    out = np.zeros(5)
    live_prox_gd_steps(W.copy(), 1, LR, lam, -1.0, 1e300, -1.0, out)
    best = np.inf
    for _ in range(3):
        X = W.copy()
        t = time.process_time()
        live_prox_gd_steps(X, reps, LR, lam, -1.0, 1e300, -1.0, out)
        best = min(best, (time.process_time() - t) / reps)
    return best, out[4]


def calibrate(args):
    """Cost of one live operation (S1) in units of one naive dense flop, per state."""
    rows = []
    # checkpoints that span dense, break-even and live states of each size (lam 1e-3)
    plan = {(64, 256): (500, 2000, 5000, 8000, 12000), (256, 1024): (1000, 3000, 6000, 7000,
            8000, 9000), (256, 4096): (500, 1500, 2500, 3500, 4500)}
    for (n, m), checkpoints in plan.items():
        for step, W in _states(n, m, 1e-3, checkpoints):
            td = _time_dense_step(W, 1e-3)
            z = int(np.count_nonzero(W))
            tl, ops = _time_live_step(W, 1e-3, reps=3 if z > 0.05 * n * m else 50)
            per_flop = td / S.dense_step_cost(n, m)
            row = {"n": n, "m": m, "step": step, "live_fraction": z / (n * m), "ops": ops,
                   "dense_ms": 1e3 * td, "live_ms": 1e3 * tl,
                   "ns_per_op": 1e9 * tl / ops, "op_cost": (tl / ops) / per_flop}
            rows.append(row)
            print(f"n={n} m={m} step {step:6d} live {row['live_fraction']:.3f} ops {ops:.3g}: "
                  f"dense {row['dense_ms']:.3f} ms, live {row['live_ms']:.3f} ms, "
                  f"{row['ns_per_op']:.2f} ns/op = {row['op_cost']:.0f} dense flops", flush=True)
    # the switch matters near break-even: weigh the states where the two costs are within 10x
    near = [r["op_cost"] for r in rows if 0.1 < r["live_ms"] / r["dense_ms"] < 10]
    fit = float(np.median(near)) if near else float("nan")
    print(f"SPARSE_OP_COST (median over {len(near)} states near break-even): {fit:.0f} "
          f"(in code: {S.SPARSE_OP_COST:.0f})")
    return {"rows": rows, "sparse_op_cost_fit": fit}


def _run_once(W0, lam, tol, mode, trace=None, record_weights=False):
    opts = TrainOptions(lr=LR, lam=lam, tol=tol, max_steps=2_000_000, sparse=mode,
                        chunk_steps=100 if trace is not None else 2000,
                        record_weights=record_weights)
    last = [time.process_time(), 0]

    def on_chunk(done, W, live):
        now = time.process_time()
        trace.append({"step": done, "ms_per_step": 1e3 * (now - last[0]) / (done - last[1]),
                      "live_weights": int(np.count_nonzero(W)), "live": bool(live[0]),
                      "ops": _ops(W[0])})
        last[0], last[1] = time.process_time(), done  # the ops count is not timed

    t = time.process_time()
    rec = train(W0, opts, on_chunk=on_chunk if trace is not None else None)[0]
    return rec, time.process_time() - t


def _ops(W):
    """Operations (S1) of one live step at W (docs/dynamics/training.md#sparse-representation)."""
    n, m = W.shape
    live = W != 0
    r = live.sum(axis=0)
    G = W @ W.T
    np.fill_diagonal(G, 0.0)
    return float(n + m + live.sum() + (r * r).sum() + ((G > 0) * live.sum(axis=1)).sum())


def converged_run(args, n, m, lam, tol, modes=("auto",)):
    W0 = _w0(n, m)
    train(W0, TrainOptions(lr=LR, lam=lam, max_steps=20, sparse="always"))  # compile/cache
    row = {"n": n, "m": m, "lam": lam, "tol": tol}
    for mode in modes:
        rec, wall = _run_once(W0, lam, tol, mode)
        row[mode] = {"status": rec.status, "steps": rec.steps, "live_steps": rec.sparse_steps,
                     "seconds": wall}
        print(f"n={n} m={m} lam={lam} tol={tol} {mode}: {rec.status} after {rec.steps} steps "
              f"({rec.sparse_steps} live) in {wall:.1f} s", flush=True)
    steps = row[modes[0]]["steps"]
    base = {"numpy": lambda: _numpy_trainer(W0, lam)}
    if not args.no_torch:
        try:
            import torch  # noqa: F401
            base["torch"] = lambda: _torch_trainer(W0, lam)
        except ImportError:
            print("  torch: not installed (pip install -e '.[bench]'), baseline skipped")
    for name, make in base.items():
        per = time_trainer(make, 2.0, 3)
        row[name] = {"ms_per_step": 1e3 * per, "seconds_same_steps": per * steps}
        print(f"  {name}: {1e3 * per:.2f} ms/step x {steps} steps = {per * steps:.0f} s",
              flush=True)
    for name in ("numpy", "torch"):
        if name in row:
            sec = row[name].get("seconds", row[name].get("seconds_same_steps"))
            print(f"  {name}/auto = {sec / row['auto']['seconds']:.1f}x")
    return row


def time_trainer(make, min_time: float, repeats: int) -> float:
    """CPU seconds per step of a baseline trainer, best of ``repeats`` timings."""
    tr = make()
    tr.step()
    t = time.process_time()
    tr.step()
    steps = int(max(3, min(2000, min_time / max(time.process_time() - t, 1e-6))))
    best = np.inf
    for _ in range(repeats):
        t = time.process_time()
        for _ in range(steps):
            tr.step()
        best = min(best, (time.process_time() - t) / steps)
    return best


def _numpy_trainer(W0, lam):
    from benchmarks._numpy_reference import NumpyTrainer
    return NumpyTrainer(W0, "prox-gd", LR, lam)


def _torch_trainer(W0, lam):
    import torch

    from benchmarks._torch_reference import TorchTrainer
    torch.set_num_threads(1)
    return TorchTrainer(W0, "prox-gd", LR, lam)


def trace_runs(args):
    traces = {}
    for m in args.m:
        W0 = _w0(256, m)
        tr = []
        rec, wall = _run_once(W0, 1e-3, 1e-6, "auto", trace=tr)
        traces[m] = {"trace": tr, "steps": rec.steps, "seconds": wall}
        print(f"trace n=256 m={m}: {rec.steps} steps in {wall:.1f} s", flush=True)
    fig = _trace_figure(traces)
    fig.savefig(args.figure, dpi=120, bbox_inches="tight")
    print(f"figure: {args.figure}")
    return {str(m): v for m, v in traces.items()}


def _trace_figure(traces):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(traces), figsize=(6 * len(traces), 4.2), squeeze=False)
    for ax, (m, t) in zip(axes[0], traces.items(), strict=True):
        z = np.array([r["live_weights"] for r in t["trace"]])
        ms = np.array([r["ms_per_step"] for r in t["trace"]])
        live = np.array([r["live"] for r in t["trace"]])
        ax.loglog(z[~live], ms[~live], ".", ms=3, color="tab:blue", label="dense steps")
        ax.loglog(z[live], ms[live], ".", ms=3, color="tab:orange", label="live steps")
        ops = np.array([r["ops"] for r in t["trace"]])
        n = 256
        dense_units = S.dense_step_cost(n, m)
        dense_ms = np.median(ms[~live]) if (~live).any() else np.nan
        ms_per_unit = dense_ms / dense_units  # the dense step fixes the unit's price
        ax.axhline(dense_ms, color="tab:blue", lw=1, ls="--",
                   label=f"model, dense: 4n²m + {S.DENSE_ELEMENTWISE:.0f} nm units "
                         f"({dense_ms:.2f} ms)")
        order = np.argsort(z)
        ax.loglog(z[order], (S.SPARSE_OP_COST * ops * ms_per_unit)[order], "-", lw=1,
                  color="tab:red", label=f"model, live: {S.SPARSE_OP_COST:.0f} units x ops (S1)")
        ax.set_xlabel("live weights z (end of each 100-step chunk)")
        ax.set_ylabel("ms per step")
        ax.set_title(f"n = 256, m = {m}, lam = 1e-3, lr = 0.05: {t['steps']} steps, "
                     f"{t['seconds']:.0f} s")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def big(args):
    from dynamics import count_polysemantic_assignment
    from theory import expected_poly_exact, sd_poly_exact
    n, m, lam, tol = 1024, 16384, 1e-2, 1e-6
    W0 = _w0(n, m)
    tr = []
    rec, wall = _run_once(W0, lam, tol, "auto", trace=tr, record_weights=True)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    count = count_polysemantic_assignment(rec.W)
    e, sd = float(expected_poly_exact(n, m)), float(sd_poly_exact(n, m))
    row = {"n": n, "m": m, "lam": lam, "tol": tol, "status": rec.status, "steps": rec.steps,
           "live_steps": rec.sparse_steps, "seconds": wall, "peak_rss_mb": peak_mb,
           "features_represented": rec.features_represented, "count": count,
           "theory_mean": e, "theory_sd": sd, "trace": tr}
    print(f"n={n} m={m} lam={lam}: {rec.status} after {rec.steps} steps ({rec.sparse_steps} "
          f"live) in {wall:.0f} s, peak RSS {peak_mb:.0f} MB; polysemantic {count} against "
          f"the sign-bin model {e:.2f} +- {sd:.2f} (z = {(count - e) / sd:+.2f})", flush=True)
    return row


def quick_preset(args):
    """The quick preset's training (n=64, m=64..1024, lam 1e-2, lr 0.05, tol 1e-6, 32
    instances from the preset's seeds) with the auto switch."""
    from simulations import build_specs, instance_seed
    rows = []
    specs = build_specs("quick")
    for mode in ("auto",):
        total = 0.0
        for spec in specs:
            seeds = [instance_seed(spec, i) for i in range(spec.instances)]
            W0 = init_weights(spec.n, spec.m, seeds)
            opts = TrainOptions(lr=spec.lr, lam=spec.lam, tol=spec.tol, max_steps=spec.max_steps,
                                sparse=mode)
            train(W0[:1], TrainOptions(lr=spec.lr, lam=spec.lam, max_steps=20, sparse=mode))
            t = time.process_time()
            recs = train(W0, opts, seeds=seeds)
            sec = time.process_time() - t
            total += sec
            rows.append({"mode": mode, "m": spec.m, "seconds": sec,
                         "steps": int(np.mean([r.steps for r in recs])),
                         "live_steps": int(np.mean([r.sparse_steps for r in recs]))})
            print(f"quick {mode} m={spec.m}: {sec:.2f} CPU s, mean steps "
                  f"{rows[-1]['steps']} ({rows[-1]['live_steps']} live)", flush=True)
        print(f"quick {mode}: total {total:.1f} CPU s", flush=True)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=("calibrate", "run", "trace", "big", "quick"))
    p.add_argument("--m", type=int, nargs="+", default=[4096])
    p.add_argument("--n", type=int, default=256)
    p.add_argument("--lam", type=float, default=1e-3, help="L1 strength in code units")
    p.add_argument("--tol", type=float, default=1e-6)
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--figure", default="live_trace.png")
    p.add_argument("--json")
    args = p.parse_args(argv)
    numba.set_num_threads(1)
    res = {"machine": _machine()}
    with threadpool_limits(limits=1):
        if args.what == "calibrate":
            res["calibrate"] = calibrate(args)
        elif args.what == "run":
            res["runs"] = [converged_run(args, args.n, m, args.lam, args.tol) for m in args.m]
        elif args.what == "trace":
            res["traces"] = trace_runs(args)
        elif args.what == "quick":
            res["quick"] = quick_preset(args)
        else:
            res["big"] = big(args)
    res["machine"]["uptime_end"] = _machine()["uptime"]
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
