"""Command line for the theory package: `python -m theory collisions --n N --m M [--json]`."""

from __future__ import annotations

import argparse
import json
import sys

from theory import cascades
from theory.collisions import ANCHORS, collision_table

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


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m theory", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    col = sub.add_parser(
        "collisions",
        help="collision-theory predictions for n features and m neurons",
        description="Every collision quantity for each (n, m), labelled with its docs anchor.",
    )
    col.add_argument("--n", type=_positive_int, nargs="+", required=True, help="feature counts")
    col.add_argument("--m", type=_positive_int, nargs="+", required=True, help="neuron counts")
    col.add_argument("--json", action="store_true", help="one JSON object per (n, m), one per line")
    return parser


def _format(value) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    tables = [_with_best(collision_table(n, m)) for n in args.n for m in args.m]
    if args.json:
        for table in tables:
            print(json.dumps(table))
        return 0
    for table in tables:
        print(f"n = {table['n']}, m = {table['m']}")
        for key, label in _LABELS.items():
            print(f"  {label:<36} {_format(table[key]):>14}   {ANCHORS[key]}")
        for key, label in _BEST_LABELS.items():
            print(f"  {label:<36} {_format(table[key]):>14}   {cascades.ANCHORS[key]}")
        print(f"  best model: {table['model_best']}")
    return 0


# The project's best prediction (docs/theory/cascades.md#verdict), added to each table.
_BEST_LABELS = {
    "expected_poly_best": "E[# polysemantic], best model",
    "sd_poly_best": "SD[# polysemantic], best model",
}


def _with_best(table: dict) -> dict:
    """`table` plus expected_poly_best, sd_poly_best and the name of that model."""
    n, m = table["n"], table["m"]
    table["expected_poly_best"] = cascades.expected_poly_best(n, m)
    table["sd_poly_best"] = cascades.sd_poly_best(n, m)
    table["model_best"] = cascades.best_model_name(n, m)
    return table


if __name__ == "__main__":
    sys.exit(main())
