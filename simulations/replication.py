"""The preregistered replication of the lam and step-size question.

    python -m simulations.replication [--instances K] [--no-run | --from-csv CSV] [shared flags]
    python -m simulations.compare --experiment replication ...   (the same)

Hypotheses, grid and analysis were fixed in docs/preregistration-lam-lr.md before
any run; this module only executes them. It is declared on the experiment protocol
(`EXPERIMENT`, simulations/runner/protocol.py) and run by `runner.command.run_experiment`,
with the same shared flags, results store, executors, resume, provenance and writer as
the other experiments. Its runs are E3's `SpecRun`s of the grid's specs (keyed by
`canonical_key`, so stored runs are reused; every cell of one m shares its W(0), so every
comparison is paired). They are computed in rounds of `ROUND` instances, lr = 0.05 first
(`Experiment.round_of`: one `run_all` per round): an interrupted or partial run leaves
complete pairs for the first instances, and the analysis reads only complete pairs.
Usage and flags: docs/usage.md#replication-of-the-lam-and-step-size-question.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats

import theory
from theory import best_model

from ._presets import FLOW_CAP_UNITS, flow_step_cap
from ._replication_figures import figure_counts
from ._report import cell, ci_cell, exclusion
from ._run import SpecRun, final_digest, record_is_current, run_spec
from ._specs import ExperimentSpec
from ._stats import holm, paired, t_interval
from .runner.cli import CliError, integer
from .runner.command import command
from .runner.protocol import Experiment

PROG = "python -m simulations.replication"
DEFAULT_OUT = "results/replication"
# Instances added per round (see the module docstring).
ROUND = 4
# Family-wise level of the Holm corrections (docs/preregistration-lam-lr.md#analysis-fixed-now).
ALPHA = 0.05


@dataclass(frozen=True)
class ReplicationGrid:
    """The grid of the replication; `PREREGISTERED` is the one that was registered."""

    n: int
    m: tuple[int, ...]
    lam: tuple[float, ...]  # code units, ascending
    lr: tuple[float, ...]  # the first is the step size H-lam is tested at
    instances: int
    seed: int
    tol: float = 1e-6
    # Step cap in units of 1 / (lam lr) (`_presets.flow_step_cap`).
    cap_units: float = FLOW_CAP_UNITS

    def step_cap(self, lam: float, lr: float) -> int:
        return flow_step_cap(lam, lr, self.cap_units)

    def spec(self, m: int, lam: float, lr: float, instances: int) -> ExperimentSpec:
        return ExperimentSpec(n=self.n, m=m, lam=lam, optimizer="prox-gd", lr=lr,
                              max_steps=self.step_cap(lam, lr), tol=self.tol, seed=self.seed,
                              instances=instances)

    def specs(self, instances: int, lrs: Sequence[float] | None = None) -> list[ExperimentSpec]:
        return [self.spec(m, lam, lr, instances)
                for lr in (self.lr if lrs is None else lrs) for m in self.m for lam in self.lam]


PREREGISTERED = ReplicationGrid(n=256, m=(512, 1024, 2048), lam=(1e-3, 3e-3, 1e-2),
                                lr=(0.05, 0.0125), instances=32, seed=20261126)
# Smoke version: the same analysis on a grid that runs in seconds. Not a measurement.
QUICK = ReplicationGrid(n=16, m=(16, 32), lam=(1e-2, 3e-2, 1e-1), lr=(0.05, 0.0125),
                        instances=4, seed=7)


@dataclass(frozen=True)
class ReplicationConfig:
    """One command's replication: the grid, the instances per cell, the records' source.

    Fields:
        grid: `PREREGISTERED`, or `QUICK` under --quick (another --seed makes it a new,
            unregistered experiment).
        instances: instances 0..instances-1 of every cell are run now (--instances); with
            --no-run or --from-csv always the grid's, as those read what exists.
        no_run: analyse the runs the store holds, computing nothing (--no-run).
        from_csv: analyse the runs of this published CSV, without a store (--from-csv).
    """

    grid: ReplicationGrid
    instances: int
    no_run: bool = False
    from_csv: str | None = None


def runs(config: ReplicationConfig) -> list[SpecRun]:
    """Every run, round by round: lr in grid order (0.05 first), then rounds of `ROUND`
    instances, each round in spec order (m, lam) then instance order.

    The runs are E3's `SpecRun`s of the grid's specs, keyed by `canonical_key(spec,
    instance)`, which leaves `spec.instances` out: a store filled before the replication
    was declared on the protocol is reused run for run.
    """
    grid, total = config.grid, config.instances
    return [SpecRun(spec, i) for lr in grid.lr for start in range(0, total, ROUND)
            for spec in grid.specs(total, [lr]) for i in range(start, min(start + ROUND, total))]


def round_of(run: SpecRun) -> tuple[float, int]:
    """A run's round: its lr and its block of `ROUND` instances (`Experiment.round_of`)."""
    return run.spec.lr, run.instance // ROUND


# ---------------------------------------------------------------------------------------
# analysis (docs/preregistration-lam-lr.md#analysis-fixed-now)


def _usable(grid: ReplicationGrid, records: Sequence[dict]) -> dict[tuple, dict]:
    """(m, lam, lr, instance) -> record, for runs without an exclusion."""
    out = {}
    for r in records:
        if exclusion(grid.spec(r["m"], r["lam"], r["lr"], 1), r) is None:
            out[(r["m"], r["lam"], r["lr"], r["instance"])] = r
    return out


def _pairs(ok: dict, a: tuple, b: tuple, instances: Sequence[int]) -> list[tuple[dict, dict]]:
    return [(ok[a + (i,)], ok[b + (i,)]) for i in instances
            if a + (i,) in ok and b + (i,) in ok]


def analyse(grid: ReplicationGrid, records: Sequence[dict]) -> dict:
    """Steps 1-6 of the preregistered analysis on the stored records."""
    ok = _usable(grid, records)
    instances = sorted({r["instance"] for r in records})
    lr0, lr1 = grid.lr
    lo, hi = grid.lam[0], grid.lam[-1]
    count = "assignment_count"

    def lam_effect(lr: float) -> list[dict]:
        rows = []
        for m in grid.m:
            pairs = _pairs(ok, (m, hi, lr), (m, lo, lr), instances)
            rows.append({"m": m, **paired(np.array([a[count] - b[count] for a, b in pairs],
                                                   float))})
        for row, p in zip(rows, holm([r["p"] for r in rows]), strict=True):
            row["p_holm"] = p
            row["rejected"] = bool(p < ALPHA)
        return rows

    h_lam = lam_effect(lr0)

    trend = []
    for row in h_lam:
        if not row["rejected"]:
            continue
        m = row["m"]
        full = [i for i in instances if all((m, lam, lr0, i) in ok for lam in grid.lam)]
        data = np.array([[ok[(m, lam, lr0, i)][count] for lam in grid.lam] for i in full], float)
        # Page's L for the direction H-lam found (increasing lam -> higher count if d > 0).
        # That direction comes from the data, so the one-sided p overstates the evidence;
        # p_two_sided (twice it, capped at 1) is the one to read.
        ranked = data if row["mean_diff"] > 0 else data[:, ::-1]
        result = stats.page_trend_test(ranked)
        trend.append({"m": m, "instances": len(full), "direction":
                      "increasing" if row["mean_diff"] > 0 else "decreasing",
                      "L": float(result.statistic), "p": float(result.pvalue),
                      "p_two_sided": min(1.0, 2 * float(result.pvalue))})

    h_lr, fidelity = [], []
    for m in grid.m:
        for lam in grid.lam:
            pairs = _pairs(ok, (m, lam, lr0), (m, lam, lr1), instances)
            diff = np.array([a[count] - b[count] for a, b in pairs], float)
            h_lr.append({"m": m, "lam": lam, **paired(diff)})
            same = np.array([np.mean((np.array(a["final_neuron"]) == b["final_neuron"])
                                     & (np.array(a["final_sign"]) == b["final_sign"]))
                             for a, b in pairs], float)
            mean, low, high = t_interval(same) if same.size else (math.nan,) * 3
            fidelity.append({"m": m, "lam": lam, "pairs": len(pairs), "same_fraction": mean,
                             "ci_low": low, "ci_high": high})
    for row, p in zip(h_lr, holm([r["p"] for r in h_lr]), strict=True):
        row["p_holm"] = p
        row["rejected"] = bool(p < ALPHA)

    against = []
    for lr in grid.lr:
        for m in grid.m:
            for lam in grid.lam:
                runs = [ok[(m, lam, lr, i)] for i in instances if (m, lam, lr, i) in ok]
                against.append(_against_theory(grid.n, m, lam, lr, runs, count))
    return {"grid": grid.__dict__, "instances_run": len(instances),
            # the execution rule of docs/preregistration-lam-lr.md: H-lam is final once
            # every lr0 run is stored, H-lr once every run is; checked cell by cell and
            # instance by instance, never by counting rows
            "h_lam_final": design_complete(grid, records, [lr0]),
            "h_lr_final": design_complete(grid, records, grid.lr),
            "records": len(records), "excluded": len(records) - len(ok),
            "h_lam": h_lam, "h_lam_trend": trend, "h_lr": h_lr, "fidelity": fidelity,
            "against_theory": against,
            # exploratory (step 7): the same lam contrast at the smaller step size
            "lam_effect_small_lr": lam_effect(lr1)}


def _against_theory(n, m, lam, lr, runs, count) -> dict:
    values = np.array([r[count] for r in runs], float)
    k = values.size
    mean, low, high = t_interval(values) if k else (math.nan,) * 3
    row = {"m": m, "lam": lam, "lr": lr, "k": k, "mean": mean, "ci_low": low, "ci_high": high}
    best = best_model.best_moments(n, m, lam)
    models = {"exact": (float(theory.expected_poly_exact(n, m)),
                        float(theory.sd_poly_exact(n, m)), 0.0),
              "best": (best["mean"], best["sd"], best["se_mean"])}
    for name, (expected, sd, se_mc) in models.items():
        # as in the compare report: (mean - E) / sqrt(sd^2 / k + se_mc^2)
        se = math.sqrt(sd**2 / k + se_mc**2) if k else math.nan
        row[f"pred_{name}"] = expected
        row[f"z_{name}"] = (mean - expected) / se if se > 0 else math.nan
    row["best_model"] = best["model"]
    # exploratory (step 7): the per-instance predictor against the init-argmax baseline
    for who in ("predictor", "init_argmax"):
        row[f"{who}_accuracy"] = float(np.mean([r[f"{who}_feature_accuracy"] for r in runs])) \
            if k else math.nan
    return row


# ---------------------------------------------------------------------------------------
# outputs

CSV_FIELDS = ("m", "lam", "lr", "instance", "seed_entropy", "seed_spawn_key", "train_status",
              "train_steps", "train_converged", "window_count", "assignment_count",
              "final_digest", "final_neuron", "final_sign", "predictor_feature_accuracy",
              "init_argmax_feature_accuracy", "cpu_time")


def csv_row(record: dict) -> dict:
    row = {name: record.get(name) for name in CSV_FIELDS}
    row["final_digest"] = final_digest(record)
    for name in ("final_neuron", "final_sign", "seed_spawn_key"):
        if row[name] is not None:
            row[name] = " ".join(str(v) for v in row[name])
    return row


def read_csv(path: str | Path) -> list[dict]:
    """The records of a published CSV: `csv_row`'s inverse (`final_digest` aside).

    Anyone can redo the preregistered analysis from docs/data/replication-lam-lr.csv
    alone: `analyse(PREREGISTERED, read_csv(path))`. Each row's digest is checked, so a
    hand-edited assignment is an error, not a silent change of the fidelity, and so is
    a count that disagrees with that assignment (`_check_counts`). A byte-order mark is
    accepted; a row cut short, a value that is not a number and a negative count are
    ValueErrors naming the row. The design itself is checked by `check_design`.
    """
    records = []
    # utf-8-sig: a spreadsheet's byte-order mark would otherwise hide the first column
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        missing = set(CSV_FIELDS) - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: missing columns {', '.join(sorted(missing))}")
        for row in reader:
            where = f"{path}: row {len(records) + 1} (line {reader.line_num})"
            record = _parse_row(row, where)
            if final_digest(record) != (row["final_digest"] or None):
                raise ValueError(f"{where}: final_digest does not match final_neuron / "
                                 "final_sign")
            _check_counts(record, where)
            records.append(record)
    return records


_INTS = ("m", "instance", "seed_entropy", "train_steps", "window_count", "assignment_count")
_FLOATS = ("lam", "lr", "predictor_feature_accuracy", "init_argmax_feature_accuracy",
           "cpu_time")
_LISTS = ("final_neuron", "final_sign", "seed_spawn_key")


def _parse_row(row: dict, where: str) -> dict:
    if None in row or any(v is None for v in row.values()):
        # csv gives missing cells as None and surplus ones under the key None
        raise ValueError(f"{where}: has {len([v for v in row.values() if v is not None])} "
                         f"cells, the header {len(row) - (None in row)} (cut short or "
                         "merged?)")
    # csv.DictWriter writes None as "": read it back as None
    record = {k: (v if v != "" else None) for k, v in row.items()}
    for names, kind in ((_INTS, int), (_FLOATS, float)):
        for name in names:
            if row[name] != "":
                record[name] = _number(kind, row[name], name, where)
    record["train_converged"] = row["train_converged"] == "True"
    for name in _LISTS:
        record[name] = ([_number(int, v, name, where) for v in row[name].split()]
                        if row[name] else None)
    return record


def _number(kind, text: str, name: str, where: str):
    try:
        value = kind(text)
    except ValueError:
        raise ValueError(f"{where}: {name} {text!r} is not "
                         f"{'an integer' if kind is int else 'a number'}") from None
    if kind is float and not math.isfinite(value):
        raise ValueError(f"{where}: {name} {text!r} is not a finite number")
    return value


def _check_counts(record: dict, where: str) -> None:
    """Counts are >= 0, and assignment_count is the one of the (digest-checked)
    final_neuron: neurons holding >= 2 features (dynamics.count_polysemantic_assignment)."""
    for name in ("window_count", "assignment_count"):
        if record.get(name) is not None and record[name] < 0:
            raise ValueError(f"{where}: {name} {record[name]} is negative; counts are >= 0")
    neuron, count = record.get("final_neuron"), record.get("assignment_count")
    if neuron is None or count is None:
        return
    alive = [k for k in neuron if k >= 0]
    if any(k >= record["m"] for k in alive):
        raise ValueError(f"{where}: final_neuron names a neuron >= m = {record['m']}")
    derived = int(np.count_nonzero(np.bincount(alive, minlength=record["m"]) >= 2))
    if derived != count:
        raise ValueError(f"{where}: assignment_count {count} disagrees with final_neuron, "
                         f"which gives {derived}")


def check_design(grid: ReplicationGrid, records: Sequence[dict], source: str) -> None:
    """Every record is one cell of `grid` with an instance in 0..instances-1, at most once.

    A row outside the grid or a run listed twice is a ValueError naming the row: counted
    as rows they would fill the place of missing runs. Missing runs are allowed; the
    analysis then labels its results interim (`design_complete`).
    """
    seen: dict[tuple, int] = {}
    for number, r in enumerate(records, start=1):
        key = (r.get("m"), r.get("lam"), r.get("lr"), r.get("instance"))
        if (key[0] not in grid.m or key[1] not in grid.lam or key[2] not in grid.lr
                or not isinstance(key[3], int) or not 0 <= key[3] < grid.instances):
            raise ValueError(
                f"{source}: row {number}: (m={key[0]}, lam={key[1]}, lr={key[2]}, "
                f"instance={key[3]}) is not a run of the grid (m in {list(grid.m)}, lam in "
                f"{list(grid.lam)}, lr in {list(grid.lr)}, instance 0..{grid.instances - 1})")
        if key in seen:
            raise ValueError(f"{source}: row {number} repeats the run of row {seen[key]} "
                             f"(m={key[0]}, lam={key[1]:g}, lr={key[2]:g}, instance={key[3]}); "
                             "each run must appear once")
        seen[key] = number


def design_complete(grid: ReplicationGrid, records: Sequence[dict], lrs) -> bool:
    """Whether every cell of `grid` at the step sizes `lrs` has each instance exactly once."""
    present = {(r["m"], r["lam"], r["lr"], r["instance"]) for r in records}
    return all((m, lam, lr, i) in present for lr in lrs for m in grid.m for lam in grid.lam
               for i in range(grid.instances))



def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + [
        "| " + " | ".join(row) + " |" for row in rows]



def format_report(analysis: dict) -> str:
    """The preregistered tables as markdown (steps 2-6, then the exploratory columns)."""
    def status(final: bool) -> str:
        return "final" if final else "INTERIM, descriptive only (grid incomplete)"

    def decision(row: dict, final: bool) -> str:
        # an interim table accepts or rejects nothing (the preregistration's execution rule)
        return ("yes" if row["rejected"] else "no") if final else "—"

    lam_final, lr_final = analysis["h_lam_final"], analysis["h_lr_final"]
    lines = [f"Runs: {analysis['records']} ({analysis['excluded']} excluded), "
             f"instances 0–{analysis['instances_run'] - 1}.", "",
             f"**H-lam** [{status(lam_final)}] (lr = 0.05): d = count(lam = 1e-2) − "
             "count(lam = 1e-3), paired, Holm over m.", ""]
    lines += _table(("m", "pairs", "mean d", "95% CI", "t", "p", "p (Holm)", "rejected"), [
        (str(r["m"]), str(r["pairs"]), cell(r["mean_diff"], "+.3f"), ci_cell(r, "+.2f"),
         cell(r["t"], ".2f"), cell(r["p"], ".3g"), cell(r["p_holm"], ".3g"),
         decision(r, lam_final)) for r in analysis["h_lam"]])
    if analysis["h_lam_trend"]:
        lines += ["", f"**H-lam-trend** [{status(lam_final)}] (Page's L, only where H-lam "
                  "was rejected; the direction is taken from the data, so read the "
                  "two-sided p):", ""]
        lines += _table(("m", "instances", "direction", "L", "p one-sided", "p two-sided"), [
            (str(r["m"]), str(r["instances"]), r["direction"], f"{r['L']:.0f}", cell(r["p"], ".3g"),
             cell(r["p_two_sided"], ".3g")) for r in analysis["h_lam_trend"]])
    lines += ["", f"**H-lr** [{status(lr_final)}]: count(lr = 0.05) − count(lr = 0.0125), "
              "paired, Holm over the cells; **fidelity**: fraction of features with the same "
              "final (neuron, sign).", ""]
    lines += _table(("m", "lam", "pairs", "mean diff", "95% CI", "p (Holm)", "rejected",
                     "same (neuron, sign)"), [
        (str(r["m"]), f"{r['lam']:g}", str(r["pairs"]), cell(r["mean_diff"], "+.3f"),
         ci_cell(r, "+.2f"), cell(r["p_holm"], ".3g"), decision(r, lr_final),
         f"{cell(fid['same_fraction'], '.3f')} {ci_cell(fid, '.3f')}")
        for r, fid in zip(analysis["h_lr"], analysis["fidelity"], strict=True)])
    lines += ["", f"*Exploratory* (not preregistered as a test): the H-lam contrast at "
              f"lr = {analysis['grid']['lr'][1]:g} [{status(lr_final)}].", ""]
    lines += _table(("m", "pairs", "mean d", "95% CI", "p (Holm)"), [
        (str(r["m"]), str(r["pairs"]), cell(r["mean_diff"], "+.3f"), ci_cell(r, "+.2f"),
         cell(r["p_holm"], ".3g"))
        for r in analysis["lam_effect_small_lr"]])
    lines += ["", "**Against theory** (assignment count; each z uses its model's SD / sqrt(k)); "
              "the last two columns are exploratory (feature accuracy of the per-instance "
              "predictor and of the init-argmax baseline).", ""]
    lines += _table(("lr", "m", "lam", "k", "mean", "95% CI", "sign-bin E", "z", "best E",
                     "model", "z best", "predictor", "init-argmax"), [
        (f"{r['lr']:g}", str(r["m"]), f"{r['lam']:g}", str(r["k"]), cell(r["mean"], ".2f"),
         ci_cell(r, ".2f"), f"{r['pred_exact']:.2f}", cell(r["z_exact"], "+.1f"),
         f"{r['pred_best']:.2f}", r["best_model"].split(" (")[0], cell(r["z_best"], "+.1f"),
         cell(r["predictor_accuracy"], ".3f"), cell(r["init_argmax_accuracy"], ".3f"))
        for r in analysis["against_theory"]])
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# command line


def _add_flags(p: argparse.ArgumentParser) -> None:
    """The replication's own flags (the shared ones are added by the protocol's parser)."""
    p.add_argument("--instances", type=integer, default=None,
                   help=f"instances per cell to run now, 1..{PREREGISTERED.instances} "
                        "(default all; stored runs are reused)")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--no-run", action="store_true",
                        help="analyse what the store holds; compute nothing")
    source.add_argument("--from-csv", metavar="CSV", default=None,
                        help="analyse the runs of a published CSV (for example "
                             "docs/data/replication-lam-lr.csv); no store, nothing computed")


def _configure(args: argparse.Namespace) -> tuple[ReplicationConfig, list[str]]:
    """The grid of --quick / --seed and the instances to run; CliError for --instances
    outside 1..the grid's instances."""
    grid = QUICK if args.quick else PREREGISTERED
    changes = []
    if args.seed is not None and args.seed != grid.seed:
        changes.append(f"seed {grid.seed} -> {args.seed} (not the registered experiment)")
        grid = dataclasses.replace(grid, seed=args.seed)
    if args.instances is not None and not 1 <= args.instances <= grid.instances:
        raise CliError(f"--instances must be in 1..{grid.instances}; got {args.instances}")
    instances = grid.instances
    # --no-run and --from-csv analyse every run there is, as before the protocol
    if args.instances is not None and not (args.no_run or args.from_csv is not None):
        instances = args.instances
        if instances != grid.instances:
            changes.append(f"instances {grid.instances} -> {instances} (run now)")
    return ReplicationConfig(grid, instances, args.no_run, args.from_csv), changes


def report(config: ReplicationConfig, records: list[dict]) -> dict:
    """The preregistered analysis (`analyse`), whether the grid is the registered one, and
    the CSV the records came from (--from-csv)."""
    out = analyse(config.grid, records)
    out["registered"] = config.grid == PREREGISTERED
    if config.from_csv is not None:
        out["csv"] = config.from_csv
    return out


def _records_from(config: ReplicationConfig) -> list[dict] | None:
    return None if config.from_csv is None else _from_csv(config.from_csv, config.grid)


def _record_tables(config: ReplicationConfig, records: list[dict]) -> dict[str, list[dict]]:
    """replication.csv: one row per run, ordered by m, lam, lr (0.05 first), instance."""
    ordered = sorted(records, key=lambda r: (r["m"], r["lam"], -r["lr"], r["instance"]))
    return {"replication": [csv_row(r) for r in ordered]}


def _from_csv(path: str, grid: ReplicationGrid) -> list[dict]:
    try:
        records = read_csv(path)
        check_design(grid, records, path)
    except (OSError, ValueError) as err:
        raise CliError(f"--from-csv: {_one_line(err)}") from None
    except csv.Error as err:
        raise CliError(f"--from-csv: {path}: not a readable CSV ({err})") from None
    if not records:
        raise CliError(f"--from-csv: {path} holds no run")
    return records


def _one_line(error: Exception) -> str:
    if isinstance(error, UnicodeDecodeError):
        return f"not UTF-8 text ({error.reason} at byte {error.start})"
    if isinstance(error, OSError):
        return f"{error.filename}: {error.strerror}"
    return str(error).splitlines()[0]


EXPERIMENT = Experiment(
    name="replication", prog=PROG,
    description="The preregistered lam / step-size replication "
                "(docs/preregistration-lam-lr.md).",
    default_out=DEFAULT_OUT, default_seed=None,
    seed_help=f"; default: the registered {PREREGISTERED.seed} ({QUICK.seed} with --quick); "
              "another one is a new, unregistered experiment",
    add_flags=_add_flags, configure=_configure, runs=runs, run_one=run_spec, report=report,
    format_table=format_report, tables=lambda report: {},
    figures=lambda config, report: {"replication_counts": figure_counts(report)},
    is_current=record_is_current, round_of=round_of,
    no_run=lambda config: config.no_run, records_from=_records_from,
    record_tables=_record_tables, table_file="report.md")


main = command(EXPERIMENT)


if __name__ == "__main__":
    sys.exit(main())
