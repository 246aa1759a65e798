"""Environment checks that must run before numba is imported (dynamics/__init__.py)."""

import os
import sys


def sane_numba_threads() -> None:
    """Drop a NUMBA_NUM_THREADS that is not an integer >= 1, with one line on stderr.

    numba reads it when it is imported: 0 raises inside that import (a traceback before any
    command can answer) and a non-number prints an 18-line warning. Without it numba uses
    its default (the cores); the sweeps set their own thread counts anyway.
    """
    text = os.environ.get("NUMBA_NUM_THREADS")
    if text is None or (text.strip().isdigit() and int(text) >= 1):
        return
    del os.environ["NUMBA_NUM_THREADS"]
    sys.stderr.write(f"warning: ignoring NUMBA_NUM_THREADS={text!r}: it must be an integer "
                     ">= 1\n")


sane_numba_threads()
