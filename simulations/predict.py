"""Per-instance predictor: from one initial W, the final (neuron, sign) of every feature.

`python -m simulations.predict --init W0.npy [--lam L] [--lr LR] [--json]`

Two stages, both read off the dynamics (docs/theory/cascades.md#per-instance-predictor):

1. Fast phase. The interference force -sum_j ReLU(<W_i,W_j>) W_j removes the positive
   overlaps of the random initialisation at rate ~4 ||W_j||^2 = 4 per unit of code time,
   while L1 and the feature benefit act on the slow time scale 1/lam. The predictor runs
   the training engine itself for t_fast = 1 code time unit (ceil(1/lr) steps), which
   leaves a fraction e^-4 of the initial positive overlaps.
2. Slow phase. The cascade process of `theory.cascades.cascade_assignment` on W(t_fast):
   each feature's order and signs of |W_ik| (affine reduction), same-sign conflicts won
   by the larger weight, losers falling back to their next neuron.

`score_prediction` compares a prediction with trained weights: feature accuracy
(neuron and sign both right), precision and recall of the polysemantic set, and the
same numbers for the init-argmax baseline.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from dynamics import TrainOptions, assign_features, gd_step_size_bound, train
from theory.cascades import cascade_assignment

from ._presets import CONVERGED_PROX_GD

# The predictor's defaults: the converged prox-gd setting it was built and scored on
# (simulations/_presets.py CONVERGED_PROX_GD, docs/theory/cascades.md#per-instance-predictor).
DEFAULT_LAM, DEFAULT_LR = CONVERGED_PROX_GD["lam"], CONVERGED_PROX_GD["lr"]

__all__ = ["FAST_TIME", "argmax_prediction", "cascade_prediction", "fast_phase",
           "fast_phase_steps", "init_argmax", "main", "predict_instance", "score_prediction"]

# Length of the fast phase in code time units (steps x lr): 4 e-folds of the
# interference relaxation rate 4 ||W_j||^2 = 4 (docs/theory/cascades.md#per-instance-predictor).
FAST_TIME = 1.0


def fast_phase_steps(lr: float) -> int:
    """Number of prox-gd steps of size lr that cover the fast phase: ceil(FAST_TIME / lr)."""
    return int(math.ceil(FAST_TIME / lr - 1e-12))


def _as_init(W0) -> np.ndarray:
    """W0 as a float64 (n, m) array, or ValueError naming what is wrong with it.

    Only real numbers are weights: bool, complex (its imaginary part would be dropped),
    strings, objects and structured records are refused rather than converted.
    """
    dtype = getattr(W0, "dtype", None)
    if dtype is None:
        W0 = np.asarray(W0)
        dtype = W0.dtype
    if dtype.kind not in "iuf" or dtype.fields is not None:
        raise ValueError(f"W0 must hold real numbers (integer or float); got dtype {dtype}")
    W0 = np.asarray(W0, dtype=np.float64)
    if W0.ndim != 2 or min(W0.shape, default=0) < 1 or not np.all(np.isfinite(W0)):
        raise ValueError(f"W0 must be a finite array of shape (n, m) with n, m >= 1; "
                         f"got shape {W0.shape}")
    if not np.any(W0):
        raise ValueError("W0 is all zeros: no feature has a neuron to start from")
    return W0


def predict_instance(W0, lam: float = DEFAULT_LAM, lr: float = DEFAULT_LR):
    """Predict (neuron, sign, poly_neurons) of the prox-gd run from W0 with (lam, lr).

    Returns neuron (n ints), sign (n ints +-1) and the sorted list of neurons predicted
    to hold one feature of each sign: the cascade process on W after the fast phase.
    docs/theory/cascades.md#per-instance-predictor
    """
    return cascade_prediction(fast_phase(W0, lam, lr))


def fast_phase(W0, lam: float = DEFAULT_LAM, lr: float = DEFAULT_LR) -> np.ndarray:
    """W after the predictor's fast phase: prox-gd from W0 for one code time unit
    (`fast_phase_steps(lr)` steps). ValueError for bad arguments or a diverging phase."""
    W0 = _as_init(W0)
    if not (math.isfinite(lam) and lam >= 0):
        raise ValueError(f"lam must be a finite number >= 0; got {lam!r}")
    bound = gd_step_size_bound("prox-gd")
    if not (math.isfinite(lr) and 0 < lr < bound):
        raise ValueError(f"lr must be in (0, {bound:g}) (prox-gd stability bound); got {lr!r}")
    opt = TrainOptions(optimizer="prox-gd", lr=lr, lam=lam,
                       max_steps=fast_phase_steps(lr), record_weights=True)
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # judged by the result below
            (run,) = train(W0, opt, throw=False)
        ok = run.status in ("converged", "max_steps") and np.all(np.isfinite(run.W))
    except FloatingPointError:  # a caller's np.errstate(over="raise")
        ok = False
    if not ok:
        # huge W0 entries (or an lr the bound allows only at unit norms) blow the fast
        # phase up: no prediction, rather than a DivergenceError inside a sweep
        raise ValueError(f"the fast phase ({opt.max_steps} prox-gd steps at lr {lr:g}) "
                         f"diverged from this W0 (max |W0| {np.abs(W0).max():.3g})")
    return run.W


def cascade_prediction(W_fast):
    """The predictor's slow phase: the cascade process on W after the fast phase."""
    neuron, sign = cascade_assignment(W_fast)
    return neuron, sign, _poly_set(neuron, sign)


def argmax_prediction(W):
    """Every feature on argmax_k |W_ik| with that sign; returns as predict_instance. On W0
    it is the init-argmax baseline; on W after the fast phase, the baseline that shows
    what the cascade step adds to the fast phase."""
    neuron, sign = assign_features(W)
    return neuron, sign, _poly_set(neuron, sign)


def init_argmax(W0):
    """Baseline: each feature on argmax_k |W0_ik| with that sign; returns as predict_instance."""
    return argmax_prediction(_as_init(W0))


def _poly_set(neuron, sign) -> list[int]:
    neuron, sign = np.asarray(neuron), np.asarray(sign)
    pos = set(neuron[sign > 0].tolist())
    neg = set(neuron[sign < 0].tolist())
    return sorted(int(k) for k in pos & neg if k >= 0)


def score_prediction(prediction, W) -> dict:
    """Score a (neuron, sign, poly_neurons) prediction against trained weights W (n, m).

    Returns feature_accuracy (fraction of features whose predicted neuron and sign both
    match assign_features(W)), poly_precision and poly_recall of the predicted set of
    polysemantic neurons against the neurons holding a feature of each sign in W
    (NaN when the predicted, respectively the true, set is empty), and the set sizes.
    """
    neuron, sign, poly = prediction
    true_neuron, true_sign = assign_features(W)
    true_poly = set(_poly_set(true_neuron, true_sign))
    poly = set(poly)
    hit = len(poly & true_poly)
    return {
        "feature_accuracy": float(np.mean((np.asarray(neuron) == true_neuron)
                                          & (np.asarray(sign) == true_sign))),
        "poly_precision": hit / len(poly) if poly else float("nan"),
        "poly_recall": hit / len(true_poly) if true_poly else float("nan"),
        "n_poly_predicted": len(poly),
        "n_poly_true": len(true_poly),
    }


def _build_parser():
    from simulations.runner.cli import OneLineErrorParser

    parser = OneLineErrorParser(prog="python -m simulations.predict",
                                description="Predict the final (neuron, sign) of every feature "
                                            "and the polysemantic neurons from one W0 (n x m).")
    parser.add_argument("--init", type=Path, required=True,
                        help="initial weights, .npy, shape (n, m)")
    parser.add_argument("--lam", type=float, default=DEFAULT_LAM,
                        help=f"L1 strength in code units (>= 0; default {DEFAULT_LAM:g})")
    parser.add_argument("--lr", type=float, default=DEFAULT_LR,
                        help="prox-gd step size on the code loss, in (0, 1/4) (stability "
                        f"bound; default {DEFAULT_LR:g})")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


# Smallest --lr of the command line: 1e5 fast-phase steps, a few seconds at n = m = 100
# (smaller ones ran for hours without a word).
MIN_LR = 1e-5


def _load(parser, path: Path) -> np.ndarray:
    """The array in `path` (.npy, or a .npz holding exactly one array), or a one-line error."""
    try:
        loaded = np.load(path, allow_pickle=False)
    except EOFError:
        parser.error(f"--init {path}: is empty, not a .npy array")
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not a .npy file"
        parser.error(f"--init {path}: cannot read a .npy array ({reason})")
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            names = list(loaded.files)
            if len(names) != 1:
                parser.error(f"--init {path}: a .npz archive must hold exactly one array; it "
                             f"holds {len(names)} ({', '.join(names[:5]) or 'none'})")
            try:
                return loaded[names[0]]
            except ValueError:
                parser.error(f"--init {path}: its array {names[0]} holds Python objects")
    return loaded


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit status (docs/usage.md#errors)."""
    from simulations.runner.cli import run_cli

    return run_cli(_main, "python -m simulations.predict", argv)


def _main(argv: list[str] | None = None) -> int:
    from simulations.runner.cli import jsonable

    parser = _build_parser()
    args = parser.parse_args(argv)
    if not (math.isfinite(args.lr) and MIN_LR <= args.lr):
        parser.error(f"--lr {args.lr:g}: the fast phase takes ceil(1/lr) steps; lr must be "
                     f"in [{MIN_LR:g}, {gd_step_size_bound('prox-gd'):g})")
    W0 = _load(parser, args.init)
    try:
        start = time.perf_counter()
        neuron, sign, poly = predict_instance(W0, lam=args.lam, lr=args.lr)
        seconds = time.perf_counter() - start
    except ValueError as exc:
        parser.error(f"--init {args.init}: {exc}")
    if args.json:
        print(json.dumps(jsonable({"neuron": neuron.tolist(), "sign": sign.tolist(),
                                   "poly_neurons": poly, "seconds": seconds})))
        return 0
    print(f"features {len(neuron)}, neurons {np.shape(W0)[1]}, predicted in {seconds:.4f} s")
    for i, (k, s) in enumerate(zip(neuron.tolist(), sign.tolist(), strict=True)):
        print(f"  feature {i:>4}: neuron {k:>5} sign {'+' if s > 0 else '-'}")
    print(f"polysemantic neurons ({len(poly)}): {poly}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
