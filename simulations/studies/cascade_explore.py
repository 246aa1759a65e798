"""Exploration measurements behind docs/theory/cascades.md#what-the-dynamics-does.

`python -m simulations.studies.cascade_explore WHAT --out FILE.csv`, WHAT one of the
subcommands below.

All runs use exploration master seeds (1000-1999); prox-gd, lam 1e-2, lr 0.05 unless a
subcommand says otherwise.

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
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

from dynamics import (
    TrainOptions,
    assign_features,
    count_polysemantic_assignment,
    init_weights,
    train,
)
from simulations.predict import predict_instance
from simulations.replication import PREREGISTERED
from simulations.studies.fate import PAPER_ADAMW, fate_records
from theory.cascades import cascade_assignment, poly_count

BASE = dict(optimizer="prox-gd", lr=0.05, lam=1e-2, tol=1e-6, max_steps=50_000)


def _seeds(master: int, n: int, m: int, count: int):
    return np.random.SeedSequence([master, n, m]).spawn(count)


def small(instances: int) -> list[dict]:
    rows = []
    for n in (4, 8, 16):
        for m in (n, 2 * n):
            seeds = _seeds(1100, n, m, instances)
            recs = train(init_weights(n, m, seeds), TrainOptions(record_weights=True, **BASE))
            rows += [{"n": n, "m": m, "instance": i, "count": count_polysemantic_assignment(r.W),
                      "converged": int(r.converged)} for i, r in enumerate(recs)]
    return rows


def _move_effect(a, s, b, t, i, n):
    """(left a same-sign shared bin?, poly neurons destroyed on departure, created on arrival)."""
    others = np.arange(n) != i
    shared = bool(np.any(others & (a == a[i]) & (s == s[i])))
    partner = bool(np.any(others & (a == a[i]) & (s == -s[i])))
    target_same = bool(np.any(others & (a == b[i]) & (s == t[i])))
    target_partner = bool(np.any(others & (a == b[i]) & (s == -t[i])))
    return shared, int(partner and not shared), int(target_partner and not target_same)


def drift(instances: int, steps: int = 3000, every: int = 10) -> list[dict]:
    rows = []
    for n, m in ((64, 64), (64, 128), (64, 256)):
        seeds = _seeds(1004, n, m, instances)
        W = init_weights(n, m, seeds)
        # neurons holding a dominant weight of each sign (same-sign doubles do not count)
        x0 = [poly_count(*assign_features(w), m) for w in W]
        tally = np.zeros((instances, 6), dtype=np.int64)  # res moves, res -, res +, free ...
        opt = TrainOptions(optimizer="prox-gd", lr=0.05, lam=1e-2, max_steps=every,
                           record_weights=True)
        for _ in range(steps // every):
            Wn = np.stack([r.W for r in train(W, opt)])
            for k in range(instances):
                a, s = assign_features(W[k])
                b, t = assign_features(Wn[k])
                for i in np.flatnonzero((a != b) | (s != t)):
                    shared, lost, made = _move_effect(a, s, b, t, i, n)
                    col = 0 if shared else 3
                    tally[k, col:col + 3] += (1, lost, made)
            W = Wn
        for k in range(instances):
            rows.append({"n": n, "m": m, "instance": k, "x_init_argmax": x0[k],
                         "x_after": poly_count(*assign_features(W[k]), m),
                         "resolution_moves": tally[k, 0], "resolution_destroyed": tally[k, 1],
                         "resolution_created": tally[k, 2], "free_moves": tally[k, 3],
                         "free_destroyed": tally[k, 4], "free_created": tally[k, 5]})
    return rows


def sensitivity(instances: int) -> list[dict]:
    rows = []
    for n, m in ((64, 64), (64, 128), (64, 256)):
        seeds = _seeds(1006, n, m, instances)
        W0 = init_weights(n, m, seeds)
        ref = [assign_features(r.W) for r in train(W0, TrainOptions(record_weights=True, **BASE))]
        for lr in (0.025, 0.1):
            opt = TrainOptions(record_weights=True, **{**BASE, "lr": lr, "max_steps": 100_000})
            for i, r in enumerate(train(W0, opt)):
                a, s = assign_features(r.W)
                rows.append({"n": n, "m": m, "instance": i, "lr": lr,
                             "agreement": float(np.mean((a == ref[i][0]) & (s == ref[i][1]))),
                             "converged": int(r.converged)})
    return rows


def cost(instances: int) -> list[dict]:
    """Wall time of the predictor and of training the same single instance to convergence.

    Each is the minimum over repeats (5 predictor calls, 3 trainings), after one warm-up
    call, so that other jobs on the machine inflate it as little as possible.
    """
    import time

    from simulations.predict import predict_instance

    def best_of(fn, repeats):
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return min(times)

    rows = []
    opt = TrainOptions(**BASE)
    for n in (32, 64):
        for ratio in (1, 2, 4, 8):
            m = ratio * n
            W0 = init_weights(n, m, _seeds(1300, n, m, instances))
            predict_instance(W0[0])
            train(W0[0], opt)
            for i in range(instances):
                p = best_of(lambda w=W0[i]: predict_instance(w), 5)
                t = best_of(lambda w=W0[i]: train(w, opt), 3)
                rows.append({"n": n, "m": m, "instance": i, "predict_seconds": p,
                             "train_seconds": t, "ratio": p / t})
    return rows


def _accuracy(W, truth) -> float:
    neuron, sign = W if isinstance(W, tuple) else assign_features(W)
    return float(np.mean((neuron == truth[0]) & (sign == truth[1])))


def _converged(W0):
    start = time.process_time()
    runs = train(W0, TrainOptions(record_weights=True, **BASE))
    return [assign_features(r.W) for r in runs], time.process_time() - start


FRONTIER_TIMES = (1, 2, 5, 10, 20, 40)  # code time units (steps x lr)
FRONTIER_SIZES = ((32, 64), (32, 128), (64, 128), (64, 256), (64, 512))


def frontier(instances: int) -> list[dict]:
    rows = []
    for n, m in FRONTIER_SIZES:
        W0 = init_weights(n, m, _seeds(1500, n, m, instances))
        truth, train_cpu = _converged(W0)
        for T in FRONTIER_TIMES:
            start = time.process_time()
            opt = TrainOptions(optimizer="prox-gd", lr=BASE["lr"], lam=BASE["lam"],
                               max_steps=round(T / BASE["lr"]), record_weights=True)
            runs = train(W0, opt)
            cost = (time.process_time() - start) / train_cpu
            rows += [{"n": n, "m": m, "instance": i, "T": T, "cost_fraction": cost,
                      "accuracy_cascade": _accuracy(cascade_assignment(r.W), truth[i]),
                      "accuracy_argmax": _accuracy(r.W, truth[i])}
                     for i, r in enumerate(runs)]
    return rows


def truncate(instances: int) -> list[dict]:
    rows = []
    for n, m in ((64, 128), (64, 256)):
        W0 = init_weights(n, m, _seeds(1500, n, m, instances))
        truth, train_cpu = _converged(W0)
        for T in (1, 5):
            opt = TrainOptions(optimizer="prox-gd", lr=BASE["lr"], lam=BASE["lam"],
                               max_steps=round(T / BASE["lr"]), record_weights=True)
            fast = train(W0, opt)
            for K in (4, 8, 16):
                for i, r in enumerate(fast):
                    W = r.W.copy()
                    np.put_along_axis(W, np.argsort(-np.abs(W), axis=1)[:, K:], 0.0, axis=1)
                    start = time.process_time()
                    (p,) = train(W, TrainOptions(record_weights=True, sparse="always", **BASE))
                    cost = (time.process_time() - start) * instances / train_cpu
                    rows.append({"n": n, "m": m, "instance": i, "T": T, "K": K,
                                 "cost_fraction": cost, "accuracy": _accuracy(p.W, truth[i])})
    return rows


LAM_VALUES = (1e-3, 3e-3, 1e-2, 3e-2)


def lam(instances: int) -> list[dict]:
    rows = []
    for n in (32, 64):
        for ratio in (1, 1.5, 2, 4):
            m = int(ratio * n)
            W0 = init_weights(n, m, _seeds(1600, n, m, instances))
            for value in LAM_VALUES:
                cap = PREREGISTERED.step_cap(value, BASE["lr"])  # the replication's cap
                opt = TrainOptions(**{**BASE, "lam": value, "max_steps": cap},
                                   record_weights=True)
                rows += [{"n": n, "m": m, "lam": value, "instance": i,
                          "count": count_polysemantic_assignment(r.W),
                          "converged": int(r.converged), "steps": r.steps}
                         for i, r in enumerate(train(W0, opt))]
            print(f"n={n} m={m} done", file=sys.stderr, flush=True)
    return rows


def fate(instances: int) -> list[dict]:
    rows = []
    for n in (16, 32, 64, 128):
        for ratio in (1, 2, 4, 8):
            rows += fate_records(1700, n, ratio * n, instances)
    return rows


def fate_adamw(instances: int) -> list[dict]:
    rows = []
    for n in (64, 128):
        for ratio in (1, 2, 4, 8):
            rows += fate_records(1701, n, ratio * n, instances, options=PAPER_ADAMW)
    return rows


def fast_lam(instances: int) -> list[dict]:
    rows = []
    for m in (128, 256):
        for value in (1e-2, 0.1, 0.3):
            W0 = init_weights(64, m, _seeds(1602, 64, m, instances))
            opts = {**BASE, "lam": value}
            truth = [assign_features(r.W) for r in
                     train(W0, TrainOptions(record_weights=True, **opts))]
            fine = [assign_features(r.W) for r in
                    train(W0, TrainOptions(record_weights=True,
                                           **{**opts, "lr": 0.0125, "max_steps": 200_000}))]
            for i in range(instances):
                row = {"n": 64, "m": m, "lam": value, "instance": i,
                       "accuracy_predictor": _accuracy(predict_instance(W0[i], value)[:2],
                                                       truth[i]),
                       "accuracy_cascade_W0": _accuracy(cascade_assignment(W0[i]), truth[i]),
                       "accuracy_init_argmax": _accuracy(W0[i], truth[i]),
                       "same_at_lr_0.0125": _accuracy(fine[i], truth[i])}
                if i < 4:  # one instance alone, everything compiled: minimum of 3 repeats
                    row["predict_seconds"] = min(_seconds(predict_instance, W0[i], value)
                                                 for _ in range(3))
                    row["train_seconds"] = min(_seconds(train, W0[i], TrainOptions(**opts))
                                               for _ in range(3))
                rows.append(row)
    return rows


def _seconds(function, *args) -> float:
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulations.studies.cascade_explore")
    parser.add_argument("what", choices=tuple(_WHAT))
    parser.add_argument("--instances", type=int, default=None)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    function, default = _WHAT[args.what]
    rows = function(args.instances or default)
    with open(args.out, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return 0


# subcommand -> (function, default instances)
_WHAT = {"small": (small, 400), "drift": (drift, 32), "sensitivity": (sensitivity, 16),
         "cost": (cost, 4), "frontier": (frontier, 16), "truncate": (truncate, 16),
         "lam": (lam, 16), "fate": (fate, 16),
         "fate-adamw": (fate_adamw, 16),
         "fast-lam": (fast_lam, 32)}


if __name__ == "__main__":
    sys.exit(main())
