"""Exploration measurements behind docs/theory/cascades.md#what-the-dynamics-does.

    python -m simulations.studies.cascade_explore WHAT [--instances K] [--from-csv FILE]
        [shared flags]

WHAT is one of the subcommands below. `cascade_explore small` writes
`results/cascade_explore/small/cascades_small.csv` (docs/data/cascades_small.csv; every
subcommand writes `cascades_WHAT.csv`, a dash in WHAT an underscore) and prints the mean
of each column per grid point (`fate` and `fate-adamw`: the fate study's table), also in
report.md; `--from-csv FILE` prints that table for a CSV already written.

All runs use exploration master seeds (1000-1999; `--seed` defaults to the subcommand's,
`SEEDS`); prox-gd, lam 1e-2, lr 0.05 unless a subcommand says otherwise.

* small: converged counts at small n (m = n, 2n; n = 4..16), per instance.
* drift: every change of a feature's dominant (neuron, sign) between checkpoints 10
  steps apart during training, per instance: how many moves left a same-sign shared
  bin ("resolution") or not ("free"), and how many polysemantic neurons each kind
  created on arrival and destroyed on departure.
* cost: wall time of `simulations.predict.predict_instance` against training the same
  single instance to convergence (minimum over repeats).
* sensitivity: the same W0 trained to convergence with lr 0.05 and with lr 0.025 or
  0.1 (the same gradient flow, another discretization): fraction of features whose
  final (neuron, sign) agree.
* frontier: accuracy of "train for T code time units, then assign" (the cascade process
  and the plain argmax on W(T)) against the converged run, and the CPU cost of those T
  units as a fraction of training to convergence, both for a batch of instances.
* truncate: the fast phase (T = 1 or 5), then every row cut to its K largest weights and
  trained to convergence with the live kernel: accuracy and CPU cost fraction.
* lam: converged counts at n = 32, 64, m/n = 1, 1.5, 2, 4 for lam = 1e-3 ... 3e-2,
  paired on the same W0 (master seed 1600), with the step cap ceil(15 / (lam lr)).
* fate: what becomes of the polysemantic neurons of the initial argmax and of the
  cascade process (n = 16 ... 128, m/n = 1, 2, 4, 8; master seed 1700): how many are
  polysemantic at the end, against the final count.
* fast-lam: at large lam (sparsification faster than the interference reshuffling),
  the accuracy of the predictor, of the cascade process on W0 and of the initial argmax;
  the same W0 at lr 0.0125 (is lr 0.05 the flow there?); and the cost of one
  prediction against training that instance alone (n = 64, master seed 1602).
* fate-adamw: the same under the paper's optimizer (AdamW lr 1e-3, weight decay 0.01,
  7500 steps, lam 1e-3; n = 64, 128; master seed 1701).

Each grid point of a subcommand (its instances, trained together as before) is one `Run`
("study-cascade-explore": the subcommand, the seed rule and every setting the point reads
in its params), computed by `run_one`. The study is declared on the experiment protocol
(`EXPERIMENT`; simulations/studies/_runs.py), so the shared runner stores, resumes and
reuses its runs. The unit is the point, not the instance,
because several measurements are of the batch (frontier's and truncate's CPU cost
fractions) and drift restarts training every 10 steps, where one engine call per
instance would cost more than the steps. `fate` and `fate-adamw` are the fate study's
own runs (`simulations.studies.fate`, one per instance), so either command reuses the
other's. Instance i of a point (n, m) starts from `SeedSequence([master, n, m]).spawn(k)[i]`;
tests/test_studies.py checks the records against `docs/data/cascades_small.csv`.
The timing subcommands (cost, frontier, truncate, fast-lam) run one point at a time
unless --workers says otherwise, as they were measured. `--quick` runs the first grid
point of the subcommand with 3 instances.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass

import numpy as np

from dynamics import (
    TrainOptions,
    assign_features,
    count_polysemantic_assignment,
    init_weights,
    train,
)
from simulations._presets import CONVERGED_PROX_GD, flow_step_cap
from simulations._seeds import stream_seed
from simulations.predict import predict_instance
from simulations.runner.command import command
from simulations.runner.protocol import Run
from simulations.studies import _runs, fate
from theory.cascades import cascade_assignment, poly_count

BASE = CONVERGED_PROX_GD  # the `quick` preset's training (simulations/_presets.py)


def _point(what: str, master: int, n: int, m: int, instances: int, **params) -> Run:
    """The Run of one grid point: `instances` instances with seeds
    SeedSequence([master, n, m]).spawn(instances), and the settings the point reads."""
    return Run("study-cascade-explore",
               {"what": what, "n": n, "m": m,
                "seed": {"entropy": [master, n, m], "spawn": instances}, **params},
               cost=float(n * n * m * instances))


def _seeds(p: dict) -> list[np.random.SeedSequence]:
    return stream_seed(*p["seed"]["entropy"]).spawn(p["seed"]["spawn"])


def run_one(run: Run) -> dict:
    """Compute one grid point: its CSV rows, and their columns in order (a record's keys
    come back from the store sorted); a fate study's run is computed by that study."""
    if run.experiment == fate.EXPERIMENT.name:
        return fate.run_one(run)
    rows = _UNITS[run.params["what"]](run.params)
    return {"columns": list(rows[0]), "rows": rows}


# --- one function per subcommand: its grid points, then the rows of one point ------------


def small(master: int, instances: int) -> list[Run]:
    return [_point("small", master, n, m, instances, options=BASE)
            for n in (4, 8, 16) for m in (n, 2 * n)]


def _small(p: dict) -> list[dict]:
    recs = train(init_weights(p["n"], p["m"], _seeds(p)),
                 TrainOptions(record_weights=True, **p["options"]))
    return [{"n": p["n"], "m": p["m"], "instance": i, "count": count_polysemantic_assignment(r.W),
             "converged": int(r.converged)} for i, r in enumerate(recs)]


def _move_effect(a, s, b, t, i, n):
    """(left a same-sign shared bin?, poly neurons destroyed on departure, created on arrival)."""
    others = np.arange(n) != i
    shared = bool(np.any(others & (a == a[i]) & (s == s[i])))
    partner = bool(np.any(others & (a == a[i]) & (s == -s[i])))
    target_same = bool(np.any(others & (a == b[i]) & (s == t[i])))
    target_partner = bool(np.any(others & (a == b[i]) & (s == -t[i])))
    return shared, int(partner and not shared), int(target_partner and not target_same)


def drift(master: int, instances: int) -> list[Run]:
    return [_point("drift", master, n, m, instances, steps=3000, every=10,
                   options=dict(optimizer="prox-gd", lr=0.05, lam=1e-2))
            for n, m in ((64, 64), (64, 128), (64, 256))]


def _drift(p: dict) -> list[dict]:
    n, m, every = p["n"], p["m"], p["every"]
    W = init_weights(n, m, _seeds(p))
    instances = len(W)
    # neurons holding a dominant weight of each sign (same-sign doubles do not count)
    x0 = [poly_count(*assign_features(w), m) for w in W]
    tally = np.zeros((instances, 6), dtype=np.int64)  # res moves, res -, res +, free ...
    opt = TrainOptions(max_steps=every, record_weights=True, **p["options"])
    for _ in range(p["steps"] // every):
        Wn = np.stack([r.W for r in train(W, opt)])
        for k in range(instances):
            a, s = assign_features(W[k])
            b, t = assign_features(Wn[k])
            for i in np.flatnonzero((a != b) | (s != t)):
                shared, lost, made = _move_effect(a, s, b, t, i, n)
                col = 0 if shared else 3
                tally[k, col:col + 3] += (1, lost, made)
        W = Wn
    return [{"n": n, "m": m, "instance": k, "x_init_argmax": x0[k],
             "x_after": poly_count(*assign_features(W[k]), m),
             "resolution_moves": tally[k, 0], "resolution_destroyed": tally[k, 1],
             "resolution_created": tally[k, 2], "free_moves": tally[k, 3],
             "free_destroyed": tally[k, 4], "free_created": tally[k, 5]}
            for k in range(instances)]


def sensitivity(master: int, instances: int) -> list[Run]:
    return [_point("sensitivity", master, n, m, instances, options=BASE, lrs=[0.025, 0.1],
                   max_steps=100_000)
            for n, m in ((64, 64), (64, 128), (64, 256))]


def _sensitivity(p: dict) -> list[dict]:
    W0 = init_weights(p["n"], p["m"], _seeds(p))
    ref = [assign_features(r.W)
           for r in train(W0, TrainOptions(record_weights=True, **p["options"]))]
    rows = []
    for lr in p["lrs"]:
        opt = TrainOptions(record_weights=True,
                           **{**p["options"], "lr": lr, "max_steps": p["max_steps"]})
        for i, r in enumerate(train(W0, opt)):
            a, s = assign_features(r.W)
            rows.append({"n": p["n"], "m": p["m"], "instance": i, "lr": lr,
                         "agreement": float(np.mean((a == ref[i][0]) & (s == ref[i][1]))),
                         "converged": int(r.converged)})
    return rows


def cost(master: int, instances: int) -> list[Run]:
    return [_point("cost", master, n, ratio * n, instances, options=BASE, repeats=[5, 3])
            for n in (32, 64) for ratio in (1, 2, 4, 8)]


def _cost(p: dict) -> list[dict]:
    """Wall time of the predictor and of training the same single instance to convergence.

    Each is the minimum over repeats (5 predictor calls, 3 trainings), after one warm-up
    call, so that other jobs on the machine inflate it as little as possible.
    """
    def best_of(fn, repeats):
        return min(_seconds(fn) for _ in range(repeats))

    opt = TrainOptions(**p["options"])
    W0 = init_weights(p["n"], p["m"], _seeds(p))
    predict_instance(W0[0])
    train(W0[0], opt)
    rows = []
    for i, w in enumerate(W0):
        pred = best_of(lambda w=w: predict_instance(w), p["repeats"][0])
        training = best_of(lambda w=w: train(w, opt), p["repeats"][1])
        rows.append({"n": p["n"], "m": p["m"], "instance": i, "predict_seconds": pred,
                     "train_seconds": training, "ratio": pred / training})
    return rows


def _accuracy(W, truth) -> float:
    neuron, sign = W if isinstance(W, tuple) else assign_features(W)
    return float(np.mean((neuron == truth[0]) & (sign == truth[1])))


def _converged(W0, options: dict):
    start = time.process_time()
    runs = train(W0, TrainOptions(record_weights=True, **options))
    return [assign_features(r.W) for r in runs], time.process_time() - start


def _fast_phase(options: dict, T: float) -> TrainOptions:
    """T code time units (steps x lr) of the same training, no tolerance."""
    return TrainOptions(optimizer=options["optimizer"], lr=options["lr"], lam=options["lam"],
                        max_steps=round(T / options["lr"]), record_weights=True)


FRONTIER_TIMES = (1, 2, 5, 10, 20, 40)  # code time units (steps x lr)
FRONTIER_SIZES = ((32, 64), (32, 128), (64, 128), (64, 256), (64, 512))


def frontier(master: int, instances: int) -> list[Run]:
    return [_point("frontier", master, n, m, instances, options=BASE, times=list(FRONTIER_TIMES))
            for n, m in FRONTIER_SIZES]


def _frontier(p: dict) -> list[dict]:
    W0 = init_weights(p["n"], p["m"], _seeds(p))
    truth, train_cpu = _converged(W0, p["options"])
    rows = []
    for T in p["times"]:
        start = time.process_time()
        runs = train(W0, _fast_phase(p["options"], T))
        fraction = (time.process_time() - start) / train_cpu
        rows += [{"n": p["n"], "m": p["m"], "instance": i, "T": T, "cost_fraction": fraction,
                  "accuracy_cascade": _accuracy(cascade_assignment(r.W), truth[i]),
                  "accuracy_argmax": _accuracy(r.W, truth[i])}
                 for i, r in enumerate(runs)]
    return rows


def truncate(master: int, instances: int) -> list[Run]:
    return [_point("truncate", master, n, m, instances, options=BASE, times=[1, 5], keep=[4, 8, 16])
            for n, m in ((64, 128), (64, 256))]


def _truncate(p: dict) -> list[dict]:
    W0 = init_weights(p["n"], p["m"], _seeds(p))
    instances = len(W0)
    truth, train_cpu = _converged(W0, p["options"])
    rows = []
    for T in p["times"]:
        fast = train(W0, _fast_phase(p["options"], T))
        for K in p["keep"]:
            for i, r in enumerate(fast):
                W = r.W.copy()
                np.put_along_axis(W, np.argsort(-np.abs(W), axis=1)[:, K:], 0.0, axis=1)
                start = time.process_time()
                (q,) = train(W, TrainOptions(record_weights=True, sparse="always",
                                             **p["options"]))
                fraction = (time.process_time() - start) * instances / train_cpu
                rows.append({"n": p["n"], "m": p["m"], "instance": i, "T": T, "K": K,
                             "cost_fraction": fraction, "accuracy": _accuracy(q.W, truth[i])})
    return rows


LAM_VALUES = (1e-3, 3e-3, 1e-2, 3e-2)


def lam(master: int, instances: int) -> list[Run]:
    # the replication's step cap, so that the smallest lam converges too
    return [_point("lam", master, n, int(ratio * n), instances,
                   options={**BASE, "lam": value,
                            "max_steps": flow_step_cap(value, BASE["lr"])})
            for n in (32, 64) for ratio in (1, 1.5, 2, 4) for value in LAM_VALUES]


def _lam(p: dict) -> list[dict]:
    W0 = init_weights(p["n"], p["m"], _seeds(p))  # the same W0 at every lam
    return [{"n": p["n"], "m": p["m"], "lam": p["options"]["lam"], "instance": i,
             "count": count_polysemantic_assignment(r.W), "converged": int(r.converged),
             "steps": r.steps}
            for i, r in enumerate(train(W0, TrainOptions(record_weights=True, **p["options"])))]


def fate_prox(master: int, instances: int) -> list[Run]:
    return fate.runs(master, [(n, r * n) for n in (16, 32, 64, 128) for r in (1, 2, 4, 8)],
                     instances)


def fate_adamw(master: int, instances: int) -> list[Run]:
    return fate.runs(master, [(n, r * n) for n in (64, 128) for r in (1, 2, 4, 8)], instances,
                     options=fate.PAPER_ADAMW)


def fast_lam(master: int, instances: int) -> list[Run]:
    return [_point("fast-lam", master, 64, m, instances, options={**BASE, "lam": value},
                   fine={"lr": 0.0125, "max_steps": 200_000}, timed=4, repeats=3)
            for m in (128, 256) for value in (1e-2, 0.1, 0.3)]


def _fast_lam(p: dict) -> list[dict]:
    opts, value = p["options"], p["options"]["lam"]
    W0 = init_weights(p["n"], p["m"], _seeds(p))
    truth = [assign_features(r.W) for r in train(W0, TrainOptions(record_weights=True, **opts))]
    fine = [assign_features(r.W) for r in
            train(W0, TrainOptions(record_weights=True, **{**opts, **p["fine"]}))]
    plain = TrainOptions(**opts)
    rows = []
    for i, w in enumerate(W0):
        row = {"n": p["n"], "m": p["m"], "lam": value, "instance": i,
               "accuracy_predictor": _accuracy(predict_instance(w, value)[:2], truth[i]),
               "accuracy_cascade_W0": _accuracy(cascade_assignment(w), truth[i]),
               "accuracy_init_argmax": _accuracy(w, truth[i]),
               "same_at_lr_0.0125": _accuracy(fine[i], truth[i])}
        if i < p["timed"]:  # one instance alone, everything compiled: minimum of repeats
            row["predict_seconds"] = min(_seconds(lambda w=w: predict_instance(w, value))
                                         for _ in range(p["repeats"]))
            row["train_seconds"] = min(_seconds(lambda w=w: train(w, plain))
                                       for _ in range(p["repeats"]))
        rows.append(row)
    return rows


def _seconds(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


_UNITS = {"small": _small, "drift": _drift, "sensitivity": _sensitivity, "cost": _cost,
          "frontier": _frontier, "truncate": _truncate, "lam": _lam, "fast-lam": _fast_lam}
# subcommand -> its runs for (master seed, instances), published instances and seed
_WHAT = {"small": (small, 400, 1100), "drift": (drift, 32, 1004),
         "sensitivity": (sensitivity, 16, 1006), "cost": (cost, 4, 1300),
         "frontier": (frontier, 16, 1500), "truncate": (truncate, 16, 1500),
         "lam": (lam, 16, 1600), "fate": (fate_prox, 16, 1700),
         "fate-adamw": (fate_adamw, 16, 1701), "fast-lam": (fast_lam, 32, 1602)}
SEEDS = {what: seed for what, (_, _, seed) in _WHAT.items()}
# Subcommands that measure time: one point at a time unless --workers says otherwise.
TIMED = ("cost", "frontier", "truncate", "fast-lam")
# The fate study's subcommands, analysed as that study (fate-adamw: no run can converge).
FATE_TRAINING = {"fate": "prox-gd", "fate-adamw": "paper-adamw"}


# ---------------------------------------------------------------------------------------
# the printed table: the mean of each measured column per grid point


def means(rows: list[dict]) -> list[dict]:
    """Per grid point (the columns before `instance`, and lr, T or K where a subcommand
    varies them within a point): the instances and the mean of every other column, empty
    cells (the untimed instances' timings) left out. Rows may be records or CSV text."""
    columns = list(rows[0])
    by = columns[:columns.index("instance")] + [c for c in ("lr", "T", "K") if c in columns]
    measured = [c for c in columns if c not in by and c != "instance"]
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(tuple(row[c] for c in by), []).append(row)
    return [{**dict(zip(by, point, strict=True)), "instances": len(group),
             **{c: float(np.mean([float(r[c]) for r in group if r[c] not in ("", None)]
                                 or [np.nan])) for c in measured}}
            for point, group in groups.items()]


def format_means(table: list[dict]) -> str:
    """The means as markdown."""
    columns = list(table[0])
    return "\n".join(["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
                      + ["| " + " | ".join(f"{v:.4g}" if isinstance(v, float) else str(v)
                                           for v in row.values()) + " |" for row in table])


# ---------------------------------------------------------------------------------------
# the command, declared on the experiment protocol (simulations/runner/protocol.py)


@dataclass(frozen=True)
class ExploreConfig:
    """What one invocation does: the subcommand, its master seed and instances per grid
    point, whether only its first point runs (--quick), or a CSV to analyse (from_csv)."""

    what: str
    seed: int
    instances: int
    first_point_only: bool = False
    from_csv: str | None = None


def _add_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("what", choices=tuple(_WHAT), metavar="WHAT",
                   help=f"what to measure: {', '.join(_WHAT)} (see the module docstring, "
                   "pydoc simulations.studies.cascade_explore)")
    _runs.add_source_flags(p, "instances per grid point (default: the published count; "
                           "3 with --quick)")


def _configure(args: argparse.Namespace) -> tuple[ExploreConfig, list[str]]:
    _, instances, seed = _WHAT[args.what]
    base = ExploreConfig(args.what, seed, 3 if args.quick else instances, args.quick)
    config, changes = _runs.override(base, args, ("seed", "instances"))
    if config.instances < 1:
        raise ValueError(f"--instances must be >= 1; got {config.instances}")
    if args.workers is None and config.what in TIMED:
        args.workers = 1  # measured one point at a time; the runner reads args.workers
    return config, changes


def _runs_of(config: ExploreConfig) -> list[Run]:
    todo = _WHAT[config.what][0](config.seed, config.instances)
    return todo[:1] if config.first_point_only else todo


def _rows(config: ExploreConfig, records: list[dict]) -> list[dict]:
    """The CSV rows of the records: one per instance, in the published column order."""
    if config.what in FATE_TRAINING:
        return _runs.in_columns(records, fate.FIELDS)
    return [row for r in records for row in _runs.in_columns(r["rows"], r["columns"])]


def _report(config: ExploreConfig, records: list[dict]) -> dict:
    rows = records if config.from_csv is not None else _rows(config, records)
    if config.what in FATE_TRAINING:
        return {"what": config.what, **fate.summary(rows, config.seed,
                                                    FATE_TRAINING[config.what])}
    return {"what": config.what, "means": means(rows)}


EXPERIMENT = _runs.experiment(
    "simulations.studies.cascade_explore", __doc__, default_seed=None,
    default_out="results/cascade_explore/WHAT",
    out_for=lambda args: f"results/cascade_explore/{args.what}",
    seed_help="; the default depends on WHAT: the seed of its published CSV, "
              + ", ".join(f"{what} {seed}" for what, seed in SEEDS.items()),
    add_flags=_add_flags, configure=_configure, runs=_runs_of, run_one=run_one,
    report=_report,
    format_table=lambda report: (fate.markdown(report["table"]) if "table" in report
                                 else format_means(report["means"])),
    figures=lambda config, report: fate.figures(report) if "table" in report else {},
    csv_name=lambda config: "cascades_" + config.what.replace("-", "_"), record_tables=_rows)


main = command(EXPERIMENT)


if __name__ == "__main__":
    sys.exit(main())
