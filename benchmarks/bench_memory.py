"""Peak memory per unit of each user-given size, for the up-front memory guards.

Every entry point that allocates in proportion to a number the user types refuses, before
allocating, when its estimate exceeds the machine's available memory
(`simulations/runner/memory.py`, docs/usage.md#memory). The constants of those estimates are
measured here, not guessed: each measurement runs in a fresh subprocess, which reports its
peak resident set size (`resource.getrusage(RUSAGE_SELF).ru_maxrss`, kB on Linux), at
three or four sizes; a least-squares line through (size, peak) gives bytes per unit
(slope) and the fixed cost of imports and numba (intercept). Parent-side per-run records
of a sweep are small, so they are measured with tracemalloc instead.

    python benchmarks/bench_memory.py [WORD ...]   # only the cases whose name has a WORD

About ten minutes on 2 cores (the per-draw and per-time cases dominate).

Prints one line per quantity: slope (bytes per unit), intercept (MB) and the residuals.
Not a test: nothing is asserted.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]

# Child programs: each prints its ru_maxrss in bytes as its last stdout line.
_PEAK = "import resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)"

# One training run of the main job (simulations._run.run_instance), per weight n*m.
_TRAIN = """
from simulations._run import run_instance
from simulations._specs import ExperimentSpec
run_instance(ExperimentSpec(n=64, m={size} // 64, lam=1e-2, max_steps=3), 0)
"""
# E1 with the exact method (simulations.sparsification.run_e1), per weight m.
_E1_M = """
from simulations.sparsification import run_e1
run_e1({size}, 1e-5, n_draws=2, progress=False)
"""
# E1's record times (--n-times), per time, at a small m.
_E1_TIMES = """
from simulations.sparsification import run_e1
run_e1(10_000, 1e-3, n_times={size}, n_draws=2, progress=False)
"""
# E1's t_full draws (--n-draws), per draw, at m = 20: each draw then costs ~50 us, so
# that a million draws, enough to see their arrays above the baseline, take a minute.
_E1_DRAWS = """
from simulations.sparsification import run_e1
run_e1(20, 1e-3, n_draws={size}, progress=False)
"""
# The noise experiment's e2 + kdraws parts (--instances), per instance.
_NOISE = """
from dataclasses import replace
from simulations.runner.protocol import evaluate
from simulations.noise import EXPERIMENT, NoiseConfig
cfg = replace(NoiseConfig(), e2_instances={size}, e2_max_steps=20, k_max_steps=20,
              parts=("e2", "kdraws"))
evaluate(EXPERIMENT, cfg)
"""

CASES = {
    "compare: one training run, bytes per weight n*m": (_TRAIN, [2**20, 2**22, 2**24]),
    "sparsification: exact E1, bytes per weight m": (_E1_M, [10**6, 4 * 10**6, 16 * 10**6]),
    "sparsification: bytes per record time (--n-times)": (_E1_TIMES, [25_000, 50_000, 100_000]),
    "sparsification: bytes per draw (--n-draws)": (_E1_DRAWS, [250_000, 500_000, 1_000_000]),
    "noise: bytes per instance (--instances)": (_NOISE, [1000, 2000, 4000]),
}


def peak_bytes(program: str) -> int:
    """Peak RSS in bytes of a fresh interpreter running `program` from the repository root."""
    code = textwrap.dedent(program) + "\n" + _PEAK
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, check=True)
    return int(proc.stdout.strip().splitlines()[-1])


def fit(sizes, peaks) -> tuple[float, float, list[float]]:
    """Least-squares peak = intercept + slope * size; returns slope, intercept, residuals."""
    x, y = np.asarray(sizes, float), np.asarray(peaks, float)
    slope, intercept = np.polyfit(x, y, 1)
    return float(slope), float(intercept), (y - (intercept + slope * x)).tolist()


def record_bytes() -> dict:
    """Parent-side bytes per stored run record of the main job, as a + b * n (tracemalloc)."""
    import tracemalloc

    sys.path.insert(0, str(REPO))
    from simulations._run import run_instance
    from simulations._specs import ExperimentSpec

    ns, per = [16, 64, 256], []
    for n in ns:
        text = json.dumps(run_instance(ExperimentSpec(n=n, m=n, lam=1e-2, max_steps=1), 0))
        copies = 2000
        tracemalloc.start()
        held = [json.loads(text) for _ in range(copies)]
        current, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        per.append(current / copies)
        del held
    slope, intercept, _ = fit(ns, per)
    return {"sizes n": ns, "bytes per record": per, "per feature": slope, "fixed": intercept}


def main(words: list[str]) -> None:
    for name, (program, sizes) in CASES.items():
        if words and not any(w in name for w in words):
            continue
        peaks = [peak_bytes(program.format(size=s)) for s in sizes]
        slope, intercept, residuals = fit(sizes, peaks)
        print(f"{name}: slope {slope:.1f} B/unit, intercept {intercept / 2**20:.0f} MB; "
              f"sizes {sizes}, peaks MB {[round(p / 2**20) for p in peaks]}, "
              f"residuals MB {[round(r / 2**20, 1) for r in residuals]}", flush=True)
    if words and "record" not in words:
        return
    r = record_bytes()
    print(f"compare: parent record bytes = {r['fixed']:.0f} + {r['per feature']:.1f} n; "
          f"measured {[round(b) for b in r['bytes per record']]} at n = {r['sizes n']}")


if __name__ == "__main__":
    main(sys.argv[1:])
