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
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from dynamics import (
    FLOW_TIME_PER_LR_STEP,
    SPARSIFICATION_LAM_MAX,
    SPARSIFICATION_METHODS,
    SparsificationOptions,
    init_weights,
    integrate_sparsification,
)
from simulations import _memory
from simulations._cli import (
    CliError,
    Interrupted,
    OneLineErrorParser,
    integer,
    jsonable,
    output_dir,
    run_cli,
    write_outputs,
)
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
    from tqdm import tqdm

    lam = lam_normalized
    stages = ["draw", "t_full prediction"] + list(methods) + ["theory"]
    bar = tqdm(total=len(stages), desc="E1", disable=not progress, file=sys.stderr)
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
        rm, rl = refined_law(t_exact, m, lam, sigma0)
        mf = mean_field(t_exact, m, lam, sigma0)
        dist = t_full_distribution(m, lam, sigma0, n_draws=n_draws, seed=seed)
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
        "provenance": _provenance(),
    }


def _provenance() -> dict:
    """Package versions and platform, recorded with every output."""
    import platform

    import numba
    import scipy
    import sympy

    return {"versions": {"python": platform.python_version(), "numpy": np.__version__,
                         "scipy": scipy.__version__, "sympy": sympy.__version__,
                         "numba": numba.__version__},
            "machine": platform.machine(), "seed_sequence": "numpy SeedSequence(seed) -> PCG64"}


def memory_estimate(m: int, n_times: int, n_draws: int) -> float:
    """Peak bytes of `run_e1` (exact method) from the measured constants (simulations/_memory.py).

    Linear in the weights m (draw, sort and the affine reduction's arrays), the record
    times and the t_full draws; fitted by benchmarks/bench_memory.py.
    """
    return (_memory.PROCESS_BASELINE + _memory.E1_BYTES_PER_WEIGHT * m
            + _memory.E1_BYTES_PER_TIME * n_times + _memory.E1_BYTES_PER_DRAW * n_draws)


def _write(res: dict, out: Path, figures: bool) -> list[str]:
    p = res["params"]
    stem = f"e1_m{p['m']:.0e}_lam{p['lam_normalized']:.0e}_seed{res['seed']}".replace("+", "")
    path = out / f"{stem}.json"
    path.write_text(json.dumps(jsonable(res), indent=1, allow_nan=False))
    written = [str(path)]
    if figures:
        import matplotlib

        matplotlib.use("Agg")
        from simulations._sparsification_figures import e1_figure

        fig = e1_figure(res)
        for ext in ("png", "pdf"):
            fp = out / f"{stem}.{ext}"
            fig.savefig(fp, dpi=150, bbox_inches="tight")
            written.append(str(fp))
    return written


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


class _Renamed(argparse.Action):
    """The old --lam: refused with a one-line error that names the new flag and the factor."""

    def __call__(self, parser, namespace, values, option_string=None):
        parser.error(f"--lam was renamed --lam-normalized: it is lam~ in normalized units, "
                     f"the code-unit lam of simulations.compare divided by "
                     f"{FLOW_TIME_PER_LR_STEP:g}")


def _parse(argv):
    p = OneLineErrorParser(prog="python -m simulations.sparsification",
                description=__doc__.split("\n\n")[0],
                epilog="Outputs: <out>/e1_*.json, .png, .pdf; the ratio table on stdout.")
    p.add_argument("--m", type=_number, default=1e5,
                   help="number of weights m, integer >= 2 (default 1e5, as the paper)")
    p.add_argument("--lam-normalized", type=_number, default=1e-5,
                   help=f"L1 strength lam~ in normalized units (= code-unit lam / "
                   f"{FLOW_TIME_PER_LR_STEP:g}), in (0, {LAM_MAX:.4f}) (default 1e-5)")
    # The flag was called --lam while it meant lam~ = lam / 4; --lam in every other entry
    # point is code units, so the old name is refused instead of silently rescaled.
    p.add_argument("--lam", action=_Renamed, nargs="?", help=argparse.SUPPRESS)
    p.add_argument("--seed", type=integer, default=0,
                   help="seed of the initial draw, integer >= 0 (default 0)")
    p.add_argument("--sigma0", type=_number, default=SIGMA0_PAPER,
                   help="init scale: |N(0, sigma0^2/m)| (default 0.9, as the paper)")
    p.add_argument("--t-max", type=_number, default=None,
                   help="final normalized flow time, tau = 4 lr steps "
                   "(default max(4/lam~, 1.5 x predicted t_full))")
    p.add_argument("--methods", default="exact",
                   help="comma-separated subset of exact,ode,euler (default exact); "
                        f"limits: ode m <= {MAX_M['ode']:.0e}, euler m <= {MAX_M['euler']:.0e}")
    p.add_argument("--dt", type=_number, default=0.5,
                   help="Euler step in normalized flow time (default 0.5, as the paper)")
    p.add_argument("--n-times", type=integer, default=80,
                   help="number of log-spaced record times (default 80)")
    p.add_argument("--n-table", type=integer, default=5,
                   help="rows of the ratio table, log-spaced in normalized time [10, 1/lam~] "
                   "(default 5)")
    p.add_argument("--n-draws", type=integer, default=400,
                   help="draws for the t_full distribution (default 400)")
    p.add_argument("--out", default="results/sparsification",
                   help="output directory (default results/sparsification)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object (params, seed, t, m_prime, l1, t_full, ...)")
    p.add_argument("--no-figures", action="store_true", help="skip the PNG/PDF figure")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p, p.parse_args(argv)


def main(argv=None) -> int:
    """CLI entry point; returns the exit status (docs/usage.md#errors)."""
    return run_cli(_main, PROG, argv)


def _main(argv) -> int:
    parser, args = _parse(argv)
    if not (math.isfinite(args.m) and args.m == int(args.m) and args.m >= 2):
        parser.error(f"--m must be an integer >= 2, got {args.m:g}")
    m = int(args.m)
    if args.seed < 0:
        parser.error(f"--seed must be an integer >= 0, got {args.seed}")
    if not (0 < args.lam_normalized < LAM_MAX):
        parser.error(f"--lam-normalized must be in (0, {LAM_MAX:.6f}), got "
                     f"{args.lam_normalized:g}")
    if not (0 < args.sigma0 < math.inf):
        parser.error(f"--sigma0 must be > 0, got {args.sigma0:g}")
    if args.t_max is not None and not (0 < args.t_max < math.inf):
        parser.error(f"--t-max must be finite and > 0, got {args.t_max:g}")
    methods = tuple(x.strip() for x in args.methods.split(",") if x.strip())
    bad = [x for x in methods if x not in SPARSIFICATION_METHODS]
    if bad or not methods or len(set(methods)) != len(methods):
        parser.error(f"--methods must be a comma-separated subset of exact,ode,euler, got "
                     f"{args.methods!r}")
    for meth in methods:
        if m > MAX_M.get(meth, math.inf):
            parser.error(f"--methods {meth} needs m <= {MAX_M[meth]:.0e}, got m = {m:.0e}")
    if not (0 < args.dt <= 1):
        parser.error(f"--dt must be in (0, 1] (Euler is unstable above 1), got {args.dt:g}")
    if args.n_times < 2:
        parser.error(f"--n-times must be >= 2, got {args.n_times}")
    if args.n_table < 1:
        parser.error(f"--n-table must be >= 1, got {args.n_table}")
    if args.n_draws < 2:
        parser.error(f"--n-draws must be >= 2, got {args.n_draws}")
    try:
        _memory.check_memory(memory_estimate(m, args.n_times, args.n_draws),
                             f"--m {m:g} --n-times {args.n_times:g} --n-draws {args.n_draws:g}")
    except ValueError as error:
        raise CliError(str(error)) from None
    out = output_dir(args.out)
    try:
        res = run_e1(m, args.lam_normalized, seed=args.seed, sigma0=args.sigma0, t_max=args.t_max,
                     methods=methods, dt=args.dt, n_times=args.n_times, n_table=args.n_table,
                     n_draws=args.n_draws, progress=not args.no_progress)
    except KeyboardInterrupt:
        raise Interrupted("interrupted; nothing was written (outputs are written at the "
                          "end), rerun the same command") from None
    written = write_outputs(out, lambda: _write(res, out, figures=not args.no_figures))
    if args.json:
        out = {k: res[k] for k in ("params", "seed", "t", "m_prime", "l1", "t_full",
                                   "t_full_predicted", "t_full_distribution", "table",
                                   "provenance")}
        out["written"] = written
        print(json.dumps(jsonable(out), allow_nan=False))
    else:
        print(format_table(res))
        print("wrote: " + ", ".join(written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
