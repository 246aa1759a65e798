"""Benchmark of the single-feature sparsification solvers (E1; docs/performance.md).

Part 1, E1 (m = 1e5, lam = 1e-5, the authors' |N(0, 0.9^2/m)| draw), all to the same horizon
(1.05 x t_full): `exact` (affine reduction), `euler` (numba, dt = 0.5), a plain-numpy Euler in
the authors' style (delete weights <= 0 every step); `ode` (DOP853, event location) at
m = --ode-m (1e4 by default: at 1e5 its ~1e5 restarts take tens of minutes here).
Part 2, `exact` at m = 1e6, 1e7, 1e8 (1e8 needs about 4 GB).

Prints wall times, ratios to `exact` and peak memory. Not a test: nothing is asserted.

    python benchmarks/bench_sparsification.py [--ode-m 1e4] [--max-m 1e8]
"""

from __future__ import annotations

import argparse
import math
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dynamics import SparsificationOptions, integrate_sparsification  # noqa: E402


def e1_draw(m: int, seed: int = 0) -> np.ndarray:
    g = np.random.default_rng(np.random.SeedSequence(seed))
    w = g.standard_normal(m)
    np.abs(w, out=w)
    w *= 0.9 / math.sqrt(m)
    return w


def euler_numpy(w0: np.ndarray, lam: float, dt: float, t_max: float):
    """The authors' scheme in plain numpy (their simulation.py style): returns (t_full, l1)."""
    w = np.array(w0)
    t = 0.0
    t_full = math.inf
    for k in range(int(t_max / dt)):
        q = w @ w
        w = w + dt * ((1.0 - q) * w - lam)
        w = w[w > 0]
        t = (k + 1) * dt
        if w.size <= 1 and not math.isfinite(t_full):
            t_full = t
    return t_full, float(w.sum())


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ode-m", type=float, default=1e4,
                   help="m of the full-ODE comparison (default 1e4; at the E1 size 1e5 the "
                        "per-death restarts make it take tens of minutes on this machine)")
    p.add_argument("--max-m", type=float, default=1e8, help="largest m for part 2 (1e8)")
    args = p.parse_args(argv)
    lam = 1e-5
    m = 10**5
    w0 = e1_draw(m)
    # warm up numba and scipy once (compile time is not run time)
    integrate_sparsification(w0[:100], lam, 10.0, method="euler")
    integrate_sparsification(w0[:100], lam, 10.0, method="exact")

    print(f"# Part 1: E1, m = {m:.0e}, lam = {lam:.0e}")
    ex, t_ex = timed(lambda: integrate_sparsification(w0, lam, 4.0 / lam, method="exact"))
    t_max = 1.05 * ex.t_full
    opts = SparsificationOptions(t_eval=(0.0, t_max))
    ex, t_ex = timed(lambda: integrate_sparsification(w0, lam, t_max, method="exact",
                                                      options=opts))
    rows = [("exact", t_ex, ex.t_full, ex.l1[-1], ex.stats)]
    eu, t_eu = timed(lambda: integrate_sparsification(w0, lam, t_max, method="euler",
                                                      options=opts))
    rows.append(("euler (numba, dt=0.5)", t_eu, eu.t_full, eu.l1[-1], eu.stats))
    (tf_np, l1_np), t_np = timed(lambda: euler_numpy(w0, lam, 0.5, t_max))
    rows.append(("euler (numpy, authors' style)", t_np, tf_np, l1_np, None))
    mo = int(args.ode_m)
    if mo == m:
        od, t_od = timed(lambda: integrate_sparsification(w0, lam, t_max, method="ode",
                                                          options=opts))
        rows.append(("ode (DOP853 + events)", t_od, od.t_full, od.l1[-1], od.stats))
    print(f"{'method':32} {'wall [s]':>10} {'/ exact':>9} {'t_full':>14} {'l1(end)':>10}  stats")
    for name, wall, tf, l1, st in rows:
        print(f"{name:32} {wall:10.3f} {wall / t_ex:9.1f} {tf:14.6f} {l1:10.6f}  {st}")
    print(f"peak RSS so far: {peak_rss_gb():.2f} GB")
    if mo != m:
        print(f"\n# Part 1b: full ODE vs exact at m = {mo:.0e}, lam = {lam:.0e} (same draw rule)")
        wo = e1_draw(mo)
        ex_o = integrate_sparsification(wo, lam, 4.0 / lam, method="exact")
        opts_o = SparsificationOptions(t_eval=(0.0, 1.05 * ex_o.t_full))
        ex_o, t_exo = timed(lambda: integrate_sparsification(wo, lam, 1.05 * ex_o.t_full,
                                                             method="exact", options=opts_o))
        od, t_od = timed(lambda: integrate_sparsification(wo, lam, float(ex_o.t[-1]),
                                                          method="ode", options=opts_o))
        print(f"exact {t_exo:.3f} s, ode {t_od:.3f} s, ratio ode/exact {t_od / t_exo:.1f}; "
              f"t_full exact {ex_o.t_full:.9g}, ode {od.t_full:.9g}; ode stats {od.stats}")

    print("\n# Part 2: exact at large m (lam = 1e-5, to 1.05 x t_full)")
    print(f"{'m':>8} {'draw [s]':>9} {'exact [s]':>10} {'lam t_full':>11} {'steps':>7} "
          f"{'peak RSS [GB]':>14}")
    for mm in (10**6, 10**7, 10**8):
        if mm > args.max_m:
            break
        w, t_draw = timed(lambda mm=mm: e1_draw(mm))
        r, t_run = timed(lambda w=w: integrate_sparsification(w, lam, 6.0 / lam,
                                                              method="exact"))
        print(f"{mm:8.0e} {t_draw:9.2f} {t_run:10.2f} {lam * r.t_full:11.5f} "
              f"{r.stats.n_steps:7d} {peak_rss_gb():14.2f}", flush=True)
        del w, r
    return 0


if __name__ == "__main__":
    sys.exit(main())
