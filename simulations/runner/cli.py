"""Shared command-line plumbing of the entry points: one-line errors, Ctrl-C, paths, numbers.

Every entry point runs its `main` through `run_cli`, which turns the three ways a
command can stop early into one line on stderr and an exit status
(docs/usage.md#errors):

* 2: the command as given cannot run (a bad flag value, path, store, or a size whose
  memory estimate exceeds the machine); nothing was computed or modified.
* 1: a failure while working (unreachable scheduler, store deleted mid-sweep, an output
  that cannot be written); what was stored stays stored.
* 130: interrupted by Ctrl-C (SIGINT), the shell convention 128 + 2.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

__all__ = [
    "SHARED_FLAGS",
    "CliError",
    "closed_pipe",
    "Interrupted",
    "Terminated",
    "OneLineErrorParser",
    "add_shared_flags",
    "check_path_lengths",
    "check_store_apart",
    "integer",
    "jsonable",
    "output_dir",
    "run_cli",
    "write_outputs",
]

# Exit status of an interrupted command: 128 + SIGINT (2), what shells report.
EXIT_INTERRUPTED = 130
# Exit status after SIGTERM: 128 + 15.
EXIT_TERMINATED = 143
# Exit status when the reader of stdout went away (`... | head`): 128 + SIGPIPE (13).
EXIT_CLOSED_PIPE = 141


def closed_pipe() -> int:
    """Stop quietly after the reader of stdout closed it, as Unix tools do.

    Python would otherwise print a traceback, and another error when it flushes stdout
    at exit; pointing stdout at /dev/null silences the second one.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return EXIT_CLOSED_PIPE


class CliError(Exception):
    """A one-line error for the user; `status` is the exit status (1 or 2)."""

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(message)
        self.status = status


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, with the line to print (e.g. how many runs were stored)."""


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse whose errors are one line on stderr with exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def run_cli(main: Callable[[list[str] | None], int], prog: str,
            argv: list[str] | None = None) -> int:
    """Run `main(argv)` and map CliError and Ctrl-C to one line on stderr and a status.

    numba-compiled code cannot raise KeyboardInterrupt itself; when the signal lands while
    numba calls back into Python it surfaces as a SystemError whose context is the
    KeyboardInterrupt. That case is an interruption too, not a crash.
    """
    _tolerant_streams()
    try:
        with _sigterm_interrupts():
            return main(argv)
    except CliError as error:
        # Status 2 errors are found before any work, so no progress bar is on screen.
        _say(f"{prog}: error: {error}", during_work=error.status != 2)
        return error.status
    except KeyboardInterrupt as interrupt:
        text = str(interrupt) or "interrupted"
        if isinstance(interrupt, Terminated) or isinstance(interrupt.__context__, Terminated):
            _say(f"{prog}: " + text.replace("interrupted", "terminated (SIGTERM)", 1))
            return EXIT_TERMINATED
        _say(f"{prog}: {text}")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return closed_pipe()
    except SystemError as error:
        if isinstance(error.__context__, KeyboardInterrupt):
            _say(f"{prog}: interrupted")
            return EXIT_INTERRUPTED
        raise


class Terminated(KeyboardInterrupt):
    """SIGTERM (kill, a batch system's time limit): stopped like Ctrl-C, so that the sweep
    says what it stored and stops its workers, then exits 143 (128 + 15)."""


def _raise_terminated(signum, frame):
    raise Terminated


@contextlib.contextmanager
def _sigterm_interrupts():
    if threading.current_thread() is not threading.main_thread():
        yield  # handlers can only be set from the main thread
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _tolerant_streams() -> None:
    # PYTHONIOENCODING=ascii (or a C locale) cannot print "n²/4m" or "λ": escape such
    # characters instead of failing with UnicodeEncodeError after all the work is done.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure") and stream.errors == "strict":
            try:
                "²λ—".encode(stream.encoding or "ascii")
            except (UnicodeEncodeError, LookupError):
                stream.reconfigure(errors="backslashreplace")


def _say(line: str, during_work: bool = True) -> None:
    # During work a progress bar may have left stderr mid-line (tqdm ends its lines with
    # "\r" when stderr is not a terminal): start the message on a line of its own.
    start = "\n" if during_work else ""
    sys.stderr.write(start + line + "\n")
    sys.stderr.flush()


# The flags every experiment's command accepts, defined once by `add_shared_flags`
# (docs/usage.md#shared-flags).
SHARED_FLAGS = ("--quick", "--seed", "--out", "--store", "--workers", "--scheduler", "--fresh",
                "--json", "--no-figures", "--no-progress", "--import-runs", "--export-runs")


def add_shared_flags(parser: argparse.ArgumentParser, *, default_out: str,
                     default_seed: int | None, seed_help: str = "") -> None:
    """Add SHARED_FLAGS to `parser` with one meaning in every entry point.

    `default_seed` None means the seed comes from elsewhere (compare's preset, the
    replication's grid, cascade_explore's WHAT), and `seed_help` says from where; the
    value is checked by `check_shared_flags`.
    """
    # without a default here, the experiment's seed_help says what the default is
    seed_default = "" if default_seed is None else f" (default {default_seed})"
    parser.add_argument("--quick", action="store_true",
                        help="smoke mode: the experiment's smallest config, seconds; explicit "
                        "flags win; not a measurement")
    parser.add_argument("--seed", type=integer, default=default_seed,
                        help=f"master seed, integer >= 0{seed_default}{seed_help}")
    parser.add_argument("--out", default=None, help=f"output folder (default {default_out})")
    parser.add_argument("--store", help="results store (default "
                        "$XDG_DATA_HOME/incidental-polysemanticity/store.sqlite)")
    parser.add_argument("--workers", type=integer,
                        help="local worker processes (default: the available cores)")
    parser.add_argument("--scheduler",
                        help="Dask scheduler ADDRESS, or 'local' for a LocalCluster")
    parser.add_argument("--fresh", action="store_true",
                        help="recompute and overwrite stored runs")
    parser.add_argument("--json", action="store_true",
                        help="print the report as one JSON object")
    parser.add_argument("--no-figures", action="store_true", help="skip the figures")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--import-runs", metavar="FILE",
                        help="first add to the store the runs of an --export-runs FILE made "
                        "elsewhere (to resume a sweep on another machine)")
    parser.add_argument("--export-runs", metavar="FILE",
                        help="at the end, write the store's runs of this command to FILE "
                        "(gzipped JSON lines)")


def check_shared_flags(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse out-of-range shared flag values with a one-line parser error (status 2)."""
    if args.seed is not None and args.seed < 0:
        parser.error(f"--seed must be an integer >= 0, got {args.seed}")
    if args.workers is not None and args.workers < 1:
        parser.error(f"--workers must be an integer >= 1; got {args.workers}")
    if args.store == "":
        raise CliError("--store must be a file path; got an empty string")


def integer(text: str) -> int:
    """argparse type: an integer, also written like 1e5; refuses 2.5 and non-numbers."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not math.isfinite(value) or value != int(value):
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}")
    return int(value)


def output_dir(text: str | os.PathLike, flag: str = "--out") -> Path:
    """Check, without creating anything, that `text` can be the output folder.

    Checked before any work, so that a long run never fails at its end on an unusable
    folder; `write_outputs` creates it when the outputs are written. An empty path is
    refused rather than read as the current folder. CliError (status 2) names the path.
    """
    if str(text) == "":
        raise CliError(f"{flag} must be a folder path; got an empty string "
                       "(use '.' for the current folder)")
    path = Path(text)
    check_path_lengths(path, flag)
    if path.is_symlink() and not path.exists():
        # exists() follows the link: a dangling one would pass and fail after the runs
        raise CliError(f"{flag} {path}: is a symbolic link to a missing target "
                       f"({os.readlink(path)})")
    if path.exists() and not path.is_dir():
        raise CliError(f"{flag} {path}: exists and is not a folder")
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise CliError(f"{flag} {path}: cannot be created, {existing} is not a folder")
    # access(2) reports read-only file systems (EROFS) even to root.
    if not os.access(existing, os.W_OK | os.X_OK):
        where = "" if existing == path else f" (nearest existing folder {existing})"
        raise CliError(f"{flag} {path}: not writable{where}")
    return path


def check_path_lengths(path: Path, flag: str) -> None:
    """Refuse a path the file system cannot hold (ENAMETOOLONG would surface as an OSError
    from the first stat, or only when the outputs are written)."""
    limit_name, limit_path = _name_limits()
    longest = max((len(os.fsencode(part)) for part in path.parts), default=0)
    if longest > limit_name:
        raise CliError(f"{flag}: a path component is {longest} bytes long; the file system "
                       f"accepts at most {limit_name}")
    if len(os.fsencode(str(path.absolute()))) >= limit_path:
        raise CliError(f"{flag}: the path is {len(os.fsencode(str(path.absolute())))} bytes "
                       f"long; the file system accepts at most {limit_path - 1}")


def _name_limits() -> tuple[int, int]:
    try:
        return os.pathconf("/", "PC_NAME_MAX"), os.pathconf("/", "PC_PATH_MAX")
    except (OSError, ValueError, AttributeError):  # pragma: no cover - non-POSIX
        return 255, 4096


# What the commands write into --out: report.json/report.md, CSV tables and figures. A
# results store that resolves to one of these names there would be overwritten by the
# report (every stored run lost), so it is refused before any run.
OUTPUT_SUFFIXES = (".json", ".md", ".csv", ".png", ".pdf")


def check_store_apart(out: Path, store: Path) -> None:
    """Refuse a --store that is, or may become, one of the output files in `out`.

    Both paths are resolved (symlinks followed); a hard link is caught by comparing the
    store with the existing output files. CliError (status 2) names both paths.
    """
    store_real, out_real = Path(os.path.realpath(store)), Path(os.path.realpath(out))
    clash = (store_real.parent == out_real and store_real.suffix.lower() in OUTPUT_SUFFIXES)
    if not clash and store_real.is_file() and out_real.is_dir():
        clash = any(_same_file(store_real, p) for p in out_real.iterdir()
                    if p.suffix.lower() in OUTPUT_SUFFIXES)
    if clash:
        raise CliError(f"--store {store}: is an output file of --out {out} (resolved "
                       f"{store_real}); the report would overwrite every stored run; choose "
                       "a store outside the output folder")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _reason(error: OSError) -> str:
    return error.strerror or type(error).__name__


def write_outputs(out: Path, write: Callable[[], list[str]]) -> list[str]:
    """Run `write()` (which writes into `out`), recreating `out` if it vanished meanwhile.

    The folder is created here, when there is something to write; one deleted during a
    long run is simply recreated. Any other failure to write becomes
    a one-line CliError (status 1) naming the folder.
    """
    try:
        out.mkdir(parents=True, exist_ok=True)
        return write()
    except OSError as error:
        name = error.filename or out
        raise CliError(f"cannot write the outputs to {name} ({_reason(error)})",
                       status=1) from None


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
