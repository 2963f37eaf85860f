"""Progress of a population, drawn from the engine's ``Progress`` events on stderr (so ``--json``
on stdout stays clean): on a terminal an overall bar (``k/N done``: trials ended of all; the
bar follows the steps done by every trial, so a vectorised population that finishes together
still moves, and the time left is the elapsed time extrapolated from that fraction of all
steps, steady from the first step on) above the bars of the trials that train, at most
``BARS`` at once (optimizer steps, epochs done, last loss and validation metric, LR, time and
time left; a finished trial's bar gives way to the next); elsewhere (a pipe, a CI log) one
plain line per epoch, numbered ``[trial k/N]``.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Column
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn,
                           TimeElapsedColumn)
from rich.text import Text

from lrlab.training.records import Progress as Event
from lrlab.training.records import TrialStatus

BARS = 3


class _Count(MofNCompleteColumn):
    """``completed/total``, or the task's own ``count`` field (the overall bar's ``k/N done``)."""

    def render(self, task) -> Text:
        count = task.fields.get("count")
        return super().render(task) if count is None else Text(count, style="progress.download")


class _Left(ProgressColumn):
    """Time left: the elapsed time extrapolated from the fraction done,
    ``elapsed * (1 - f) / f`` (no moving window: it does not jump between estimates).

    >>> from rich.progress import Task
    >>> t = Task(0, "x", total=4, completed=1, _get_time=lambda: 30.0); t.start_time = 0.0
    >>> str(_Left().render(t))
    '0:01:30'
    """

    def render(self, task) -> Text:
        elapsed, total = task.elapsed, task.total
        if task.finished:
            return Text("0:00:00", style="progress.remaining")
        if not elapsed or not total or not task.completed:
            return Text("-:--:--", style="progress.remaining")
        left = round(elapsed * (total - task.completed) / task.completed)
        return Text(f"{left // 3600}:{left // 60 % 60:02d}:{left % 60:02d}",
                    style="progress.remaining")


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
            TextColumn("{task.description}"), BarColumn(bar_width=12), _Count(),
            TimeElapsedColumn(), _Left(),
            TextColumn("{task.fields[stats]}", table_column=Column(
                ratio=1, no_wrap=True, overflow="ellipsis")),
            console=self.console, transient=False, expand=True)
        names = list(names)
        self._index = {n: i + 1 for i, n in enumerate(names)}
        self._done: set[str] = set()
        self._part: dict[str, float] = {}  # trial -> fraction of its steps done
        self._shown: set[str] = set()
        self._last: dict[str, tuple[int, TrialStatus]] = {}
        if self.live:
            self._overall = self._progress.add_task("all trials", total=len(names), stats="",
                                                    count=f"0/{len(names)} done")
            self._tasks = {n: self._progress.add_task(n, total=None, stats="", start=False,
                                                      visible=False) for n in names}

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
                where = f"[trial {self._index[e.name]}/{len(self._index)}] " if len(self._index) > 1 else ""
                self.console.print(f"{where}{e.name}  {describe(e)}", markup=False, highlight=False,
                                   soft_wrap=True)
                self._last[e.name] = (e.epoch, e.status)
            return
        task = self._tasks[e.name]
        if not self._progress.tasks[task].started:
            self._progress.start_task(task)
        finished = e.status != TrialStatus.RUNNING
        if e.name not in self._shown and len(self._shown) < BARS and not finished:
            self._shown.add(e.name)
            self._progress.update(task, visible=True)
        self._progress.update(task, total=e.steps, completed=e.steps if finished else e.step,
                              stats=describe(e))
        self._part[e.name] = 1.0 if finished else e.step / max(e.steps, 1)
        stats = None
        if finished and e.name not in self._done:
            self._done.add(e.name)
            self._shown.discard(e.name)
            self._progress.update(task, visible=False)
            stats = f"last: {e.name} {e.status}"
        self._progress.update(self._overall, completed=sum(self._part.values()),
                              count=f"{len(self._done)}/{len(self._index)} done",
                              **({"stats": stats} if stats else {}))
