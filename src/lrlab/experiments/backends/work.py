"""The work the backends share: a ``Job`` (the plans and the task, or the user's trainer), its
``units``, how a unit trains (``run_unit``, ``train``) through a ``Relay``, how the driver
``apply``s a relay's message to the store, and the ``Memory`` a retried unit starts from. The
backends (``local``, ``ray``) import this; ``lrlab.experiments.backends`` re-exports it and
chooses a backend (see its docstring).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ...training.plan import Plan
from ...training.records import Progress, RecordSink, Resume, TrialRecord, TrialStatus


class WorkerLost(ChildProcessError):
    """A worker (a process, a Ray task after its retries) died: what it committed is kept and
    the same command continues from it. An ``OSError``, so the CLI says it in one line."""


Start = Resume | TrialRecord | None
"""How a trial starts (``RecordSink.prepare``): from scratch, from a checkpoint, or not at all."""

Call = tuple
"""One sink call as plain data: ``(method, trial name, *arguments)``; ``("event", name,
Progress)`` for a progress event."""


@dataclass
class Job:
    """What every unit of an experiment shares: the trials' ``plans`` (made once) and how they
    train: lrlab's ``engine`` on ``task`` (a ``Task``) on ``device``, or the user's ``trainer``
    (``task`` is then a ``trainers.TrainerTask``)."""

    plans: list[Plan]
    task: Any
    engine: str | None = "vectorized"
    device: str = "cpu"
    trainer: Callable | None = None

    @property
    def names(self) -> list[str]:
        return [p.cfg.name for p in self.plans]


def units(job: Job, workers: int = 1) -> list[list[int]]:
    """The units of work of ``job`` (lists of indices into ``job.plans``): the vectorised
    engine's populations (``workers`` parallel workers get equal shares), or one trial each
    (the sequential engine, a model that cannot be stacked, a user's trainer)."""
    if job.trainer is None and job.engine == "vectorized":
        from ...training.engines.vectorized import populations

        slices, reason = populations(job.task.to(job.device), job.plans, workers)
        if reason is None:
            return slices
    return [[i] for i in range(len(job.plans))]


def run_unit(job: Job, members: Sequence[int], starts: dict[str, Start],
             send: Callable[[list[Call]], None], threads: int | None = None) -> None:
    """Train the trials ``members`` of ``job`` from ``starts`` (by name), sending every
    commit to ``send`` (in a worker: ``threads`` intra-op threads)."""
    relay = Relay(starts, send)
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    train(job, [job.plans[i] for i in members], relay, relay.emit)
    relay.commit()


def train(job: Job, plans: list[Plan], sink: RecordSink,
          on_event: Callable[[Progress], None] | None = None) -> None:
    """Train ``plans`` (of ``job``) into ``sink``: lrlab's engine, or the user's trainer."""
    if job.trainer is not None:
        from ..trainers import run_trainer

        run_trainer(job.trainer, plans, sink, job.task, on_event)
    else:
        from ...training.engines import train_population

        train_population(job.task, plans, sink, engine=job.engine, device=job.device,
                         on_event=on_event)


class Relay(RecordSink):
    """The sink of a unit of work away from the store: ``prepare`` answers from ``starts`` (the
    driver's store said them), and every call until a ``commit`` is kept as plain data and
    sent, at the ``commit``, as one message (``send``) for the driver to ``apply``."""

    def __init__(self, starts: dict[str, Start], send: Callable[[list[Call]], None]):
        self.starts, self.send = starts, send
        self.calls: list[Call] = []

    def prepare(self, cfg, task, resume: bool = True) -> Start:
        return self.starts[cfg.name]

    def trial_started(self, plan, task, at: tuple[int, int] | None = None) -> None:
        name = plan.cfg.name
        start = self.starts[name]
        if at is None:
            at = (start.step, start.epoch) if isinstance(start, Resume) else (0, 0)
        self.calls.append(("trial_started", name, at))

    def step(self, name: str, step: int, lr: float, loss: float | None) -> None:
        self.calls.append(("step", name, step, lr, loss))

    def epoch(self, name: str, entry: dict) -> None:
        self.calls.append(("epoch", name, entry))

    def checkpoint(self, name: str, blob: bytes, step: int, epoch: int) -> None:
        self.calls.append(("checkpoint", name, blob, step, epoch))

    def trial_finished(self, record: TrialRecord, weights: bytes | None) -> None:
        self.calls.append(("trial_finished", record.name, record, weights))

    def emit(self, event: Progress) -> None:
        """A progress event, shown by the driver when the commit it belongs to arrives (only
        the last of each trial's: what a display draws)."""
        if self.calls and self.calls[-1][:2] == ("event", event.name):
            self.calls[-1] = ("event", event.name, event)
        else:
            self.calls.append(("event", event.name, event))

    def commit(self) -> None:
        if any(c[0] != "event" for c in self.calls):
            calls, self.calls = self.calls, []
            self.send(calls)


def apply(store, calls: Sequence[Call], plans: dict[str, Plan], task: Any,
          on_event: Callable[[Progress], None] | None = None) -> None:
    """A unit's message (``Relay``) into ``store``, as one commit; then its progress events to
    ``on_event``. ``plans``: every trial's plan by name; ``task``: what the store keys trials by."""
    events = []
    for method, name, *args in calls:
        if method == "event":
            events.append(args[0])
        elif method == "trial_started":
            store.trial_started(plans[name], task, at=args[0])
        elif method == "trial_finished":
            store.trial_finished(*args)
        else:
            getattr(store, method)(name, *args)
    store.commit()
    for event in events if on_event is not None else []:
        on_event(event)


class Memory:
    """What the driver's store holds of one unit's trials, kept from its messages, so that a
    retry of the unit (on any machine) continues from its last commit: ``starts()`` is what
    ``Store.prepare`` would answer now."""

    def __init__(self, starts: dict[str, Start], configs: dict[str, dict]):
        self.configs = configs
        self.done = {n: s for n, s in starts.items() if isinstance(s, TrialRecord)}
        self.records = {n: copy.deepcopy(s.record) for n, s in starts.items() if isinstance(s, Resume)}
        self.saved = {n: (s.blob, s.step, s.epoch) for n, s in starts.items() if isinstance(s, Resume)}

    def apply(self, calls: Sequence[Call]) -> None:
        for method, name, *args in calls:
            if method == "trial_started":
                step, epoch = args[0]
                rec = self.records.setdefault(name, TrialRecord(name, self.configs[name]))
                rec.cut(step, epoch)
                rec.status = TrialStatus.RUNNING
            elif method == "step":
                self.records[name].lrs.append(args[1])
                self.records[name].losses.append(args[2])
            elif method == "epoch":
                self.records[name].epochs.append(args[0])
            elif method == "checkpoint":
                self.saved[name] = tuple(args)
            elif method == "trial_finished":
                self.done[name] = args[0]  # a failed one runs again in the next compare

    def starts(self) -> dict[str, Start]:
        out: dict[str, Start] = {}
        for name in self.configs:
            if name in self.done:
                out[name] = self.done[name]
            elif name in self.saved:
                blob, step, epoch = self.saved[name]
                rec = self.records[name]
                out[name] = Resume(blob, TrialRecord(name, self.configs[name], lrs=rec.lrs[:step],
                                                     losses=rec.losses[:step],
                                                     epochs=rec.epochs[:epoch]), step, epoch,
                                   f"the checkpoint of trial {name}")
            else:
                out[name] = None
        return out
