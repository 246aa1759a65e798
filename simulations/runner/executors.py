"""Run a list of runs on local worker processes or a Dask cluster, storing as runs finish.

The ground floor of every experiment: `run_all` knows only runs. A run is any object with
a `key()` (its results-store key) and a `cost` (for scheduling), computed by a
module-level `runner(run) -> dict`: an experiment's protocol `Run`s with its `run_one`
(`simulations.runner.protocol`), or E3's `SpecRun`s with `simulations._run.run_spec`. It
reuses the runs already in the results store, computes the rest in parallel, and writes
each record from the parent process as soon as it arrives, so an interrupted sweep loses
nothing that finished. Usage, resume and Dask setup: `docs/usage.md#execution`,
`docs/usage.md#protocol`.

Determinism. Every run uses exactly one BLAS thread and one numba thread on every
executor. The result of a run then depends only on its parameters and seed, not on how
many workers share the machine: with a thread count that followed the worker count,
a threaded reduction could change the last bits between "1 worker" and "2 workers".
(The engine promises bit-identical results for any thread count too; fixing the count
keeps that true whatever kernels or BLAS builds come later.) Records from different
executors are identical except their timing fields (`simulations._run.TIMING_FIELDS`:
wall and CPU times); compare them with `simulations._run.without_timings`.
Parallelism comes from running several instances at once, which for the sizes of
the presets is also faster than threading one small matrix product.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import json
import logging
import multiprocessing
import numbers
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from tqdm.auto import tqdm

from .cli import Interrupted, jsonable
from .store import ResultsStore, StoreReadError, StoreWriteError

__all__ = ["RunSummary", "SchedulerError", "SweepFailed", "available_cores", "run_all",
           "stored_runs"]

# BLAS / OpenMP / numba threads per run (see the module docstring for why it is fixed).
THREADS_PER_RUN = 1
# Environment variables read by BLAS/OpenMP libraries when they load. Set in every
# worker so that libraries loaded later start with one thread too. NUMBA_NUM_THREADS
# is deliberately absent: numba re-reads its config when it compiles, and a value that
# differs from the launched thread pool raises; numba.set_num_threads is used instead.
_THREAD_ENV = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
# Seconds between checks, in a local worker, that the sweep's parent is still alive.
_PARENT_POLL = 1.0
# Seconds allowed to connect to a Dask scheduler, handshake included. A port that accepts
# and never answers would otherwise hang forever (dask's own timeout covers only the TCP
# connect), and a closed port would be retried for ~30 s.
SCHEDULER_CONNECT_TIMEOUT = 10.0


class SchedulerError(RuntimeError):
    """The Dask scheduler could not be reached in time; the message names its address."""


def available_cores() -> int:
    """Cores this process may run on (the affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


@dataclass(frozen=True)
class RunSummary:
    """What `run_all` did.

    Fields:
        done: runs computed by this call (failed ones included).
        reused: runs read from the store instead of computed.
        failed: runs of this sweep (computed or reused) whose training failed
            (`train_status` other than converged/max_steps, e.g. diverged).
        records: one record per (spec, instance), in spec order then instance order.
        keys: the canonical keys of `records`, same order.
        wall_time: seconds spent in `run_all`.
    """

    done: int
    reused: int
    failed: int
    records: tuple[dict, ...] = field(repr=False)
    keys: tuple[str, ...] = field(repr=False)
    wall_time: float

    @property
    def total(self) -> int:
        """Number of (spec, instance) runs in the sweep."""
        return len(self.records)

    def line(self) -> str:
        """The one-line summary printed at the end of a sweep."""
        return (
            f"{self.total} runs: {self.done} done, {self.reused} reused from the store, "
            f"{self.failed} failed ({self.wall_time:.1f} s)"
        )


# ---------------------------------------------------------------------------------------
# Worker side
# ---------------------------------------------------------------------------------------

_env_pid: int | None = None


def _limit_threads(threads: int = THREADS_PER_RUN) -> None:
    """Limit BLAS, OpenMP and numba to `threads` threads in this process and thread.

    Environment variables cover libraries not loaded yet (once per process). numba's
    count is per thread, and launching its thread pool may load an OpenMP runtime, so
    numba goes first; threadpoolctl then limits every library loaded so far. Both are
    repeated before each run (a few ms) because a run can load a library the previous
    call did not see (e.g. the BLAS numba calls into).
    """
    global _env_pid
    if _env_pid != os.getpid():
        for name in _THREAD_ENV:
            os.environ[name] = str(threads)
        _env_pid = os.getpid()
    import numba
    from threadpoolctl import threadpool_limits

    if numba.get_num_threads() != threads:
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    # Called as a function, not a context manager: the limit stays in force.
    threadpool_limits(limits=threads)


def _watch_parent(parent_pid: int) -> None:
    # A worker whose sweep process died (kill -9) would otherwise finish its run and
    # block on a result nobody reads; exit as soon as the parent is gone.
    while True:
        time.sleep(_PARENT_POLL)
        if os.getppid() != parent_pid:
            os._exit(1)


def _init_local_worker(threads: int) -> None:
    """ProcessPoolExecutor initializer: thread limits, and exit when the parent dies.

    Ctrl-C in a terminal sends SIGINT to the whole process group, workers included; a
    worker would print its own KeyboardInterrupt traceback. Workers ignore it and the
    parent, which alone reports the interruption, terminates them.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _limit_threads(threads)
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()


def _run_one(runner: Callable, run, threads: int) -> dict:
    """Compute one run in a worker, `runner(run)`, and return its record as canonical
    JSON-decoded data."""
    _limit_threads(threads)
    record = runner(run)
    # Round-trip through JSON in the worker: the parent then holds exactly what the
    # store will hold, so fresh and reused records compare equal. Non-finite floats become
    # None first (strict JSON, the store's rule): a NaN in a record (e.g. a law with no
    # valid value near the lam bound) would otherwise fail the whole sweep.
    return json.loads(json.dumps(jsonable(record), sort_keys=True, allow_nan=False))


# ---------------------------------------------------------------------------------------
# Parent side
# ---------------------------------------------------------------------------------------


class SweepFailed(RuntimeError):
    """The sweep stopped on a failure outside any run (store, worker process); the message
    says what was stored."""


def _failure(error: Exception) -> str:
    if isinstance(error, cf.process.BrokenProcessPool):
        # the OS killed a worker (out of memory, kill -9): its run was not stored
        return "a worker process died (killed by a signal, e.g. out of memory)"
    return str(error)


def _is_failure(record: dict) -> bool:
    status = record.get("train_status")
    return status is not None and status not in ("converged", "max_steps")


def _expand(runs: Iterable) -> list[tuple[str, object, float]]:
    """(key, run, cost) of every distinct run, in the given order."""
    out, seen = [], set()
    for run in runs:
        if not (callable(getattr(run, "key", None)) and hasattr(run, "cost")):
            raise ValueError(f"runs must have a key() and a cost; got {type(run).__name__}")
        key = run.key()
        # A run listed twice (e.g. two E3 specs differing only in `instances`) is
        # computed and reported once.
        if key not in seen:
            seen.add(key)
            out.append((key, run, float(run.cost)))
    return out


# Ctrl-C in a terminal signals the whole process group. A worker that receives it prints
# its own traceback (a Dask worker process even while idle, before any initializer could
# run), after the parent's one-line message. Workers are therefore started so that they
# never see SIGINT; the parent alone reports the interruption and stops them.


@contextlib.contextmanager
def _spawning_without_sigint():
    """Start processes here that never receive SIGINT, without losing a Ctrl-C meanwhile.

    SIGINT is blocked in this thread, and a blocked-signal mask is inherited across fork
    and exec, so in children started by this thread it stays pending forever. Blocking
    alone does not stop Python: another thread may take the signal and the main thread
    would raise mid-spawn, leaving a half-started child. So the handler only records a
    Ctrl-C until the block ends, and it is raised then.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    pressed = []
    previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    previous = signal.signal(signal.SIGINT, lambda signum, frame: pressed.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)
    if pressed:
        raise KeyboardInterrupt


@contextlib.contextmanager
def _sigint_ignored():
    """Processes started here, by any thread, ignore SIGINT for their whole life.

    For Dask's LocalCluster, whose nannies start worker processes from Dask's own thread:
    an ignored disposition is process-wide and inherited across exec, and Python keeps it.
    A Ctrl-C pressed during these few seconds of cluster start-up is lost (press again).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _local_executor(workers: int) -> cf.Executor:
    # "spawn": never "fork" (the parent may hold BLAS/numba thread pools and a sqlite
    # handle), and not "forkserver" either: its server outlives a parent killed with
    # kill -9, and its workers, being the server's children, cannot notice that death.
    context = multiprocessing.get_context("spawn")
    return cf.ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_init_local_worker,
        initargs=(THREADS_PER_RUN,),
    )


class _DaskExecutor:
    """Submit/as_completed over dask.distributed with the same shape as concurrent.futures."""

    def __init__(self, scheduler: str, workers: int) -> None:
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ValueError(
                "scheduler needs dask.distributed: "
                "pip install 'incidental-polysemanticity[distributed]'"
            ) from exc
        self._cluster = None
        self.client = None
        if scheduler == "local":
            with _sigint_ignored():
                self._cluster = LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    # Errors only: on Ctrl-C the cancelled tasks and the nannies killing
                    # busy workers would each log a warning after the one-line message.
                    silence_logs=logging.ERROR,
                )
            self.client = Client(self._cluster)
        else:
            self.client = _connect(Client, scheduler, SCHEDULER_CONNECT_TIMEOUT)

    def submit(self, fn, *args):
        # pure=False: never deduplicate or cache by argument hash on the cluster; the
        # store is the only cache.
        return self.client.submit(fn, *args, pure=False)

    @staticmethod
    def as_completed(futures):
        from dask.distributed import as_completed

        return as_completed(futures)

    def shutdown(self) -> None:
        # Closing the client releases its futures; the scheduler drops the tasks
        # nobody holds, which cancels what had not run yet.
        if self.client is not None:
            self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def _connect(client_class, address: str, timeout: float):
    """A dask Client connected to `address` within `timeout` seconds, or SchedulerError.

    The client is built in a daemon thread that is abandoned when the deadline passes:
    dask's `timeout` bounds the TCP connect but not the handshake, so a port that accepts
    and never answers would block the caller forever.
    """
    box: dict = {}

    def connect() -> None:
        try:
            # Leave dask a margin inside our deadline so that its own error wins the race.
            box["client"] = client_class(address, timeout=0.8 * timeout)
        except BaseException as error:  # noqa: BLE001 - reported to the caller below
            box["error"] = error

    thread = threading.Thread(target=connect, name="dask-connect", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise SchedulerError(
            f"scheduler {address}: no answer within {timeout:g} s (it accepts connections "
            "but does not speak the Dask protocol, or is overloaded)"
        )
    if "error" in box:
        error = box["error"]
        detail = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise SchedulerError(f"scheduler {address}: cannot connect ({detail})")
    return box["client"]


def run_all(
    runs: Sequence,
    *,
    runner: Callable[..., dict],
    store: ResultsStore | str | os.PathLike,
    workers: int | None = None,
    scheduler: str | None = None,
    fresh: bool = False,
    progress: bool = True,
    is_current: Callable[[dict], bool] | None = None,
) -> RunSummary:
    """Run every run not yet stored, store each record as it completes.

    Main arguments:
        runs: the sweep; each has `key()` (its store key) and `cost` (relative, for
            running the longest first): protocol `Run`s, or E3's `SpecRun`s.
        runner: the function computing one run, `runner(run) -> dict` (an experiment's
            `run_one`); module-level so that it can be pickled.

    Other arguments:
        store: a ResultsStore or a path to open one at (closed again on return).
        workers: local worker processes (default: the available cores), or the number
            of Dask workers of `scheduler="local"`. Ignored for a scheduler address.
        scheduler: None for local processes; "local" for a Dask LocalCluster
            (processes, one thread each); any other string is the address of a running
            Dask scheduler, e.g. "tcp://10.0.0.5:8786".
        fresh: do not read stored runs; compute everything and overwrite them.
        progress: show a tqdm bar (stderr) and print the summary line at the end.
        is_current: whether a stored record may be reused (None: every stored record
            is); a record it rejects (e.g. written by older code that lacked a field,
            `simulations._run.record_is_current`) is recomputed and overwritten.

    Returns a RunSummary whose records follow the order of `runs`. A record whose
    `train_status` is other than converged/max_steps counts as failed.

    Raises ValueError for bad arguments, `StoreError` (a ValueError) for an unusable
    store, SchedulerError for a scheduler not reached within SCHEDULER_CONNECT_TIMEOUT,
    StoreLostError when the store file is deleted mid-sweep, and `Interrupted` (a
    KeyboardInterrupt whose message says how many runs were stored) on Ctrl-C. An
    exception inside a run (other than a diverging training, which is recorded with its
    status) cancels the remaining runs and propagates; everything finished before it
    stays stored.
    """
    started = time.perf_counter()
    if workers is not None and (
        not isinstance(workers, numbers.Integral) or isinstance(workers, bool) or workers < 1
    ):
        raise ValueError(f"workers must be None or an integer >= 1; got {workers!r}")
    if scheduler is not None and (not isinstance(scheduler, str) or not scheduler.strip()):
        raise ValueError(
            f"scheduler must be None, 'local' or a scheduler address; got {scheduler!r}"
        )
    if not callable(runner):
        raise ValueError(f"runner must be callable; got {runner!r}")
    if is_current is not None and not callable(is_current):
        raise ValueError(f"is_current must be None or callable; got {is_current!r}")
    cores = available_cores()
    workers = cores if workers is None else workers
    if scheduler is None and workers * THREADS_PER_RUN > cores:
        warnings.warn(
            f"workers={workers} exceeds the {cores} available cores; runs will compete "
            "for cores (oversubscription slows every run)",
            stacklevel=2,
        )

    own_store = not isinstance(store, ResultsStore)
    store = ResultsStore(store) if own_store else store
    try:
        runs = _expand(runs)
        results: dict[str, dict] = {}
        if not fresh:
            # One query for the stored keys, then one read per hit: linear in the runs.
            stored = set(store.keys())
            for key, _, _ in runs:
                if key in stored:
                    record = store.get(key)
                    if is_current is None or is_current(record):
                        results[key] = record
        reused = len(results)
        todo = [run for run in runs if run[0] not in results]
        if todo:
            try:
                _compute(todo, results, store, workers, scheduler, progress, runner, reused)
            except KeyboardInterrupt:
                raise Interrupted(
                    f"interrupted; {len(results) - reused} new runs stored in {store.path} "
                    f"({len(results)} of {len(runs)} in all), resume with the same command"
                ) from None
            except (StoreWriteError, StoreReadError, cf.process.BrokenProcessPool) as error:
                raise SweepFailed(
                    f"{_failure(error)}; {len(results) - reused} new runs stored in "
                    f"{store.path} ({len(results)} of {len(runs)} in all), resume with the "
                    "same command"
                ) from None
        ordered = tuple(results[key] for key, _, _ in runs)
        summary = RunSummary(
            done=len(todo),
            reused=reused,
            failed=sum(_is_failure(r) for r in ordered),
            records=ordered,
            keys=tuple(key for key, _, _ in runs),
            wall_time=time.perf_counter() - started,
        )
    finally:
        if own_store:
            store.close()
    if progress:
        print(summary.line(), file=sys.stderr)
    return summary


def stored_runs(runs: Sequence, store: ResultsStore) -> RunSummary:
    """The records `store` holds for `runs`, computing nothing (an experiment's --no-run).

    Runs the store does not hold are left out: `records` and `keys` follow the order of
    `runs` without them, `done` is 0 and `reused` counts what was found. Every stored
    record is returned, including one `run_all`'s `is_current` would recompute: nothing
    can be recomputed here, and a read-only store (`ResultsStore(path, readonly=True)`)
    is enough.
    """
    started = time.perf_counter()
    stored = set(store.keys())
    found = [(key, store.get(key)) for key, _, _ in _expand(runs) if key in stored]
    records = tuple(record for _, record in found)
    return RunSummary(done=0, reused=len(records), failed=sum(map(_is_failure, records)),
                      records=records, keys=tuple(key for key, _ in found),
                      wall_time=time.perf_counter() - started)


def _compute(todo, results, store, workers, scheduler, progress, runner, reused) -> None:
    # No more workers than runs: each one costs a process start and a numba warm-up.
    workers = min(workers, len(todo))
    executor = _DaskExecutor(scheduler, workers) if scheduler else _local_executor(workers)
    bar = tqdm(
        total=len(todo),
        desc="runs",
        unit="run",
        disable=not progress,
        file=sys.stderr,
        dynamic_ncols=True,
    )
    if reused:
        bar.set_postfix_str(f"{reused} reused")
    ok = False
    try:
        # Longest runs first (an E3 run's cost is ~ n^2 m steps for a dense step): the sweep
        # does not end on one big run with idle workers, and the ETA errs on the long side.
        ordered = sorted(todo, key=lambda run: -run[2])
        # A local pool starts its worker processes on submit.
        with _spawning_without_sigint():
            futures = {
                executor.submit(_run_one, runner, run, THREADS_PER_RUN): key
                for key, run, _ in ordered
            }
        completed = (
            executor.as_completed(list(futures)) if scheduler else cf.as_completed(list(futures))
        )
        for future in completed:
            key = futures[future]
            record = future.result()
            # The parent is the only writer: one durable transaction per finished run.
            store.put(key, record)
            results[key] = record
            bar.update(1)
        ok = True
    finally:
        bar.close()
        if scheduler:
            executor.shutdown()
        else:
            if not ok:
                _terminate_workers(executor)
            executor.shutdown(wait=ok, cancel_futures=not ok)


def _terminate_workers(executor: cf.ProcessPoolExecutor) -> None:
    # On Ctrl-C or an error, a run in progress would otherwise finish (minutes) before
    # the pool lets the interpreter exit. Nothing is lost: only the parent writes the
    # store, and a terminated run was not stored. `_processes` is the pool's private
    # pid -> Process map; there is no public way to stop a running task.
    for process in list(getattr(executor, "_processes", {}).values()):
        process.terminate()
