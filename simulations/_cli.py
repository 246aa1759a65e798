"""Shared command-line plumbing of the `simulations` entry points."""

from __future__ import annotations

import argparse
import math

import numpy as np

__all__ = ["OneLineErrorParser", "jsonable"]


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse whose errors are one line on stderr with exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def jsonable(obj):
    """`obj` with numpy scalars made plain and non-finite floats None (strict JSON)."""
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj
