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
import json
import math
import platform
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

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
from simulations import _memory
from simulations._cli import (
    CliError,
    Interrupted,
    OneLineErrorParser,
    integer,
    output_dir,
    run_cli,
    write_outputs,
)
from simulations._stats import t_half_width
from theory import (
    NOISE_KURTOSIS,
    expected_poly_exact,
    noise_sigma_star,
    noise_simplex_fourth,
    var_poly_exact,
)

__all__ = ["PARTS", "NoiseConfig", "run_noise_experiments", "main"]

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


def _seed(cfg: NoiseConfig, *key: int) -> np.random.SeedSequence:
    """Child seed for one run: SeedSequence([master seed, part id, ...]); recorded in outputs.

    Keys within a part have equal length and differ in a tag (0 = init, 1 = noise), so no two
    runs share a stream by accident of trailing zeros.
    """
    return np.random.SeedSequence([cfg.seed, *key])


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


def _curve_run(cfg, n, m, instances, shape, sigma, steps, sharing, draws, init_key, key) -> dict:
    W0 = init_weights(n, m, _seed(cfg, *init_key).spawn(instances))
    res = _train_noisy(W0, sigma, shape, sharing, draws, cfg.lr, steps, cfg.n_records,
                       _seed(cfg, *key))
    mf = res.mean_fourth  # (R, I)
    return {
        "shape": shape, "sigma": float(sigma), "kappa": float(NOISE_KURTOSIS[shape]),
        "draws": draws, "status": res.status, "message": res.message,
        "record_steps": res.record_steps.tolist(), "band": _band(mf),
        "final_per_instance": mf[-1].tolist(), "final_mean": float(mf[-1].mean()),
        "final_sd": float(mf[-1].std(ddof=1)) if instances > 1 else 0.0,
        "final_mean_overlap": float(res.mean_overlap[-1].mean()),
        "final_sq_norm": float(res.sq_norms[-1].mean()),
        "init_seed": [cfg.seed, *init_key], "noise_seed": [cfg.seed, *key],
    }


def _run_e2(cfg: NoiseConfig, bar) -> dict:
    runs = []
    for si, sigma in enumerate(cfg.e2_sigmas):
        for shape in cfg.e2_shapes:
            # same init seed for every (shape, sigma): paired comparison, as in the authors' code
            key = (1, 1, NOISE_SHAPES.index(shape), si)
            runs.append(_curve_run(cfg, cfg.e2_n, cfg.e2_m, cfg.e2_instances, shape, sigma,
                                   cfg.e2_max_steps, cfg.e2_sharing, 1, (1, 0, 0, 0), key))
            bar.update(1)
    return {"n": cfg.e2_n, "m": cfg.e2_m, "instances": cfg.e2_instances,
            "max_steps": cfg.e2_max_steps, "sharing": cfg.e2_sharing, "runs": runs,
            "simplex_plateau": float(noise_simplex_fourth(cfg.e2_n))}


def _run_kdraws(cfg: NoiseConfig, bar) -> dict:
    runs = []
    for shape in ("bernoulli", "gaussian"):
        for draws in (1, cfg.k_draws):
            key = (2, 1, NOISE_SHAPES.index(shape), draws)
            runs.append(_curve_run(cfg, cfg.e2_n, cfg.e2_m, cfg.e2_instances, shape,
                                   cfg.k_sigma, cfg.k_max_steps, cfg.e2_sharing, draws,
                                   (2, 0, 0, 0), key))
            bar.update(1)
    return {"n": cfg.e2_n, "m": cfg.e2_m, "sigma": cfg.k_sigma, "max_steps": cfg.k_max_steps,
            "runs": runs}


def _run_phase(cfg: NoiseConfig, bar) -> dict:
    return {sh: _run_phase_one(cfg, sh, bar) for sh in cfg.phase_sharings}


def _run_phase_one(cfg: NoiseConfig, sharing: str, bar) -> dict:
    ns, scaled = cfg.phase_ns, cfg.phase_scaled_sigmas
    f4 = {sh: np.full((len(ns), len(scaled)), np.nan) for sh in ("bernoulli", "gaussian")}
    sd = {sh: np.full((len(ns), len(scaled)), np.nan) for sh in ("bernoulli", "gaussian")}
    status = {sh: [["" for _ in scaled] for _ in ns] for sh in ("bernoulli", "gaussian")}
    for a, n in enumerate(ns):
        m = cfg.phase_m_factor * n
        W0 = init_weights(n, m, _seed(cfg, 3, n, 0, 0).spawn(cfg.phase_instances))
        for b, x in enumerate(scaled):
            sigma = x / (n - 1)
            for shape in ("bernoulli", "gaussian"):
                res = _train_noisy(W0, sigma, shape, sharing, 1, cfg.lr, cfg.phase_max_steps, 8,
                                   _seed(cfg, 3, n, 1, b))
                status[shape][a][b] = res.status
                if res.status == "ok":
                    f4[shape][a, b] = res.mean_fourth[-1].mean()
                    sd[shape][a, b] = res.mean_fourth[-1].std(ddof=1)
                bar.update(1)
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


def _run_counts(cfg: NoiseConfig, bar) -> dict:
    rows = []
    for n, m in cfg.count_sizes:
        sigma = cfg.count_scaled_sigma / (n - 1)
        W0 = init_weights(n, m, _seed(cfg, 4, n, m, 0).spawn(cfg.count_instances))
        res = _train_noisy(W0, sigma, cfg.count_shape, "independent", 1, cfg.lr,
                           cfg.count_max_steps, 8, _seed(cfg, 4, n, m, 1))
        bar.update(1)
        assign = [count_polysemantic_assignment(w) for w in res.weights]
        window = [count_polysemantic_window(w) for w in res.weights]
        kinds = {"opposite": 0, "same_or_more": 0}
        for w in res.weights:
            for _, pos, neg in polysemantic_neurons(w):
                kinds["opposite" if (pos == 1 and neg == 1) else "same_or_more"] += 1
        k = cfg.count_instances
        row = {
            "n": n, "m": m, "sigma": sigma, "status": res.status,
            "assignment": assign, "window": window, "kinds": kinds,
            "mean_assignment": float(np.mean(assign)),
            "se_assignment": float(np.std(assign, ddof=1) / math.sqrt(k)) if k > 1 else 0.0,
            "mean_window": float(np.mean(window)),
            "represented_0.8": float(np.mean([features_represented(w, 0.8) for w in res.weights])),
            "final_mean_f4": float(res.mean_fourth[-1].mean()),
            "expected": None, "sd_theory": None, "z": None,
            # anchored simplex (docs/theory/noise.md#anchored-simplex): the dense anchor's
            # argmax neuron is shared with one sparse feature of opposite sign -> exactly 1
            # by the assignment rule, 0 by the window rule (anchor weights 1/sqrt(n-1) < 0.8)
            "simplex_assignment": 1, "simplex_window": 0,
            "simplex_plateau": float(noise_simplex_fourth(n)),
        }
        e, v = expected_poly_exact(n, m), var_poly_exact(n, m)
        row["expected"], row["sd_theory"] = float(e), float(math.sqrt(v))
        # z of the sample mean against the theory's mean, with the theory's variance / k
        row["z"] = float((row["mean_assignment"] - e) / math.sqrt(v / k)) if v > 0 else None
        rows.append(row)
    return {"instances": cfg.count_instances, "max_steps": cfg.count_max_steps,
            "shape": cfg.count_shape, "scaled_sigma": cfg.count_scaled_sigma,
            "rows": rows}


_RUNNERS = {"e2": _run_e2, "kdraws": _run_kdraws, "phase": _run_phase, "counts": _run_counts}


def _n_runs(cfg: NoiseConfig, parts) -> int:
    sizes = {
        "e2": len(cfg.e2_sigmas) * len(cfg.e2_shapes),
        "kdraws": 4,
        "phase": 2 * len(cfg.phase_ns) * len(cfg.phase_scaled_sigmas)
        * len(cfg.phase_sharings),
        "counts": len(cfg.count_sizes),
    }
    return sum(sizes[p] for p in parts)


def _provenance(cfg: NoiseConfig, parts) -> dict:
    import matplotlib
    import numba
    import scipy
    import sympy

    return {
        "config": asdict(cfg), "parts": list(parts), "python": platform.python_version(),
        "versions": {"numpy": np.__version__, "scipy": scipy.__version__,
                     "sympy": sympy.__version__, "numba": numba.__version__,
                     "matplotlib": matplotlib.__version__},
        "command": " ".join(sys.argv),
    }


def run_noise_experiments(cfg: NoiseConfig, parts=PARTS, progress: bool = True) -> dict:
    """Run the requested parts; returns a JSON-serialisable dict of results and provenance."""
    from tqdm import tqdm

    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise ValueError(f"parts must be a subset of {PARTS}, got {unknown}")
    out = {"provenance": _provenance(cfg, parts)}
    t0 = time.time()
    with tqdm(total=_n_runs(cfg, parts), desc="noise runs", disable=not progress,
              file=sys.stderr) as bar:
        for p in parts:
            out[p] = _RUNNERS[p](cfg, bar)
    out["provenance"]["seconds"] = time.time() - t0
    return out


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


def memory_estimate(cfg: NoiseConfig, parts) -> float:
    """Peak bytes of the run, from the measured constants of simulations/_memory.py.

    Only `e2_instances` (--instances) scales memory with a user's number: the e2 and
    kdraws parts hold (instances, n, m) weights, noise draws and per-instance records.
    The other parts have fixed sizes and steps do not allocate (records are log-spaced).
    """
    scaled = cfg.e2_instances if {"e2", "kdraws"} & set(parts) else 0
    return _memory.PROCESS_BASELINE + _memory.NOISE_BYTES_PER_INSTANCE * scaled


def _write(results: dict, out: Path, figures: bool) -> list[str]:
    (out / "noise_results.json").write_text(json.dumps(results, indent=1))
    written = [str(out / "noise_results.json")]
    if figures:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from simulations import _noise_figures as nf

        makers = {"e2": nf.e2_figure, "kdraws": nf.kdraws_figure, "phase": nf.phase_figure,
                  "counts": nf.counts_figure}
        for part, make in makers.items():
            if part in results:
                items = (results[part].items() if part == "phase"
                         else [("", results[part])])
                for suffix, res in items:
                    fig = make(res)
                    stem = f"noise_{part}_{suffix}" if suffix else f"noise_{part}"
                    for ext in ("png", "pdf"):
                        path = out / f"{stem}.{ext}"
                        fig.savefig(path, dpi=150, bbox_inches="tight")
                        written.append(str(path))
                    plt.close(fig)
    return written


def _parse(argv) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    p = OneLineErrorParser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("--parts", default=",".join(PARTS),
                   help=f"comma-separated subset of {','.join(PARTS)} (default: all)")
    p.add_argument("--quick", action="store_true", help="smoke run: tiny sizes and step counts")
    p.add_argument("--seed", type=integer, default=13,
                   help="master seed, integer >= 0 (default 13, as the paper)")
    p.add_argument("--max-steps", type=integer, default=None,
                   help="step budget of every part in GD steps of size lr (code time lr "
                   "steps), also under --quick (default: 1e5 for every part)")
    p.add_argument("--instances", type=integer, default=None,
                   help="override e2 instances (5), also under --quick")
    p.add_argument("--out", default="results/noise",
                   help="output directory for JSON and figures (default results/noise)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    p.add_argument("--no-figures", action="store_true", help="skip the PNG/PDF figures")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p, p.parse_args(argv)


def main(argv=None) -> int:
    """CLI entry point; returns the exit status (docs/usage.md#errors)."""
    return run_cli(_main, PROG, argv)


def _main(argv) -> int:
    parser, args = _parse(argv)
    parts = tuple(x.strip() for x in args.parts.split(",") if x.strip())
    bad = [x for x in parts if x not in PARTS]
    if bad or not parts:
        parser.error(f"--parts must be a comma-separated subset of {','.join(PARTS)}, got "
                     f"{args.parts!r}")
    if args.seed < 0:
        parser.error(f"--seed must be an integer >= 0, got {args.seed}")
    if args.max_steps is not None and args.max_steps < 1:
        parser.error(f"--max-steps must be an integer >= 1, got {args.max_steps}")
    if args.instances is not None and args.instances < 2:
        parser.error(f"--instances must be an integer >= 2 (a band needs 2), got "
                     f"{args.instances}")
    cfg = NoiseConfig(seed=args.seed)
    if args.quick:
        cfg = replace(cfg, **QUICK)
    explicit = {}
    if args.max_steps is not None:
        explicit.update({name: args.max_steps for name in _STEP_FIELDS})
    if args.instances is not None:
        explicit["e2_instances"] = args.instances
    changed = [f"{k} {getattr(cfg, k)} -> {v}" for k, v in explicit.items()
               if getattr(cfg, k) != v]
    cfg = replace(cfg, **explicit)
    try:
        _memory.check_memory(memory_estimate(cfg, parts), f"--instances {cfg.e2_instances}")
    except ValueError as error:
        raise CliError(str(error)) from None
    out = output_dir(args.out)
    note = ""
    if changed:
        source = "--quick" if args.quick else "default"
        note = f"explicit flags override the {source} values: " + "; ".join(changed)
    try:
        results = run_noise_experiments(cfg, parts, progress=not args.no_progress)
    except KeyboardInterrupt:
        raise Interrupted("interrupted; nothing was written (outputs are written at the "
                          "end), rerun the same command") from None
    written = write_outputs(out, lambda: _write(results, out, figures=not args.no_figures))
    s = summary(results)
    if args.json:
        print(json.dumps({"summary": s, "overrides": changed, "written": written}, indent=1))
    else:
        if note:
            print(note)
        for key, val in s.items():
            print(f"{key}: {val}")
        print("wrote: " + ", ".join(written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
