"""The sequential engine: trains a population of trials on one task, one after another.

Fair by construction: every trial of a seed starts from the same weights
(``torch.manual_seed(seed)`` before ``task.build_model()``) and sees the same batch order
(epoch ``e`` is permuted by a generator seeded from ``(seed, e)``), whatever its schedule.
Per step the LR actually applied is recorded; per epoch train/val loss and accuracy; at the
end the test loss/accuracy of the final (or restored best) weights. A trial whose loss becomes
non-finite is recorded as ``diverged`` at that step and stops; the others go on.

After every epoch each trial writes an atomic checkpoint (weights, optimizer, schedule step,
Plateau/EarlyStopping state, RNG state, history); ``resume=True`` continues from it and ends
with numbers identical to an uninterrupted run. The run folder holds, per trial,
``config.json``, ``epochs.jsonl``, ``steps.csv`` (step, epoch, lr, loss), ``summary.json``,
``model.pt`` (the weights tested) and, with ``tensorboard=True``, event files in ``tb/``.

    >>> from lrlab.training.tasks import load_task
    >>> rec = train_trial(load_task("digits"), TrialConfig(schedule="cosine", lr=0.05, epochs=2))
    >>> rec.status, len(rec.epochs), len(rec.lrs) == 2 * 19, rec.lrs[0]
    ('finished', 2, True, 0.05)
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..control import Plateau
from ..fileio import atomic_write
from .optim import make_optimizer
from .tasks import Split, Task
from .trial import PLATEAU, TrialConfig, schedule_for

EVAL_BATCH = 1024


@dataclass
class TrialRecord:
    """What one trial produced: plain data, written as JSON/CSV in its folder."""

    name: str
    config: dict
    status: str = "running"  # finished | early-stopped | diverged
    lrs: list = field(default_factory=list)          # LR applied at every optimizer step
    losses: list = field(default_factory=list)       # training loss of every step
    epochs: list = field(default_factory=list)       # one dict per epoch
    best_epoch: int | None = None
    diverged_step: int | None = None
    test_loss: float | None = None
    test_acc: float | None = None
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "test_acc": self.test_acc,
                "test_loss": self.test_loss, "best_epoch": self.best_epoch,
                "diverged_step": self.diverged_step, "epochs": len(self.epochs),
                "seconds": round(self.seconds, 3)}


# ---- small helpers -------------------------------------------------------------------------
def batch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The permutation of the training set in epoch ``epoch`` for ``seed`` (same for all trials)."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g)


@torch.no_grad()
def evaluate(model: torch.nn.Module, task: Task, split: Split) -> tuple[float, float | None]:
    """Mean loss and accuracy (None for regression) of ``model`` on a split."""
    was = model.training
    model.eval()
    total, correct = 0.0, 0
    for i in range(0, len(split), EVAL_BATCH):
        x, y = split.x[i:i + EVAL_BATCH], split.y[i:i + EVAL_BATCH]
        out = model(x)
        total += float(task.loss(out, y)) * len(y)
        c = task.correct(out, y)
        correct += c or 0
    model.train(was)
    acc = correct / len(split) if task.kind == "classification" else None
    return total / len(split), acc


def _torch_save_atomic(obj: Any, path: Path) -> None:
    atomic_write(path, lambda f: torch.save(obj, f))


def _finite_or_none(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else x


# ---- one trial -------------------------------------------------------------------------------
class _Trial:
    """The mutable state of one trial while it trains (saved whole in each checkpoint)."""

    def __init__(self, task: Task, cfg: TrialConfig, folder: Path | None):
        self.task, self.cfg, self.folder = task, cfg, folder
        torch.manual_seed(cfg.seed)
        self.model = task.build_model()
        self.model.train()
        self.opt = make_optimizer(cfg.optimizer, self.model.parameters(), cfg.lr, cfg.weight_decay)
        self.steps_per_epoch = math.ceil(len(task.train) / cfg.batch_size)
        self.plateau: Plateau | None = cfg.plateau() if cfg.schedule == PLATEAU else None
        self.schedule = None if self.plateau else schedule_for(cfg, cfg.steps(len(task.train)))
        self.stopper = cfg.stopper()
        self.best_state: dict | None = None
        self.record = TrialRecord(cfg.name, cfg.to_dict())
        self.epoch = 0   # epochs completed
        self.step = 0    # optimizer steps completed
        self.started = time.perf_counter()
        self.seconds_before = 0.0

    # -- the LR of the next step
    def lr(self) -> float:
        if self.plateau is not None:
            return self.plateau.lr
        return self.schedule(self.epoch if self.cfg.interval == "epoch" else self.step)

    # -- checkpoints
    def state(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
                "epoch": self.epoch, "step": self.step,
                "plateau": self.plateau.state_dict() if self.plateau else None,
                "stopper": self.stopper.state_dict() if self.stopper else None,
                "best_state": self.best_state, "rng": torch.get_rng_state(),
                "record": asdict(self.record), "config": self.cfg.to_dict(),
                "seconds": self.seconds()}

    def load(self, state: dict[str, Any]) -> None:
        if state["config"] != self.cfg.to_dict():
            raise ValueError(f"{self.cfg.name}: the checkpoint in {self.folder} was written by a "
                             f"different configuration; use another --out or drop --resume")
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        self.epoch, self.step = state["epoch"], state["step"]
        if self.plateau:
            self.plateau.load_state_dict(state["plateau"])
        if self.stopper:
            self.stopper.load_state_dict(state["stopper"])
        self.best_state = state["best_state"]
        torch.set_rng_state(state["rng"])
        self.record = TrialRecord(**state["record"])
        self.seconds_before = state["seconds"]

    def seconds(self) -> float:
        return self.seconds_before + time.perf_counter() - self.started

    def checkpoint(self) -> None:
        if self.folder is None:
            return
        _torch_save_atomic(self.state(), self.folder / "checkpoint.pt")
        lines = "".join(json.dumps(e) + "\n" for e in self.record.epochs)
        atomic_write(self.folder / "epochs.jsonl", lines)

    # -- training
    def run_epoch(self, writer, progress=None) -> bool:
        """One epoch; False when the trial must stop (diverged, early-stopped).
        ``progress(trial)`` is called after every optimizer step and at the end."""
        cfg, task, rec = self.cfg, self.task, self.record
        t0 = time.perf_counter()
        order = batch_order(len(task.train), cfg.seed, self.epoch)
        loss_sum, correct, seen = 0.0, 0, 0
        for i in range(0, len(order), cfg.batch_size):
            idx = order[i:i + cfg.batch_size]
            x, y = task.train.x[idx], task.train.y[idx]
            lr = self.lr()
            for g in self.opt.param_groups:
                g["lr"] = lr
            out = self.model(x)
            loss = task.loss(out, y)
            value = loss.item()
            rec.lrs.append(lr)
            rec.losses.append(value if math.isfinite(value) else None)
            if not math.isfinite(value):
                rec.status, rec.diverged_step = "diverged", self.step
                return False
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            if writer:
                writer.add_scalar("lr", lr, self.step)
                writer.add_scalar("loss/step", value, self.step)
            self.step += 1
            if progress is not None:
                progress(self)
            loss_sum += value * len(y)
            correct += task.correct(out, y) or 0
            seen += len(y)
        val_loss, val_acc = evaluate(self.model, task, task.val)
        entry = {"epoch": self.epoch, "train_loss": loss_sum / seen,
                 "train_acc": correct / seen if task.kind == "classification" else None,
                 "val_loss": _finite_or_none(val_loss), "val_acc": val_acc,
                 "lr": rec.lrs[-1], "seconds": time.perf_counter() - t0}
        rec.epochs.append(entry)
        if writer:
            for k in ("train_loss", "train_acc", "val_loss", "val_acc"):
                if entry[k] is not None:
                    writer.add_scalar(k.replace("_", "/", 1), entry[k], self.epoch)
        self.epoch += 1
        if not math.isfinite(val_loss):
            rec.status, rec.diverged_step = "diverged", self.step
            return False
        metrics = {"val_loss": val_loss, "val_acc": val_acc}
        if self.plateau:
            self.plateau.step(metrics[cfg.plateau_monitor])
        if self.stopper:
            stop = self.stopper.step(metrics[cfg.monitor])
            if self.stopper.improved and self.stopper.restore_best:
                self.best_state = copy.deepcopy(self.model.state_dict())
            if stop:
                rec.status = "early-stopped"
                return False
        return True

    def finish(self) -> TrialRecord:
        rec = self.record
        if rec.status == "running":
            rec.status = "finished"
        if self.best_state is not None and rec.status != "diverged":
            self.model.load_state_dict(self.best_state)
        vals = [e["val_loss"] for e in rec.epochs]
        if self.stopper and self.stopper.best_epoch is not None:
            rec.best_epoch = self.stopper.best_epoch
        elif any(v is not None for v in vals):
            rec.best_epoch = min((v, i) for i, v in enumerate(vals) if v is not None)[1]
        if rec.status != "diverged":
            loss, acc = evaluate(self.model, self.task, self.task.test)
            rec.test_loss, rec.test_acc = _finite_or_none(loss), acc
        rec.seconds = self.seconds()
        return rec


def _write_results(folder: Path, trial: _Trial) -> None:
    rec = trial.record
    rows = ["step,epoch,lr,loss\n"] + [
        f"{k},{k // trial.steps_per_epoch},{lr!r},{'' if loss is None else repr(loss)}\n"
        for k, (lr, loss) in enumerate(zip(rec.lrs, rec.losses))]
    atomic_write(folder / "steps.csv", "".join(rows))
    atomic_write(folder / "epochs.jsonl", "".join(json.dumps(e) + "\n" for e in rec.epochs))
    _torch_save_atomic(trial.model.state_dict(), folder / "model.pt")
    atomic_write(folder / "summary.json", json.dumps(
        {**rec.summary(), "task": trial.task.spec, "task_options": trial.task.options,
         "config": rec.config}, indent=2))
    (folder / "checkpoint.pt").unlink(missing_ok=True)


def _read_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint written by ``_Trial.checkpoint`` (weights only: never runs pickled code)."""
    try:
        state = torch.load(path, weights_only=True)
    except Exception as e:  # unpickling refused, truncated or foreign file
        raise ValueError(f"{path}: not a readable lrlab checkpoint ({type(e).__name__}); delete "
                         f"it to train the trial from the start") from None
    keys = {"model", "optimizer", "epoch", "step", "config", "record", "rng"}
    if not isinstance(state, dict) or not keys <= state.keys():
        raise ValueError(f"{path}: not an lrlab checkpoint (missing "
                         f"{sorted(keys - set(state)) if isinstance(state, dict) else 'everything'})")
    return state


def check_trial(task: Task, cfg: TrialConfig, folder: Path | None, resume: bool) -> bool:
    """Raise now if the trial cannot start; True when ``folder`` already holds it finished."""
    if cfg.schedule != PLATEAU:
        schedule_for(cfg, cfg.steps(len(task.train)))
    watched = {cfg.monitor if cfg.early_stop else "val_loss",
               cfg.plateau_monitor if cfg.schedule == PLATEAU else "val_loss"}
    if "val_acc" in watched and task.kind != "classification":
        raise ValueError(f"{cfg.name}: monitor=val_acc needs a classification task; "
                         f"{task.spec} is a {task.kind} task (monitor val_loss)")
    if folder is None:
        return False
    done, ckpt = folder / "summary.json", folder / "checkpoint.pt"
    if not resume and (done.exists() or ckpt.exists()):
        raise ValueError(f"{folder} already holds a run; use --resume to continue it or "
                         f"choose another --out")
    if resume and done.exists():
        if json.loads(done.read_text())["config"] != cfg.to_dict():
            raise ValueError(f"{cfg.name}: the finished run in {folder} was made with a different "
                             f"configuration; use another --out or drop --resume")
        return True
    return False


def train_trial(task: Task, cfg: TrialConfig, folder: str | Path | None = None, *,
                resume: bool = False, tensorboard: bool = False, progress=None) -> TrialRecord:
    """Train one trial; with ``folder``, write its records there (and resume from it).
    ``progress(trial)``, if given, is called after every step and every epoch."""
    folder = Path(folder) if folder is not None else None
    if tensorboard and folder is None:
        raise ValueError("tensorboard needs a run folder")
    if check_trial(task, cfg, folder, resume):
        return _load_record(folder)
    trial = _Trial(task, cfg, folder)
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write(folder / "config.json", json.dumps(
            {"task": task.spec, "task_options": task.options, **cfg.to_dict()}, indent=2))
        ckpt = folder / "checkpoint.pt"
        if resume and ckpt.exists():
            trial.load(_read_checkpoint(ckpt))
    writer = None
    if tensorboard:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(folder / "tb"), purge_step=trial.step)
    with writer if writer is not None else nullcontext():
        going = trial.record.status == "running"
        while going and trial.epoch < cfg.epochs:
            going = trial.run_epoch(writer, progress)
            if trial.record.status != "diverged":
                trial.checkpoint()
            if progress is not None:
                progress(trial)
    rec = trial.finish()
    if folder is not None:
        _write_results(folder, trial)
    return rec


def _load_record(folder: Path) -> TrialRecord:
    summary = json.loads((folder / "summary.json").read_text())
    rec = TrialRecord(summary["name"], summary["config"], summary["status"],
                      best_epoch=summary["best_epoch"], diverged_step=summary["diverged_step"],
                      test_loss=summary["test_loss"], test_acc=summary["test_acc"],
                      seconds=summary["seconds"])
    rec.epochs = [json.loads(line) for line in (folder / "epochs.jsonl").read_text().splitlines()]
    with open(folder / "steps.csv") as f:
        next(f)
        for line in f:
            _, _, lr, loss = line.rstrip("\n").split(",")
            rec.lrs.append(float(lr))
            rec.losses.append(float(loss) if loss else None)
    return rec


def train_population(task: Task, configs: Sequence[TrialConfig], out: str | Path | None = None, *,
                     resume: bool = False, tensorboard: bool = False, quiet: bool = False,
                     ) -> list[TrialRecord]:
    """Train every trial on ``task`` (each in ``out/<trial name>/`` when ``out`` is given)."""
    names = [c.name for c in configs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"trial names must be unique, got {', '.join(dupes)} more than once")
    folders = [Path(out) / c.name if out is not None else None for c in configs]
    for cfg, folder in zip(configs, folders):  # every trial can start, before any trains
        check_trial(task, cfg, folder, resume)
    from .progress import TrainingProgress

    records = []
    with (nullcontext() if quiet else TrainingProgress(configs)) as bar:
        for cfg, folder in zip(configs, folders):
            records.append(train_trial(task, cfg, folder, resume=resume, tensorboard=tensorboard,
                                       progress=None if bar is None else bar.update))
    return records
