"""What trials produce and where it goes: ``TrialRecord``, ``TrialStatus``, the ``RecordSink``
interface the engines write through, and the ``Progress`` events they emit for displays.

An engine calls, per trial and in this order::

    sink.prepare(cfg, task, resume)          # every trial, before any trains (may refuse)
    sink.trial_started(plan, task)           # plan.cfg: the config; plan.resolved: the schedule
    sink.step(name, step, lr, loss)          # every optimizer step (loss None: not finite)
    sink.epoch(name, entry)                  # every epoch: its metrics
    sink.checkpoint(name, blob, step, epoch) # after every epoch that did not diverge
    sink.trial_finished(record, weights)     # once, with the weights that were tested

and ``sink.commit()`` whenever what it sent since the last ``commit`` is a whole (every epoch
of a population, or of a trial trained alone): a sink may keep it all until then and write it
as one durable write, so a kill loses at most the population epoch in progress. A checkpoint
is opaque bytes (``lrlab.training.checkpoint.dumps``: the engine owns the format; a user's
trainer saves its own), taken after ``step`` optimizer steps and ``epoch`` epochs.

``prepare`` returns None (train from the start), a ``Resume`` (continue from a checkpoint) or
the ``TrialRecord`` of a finished trial (nothing to train). The base class keeps nothing and
resumes nothing: a population trained without a sink. ``TrialSink`` is the skeleton of a sink
that keeps trials (what each trial has sent since its last epoch, where it resumes); the run
folder (``lrlab.experiments.runfolder.RunFolder``) and the SQLite store
(``lrlab.experiments.store.Store``) are its two implementations. A worker process's sink sends
everything to the driver's store (``lrlab.experiments.backends``).

    >>> TrialStatus.EARLY_STOPPED == "early-stopped", TrialStatus("diverged").name
    (True, 'DIVERGED')
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class TrialStatus(enum.StrEnum):
    RUNNING = "running"
    FINISHED = "finished"
    EARLY_STOPPED = "early-stopped"
    DIVERGED = "diverged"
    FAILED = "failed"  # a user's trainer raised (``TrialRecord.error``); it runs again next time


@dataclass
class TrialRecord:
    """What one trial produced: plain data."""

    name: str
    config: dict
    status: TrialStatus = TrialStatus.RUNNING
    lrs: list = field(default_factory=list)          # LR applied at every optimizer step
    losses: list = field(default_factory=list)       # training loss of every step (None: not finite)
    epochs: list = field(default_factory=list)       # one dict of metrics per epoch
    best_epoch: int | None = None
    diverged_step: int | None = None
    test_loss: float | None = None
    test_acc: float | None = None
    seconds: float = 0.0
    examples: dict = field(default_factory=dict)     # split -> (examples, packed correctness bits)
    error: str | None = None                          # why a failed trial failed (one line)

    def __post_init__(self):
        self.status = TrialStatus(self.status)

    def cut(self, step: int, epoch: int) -> None:
        """Keep the first ``step`` steps and ``epoch`` epochs (what a restart from there keeps)."""
        del self.lrs[step:], self.losses[step:], self.epochs[epoch:]

    def lowest_val_loss_epoch(self) -> int | None:
        """The epoch of the lowest finite validation loss so far (the first of equals)."""
        vals = [(e["val_loss"], i) for i, e in enumerate(self.epochs) if e["val_loss"] is not None]
        return min(vals)[1] if vals else None

    def summary(self) -> dict[str, Any]:
        return {"name": self.name, "status": str(self.status), "test_acc": self.test_acc,
                "test_loss": self.test_loss, "best_epoch": self.best_epoch,
                "diverged_step": self.diverged_step, "epochs": len(self.epochs),
                "seconds": round(self.seconds, 3), **({"error": self.error} if self.error else {})}


@dataclass(frozen=True)
class Resume:
    """Where an unfinished trial continues: its checkpoint ``blob`` (taken after ``step``
    steps and ``epoch`` epochs) and its ``record`` so far; ``source`` names where the
    checkpoint was read and ``remedy`` how to start over (for messages)."""

    blob: bytes
    record: TrialRecord
    step: int
    epoch: int
    source: str = "checkpoint"
    remedy: str = "delete it to train the trial from the start"


@dataclass(frozen=True)
class Progress:
    """A trial's position, emitted after every optimizer step and every epoch: what a progress
    display needs. ``epoch``/``step``: completed; ``status`` as in ``TrialStatus``."""

    name: str
    epoch: int
    epochs: int
    step: int
    steps: int
    lr: float | None
    loss: float | None = None
    val_loss: float | None = None
    val_acc: float | None = None
    status: TrialStatus = TrialStatus.RUNNING


class RecordSink:
    """Where an engine writes a population's records; this base keeps nothing."""

    def prepare(self, cfg, task, resume: bool) -> Resume | TrialRecord | None:
        """Check that the trial can start; how to start it (see the module docstring)."""
        return None

    def trial_started(self, plan, task, at: tuple[int, int] | None = None) -> None:
        """The trial runs from its ``prepare`` answer, or from ``at`` = ``(step, epoch)`` when
        given (a user's trainer that loaded its own state)."""

    def step(self, name: str, step: int, lr: float, loss: float | None) -> None: ...

    def epoch(self, name: str, entry: dict) -> None: ...

    def checkpoint(self, name: str, blob: bytes, step: int, epoch: int) -> None: ...

    def trial_finished(self, record: TrialRecord, weights: dict | None) -> None: ...

    def commit(self) -> None:
        """What was sent since the last ``commit`` is a whole: make it durable."""


class TrialSink(RecordSink):
    """The skeleton of a sink that keeps trials: it remembers each trial's ``Resume`` from
    ``prepare`` to ``trial_started``, the step rows ``(step, epoch, lr, loss)`` sent since the
    trial's last epoch, and its epoch count, and hands them to five writes of its own:

    - ``_find(cfg, task, resume)``: a finished trial's record, a ``Resume`` or None;
    - ``_start(plan, task, resumed, step, epoch)``: the trial runs from ``(step, epoch)``
      (what was kept past that point is dropped);
    - ``_epoch(name, rows, entry)``: an epoch ended (``rows``: its steps);
    - ``_checkpoint(name, blob, step, epoch)`` and ``_finish(record, rows, weights)``.
    """

    def __init__(self):
        self._resumed: dict[str, Resume] = {}
        self._rows: dict[str, list[tuple]] = {}
        self._epochs: dict[str, int] = {}

    def prepare(self, cfg, task, resume: bool = True) -> Resume | TrialRecord | None:
        found = self._find(cfg, task, resume)
        if isinstance(found, Resume):
            self._resumed[cfg.name] = found
        return found

    def trial_started(self, plan, task, at: tuple[int, int] | None = None) -> None:
        name = plan.cfg.name
        resumed = self._resumed.pop(name, None)
        step, epoch = at or ((resumed.step, resumed.epoch) if resumed else (0, 0))
        self._start(plan, task, resumed, step, epoch)
        self._rows[name], self._epochs[name] = [], epoch

    def step(self, name: str, step: int, lr: float, loss: float | None) -> None:
        self._rows[name].append((step, self._epochs[name], lr, loss))

    def epoch(self, name: str, entry: dict) -> None:
        self._epoch(name, self._take(name), entry)
        self._epochs[name] += 1

    def checkpoint(self, name: str, blob: bytes, step: int, epoch: int) -> None:
        self._checkpoint(name, blob, step, epoch)

    def trial_finished(self, record: TrialRecord, weights: bytes | None) -> None:
        self._finish(record, self._take(record.name), weights)

    def _take(self, name: str) -> list[tuple]:
        rows, self._rows[name] = self._rows[name], []
        return rows

    def _find(self, cfg, task, resume: bool) -> Resume | TrialRecord | None:
        raise NotImplementedError

    def _start(self, plan, task, resumed: Resume | None, step: int, epoch: int) -> None:
        raise NotImplementedError

    def _epoch(self, name: str, rows: list[tuple], entry: dict) -> None:
        raise NotImplementedError

    def _checkpoint(self, name: str, blob: bytes, step: int, epoch: int) -> None:
        raise NotImplementedError

    def _finish(self, record: TrialRecord, rows: list[tuple], weights: bytes | None) -> None:
        raise NotImplementedError
