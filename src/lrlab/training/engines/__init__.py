"""Engines: turn a population of trial configs into records, through a sink.

- ``sequential``: the reference loop, one trial after another;
- ``vectorized``: every trial at once as one stacked population (falls back to ``sequential``,
  with one logged line saying why, for a model it cannot stack).

Both take the same arguments and give the same records up to floating-point summation order.
``train_population(..., engine=...)`` picks one; ``vectorized`` is the default.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from . import sequential, vectorized

ENGINES = {"vectorized": vectorized.train_population, "sequential": sequential.train_population}


def train_population(task, configs: Sequence, sink=None, *, engine: str = "vectorized",
                     resume: bool = False, device="cpu", on_event: Callable | None = None) -> list:
    """Train ``configs`` on ``task`` (a ``Task``, checked first: ``Task.checked``) with
    ``engine`` (a key of ``ENGINES``); the records."""
    from ..tasks import Task

    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if not isinstance(task, Task):
        raise ValueError(f"task: must be a lrlab.training.tasks.Task (load_task(spec) or your "
                         f"own), got a {type(task).__name__}")
    return ENGINES[engine](task.checked(), configs, sink, resume=resume, device=device,
                           on_event=on_event)


def train_trial(task, cfg, sink=None, **kw):
    """Train one trial (``train_population`` of one)."""
    return train_population(task, [cfg], sink, **kw)[0]


__all__ = ["ENGINES", "train_population", "train_trial"]
