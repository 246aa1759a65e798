"""Benchmark: the paper's AdamW runs, engine (float32, float64) vs numpy vs the authors' torch.

    python -m benchmarks.bench_paper_adamw            # n=256, m in {1024, 4096}, 16 instances
    python -m benchmarks.bench_paper_adamw --quick    # n=64, m=256, 2 instances, short timings
    python -m benchmarks.bench_paper_adamw --json out.json

Prints ms per instance-step (time of a step of all instances / instances) of
``dynamics.train`` with AdamW (lr 1e-3, lam 1e-3, weight_decay 0.01) in float32 and in
float64, of the plain-numpy reference (``benchmarks/_numpy_reference.py``, float64 only) and
of the authors' own PyTorch formulation in float32 (``benchmarks/_authors_adamw.py``), all
from the same W0 in one process with the same thread budget, plus the ratios. Each
implementation is warmed up, then S steps (its own S, chosen so that one timing takes about
--min-time seconds) are timed, best of --repeats. The correctness line gives the max abs
difference between the engine-f32 and torch-f32 weights after the same number of steps
(the smaller of their two S) from the same W0. Not a test: nothing is asserted.

On machines where OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE are set (see the environment notes),
unset both for the benchmark command only, and check the BLAS line printed below.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time

import numba
import numpy as np
from threadpoolctl import threadpool_limits

from benchmarks._numpy_reference import NumpyTrainer
from benchmarks.bench_training import _best_time, _machine, _steps_for
from dynamics import TrainOptions, init_weights, train

LR, LAM, WEIGHT_DECAY = 1e-3, 1e-3, 0.01  # the authors' AdamW settings (torch's default decay)


def _opts(dtype: str, steps: int, **kw) -> TrainOptions:
    return TrainOptions(optimizer="adamw", lr=LR, lam=LAM, weight_decay=WEIGHT_DECAY,
                        max_steps=steps, dtype=dtype, **kw)


def time_engine(W0, dtype: str, min_time: float, repeats: int, snap: int | None = None):
    """Seconds per step of ``train`` (best of `repeats`), S, and W at step `snap`.

    A ``train`` call also pays once for its set-up and its records (the loss of W0 and the
    measurements of the final W, in float64: ~0.1 s per instance at m = 4096), which a
    short timing would spread over its few steps. The per-step time is therefore the
    difference of a 2S-step and an S-step call, divided by S.
    """
    train(W0, _opts(dtype, 2))  # numba compilation / cache load
    steps = _steps_for(_best_time(lambda: train(W0, _opts(dtype, 3)), 1) / 3, min_time / 2)
    snap = steps if snap is None else min(snap, steps)
    out = {}

    def run(k):
        o = _opts(dtype, k, chunk_steps=k, record_steps=(snap,))
        out["records"] = train(W0, o)

    once = _best_time(lambda: run(steps), repeats)
    per = (_best_time(lambda: run(2 * steps), repeats) - once) / steps
    return per, steps, np.stack([r.snapshots[1] for r in out["records"]])


def time_trainer(make, min_time: float, repeats: int, snap: int | None = None):
    """Seconds per step of a trainer (a fresh one per repeat, from the same W0) over S steps,
    S, and its weights after `snap` steps (the snapshot is outside the timing)."""
    warm = make()
    warm.step()
    steps = _steps_for(_best_time(warm.step, 1), min_time)
    snap = steps if snap is None else min(snap, steps)
    best = np.inf
    for _ in range(repeats):
        tr = make()
        t = time.perf_counter()
        for _ in range(snap):
            tr.step()
        elapsed = time.perf_counter() - t
        W = tr.weights()
        t = time.perf_counter()
        for _ in range(steps - snap):
            tr.step()
        best = min(best, elapsed + time.perf_counter() - t)
    return best / steps, steps, W


def bench_one(n: int, m: int, instances: int, min_time: float, repeats: int) -> dict:
    from benchmarks._authors_adamw import AuthorsAdamW

    W0 = init_weights(n, m, np.random.SeedSequence(0).spawn(instances))
    row = {"n": n, "m": m, "instances": instances}
    # torch first: its S decides where the engine-f32 snapshot for the correctness line is
    t_torch, s_torch, W_torch = time_trainer(lambda: AuthorsAdamW(W0, LR, LAM), min_time,
                                             repeats)
    t32, s32, W32 = time_engine(W0, "float32", min_time, repeats, snap=s_torch)
    if s32 < s_torch:  # the engine is the slower one: compare at its S instead
        tr = AuthorsAdamW(W0, LR, LAM)
        for _ in range(s32):
            tr.step()
        W_torch = tr.weights()
    t64, s64, _ = time_engine(W0, "float64", min_time, repeats)
    t_np, s_np, _ = time_trainer(lambda: NumpyTrainer(W0, "adamw", LR, LAM), min_time, repeats)
    for key, t, s in (("engine_f32", t32, s32), ("engine_f64", t64, s64),
                      ("numpy_f64", t_np, s_np), ("torch_authors_f32", t_torch, s_torch)):
        row[key + "_ms"] = 1e3 * t / instances
        row[key + "_steps"] = s
    row["compare_steps"] = min(s32, s_torch)
    diff = np.abs(W32.astype(np.float64) - W_torch)
    row["max_abs_diff_engine_f32_torch"] = float(diff.max())
    row["median_abs_diff_engine_f32_torch"] = float(np.median(diff))
    # Adam moves a weight by ~lr whatever its gradient's size, so where a gradient is within
    # float32 rounding of 0 the two implementations can step opposite ways: a few entries
    # differ by up to ~2 lr while the rest agree to float32 rounding
    row["entries_above_1e-4"] = int(np.sum(diff > 1e-4))
    row["max_abs_W"] = float(np.max(np.abs(W_torch)))
    return row


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="n=64, m=256, 2 instances, short")
    p.add_argument("--m", type=int, nargs="+", default=[1024, 4096], help="hidden sizes")
    p.add_argument("--instances", type=int, default=16, help="instances trained together")
    p.add_argument("--min-time", type=float, default=4.0, help="seconds per timing")
    p.add_argument("--repeats", type=int, default=3, help="best of this many timings")
    p.add_argument("--threads", type=int, default=2,
                   help="threads for numba, BLAS (threadpoolctl) and torch")
    p.add_argument("--json", help="write results to this file")
    args = p.parse_args(argv)
    n, ms, instances, min_time = 256, args.m, args.instances, args.min_time
    if args.quick:
        n, ms, instances, min_time = 64, [256], 2, 0.3
    import torch

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    numba.set_num_threads(args.threads)
    limits = threadpool_limits(args.threads)  # numpy's and the engine's BLAS, whole run
    machine = _machine()
    machine.update(torch=torch.__version__, torch_threads=torch.get_num_threads())
    print(json.dumps(machine, indent=1))
    print(f"n={n}, {instances} instances, AdamW lr={LR} lam={LAM} weight_decay={WEIGHT_DECAY}, "
          f"{args.threads} threads, best of {args.repeats}, ~{min_time} s per timing")
    print("numpy: benchmarks/_numpy_reference.py supports AdamW in float64 only; there is no "
          "float32 numpy column (numpy/f32 compares it with the float32 engine)")
    print(f"{'m':>6} {'eng f32':>9} {'eng f64':>9} {'numpy64':>9} {'torch32':>9}  "
          f"{'torch/f32':>9} {'torch/f64':>9} {'numpy/f32':>9} {'numpy/f64':>9}"
          "   (ms per instance-step)", flush=True)
    rows = []
    for m in ms:
        r = bench_one(n, m, instances, min_time, args.repeats)
        rows.append(r)
        e32, e64 = r["engine_f32_ms"], r["engine_f64_ms"]
        nm, tc = r["numpy_f64_ms"], r["torch_authors_f32_ms"]
        print(f"{m:6d} {e32:9.4f} {e64:9.4f} {nm:9.4f} {tc:9.4f}  {tc / e32:8.2f}x "
              f"{tc / e64:8.2f}x {nm / e32:8.2f}x {nm / e64:8.2f}x", flush=True)
    for r in rows:
        print(f"m={r['m']}: steps timed: engine f32 {r['engine_f32_steps']}, f64 "
              f"{r['engine_f64_steps']}, numpy {r['numpy_f64_steps']}, torch "
              f"{r['torch_authors_f32_steps']}; correctness after {r['compare_steps']} steps "
              f"from the same W0: |W_engine_f32 - W_torch_f32| median "
              f"{r['median_abs_diff_engine_f32_torch']:.1e}, max "
              f"{r['max_abs_diff_engine_f32_torch']:.1e}, {r['entries_above_1e-4']} of "
              f"{r['instances'] * n * r['m']} entries above 1e-4 (Adam's step is ~lr wherever "
              f"a gradient is within rounding of 0; max |W| {r['max_abs_W']:.3f})")
    end = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"machine load at the end: {end}")
    limits.restore_original_limits()
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine, "uptime_end": end, "threads": args.threads,
                       "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
