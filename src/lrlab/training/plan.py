"""A trial's plan: its ``TrialConfig`` and the size of the data -> what the run needs, built and
checked once, before any trial trains.

``make_plan(cfg, n_train, kind)`` resolves the schedule against the run (a schedule named
without parameters gets the run-relative defaults of ``lrlab.schedules.presets``; ``params``
override them; ``warmup`` wraps it), computes its whole LR table with ``curve()`` and refuses,
with one line naming the trial and the step, a table that is not finite and non-negative
everywhere, or a monitor the task cannot measure. ``plan.policy()`` and ``plan.stopper()``
give each run fresh metric-driven state. Imports no torch.

    >>> plan = make_plan(TrialConfig(schedule="cosine", lr=0.1, epochs=4, warmup=1), n_train=100)
    >>> plan.steps_per_epoch, plan.total_steps, [round(x, 4) for x in plan.table]
    (2, 8, [0.05, 0.1, 0.075, 0.025])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import schedules
from ..control import EarlyStopping
from ..schedules.base import resolve_length
from ..schedules.presets import defaults
from .policy import PlateauLR, ScheduledLR
from .trial import PLATEAU, TrialConfig


@dataclass(frozen=True)
class Plan:
    """What a trial's run needs. ``table`` holds one LR per schedule step (for ``plateau``:
    the warmup's, possibly empty); ``schedule`` is the concrete schedule (None for plateau)."""

    cfg: TrialConfig
    steps_per_epoch: int
    schedule: schedules.Schedule | None
    table: tuple[float, ...]

    @property
    def total_steps(self) -> int:
        """Optimizer steps of the whole run (if it is not stopped early)."""
        return self.cfg.epochs * self.steps_per_epoch

    def policy(self) -> ScheduledLR | PlateauLR:
        """A fresh LR policy for one run of the trial."""
        if self.schedule is None:
            return PlateauLR(self.cfg.plateau(), self.cfg.plateau_monitor, self.table,
                             self.cfg.interval)
        return ScheduledLR(self.table, self.cfg.interval)

    def stopper(self) -> EarlyStopping | None:
        return self.cfg.stopper()

    @property
    def resolved(self) -> str:
        """The concrete schedule that runs, in words (its parameters resolved for the run)."""
        if self.schedule is not None:
            return repr(self.schedule)
        warm = f" after a {len(self.table)}-{self.cfg.interval} warmup" if self.table else ""
        return f"{self.cfg.plateau()!r} on {self.cfg.plateau_monitor}{warm}"


def schedule_for(cfg: TrialConfig, total: int) -> schedules.Schedule | None:
    """The concrete schedule of a trial whose run has ``total`` schedule steps; for ``plateau``
    its warmup alone (a ``warmup`` around the constant ``lr``), or None without one."""
    warm = resolve_length(cfg.warmup, total)
    if warm is not None and warm >= total:
        raise ValueError(f"{cfg.name}: warmup ({cfg.warmup}) must be shorter than the run "
                         f"({total} steps)")
    if cfg.schedule == PLATEAU:
        return schedules.create("warmup", schedule=cfg.lr, warmup_steps=warm) if warm else None
    span = total - (warm or 0)
    params = {**defaults(cfg.schedule, cfg.lr, span), **cfg.params}
    s = schedules.from_config({"name": cfg.schedule, **params}).bind(span)
    if warm:
        s = schedules.create("warmup", schedule=s, warmup_steps=warm)
    return s


def make_plan(cfg: TrialConfig, n_train: int, kind: str = "classification") -> Plan:
    """The plan of ``cfg`` on a task of kind ``kind`` with ``n_train`` training examples."""
    if "val_acc" in cfg.monitors and kind != "classification":
        raise ValueError(f"{cfg.name}: monitor=val_acc needs a classification task; this is a "
                         f"{kind} task (monitor val_loss)")
    total = cfg.steps(n_train)
    try:
        s = schedule_for(cfg, total)
        if cfg.schedule != PLATEAU:
            table = s.curve(total)
        else:  # the plateau's warmup alone, or nothing
            table = s.curve(s.warmup_steps) if s is not None else np.empty(0)
    except ValueError as e:
        msg = str(e)
        raise ValueError(msg if msg.startswith(cfg.name + ":") else f"{cfg.name}: {msg}") from None
    steps = cfg.epoch_steps(n_train)
    return Plan(cfg, steps, None if cfg.schedule == PLATEAU else s, tuple(table.tolist()))
