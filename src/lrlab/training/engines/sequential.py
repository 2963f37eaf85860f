"""The sequential engine: trains a population of trials on one task, one after another.

The reference loop every faster engine is checked against. Fair by construction: every trial
of a seed starts from the same weights (``torch.manual_seed(seed)`` before
``task.build_model()``) and sees the same batches (``evaluate.batch_order``), whatever its
schedule. The LR of every step comes from the trial's policy (``plan.policy()``); the engine
never asks what kind of schedule it is. Per step the LR applied and the loss are recorded; per
epoch train/val loss and accuracy; at the end the test loss/accuracy of the final (or restored
best) weights. A trial whose loss becomes non-finite is ``diverged`` at that step and stops;
the others go on. Everything goes through the ``sink`` (after every epoch a checkpoint, so a
resumed trial ends identical to an uninterrupted one); ``on_event`` receives a ``Progress``
after every step and epoch, for a display.

    >>> from lrlab.training.tasks import load_task
    >>> rec = train_trial(load_task("digits"), TrialConfig(schedule="cosine", lr=0.05, epochs=2))
    >>> rec.status.value, len(rec.epochs), len(rec.lrs) == 2 * 19, rec.lrs[0]
    ('finished', 2, True, 0.05)
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence

import torch

from ..evaluate import batches, evaluate, forward, update
from ..evaluate import device as torch_device
from ..optim import make_optimizer
from ..plan import Plan, make_plan
from ..records import Progress, RecordSink, Resume, TrialRecord, TrialStatus
from ..tasks import Task
from ..trial import TrialConfig


def train_population(task: Task, configs: Sequence[TrialConfig], sink: RecordSink | None = None,
                     *, resume: bool = False, device: str | torch.device = "cpu",
                     on_event: Callable[[Progress], None] | None = None) -> list[TrialRecord]:
    """Train every trial of ``configs`` on ``task``; records go to ``sink``. Every trial is
    planned and checked (``make_plan``, ``sink.prepare``, its checkpoint restored) before any
    trains."""
    names = [c.name for c in configs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"trial names must be unique, got {', '.join(dupes)} more than once")
    sink = sink if sink is not None else RecordSink()
    device = torch_device(device)
    task = task.to(device)
    plans = [make_plan(c, len(task.train), task.kind) for c in configs]
    starts = [sink.prepare(c, task, resume) for c in configs]
    runs = [start if isinstance(start, TrialRecord) else _Run(task, plan, start, device)
            for plan, start in zip(plans, starts)]
    emit = on_event or (lambda e: None)
    return [run if isinstance(run, TrialRecord) else _train(task, run, sink, emit) for run in runs]


def train_trial(task: Task, cfg: TrialConfig, sink: RecordSink | None = None, **kw) -> TrialRecord:
    """Train one trial (``train_population`` of one)."""
    return train_population(task, [cfg], sink, **kw)[0]


class _Run:
    """A trial's training state: fresh (seeded weights) or restored from a checkpoint, which
    must fit the trial (a damaged or forged one is one ``ValueError`` naming its source)."""

    def __init__(self, task: Task, plan: Plan, start: Resume | None, device: torch.device):
        cfg = self.cfg = plan.cfg
        self.plan = plan
        torch.manual_seed(cfg.seed)
        self.model = task.build_model().to(device)
        self.model.train()
        self.opt = make_optimizer(cfg.optimizer, self.model.parameters(), cfg.lr, cfg.weight_decay)
        self.policy, self.stopper = plan.policy(), plan.stopper()
        self.rng = torch.get_rng_state()
        self.rec, self.epoch, self.step, self.best, self.before = (
            TrialRecord(cfg.name, cfg.to_dict()), 0, 0, None, 0.0)
        if start is not None:
            try:
                self._restore(start.state)
            except (RuntimeError, KeyError, ValueError, TypeError, IndexError, AttributeError) as e:
                first = (str(e).strip().splitlines() or [type(e).__name__])[0]
                raise ValueError(f"{start.source}: does not fit trial {cfg.name} ({first}); "
                                 f"delete it to train the trial from the start") from None
            self.rec = start.record

    def _restore(self, s: dict) -> None:
        epoch, step = s["epoch"], s["step"]
        if not (type(epoch) is int and 0 < epoch <= self.cfg.epochs
                and step == epoch * self.plan.steps_per_epoch):
            raise ValueError(f"epoch {epoch!r} and step {step!r} are not a checkpoint of a "
                             f"{self.cfg.epochs}-epoch run of {self.plan.steps_per_epoch} steps each")
        self.model.load_state_dict(s["model"])
        self.opt.load_state_dict(s["optimizer"])
        if len(self.opt.state) != len(list(self.model.parameters())) and self.cfg.optimizer != "sgd":
            raise ValueError("the optimizer state is incomplete")
        self.policy.load_state_dict(s["policy"])
        if self.stopper:
            self.stopper.load_state_dict(s["stopper"])
        if s["best_state"] is not None:
            self.model.load_state_dict(s["best_state"])   # checked here, used at the end
            self.model.load_state_dict(s["model"])
        torch.set_rng_state(s["rng"])
        self.rng = s["rng"]
        self.epoch, self.step, self.best, self.before = epoch, step, s["best_state"], s["seconds"]


def _train(task: Task, run: _Run, sink: RecordSink, emit: Callable[[Progress], None]) -> TrialRecord:
    cfg, plan, model, opt, policy, stopper = run.cfg, run.plan, run.model, run.opt, run.policy, run.stopper
    rec, epoch, step, best, before = run.rec, run.epoch, run.step, run.best, run.before
    torch.set_rng_state(run.rng)
    sink.trial_started(plan, task)
    t0 = time.perf_counter()

    def progress(lr=None, **metrics):
        emit(Progress(cfg.name, epoch, cfg.epochs, step, plan.total_steps, lr, status=rec.status,
                      **metrics))

    while rec.status == TrialStatus.RUNNING and epoch < cfg.epochs:
        t_epoch, loss_sum, correct = time.perf_counter(), 0.0, 0
        for idx in batches(len(task.train), cfg.batch_size, cfg.seed, epoch):
            x, y = task.train.x[idx], task.train.y[idx]
            lr = policy.lr(epoch, step)
            loss, out = forward(model, task, x, y)
            value = loss.item()
            finite = math.isfinite(value)
            rec.lrs.append(lr)
            rec.losses.append(value if finite else None)
            sink.step(cfg.name, step, lr, value if finite else None)
            if not finite:
                rec.status, rec.diverged_step = TrialStatus.DIVERGED, step
                break
            update(opt, loss, lr)
            step += 1
            loss_sum += value * len(y)
            correct += task.correct(out, y) or 0
            progress(lr, loss=value)
        if rec.status == TrialStatus.DIVERGED:
            break
        val_loss, val_acc = evaluate(model, task, task.val)
        entry = {"epoch": epoch, "train_loss": loss_sum / len(task.train),
                 "train_acc": correct / len(task.train) if task.kind == "classification" else None,
                 "val_loss": val_loss if math.isfinite(val_loss) else None, "val_acc": val_acc,
                 "lr": rec.lrs[-1], "seconds": time.perf_counter() - t_epoch}
        rec.epochs.append(entry)
        sink.epoch(cfg.name, entry)
        epoch += 1
        if not math.isfinite(val_loss):
            rec.status, rec.diverged_step = TrialStatus.DIVERGED, step
            break
        metrics = {"val_loss": val_loss, "val_acc": val_acc}
        policy.end_epoch(metrics, epoch, step)
        if stopper:
            stop = stopper.step(metrics[cfg.monitor])
            if stopper.improved and stopper.restore_best:
                best = copy.deepcopy(model.state_dict())
            if stop and epoch < cfg.epochs:  # a stop after the last epoch is just the end
                rec.status = TrialStatus.EARLY_STOPPED
        sink.checkpoint(cfg.name, {  # lrlab.training.checkpoint.KEYS
            "model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch,
            "step": step, "policy": policy.state_dict(),
            "stopper": stopper.state_dict() if stopper else None, "best_state": best,
            "rng": torch.get_rng_state(), "config": cfg.to_dict(), "status": str(rec.status),
            "seconds": before + time.perf_counter() - t0})
        progress(rec.lrs[-1], loss=entry["train_loss"], val_loss=val_loss, val_acc=val_acc)

    if rec.status == TrialStatus.RUNNING:
        rec.status = TrialStatus.FINISHED
    if best is not None and rec.status != TrialStatus.DIVERGED:
        model.load_state_dict(best)
    vals = [(e["val_loss"], i) for i, e in enumerate(rec.epochs) if e["val_loss"] is not None]
    rec.best_epoch = stopper.best_epoch if stopper and stopper.best_epoch is not None else (
        min(vals)[1] if vals else None)
    if rec.status != TrialStatus.DIVERGED:
        loss, rec.test_acc = evaluate(model, task, task.test)
        rec.test_loss = loss if math.isfinite(loss) else None
    rec.seconds = before + time.perf_counter() - t0
    sink.trial_finished(rec, model.state_dict())
    progress(rec.lrs[-1] if rec.lrs else None)
    return rec
