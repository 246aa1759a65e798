"""Command line for the theory package:
`python -m theory collisions --n N --m M [--lam L] [--json]`.

Counts may be written like 1e9. Errors are one line with exit status 2, Ctrl-C exits
with status 130 (docs/usage.md#errors).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

from theory import best_model, cascades, collisions, tilted_occupancy
from theory.collisions import ANCHORS

PROG = "python -m theory"
# Threshold keys and the asymptotic functions used where the exact search cannot run
# (a threshold beyond 2**52): eq. 12 and eq. 17 of docs/theory/collisions.md.
_THRESHOLDS = {
    "m_threshold_expected_below_one": collisions.m_threshold_expected_below_one_asymptotic,
    "m_threshold_p_no_poly_half": collisions.m_threshold_p_no_poly_half_asymptotic,
}

# Printed label of each quantity, in the order the table shows them.
_LABELS = {
    "p_collision": "P(two features share a neuron)",
    "p_benign_collision": "P(share with opposite signs)",
    "expected_pairs": "E[# colliding pairs]",
    "expected_multi": "E[# neurons with >= 2 features]",
    "expected_poly_first_order": "E[# polysemantic], paper n^2/4m",
    "expected_poly_pairs": "E[# benign pairs], n(n-1)/4m",
    "expected_poly_exact": "E[# polysemantic], exact sign-bin",
    "var_poly_exact": "Var[# polysemantic], exact",
    "sd_poly_exact": "SD[# polysemantic], exact",
    "p_no_poly": "P(no polysemantic neuron)",
    "m_threshold_expected_below_one": "smallest m with E < 1 beyond",
    "m_threshold_p_no_poly_half": "smallest m with P(none) >= 1/2",
}


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors on one line and exits with status 2."""

    def error(self, message: str):  # noqa: D102
        self.exit(2, f"{self.prog}: error: {message}\n")


# Largest count: float64 holds every integer up to 2**52 (theory.collisions._MAX_COUNT).
_MAX = 2**52


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if not (math.isfinite(number) and number == int(number)):
            raise argparse.ArgumentTypeError(
                f"expected an integer in 1..2**52, got {text!r}") from None
        value = int(number)
    if not 1 <= value <= _MAX:
        # name the text as typed: 1e300 as an int has 301 digits
        raise argparse.ArgumentTypeError(f"expected an integer in 1..2**52, got {text!r}")
    return value


def _positive_real(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    col = sub.add_parser(
        "collisions",
        help="collision-theory predictions for n features and m neurons",
        description="Every collision quantity for each (n, m), labelled with its docs anchor.",
    )
    col.add_argument("--n", type=_positive_int, nargs="+", required=True, help="feature counts")
    col.add_argument("--m", type=_positive_int, nargs="+", required=True, help="neuron counts")
    col.add_argument("--lam", type=_positive_real, nargs="+", default=[None],
                     help="L1 strengths (code units): adds the tilted model at each lam and "
                          "takes the best model for that lam (default: none, the lam-free "
                          "best model)")
    col.add_argument("--json", action="store_true",
                     help="one JSON object per (n, m[, lam]), one per line")
    return parser


def _format(value) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def collision_table_any_size(n: int, m: int) -> dict:
    """`collisions.collision_table`, with asymptotic thresholds where exact ones cannot run.

    A threshold beyond 2**52 (n above about 1e8) is replaced by its asymptotic form and
    the key `<threshold>_method` says "asymptotic" (it is "exact" otherwise).
    """
    thresholds = {}
    for key, asymptotic in _THRESHOLDS.items():
        try:
            value, method = getattr(collisions, key)(n), "exact"
        except ValueError:
            value, method = asymptotic(n), "asymptotic"
        thresholds[key] = int(round(float(value)))
        thresholds[f"{key}_method"] = method
    # Assembled from the quantity functions (the keys of collisions.collision_table)
    # because collision_table itself raises where an exact threshold cannot run.
    table = {"n": int(n), "m": int(m)}
    for key in _LABELS:
        if key in _THRESHOLDS:
            table[key] = thresholds[key]
            table[f"{key}_method"] = thresholds[f"{key}_method"]
        else:
            table[key] = float(getattr(collisions, key)(n, m))
    return table


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit status."""
    try:
        return _main(argv)
    except KeyboardInterrupt:
        sys.stderr.write(f"{PROG}: interrupted\n")
        return 130
    except BrokenPipeError:
        # the reader went away (`... | head`); theory must not import simulations, so
        # this repeats simulations.runner.cli.closed_pipe's two lines
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    tables = []
    for n in args.n:
        for m in args.m:
            for lam in args.lam:
                try:
                    tables.append(_with_best(collision_table_any_size(n, m), lam))
                except ValueError as error:
                    where = f"n={n}, m={m}" + ("" if lam is None else f", lam={lam:g}")
                    parser.error(f"{where}: {error}")
    if args.json:
        for table in tables:
            print(json.dumps(table))
        return 0
    for table in tables:
        lam = "" if table.get("lam") is None else f", lam = {table['lam']:g}"
        print(f"n = {table['n']}, m = {table['m']}{lam}")
        for key, label in _LABELS.items():
            note = " (asymptotic)" if table.get(f"{key}_method") == "asymptotic" else ""
            print(f"  {label:<36} {_format(table[key]):>14}   {ANCHORS[key]}{note}")
        for key, label in _BEST_LABELS.items():
            if key in table:
                print(f"  {label:<36} {_format(table[key]):>14}   {_BEST_ANCHORS[key]}")
        print(f"  best model: {table['model_best']}")
    return 0


# The tilted model at the given lam and the project's best prediction
# (theory.best_model), added to each table.
_BEST_LABELS = {
    "expected_poly_tilted": "E[# polysemantic], tilted model",
    "sd_poly_tilted": "SD[# polysemantic], tilted model",
    "expected_poly_best": "E[# polysemantic], best model",
    "sd_poly_best": "SD[# polysemantic], best model",
}
# the best model's anchor is the one the reports cite (its verdict names the adoption)
_BEST_ANCHORS = {
    "expected_poly_tilted": "docs/theory/tilted-occupancy.md#the-model",
    "sd_poly_tilted": "docs/theory/tilted-occupancy.md#the-model",
    "expected_poly_best": cascades.ANCHORS["expected_poly_best"],
    "sd_poly_best": cascades.ANCHORS["sd_poly_best"],
}


def _with_best(table: dict, lam: float | None = None) -> dict:
    """`table` plus, with lam, the tilted model there; and the best model for that lam
    (expected_poly_best, sd_poly_best, model_best)."""
    n, m = table["n"], table["m"]
    if lam is not None:
        table["lam"] = lam
        if n <= 2 * m:  # the tilted model places n features injectively into 2m bins
            tilted = tilted_occupancy.tilted_model(n, m, lam)
            table["expected_poly_tilted"] = tilted["mean"]
            table["sd_poly_tilted"] = tilted["sd"]
    best = best_model.best_moments(n, m, lam)
    table["expected_poly_best"] = best["mean"]
    table["sd_poly_best"] = best["sd"]
    table["model_best"] = best["model"]
    return table


if __name__ == "__main__":
    sys.exit(main())
