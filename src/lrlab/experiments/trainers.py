"""Your training loop, any framework: a trainer is a function lrlab calls once per trial.

    def train(trial):
        sched = LRLabScheduler(opt, trial.schedule)     # or trial.schedule(k) yourself
        state = trial.load()                            # None, or what trial.save kept
        for epoch in range(trial.start_epoch, trial.epochs):
            ...                                         # trial.steps_per_epoch optimizer steps
            trial.report(epoch, train_loss=..., val_loss=..., val_acc=...)
            trial.save({"model": model.state_dict(), "opt": opt.state_dict()})
        return {"test_acc": ...}                        # final metrics: test_acc, test_loss

What a trainer gets (a ``Trial``): ``schedule``, the lrlab ``Schedule`` of the trial bound to
its ``steps`` (schedule steps: ``epochs``, or ``epochs * steps_per_epoch`` with
``interval='step'``); ``step_schedule``, the same LRs as a schedule of the optimizer step
(``epochs * steps_per_epoch`` long; for what steps a schedule per batch, such as Keras);
``seed``; ``epochs``; ``steps_per_epoch``; ``interval``; ``lr`` (the
reference LR the schedule was built from); ``params`` (the schedule parameters given);
``name``. Before the call lrlab seeds Python's ``random``, numpy and every framework already
imported (torch, paddle, keras) with ``trial.seed``.

What lrlab does with it: every ``report`` is one epoch row of the store (the same tables as
the built-in engines', so ``lrlab report`` and the statistics work unchanged), with the LR the
schedule gave at each of the epoch's optimizer steps in the step table (their loss is not
known: NULL). A non-finite reported loss marks the trial ``diverged`` (``report`` then returns
False: stop training; what is returned afterwards is ignored). A trainer that raises marks its
trial ``failed`` with the exception's last line, and the other trials go on; a failed trial
runs again the next time (after a fix). A trainer that returns before its last epoch has
stopped early (``early-stopped``). Resume: a trial that ended is never run again; an
unfinished one runs again from its start, unless the trainer saved its state with
``trial.save(state)`` after a ``report``: then ``trial.load()`` gives that state back and
``trial.start_epoch`` says where to continue (the epochs past it are dropped from the store).
The state is nested dicts, lists and tuples of arrays (numpy, torch, paddle: given back as
the same kind), numbers, strings, booleans and None, kept as the trial's checkpoint in the
store, written with the epochs reported so far (an npz zip: plain JSON and
``numpy.load(allow_pickle=False)``, so a state never runs code; a damaged one is named, never
trusted). Every report and save is sent to the sink and committed at once: on a worker, they go
to the driver's store (``lrlab.experiments.backends``).
"""

from __future__ import annotations

import io
import json
import math
import operator
import random
import sys
import time
import zipfile
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..schedules import create
from ..training.plan import Plan
from ..training.records import Progress, Resume, TrialRecord, TrialStatus
from ..usercode import USER_ERRORS, clean, last_line

FINAL = ("test_acc", "test_loss")  # what a trainer may return


class TrainerTask:
    """What a trainer's trials are keyed and stored by, in place of a task: ``spec``
    (``trainer:<function name>``: the same whatever path named the file) and no options."""

    def __init__(self, ref: str):
        self.spec, self.options = f"trainer:{ref.rpartition(':')[2]}", {}


class _Failed(Exception):
    """A trainer broke the contract (the message says how): its trial fails."""


class Trial:
    """One trial as a trainer sees it (see the module docstring)."""

    def __init__(self, plan: Plan, store, task: TrainerTask, emit: Callable[[Progress], None],
                 start: Resume | None = None):
        cfg = self.config = plan.cfg
        self.name, self.seed, self.epochs = cfg.name, cfg.seed, cfg.epochs
        self.steps_per_epoch, self.interval, self.lr = cfg.steps_per_epoch, cfg.interval, cfg.lr
        self.params = dict(cfg.params)
        self.schedule = plan.schedule
        self.steps = len(plan.table)
        n = self.steps_per_epoch
        self.step_schedule = plan.schedule if self.interval == "step" else create(
            "piecewise", milestones=[n * k for k in range(1, self.epochs)],
            values=list(plan.table)).bind(self.epochs * n)
        self._plan, self._store, self._task, self._emit = plan, store, task, emit
        self._saved = (read_state(start.blob, start.source, start.remedy)
                       if start is not None else None)
        self._rec = start.record if start is not None else TrialRecord(cfg.name, cfg.to_dict())
        self.start_epoch = 0
        self.status = TrialStatus.RUNNING
        self.diverged_step: int | None = None
        self._epoch = 0         # the next epoch to report
        self._loaded = False
        self._closed = False    # the trainer returned: nothing more is recorded
        if self._saved is not None:
            k = self._saved["epoch"]
            if not k == start.epoch == len(start.record.epochs) <= self.epochs:
                raise ValueError(f"{start.source}: saved after epoch {k}, kept as epoch "
                                 f"{start.epoch} of the {self.epochs} of trial {cfg.name} with "
                                 f"{len(start.record.epochs)} epochs stored; {start.remedy}")
            self._begin(k, self._saved["seconds"])
        else:
            self._begin(0, 0.0)

    def _begin(self, epoch: int, seconds: float) -> None:
        """Continue from ``epoch`` (the store drops what is past it), ``seconds`` trained before
        this run."""
        self._store.trial_started(self._plan, self._task, at=(epoch * self.steps_per_epoch, epoch))
        self._rec.cut(epoch * self.steps_per_epoch, epoch)  # what the store keeps of it
        self._epoch = self.start_epoch = epoch
        self._before = seconds
        self._t0 = self._last = time.perf_counter()

    # ---- the trainer's calls ----------------------------------------------------------------
    def load(self) -> Any:
        """The state the last ``save`` kept (arrays as the kind they were saved as), or None.
        Continue at ``start_epoch``."""
        if self._saved is None:
            return None
        if self._epoch != self.start_epoch:
            raise _Failed("trial.load(): call it before the first report")
        self._loaded = True
        return self._saved["state"]

    def save(self, state: Any) -> None:
        """Keep ``state`` as the trainer's state after the epochs reported so far (atomic;
        nothing once the trainer has returned)."""
        if self._closed:
            return
        data = write_state({"epoch": self._epoch, "seconds": self.seconds(), "state": state})
        self._store.checkpoint(self.name, data, self._epoch * self.steps_per_epoch, self._epoch)
        self._store.commit()

    def report(self, epoch: int, *, train_loss: float | None = None, train_acc: float | None = None,
               val_loss: float | None = None, val_acc: float | None = None) -> bool:
        """Record epoch ``epoch`` (0-based, each once, in order); False when the trial has
        ended (a non-finite metric: diverged; or the trainer returned) and the trainer should
        stop."""
        if self.status != TrialStatus.RUNNING or self._closed:
            return False
        try:
            if isinstance(epoch, (bool, float, str)):
                raise TypeError
            epoch = operator.index(epoch)  # an int, a numpy or a 0-d torch integer
        except TypeError:
            raise _Failed(f"trial.report: epoch must be an int, got {epoch!r}") from None
        if epoch == 0 and self._epoch > 0 and not self._loaded and self.start_epoch > 0:
            self._begin(0, 0.0)  # it did not load its state: it started over
        if epoch >= self.epochs:
            raise _Failed(f"trial.report: epoch {epoch} is past the run's last, "
                          f"{self.epochs - 1} (epochs count from 0)")
        if epoch != self._epoch:
            raise _Failed(f"trial.report: epoch {epoch}, expected {self._epoch} (each epoch once, "
                          f"in order, from {self.start_epoch})")
        metrics = {"train_loss": train_loss, "train_acc": train_acc, "val_loss": val_loss,
                   "val_acc": val_acc}
        for key, value in metrics.items():
            if value is not None:
                metrics[key] = _number(f"trial.report: {key}", value,
                                       fraction=key.endswith("_acc"))
        diverged = any(v is not None and not math.isfinite(v) for v in metrics.values())
        step = (epoch + 1) * self.steps_per_epoch
        lrs = self._lrs(epoch)
        for i, lr in enumerate(lrs):
            self._store.step(self.name, epoch * self.steps_per_epoch + i, lr, None)
        self._rec.lrs += lrs
        self._rec.losses += [None] * len(lrs)
        now = time.perf_counter()
        entry = {"epoch": epoch, **{k: (v if v is None or math.isfinite(v) else None)
                                    for k, v in metrics.items()},
                 "lr": lrs[-1], "seconds": now - self._last}
        self._last = now
        self._rec.epochs.append(entry)
        self._store.epoch(self.name, entry)
        self._store.commit()
        self._epoch += 1
        if diverged:
            self.status, self.diverged_step = TrialStatus.DIVERGED, step
        self._emit(Progress(self.name, self._epoch, self.epochs, step,
                            self.epochs * self.steps_per_epoch, lrs[-1], loss=entry["train_loss"],
                            val_loss=entry["val_loss"], val_acc=entry["val_acc"],
                            status=self.status))
        return self.status == TrialStatus.RUNNING

    # ---- helpers ------------------------------------------------------------------------------
    def _lrs(self, epoch: int) -> list[float]:
        """The LR the schedule gives at each optimizer step of ``epoch``."""
        table, n = self._plan.table, self.steps_per_epoch
        if self.interval == "step":
            return list(table[epoch * n:(epoch + 1) * n])
        return [table[epoch]] * n

    def seconds(self) -> float:
        return self._before + time.perf_counter() - self._t0

    def record(self) -> TrialRecord:
        """What the store holds of the trial: every epoch reported, with its steps' LRs."""
        return self._rec

    def close(self) -> None:
        """The trainer returned: later reports and saves record nothing."""
        self._closed = True

    @property
    def reported(self) -> int:
        """Epochs reported so far (in all runs of the trial)."""
        return self._epoch

    def __repr__(self) -> str:
        return (f"Trial({self.name!r}, seed={self.seed}, epochs={self.epochs}, steps_per_epoch="
                f"{self.steps_per_epoch}, schedule={self.schedule!r})")


def _number(what: str, value: Any, fraction: bool = False) -> float:
    """A reported value as a float: a number (a 0-d array or tensor too, never a string or a
    bool); a fraction in [0, 1] for an accuracy, a loss >= 0; or not finite (diverged)."""
    try:
        if isinstance(value, (str, bytes, bool)):
            raise TypeError
        x = float(value.item() if hasattr(value, "item") else value)
    except (TypeError, ValueError, RuntimeError):
        raise _Failed(f"{what} must be a number, got {value!r}") from None
    if fraction and math.isfinite(x) and not 0.0 <= x <= 1.0:
        raise _Failed(f"{what} must be a fraction in [0, 1], got {x!r}")
    if not fraction and x < 0:
        raise _Failed(f"{what} must be >= 0 (or not finite: diverged), got {x!r}")
    return x


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, numpy and the frameworks already imported."""
    random.seed(seed)
    np.random.seed(seed)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)
    if "paddle" in sys.modules:
        sys.modules["paddle"].seed(seed)
    if "keras" in sys.modules:
        sys.modules["keras"].utils.set_random_seed(seed)


def run_trial(fn: Callable, plan: Plan, store, task: TrainerTask,
              emit: Callable[[Progress], None], start: Resume | None = None) -> TrialRecord:
    """Run ``fn`` on one trial that has not ended into ``store`` (from ``start``, what
    ``store.prepare`` said)."""
    trial = Trial(plan, store, task, emit, start)
    seed_everything(trial.seed)
    error, final = None, {}
    try:
        result = fn(trial)
        if trial.status == TrialStatus.RUNNING:
            final = _final(result)
            if trial.reported == 0:
                raise _Failed("the trainer returned without reporting an epoch (call "
                              "trial.report(epoch, ...) once per epoch)")
    except USER_ERRORS as e:  # the trainer's own failure (sys.exit too): its trial fails,
        error = clean(str(e)) if isinstance(e, _Failed) else last_line(e)  # the others go on
    finally:
        trial.close()  # a report or save leaked past the trainer's return does nothing
    rec = trial.record()
    rec.seconds = trial.seconds()
    if error is not None:
        rec.status, rec.error = TrialStatus.FAILED, error
    elif trial.status == TrialStatus.DIVERGED:
        rec.status, rec.diverged_step = TrialStatus.DIVERGED, trial.diverged_step
    else:
        rec.status = (TrialStatus.FINISHED if trial.reported == trial.epochs
                      else TrialStatus.EARLY_STOPPED)
        if all(math.isfinite(v) for v in final.values()):
            rec.test_acc, rec.test_loss = final.get("test_acc"), final.get("test_loss")
        else:  # a non-finite final metric: diverged, as a non-finite report
            rec.status, rec.diverged_step = TrialStatus.DIVERGED, trial.reported * trial.steps_per_epoch
    rec.best_epoch = rec.lowest_val_loss_epoch()
    store.trial_finished(rec, None)
    store.commit()
    emit(Progress(trial.name, trial.reported, trial.epochs, trial.reported * trial.steps_per_epoch,
                  trial.epochs * trial.steps_per_epoch, None, status=rec.status))
    return rec


def _final(result: Any) -> dict[str, float]:
    """The final metrics a trainer returned (None: none)."""
    if result is None:
        return {}
    if not isinstance(result, Mapping):
        raise _Failed(f"the trainer returned {type(result).__name__}, not a dict of final "
                      f"metrics ({', '.join(FINAL)}) or None")
    unknown = sorted(str(k) for k in result if k not in FINAL)
    if unknown:
        raise _Failed(f"the trainer returned {', '.join(unknown)}; final metrics are "
                      f"{', '.join(FINAL)} (report per-epoch ones with trial.report)")
    return {k: _number(f"returned {k}", v, fraction=k == "test_acc")
            for k, v in result.items() if v is not None}


# ---- the state file: JSON for the structure, .npy for the arrays (no pickle) ---------------
def write_state(state: Any) -> bytes:
    """``state`` as the bytes of a state file (see the module docstring)."""
    arrays: list[np.ndarray] = []

    def tree(x: Any) -> Any:
        if x is None or isinstance(x, (bool, str)):
            return x
        if isinstance(x, (int, float)):
            return x if isinstance(x, int) or math.isfinite(x) else {"float": repr(x)}
        if isinstance(x, Mapping):
            return {"dict": [[tree(k), tree(v)] for k, v in x.items()]}
        if isinstance(x, (list, tuple)):
            return {"list" if isinstance(x, list) else "tuple": [tree(v) for v in x]}
        root = type(x).__module__.partition(".")[0]
        kind = "paddle" if root == "paddle" else "numpy"  # how the array is given back
        if root == "torch":
            x_np, kind = _torch_array(x)
        elif hasattr(x, "numpy"):
            x_np = np.asarray(x.numpy())
        elif hasattr(x, "__array__") or isinstance(x, np.generic):
            x_np = np.asarray(x)
        else:
            raise TypeError(f"trial.save: cannot keep a {type(x).__name__} (give arrays, "
                            f"numbers, strings, None, and dicts/lists of them)")
        if x_np.dtype == object:
            raise TypeError("trial.save: cannot keep an array of Python objects")
        arrays.append(x_np)
        return {"array": len(arrays) - 1, "kind": kind}

    structure = json.dumps(tree(state))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("state.json", structure)
        for i, a in enumerate(arrays):
            with z.open(f"{i}.npy", "w") as f:
                np.save(f, a, allow_pickle=False)
    return buf.getvalue()


def read_state(blob: bytes, source: str,
               remedy: str = "delete it to run the trial from its start") -> dict:
    """A state written by ``Trial.save``; a damaged or foreign one is one ``ValueError`` line
    naming ``source`` (where it was read) and ending with ``remedy``."""
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as z:
            data = json.loads(z.read("state.json"))

            def build(x: Any) -> Any:
                if not isinstance(x, dict):
                    return x
                if set(x) == {"array", "kind"}:
                    with z.open(f"{int(x['array'])}.npy") as f:
                        return _as(np.load(io.BytesIO(f.read()), allow_pickle=False), x["kind"])
                ((kind, value),) = x.items()  # one tag: dict, list, tuple or float
                if kind == "dict":
                    return {_key(build(k)): build(v) for k, v in value}
                if kind in ("list", "tuple"):
                    items = [build(v) for v in value]
                    return items if kind == "list" else tuple(items)
                if kind == "float":
                    return float(value)
                raise ValueError(f"unknown entry {x!r}")

            state = build(data)
        if not (isinstance(state, dict) and isinstance(state.get("epoch"), int)
                and state["epoch"] >= 0 and isinstance(state.get("seconds"), (int, float))
                and "state" in state):
            raise ValueError("no epoch, seconds and state")
        return state
    except Exception as e:  # noqa: BLE001  a truncated, foreign or forged file
        raise ValueError(f"{source}: not a readable lrlab trainer state ({type(e).__name__}: {e}); "
                         f"{remedy}") from None


def _torch_array(x: Any) -> tuple[np.ndarray, str]:
    """A torch tensor as a numpy array and its kind: ``torch``, or ``torch-bits:DTYPE`` for a
    dtype numpy lacks (bfloat16, float8: its bits as an integer array of the same width)."""
    torch = sys.modules["torch"]
    t = x.detach().cpu()
    if t.layout != torch.strided:
        raise TypeError(f"trial.save: cannot keep a {t.layout} tensor (give .to_dense())")
    try:
        return t.numpy(), "torch"
    except TypeError:
        bits = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[t.element_size()]
        return t.view(bits).numpy(), "torch-bits:" + str(t.dtype).removeprefix("torch.")


def _key(k: Any) -> Any:
    return tuple(k) if isinstance(k, list) else k


def _as(a: np.ndarray, kind: str) -> Any:
    """An array given back as the kind it was saved as (numpy when that framework is absent)."""
    if kind == "torch" and "torch" in sys.modules:
        return sys.modules["torch"].from_numpy(a)
    if kind.startswith("torch-bits:") and "torch" in sys.modules:  # its bits, as integers
        torch = sys.modules["torch"]
        dtype = getattr(torch, kind.partition(":")[2], None)
        if not isinstance(dtype, torch.dtype):
            raise ValueError(f"unknown torch dtype in {kind!r}")
        return torch.from_numpy(a).view(dtype)
    if kind == "paddle" and "paddle" in sys.modules:
        return sys.modules["paddle"].to_tensor(a)
    return a


def run_trainer(fn: Callable, plans: list[Plan], store, task: TrainerTask,
                on_event: Callable[[Progress], None] | None = None) -> list[TrialRecord]:
    """Every trial of ``plans`` through ``fn`` into ``store`` (a sink; ``task`` keys the
    trials): the records (an ended trial's read back, not run)."""
    emit = on_event or (lambda e: None)
    records = []
    for plan in plans:
        start = store.prepare(plan.cfg, task)
        if isinstance(start, TrialRecord):
            emit(Progress(plan.cfg.name, len(start.epochs), plan.cfg.epochs, len(start.lrs),
                          plan.total_steps, None, status=start.status))
            records.append(start)
        else:
            records.append(run_trial(fn, plan, store, task, emit, start))
    return records


__all__ = ["Trial", "TrainerTask", "read_state", "run_trainer", "run_trial", "seed_everything",
           "write_state"]
