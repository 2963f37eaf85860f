"""The sequential engine: trains a population of trials on one task, one after another.

The reference loop every faster engine is checked against. Fair by construction: every trial
of a seed starts from the same weights (``torch.manual_seed(seed)`` before
``task.build_model()``) and sees the same batches (``evaluate.batch_order``), whatever its
schedule. The LR of every step comes from the trial's policy (``plan.policy()``); the engine
never asks what kind of schedule it is. Per step the LR applied and the loss are recorded; per
epoch train/val loss and accuracy; at the end the test loss/accuracy of the final (or restored
best) weights. A trial whose loss becomes non-finite is ``diverged`` at that step and stops;
the others go on. Everything goes through the ``sink`` (after every epoch a checkpoint and a
commit, so a resumed trial ends identical to an uninterrupted one); ``on_event`` receives a
``Progress`` after every step and epoch, for a display.

    >>> from lrlab.training.tasks import load_task
    >>> rec = train_trial(load_task("digits"), TrialConfig(schedule="cosine", lr=0.05, epochs=2))
    >>> rec.status.value, len(rec.epochs), len(rec.lrs) == 2 * 19, rec.lrs[0]
    ('finished', 2, True, 0.05)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import torch

from ..evaluate import batches, evaluate, forward, update
from ..plan import Plan
from ..records import Progress, RecordSink, TrialRecord, TrialStatus
from ..tasks import Task
from ..trial import TrialConfig
from .run import TrialRun, plans, prepare


def train_population(task: Task, configs: Sequence[TrialConfig | Plan], sink: RecordSink | None = None,
                     *, resume: bool = False, device: str | torch.device = "cpu",
                     on_event: Callable[[Progress], None] | None = None) -> list[TrialRecord]:
    """Train every trial of ``configs`` on ``task``; records go to ``sink``. Every trial is
    planned and checked (``make_plan``, ``sink.prepare``, its checkpoint restored) before any
    trains. ``configs``: ``TrialConfig``s, or their ``Plan``s made on ``task``."""
    sink = sink if sink is not None else RecordSink()
    task, runs = prepare(task, plans(task, configs), sink, resume, device)
    emit = on_event or (lambda e: None)
    return [run if isinstance(run, TrialRecord) else train_run(task, run, sink, emit) for run in runs]


def train_trial(task: Task, cfg: TrialConfig, sink: RecordSink | None = None, **kw) -> TrialRecord:
    """Train one trial (``train_population`` of one)."""
    return train_population(task, [cfg], sink, **kw)[0]


def train_run(task: Task, run: TrialRun, sink: RecordSink, emit: Callable[[Progress], None]) -> TrialRecord:
    """Train one prepared trial to its end."""
    cfg, model, opt = run.cfg, run.model, run.opt
    torch.set_rng_state(run.rng)
    run.started(task, sink, emit)
    while run.running:
        t_epoch, loss_sum, correct = time.perf_counter(), 0.0, 0
        for idx in batches(len(task.train), cfg.batch_size, cfg.seed, run.epoch):
            x, y = task.train.x[idx], task.train.y[idx]
            lr = run.lr()
            loss, out = forward(model, task, x, y)
            value = loss.item()
            if not run.record_step(sink, lr, value):
                break
            update(opt, loss, lr)
            loss_sum += value * len(y)
            correct += task.correct(out, y) or 0
        if run.rec.status != TrialStatus.RUNNING:  # diverged
            break
        val_loss, val_acc = evaluate(model, task, task.val)
        run.rng = torch.get_rng_state()  # a model may draw random numbers (dropout)
        run.end_epoch(task, sink, loss_sum, correct, val_loss, val_acc, time.perf_counter() - t_epoch)
        sink.commit()
    rec = run.finish(task, sink)
    sink.commit()
    return rec
