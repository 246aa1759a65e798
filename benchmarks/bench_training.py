"""Benchmark: the numba engine vs plain numpy vs plain PyTorch, side by side in one process.

    python -m benchmarks.bench_training            # full table (several minutes)
    python -m benchmarks.bench_training --quick    # n=64 only, short timings
    python -m benchmarks.bench_training --json out.json

Prints (1) ms per training step for adamw and prox-gd at n in {64, 256}, m in {256, 1024,
4096} (dense phase: the engine is forced to the dense representation so that all three
do the same work), with the ratios torch/engine and numpy/engine; (2) achieved GFLOP/s of
the engine's dense step (4 n^2 m flops) against the measured float64 GEMM rate; (3) time
to convergence of prox-gd at n=256, m=4096 against dense numpy prox-gd for the same number
of steps. Not a test: no assertion on times. See docs/performance.md#training-engine.

On machines where OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE are set (see the environment notes),
unset both for the benchmark command only, and check the kernel line printed below.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time

import numba
import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from benchmarks._numpy_reference import NumpyTrainer
from dynamics import TrainOptions, init_weights, train

PAPER_LR = {"adamw": 1e-3, "prox-gd": 0.05}
PAPER_LAM = 1e-3


def _machine() -> dict:
    def sh(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout
        except OSError:
            return ""

    model = [ln.split(":", 1)[1].strip() for ln in sh(["lscpu"]).splitlines()
             if ln.startswith("Model name")]
    return {
        "cpu": model[0] if model else platform.processor(),
        "cores": os.cpu_count(),
        "uptime": sh(["uptime"]).strip(),
        "numba_threads": numba.get_num_threads(),
        "blas": [(i["internal_api"], i.get("architecture"), i["num_threads"],
                  os.path.basename(i["filepath"])) for i in threadpool_info()
                 if i["user_api"] == "blas"],
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "numpy": np.__version__,
        "numba": numba.__version__,
    }


def _best_time(fn, repeats: int) -> float:
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def gemm_rate(size: int = 1024, repeats: int = 5) -> float:
    """float64 GFLOP/s of a square numpy GEMM (2 size^3 flops), best of `repeats`."""
    a = np.random.default_rng(0).standard_normal((size, size))
    b = np.random.default_rng(1).standard_normal((size, size))
    a @ b
    return 2 * size**3 / _best_time(lambda: a @ b, repeats) / 1e9


def shape_gemm_rate(n: int, m: int, repeats: int = 5) -> float:
    """GFLOP/s of the two products of one dense step, W W^T and R W, done by numpy."""
    W = np.random.default_rng(2).standard_normal((n, m)) / np.sqrt(m)
    R = W @ W.T
    G = np.empty((n, n))
    out = np.empty((n, m))
    reps = max(1, int(2e8 / (4 * n * n * m)))

    def run():
        for _ in range(reps):
            np.dot(W, W.T, out=G)
            np.dot(R, W, out=out)

    return reps * 4 * n * n * m / _best_time(run, repeats) / 1e9


def _steps_for(seconds_per_step: float, min_time: float) -> int:
    return int(max(3, min(20_000, min_time / max(seconds_per_step, 1e-7))))


def time_engine(W0, optimizer: str, min_time: float, repeats: int) -> float:
    opts = dict(optimizer=optimizer, lr=PAPER_LR[optimizer], lam=PAPER_LAM)
    if optimizer == "prox-gd":
        opts["sparse"] = "never"
    train(W0, TrainOptions(max_steps=2, **opts))  # compile / load cache
    t1 = _best_time(lambda: train(W0, TrainOptions(max_steps=3, **opts)), 1) / 3
    steps = _steps_for(t1, min_time)
    o = TrainOptions(max_steps=steps, chunk_steps=steps, **opts)
    return _best_time(lambda: train(W0, o), repeats) / steps


def time_trainer(make, min_time: float, repeats: int) -> float:
    tr = make()
    tr.step()
    t1 = _best_time(tr.step, 1)
    steps = _steps_for(t1, min_time)

    def run():
        for _ in range(steps):
            tr.step()

    return _best_time(run, repeats) / steps


def per_step_table(sizes, instances, min_time, repeats, with_torch):
    if with_torch:
        import torch

        from benchmarks._torch_reference import TorchTrainer

        torch.set_num_threads(numba.get_num_threads())
        torch.set_num_interop_threads(1)
    rows = []
    for optimizer in ("adamw", "prox-gd"):
        for n, m in sizes:
            W0 = init_weights(n, m, np.random.SeedSequence(n * 100_003 + m).spawn(instances))
            lr = PAPER_LR[optimizer]
            row = {"optimizer": optimizer, "n": n, "m": m, "instances": instances}
            row["engine_ms"] = 1e3 * time_engine(W0, optimizer, min_time, repeats)
            row["numpy_ms"] = 1e3 * time_trainer(
                lambda W0=W0, o=optimizer, lr=lr: NumpyTrainer(W0, o, lr, PAPER_LAM),
                min_time, repeats)
            if with_torch:
                row["torch_ms"] = 1e3 * time_trainer(
                    lambda W0=W0, o=optimizer, lr=lr: TorchTrainer(W0, o, lr, PAPER_LAM),
                    min_time, repeats)
            row["engine_gflops"] = 4 * n * n * m * instances / (row["engine_ms"] * 1e-3) / 1e9
            row["shape_gemm_gflops"] = shape_gemm_rate(n, m)
            rows.append(row)
            t = f"{row['torch_ms']:9.3f}" if with_torch else "      n/a"
            r = f"{row['torch_ms'] / row['engine_ms']:7.1f}x" if with_torch else "     n/a"
            print(f"{optimizer:8s} n={n:4d} m={m:5d}  engine {row['engine_ms']:9.3f} ms  "
                  f"numpy {row['numpy_ms']:9.3f} ms  torch {t} ms  torch/engine {r}  "
                  f"numpy/engine {row['numpy_ms'] / row['engine_ms']:6.1f}x  "
                  f"engine {row['engine_gflops']:6.1f} GFLOP/s "
                  f"(numpy GEMM same shapes {row['shape_gemm_gflops']:6.1f})", flush=True)
    return rows


def convergence(n, m, lr, lam, tol, max_steps, repeats):
    W0 = init_weights(n, m, np.random.SeedSequence(4242).spawn(1))
    opts = TrainOptions(lr=lr, lam=lam, tol=tol, max_steps=max_steps, chunk_steps=2000)
    train(W0, TrainOptions(max_steps=2, lr=lr, lam=lam))
    t = time.perf_counter()
    rec = train(W0, opts)[0]
    engine_s = time.perf_counter() - t
    # dense numpy prox-gd costs the same every step (BLAS ignores zeros): time a few steps
    # and multiply by the engine's step count
    per = time_trainer(lambda: NumpyTrainer(W0, "prox-gd", lr, lam), 2.0, repeats)
    out = {"n": n, "m": m, "lr": lr, "lam": lam, "tol": tol, "status": rec.status,
           "steps": rec.steps, "sparse_steps": rec.sparse_steps, "engine_s": engine_s,
           "numpy_ms_per_step": 1e3 * per, "numpy_s_same_steps": per * rec.steps,
           "features_represented": rec.features_represented, "nonzeros": rec.nonzeros}
    print(f"prox-gd to convergence n={n} m={m} lr={lr} lam={lam} tol={tol}: {rec.status} "
          f"after {rec.steps} steps ({rec.sparse_steps} sparse) in {engine_s:.2f} s; dense "
          f"numpy {1e3 * per:.1f} ms/step x {rec.steps} = {per * rec.steps:.1f} s -> "
          f"{per * rec.steps / engine_s:.1f}x", flush=True)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="n=64 only, short timings")
    p.add_argument("--instances", type=int, default=1, help="instances trained together")
    p.add_argument("--min-time", type=float, default=1.0, help="seconds per timing")
    p.add_argument("--repeats", type=int, default=3, help="best of this many timings")
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch baseline")
    p.add_argument("--no-convergence", action="store_true", help="skip the convergence run")
    p.add_argument("--threads", type=int, default=1,
                   help="threads for every implementation: numba, BLAS (threadpoolctl) and "
                        "torch (default 1: on a shared machine extra threads spin-wait)")
    p.add_argument("--json", help="write results to this file")
    args = p.parse_args(argv)
    numba.set_num_threads(args.threads)
    limits = threadpool_limits(args.threads)  # numpy's and numba's BLAS, for the whole run
    with_torch = not args.no_torch
    if with_torch:
        try:
            import torch  # noqa: F401
        except ImportError:
            print("torch not installed (pip install torch==2.13.0): skipping the torch column")
            with_torch = False
    machine = _machine()
    print(json.dumps(machine, indent=1))
    rate = gemm_rate()
    print(f"measured float64 GEMM rate (numpy, 1024^3): {rate:.1f} GFLOP/s", flush=True)
    ns = (64,) if args.quick else (64, 256)
    sizes = [(n, m) for n in ns for m in (256, 1024, 4096)]
    min_time = 0.3 if args.quick else args.min_time
    rows = per_step_table(sizes, args.instances, min_time, args.repeats, with_torch)
    conv = None
    if not args.no_convergence and not args.quick:
        conv = convergence(256, 4096, lr=0.15, lam=0.01, tol=1e-8, max_steps=100_000,
                           repeats=args.repeats)
    end = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"machine load at the end: {end}")
    limits.restore_original_limits()
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine, "threads": args.threads, "gemm_gflops": rate,
                       "per_step": rows, "convergence": conv}, f, indent=1)


if __name__ == "__main__":
    main()
