"""Backends: where an experiment's units of work run, their records flowing back to the store.

The runner plans the experiment once (``Job``: every trial's ``Plan``, the task or the user's
trainer) and cuts it into units of work (``units``): a vectorised population (a fixed slice of
the trials, ``vectorized.populations``), one trial of the sequential engine, or one trial of a
user's trainer. A backend runs the units:

- ``local`` (``backends.local``): in this process (one unit after another, as many threads as
  torch takes), or in worker processes, one intra-op thread each, as many as cores, when there
  are several units on a CPU (``workers``);
- ``ray`` (``backends.ray``, the ``lrlab[ray]`` extra): each unit a Ray task on any node of a
  cluster, retried by Ray when its worker or node dies.

Whatever runs a unit writes through a ``Relay``: a sink that keeps the unit's calls and sends
them, at every ``commit`` of the engine (a population's epoch), as one message to the driver,
which applies it to the store (``apply``): one transaction. So the store has one writer, the
driver; a worker never opens it, on any machine.

    >>> from lrlab.training.records import RecordSink
    >>> sent = []
    >>> relay = Relay({"a": None}, sent.append)
    >>> relay.prepare(type("C", (), {"name": "a"})(), None, True) is None
    True
    >>> relay.step("a", 0, 0.1, 2.3); relay.commit(); sent
    [[('step', 'a', 0, 0.1, 2.3)]]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .work import Job, Memory, Relay, WorkerLost, apply, run_unit, train, units

__all__ = ["BACKENDS", "Job", "Memory", "Relay", "WorkerLost", "apply", "parse_resources",
           "run_backend", "run_unit", "session", "train", "units"]

BACKENDS = ("local", "ray")


def run_backend(job: Job, backend: str = "local", per_trial: str | dict | None = None,
                address: str | None = None, workers: int | None = None
                ) -> Callable[[Any, Callable | None], None]:
    """How ``job`` runs on ``backend``, checked before anything is written: a function
    ``run(store, on_event)`` that trains every unit into ``store`` (see the module docstring;
    the arguments are ``runner.run_experiment``'s)."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    resources = dict(per_trial) if isinstance(per_trial, dict) else parse_resources(per_trial)
    if workers is not None and (type(workers) is not int or workers < 1):
        raise ValueError(f"workers must be a whole number >= 1, got {workers!r}")
    if backend == "ray":
        if workers is not None:
            raise ValueError("workers: the local backend's; Ray runs as many units as the "
                             "cluster's resources hold (per_trial)")
        from . import ray as ray_backend

        return ray_backend.runner(job, resources, address)
    if address is not None:
        raise ValueError("address: where a Ray cluster is; give it with backend='ray'")
    if "gpu" in resources:
        raise ValueError("per_trial: gpu is for the ray backend; the local one trains on the "
                         "device given (device=cuda)")
    from . import local

    cpu = max(1, int(resources.get("cpu", 1)))
    if workers is None:
        engine_on_cpu = job.trainer is None and str(job.device) == "cpu"
        workers = local.cores() // cpu if engine_on_cpu or "cpu" in resources else 1
    workers = max(1, workers)

    def run(store, on_event=None) -> None:
        local.run(job, store, units(job, workers) if workers > 1 else [], workers, cpu, on_event)

    return run


def session(backend: str, address: str | None):
    """A context in which several ``run_backend`` runs share one connection: Ray joined once
    for all of them (a tune's rungs); nothing for the local backend."""
    if backend == "ray":
        from . import ray as ray_backend

        return ray_backend.session(address)
    import contextlib

    return contextlib.nullcontext()


def parse_resources(text: str | None) -> dict[str, float]:
    """``cpu=1,gpu=0.25`` -> ``{"cpu": 1.0, "gpu": 0.25}`` (what one unit of work needs);
    one-line ``ValueError`` naming the part that is wrong.

        >>> parse_resources("cpu=2, gpu=0.5")
        {'cpu': 2.0, 'gpu': 0.5}
    """
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        key, eq, value = part.partition("=")
        key = key.strip().lower()
        try:
            number = float(value) if eq else float("nan")
        except ValueError:
            number = float("nan")
        if key not in ("cpu", "gpu") or not (0 <= number < 1e6) or key in out:
            raise ValueError(f"per_trial: {part!r} is not cpu=N or gpu=N (a number >= 0, each "
                             f"once), e.g. cpu=1,gpu=0.25")
        if key == "cpu" and number != int(number) and number > 1:
            raise ValueError(f"per_trial: cpu={value.strip()} must be a whole number of CPUs "
                             f"(or a fraction below 1)")
        out[key] = number
    return out


__all__ = ["BACKENDS", "Job", "Memory", "Relay", "WorkerLost", "apply", "parse_resources",
           "run_backend", "run_unit", "train", "units"]
