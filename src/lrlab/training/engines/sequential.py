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

from ..checkpoint import KEYS
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
    planned and checked (``make_plan``, ``sink.prepare``) before any trains."""
    names = [c.name for c in configs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"trial names must be unique, got {', '.join(dupes)} more than once")
    sink = sink if sink is not None else RecordSink()
    device = torch_device(device)
    task = task.to(device)
    plans = [make_plan(c, len(task.train), task.kind) for c in configs]
    starts = [sink.prepare(c, task, resume) for c in configs]
    return [start if isinstance(start, TrialRecord) else
            _train(task, plan, sink, start, device, on_event or (lambda e: None))
            for plan, start in zip(plans, starts)]


def train_trial(task: Task, cfg: TrialConfig, sink: RecordSink | None = None, **kw) -> TrialRecord:
    """Train one trial (``train_population`` of one)."""
    return train_population(task, [cfg], sink, **kw)[0]


def _train(task: Task, plan: Plan, sink: RecordSink, start: Resume | None, device: torch.device,
           emit: Callable[[Progress], None]) -> TrialRecord:
    cfg, per_epoch = plan.cfg, plan.steps_per_epoch
    torch.manual_seed(cfg.seed)
    model = task.build_model().to(device)
    model.train()
    opt = make_optimizer(cfg.optimizer, model.parameters(), cfg.lr, cfg.weight_decay)
    policy, stopper = plan.policy(), plan.stopper()
    rec, epoch, step, best, before = TrialRecord(cfg.name, cfg.to_dict()), 0, 0, None, 0.0
    if start is not None:
        s, rec = start.state, start.record
        model.load_state_dict(s["model"])
        opt.load_state_dict(s["optimizer"])
        policy.load_state_dict(s["policy"])
        if stopper:
            stopper.load_state_dict(s["stopper"])
        epoch, step, best, before = s["epoch"], s["step"], s["best_state"], s["seconds"]
        torch.set_rng_state(s["rng"])
    sink.trial_started(cfg, task)
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
            if stop:
                rec.status = TrialStatus.EARLY_STOPPED
        state = dict(zip(KEYS, (model.state_dict(), opt.state_dict(), epoch, step,
                                policy.state_dict(), stopper.state_dict() if stopper else None,
                                best, torch.get_rng_state(), cfg.to_dict(), str(rec.status),
                                before + time.perf_counter() - t0)))
        sink.checkpoint(cfg.name, state)
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
