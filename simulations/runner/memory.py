"""Up-front memory estimates: refuse a size before allocating it, not after swapping.

Each entry point that allocates in proportion to a number the user types estimates its
peak memory from that number with the measured constants below and refuses, with one
line naming the estimate and the memory available, when the estimate does not fit.
The constants are slopes and intercepts of peak resident memory against size, measured
by `benchmarks/bench_memory.py` (fresh subprocess per size, `ru_maxrss`; numbers quoted
next to each constant and in docs/usage.md#memory). They describe this code on 64-bit
Linux with numpy 2.4 and numba 0.68; rerun the benchmark after changing the engines.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["available_memory", "check_memory", "format_bytes"]

# Fixed cost of a process that imported numpy, scipy, numba and the project and compiled
# its kernels: the intercepts of the fits below (194-260 MB); 260 MB is the largest.
PROCESS_BASELINE = 260 * 2**20

# --- python -m simulations.compare -----------------------------------------------------
# One training run (run_instance: init, train with record_weights, measure), per weight
# n*m. Measured at n = 64, n*m = 2^20, 2^22, 2^24: peaks 228, 330, 738 MB, slope 34.0 B,
# residuals < 0.3 MB. (W0, W, the gradient and the measurement's copies: ~4 float64.)
TRAIN_BYTES_PER_WEIGHT = 34.0
# A finished run's record held by the sweep's parent until the report: a + b n bytes
# (tracemalloc over 2000 decoded records, with each feature's final neuron and sign and the
# predictor's scores: 7671, 11596, 25476 B at n = 16, 64, 256; fit 6666 + 73.6 n,
# residuals < 250 B; `python -m benchmarks.bench_memory record`). The per-run key and
# bookkeeping (~300 B) is not counted separately: the fit's residuals are of that size.
RECORD_BYTES_FIXED = 6666.0
RECORD_BYTES_PER_FEATURE = 73.6

# --- python -m simulations.sparsification ----------------------------------------------
# E1 with the exact method, per weight m: measured at m = 1e6, 4e6, 1.6e7: peaks 334, 749,
# 2409 MB, slope 145.0 B, residuals < 0.1 MB (the old guard assumed 40 B).
E1_BYTES_PER_WEIGHT = 145.0
# Per record time (--n-times), at m = 1e4, n_times = 2.5e4, 5e4, 1e5: two runs gave slopes
# 815 B and 852 B (peaks 216-218, 236-238, 277 MB), residuals < 0.4 MB; the larger is used
# (every curve keeps Python lists of its times).
E1_BYTES_PER_TIME = 852.0
# Per t_full draw (--n-draws), at m = 20 (draws are then cheap), 2.5e5, 5e5, 1e6 draws:
# peaks 200, 204, 212 MB, slope 16.1 B, residuals < 0.1 MB (the float64 draws and the
# copy np.quantile sorts).
E1_BYTES_PER_DRAW = 16.1

# --- python -m simulations.noise ---------------------------------------------------------
# The e2 and kdraws parts (8 features, 16 neurons) per instance (--instances), through the
# engine's noise option, which keeps a snapshot of W at each of the ~50 record steps:
# measured at 1000, 2000, 4000 instances (20 steps): peaks 317, 366, 465 MB, slope
# 51 802 B, residuals < 0.4 MB (benchmarks/bench_memory.py noise).
NOISE_BYTES_PER_INSTANCE = 51802.0


def available_memory() -> int:
    """Bytes this process can still allocate without swapping: MemAvailable, or less if a
    cgroup (container) limit is tighter; os.sysconf's free pages where /proc is absent."""
    available = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024
                break
    except OSError:
        pass
    if available is None:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text())
        if limit != "max":
            available = min(available, int(limit) - used)
    except (OSError, ValueError):
        pass
    return available


def format_bytes(count: float) -> str:
    """`count` bytes as a short human-readable string (MiB below 1 GiB, else GiB)."""
    if count < 2**30:
        return f"{count / 2**20:.0f} MiB"
    return f"{count / 2**30:.1f} GiB"


def check_memory(estimate: float, what: str) -> None:
    """Raise ValueError (one line) if `estimate` bytes exceed the available memory.

    `what` names the user's sizes, e.g. "--m 2e8".
    """
    available = available_memory()
    if estimate > available:
        raise ValueError(
            f"{what} needs about {format_bytes(estimate)} of memory (measured estimate, "
            f"docs/usage.md#memory), more than the {format_bytes(available)} available "
            "on this machine"
        )
