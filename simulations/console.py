"""The `polysemanticity` command: one entry point for the project's command-line tools.

    polysemanticity SUBCOMMAND [ARGS ...]   is   python -m MODULE [ARGS ...]

Each subcommand runs the `main(argv)` of one module, imported only when it is chosen, so
`polysemanticity --help` lists the subcommands without loading any of them. Arguments,
outputs and exit statuses are the module's own (docs/usage.md#errors); an unknown
subcommand is one line on stderr and exit status 2, like every other usage error.
"""

from __future__ import annotations

import difflib
import importlib
import sys
from collections.abc import Sequence

__all__ = ["COMMANDS", "PROG", "main"]

PROG = "polysemanticity"

# Subcommand -> (module whose main(argv) it runs, one line for the help).
COMMANDS: dict[str, tuple[str, str]] = {
    "compare": ("simulations.compare",
                "the main job: E3-E5 polysemantic counts against the collision theory"),
    "sparsification": ("simulations.sparsification",
                       "E1: single-feature sparsification under L1 against three laws"),
    "noise": ("simulations.noise", "E2 and beyond: hidden-layer noise sparsifies encodings"),
    "noise-optimum": ("simulations.noise_optimum",
                      "the fastest-sparsifying noise level, simplices and counts"),
    "predict": ("simulations.predict",
                "per-instance predictor: each feature's final neuron and sign from W(0)"),
    "replication": ("simulations.replication",
                    "the preregistered replication of the lam and step-size question"),
    "paper-settings": ("simulations.paper_settings",
                       "the paper at its own settings: E3, E4, E5 with AdamW, n = 256"),
    "theory": ("theory.__main__",
               "closed-form collision predictions, e.g. `theory collisions --n 64 --m 256`"),
}


def _help() -> str:
    width = max(map(len, COMMANDS))
    lines = [
        f"usage: {PROG} SUBCOMMAND [ARGS ...]",
        "",
        "Theory and simulation of incidental polysemanticity. Each subcommand is one of the",
        "project's modules: `polysemanticity compare ...` is `python -m simulations.compare ...`.",
        "",
        "subcommands:",
        *(f"  {name:<{width}}  {line}" for name, (_, line) in COMMANDS.items()),
        "",
        f"`{PROG} SUBCOMMAND --help` shows a subcommand's flags; docs/usage.md has them all.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Run `polysemanticity SUBCOMMAND ARGS`; returns the exit status.

    The subcommand's own `main` may raise SystemExit (argparse's --help and usage errors),
    as it does under `python -m`.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        sys.stderr.write(_help())
        return 2
    name, rest = args[0], args[1:]
    if name in ("-h", "--help"):
        sys.stdout.write(_help())
        return 0
    if name not in COMMANDS:
        close = difflib.get_close_matches(name, COMMANDS, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        sys.stderr.write(f"{PROG}: error: unknown subcommand '{name}' (choose from "
                         f"{', '.join(COMMANDS)}){hint}\n")
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    return module.main(rest)


if __name__ == "__main__":
    sys.exit(main())
