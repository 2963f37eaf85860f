"""What every engine does around the arithmetic: plan and check a population, then keep each
trial's record, LR policy, stopper, checkpoints and final test the same way.

An engine calls ``prepare`` once (every trial planned, ``sink.prepare``d and its checkpoint
restored before any trains), then per trial ``started``, per optimizer step ``record_step``,
per epoch ``end_epoch`` and once ``finish``. Between those it only computes: which weights a
``TrialRun`` holds in ``model``/``opt`` at those calls is the engine's business (the vectorised
engine writes a trial's slice of the population back before ``end_epoch`` and ``finish``).
So records, sink calls, checkpoints and resume are the same whatever the engine.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence

import torch

from .. import checkpoint
from ..evaluate import device as torch_device
from ..evaluate import evaluate_examples
from ..optim import make_optimizer
from ..plan import Plan, make_plan
from ..records import Progress, RecordSink, Resume, TrialRecord, TrialStatus
from ..tasks import Task
from ..trial import TrialConfig


def plans(task: Task, configs: Sequence[TrialConfig | Plan]) -> list[Plan]:
    """The plan of every config on ``task`` (a ``Plan`` given, made on this task, is kept)."""
    return [c if isinstance(c, Plan) else make_plan(c, len(task.train), task.kind) for c in configs]


def prepare(task: Task, plans: Sequence[Plan], sink: RecordSink, resume: bool,
            device: str | torch.device) -> tuple[Task, list[TrialRecord | TrialRun]]:
    """The task on ``device`` and, per plan, its trial's finished record or its ``TrialRun``."""
    configs = [p.cfg for p in plans]
    names = [c.name for c in configs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"trial names must be unique, got {', '.join(dupes)} more than once")
    device = torch_device(device)
    task = task.to(device)
    starts = [sink.prepare(c, task, resume) for c in configs]
    return task, [start if isinstance(start, TrialRecord) else TrialRun(task, plan, start, device)
                  for plan, start in zip(plans, starts)]


class TrialRun:
    """A trial's training state: fresh (seeded weights) or restored from a checkpoint, which
    must fit the trial (a damaged or forged one is one ``ValueError`` naming its source).
    ``epoch``/``step``: completed so far."""

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
        self.t0 = 0.0
        self.emit: Callable[[Progress], None] = lambda e: None
        if start is not None:
            state = checkpoint.loads(start.blob, start.source, device, start.remedy)
            try:
                self._restore(state, start)
            except (RuntimeError, KeyError, ValueError, TypeError, IndexError, AttributeError) as e:
                first = (str(e).strip().splitlines() or [type(e).__name__])[0]
                raise ValueError(f"{start.source}: does not fit trial {cfg.name} ({first}); "
                                 f"{start.remedy}") from None
            self.rec = start.record
            self.rec.status = TrialStatus(state["status"])

    def _restore(self, s: dict, start: Resume) -> None:
        epoch, step = s["epoch"], s["step"]
        if s["config"] != self.cfg.to_dict():
            raise ValueError("written by another configuration")
        if (epoch, step) != (start.epoch, start.step) or len(start.record.epochs) != epoch:
            raise ValueError(f"taken at epoch {epoch}, step {step}, kept as epoch {start.epoch}, "
                             f"step {start.step}")
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
        self.rng = s["rng"].cpu()  # a checkpoint loaded onto a GPU brings it there
        torch.set_rng_state(self.rng)
        self.epoch, self.step, self.best, self.before = epoch, step, s["best_state"], s["seconds"]

    # ---- the engine's calls, in order ------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.rec.status == TrialStatus.RUNNING and self.epoch < self.cfg.epochs

    def started(self, task: Task, sink: RecordSink, emit: Callable[[Progress], None]) -> None:
        self.emit = emit
        sink.trial_started(self.plan, task)
        self.t0 = time.perf_counter()

    def lr(self) -> float:
        """The LR of the next optimizer step."""
        return self.policy.lr(self.epoch, self.step)

    def record_step(self, sink: RecordSink, lr: float, loss: float) -> bool:
        """Record a step about to be taken; False (and ``diverged``) when ``loss`` is not
        finite: the step is not taken and the trial ends."""
        finite = math.isfinite(loss)
        rec = self.rec
        rec.lrs.append(lr)
        rec.losses.append(loss if finite else None)
        sink.step(self.cfg.name, self.step, lr, loss if finite else None)
        if not finite:
            rec.status, rec.diverged_step = TrialStatus.DIVERGED, self.step
            return False
        self.step += 1
        self.progress(lr, loss=loss)
        return True

    def end_epoch(self, task: Task, sink: RecordSink, train_loss: float, train_correct: int | None,
                  val_loss: float, val_acc: float | None, seconds: float) -> None:
        """Record the epoch just trained (``model`` holds its weights), step the policy and
        the stopper, checkpoint."""
        cfg, rec = self.cfg, self.rec
        n = len(task.train)
        entry = {"epoch": self.epoch, "train_loss": train_loss / n,
                 "train_acc": train_correct / n if task.kind == "classification" else None,
                 "val_loss": val_loss if math.isfinite(val_loss) else None, "val_acc": val_acc,
                 "lr": rec.lrs[-1], "seconds": seconds}
        rec.epochs.append(entry)
        sink.epoch(cfg.name, entry)
        self.epoch += 1
        if not math.isfinite(val_loss):
            rec.status, rec.diverged_step = TrialStatus.DIVERGED, self.step
            return
        metrics = {"val_loss": val_loss, "val_acc": val_acc}
        self.policy.end_epoch(metrics, self.epoch, self.step)
        if self.stopper:
            stop = self.stopper.step(metrics[cfg.monitor])
            if self.stopper.improved and self.stopper.restore_best:
                self.best = copy.deepcopy(self.model.state_dict())
            if stop and self.epoch < cfg.epochs:  # a stop after the last epoch is just the end
                rec.status = TrialStatus.EARLY_STOPPED
        sink.checkpoint(cfg.name, checkpoint.dumps({  # checkpoint.KEYS
            "model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
            "epoch": self.epoch, "step": self.step, "policy": self.policy.state_dict(),
            "stopper": self.stopper.state_dict() if self.stopper else None, "best_state": self.best,
            "rng": self.rng, "config": cfg.to_dict(), "status": str(rec.status),
            "seconds": self.seconds()}), self.step, self.epoch)
        self.progress(rec.lrs[-1], loss=entry["train_loss"], val_loss=val_loss, val_acc=val_acc)

    def finish(self, task: Task, sink: RecordSink) -> TrialRecord:
        """Test the final (or restored best) weights; the record."""
        rec, stopper = self.rec, self.stopper
        if rec.status == TrialStatus.RUNNING:
            rec.status = TrialStatus.FINISHED
        if self.best is not None and rec.status != TrialStatus.DIVERGED:
            self.model.load_state_dict(self.best)
        rec.best_epoch = (stopper.best_epoch if stopper and stopper.best_epoch is not None
                          else rec.lowest_val_loss_epoch())
        if rec.status != TrialStatus.DIVERGED:
            loss, rec.test_acc, hits = evaluate_examples(self.model, task, task.test)
            rec.test_loss = loss if math.isfinite(loss) else None
            if hits is not None:  # which examples it gets right: the test set's sampling noise
                rec.examples = {"test": (len(task.test), hits),
                                "val": (len(task.val), evaluate_examples(self.model, task, task.val)[2])}
        rec.seconds = self.seconds()
        sink.trial_finished(rec, checkpoint.dumps(self.model.state_dict()))
        self.progress(rec.lrs[-1] if rec.lrs else None)
        return rec

    # ---- helpers ---------------------------------------------------------------------------
    def seconds(self) -> float:
        return self.before + time.perf_counter() - self.t0

    def progress(self, lr: float | None, **metrics) -> None:
        self.emit(Progress(self.cfg.name, self.epoch, self.cfg.epochs, self.step,
                           self.plan.total_steps, lr, status=self.rec.status, **metrics))
