"""Experiment E2 and beyond: hidden-layer noise sparsifies encodings when its kurtosis is negative.

Run ``python -m simulations.noise --help``. Parts (``--parts``, default all):

* ``e2``: the paper's experiment (docs/paper.md#noise-model): n=8, m=16, 5 instances, SGD lr 0.02,
  1e5 steps, sigma in {0.07, 0.1, 0.15}, noise shared by batch and instances; all four noise
  shapes (the paper shows Bernoulli and Gaussian). Figure: mean sum_k W_ik^4 vs step, log-log,
  mean with a 95% t-band over instances (PNG + PDF).
* ``kdraws``: the same at sigma=0.15 with K noise draws averaged per step (expected gradient).
* ``phase``: a sigma x n phase map at m = 2n, with shared and with independent noise:
  sparsification index of Bernoulli over Gaussian noise against sigma (n-1), to test the
  margin condition sigma ~ 1/(n-1) (docs/theory/noise.md#margin, #phase-map).
* ``counts``: polysemantic-neuron counts of noise-trained models (independent noise, so
  instances are independent) against the collision theory (``theory.expected_poly_exact``).

Units: code units (docs/paper.md#loss), loss = sum of squared errors, no L1; one GD step of size
lr advances code time by lr (normalized time by 4 lr, docs/paper.md#normalized-units). Step budgets
(`*_max_steps`, `--max-steps`) are numbers of GD steps; the noisy runs have no tolerance, so they
take exactly that many. Every output carries its config, seeds and package versions.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass, replace

import numpy as np

from dynamics import (
    NOISE_SHAPES,
    HiddenNoise,
    TrainOptions,
    count_polysemantic_assignment,
    count_polysemantic_window,
    features_represented,
    fourth_norms,
    init_weights,
    mean_offdiagonal_overlap,
    polysemantic_neurons,
    train,
)
from simulations._seeds import stream_seed
from simulations._stats import t_half_width
from simulations.runner import memory as _memory
from simulations.runner.cli import integer
from simulations.runner.command import command
from simulations.runner.protocol import Run, declare
from theory import (
    NOISE_KURTOSIS,
    expected_poly_exact,
    noise_sigma_star,
    noise_simplex_fourth,
    var_poly_exact,
)

__all__ = ["EXPERIMENT", "PARTS", "NoiseConfig", "main", "run_one", "runs"]

PARTS = ("e2", "kdraws", "phase", "counts")
PROG = "python -m simulations.noise"
# Config fields that --max-steps replaces.
_STEP_FIELDS = ("e2_max_steps", "k_max_steps", "phase_max_steps", "count_max_steps")


@dataclass(frozen=True)
class NoiseConfig:
    """Configuration of every part; code units (docs/paper.md#loss). Defaults reproduce E2."""

    seed: int = 13  # master seed; every run's seeds derive from it (see _seed)
    lr: float = 0.02  # GD step size on the code loss (paper: 0.02); code time = lr * steps
    # --- e2 (docs/paper.md#noise-model) ---
    e2_n: int = 8  # features
    e2_m: int = 16  # neurons
    e2_instances: int = 5  # independent initialisations
    e2_max_steps: int = 100_000  # step budget, GD steps (paper: 1e5)
    e2_sigmas: tuple[float, ...] = (0.07, 0.1, 0.15)  # noise standard deviations
    e2_shapes: tuple[str, ...] = NOISE_SHAPES  # paper: bernoulli, gaussian
    e2_sharing: str = "shared"  # one draw per step for batch and instances (authors' code)
    n_records: int = 60  # log-spaced record points per run
    # --- kdraws: expected-gradient mode ---
    k_draws: int = 16  # noise draws averaged per step
    k_sigma: float = 0.15
    k_max_steps: int = 100_000
    # --- phase map (docs/theory/noise.md#phase-map) ---
    phase_ns: tuple[int, ...] = (4, 8, 16, 32)  # features; m = phase_m_factor * n
    phase_m_factor: int = 2
    phase_scaled_sigmas: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 3.0, 4.5, 6.0)  # sigma (n-1)
    # shared single-draw noise (paper) and independent noise (a proxy for the expected gradient)
    phase_sharings: tuple[str, ...] = ("shared", "independent")
    phase_instances: int = 4
    phase_max_steps: int = 100_000
    # --- counts vs collision theory ---
    count_sizes: tuple[tuple[int, int], ...] = ((8, 16), (8, 32), (8, 64), (16, 32))  # (n, m)
    count_scaled_sigma: float = 1.05  # sigma (n-1); 0.15 at n = 8 as in the paper
    count_instances: int = 32
    count_max_steps: int = 100_000
    count_shape: str = "bernoulli"
    # --- which parts to run (--parts) ---
    parts: tuple[str, ...] = PARTS

    @classmethod
    def quick(cls) -> NoiseConfig:
        """Smoke sizes (QUICK): every part in seconds; not a measurement."""
        return cls(**QUICK)


QUICK = dict(
    e2_instances=3,
    e2_max_steps=3000,
    e2_sigmas=(0.15,),
    n_records=15,
    k_draws=4,
    k_max_steps=3000,
    phase_ns=(4, 8),
    phase_scaled_sigmas=(0.5, 1.0, 2.0),
    phase_sharings=("shared",),
    phase_instances=2,
    phase_max_steps=3000,
    count_sizes=((8, 16),),
    count_instances=4,
    count_max_steps=3000,
)


def record_schedule(steps: int, n_records: int) -> np.ndarray:
    """Record steps: 0 plus ~n_records log-spaced integers in [1, steps], always ending at steps."""
    pts = np.unique(np.round(np.geomspace(1, steps, n_records)).astype(np.int64))
    return np.concatenate([[0], pts])


@dataclass(frozen=True)
class _NoisyRuns:
    """What the noise experiments read off one batch of noisy GD runs (I instances).

    weights: (I, n, m) final; record_steps: (R,) steps recorded by every instance;
    mean_fourth: (R, I) mean over features of sum_k W_ik^4; sq_norms: (R, I, n);
    mean_overlap: (R, I); status "ok" or "diverged" (any instance), with its message.
    """

    weights: np.ndarray
    record_steps: np.ndarray
    mean_fourth: np.ndarray
    sq_norms: np.ndarray
    mean_overlap: np.ndarray
    status: str
    message: str


def _train_noisy(W0, sigma, shape, sharing, draws, lr, steps, n_records, seed) -> _NoisyRuns:
    """Plain full-batch GD with hidden-layer noise, no L1 (the paper's E2 setting)."""
    sched = record_schedule(steps, n_records)
    opts = TrainOptions(optimizer="gd", lr=lr, lam=0.0, max_steps=steps,
                        noise=HiddenNoise(float(sigma), shape, sharing, draws),
                        record_steps=tuple(int(k) for k in sched[1:]))
    recs = train(W0, opts, noise_seed=seed, throw=False)
    diverged = [r for r in recs if r.status == "diverged"]
    n_rec = min(len(r.snapshot_steps) for r in recs)  # records every instance reached
    # summaries per instance and record, (R, I, ...), without a second copy of the snapshots
    per = [r.snapshots[:n_rec] for r in recs]
    return _NoisyRuns(
        weights=np.stack([r.snapshots[-1] for r in recs]),
        record_steps=np.asarray(recs[0].snapshot_steps[:n_rec], dtype=np.int64),
        mean_fourth=np.array([[fourth_norms(w).mean() for w in ws] for ws in per]).T,
        sq_norms=np.stack([np.einsum("rij,rij->ri", ws, ws) for ws in per], axis=1),
        mean_overlap=np.array([[mean_offdiagonal_overlap(w) for w in ws] for ws in per]).T,
        status="diverged" if diverged else "ok",
        message=diverged[0].message if diverged else "completed",
    )


def _band(values: np.ndarray) -> dict:
    """Mean over instances (last axis) with a two-sided CI_LEVEL Student-t band."""
    v = np.asarray(values, float)
    k = v.shape[-1]
    mean = v.mean(axis=-1)
    half = t_half_width(v) if k > 1 else np.zeros_like(mean)
    return {"mean": mean.tolist(), "lo": (mean - half).tolist(), "hi": (mean + half).tolist()}


# ---------------------------------------------------------------------------------------
# Runs (simulations/runner/protocol.py): one Run per batch of instances trained together
# ---------------------------------------------------------------------------------------


def _batch(part: str, cfg: NoiseConfig, *, n, m, instances, shape, sigma, max_steps, sharing,
           draws, n_records, init_key, key) -> Run:
    """A Run training `instances` models of one (n, m, noise) cell; params hold every input.

    init_key and key are the SeedSequence keys of W0 (child i for instance i) and of the
    noise, after the master seed (see `_seed`).
    """
    params = {"part": part, "seed": cfg.seed, "lr": cfg.lr, "n": n, "m": m,
              "instances": instances, "shape": shape, "sigma": sigma, "max_steps": max_steps,
              "sharing": sharing, "draws": draws, "n_records": n_records,
              "init_key": list(init_key), "key": list(key)}
    return Run("e2", params, cost=float(n * n * m * instances * max_steps))


def runs(cfg: NoiseConfig) -> list[Run]:
    """Every batch of every part in `cfg.parts`, in the order the report reads them."""
    out = []
    if "e2" in cfg.parts:
        for si, sigma in enumerate(cfg.e2_sigmas):
            for shape in cfg.e2_shapes:
                # same init seed for every (shape, sigma): paired comparison, as in the
                # authors' code
                out.append(_batch("e2", cfg, n=cfg.e2_n, m=cfg.e2_m,
                                  instances=cfg.e2_instances, shape=shape, sigma=float(sigma),
                                  max_steps=cfg.e2_max_steps, sharing=cfg.e2_sharing, draws=1,
                                  n_records=cfg.n_records, init_key=(1, 0, 0, 0),
                                  key=(1, 1, NOISE_SHAPES.index(shape), si)))
    if "kdraws" in cfg.parts:
        for shape in ("bernoulli", "gaussian"):
            for draws in (1, cfg.k_draws):
                out.append(_batch("kdraws", cfg, n=cfg.e2_n, m=cfg.e2_m,
                                  instances=cfg.e2_instances, shape=shape,
                                  sigma=float(cfg.k_sigma), max_steps=cfg.k_max_steps,
                                  sharing=cfg.e2_sharing, draws=draws, n_records=cfg.n_records,
                                  init_key=(2, 0, 0, 0),
                                  key=(2, 1, NOISE_SHAPES.index(shape), draws)))
    if "phase" in cfg.parts:
        for sharing in cfg.phase_sharings:
            for n in cfg.phase_ns:
                for b, x in enumerate(cfg.phase_scaled_sigmas):
                    for shape in ("bernoulli", "gaussian"):
                        out.append(_batch("phase", cfg, n=n, m=cfg.phase_m_factor * n,
                                          instances=cfg.phase_instances, shape=shape,
                                          sigma=x / (n - 1), max_steps=cfg.phase_max_steps,
                                          sharing=sharing, draws=1, n_records=8,
                                          init_key=(3, n, 0, 0), key=(3, n, 1, b)))
    if "counts" in cfg.parts:
        for n, m in cfg.count_sizes:
            out.append(_batch("counts", cfg, n=n, m=m, instances=cfg.count_instances,
                              shape=cfg.count_shape, sigma=cfg.count_scaled_sigma / (n - 1),
                              max_steps=cfg.count_max_steps, sharing="independent", draws=1,
                              n_records=8, init_key=(4, n, m, 0), key=(4, n, m, 1)))
    return out


def run_one(run: Run) -> dict:
    """Train one batch and return what its part reads: a curve, a phase cell or a count row."""
    p = run.params
    W0 = init_weights(p["n"], p["m"],
                      stream_seed(p["seed"], *p["init_key"]).spawn(p["instances"]))
    res = _train_noisy(W0, p["sigma"], p["shape"], p["sharing"], p["draws"], p["lr"],
                       p["max_steps"], p["n_records"], stream_seed(p["seed"], *p["key"]))
    if p["part"] in ("e2", "kdraws"):
        return _curve(p, res)
    if p["part"] == "phase":
        ok = res.status == "ok"
        final = res.mean_fourth[-1]
        return {"status": res.status, "f4": float(final.mean()) if ok else None,
                "sd": float(final.std(ddof=1)) if ok else None}
    return _count_row(p, res)


def _curve(p: dict, res: _NoisyRuns) -> dict:
    mf = res.mean_fourth  # (R, I)
    instances = p["instances"]
    return {
        "shape": p["shape"], "sigma": float(p["sigma"]), "kappa": float(NOISE_KURTOSIS[p["shape"]]),
        "draws": p["draws"], "status": res.status, "message": res.message,
        "record_steps": res.record_steps.tolist(), "band": _band(mf),
        "final_per_instance": mf[-1].tolist(), "final_mean": float(mf[-1].mean()),
        "final_sd": float(mf[-1].std(ddof=1)) if instances > 1 else 0.0,
        "final_mean_overlap": float(res.mean_overlap[-1].mean()),
        "final_sq_norm": float(res.sq_norms[-1].mean()),
        "init_seed": [p["seed"], *p["init_key"]], "noise_seed": [p["seed"], *p["key"]],
    }


def _count_row(p: dict, res: _NoisyRuns) -> dict:
    n, m, k = p["n"], p["m"], p["instances"]
    assign = [count_polysemantic_assignment(w) for w in res.weights]
    window = [count_polysemantic_window(w) for w in res.weights]
    kinds = {"opposite": 0, "same_or_more": 0}
    for w in res.weights:
        for _, pos, neg in polysemantic_neurons(w):
            kinds["opposite" if (pos == 1 and neg == 1) else "same_or_more"] += 1
    e, v = expected_poly_exact(n, m), var_poly_exact(n, m)
    mean_assignment = float(np.mean(assign))
    return {
        "n": n, "m": m, "sigma": p["sigma"], "status": res.status,
        "assignment": assign, "window": window, "kinds": kinds,
        "mean_assignment": mean_assignment,
        "se_assignment": float(np.std(assign, ddof=1) / math.sqrt(k)) if k > 1 else 0.0,
        "mean_window": float(np.mean(window)),
        "represented_0.8": float(np.mean([features_represented(w, 0.8) for w in res.weights])),
        "final_mean_f4": float(res.mean_fourth[-1].mean()),
        "expected": float(e), "sd_theory": float(math.sqrt(v)),
        # z of the sample mean against the theory's mean, with the theory's variance / k
        "z": float((mean_assignment - e) / math.sqrt(v / k)) if v > 0 else None,
        # anchored simplex (docs/theory/noise.md#anchored-simplex): the dense anchor's
        # argmax neuron is shared with one sparse feature of opposite sign -> exactly 1
        # by the assignment rule, 0 by the window rule (anchor weights 1/sqrt(n-1) < 0.8)
        "simplex_assignment": 1, "simplex_window": 0,
        "simplex_plateau": float(noise_simplex_fourth(n)),
    }


# ---------------------------------------------------------------------------------------
# Report: the records regrouped by part (computes no training)
# ---------------------------------------------------------------------------------------


def report(cfg: NoiseConfig, records: list[dict]) -> dict:
    """Per part: e2 and kdraws curves, the phase map per sharing, the count rows; and the
    headline `summary`. `records` are in `runs(cfg)` order."""
    by_part: dict[str, list[dict]] = {}
    for run, record in zip(runs(cfg), records, strict=True):
        by_part.setdefault(run.params["part"], []).append(record)
    out: dict = {"parts": list(cfg.parts)}
    if "e2" in by_part:
        out["e2"] = {"n": cfg.e2_n, "m": cfg.e2_m, "instances": cfg.e2_instances,
                     "max_steps": cfg.e2_max_steps, "sharing": cfg.e2_sharing,
                     "runs": by_part["e2"],
                     "simplex_plateau": float(noise_simplex_fourth(cfg.e2_n))}
    if "kdraws" in by_part:
        out["kdraws"] = {"n": cfg.e2_n, "m": cfg.e2_m, "sigma": cfg.k_sigma,
                         "max_steps": cfg.k_max_steps, "runs": by_part["kdraws"]}
    if "phase" in by_part:
        cells = iter(by_part["phase"])
        out["phase"] = {sh: _phase_map(cfg, sh, cells) for sh in cfg.phase_sharings}
    if "counts" in by_part:
        out["counts"] = {"instances": cfg.count_instances, "max_steps": cfg.count_max_steps,
                         "shape": cfg.count_shape, "scaled_sigma": cfg.count_scaled_sigma,
                         "rows": by_part["counts"]}
    out["summary"] = summary(out)
    return out


def _phase_map(cfg: NoiseConfig, sharing: str, cells) -> dict:
    ns, scaled = cfg.phase_ns, cfg.phase_scaled_sigmas
    f4 = {sh: np.full((len(ns), len(scaled)), np.nan) for sh in ("bernoulli", "gaussian")}
    sd = {sh: np.full((len(ns), len(scaled)), np.nan) for sh in ("bernoulli", "gaussian")}
    status = {sh: [["" for _ in scaled] for _ in ns] for sh in ("bernoulli", "gaussian")}
    for a in range(len(ns)):
        for b in range(len(scaled)):
            for shape in ("bernoulli", "gaussian"):
                cell = next(cells)
                status[shape][a][b] = cell["status"]
                if cell["status"] == "ok":
                    f4[shape][a, b] = cell["f4"]
                    sd[shape][a, b] = cell["sd"]
    fb, fg = f4["bernoulli"], f4["gaussian"]
    # sparsification index: 0 = as dense as Gaussian training, 1 = every row 1-sparse
    index = (fb - fg) / (1.0 - fg)
    return {
        "sharing": sharing, "ns": list(ns), "m_factor": cfg.phase_m_factor,
        "scaled_sigmas": list(scaled),
        "max_steps": cfg.phase_max_steps, "instances": cfg.phase_instances,
        "sigma_star": noise_sigma_star(np.asarray(ns, float)).tolist(),
        "simplex_plateau": noise_simplex_fourth(np.asarray(ns, float)).tolist(),
        "f4_bernoulli": np.where(np.isnan(fb), None, fb).tolist(),
        "f4_gaussian": np.where(np.isnan(fg), None, fg).tolist(),
        "sd_bernoulli": np.where(np.isnan(sd["bernoulli"]), None, sd["bernoulli"]).tolist(),
        "sd_gaussian": np.where(np.isnan(sd["gaussian"]), None, sd["gaussian"]).tolist(),
        "index": np.where(np.isnan(index), None, index).tolist(),
        "status": status,
    }


def summary(results: dict) -> dict:
    """The headline numbers (final mean sum w^4 per shape and sigma, phase map, counts)."""
    s = {}
    if "e2" in results:
        s["e2_final_mean_f4"] = {
            f"{r['shape']}@{r['sigma']:g}": [round(r["final_mean"], 4), round(r["final_sd"], 4)]
            for r in results["e2"]["runs"]
        }
    if "kdraws" in results:
        s["kdraws_final_mean_f4"] = {
            f"{r['shape']}/K={r['draws']}": round(r["final_mean"], 4)
            for r in results["kdraws"]["runs"]
        }
    if "phase" in results:
        for sharing, ph in results["phase"].items():
            s[f"phase_index_{sharing}"] = {
                f"n={n}": [None if v is None else round(v, 3) for v in row]
                for n, row in zip(ph["ns"], ph["index"], strict=True)
            }
            s["phase_scaled_sigmas"] = ph["scaled_sigmas"]
    if "counts" in results:
        s["counts"] = [
            {k: r[k] for k in ("n", "m", "sigma", "mean_assignment", "se_assignment",
                               "mean_window", "expected", "z", "simplex_assignment", "kinds")}
            for r in results["counts"]["rows"]
        ]
    return s


def format_table(rep: dict) -> str:
    """The headline numbers, one line per summary entry."""
    return "\n".join(f"{key}: {val}" for key, val in rep["summary"].items())


def memory_estimate(cfg: NoiseConfig, workers: int = 1) -> tuple[float, str]:
    """Peak bytes of the run, from the measured constants of simulations/runner/memory.py.

    Only `e2_instances` (--instances) scales memory with a user's number: an e2 or kdraws
    batch holds (instances, n, m) weights, noise draws and per-instance records. The other
    parts have fixed sizes and steps do not allocate (records are log-spaced). Each of the
    `workers` local processes trains one batch at a time; the parent holds records only.
    """
    scaled = cfg.e2_instances if {"e2", "kdraws"} & set(cfg.parts) else 0
    per_worker = _memory.PROCESS_BASELINE + _memory.NOISE_BYTES_PER_INSTANCE * scaled
    return (_memory.PROCESS_BASELINE + workers * per_worker,
            f"--instances {cfg.e2_instances}")


def _tables(rep: dict) -> dict[str, list[dict]]:
    """One CSV row per curve (final values) and per count cell."""
    curve_keys = ("shape", "sigma", "kappa", "draws", "status", "final_mean", "final_sd",
                  "final_mean_overlap", "final_sq_norm")
    tables = {}
    for part in ("e2", "kdraws"):
        if part in rep:
            tables[f"noise_{part}"] = [{k: r[k] for k in curve_keys} for r in rep[part]["runs"]]
    if "counts" in rep:
        tables["noise_counts"] = rep["counts"]["rows"]
    return tables


def _figures(config, rep: dict) -> dict:
    from simulations import _noise_figures as nf

    makers = {"e2": nf.e2_figure, "kdraws": nf.kdraws_figure, "phase": nf.phase_figure,
              "counts": nf.counts_figure}
    made = {}
    for part, make in makers.items():
        if part in rep:
            items = rep[part].items() if part == "phase" else [("", rep[part])]
            for suffix, res in items:
                made[f"noise_{part}_{suffix}" if suffix else f"noise_{part}"] = make(res)
    return made


def _add_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--parts", default=",".join(PARTS),
                   help=f"comma-separated subset of {','.join(PARTS)} (default: all)")
    p.add_argument("--max-steps", type=integer, default=None,
                   help="step budget of every part in GD steps of size lr (code time lr "
                   "steps), also under --quick (default: 1e5 for every part)")
    p.add_argument("--instances", type=integer, default=None,
                   help="override e2 instances (5), also under --quick")


def _configure(args) -> tuple[NoiseConfig, list[str]]:
    parts = tuple(x.strip() for x in args.parts.split(",") if x.strip())
    bad = [x for x in parts if x not in PARTS]
    if bad or not parts:
        raise ValueError(f"--parts must be a comma-separated subset of {','.join(PARTS)}, "
                         f"got {args.parts!r}")
    if args.max_steps is not None and args.max_steps < 1:
        raise ValueError(f"--max-steps must be an integer >= 1, got {args.max_steps}")
    if args.instances is not None and args.instances < 2:
        raise ValueError(f"--instances must be an integer >= 2 (a band needs 2), got "
                         f"{args.instances}")
    cfg = NoiseConfig.quick() if args.quick else NoiseConfig()
    cfg = replace(cfg, seed=args.seed, parts=parts)
    explicit = {}
    if args.max_steps is not None:
        explicit.update({name: args.max_steps for name in _STEP_FIELDS})
    if args.instances is not None:
        explicit["e2_instances"] = args.instances
    changed = [f"{k} {getattr(cfg, k)} -> {v}" for k, v in explicit.items()
               if getattr(cfg, k) != v]
    return replace(cfg, **explicit), changed


EXPERIMENT = declare(globals(), name="e2", prog=PROG, description=__doc__.split("\n\n")[0],
                      default_out="results/noise", default_seed=NoiseConfig.seed)


main = command(EXPERIMENT)


if __name__ == "__main__":
    sys.exit(main())
