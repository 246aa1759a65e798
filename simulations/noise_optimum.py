"""Noise, corrected: the fastest-sparsifying sigma, which simplex training picks, and the counts.

Run ``python -m simulations.noise_optimum --help``. Parts (``--parts``, default all), each
cited by docs/theory/noise.md:

* ``speed`` (#optimum): Bernoulli noise, independent per instance and input, m = 2n, a grid
  of sigma (n-1) per n. Each model's sparsification time t_half is the first step at which
  its mean sum_k W_ik^4 reaches half-way from its initial value to the anchored-simplex
  plateau (eq. 11), interpolated in log-step between records; a model that never gets there
  is censored at the budget. The measured optimum of n is the grid value with the smallest
  median t_half. Gaussian runs from the same initial weights give the sparsification index of
  the phase map at the budget.
* ``simplex`` (#simplices): trained models at n = 8, 16, 24 classified by their row profiles
  against the anchored (eq. 10) and centred (eq. 13) simplices; plus the stability runs:
  training started *at* each simplex (unit rows, rotated into random neurons, perturbed).
* ``counts`` (#counts): polysemantic counts of noise-trained models by both rules
  (``dynamics.count_polysemantic_window``, ``dynamics.count_polysemantic_assignment``) for
  (n, m) up to m = 16 n, at sigma (n-1) = 1 and at the measured optimum.

Every part writes one CSV row per trained model (``noise_optimum_<part>.csv``) and a JSON
summary with the config, seeds and package versions to ``--out``. Code units: loss = sum of
squared errors, no L1, plain GD on one noise draw per step (lr 0.02 as in the paper's E2).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import platform
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from dynamics import (
    HiddenNoise,
    TrainOptions,
    count_polysemantic_assignment,
    count_polysemantic_window,
    fourth_norms,
    init_weights,
    mean_offdiagonal_overlap,
    polysemantic_neurons,
    train,
)
from theory import (
    expected_poly_exact,
    noise_centred_simplex_fourth,
    noise_sigma_optimum,
    noise_simplex_fourth,
    noise_simplex_weights,
)

__all__ = ["PARTS", "OptimumConfig", "run", "classify_simplex", "t_half", "main"]

PARTS = ("speed", "simplex", "counts", "long")
# Part ids in the seed keys: SeedSequence([seed, part, ...]).
_PART_ID = {"speed": 1, "simplex": 2, "counts": 3, "long": 3}
# A row counts as dense when its participation ratio sum w^4 / (sum w^2)^2 is below 1/2: a
# 1-sparse row has 1, the anchor 1/(n-1), every near-axis row of both simplices > 0.8.
DENSE_Q = 0.5


@dataclass(frozen=True)
class OptimumConfig:
    """Every part's grid; code units. Defaults are the runs cited by docs/theory/noise.md."""

    seed: int = 20261127  # master seed; run seeds are SeedSequence([seed, part, ...])
    lr: float = 0.02  # GD step size (paper E2: 0.02)
    n_records: int = 40  # log-spaced record points per run (speed, simplex)
    # --- speed: sigma (n-1) grid at m = 2n ---
    speed_ns: tuple[int, ...] = (8, 16, 32)
    speed_scaled_sigmas: tuple[float, ...] = (1.0, 1.375, 2.0, 2.5, 3.0)
    # Gaussian runs give the phase map's index; the confirmation run measures t_half only
    speed_shapes: tuple[str, ...] = ("bernoulli",)
    speed_instances: int = 4
    speed_steps: int = 100_000
    # --- simplex: which regular simplex training ends in ---
    simplex_ns: tuple[int, ...] = (8, 16, 24)
    simplex_scaled_sigma: float = 1.0  # sigma (n-1) of the classified runs
    simplex_instances: int = 4
    simplex_steps: int = 100_000
    stability_steps: int = 30_000  # runs started at a simplex
    stability_perturbation: float = 0.01  # sd of the Gaussian kick added to the start
    # --- counts ---
    count_sizes: tuple[tuple[int, int], ...] = ((8, 16), (8, 32), (8, 64), (8, 128),
                                                (16, 32), (16, 64), (16, 128))
    # sigma (n-1) per n: the scale 1 and the fastest value of the exploration (seed 101)
    count_scaled_sigmas: tuple[tuple[int, tuple[float, ...]], ...] = (
        (8, (1.0, 2.0)), (16, (1.0, 2.5)))
    count_instances: int = 16
    count_steps: int = 100_000
    # --- long: count cells that are still dense at count_steps, rerun longer from the same
    # initial weights as their counts cell: (n, m, sigma (n-1), steps) ---
    count_long: tuple[tuple[int, int, float, int], ...] = ((8, 128, 1.0, 400_000),)


QUICK = dict(
    n_records=10, speed_ns=(4,), speed_scaled_sigmas=(1.0, 2.0), speed_instances=2,
    speed_steps=1000, simplex_ns=(8,), simplex_instances=2, simplex_steps=1000,
    stability_steps=500, count_sizes=((8, 16),), count_scaled_sigmas=((8, (1.0,)),),
    count_instances=2, count_steps=1000, count_long=((8, 16, 1.0, 1500),),
)


# The exploration grid of the speed part (docs/theory/noise.md#optimum: master seed 101):
# four n, eight sigma (n-1), Gaussian controls for the phase map's index.
EXPLORATION = dict(
    speed_ns=(4, 8, 16, 32), speed_scaled_sigmas=(0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0),
    speed_shapes=("bernoulli", "gaussian"),
)


def _say(message: str) -> None:
    """One progress line on stderr per finished cell (keeps the tqdm bar intact)."""
    from tqdm import tqdm

    tqdm.write(message, file=sys.stderr)


def _seed(cfg: OptimumConfig, *key: int) -> np.random.SeedSequence:
    return np.random.SeedSequence([cfg.seed, *key])


def _schedule(steps: int, n_records: int) -> tuple[int, ...]:
    pts = np.unique(np.round(np.geomspace(1, steps, n_records)).astype(np.int64))
    return tuple(int(k) for k in pts)


def _train(W0, sigma, shape, steps, n_records, lr, seed):
    opts = TrainOptions(optimizer="gd", lr=lr, lam=0.0, max_steps=steps,
                        noise=HiddenNoise(float(sigma), shape, "independent", 1),
                        record_steps=_schedule(steps, n_records), record_weights=True)
    return train(W0, opts, noise_seed=seed, throw=False)


def t_half(steps, f4, start: float, plateau: float) -> float:
    """First step at which ``f4`` reaches (start + plateau)/2, interpolated in log-step.

    ``steps`` increasing (> 0), ``f4`` the mean sum_k W_ik^4 recorded there. Returns inf if
    the level is never reached (the run is censored at its budget).
    """
    level = 0.5 * (start + plateau)
    steps, f4 = np.asarray(steps, float), np.asarray(f4, float)
    above = np.flatnonzero(f4 >= level)
    if above.size == 0:
        return math.inf
    k = int(above[0])
    if k == 0:
        return float(steps[0])
    x0, x1 = math.log(steps[k - 1]), math.log(steps[k])
    y0, y1 = f4[k - 1], f4[k]
    return float(math.exp(x0 + (level - y0) / (y1 - y0) * (x1 - x0)))


# --- speed ----------------------------------------------------------------------------------


def _run_speed(cfg: OptimumConfig, bar) -> tuple[list[dict], dict]:
    rows, summary = [], {}
    for n in cfg.speed_ns:
        m = 2 * n
        W0 = init_weights(n, m, _seed(cfg, 1, n, 0).spawn(cfg.speed_instances))
        start = [float(fourth_norms(w).mean()) for w in W0]
        plateau = float(noise_simplex_fourth(n))
        per_x = {}
        for b, x in enumerate(cfg.speed_scaled_sigmas):
            sigma = x / (n - 1)
            final = {}
            for shape in cfg.speed_shapes:
                recs = _train(W0, sigma, shape, cfg.speed_steps, cfg.n_records, cfg.lr,
                              _seed(cfg, 1, n, 1 + b))
                bar.update(1)
                final[shape] = []
                for i, r in enumerate(recs):
                    f4 = [float(fourth_norms(s).mean()) for s in r.snapshots]
                    ok = r.status != "diverged"
                    th = t_half(r.snapshot_steps, f4, start[i], plateau) if ok else math.inf
                    w = r.snapshots[-1]
                    final[shape].append(f4[-1] if ok else math.nan)
                    rows.append({
                        "n": n, "m": m, "scaled_sigma": x, "sigma": sigma, "shape": shape,
                        "instance": i, "status": r.status, "steps": cfg.speed_steps,
                        "f4_start": start[i], "f4_final": f4[-1], "t_half": th,
                        "sq_norm_final": float(np.mean(np.sum(w**2, axis=1))),
                        "mean_overlap_final": mean_offdiagonal_overlap(w),
                        "seed": f"{cfg.seed}/1/{n}/{1 + b}",
                    })
            tb = [rw["t_half"] for rw in rows[-len(cfg.speed_shapes) * cfg.speed_instances:]
                  if rw["shape"] == "bernoulli"]
            fb = float(np.nanmean(final["bernoulli"]))
            fg = float(np.nanmean(final["gaussian"])) if "gaussian" in final else math.nan
            per_x[x] = {"median_t_half": float(np.median(tb)), "t_half": tb,
                        "f4_bernoulli": fb, "f4_gaussian": fg,
                        "index": (fb - fg) / (1 - fg)}
            _say(f"speed n={n} sigma(n-1)={x:g}: median t_half "
                 f"{per_x[x]['median_t_half']:.4g}, f4 B {fb:.3f} G {fg:.3f}")
        finite = {x: v["median_t_half"] for x, v in per_x.items()}
        best = min(finite, key=finite.get)
        summary[n] = {"m": m, "cells": per_x,
                      "measured_optimum": best if math.isfinite(finite[best]) else None,
                      "theory_optimum": float(noise_sigma_optimum(n)) * (n - 1)}
    return rows, summary


# --- simplex --------------------------------------------------------------------------------


def simplex_rows(kind: str, n: int) -> np.ndarray:
    """The unit simplex ``kind`` as an (n, n) array: anchored (eq. 10, last column 0) or
    centred (eq. 13) (docs/theory/noise.md#simplices)."""
    W = np.zeros((n, n))
    if kind == "anchored":
        u, v = (float(x) for x in noise_simplex_weights(n))
        W[: n - 1, : n - 1] = v
        W[np.arange(n - 1), np.arange(n - 1)] = u
        W[n - 1, : n - 1] = -1 / math.sqrt(n - 1)
    elif kind == "centred":
        W = math.sqrt(n / (n - 1)) * (np.eye(n) - 1.0 / n)
    else:
        raise ValueError(f"kind must be 'anchored' or 'centred', got {kind!r}")
    return W


def profile_distance(W, C) -> float:
    """Distance between the row profiles of W and C, invariant to row and column
    permutations and signs: rows' sorted |weights| (zero-padded), matched optimally.

    It is a lower bound on min ||W - P C Q S||_F over permutations P, Q and signs S, since
    sorting |x| and |y| never increases ||x - y|| (rearrangement inequality).
    """
    from scipy.optimize import linear_sum_assignment

    m = max(W.shape[1], C.shape[1])
    pw = np.zeros((W.shape[0], m))
    pc = np.zeros((C.shape[0], m))
    pw[:, : W.shape[1]] = -np.sort(-np.abs(W), axis=1)
    pc[:, : C.shape[1]] = -np.sort(-np.abs(C), axis=1)
    cost = np.sum((pw[:, None, :] - pc[None, :, :]) ** 2, axis=-1)
    r, c = linear_sum_assignment(cost)
    return float(math.sqrt(cost[r, c].sum()))


def classify_simplex(W) -> dict:
    """Dense rows (participation ratio < DENSE_Q), profile distances of W (rows rescaled to
    unit norm) to the anchored and the centred simplex, and the nearer of the two."""
    W = np.asarray(W, float)
    n = W.shape[0]
    sq = np.sum(W**2, axis=1)
    q = np.sum(W**4, axis=1) / sq**2
    U = W / np.sqrt(sq)[:, None]
    d = {k: profile_distance(U, simplex_rows(k, n)) for k in ("anchored", "centred")}
    return {"dense_rows": int(np.sum(q < DENSE_Q)), "dist_anchored": d["anchored"],
            "dist_centred": d["centred"], "nearer": min(d, key=d.get),
            "f4": float(np.mean(np.sum(W**4, axis=1)))}


def _start_at(kind: str, n: int, m: int, instances: int, kick: float, seed) -> np.ndarray:
    """Instances started at the simplex ``kind``, placed on random distinct neurons with
    random row order and signs flipped per neuron (symmetries of the loss), plus N(0, kick^2)."""
    out = np.empty((instances, n, m))
    C = simplex_rows(kind, n)
    for i, ch in enumerate(seed.spawn(instances)):
        g = np.random.default_rng(ch)
        W = np.zeros((n, m))
        W[:, g.choice(m, n, replace=False)] = C * g.choice([-1.0, 1.0], n)[None, :]
        out[i] = W[g.permutation(n)] + kick * g.standard_normal((n, m))
    return out


def _run_simplex(cfg: OptimumConfig, bar) -> tuple[list[dict], dict]:
    rows, summary = [], {}
    for n in cfg.simplex_ns:
        m = 2 * n
        sigma = cfg.simplex_scaled_sigma / (n - 1)
        starts = {"random": init_weights(n, m, _seed(cfg, 2, n, 0).spawn(cfg.simplex_instances))}
        for j, kind in enumerate(("anchored", "centred")):
            starts[kind] = _start_at(kind, n, m, cfg.simplex_instances,
                                     cfg.stability_perturbation, _seed(cfg, 2, n, 1 + j))
        summary[n] = {}
        for j, (start, W0) in enumerate(starts.items()):
            steps = cfg.simplex_steps if start == "random" else cfg.stability_steps
            recs = _train(W0, sigma, "bernoulli", steps, 4, cfg.lr, _seed(cfg, 2, n, 10 + j))
            bar.update(1)
            kinds = []
            for i, r in enumerate(recs):
                c0 = classify_simplex(W0[i])
                c1 = classify_simplex(r.snapshots[-1])
                kinds.append(c1["nearer"])
                rows.append({"n": n, "m": m, "sigma": sigma, "start": start, "instance": i,
                             "steps": steps, "status": r.status,
                             **{f"start_{k}": v for k, v in c0.items()},
                             **{f"final_{k}": v for k, v in c1.items()},
                             "seed": f"{cfg.seed}/2/{n}/{10 + j}"})
            _say(f"simplex n={n} start={start}: nearer {kinds}")
            summary[n][start] = {"nearer": kinds,
                                 "dense_rows": [rw["final_dense_rows"]
                                                for rw in rows[-len(recs):]]}
        summary[n]["f4_anchored"] = float(noise_simplex_fourth(n))
        summary[n]["f4_centred"] = float(noise_centred_simplex_fourth(n))
    return rows, summary


# --- counts ---------------------------------------------------------------------------------


def _count_cell(cfg, n, m, x, steps, W0, noise_key, rows, summary) -> None:
    """Train one (n, m, sigma (n-1)) cell of count_instances models; append its CSV rows and
    its summary entry."""
    sigma = x / (n - 1)
    recs = _train(W0, sigma, "bernoulli", steps, 2, cfg.lr, _seed(cfg, *noise_key))
    a, w, done = [], [], []
    for i, r in enumerate(recs):
        W = r.snapshots[-1]
        kinds = polysemantic_neurons(W)
        row = {"n": n, "m": m, "scaled_sigma": x, "sigma": sigma, "instance": i,
               "steps": steps, "status": r.status,
               "assignment": count_polysemantic_assignment(W),
               "window": count_polysemantic_window(W),
               "opposite_pairs": sum(1 for _, p, q in kinds if p == 1 and q == 1),
               "dense_rows": classify_simplex(W)["dense_rows"],
               "f4_final": float(fourth_norms(W).mean()),
               "seed": "/".join(str(k) for k in (cfg.seed, *noise_key))}
        rows.append(row)
        done.append(row)
        if r.status != "diverged":  # a diverged model has no count
            a.append(row["assignment"])
            w.append(row["window"])
    k = len(a)
    key = f"{n},{m},{x},{steps}"
    summary[key] = {
        "n": n, "m": m, "scaled_sigma": x, "models": k, "steps": steps,
        "assignment_mean": float(np.mean(a)),
        "assignment_se": float(np.std(a, ddof=1) / math.sqrt(k)) if k > 1 else 0.0,
        "window_mean": float(np.mean(w)),
        "window_se": float(np.std(w, ddof=1) / math.sqrt(k)) if k > 1 else 0.0,
        "f4_mean": float(np.mean([rw["f4_final"] for rw in done
                                  if rw["status"] != "diverged"])),
        "diverged": sum(rw["status"] == "diverged" for rw in done),
        # the L1 story's collision count, for contrast (docs/theory/collisions.md)
        "collision_theory": float(expected_poly_exact(n, m)),
    }
    _say(f"counts n={n} m={m} sigma(n-1)={x:g} steps={steps}: " + json.dumps(
        {q: round(v, 3) for q, v in summary[key].items() if q.endswith(("mean", "se"))}))


def _count_init(cfg, n, m):
    return init_weights(n, m, _seed(cfg, 3, n, m, 0).spawn(cfg.count_instances))


def _run_counts(cfg: OptimumConfig, bar) -> tuple[list[dict], dict]:
    rows, summary = [], {}
    xs_of = dict(cfg.count_scaled_sigmas)
    for n, m in cfg.count_sizes:
        W0 = _count_init(cfg, n, m)
        for b, x in enumerate(xs_of[n]):
            _count_cell(cfg, n, m, x, cfg.count_steps, W0, (3, n, m, 1 + b), rows, summary)
            bar.update(1)
    return rows, summary


def _run_long(cfg: OptimumConfig, bar) -> tuple[list[dict], dict]:
    rows, summary = [], {}
    for j, (n, m, x, steps) in enumerate(cfg.count_long):
        _count_cell(cfg, n, m, x, steps, _count_init(cfg, n, m), (3, n, m, 100 + j),
                    rows, summary)
        bar.update(1)
    return rows, summary


# --- driver ---------------------------------------------------------------------------------

_RUNNERS = {"speed": _run_speed, "simplex": _run_simplex, "counts": _run_counts,
            "long": _run_long}


def _n_runs(cfg: OptimumConfig, parts) -> int:
    sizes = {"speed": 2 * len(cfg.speed_ns) * len(cfg.speed_scaled_sigmas),
             "simplex": 3 * len(cfg.simplex_ns),
             "counts": sum(len(dict(cfg.count_scaled_sigmas)[n]) for n, _ in cfg.count_sizes),
             "long": len(cfg.count_long)}
    return sum(sizes[p] for p in parts)


def _provenance(cfg: OptimumConfig, parts) -> dict:
    import numba
    import scipy
    import sympy

    return {"config": asdict(cfg), "parts": list(parts), "python": platform.python_version(),
            "versions": {"numpy": np.__version__, "scipy": scipy.__version__,
                         "sympy": sympy.__version__, "numba": numba.__version__},
            "command": " ".join(["python -m simulations.noise_optimum", *sys.argv[1:]])}


def run(cfg: OptimumConfig, parts=PARTS, progress: bool = True) -> dict:
    """Run the parts; returns {"provenance", part: {"rows": [...], "summary": {...}}}."""
    from tqdm import tqdm

    bad = [p for p in parts if p not in PARTS]
    if bad:
        raise ValueError(f"parts must be a subset of {PARTS}, got {bad}")
    out = {"provenance": _provenance(cfg, parts)}
    t0 = time.time()
    with tqdm(total=_n_runs(cfg, parts), desc="noise runs", disable=not progress,
              file=sys.stderr) as bar:
        for p in parts:
            rows, summary = _RUNNERS[p](cfg, bar)
            out[p] = {"rows": rows, "summary": summary}
    out["provenance"]["seconds"] = time.time() - t0
    return out


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def write(results: dict, out: Path, figure: bool = True) -> list[str]:
    """CSV per part, one JSON summary, and the optimum-over-phase-map figure (PNG)."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for p in PARTS:
        if p in results and results[p]["rows"]:
            path = out / f"noise_optimum_{p}.csv"
            rows = results[p]["rows"]
            with path.open("w", newline="") as fh:
                wr = csv.DictWriter(fh, fieldnames=list(rows[0]))
                wr.writeheader()
                wr.writerows(rows)
            written.append(str(path))
    summ = {"provenance": results["provenance"],
            **{p: results[p]["summary"] for p in PARTS if p in results}}
    path = out / "noise_optimum.json"
    path.write_text(json.dumps(_jsonable(summ), indent=1))
    written.append(str(path))
    if figure and "speed" in results:
        import matplotlib

        matplotlib.use("Agg")
        from simulations._noise_optimum_figure import optimum_figure

        fig = optimum_figure(results["speed"]["summary"])
        path = out / "noise_optimum.png"
        fig.savefig(path, dpi=120, bbox_inches="tight")
        written.append(str(path))
    return written


def _figure_only(parser, paths: list[Path], out: Path) -> int:
    """Draw the optimum figure from saved summaries (docs/theory/noise.md#optimum)."""
    import matplotlib

    matplotlib.use("Agg")
    from simulations._noise_optimum_figure import optimum_figure

    if len(paths) > 2:
        parser.error(f"--figure-from takes one or two JSON files, got {len(paths)}")
    speeds = []
    for path in paths:
        try:
            speeds.append(json.loads(path.read_text())["speed"])
        except (OSError, ValueError, KeyError):
            parser.error(f"--figure-from: {path} is not a readable noise_optimum.json "
                         f"with a speed part")
    fig = optimum_figure(speeds[0], speeds[1] if len(speeds) > 1 else None)
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "noise_optimum.png", dpi=110, bbox_inches="tight")
    print(f"wrote: {out / 'noise_optimum.png'}")
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line on stderr with exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def main(argv=None) -> int:
    """CLI entry point; returns the exit status (2 on bad arguments)."""
    p = _Parser(prog="python -m simulations.noise_optimum",
                description=__doc__.split("\n\n")[0])
    p.add_argument("--parts", default=",".join(PARTS),
                   help=f"comma-separated subset of {','.join(PARTS)} (default: all)")
    p.add_argument("--seed", type=int, default=OptimumConfig.seed,
                   help=f"master seed (default {OptimumConfig.seed}, the docs' confirmation)")
    p.add_argument("--quick", action="store_true", help="smoke run: tiny sizes and step counts")
    p.add_argument("--exploration", action="store_true",
                   help="the exploration grid of the speed part (n = 4..32, eight sigma (n-1), "
                        "with Gaussian controls); the docs ran it with --seed 101")
    p.add_argument("--out", type=Path, default=Path("results/noise_optimum"),
                   help="output directory (default results/noise_optimum)")
    p.add_argument("--no-figure", action="store_true", help="skip the PNG figure")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the summaries as JSON")
    p.add_argument("--figure-from", type=Path, nargs="+", metavar="JSON", default=None,
                   help="no training: draw the figure from the speed summary of one run's "
                        "noise_optimum.json, with a second run's fastest cells overlaid")
    args = p.parse_args(argv)
    if args.figure_from is not None:
        return _figure_only(p, args.figure_from, args.out)
    parts = tuple(x.strip() for x in args.parts.split(",") if x.strip())
    if not parts or any(x not in PARTS for x in parts):
        p.error(f"--parts must be a comma-separated subset of {','.join(PARTS)}, "
                f"got {args.parts!r}")
    cfg = OptimumConfig(seed=args.seed)
    if args.exploration:
        cfg = replace(cfg, **EXPLORATION)
    if args.quick:
        cfg = replace(cfg, **QUICK)
    results = {}
    for q in parts:  # write after every part, so a long run keeps what it finished
        part = run(cfg, (q,), progress=not args.no_progress)
        seconds = results.get("provenance", {}).get("seconds", 0.0)
        results.update(part)
        results["provenance"]["parts"] = [x for x in parts if x in results]
        results["provenance"]["seconds"] = seconds + part["provenance"]["seconds"]
        written = write(results, args.out, figure=not args.no_figure)
    summ = _jsonable({q: results[q]["summary"] for q in parts})
    print(json.dumps(summ, indent=1) if args.json else
          "\n".join(f"{q}: {json.dumps(v)}" for q, v in summ.items()))
    print("wrote: " + ", ".join(written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
