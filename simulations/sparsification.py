"""Reproduce E1 (single-feature sparsification under L1) and compare it with three laws.

Draws the authors' initial condition |N(0, sigma0^2/m)| (sigma0 = 0.9), integrates the
interference-free flow dw_k/dt = (1 - ||w||^2) w_k - lam~ sign(w_k) with the exact affine
reduction (and with the full ODE / the authors' Euler scheme on request), and compares m'(t),
||w||_1(t) and t_full with the paper's law, the refined law and the mean-field solution
(docs/theory/sparsification.md#e1).

Units: normalized (docs/paper.md#normalized-units). lam~ (`--lam-normalized`) is the code-unit
lam of `simulations.compare` divided by FLOW_TIME_PER_LR_STEP = 4, and t is normalized flow
time, tau = 4 lr steps of GD on the code loss.

Example: python -m simulations.sparsification --m 1e5 --lam-normalized 1e-5
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import asdict, dataclass, fields, replace

import numpy as np

from dynamics import (
    FLOW_TIME_PER_LR_STEP,
    SPARSIFICATION_LAM_MAX,
    SPARSIFICATION_METHODS,
    SparsificationOptions,
    init_weights,
    integrate_sparsification,
)
from simulations.runner import memory as _memory
from simulations.runner.cli import integer
from simulations.runner.command import command
from simulations.runner.protocol import Run, declare
from theory.sparsification import (
    SIGMA0_PAPER,
    mean_field,
    paper_law,
    refined_law,
    t_full_adiabatic,
    t_full_distribution,
)

PROG = "python -m simulations.sparsification"
# Largest normalized lam~ at which a weight survives (docs/theory/sparsification.md#fixed-point).
LAM_MAX = SPARSIFICATION_LAM_MAX
# Largest m each method is allowed at from the CLI, for run time: `ode` restarts at deaths
# and its steps are bounded by stiffness (about 1 min at m = 1e4, several at 1e5); Euler
# is O(m') per step. `exact` is limited by memory only (memory_estimate).
MAX_M = {"ode": 100_000, "euler": 10_000_000}
# Mean field is reported only where it is meaningful: at least this many survivors.
MF_MIN_SURVIVORS = 10


def initial_weights(m: int, seed: int, sigma0: float = SIGMA0_PAPER) -> np.ndarray:
    """The authors' E1 initial condition: |N(0, sigma0^2/m)| i.i.d.
    (docs/paper.md#initialization), seeded.

    The magnitudes of one row of `dynamics.init_weights` (n = 1, init_std = sigma0) drawn
    from numpy.random.SeedSequence(seed) -> PCG64: the same draw as the toy model's W0.
    """
    w = init_weights(1, m, [np.random.SeedSequence(seed)], init_std=sigma0)[0, 0]
    np.abs(w, out=w)
    return w


def table_times(lam: float, n: int) -> np.ndarray:
    """n log-spaced times from 10 to 1/lam (the ratio table; m' ~ 2-ish at t = 1/lam)."""
    return np.geomspace(10.0, 1.0 / lam, n)


class _NoBar:
    """Stands in for a disabled tqdm bar. A disabled tqdm still creates a multiprocessing
    lock, which a worker process terminated on Ctrl-C would leak (with a warning)."""

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc) -> None:
        pass


def _bar(progress: bool, **tqdm_args):
    """A tqdm bar on stderr, or a stand-in when progress is off."""
    if not progress:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(file=sys.stderr, **tqdm_args)


def run_e1(m: int, lam_normalized: float, *, seed: int = 0, sigma0: float = SIGMA0_PAPER,
           t_max: float | None = None, methods=("exact",), dt: float = 0.5,
           n_times: int = 80, n_table: int = 5, n_draws: int = 400,
           progress: bool = True) -> dict:
    """Run E1 and the theory at the same times; returns a plain dict (JSON-serializable).

    `lam_normalized` is lam~ = lam_code / 4 and every time is normalized flow time
    (docs/paper.md#normalized-units).

    Public entry point for other code: ``from simulations.sparsification import run_e1``
    (not re-exported from ``simulations`` so that ``python -m`` does not import it twice).
    """
    lam = lam_normalized
    stages = ["draw", "t_full prediction"] + list(methods) + ["theory"]
    bar = _bar(progress, total=len(stages), desc="E1")
    # Closed in `finally`: a bar left open on Ctrl-C would redraw itself after the
    # one-line message when the interpreter exits.
    try:
        timings = {}

        def tick(name, t0):
            timings[name] = time.perf_counter() - t0
            bar.set_postfix_str(f"done: {name}")
            bar.update(1)

        t0 = time.perf_counter()
        w0 = initial_weights(m, seed, sigma0)
        tick("draw", t0)
        t0 = time.perf_counter()
        t_pred = t_full_adiabatic(w0, lam)
        tick("t_full prediction", t0)
        if t_max is None:
            t_max = float(max(4.0 / lam, 1.5 * t_pred))
        tt = table_times(lam, n_table)
        t_rec = np.unique(np.concatenate([[0.0], np.geomspace(1.0, t_max, n_times), tt]))
        t_rec = t_rec[t_rec <= t_max]
        curves = {}
        t_full = math.inf
        for meth in methods:
            t0 = time.perf_counter()
            opt = SparsificationOptions(t_eval=tuple(t_rec), dt=dt)
            r = integrate_sparsification(w0, lam, t_max, method=meth, options=opt)
            curves[meth] = {"t": r.t.tolist(), "m_prime": r.m_prime.tolist(), "l1": r.l1.tolist(),
                            "l2sq": r.l2sq.tolist(), "t_full": r.t_full,
                            "stats": r.stats.__dict__}
            if meth == "exact":
                t_full = r.t_full
                t_exact = r.t
            tick(meth, t0)
        if "exact" not in curves:
            t_exact = t_rec
        t0 = time.perf_counter()
        pm, pl = paper_law(t_exact, m, lam)
        # near LAM_MAX the refined law has no valid value (NaN, stored as null): expected,
        # not worth numpy's two-line warning in the middle of the progress bar
        with np.errstate(invalid="ignore"):
            rm, rl = refined_law(t_exact, m, lam, sigma0)
        mf = mean_field(t_exact, m, lam, sigma0)
        _announce_draws(n_draws, progress)
        # its own bar: the t_full draws are the one stage whose cost the user sets
        with _bar(progress, total=n_draws, desc="t_full draws", unit="draw",
                  leave=False) as draws:
            dist = t_full_distribution(m, lam, sigma0, n_draws=n_draws, seed=seed,
                                       on_draws=draws.update)
        tick("theory", t0)
    finally:
        bar.close()
    curves["paper"] = {"m_prime": pm.tolist(), "l1": pl.tolist()}
    curves["refined"] = {"m_prime": rm.tolist(), "l1": rl.tolist()}
    curves["mean_field"] = {"m_prime": mf.m_prime.tolist(), "l1": mf.l1.tolist(),
                            "r": mf.r.tolist()}
    table = []
    if "exact" in curves:
        ex = curves["exact"]
        idx = [int(np.argmin(np.abs(np.asarray(t_exact) - x))) for x in tt]
        for i in idx:
            mp, l1 = ex["m_prime"][i], ex["l1"][i]
            mf_ok = curves["mean_field"]["m_prime"][i] >= MF_MIN_SURVIVORS
            table.append({
                "t": float(t_exact[i]), "m_prime": int(mp), "l1": float(l1),
                "m_prime/paper": mp / pm[i], "l1/paper": l1 / pl[i],
                "m_prime/refined": mp / rm[i], "l1/refined": l1 / rl[i],
                "m_prime/mean_field": mp / mf.m_prime[i] if mf_ok else None,
                "l1/mean_field": l1 / mf.l1[i] if mf_ok else None,
            })
    ex = curves.get("exact")
    return {
        "params": {"m": m, "lam_normalized": lam, "sigma0": sigma0, "t_max": t_max, "dt": dt,
                   "methods": list(methods)},
        "seed": seed,
        "t": list(map(float, t_exact)),
        "m_prime": ex["m_prime"] if ex else None,
        "l1": ex["l1"] if ex else None,
        "t_full": t_full,
        "t_full_predicted": t_pred,
        "t_full_distribution": {
            "n_draws": n_draws, "mean": float(dist.mean()),
            "sem": float(dist.std(ddof=1) / math.sqrt(n_draws)),
            "q05": float(np.quantile(dist, 0.05)), "median": float(np.median(dist)),
            "q95": float(np.quantile(dist, 0.95)),
        },
        "table": table,
        "curves": curves,
        "timings_s": timings,
    }


# Seconds per t_full draw at k_top = 2000 (theory.sparsification.t_full_distribution),
# and the estimated time above which a run without its own draws bar says how long.
DRAW_SECONDS = 2e-4
ANNOUNCE_SECONDS = 60.0


def _announce_draws(n_draws: int, progress: bool) -> None:
    # The command line runs E1 in a worker under the runs bar, without the draws bar:
    # --n-draws 1e9 ran for days without a word. One line says what it will cost.
    seconds = n_draws * DRAW_SECONDS
    if not progress and seconds > ANNOUNCE_SECONDS:
        hours = seconds / 3600
        took = f"{hours:.1f} h" if hours >= 1 else f"{seconds / 60:.0f} min"
        print(f"E1: {n_draws:g} t_full draws take about {took} ({DRAW_SECONDS * 1e3:g} ms "
              "each); interrupt with Ctrl-C", file=sys.stderr, flush=True)


def memory_estimate(m: int, n_times: int, n_draws: int) -> float:
    """Peak bytes of `run_e1` (exact method) from the measured constants
    (simulations/runner/memory.py).

    Linear in the weights m (draw, sort and the affine reduction's arrays), the record
    times and the t_full draws; fitted by benchmarks/bench_memory.py.
    """
    return (_memory.PROCESS_BASELINE + _memory.E1_BYTES_PER_WEIGHT * m
            + _memory.E1_BYTES_PER_TIME * n_times + _memory.E1_BYTES_PER_DRAW * n_draws)


def format_table(res: dict) -> str:
    """The ratio table (simulated / predicted) as fixed-width text."""
    head = (f"{'t':>10} {'m_prime':>9} {'l1':>10} | {'m/paper':>8} {'l1/paper':>8} | "
            f"{'m/refined':>9} {'l1/refined':>10} | {'m/MF':>7} {'l1/MF':>7}")
    lines = [head, "-" * len(head)]

    def f(v, w):
        return f"{v:>{w}.4f}" if v is not None else f"{'-':>{w}}"

    for row in res["table"]:
        lines.append(
            f"{row['t']:>10.4g} {row['m_prime']:>9d} {row['l1']:>10.4g} | "
            f"{f(row['m_prime/paper'], 8)} {f(row['l1/paper'], 8)} | "
            f"{f(row['m_prime/refined'], 9)} {f(row['l1/refined'], 10)} | "
            f"{f(row['m_prime/mean_field'], 7)} {f(row['l1/mean_field'], 7)}")
    d = res["t_full_distribution"]
    lam = res["params"]["lam_normalized"]
    lines.append(
        f"t_full: simulated {res['t_full']:.6g} (lam t = {lam * res['t_full']:.4f}); "
        f"prediction for this draw (eq. 19) {res['t_full_predicted']:.9g} "
        f"(simulated - predicted = {res['t_full'] - res['t_full_predicted']:.3g}); "
        f"over draws lam t_full: "
        f"mean {lam * d['mean']:.3f} +- {lam * d['sem']:.3f}, median {lam * d['median']:.3f}, "
        f"5-95% [{lam * d['q05']:.3f}, {lam * d['q95']:.3f}]")
    return "\n".join(lines)


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


# ---------------------------------------------------------------------------------------
# The experiment protocol (simulations/runner/protocol.py, docs/usage.md#protocol)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class E1Config:
    """E1's parameters; normalized units (docs/paper.md#normalized-units). Defaults: the paper."""

    m: int = 100_000  # number of weights of the single feature, integer >= 2
    # L1 strength lam~ in normalized units (= code-unit lam / 4), in (0, LAM_MAX)
    lam_normalized: float = 1e-5
    seed: int = 0  # seed of the initial draw: SeedSequence(seed)
    sigma0: float = SIGMA0_PAPER  # init scale: w_k = |N(0, sigma0^2 / m)|
    # final normalized flow time; None = max(4 / lam~, 1.5 x the predicted t_full)
    t_max: float | None = None
    methods: tuple[str, ...] = ("exact",)  # solvers, a subset of SPARSIFICATION_METHODS
    dt: float = 0.5  # Euler step in normalized flow time (the authors' 0.5)
    n_times: int = 80  # log-spaced record times
    n_table: int = 5  # rows of the ratio table, log-spaced in [10, 1/lam~]
    n_draws: int = 400  # initial draws for the t_full distribution

    @classmethod
    def quick(cls) -> E1Config:
        """Smoke size: m = 3000, lam~ = 1e-3, 30 record times, 20 draws (about a second)."""
        return cls(m=3000, lam_normalized=1e-3, n_times=30, n_draws=20)


def _add_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--m", type=_number, default=None,
                   help=f"number of weights m, integer >= {M_MIN} (default 1e5, as the paper)")
    p.add_argument("--lam-normalized", type=_number, default=None,
                   help=f"L1 strength lam~ in normalized units (= code-unit lam / "
                   f"{FLOW_TIME_PER_LR_STEP:g}), in (0, {LAM_MAX:.4f}) (default 1e-5)")
    # The flag was called --lam while it meant lam~ = lam / 4; --lam in every other entry
    # point is code units, so the old name is refused instead of silently rescaled.
    p.add_argument("--lam", action=_Renamed, nargs="?", help=argparse.SUPPRESS)
    p.add_argument("--sigma0", type=_number, default=None,
                   help="init scale: |N(0, sigma0^2/m)| (default 0.9, as the paper)")
    p.add_argument("--t-max", type=_number, default=None,
                   help="final normalized flow time, tau = 4 lr steps "
                   "(default max(4/lam~, 1.5 x predicted t_full))")
    p.add_argument("--methods", default=None,
                   help="comma-separated subset of exact,ode,euler (default exact); "
                        f"limits: ode m <= {MAX_M['ode']:.0e}, euler m <= {MAX_M['euler']:.0e}")
    p.add_argument("--dt", type=_number, default=None,
                   help="Euler step in normalized flow time (default 0.5, as the paper)")
    p.add_argument("--n-times", type=integer, default=None,
                   help="number of log-spaced record times (default 80)")
    p.add_argument("--n-table", type=integer, default=None,
                   help="rows of the ratio table, log-spaced in normalized time [10, 1/lam~] "
                   "(default 5)")
    p.add_argument("--n-draws", type=integer, default=None,
                   help="draws for the t_full distribution (default 400)")


class _Renamed(argparse.Action):
    """The old --lam: refused with a one-line error that names the new flag and the factor."""

    def __call__(self, parser, namespace, values, option_string=None):
        parser.error(f"--lam was renamed --lam-normalized: it is lam~ in normalized units, "
                     f"the code-unit lam of simulations.compare divided by "
                     f"{FLOW_TIME_PER_LR_STEP:g}")


# Smallest m: the t_full distribution (theory.sparsification.t_full_distribution) needs 3.
M_MIN = 3
# Largest sigma0: the weights |N(0, sigma0^2/m)| enter the flow squared and cubed; far
# above the paper's 0.9 they overflow float64 (1e300 gave an OverflowError traceback).
SIGMA0_MAX = 1e3
# Record times are log-spaced from normalized time 1 (run_e1): t_max must exceed it.
T_MAX_MIN = 1.0


def _configure(args) -> tuple[E1Config, list[str]]:
    """The config of the flags: defaults or quick(), then every explicit flag (which wins)."""
    base = E1Config.quick() if args.quick else E1Config()
    explicit = {f.name: getattr(args, f.name) for f in fields(E1Config)
                if getattr(args, f.name, None) is not None}
    if isinstance(explicit.get("methods"), str):
        explicit["methods"] = tuple(x.strip() for x in args.methods.split(",") if x.strip())
    if "m" in explicit:
        m = explicit["m"]
        if not (math.isfinite(m) and m == int(m) and m >= M_MIN):
            raise ValueError(f"--m must be an integer >= {M_MIN}, got {m:g}")
        explicit["m"] = int(m)
    config = replace(base, **explicit)
    _validate(config, args.methods)
    changes = [f"{k} {getattr(base, k)} -> {v}" for k, v in explicit.items()
               if getattr(base, k) != v and k != "seed"]
    return config, changes


def _validate(c: E1Config, methods_text) -> None:
    if not (0 < c.lam_normalized < LAM_MAX):
        raise ValueError(f"--lam-normalized must be in (0, {LAM_MAX:.6f}), got "
                         f"{c.lam_normalized:g}")
    if not (0 < c.sigma0 <= SIGMA0_MAX):
        raise ValueError(f"--sigma0 must be in (0, {SIGMA0_MAX:g}], got {c.sigma0:g}")
    if c.t_max is not None and not (T_MAX_MIN < c.t_max < math.inf):
        raise ValueError(f"--t-max must be finite and > {T_MAX_MIN:g} (the record times start "
                         f"at normalized time {T_MAX_MIN:g}), got {c.t_max:g}")
    bad = [x for x in c.methods if x not in SPARSIFICATION_METHODS]
    if bad or not c.methods or len(set(c.methods)) != len(c.methods):
        raise ValueError(f"--methods must be a comma-separated subset of exact,ode,euler, got "
                         f"{methods_text!r}")
    for meth in c.methods:
        if c.m > MAX_M.get(meth, math.inf):
            raise ValueError(f"--methods {meth} needs m <= {MAX_M[meth]:.0e}, got m = {c.m:.0e}")
    if not (0 < c.dt <= 1):
        raise ValueError(f"--dt must be in (0, 1] (Euler is unstable above 1), got {c.dt:g}")
    if c.n_times < 2:
        raise ValueError(f"--n-times must be >= 2, got {c.n_times}")
    if c.n_table < 1:
        raise ValueError(f"--n-table must be >= 1, got {c.n_table}")
    if c.n_draws < 2:
        raise ValueError(f"--n-draws must be >= 2, got {c.n_draws}")


def runs(config: E1Config) -> list[Run]:
    """E1 is one run: one initial draw integrated by every requested method."""
    params = {**asdict(config), "methods": list(config.methods)}
    return [Run("e1", params, cost=float(config.m))]


def run_one(run: Run) -> dict:
    """`run_e1` of the run's parameters, without its progress bar (it runs in a worker)."""
    p = dict(run.params)
    return run_e1(p.pop("m"), p.pop("lam_normalized"), methods=tuple(p.pop("methods")),
                  progress=False, **p)


def report(config: E1Config, records: list[dict]) -> dict:
    """E1's report is its one record (params, curves, ratio table, t_full)."""
    (record,) = records
    return dict(record)


def _tables(res: dict) -> dict[str, list[dict]]:
    return {"e1_table": res["table"]}


def _figures(config, res: dict) -> dict:
    from simulations._sparsification_figures import e1_figure

    return {"e1_sparsification": e1_figure(res)}


def _memory_estimate(config: E1Config, workers: int) -> tuple[float, str]:
    return (memory_estimate(config.m, config.n_times, config.n_draws),
            f"--m {config.m:g} --n-times {config.n_times:g} --n-draws {config.n_draws:g}")


EXPERIMENT = declare(globals(), name="e1", prog=PROG, description=__doc__.split("\n\n")[0],
                      default_out="results/sparsification", default_seed=0)


main = command(EXPERIMENT)


if __name__ == "__main__":
    sys.exit(main())
