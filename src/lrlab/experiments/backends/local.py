"""The local backend: the units of work on this machine, in this process or in worker processes.

With one worker (a GPU, one core, or a unit that takes every core) the engines train in this
process and write straight into the store. With several (``workers`` > 1: a CPU with cores to
spare) each unit runs in a worker process forked from this one (so the task, the model and the
user's code are there without being pickled), with ``threads`` intra-op threads; it leaves
each commit whole in ``spool/`` beside the store (written, then renamed: a worker killed
mid-write leaves nothing half-read, and nothing blocks the others), and this process, the
store's one writer, applies each as one transaction (``backends.apply``), in order, and
deletes it. On 2 cores two single-thread processes beat one process of two
threads: small kernels do not split well over threads (``bench/backends.py`` measures it).

A worker dies with the driver (``PR_SET_PDEATHSIG`` on Linux; elsewhere at its next commit),
so a killed compare leaves nothing running that holds the store's folder. A worker that dies
(killed, out of memory) stops the run with one line; what was committed stays, and the same
command continues from it.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import pickle
import shutil
import signal
import tempfile
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from ...training.records import Progress, TrialRecord
from .work import Job, WorkerLost, apply, run_unit, train

SPOOL = "spool"
"""The folder, beside the store, where workers leave their commits for the driver."""

_JOB: Job | None = None  # the job forked workers run (set while a pool is open)
_SPOOL: Path | None = None
_PARENT = 0
_SENT = [0, 0]  # the unit a worker runs, and how many messages it has sent


def cores() -> int:
    """The CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def run(job: Job, store, units: list[list[int]], workers: int, threads: int,
        on_event: Callable[[Progress], None] | None = None) -> None:
    """Train every unit of ``job`` into ``store``: in this process when ``workers`` is 1,
    else in that many worker processes of ``threads`` threads each."""
    if workers <= 1:
        train(job, job.plans, store, on_event)
        return
    names = job.names
    starts = {n: store.prepare(p.cfg, job.task, True) for n, p in zip(names, job.plans)}
    todo = [u for u in units if any(not isinstance(starts[names[i]], TrialRecord) for i in u)]
    if not todo:
        return
    global _JOB
    plans = dict(zip(names, job.plans))
    out = getattr(store, "out", None)  # a sink without a folder: a temporary one
    spool = out / SPOOL if out is not None else Path(tempfile.mkdtemp(prefix="lrlab-spool-"))
    shutil.rmtree(spool, ignore_errors=True)  # a killed run's: never read
    spool.mkdir(parents=True)
    applied: dict[int, int] = {}

    def take() -> None:
        """Apply the messages the workers left, each unit's in the order it sent them."""
        for path in sorted(spool.glob("*.msg")):
            unit, seq = map(int, path.stem.split("-"))
            if seq == applied.get(unit, 0):
                apply(store, pickle.loads(path.read_bytes()), plans, job.task, on_event)
                path.unlink()
                applied[unit] = seq + 1

    _JOB = job
    pool = ProcessPoolExecutor(min(workers, len(todo)), mp_context=multiprocessing.get_context("fork"),
                               initializer=_begin, initargs=(spool, os.getpid()))
    try:
        futures = [pool.submit(_work, i, u, {names[k]: starts[names[k]] for k in u}, threads)
                   for i, u in enumerate(todo)]
        while True:
            take()
            done, running = wait(futures, timeout=0.1, return_when=FIRST_EXCEPTION)
            failed = [f.exception() for f in done if f.exception() is not None]
            if failed:
                take()  # what the others committed before the pool stopped
                raise failed[0]
            if not running:
                break
        take()
    except BrokenProcessPool:
        _stop(pool)
        raise WorkerLost("a worker process died (killed, or out of memory); what it committed "
                         "is kept: run the same command again to continue") from None
    except BaseException:  # an error here or in a unit, Ctrl-C: what the others compute is lost
        _stop(pool)
        raise
    finally:
        _JOB = None
        shutil.rmtree(spool, ignore_errors=True)  # what is left there was never committed
    pool.shutdown()


def _stop(pool: ProcessPoolExecutor) -> None:
    """Stop the workers now."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.kill()
    pool.shutdown(wait=True, cancel_futures=True)


def _begin(spool: Path, parent: int) -> None:
    """A worker starts: it dies with the driver."""
    global _SPOOL, _PARENT
    _SPOOL, _PARENT = spool, parent
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (AttributeError, OSError):
        pass  # not Linux: _send checks the parent at every commit
    if os.getppid() != parent:
        os._exit(1)


def _send(calls) -> None:
    """A commit, left whole (written, then renamed) in the spool for the driver."""
    if os.getppid() != _PARENT:  # the driver is gone: nobody writes what this computes
        os._exit(1)
    unit, seq = _SENT
    path = _SPOOL / f"{unit:06d}-{seq:09d}.msg"
    tmp = path.with_suffix(".tmp")
    try:
        tmp.write_bytes(pickle.dumps(calls, protocol=pickle.HIGHEST_PROTOCOL))
        os.replace(tmp, path)
    except OSError as e:  # a full disk: one line, as the store says it
        tmp.unlink(missing_ok=True)
        raise OSError(f"{path}: cannot write ({e.strerror or type(e).__name__}); free space and "
                      f"run the same command again: what was stored is kept") from None
    _SENT[1] += 1


def _work(index: int, members: list[int], starts: dict, threads: int) -> int:
    _SENT[:] = [index, 0]
    run_unit(_JOB, members, starts, _send, threads)
    return index
