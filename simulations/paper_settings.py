"""The paper at its own settings: E3, E4 and E5 as published (AdamW, n = 256), the flow beside.

    python -m simulations.paper_settings [--stage NAME ...] [--store PATH] [--workers K]

Runs, in this order, the stages fixed in docs/preregistration-e5-adamw.md (one master
seed, so every stage at one m starts from the same W(0) and every comparison is paired):

1. ``float32-check``: E3's settings at m = 256 and 1024 in float32 and float64;
2. ``e5``: the `lambdas` preset at the five E5 widths in DTYPE (lam 1e-3 shared with E3);
3. ``e3``: the `paper` preset, all 16 widths, in DTYPE;
4. ``flow``: the `gradient-flow` preset (prox-gd to convergence) at the E5 widths.

Its runs are E3's runs (`SpecRun`, the same store keys as `simulations.compare`), and it
is declared on the experiment protocol (`EXPERIMENT`): the shared runner stores, resumes
and runs them round by round (`ROUND` instances of every spec of a stage per round), so
that an interrupted job leaves complete pairs for the first instances; --export-runs and
--import-runs move the job between machines. The analysis is the preregistered one, from
the store (--no-run) or the published CSVs (--from-csv). Usage:
docs/usage.md#the-paper-at-its-own-settings.
"""

from __future__ import annotations

import argparse
import csv
import functools
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

import theory
from theory import best_model

from ._presets import resolve_grid
from ._report import cell, ci_cell
from ._run import SpecRun, final_digest, record_is_current, run_spec
from ._specs import ExperimentSpec
from ._stats import holm, paired, t_interval
from .runner.cli import CliError
from .runner.command import command, open_store
from .runner.executors import stored_runs
from .runner.protocol import Experiment

PROG = "python -m simulations.paper_settings"
# The master seed of every stage, fixed in docs/preregistration-e5-adamw.md#grid and never
# used before it.
MASTER_SEED = 7_000_009
# Instances per grid point (the paper's 16) and per round.
INSTANCES = 16
ROUND = 4
# The E5 widths (docs/preregistration-e5-adamw.md#grid).
E5_M = (256, 512, 1024, 2048, 4096)
# The widths at which float32 is checked against float64 on the same W(0).
CHECK_M = (256, 1024)
# The dtype E3 and E5 run in, decided by that check (docs/preregistration-e5-adamw.md
# #float32-check-a-gate-fixed-now): it failed at m = 256 (docs/results.md
# #the-paper-at-its-own-settings), so float64, as the preregistration prescribes.
DTYPE = "float64"

# Stage name -> (preset, overrides) of each grid it runs, in order.
STAGES: dict[str, tuple[tuple[str, dict], ...]] = {
    "float32-check": (("paper", {"m": CHECK_M, "dtype": "float32"}),
                      ("paper", {"m": CHECK_M, "dtype": "float64"})),
    "e5": (("lambdas", {"m": E5_M, "dtype": DTYPE}),),
    "e3": (("paper", {"dtype": DTYPE}),),
    "flow": (("gradient-flow", {"m": E5_M}),),
}


def stage_specs(name: str, instances: int = INSTANCES,
                seed: int = MASTER_SEED) -> list[ExperimentSpec]:
    """Every spec of a stage, with `instances` instances each and the master seed."""
    specs = []
    for preset, overrides in STAGES[name]:
        grid = resolve_grid(preset, {**overrides, "seed": seed})
        specs += [replace(s, instances=instances) for s in grid.specs()]
    return specs


@dataclass(frozen=True)
class PlannedRun(SpecRun):
    """One run of the plan: an E3 run (same store key) with its stage and round."""

    stage: str = ""
    round: int = 0


def plan(stages: Sequence[str] = tuple(STAGES), seed: int = MASTER_SEED) -> list[PlannedRun]:
    """Every run of the named stages in plan order: stage by stage, and within a stage in
    rounds of `ROUND` instances of every spec (instances [0, ROUND), then [ROUND, 2 ROUND),
    ...), so that an interrupted job leaves complete pairs. A run shared by two stages (the
    float32 check's float64 runs and E5's lam 1e-3 runs are E3's) is listed once, at its
    first place."""
    runs, seen = [], set()
    for name in stages:
        specs = stage_specs(name, seed=seed)
        for k, start in enumerate(range(0, INSTANCES, ROUND), start=1):
            for spec in specs:
                for i in range(start, start + ROUND):
                    run = PlannedRun(spec, i, stage=name, round=k)
                    if run.key() not in seen:
                        seen.add(run.key())
                        runs.append(run)
    return runs


# ---------------------------------------------------------------------------------------
# published records: one CSV row per run (docs/preregistration-e5-adamw.md#command-and-outputs)

# The three CSVs of docs/data and the runs each holds.
CSV_FILES = {"paper-e3.csv": "adamw lam 1e-3 (E3 and the float32 check)",
             "paper-e5.csv": "adamw at the E5 widths, every lam",
             "gradient-flow-e3.csv": "prox-gd to convergence at the E5 widths"}
CSV_FIELDS = ("n", "m", "lam", "optimizer", "dtype", "lr", "max_steps", "seed", "instance",
              "window_count", "assignment_count", "steps", "status", "features_represented",
              "init_final_diag_mean", "cpu_time", "final_digest", "final_neuron", "final_sign")
_INT_FIELDS = ("n", "m", "max_steps", "seed", "instance", "window_count", "assignment_count",
               "steps", "features_represented")
_FLOAT_FIELDS = ("lam", "lr", "init_final_diag_mean", "cpu_time")


def csv_row(record: dict) -> dict:
    """The published form of one run record (counts, status, cost, final assignment)."""
    diag = record.get("init_final_diag")
    row = {name: record.get(name) for name in CSV_FIELDS}
    row.update(steps=record.get("train_steps"), status=record.get("train_status"),
               init_final_diag_mean=None if diag is None else float(np.mean(diag)),
               final_digest=final_digest(record))
    for name in ("final_neuron", "final_sign"):
        if row[name] is not None:
            row[name] = " ".join(str(int(v)) for v in row[name])
    return row


def csv_tables(records: Sequence[dict]) -> dict[str, list[dict]]:
    """The rows of each published CSV (a run may appear in two: E3's lam 1e-3 runs at the
    E5 widths are E5's lam 1e-3 runs too)."""
    tables = {name: [] for name in CSV_FILES}
    for r in records:
        row = csv_row(r)
        if r["optimizer"] == "prox-gd":
            tables["gradient-flow-e3.csv"].append(row)
            continue
        if r["lam"] == 1e-3:
            tables["paper-e3.csv"].append(row)
        if r["m"] in E5_M and r["dtype"] == DTYPE:
            tables["paper-e5.csv"].append(row)
    for rows in tables.values():
        rows.sort(key=lambda x: (x["optimizer"], x["dtype"], x["m"], x["lam"], x["instance"]))
    return tables


def read_csvs(folder: str | Path) -> list[dict]:
    """The runs of the published CSVs in `folder`, as records (`csv_row`'s inverse); each
    row's final_digest is checked, and a run listed in two files is read once. A missing
    file holds no runs (the command writes no CSV without rows); none of them is an error."""
    records: dict[tuple, dict] = {}
    present = [name for name in CSV_FILES if (Path(folder) / name).exists()]
    if not present:
        raise ValueError(f"cannot read {folder}: none of {', '.join(CSV_FILES)} is there")
    for name in present:  # a file the command did not write held no runs
        path = Path(folder) / name
        try:
            with open(path, newline="", encoding="utf-8-sig") as f:
                rows = list(csv.DictReader(f))
        except OSError as error:
            raise ValueError(f"cannot read {path}: {error.strerror or error}") from None
        for line, row in enumerate(rows, start=2):
            missing = [k for k in CSV_FIELDS if k not in row]
            if missing:
                raise ValueError(f"{path}: missing columns {', '.join(missing)}")
            try:
                record = _parse_row(row)
            except ValueError:
                raise ValueError(f"{path}: line {line}: not a valid run row") from None
            if final_digest(record) != (row["final_digest"] or None):
                raise ValueError(f"{path}: line {line}: final_digest does not match "
                                 "final_neuron and final_sign")
            key = (record["optimizer"], record["dtype"], record["m"], record["lam"],
                   record["instance"])
            records[key] = record
    return list(records.values())


def _parse_row(row: dict) -> dict:
    record = {}
    for name in CSV_FIELDS:
        text = row[name]
        if text == "":
            record[name] = None
        elif name in _INT_FIELDS:
            record[name] = int(text)
        elif name in _FLOAT_FIELDS:
            record[name] = float(text)
        elif name in ("final_neuron", "final_sign"):
            record[name] = [int(v) for v in text.split()]
        else:
            record[name] = text
    record["train_status"], record["train_steps"] = record.pop("status"), record.pop("steps")
    return record


# ---------------------------------------------------------------------------------------
# analysis (docs/preregistration-e5-adamw.md#analysis-fixed-now)

# Means read off the paper's E3 figure (n = 256, lam 1e-3, AdamW; about +-5%),
# docs/paper.md#observed-counts.
PAPER_FIGURE = {256: 72.0, 512: 24.0, 768: 13.7, 1024: 10.1, 1536: 8.2, 2048: 5.4,
                3072: 3.8, 4096: 3.8}
# Family-wise level of H-E5's Holm correction; the float32 gate's half-width in neurons.
ALPHA = 0.05
GATE = 0.5
# The count H-E5 tests (the paper's window rule) and the descriptive one beside it.
COUNT, OTHER = "window_count", "assignment_count"


def excluded(record: dict, n: int = 256) -> str | None:
    """Why a run is left out (preregistration, analysis step 1), or None."""
    if record.get("train_status") not in ("converged", "max_steps") or record.get(COUNT) is None:
        return "diverged or not converged"
    if record.get("features_represented") is not None and record["features_represented"] < n:
        return "fewer than n features represented"
    return None


def _index(records):
    """(optimizer, dtype, m, lam, instance) -> usable record, and the exclusions."""
    ok, dropped = {}, []
    for r in records:
        why = excluded(r)
        key = (r["optimizer"], r["dtype"], r["m"], r["lam"], r["instance"])
        if why is None:
            ok[key] = r
        else:
            dropped.append({"run": key, "reason": why})
    return ok, dropped


def _mean_ci(values) -> dict:
    values = np.asarray(values, float)
    mean, low, high = t_interval(values) if values.size else (math.nan,) * 3
    return {"k": int(values.size), "mean": mean, "ci_low": low, "ci_high": high}


def _pair_diffs(ok, a, b, count=COUNT):
    """count(a) - count(b) over the instances present in both (a, b: key without instance)."""
    return np.array([ok[a + (i,)][count] - ok[b + (i,)][count] for i in range(INSTANCES)
                     if a + (i,) in ok and b + (i,) in ok], float)


def float32_check(ok) -> list[dict]:
    """The gate: per check width, float32 against float64 on the same W(0)."""
    rows = []
    for m in CHECK_M:
        a, b = ("adamw", "float32", m, 1e-3), ("adamw", "float64", m, 1e-3)
        d = _pair_diffs(ok, a, b)
        row = {"m": m, **paired(d), "equal": int(np.sum(d == 0)),
               "assignment_diff": paired(_pair_diffs(ok, a, b, OTHER))["mean_diff"]}
        row["holds"] = bool(d.size == INSTANCES and (
            np.all(d == 0) or (-GATE <= row["ci_low"] and row["ci_high"] <= GATE)))
        rows.append(row)
    return rows


def e3_table(ok, n: int = 256) -> list[dict]:
    """Per width: AdamW (in DTYPE) and, where run, the flow, beside the theory and the figure."""
    rows = []
    for m in sorted({k[2] for k in ok if k[0] == "adamw" and k[3] == 1e-3}):
        runs = [ok[k] for k in ok if k[:4] == ("adamw", DTYPE, m, 1e-3)]
        if not runs:
            continue
        row = {"m": m, **_mean_ci([r[COUNT] for r in runs]),
               "assignment_mean": float(np.mean([r[OTHER] for r in runs])),
               "paper_figure": PAPER_FIGURE.get(m, math.nan),
               "first_order": n * n / (4 * m)}
        flow = [ok[k] for k in ok if k[:4] == ("prox-gd", "float64", m, 1e-3)]
        row["flow"] = _mean_ci([r[COUNT] for r in flow])
        row["adamw_minus_flow"] = paired(_pair_diffs(ok, ("adamw", DTYPE, m, 1e-3),
                                                     ("prox-gd", "float64", m, 1e-3)))
        for name, (expected, sd, se_mc, label) in _models(n, m, 1e-3).items():
            # as in the compare report: (mean - E) / sqrt(sd^2 / k + se_mc^2)
            se = math.sqrt(sd**2 / row["k"] + se_mc**2)
            row[f"pred_{name}"] = expected
            row[f"z_{name}"] = (row["mean"] - expected) / se if se > 0 else math.nan
            row[f"model_{name}"] = label.split(" (")[0]  # the name without its docs anchor
        diag = [r["init_final_diag_mean"] for r in runs if r.get("init_final_diag_mean")]
        row["e4_diagonal_mean"] = float(np.mean(diag)) if diag else math.nan
        rows.append(row)
    return rows


@functools.cache
def _models(n: int, m: int, lam: float) -> dict:
    """(mean, SD, Monte Carlo SE, name) of the sign-bin and best models at lam; cached,
    since the cascade model is a Monte Carlo of seconds."""
    best = best_model.best_moments(n, m, lam)
    return {"sign_bin": (float(theory.expected_poly_exact(n, m)),
                         float(theory.sd_poly_exact(n, m)), 0.0, "sign-bin"),
            "best": (best["mean"], best["sd"], best["se_mean"], best["model"])}


def e5_analysis(ok) -> dict:
    """H-E5 (paired, two-sided, Holm over the 10 tests) and the agreement criteria A1, A2."""
    means = [{"m": m, "lam": lam, **_mean_ci([ok[k][COUNT] for k in ok
                                               if k[:4] == ("adamw", DTYPE, m, lam)]),
              "assignment": _mean_ci([ok[k][OTHER] for k in ok
                                      if k[:4] == ("adamw", DTYPE, m, lam)])}
             for m in E5_M for lam in (1e-3, 1e-2, 1e-1)]
    tests = [{"m": m, "lam": lam,
              **paired(_pair_diffs(ok, ("adamw", DTYPE, m, lam),
                                   ("adamw", DTYPE, m, 1e-3))),
              "assignment_diff": paired(_pair_diffs(ok, ("adamw", DTYPE, m, lam),
                                                    ("adamw", DTYPE, m, 1e-3),
                                                    OTHER))["mean_diff"]}
             for m in E5_M for lam in (1e-2, 1e-1)]
    for row, p in zip(tests, holm([t["p"] for t in tests]), strict=True):
        row["p_holm"] = p
        row["rejected"] = bool(p < ALPHA)
    complete = all(t["pairs"] == INSTANCES for t in tests)
    mean_of = {(r["m"], r["lam"]): r["mean"] for r in means}
    t256 = next(t for t in tests if t["m"] == 256 and t["lam"] == 1e-1)
    a1 = bool(t256["ci_high"] < 0 and 45 <= mean_of[(256, 1e-1)] <= 60
              and 65 <= mean_of[(256, 1e-3)] <= 78)
    a2 = all(not t["rejected"] and abs(t["ci_low"]) <= 0.2 * mean_of[(t["m"], 1e-3)]
             and abs(t["ci_high"]) <= 0.2 * mean_of[(t["m"], 1e-3)]
             for t in tests if t["m"] >= 1024)
    return {"final": complete, "means": means, "tests": tests, "A1": a1, "A2": a2}


def published(record: dict) -> dict:
    """A store record in the form `read_csvs` returns, so that the analysis of the store and
    of the published CSVs is the same computation."""
    row = csv_row(record)
    return _parse_row({k: "" if v is None else str(v) for k, v in row.items()})


def analyse(records: Sequence[dict]) -> dict:
    """Every table of docs/results.md#the-paper-at-its-own-settings from the run records
    (store records or `read_csvs` rows)."""
    records = [r if "status" not in r and "init_final_diag" not in r else published(r)
               for r in records]
    ok, dropped = _index(records)
    cost = {}
    for r in records:
        label = (f"{r['optimizer']} {r['dtype']}" if r["optimizer"] == "adamw"
                 else "prox-gd (flow)")
        cost[label] = cost.get(label, 0.0) + (r.get("cpu_time") or 0.0)
    return {"records": len(records), "excluded": dropped, "float32_check": float32_check(ok),
            "e3": e3_table(ok), "e5": e5_analysis(ok),
            "cpu_hours": {k: cost[k] / 3600 for k in sorted(cost)}}


# E4 is drawn at the paper's widest width (docs/paper.md#e4).
E4_M = 4096


def e4_reconstruction(records: Sequence[dict], n: int = 256, m: int = E4_M) -> dict | None:
    """E4's matrix, the mean over instances of W(0) W(T)^T, from the published records.

    W(0) is drawn again from the instance's seed; W(T) is not stored, so each final row is
    replaced by its dominant entry, W_j(T) ~ s_j e_{k_j} (the final neuron and sign of
    feature j): entry (i, j) becomes s_j W_ik_j(0). What that drops (the magnitude
    |w_j| ~ 1 and the small remaining weights) is measured on the diagonal, which the
    records hold exactly (`init_final_diag_mean`). None when no run at m is stored.
    """
    from dynamics import init_weights

    from ._specs import instance_seed

    runs = [r for r in records if (r["optimizer"], r["dtype"], r["m"], r["lam"])
            == ("adamw", DTYPE, m, 1e-3) and r.get("final_neuron") is not None]
    if not runs:
        return None
    spec = next(s for s in stage_specs("e3") if s.m == m)
    total = np.zeros((n, n))
    for r in runs:
        W0 = init_weights(n, m, [instance_seed(spec, r["instance"])])[0]
        total += W0[:, r["final_neuron"]] * np.asarray(r["final_sign"], float)
    mean = total / len(runs)
    off = mean[~np.eye(n, dtype=bool)]
    return {"matrix": mean, "instances": len(runs),
            "diagonal_mean": float(np.mean(np.diag(mean))),
            "diagonal_mean_exact": float(np.mean([r["init_final_diag_mean"] for r in runs])),
            "offdiagonal_mean": float(off.mean()), "offdiagonal_sd": float(off.std())}


def figure_e4(e4: dict):
    """The reconstructed E4 heat map, labelled with its diagonal against the exact one."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.6, 4.8))
    bound = float(np.max(np.abs(e4["matrix"]))) or 1.0
    image = ax.imshow(e4["matrix"], cmap="RdBu_r", vmin=-bound, vmax=bound)
    ax.set_xlabel("feature j (final encoding)")
    ax.set_ylabel("feature i (initial encoding)")
    ax.set_title(f"⟨W_i(0), W_j(T)⟩, mean of {e4['instances']} instances, m = {E4_M}\n"
                 f"diagonal {e4['diagonal_mean']:.4f} (exact {e4['diagonal_mean_exact']:.4f}),"
                 f" off-diagonal sd {e4['offdiagonal_sd']:.4f}", fontsize=9)
    fig.colorbar(image, ax=ax, shrink=0.85)
    fig.tight_layout()
    return fig




def format_report(a: dict) -> str:
    """The analysis as the Markdown tables of docs/results.md#the-paper-at-its-own-settings."""
    e5 = a["e5"]
    label = "final" if e5["final"] else "INTERIM: not every E5 run is stored; nothing is decided"
    lines = [f"{a['records']} runs, {len(a['excluded'])} excluded "
             + "".join(f"; {x['run']}: {x['reason']}" for x in a["excluded"][:5]), "",
             "float32 against float64 (paired on W(0), lam 1e-3, window count):", "",
             "| m | pairs | equal | mean diff (f32 − f64) | 95% CI | assign. diff | gate holds |",
             "|---|---|---|---|---|---|---|"]
    for r in a["float32_check"]:
        lines.append(f"| {r['m']} | {r['pairs']} | {r['equal']} | {cell(r['mean_diff'], '+.2f')} "
                     f"| {ci_cell(r, '.2f')} | {cell(r['assignment_diff'], '+.2f')} "
                     f"| {r['holds']} |")
    lines += ["", f"E3 (AdamW {DTYPE}, lam 1e-3) beside the flow and the theory:", "",
              "| m | k | AdamW mean | 95% CI | assign. | paper fig. | flow mean | AdamW − flow "
              "| n²/4m | sign-bin E (z) | best E (model, z) | E4 diag. |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in a["e3"]:
        flow, d = r["flow"], r["adamw_minus_flow"]
        lines.append(
            f"| {r['m']} | {r['k']} | {cell(r['mean'], '.2f')} | {ci_cell(r, '.2f')} "
            f"| {cell(r['assignment_mean'], '.2f')} "
            f"| {cell(r['paper_figure'], 'g')} | {cell(flow['mean'], '.2f')} "
            f"| {cell(d['mean_diff'], '+.2f')} | {cell(r['first_order'], '.2f')} "
            f"| {cell(r['pred_sign_bin'], '.2f')} ({cell(r['z_sign_bin'], '+.1f')}) "
            f"| {cell(r['pred_best'], '.2f')} ({r['model_best']}, {cell(r['z_best'], '+.1f')}) "
            f"| {cell(r['e4_diagonal_mean'], '.4f')} |")
    lines += ["", f"E5, H-E5 [{label}] (paired on W(0), two-sided t, Holm over 10):", "",
              "| m | lam | pairs | mean, lam | mean diff vs lam 1e-3 | 95% CI | p | p (Holm) "
              "| rejected | assign. diff |", "|---|---|---|---|---|---|---|---|---|---|"]
    means = {(r["m"], r["lam"]): r for r in e5["means"]}
    for t in e5["tests"]:
        lines.append(f"| {t['m']} | {t['lam']:g} | {t['pairs']} "
                     f"| {cell(means[(t['m'], t['lam'])]['mean'], '.2f')} "
                     f"| {cell(t['mean_diff'], '+.2f')} "
                     f"| {ci_cell(t, '.2f')} | {cell(t['p'], '.3g')} | {cell(t['p_holm'], '.3g')} "
                     f"| {t['rejected']} | {cell(t['assignment_diff'], '+.2f')} |")
    lines += ["", f"A1 (m = 256, lam 0.1 lower, in the figure's ranges): {e5['A1']}; "
              f"A2 (m >= 1024, curves coincide within 20%): {e5['A2']} [{label}]", "",
              "CPU hours: " + ", ".join(f"{k} {v:.2f}" for k, v in a["cpu_hours"].items())]
    return "\n".join(lines)


def figure_e3(a: dict):
    """Mean count against m: AdamW with its CI, the flow, the paper's figure values, n^2/4m,
    the sign-bin and best models; log-log, ticks at the data's m. The best model (dotted,
    with markers) is drawn over the wider sign-bin line, and its legend entry says where
    the two coincide."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ._compare_figures import coincidence_note, label_m_axis, plain_log_y

    rows = a["e3"]
    m = np.array([r["m"] for r in rows], float)
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    ax.errorbar(m, [r["mean"] for r in rows],
                yerr=[[r["mean"] - r["ci_low"] for r in rows],
                      [r["ci_high"] - r["mean"] for r in rows]],
                fmt="o", color="C0", capsize=3, zorder=4,
                label=f"AdamW {DTYPE}, 7 500 steps (95% CI)")
    flow = [(r["m"], r["flow"]["mean"]) for r in rows if r["flow"]["k"]]
    if flow:
        ax.plot(*zip(*flow, strict=True), "s", color="C3", mfc="none", zorder=4,
                label="prox-gd to convergence (flow)")
    paper = sorted(PAPER_FIGURE.items())
    ax.plot(*zip(*paper, strict=True), "x", color="k", ms=8, zorder=5,
            label="paper's figure (read off)")
    ax.plot(m, [r["first_order"] for r in rows], "--", color="0.3", lw=1, zorder=2,
            label="n²/4m")
    sign_bin = [r["pred_sign_bin"] for r in rows]
    best = [r["pred_best"] for r in rows]
    ax.plot(m, sign_bin, "-", color="C2", lw=3.5, alpha=0.6, solid_capstyle="round",
            zorder=2, label="sign-bin model")
    note = coincidence_note(m, best, sign_bin, "sign-bin")
    ax.plot(m, best, color="C1", ls=(0, (1, 1.5)), lw=1.8, marker="D", ms=3.5, zorder=3,
            label="best model (theory.best_model" + (f"; {note})" if note else ")"))
    ax.set_xscale("log")
    ax.set_yscale("log")
    label_m_axis(ax, [*m, *PAPER_FIGURE])  # every m the figure shows a point at
    plain_log_y(ax)
    ax.set_xlabel("neurons m (n = 256 features)")
    ax.set_ylabel("polysemantic neurons (window rule)")
    # room below the counts for the legend (a quick run's counts can be below 1)
    positive = [r["mean"] for r in rows if r["mean"] > 0]
    ax.set_ylim(bottom=min(0.5, min(positive, default=1.0) / 4))
    ax.legend(fontsize=7.5, loc="lower left")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------
# the command, declared on the experiment protocol (simulations/runner/protocol.py)


@dataclass(frozen=True)
class PaperSettingsConfig:
    """What one invocation does.

    Fields:
        stages: the stages to run, in order (default: all, in plan order).
        seed: the master seed (the preregistered `MASTER_SEED`; another one is a new,
            unregistered plan).
        no_run: analyse the runs the store holds, computing nothing (--no-run).
        from_csv: analyse the published CSVs in this folder; no store (--from-csv).
    """

    stages: tuple[str, ...] = tuple(STAGES)
    seed: int = MASTER_SEED
    no_run: bool = False
    from_csv: str | None = None


def _add_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stage", nargs="+", choices=list(STAGES), default=list(STAGES),
                   help="stages to run, in the given order (default: all, in plan order)")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--no-run", action="store_true",
                        help="analyse what the store holds; run nothing")
    source.add_argument("--from-csv", metavar="FOLDER",
                        help="analyse the published CSVs in FOLDER (e.g. docs/data); no store")


def _configure(args: argparse.Namespace) -> tuple[PaperSettingsConfig, list[str]]:
    if args.quick:
        raise ValueError("--quick: the paper's settings have no smoke version (one AdamW "
                         "run at m = 4096 takes minutes); `python -m simulations.compare "
                         "--quick` smoke-tests the same pipeline")
    return PaperSettingsConfig(tuple(dict.fromkeys(args.stage)), args.seed, args.no_run,
                               args.from_csv), []


def _records_from(config: PaperSettingsConfig) -> list[dict] | None:
    if config.from_csv is None:
        return None
    try:
        return read_csvs(config.from_csv)
    except ValueError as error:
        raise CliError(str(error)) from None


def _report(config: PaperSettingsConfig, records: list[dict]) -> dict:
    """The analysis, with E4's summary (its matrix is drawn by `_figures`)."""
    e4 = e4_reconstruction(_published(records))
    return {**analyse(records),
            "e4": None if e4 is None else {k: v for k, v in e4.items() if k != "matrix"}}


def _published(records: Sequence[dict]) -> list[dict]:
    return [published(r) if "init_final_diag" in r else r for r in records]


def format_table(report: dict) -> str:
    """The report's tables, and E4's numbers when its runs are stored."""
    text = format_report(report)
    e4 = report.get("e4")
    if e4:
        text += (f"\n\nE4 at m = {E4_M} ({e4['instances']} instances, reconstructed from "
                 f"W(0) and the final neuron and sign): diagonal mean "
                 f"{e4['diagonal_mean']:.4f} (exact {e4['diagonal_mean_exact']:.4f}; the "
                 f"paper's figure: about 0.03), off-diagonal mean "
                 f"{e4['offdiagonal_mean']:+.4f}, sd {e4['offdiagonal_sd']:.4f}")
    return text


def _figures(config: PaperSettingsConfig, report: dict) -> dict:
    """E3, and E4 redrawn from the records at m = E4_M (read back from where the report
    came from: the CSVs or the store; the matrix is too large for report.json)."""
    figures = {"e3_paper_settings": figure_e3(report)} if report["e3"] else {}
    if report.get("e4"):
        if config.from_csv is not None:
            records = read_csvs(config.from_csv)
        else:
            with open_store(report["store"], readonly=True) as store:
                wanted = [r for r in plan(config.stages, config.seed) if r.spec.m == E4_M]
                records = list(stored_runs(wanted, store).records)
        figures["e4_paper_settings"] = figure_e4(e4_reconstruction(_published(records)))
    return figures


def _record_tables(config: PaperSettingsConfig, records: list[dict]) -> dict:
    """The published CSVs (docs/data), one row per run; none when they were the input."""
    if config.from_csv is not None:
        return {}
    return {name.removesuffix(".csv"): rows for name, rows in csv_tables(records).items()}


EXPERIMENT = Experiment(
    name="paper-settings", prog=PROG, description=__doc__.splitlines()[0],
    default_out="results/paper-settings", default_seed=MASTER_SEED,
    seed_help="; the preregistered seed (docs/preregistration-e5-adamw.md#grid), another one "
              "is a new, unregistered plan",
    add_flags=_add_flags, configure=_configure,
    runs=lambda config: plan(config.stages, config.seed), run_one=run_spec,
    report=_report, format_table=format_table, tables=lambda report: {}, figures=_figures,
    is_current=record_is_current,
    round_of=lambda run: (run.stage, run.round),
    no_run=lambda config: config.no_run, records_from=_records_from,
    record_tables=_record_tables, table_file="report.md")


main = command(EXPERIMENT)


if __name__ == "__main__":
    sys.exit(main())
