"""The Ray backend (``lrlab[ray]``): every unit of work a Ray task, on any node of a cluster.

The driver (the process that runs ``lrlab compare``) holds the store and is its only writer.
Each unit is a Ray task (``per_trial`` resources: ``cpu=1`` by default, ``gpu=0.25`` shares a
GPU among four) that trains with a ``Relay`` sink: at every commit of the engine (a population's
epoch) it hands its calls to the ``Hub``, an actor pinned to the driver's node, and waits for
the hub to take them. The driver drains the hub and applies each message to the store as one
transaction (``backends.apply``).

Why an actor and not the task's return value or a Tune callback: a unit's records must reach
the store while it runs (a 20-epoch population is minutes of work a kill must not lose), and its
retry must find its last checkpoint on whatever node Ray places it, with no shared filesystem.
The hub keeps, per unit, what the store holds of its trials (``backends.Memory``: records so
far and the last checkpoint's bytes), so a retried task asks the hub where to start. Faults are
Ray's: a worker process or a node that dies is retried by Ray (``max_retries``), and the retry
continues from the unit's last commit; a retry supersedes the attempt before it (a late
message of a presumed-dead attempt is refused, never applied twice). A unit that fails for its
own reason is not retried: a user trainer's exception fails its trial (with the exception's last
line) inside the unit; an error of lrlab's stops the run with that error. When the driver dies
the hub dies with it (it is the driver's actor): its tasks can no longer send anything, and the
rerun continues from the store.

The user's code travels with the tasks: functions from ``--trainer FILE.py:fn`` or ``--model``
files, and the task's data, are pickled by value (cloudpickle) into Ray's object store; lrlab,
torch and the user's framework must be installed on every node.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ...training.records import Progress, TrialRecord
from .work import Job, Memory, WorkerLost, apply, run_unit, units

RETRIES = 3
"""How often Ray runs a unit again whose worker process or node died."""


def runner(job: Job, resources: dict[str, float], address: str | None
           ) -> Callable[[Any, Callable | None], None]:
    """``backends.run_backend`` for Ray: checks that Ray is there before anything is written."""
    if address is not None and "RAY_AUTH_MODE" not in os.environ and (
            os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH")
            or Path("~/.ray/auth_token").expanduser().is_file()):
        # Ray >= 2.59 starts clusters with token authentication, and a driver sends the token
        # only in token mode, read when ray is imported: join with the token this machine has
        os.environ["RAY_AUTH_MODE"] = "token"
    try:
        import ray
    except ImportError:
        raise ValueError("backend ray needs Ray: pip install 'lrlab[ray]'") from None
    cpu = resources.get("cpu", 1.0)
    gpu = resources.get("gpu", 0.0 if str(job.device) == "cpu" else 1.0)
    if not ray.is_initialized():
        _reachable(address)  # before the store is touched
    if str(job.device).startswith("cuda") and gpu == 0:
        raise ValueError(f"per_trial: device {job.device} needs a GPU share per trial (gpu=1, "
                         f"or a fraction: gpu=0.25)")

    def run(store, on_event: Callable[[Progress], None] | None = None) -> None:
        _run(job, store, cpu, gpu, address, on_event)

    return run


def _run(job: Job, store, cpu: float, gpu: float, address: str | None,
         on_event: Callable[[Progress], None] | None) -> None:
    with session(address):
        _units(job, store, cpu, gpu, on_event)


@contextlib.contextmanager
def session(address: str | None):
    """Ray joined (at ``address``, or a Ray of this machine started) for the block, and left
    at its end if the block joined it: several runs share one connection (a tune's rungs)."""
    import ray

    started = not ray.is_initialized()
    if started:
        try:
            ray.init(address=address, logging_level="WARNING", log_to_driver=False,
                     include_dashboard=False, configure_logging=True)
        except (ConnectionError, ray.exceptions.RayError) as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise ConnectionError(f"cannot join the Ray cluster at {address} ({first}); is "
                                  f"`ray start` running there, and with token authentication, "
                                  f"its token here (ray get-auth-token)?") from None
    try:
        yield
    finally:
        if started:
            ray.shutdown()


def _units(job: Job, store, cpu: float, gpu: float,
           on_event: Callable[[Progress], None] | None) -> None:
    """Every unit of ``job`` as a Ray task, their records applied to ``store`` as they come."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    _ship_user_code(job)
    total = ray.cluster_resources()
    slots = int(total.get("GPU", 0) // gpu) if gpu else int(total.get("CPU", 1) // max(cpu, 1e-9))
    if slots < 1:
        raise ValueError(f"per_trial: the Ray cluster has {total.get('CPU', 0):g} CPUs and "
                         f"{total.get('GPU', 0):g} GPUs, less than one trial's cpu={cpu:g}, "
                         f"gpu={gpu:g}")
    names = job.names
    plans = dict(zip(names, job.plans))
    starts = {n: store.prepare(p.cfg, job.task, True) for n, p in zip(names, job.plans)}
    todo = [u for u in units(job, slots)
            if any(not isinstance(starts[names[i]], TrialRecord) for i in u)]
    if not todo:
        return
    memories = {i: Memory({names[k]: starts[names[k]] for k in u},
                          {names[k]: plans[names[k]].cfg.to_dict() for k in u})
                for i, u in enumerate(todo)}
    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    hub = ray.remote(num_cpus=0)(Hub).options(scheduling_strategy=here).remote(memories)
    task = ray.remote(_unit).options(num_cpus=cpu, num_gpus=gpu, max_retries=RETRIES,
                                     retry_exceptions=False)
    job_ref = ray.put(job)
    threads = max(1, int(cpu))
    refs = {task.remote(job_ref, hub, i, u, threads): i for i, u in enumerate(todo)}
    while refs:
        ready, _ = ray.wait(list(refs), num_returns=len(refs), timeout=0.2, fetch_local=False)
        for calls in ray.get(hub.drain.remote()):
            apply(store, calls, plans, job.task, on_event)
        for ref in ready:
            del refs[ref]
            _result(ref)
    for calls in ray.get(hub.drain.remote()):
        apply(store, calls, plans, job.task, on_event)


def _reachable(address: str | None) -> None:
    """Refuse at once a ``HOST:PORT`` where nothing answers (Ray would try for minutes)."""
    import socket

    host, sep, port = (address or "").rpartition(":")
    if not sep or not port.isdigit():
        return  # auto, ray://..., or none: Ray finds (or starts) the cluster
    try:
        socket.create_connection((host, int(port)), timeout=10).close()
    except OSError as e:
        raise ConnectionError(f"cannot join the Ray cluster at {address}: nothing answers there "
                              f"({e.strerror or type(e).__name__}); start it with `ray start "
                              f"--head` on that machine") from None


def _result(ref) -> None:
    """A finished unit's result; its error as lrlab's own (Ray's wrapper and retries aside)."""
    import ray
    from ray.exceptions import RayTaskError

    try:
        ray.get(ref)
    except RayTaskError as e:
        cause = e.cause if isinstance(e.cause, BaseException) else None
        if cause is not None and isinstance(cause, (ValueError, OSError, RuntimeError)):
            raise cause from None
        raise RuntimeError(f"a unit of work failed on Ray: {str(e).strip().splitlines()[-1]}") from None
    except ray.exceptions.RayError as e:  # the worker or node died more often than it is retried
        raise WorkerLost(f"a unit of work failed on Ray ({type(e).__name__}, after {RETRIES} "
                         f"retries); what it committed is kept: run the same command again to "
                         f"continue") from None


def _ship_user_code(job: Job) -> None:
    """Make the user's functions travel by value: a module lrlab loaded from a file
    (``lrlab_user_*``) or any module outside the installed packages is not importable on
    the workers."""
    from ray import cloudpickle

    for fn in (job.trainer, getattr(job.task, "build_model", None)):
        seen = set()
        for f in _functions(fn, seen):
            module = sys.modules.get(getattr(f, "__module__", None) or "")
            path = getattr(module, "__file__", None) or ""
            if module is not None and module.__name__ not in ("__main__", "builtins") and not (
                    module.__name__.split(".")[0] in ("lrlab", "torch", "numpy")
                    or "site-packages" in path or "dist-packages" in path):
                cloudpickle.register_pickle_by_value(module)


def _functions(fn: Any, seen: set) -> list:
    """``fn`` and the functions its closure holds (a model given through ``Task.with_model``
    is a lambda around the user's function)."""
    if fn is None or id(fn) in seen:
        return []
    seen.add(id(fn))
    out = [fn]
    for cell in getattr(fn, "__closure__", None) or ():
        try:
            value = cell.cell_contents
        except ValueError:
            continue
        if callable(value):
            out += _functions(value, seen)
    func = getattr(fn, "func", None)  # a functools.partial
    if callable(func):
        out += _functions(func, seen)
    return out


class Hub:
    """The driver's mailbox, a Ray actor on the driver's node: units hand it their commits
    (``put``), the driver takes them (``drain``), a unit's retry asks it where to start
    (``begin``: what the store holds of the unit's trials by now)."""

    def __init__(self, memories: dict[int, Memory]):
        self.memories = memories
        self.attempts: dict[int, int] = {}
        self.outbox: list = []

    def begin(self, unit: int) -> tuple[int, dict]:
        attempt = self.attempts[unit] = self.attempts.get(unit, 0) + 1
        return attempt, self.memories[unit].starts()

    def put(self, unit: int, attempt: int, calls: list) -> bool:
        if self.attempts.get(unit) != attempt:  # a superseded attempt
            return False
        self.memories[unit].apply(calls)
        self.outbox.append(calls)
        return True

    def drain(self) -> list:
        out, self.outbox = self.outbox, []
        return out


class Superseded(RuntimeError):
    """A retry of this unit runs elsewhere: this attempt stops."""


def _unit(job: Job, hub, index: int, members: list[int], threads: int) -> int:
    """A unit of work as a Ray task: start where the hub says, send every commit to it."""
    import ray

    attempt, starts = ray.get(hub.begin.remote(index))

    def send(calls: list) -> None:
        if not ray.get(hub.put.remote(index, attempt, calls)):
            raise Superseded(f"unit {index}: attempt {attempt} was superseded by a retry")

    run_unit(job, members, starts, send, threads)
    return index
