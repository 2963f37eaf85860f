"""The one source of a trial's learning rate.

A policy answers two questions for the engine: *what is the LR of the next optimizer step*
(``lr(epoch, step)``, with ``epoch`` and ``step`` the epochs and optimizer steps completed so
far) and *what happens at the end of an epoch* (``end_epoch(metrics, epoch, step)``). It keeps
its own state in a plain ``state_dict`` for checkpoints. The engine never asks which kind of
policy it holds.

- ``ScheduledLR``: a precomputed table, one LR per schedule step (``schedule.curve(n)``
  computed once per trial); a schedule step is an epoch or an optimizer step (``interval``).
- ``PlateauLR``: reduce on plateau (``lrlab.Plateau``) on a validation metric, stepped once per
  epoch, optionally after a warmup table: while the warmup lasts the LR comes from the table
  and the plateau does not watch; from the first epoch that ends with the warmup complete it
  watches, and the LR is the plateau's.

    >>> p = ScheduledLR([0.1, 0.05], interval="epoch")
    >>> p.lr(epoch=1, step=7)
    0.05
    >>> from lrlab import Plateau
    >>> q = PlateauLR(Plateau(0.1, patience=0, factor=0.5), "val_loss", warmup=[0.025, 0.05])
    >>> [q.lr(epoch=e, step=0) for e in range(3)]
    [0.025, 0.05, 0.1]
    >>> q.end_epoch({"val_loss": 1.0}, epoch=3, step=0); q.end_epoch({"val_loss": 2.0}, epoch=4, step=0)
    >>> q.lr(epoch=4, step=0)
    0.05
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..control import Plateau


class ScheduledLR:
    """LRs from a table: ``table[epoch]`` (``interval='epoch'``) or ``table[step]``."""

    def __init__(self, table: Sequence[float], interval: str = "epoch"):
        self.table = [float(x) for x in table]
        self.per_step = interval == "step"

    def lr(self, epoch: int, step: int) -> float:
        return self.table[step if self.per_step else epoch]

    def end_epoch(self, metrics: dict[str, float | None], epoch: int, step: int) -> None:
        """Nothing to do: a schedule does not follow metrics."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class PlateauLR:
    """``plateau.lr``, stepped on ``metrics[monitor]`` at the end of every epoch after
    ``warmup`` (a table of LRs, one per schedule step of ``interval``)."""

    def __init__(self, plateau: Plateau, monitor: str, warmup: Sequence[float] = (),
                 interval: str = "epoch"):
        self.plateau, self.monitor = plateau, monitor
        self.warmup = [float(x) for x in warmup]
        self.per_step = interval == "step"

    def lr(self, epoch: int, step: int) -> float:
        k = step if self.per_step else epoch
        return self.warmup[k] if k < len(self.warmup) else self.plateau.lr

    def end_epoch(self, metrics: dict[str, float | None], epoch: int, step: int) -> None:
        """``epoch`` / ``step``: completed so far, this epoch included."""
        if (step if self.per_step else epoch) >= len(self.warmup):
            self.plateau.step(metrics[self.monitor])

    def state_dict(self) -> dict[str, Any]:
        return {"plateau": self.plateau.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.plateau.load_state_dict(state["plateau"])
