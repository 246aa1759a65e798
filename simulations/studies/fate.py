"""Fate of the collisions present at initialisation: docs/preregistration-collision-fate.md.

    python -m simulations.studies.fate [--n N ...] [--ratios R ...] [--instances K]
        [--training prox-gd|paper-adamw] [--from-csv FILE] [shared flags]

The published run: `--seed 7000003 --instances 64 --out results/fate` writes
`results/fate/fate.csv` (docs/data/fate_confirm.csv), prints the table (also in
report.md) and draws `collision_fate` (docs/img/collision_fate.png);
`--from-csv docs/data/fate_confirm.csv` prints its table again without running.

For each (n, m) of the grid, instance i starts from `init_weights` with seed
`SeedSequence([master, n, m]).spawn(instances)[i]` and is trained by prox-gd to
convergence (lam 1e-2, lr 0.05, tol 1e-6, at most 50 000 steps: the ground truth of
docs/theory/cascades.md). Per instance it records three sets of polysemantic neurons
(a neuron holding a feature of each sign): P0 under the initial argmax
(`dynamics.assign_features(W0)`), PC under the cascade process on W0
(`theory.cascades.cascade_assignment`) and PT at the end of training, and their overlaps.
The analysis pools instances per grid point:

* kept fraction K = sum |P ∩ PT| / sum |P| (P = P0 or PC), with a BCa bootstrap interval
  over instances (the instance is the independent unit);
* chance level C = sum |P| |PT| / m / sum |P|: the expected K if PT were |PT| neurons drawn
  uniformly at random, independently of P;
* origin fraction sum |P0 ∩ PT| / sum |PT| (descriptive).

Each instance is one `Run` ("study-fate": master seed, n, m, the training options and the
seed rule in its params), computed by `run_one`. The study is declared on the experiment
protocol (`EXPERIMENT`; simulations/studies/_runs.py), so the shared runner stores,
resumes and reuses its runs, and another study with the same runs (`cascade_explore
fate`) reuses them too. The records are those of the batch this script trained before
(`dynamics.train` computes each instance on its own, in a fixed order, whatever the
batch); tests/test_studies.py checks them against `docs/data/fate_confirm.csv`.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

import numpy as np
from scipy import stats

from dynamics import TrainOptions, assign_features, init_weights, train
from simulations._presets import CONVERGED_PROX_GD, PRESETS
from simulations.runner.cli import integer
from simulations.runner.command import command
from simulations.runner.protocol import Run
from simulations.studies import _runs
from theory import expected_poly_cascade, expected_poly_exact
from theory.cascades import cascade_assignment

OPTIONS = CONVERGED_PROX_GD  # the `quick` preset's training (simulations/_presets.py)
# The `paper` preset's training (E3, docs/paper.md#experiments): AdamW for a fixed budget.
_PAPER = PRESETS["paper"]()
PAPER_ADAMW = {**{key: _PAPER.common[key] for key in ("optimizer", "lr", "weight_decay",
                                                      "max_steps")}, "lam": _PAPER.lam[0]}
TRAINING = {"prox-gd": OPTIONS, "paper-adamw": PAPER_ADAMW}
GRID_N = (64, 128, 256)
GRID_RATIO = (1, 2, 4, 8)
# The master seed of docs/data/fate_confirm.csv (docs/preregistration-collision-fate.md).
PUBLISHED_SEED = 7_000_003
RESAMPLES = 9999  # bootstrap resamples; the interval's Monte Carlo error is then < 0.005
FIELDS = ("n", "m", "instance", "converged", "steps", "final", "init_argmax",
          "init_argmax_kept", "init_argmax_pair_kept", "cascade", "cascade_kept")


def poly_neurons(neuron: np.ndarray, sign: np.ndarray) -> set[int]:
    """Neurons holding at least one feature of each sign."""
    return set(neuron[sign > 0].tolist()) & set(neuron[sign < 0].tolist())


def same_features(neuron0, sign0, neuron, sign, k: int) -> bool:
    """Whether every feature on neuron k at the end was on k with the same sign at the start."""
    here = np.flatnonzero(neuron == k)
    return bool(np.all((neuron0[here] == k) & (sign0[here] == sign[here])))


def runs(master: int, points, instances: int, options: dict = OPTIONS) -> list[Run]:
    """One Run per instance of every (n, m) in `points`, in the order of the CSV rows.

    Instance i of (n, m) starts from `SeedSequence([master, n, m]).spawn(instances)[i]`, the
    seed of every published record, held in the params so that the key covers it.
    """
    return [Run("study-fate", {"n": n, "m": m, "options": dict(options),
                               "seed": _runs.seed_param([master, n, m], i)},
                instance=i, cost=float(n * n * m))
            for n, m in points for i in range(instances)]


def run_one(run: Run) -> dict:
    """Train one instance to the end of `options`; its CSV row (FIELDS)."""
    p, i = run.params, run.instance
    n, m = p["n"], p["m"]
    seed = _runs.seed_sequence(p["seed"])
    W0 = init_weights(n, m, [seed])[0]
    (result,) = train(W0, TrainOptions(record_weights=True, **p["options"]), seeds=[seed])
    end, begin = assign_features(result.W), assign_features(W0)
    final, start = poly_neurons(*end), poly_neurons(*begin)
    cascade = poly_neurons(*cascade_assignment(W0))
    pairs = sum(same_features(*begin, *end, k) for k in start & final)
    return {"n": n, "m": m, "instance": i, "converged": int(result.converged),
            "steps": result.steps, "final": len(final), "init_argmax": len(start),
            "init_argmax_kept": len(start & final), "init_argmax_pair_kept": pairs,
            "cascade": len(cascade), "cascade_kept": len(cascade & final)}


def fate_records(master: int, n: int, m: int, instances: int,
                 options: dict = OPTIONS) -> list[dict]:
    """The records of `instances` instances of (n, m), computed here (no store)."""
    return [run_one(run) for run in runs(master, [(n, m)], instances, options)]


def pooled_fraction(kept, total, seed: int) -> tuple[float, float, float]:
    """sum(kept) / sum(total) over instances, with its 95% BCa bootstrap interval."""
    kept, total = np.asarray(kept, float), np.asarray(total, float)
    if total.sum() == 0:
        return np.nan, np.nan, np.nan
    estimate = kept.sum() / total.sum()
    ci = stats.bootstrap((kept, total), lambda k, t, axis=-1: k.sum(axis) / t.sum(axis),
                         paired=True, n_resamples=RESAMPLES, method="BCa",
                         random_state=np.random.default_rng(seed)).confidence_interval
    return float(estimate), float(ci.low), float(ci.high)


def kept_minus_chance(kept, total, final, m: int, axis: int = -1):
    """K - C: sum kept / sum total minus the chance level sum(total * final) / m / sum total
    (docs/preregistration-collision-fate.md#definitions; sums along `axis`, so that the
    bootstrap can evaluate all resamples at once)."""
    kept, total, final = (np.asarray(x, float) for x in (kept, total, final))
    return (kept.sum(axis) - (total * final).sum(axis) / m) / total.sum(axis)


def pooled_excess(kept, total, final, m: int, seed: int) -> tuple[float, float, float]:
    """K - C (kept fraction minus chance level) with its 95% BCa bootstrap interval."""
    kept, total, final = (np.asarray(x, float) for x in (kept, total, final))
    if total.sum() == 0:
        return np.nan, np.nan, np.nan
    ci = stats.bootstrap((kept, total, final),
                         lambda k, t, f, axis=-1: kept_minus_chance(k, t, f, m, axis),
                         paired=True, n_resamples=RESAMPLES, method="BCa",
                         random_state=np.random.default_rng(seed)).confidence_interval
    return float(kept_minus_chance(kept, total, final, m)), float(ci.low), float(ci.high)


def analyse(rows: list[dict], seed: int, converged_only: bool = True) -> list[dict]:
    """One summary row per (n, m): the statistics of the preregistration.

    Runs that did not converge are excluded unless `converged_only` is False (for a fixed
    step budget, such as the paper's AdamW, where no run "converges").
    """
    table = []
    for n, m in sorted({(int(r["n"]), int(r["m"])) for r in rows}):
        runs = [r for r in rows if int(r["n"]) == n and int(r["m"]) == m]
        used = [r for r in runs if int(r["converged"]) or not converged_only]
        col = {k: np.array([int(r[k]) for r in used]) for k in FIELDS[3:]}
        k0 = pooled_fraction(col["init_argmax_kept"], col["init_argmax"], seed)
        kc = pooled_fraction(col["cascade_kept"], col["cascade"], seed)
        x0 = pooled_excess(col["init_argmax_kept"], col["init_argmax"], col["final"], m, seed)
        table.append({
            "n": n, "m": m, "instances": len(used), "excluded": len(runs) - len(used),
            "final": col["final"].mean(), "random_injection": n * (n - 1) / (2 * (2 * m - 1)),
            "sign_bin": float(expected_poly_exact(n, m)),
            "cascade_model": expected_poly_cascade(n, m), "init_argmax": col["init_argmax"].mean(),
            "K0": k0, "C0": k0[0] - x0[0], "K0_minus_C0": x0,
            "KC": kc, "origin": col["init_argmax_kept"].sum() / col["final"].sum(),
            "pair_kept": col["init_argmax_pair_kept"].sum() / col["init_argmax"].sum(),
            "H1": k0[2] < 0.5, "H2": x0[1] > 0, "H3": kc[2] < 0.5})
    return table


def markdown(table: list[dict]) -> str:
    """The summary table as markdown (intervals in brackets)."""
    def ci(t):
        return f"{t[0]:.2f} [{t[1]:.2f}, {t[2]:.2f}]"
    lines = ["| n | m | runs | final X | init-argmax X | K0 kept | chance C0 | K0 − C0 | KC kept "
             "(cascade) | same pair | origin | H1 | H2 | H3 |", "|" + "---|" * 14]
    for r in table:
        lines.append(f"| {r['n']} | {r['m']} | {r['instances']} | {r['final']:.2f} | "
                     f"{r['init_argmax']:.2f} | {ci(r['K0'])} | {r['C0']:.3f} | "
                     f"{ci(r['K0_minus_C0'])} | {ci(r['KC'])} | {r['pair_kept']:.2f} | "
                     f"{r['origin']:.2f} | "
                     + " | ".join("yes" if r[h] else "no" for h in ("H1", "H2", "H3")) + " |")
    # Descriptive (step 4 of the preregistration): the count against the models.
    lines += ["", "| n | m | excluded | final X | random injection | sign-bin | cascade |",
              "|" + "---|" * 7]
    for r in table:
        lines.append(f"| {r['n']} | {r['m']} | {r['excluded']} | {r['final']:.2f} | "
                     f"{r['random_injection']:.2f} | {r['sign_bin']:.2f} | "
                     f"{r['cascade_model']:.2f} |")
    return "\n".join(lines)


def figure(table: list[dict]):
    """Kept fraction K0 (with its interval) and the chance level C0 against m/n, one line per n."""
    import matplotlib
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for n in sorted({r["n"] for r in table}):
        rows = [r for r in table if r["n"] == n]
        ratio = np.array([r["m"] / n for r in rows])
        k0 = np.array([r["K0"] for r in rows])
        line, = ax.plot(ratio, k0[:, 0], "o-", label=f"kept, n = {n}")
        ax.fill_between(ratio, k0[:, 1], k0[:, 2], color=line.get_color(), alpha=0.2)
        ax.plot(ratio, [r["C0"] for r in rows], "--", color=line.get_color(),
                label=f"chance, n = {n}")
    ax.axhline(0.5, color="grey", lw=0.8)
    ax.set(xscale="log", xlabel="m / n", ylim=(0, 0.6),
           ylabel="fraction of initial polysemantic neurons kept")
    ax.set_xticks(sorted({r["m"] / r["n"] for r in table}))
    ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.text(1.02, 0.51, "H1 bound", fontsize=7, color="grey")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def summary(rows: list[dict], seed: int, training: str) -> dict:
    """The report of per-instance rows (store records or CSV text): the analysis, with the
    master seed that seeds its bootstrap; only prox-gd runs can fail to converge."""
    return {"seed": seed, "training": training,
            "table": analyse(rows, seed=seed, converged_only=training == "prox-gd")}


def figures(report: dict) -> dict:
    """The kept-fraction figure, when there is a grid point to draw."""
    return {"collision_fate": figure(report["table"])} if report["table"] else {}


# ---------------------------------------------------------------------------------------
# the command, declared on the experiment protocol (simulations/runner/protocol.py)


@dataclass(frozen=True)
class FateConfig:
    """What one invocation does: the grid (n x m/n), instances per point, the training
    (a key of TRAINING), the master seed, or a CSV to analyse instead (from_csv)."""

    seed: int = PUBLISHED_SEED
    n: tuple[int, ...] = GRID_N
    ratios: tuple[int, ...] = GRID_RATIO
    instances: int = 32
    training: str = "prox-gd"
    from_csv: str | None = None

    @classmethod
    def quick(cls) -> FateConfig:
        """Seconds: two small points, four instances. Not a measurement."""
        return cls(n=(32,), ratios=(1, 2), instances=4)


def _add_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--n", type=integer, nargs="+", default=None,
                   help=f"features n (default {' '.join(map(str, GRID_N))})")
    p.add_argument("--ratios", type=integer, nargs="+", default=None,
                   help=f"values of m/n (default {' '.join(map(str, GRID_RATIO))})")
    p.add_argument("--training", choices=tuple(TRAINING), default=None,
                   help="prox-gd to convergence (default) or the paper's AdamW budget; "
                   "with paper-adamw no run is excluded for not converging")
    _runs.add_source_flags(p, "instances per grid point (default 32; the published run "
                           "has 64)")


def _configure(args: argparse.Namespace) -> tuple[FateConfig, list[str]]:
    config, changes = _runs.override(FateConfig.quick() if args.quick else FateConfig(), args,
                                     ("seed", "n", "ratios", "instances", "training"))
    if config.instances < 2:
        raise ValueError(f"--instances must be >= 2; got {config.instances}")
    return config, changes


def _runs_of(config: FateConfig) -> list[Run]:
    return runs(config.seed, [(n, n * r) for n in config.n for r in config.ratios],
                config.instances, TRAINING[config.training])


EXPERIMENT = _runs.experiment(
    "simulations.studies.fate", __doc__, default_seed=PUBLISHED_SEED, columns=FIELDS,
    seed_help="; the seed of docs/data/fate_confirm.csv (7000006: fate_confirm_adamw.csv). "
              "With --from-csv, give the seed the CSV was run with: it seeds the bootstrap",
    add_flags=_add_flags, configure=_configure, runs=_runs_of, run_one=run_one,
    report=lambda config, records: summary(records, config.seed, config.training),
    format_table=lambda report: markdown(report["table"]),
    figures=lambda config, report: figures(report))


main = command(EXPERIMENT)


if __name__ == "__main__":
    sys.exit(main())
