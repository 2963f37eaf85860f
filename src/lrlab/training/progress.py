"""A rich progress bar for a population: one bar per trial (its optimizer steps), with the
epoch, the last epoch's train loss and val acc, and the current LR.

Written to stderr, so ``--json`` output on stdout stays clean; ``quiet`` runs show none.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class TrainingProgress:
    """``with TrainingProgress(configs) as bar: ... bar.update(trial)`` after every epoch."""

    def __init__(self, configs):
        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"), TimeElapsedColumn(),
            console=Console(stderr=True), transient=False)
        self._tasks = {c.name: self._progress.add_task(c.name, total=None, stats="")
                       for c in configs}

    def __enter__(self):
        self._progress.__enter__()
        return self

    def __exit__(self, *exc):
        return self._progress.__exit__(*exc)

    def update(self, trial) -> None:
        rec = trial.record
        total = trial.cfg.epochs * trial.steps_per_epoch
        done = total if rec.status != "running" or trial.epoch == trial.cfg.epochs else trial.step
        e = rec.epochs[-1] if rec.epochs else {}
        parts = [f"epoch {min(trial.epoch + 1, trial.cfg.epochs)}/{trial.cfg.epochs}",
                 f"loss {e['train_loss']:.4f}" if e.get("train_loss") is not None else "",
                 f"val acc {e['val_acc']:.4f}" if e.get("val_acc") is not None else
                 (f"val loss {e['val_loss']:.4f}" if e.get("val_loss") is not None else ""),
                 f"lr {rec.lrs[-1]:.3g}" if rec.lrs else "",
                 rec.status if rec.status != "running" else ""]
        self._progress.update(self._tasks[rec.name], total=total, completed=done,
                              stats="  ".join(p for p in parts if p))
