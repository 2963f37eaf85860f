"""Progress of a population, drawn from the engine's ``Progress`` events on stderr (so ``--json``
on stdout stays clean): on a terminal one rich bar per trial (optimizer steps, epochs done,
last loss and validation metric, LR, time and time left); elsewhere (a pipe, a CI log) one
plain line per epoch.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Column
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)

from lrlab.training.records import Progress as Event
from lrlab.training.records import TrialStatus


def describe(e: Event) -> str:
    """The state of a trial in a few words.

    >>> describe(Event("t", 3, 20, 57, 380, 0.05, loss=0.25, val_loss=0.5, val_acc=0.875))
    'epoch 3/20  loss 0.2500  val acc 0.8750  lr 0.05'
    """
    parts = [f"epoch {e.epoch}/{e.epochs}",
             f"loss {e.loss:.4f}" if e.loss is not None else "",
             f"val acc {e.val_acc:.4f}" if e.val_acc is not None else
             (f"val loss {e.val_loss:.4f}" if e.val_loss is not None else ""),
             f"lr {e.lr:.3g}" if e.lr is not None else "",
             str(e.status) if e.status != TrialStatus.RUNNING else ""]
    return "  ".join(p for p in parts if p)


class TrainingProgress:
    """``with TrainingProgress(names) as show: engine(..., on_event=show)``."""

    def __init__(self, names, console: Console | None = None):
        self.console = console or Console(stderr=True)
        self.live = self.console.is_terminal
        self._progress = Progress(  # the stats give way first on a narrow terminal
            TextColumn("{task.description}"), BarColumn(bar_width=12), MofNCompleteColumn(),
            TimeElapsedColumn(), TimeRemainingColumn(),
            TextColumn("{task.fields[stats]}", table_column=Column(
                ratio=1, no_wrap=True, overflow="ellipsis")),
            console=self.console, transient=False, expand=True)
        self._tasks = {n: self._progress.add_task(n, total=None, stats="", start=False)
                       for n in names} if self.live else {}
        self._last: dict[str, tuple[int, TrialStatus]] = {}

    def __enter__(self):
        if self.live:
            self._progress.__enter__()
        return self

    def __exit__(self, *exc):
        if self.live:
            return self._progress.__exit__(*exc)
        return None

    def __call__(self, e: Event) -> None:
        if not self.live:  # one line per epoch and one at the end
            if self._last.get(e.name) != (e.epoch, e.status) and (
                    e.val_loss is not None or e.status != TrialStatus.RUNNING):
                self.console.print(f"{e.name}  {describe(e)}", highlight=False, soft_wrap=True)
                self._last[e.name] = (e.epoch, e.status)
            return
        task = self._tasks[e.name]
        if not self._progress.tasks[task].started:
            self._progress.start_task(task)
        done = e.steps if e.status != TrialStatus.RUNNING else e.step
        self._progress.update(task, total=e.steps, completed=done, stats=describe(e))
