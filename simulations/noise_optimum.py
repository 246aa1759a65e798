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

Runs go through the shared experiment protocol (docs/usage.md#protocol): one run per batch
of models trained together, stored as it finishes, so an interrupted study resumes. Every
part writes one CSV row per trained model (``noise_optimum_<part>.csv``) and report.json
holds each part's summary with the config, seeds and package versions. Code units: loss =
sum of squared errors, no L1, plain GD on one noise draw per step (lr 0.02 as in the paper's
E2); step budgets (``*_steps``) are GD steps, code time lr x steps.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass, replace
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

from ._seeds import stream_seed
from .runner.cli import jsonable, run_cli
from .runner.command import build_parser, run_experiment
from .runner.protocol import Run, declare

__all__ = ["EXPERIMENT", "PARTS", "OptimumConfig", "classify_simplex", "main", "run_one", "runs",
           "t_half"]

PROG = "python -m simulations.noise_optimum"
PARTS = ("speed", "simplex", "counts", "long")
# Part ids in the seed keys: SeedSequence([seed, part, ...]): speed 1, simplex 2, counts and
# long 3 (long reruns count cells from the same initial weights).
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
    # --- which parts to run (--parts) ---
    parts: tuple[str, ...] = PARTS

    @classmethod
    def quick(cls) -> OptimumConfig:
        """Smoke sizes (QUICK): every part in seconds; not a measurement."""
        return cls(**QUICK)


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


# --- runs (simulations/runner/protocol.py): one Run per batch of models trained together --------


def _run(part: str, cfg: OptimumConfig, cost: float, **params) -> Run:
    return Run("noise-optimum", {"part": part, "seed": cfg.seed, "lr": cfg.lr, **params},
               cost=cost)


def runs(cfg: OptimumConfig) -> list[Run]:
    """Every batch of every part in `cfg.parts`, in the order the report reads them."""
    out = []
    if "speed" in cfg.parts:
        for n in cfg.speed_ns:
            for b, x in enumerate(cfg.speed_scaled_sigmas):
                for shape in cfg.speed_shapes:
                    out.append(_run("speed", cfg, 4.0 * n**3 * cfg.speed_instances
                                    * cfg.speed_steps, n=n, x=x, b=b, shape=shape,
                                    instances=cfg.speed_instances, max_steps=cfg.speed_steps,
                                    n_records=cfg.n_records))
    if "simplex" in cfg.parts:
        for n in cfg.simplex_ns:
            for j, start in enumerate(_STARTS):
                steps = cfg.simplex_steps if start == "random" else cfg.stability_steps
                out.append(_run("simplex", cfg, 4.0 * n**3 * cfg.simplex_instances * steps,
                                n=n, start=start, j=j, instances=cfg.simplex_instances,
                                scaled_sigma=cfg.simplex_scaled_sigma, max_steps=steps,
                                perturbation=cfg.stability_perturbation))
    if "counts" in cfg.parts:
        xs_of = dict(cfg.count_scaled_sigmas)
        for n, m in cfg.count_sizes:
            for b, x in enumerate(xs_of[n]):
                out.append(_run("counts", cfg, n * n * m * cfg.count_instances * cfg.count_steps,
                                n=n, m=m, x=x, instances=cfg.count_instances,
                                max_steps=cfg.count_steps, noise_key=[3, n, m, 1 + b]))
    if "long" in cfg.parts:
        for j, (n, m, x, steps) in enumerate(cfg.count_long):
            out.append(_run("long", cfg, n * n * m * cfg.count_instances * steps, n=n, m=m,
                            x=x, instances=cfg.count_instances, max_steps=steps,
                            noise_key=[3, n, m, 100 + j]))
    return out


# Starting points of the simplex part, in seed order: noise key 10 + index.
_STARTS = ("random", "anchored", "centred")


def run_one(run: Run) -> dict:
    """Train one batch; returns its per-model rows (and, for counts, the cell summary)."""
    p = run.params
    if p["part"] == "speed":
        return _speed_batch(p)
    if p["part"] == "simplex":
        return _simplex_batch(p)
    return _count_cell(p)


# --- speed ----------------------------------------------------------------------------------


def _speed_batch(p: dict) -> dict:
    n, b, x, shape = p["n"], p["b"], p["x"], p["shape"]
    m = 2 * n
    W0 = init_weights(n, m, stream_seed(p["seed"], 1, n, 0).spawn(p["instances"]))
    start = [float(fourth_norms(w).mean()) for w in W0]
    plateau = float(noise_simplex_fourth(n))
    sigma = x / (n - 1)
    recs = _train(W0, sigma, shape, p["max_steps"], p["n_records"], p["lr"],
                  stream_seed(p["seed"], 1, n, 1 + b))
    rows, final = [], []
    for i, r in enumerate(recs):
        f4 = [float(fourth_norms(s).mean()) for s in r.snapshots]
        ok = r.status != "diverged"
        th = t_half(r.snapshot_steps, f4, start[i], plateau) if ok else math.inf
        w = r.snapshots[-1]
        final.append(f4[-1] if ok else math.nan)
        rows.append({
            "n": n, "m": m, "scaled_sigma": x, "sigma": sigma, "shape": shape,
            "instance": i, "status": r.status, "steps": p["max_steps"],
            "f4_start": start[i], "f4_final": f4[-1],
            # inf (censored at the budget) is stored as null: strict JSON has no inf
            "t_half": th if math.isfinite(th) else None,
            "sq_norm_final": float(np.mean(np.sum(w**2, axis=1))),
            "mean_overlap_final": mean_offdiagonal_overlap(w),
            "seed": f"{p['seed']}/1/{n}/{1 + b}",
        })
    return {"rows": rows, "final": final}


def _speed_report(cfg: OptimumConfig, batches: list[dict]) -> tuple[list[dict], dict]:
    rows, summary = [], {}
    it = iter(batches)
    for n in cfg.speed_ns:
        per_x = {}
        for x in cfg.speed_scaled_sigmas:
            final = {}
            tb = []
            for shape in cfg.speed_shapes:
                batch = next(it)
                rows.extend(batch["rows"])
                final[shape] = [math.nan if v is None else v for v in batch["final"]]
                if shape == "bernoulli":
                    tb = [math.inf if r["t_half"] is None else r["t_half"]
                          for r in batch["rows"]]
            fb = float(np.nanmean(final["bernoulli"]))
            fg = float(np.nanmean(final["gaussian"])) if "gaussian" in final else math.nan
            per_x[x] = {"median_t_half": float(np.median(tb)), "t_half": tb,
                        "f4_bernoulli": fb, "f4_gaussian": fg,
                        "index": (fb - fg) / (1 - fg)}
        finite = {x: v["median_t_half"] for x, v in per_x.items()}
        best = min(finite, key=finite.get)
        summary[n] = {"m": 2 * n, "cells": per_x,
                      "measured_optimum": best if math.isfinite(finite[best]) else None,
                      "theory_optimum": float(noise_sigma_optimum(n)) * (n - 1)}
    return rows, summary


# --- simplex --------------------------------------------------------------------------------


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


def _simplex_batch(p: dict) -> dict:
    n, start, j = p["n"], p["start"], p["j"]
    m = 2 * n
    sigma = p["scaled_sigma"] / (n - 1)
    if start == "random":
        W0 = init_weights(n, m, stream_seed(p["seed"], 2, n, 0).spawn(p["instances"]))
    else:
        W0 = _start_at(start, n, m, p["instances"], p["perturbation"],
                       stream_seed(p["seed"], 2, n, j))
    recs = _train(W0, sigma, "bernoulli", p["max_steps"], 4, p["lr"],
                  stream_seed(p["seed"], 2, n, 10 + j))
    rows = []
    for i, r in enumerate(recs):
        c0 = classify_simplex(W0[i])
        c1 = classify_simplex(r.snapshots[-1])
        rows.append({"n": n, "m": m, "sigma": sigma, "start": start, "instance": i,
                     "steps": p["max_steps"], "status": r.status,
                     **{f"start_{k}": v for k, v in c0.items()},
                     **{f"final_{k}": v for k, v in c1.items()},
                     "seed": f"{p['seed']}/2/{n}/{10 + j}"})
    return {"rows": rows}


def _simplex_report(cfg: OptimumConfig, batches: list[dict]) -> tuple[list[dict], dict]:
    rows, summary = [], {}
    it = iter(batches)
    for n in cfg.simplex_ns:
        summary[n] = {}
        for start in _STARTS:
            batch = next(it)["rows"]
            rows.extend(batch)
            summary[n][start] = {"nearer": [r["final_nearer"] for r in batch],
                                 "dense_rows": [r["final_dense_rows"] for r in batch]}
        summary[n]["f4_anchored"] = float(noise_simplex_fourth(n))
        summary[n]["f4_centred"] = float(noise_centred_simplex_fourth(n))
    return rows, summary


# --- counts ---------------------------------------------------------------------------------


def _count_cell(p: dict) -> dict:
    """Train one (n, m, sigma (n-1)) cell of `instances` models from the counts part's
    initial weights; returns its rows and its summary entry."""
    n, m, x, steps = p["n"], p["m"], p["x"], p["max_steps"]
    W0 = init_weights(n, m, stream_seed(p["seed"], 3, n, m, 0).spawn(p["instances"]))
    sigma = x / (n - 1)
    recs = _train(W0, sigma, "bernoulli", steps, 2, p["lr"],
                  stream_seed(p["seed"], *p["noise_key"]))
    a, w, rows = [], [], []
    for i, r in enumerate(recs):
        W = r.snapshots[-1]
        kinds = polysemantic_neurons(W)
        row = {"n": n, "m": m, "scaled_sigma": x, "sigma": sigma, "instance": i,
               "steps": steps, "status": r.status,
               "assignment": count_polysemantic_assignment(W),
               "window": count_polysemantic_window(W),
               "opposite_pairs": sum(1 for _, p_, q in kinds if p_ == 1 and q == 1),
               "dense_rows": classify_simplex(W)["dense_rows"],
               "f4_final": float(fourth_norms(W).mean()),
               "seed": "/".join(str(k) for k in (p["seed"], *p["noise_key"]))}
        rows.append(row)
        if r.status != "diverged":  # a diverged model has no count
            a.append(row["assignment"])
            w.append(row["window"])
    k = len(a)
    summary = {
        "n": n, "m": m, "scaled_sigma": x, "models": k, "steps": steps,
        "assignment_mean": float(np.mean(a)),
        "assignment_se": float(np.std(a, ddof=1) / math.sqrt(k)) if k > 1 else 0.0,
        "window_mean": float(np.mean(w)),
        "window_se": float(np.std(w, ddof=1) / math.sqrt(k)) if k > 1 else 0.0,
        "f4_mean": float(np.mean([rw["f4_final"] for rw in rows
                                  if rw["status"] != "diverged"])),
        "diverged": sum(rw["status"] == "diverged" for rw in rows),
        # the L1 story's collision count, for contrast (docs/theory/collisions.md)
        "collision_theory": float(expected_poly_exact(n, m)),
    }
    return {"rows": rows, "key": f"{n},{m},{x},{steps}", "summary": summary}


def _cells_report(cfg: OptimumConfig, batches: list[dict]) -> tuple[list[dict], dict]:
    rows, summary = [], {}
    for batch in batches:
        rows.extend(batch["rows"])
        summary[batch["key"]] = batch["summary"]
    return rows, summary


# --- report ---------------------------------------------------------------------------------

_REPORTS = {"speed": _speed_report, "simplex": _simplex_report, "counts": _cells_report,
            "long": _cells_report}


def report(cfg: OptimumConfig, records: list[dict]) -> dict:
    """{part: {"rows": per-model rows, "summary": {...}}} for every part of `cfg.parts`;
    `records` are in `runs(cfg)` order."""
    by_part: dict[str, list[dict]] = {}
    for run, record in zip(runs(cfg), records, strict=True):
        by_part.setdefault(run.params["part"], []).append(record)
    out: dict = {"parts": list(cfg.parts)}
    for part in PARTS:
        if part in by_part:
            rows, summary = _REPORTS[part](cfg, by_part[part])
            out[part] = {"rows": rows, "summary": summary}
    return out


def format_table(rep: dict) -> str:
    """One line of JSON per part's summary."""
    return "\n".join(f"{q}: {json.dumps(jsonable(_str_keys(rep[q]['summary'])))}"
                     for q in PARTS if q in rep)


def _str_keys(obj):
    if isinstance(obj, dict):
        return {str(k): _str_keys(v) for k, v in obj.items()}
    return obj


def _tables(rep: dict) -> dict[str, list[dict]]:
    return {f"noise_optimum_{p}": rep[p]["rows"] for p in PARTS if p in rep}


def _figures(config, rep: dict) -> dict:
    if "speed" not in rep:
        return {}
    from simulations._noise_optimum_figure import optimum_figure

    return {"noise_optimum": optimum_figure(rep["speed"]["summary"])}


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
            speed = json.loads(path.read_text())["speed"]
            # report.json holds {"rows", "summary"} per part; older summaries the summary only
            speeds.append(speed["summary"] if "summary" in speed else speed)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            # TypeError/AttributeError: valid JSON of another shape (a list, a number)
            parser.error(f"--figure-from: {path} is not a readable report.json "
                         f"with a speed part")
    try:
        fig = optimum_figure(speeds[0], speeds[1] if len(speeds) > 1 else None)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, StopIteration) as exc:
        # the speed part is there but not as report.json writes it (hand-edited, truncated)
        detail = (str(exc).splitlines() or [""])[0]
        parser.error(f"--figure-from: {', '.join(map(str, paths))}: the speed summary is "
                     f"malformed ({type(exc).__name__}: {detail})")
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "noise_optimum.png", dpi=110, bbox_inches="tight")
    print(f"wrote: {out / 'noise_optimum.png'}")
    return 0


def _add_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--parts", default=",".join(PARTS),
                   help=f"comma-separated subset of {','.join(PARTS)} (default: all)")
    p.add_argument("--exploration", action="store_true",
                   help="the exploration grid of the speed part (n = 4..32, eight sigma (n-1), "
                        "with Gaussian controls); the docs ran it with --seed 101")
    p.add_argument("--figure-from", type=Path, nargs="+", metavar="JSON", default=None,
                   help="no training: draw the figure from the speed summary of one run's "
                        "report.json, with a second run's fastest cells overlaid")


def _configure(args) -> tuple[OptimumConfig, list[str]]:
    if args.figure_from is not None:  # only reached through compare --experiment
        raise ValueError(f"--figure-from trains nothing and writes no report: run it as "
                         f"{PROG} --figure-from ...")
    parts = tuple(x.strip() for x in args.parts.split(",") if x.strip())
    if not parts or any(x not in PARTS for x in parts):
        raise ValueError(f"--parts must be a comma-separated subset of {','.join(PARTS)}, "
                         f"got {args.parts!r}")
    cfg = OptimumConfig(seed=args.seed, parts=parts)
    if args.exploration:
        cfg = replace(cfg, **EXPLORATION)
    if args.quick:
        cfg = replace(cfg, **QUICK)
    return cfg, []


EXPERIMENT = declare(globals(), name="noise-optimum", prog=PROG,
                      description=__doc__.split("\n\n")[0],
                      default_out="results/noise_optimum", default_seed=OptimumConfig.seed)


def main(argv=None) -> int:
    """CLI entry point; returns the exit status (docs/usage.md#errors)."""
    return run_cli(_main, PROG, argv)


def _main(argv) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(EXPERIMENT)
    args = parser.parse_args(argv)
    if args.figure_from is not None:
        return _figure_only(parser, args.figure_from,
                            Path(EXPERIMENT.default_out if args.out is None else args.out))
    return run_experiment(EXPERIMENT, argv)


if __name__ == "__main__":
    sys.exit(main())
