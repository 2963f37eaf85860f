"""The local backend: the units of work on this machine, in this process or in worker processes.

With one worker (a GPU, one core, or a unit that takes every core) the engines train in this
process and write straight into the store. With several (``workers`` > 1: a CPU with cores to
spare) each unit runs in a worker process forked from this one (so the task, the model and the
user's code are there without being pickled), with ``threads`` intra-op threads; its commits
come back over a queue and this process, the store's one writer, applies each as one
transaction (``backends.apply``). On 2 cores two single-thread processes beat one process of two
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
import queue as queues
import signal
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from ...training.records import Progress, TrialRecord
from . import Job, WorkerLost, apply, run_unit

_JOB: Job | None = None  # the job forked workers run (set while a pool is open)
_QUEUE = None
_PARENT = 0


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
        if job.trainer is not None:
            from ..trainers import run_trainer

            run_trainer(job.trainer, job.plans, store, job.task, on_event)
        else:
            from ...training.engines import train_population

            train_population(job.task, job.plans, store, engine=job.engine, device=job.device,
                             on_event=on_event)
        return
    names = job.names
    starts = {n: store.prepare(p.cfg, job.task) for n, p in zip(names, job.plans)}
    todo = [u for u in units if any(not isinstance(starts[names[i]], TrialRecord) for i in u)]
    if not todo:
        return
    global _JOB
    context = multiprocessing.get_context("fork")
    messages = context.Queue()
    plans = dict(zip(names, job.plans))
    _JOB = job
    pool = ProcessPoolExecutor(min(workers, len(todo)), mp_context=context, initializer=_begin,
                               initargs=(messages, os.getpid()))
    try:
        futures = [pool.submit(_work, i, u, {names[k]: starts[names[k]] for k in u}, threads)
                   for i, u in enumerate(todo)]
        left = len(todo)
        while left:
            try:
                message = messages.get(timeout=0.2)
            except queues.Empty:
                _raise_failed(futures)
                continue
            if message == "done":
                left -= 1
            else:
                apply(store, message, plans, job.task, on_event)
        _raise_failed(futures)
    except BrokenProcessPool:
        _stop(pool)
        raise WorkerLost("a worker process died (killed, or out of memory); what it committed "
                         "is kept: run the same command again to continue") from None
    except BaseException:  # an error here or in a unit, Ctrl-C: what the others compute is lost
        _stop(pool)
        raise
    finally:
        _JOB = None
        messages.close()
        messages.cancel_join_thread()
    pool.shutdown()


def _stop(pool: ProcessPoolExecutor) -> None:
    """Stop the workers now (one may be blocked sending a message nobody will read)."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.kill()
    pool.shutdown(wait=True, cancel_futures=True)


def _raise_failed(futures: list[Future]) -> None:
    """Raise the first error a unit raised (its worker's traceback is its cause)."""
    for f in futures:
        if f.done() and f.exception() is not None:
            raise f.exception()


def _begin(messages, parent: int) -> None:
    """A worker starts: it dies with the driver."""
    global _QUEUE, _PARENT
    _QUEUE, _PARENT = messages, parent
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (AttributeError, OSError):
        pass  # not Linux: _send checks the parent at every commit
    if os.getppid() != parent:
        os._exit(1)


def _send(calls) -> None:
    if os.getppid() != _PARENT:  # the driver is gone: nobody writes what this computes
        os._exit(1)
    _QUEUE.put(calls)


def _work(index: int, members: list[int], starts: dict, threads: int) -> int:
    run_unit(_JOB, members, starts, _send, threads)
    _QUEUE.put("done")
    return index
