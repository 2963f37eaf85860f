"""Run folders: one folder per trial, as a ``RecordSink`` (``lrlab train --out``, ``lrlab test``).

``RunFolder(out)`` writes, per trial, into ``out/<trial name>/``:

- ``config.json``: the task spec and options and the ``TrialConfig``;
- ``steps.csv`` (``step,epoch,lr,loss``: the LR applied at every optimizer step) and
  ``epochs.jsonl`` (one JSON object of metrics per epoch), appended after every epoch;
- ``checkpoint.pt`` while it trains (atomic, after every epoch; see
  ``lrlab.training.checkpoint``), replaced at the end by ``model.pt`` (the weights tested)
  and ``summary.json`` (status, test metrics, best epoch, seconds, task and config);
- with ``tensorboard=True``, TensorBoard events in ``tb/``.

A folder that holds a run is refused unless ``resume``; with ``resume`` a finished trial is
read back (not trained again; its configuration must be the same, its files complete) and an
unfinished one continues from its checkpoint, its appended history cut back to the
checkpoint's step and epoch, so a run killed at any moment and resumed ends identical to an
uninterrupted one. Damaged files are named, never trusted.

One process at a time: ``out/.lrlab.lock`` is locked (an OS-level lock, which a killed process
releases) from the first trial checked, or, when ``out`` does not exist yet, from the first
trial started, until ``close()`` (or the end of a ``with RunFolder(out) as sink:`` block, or of
the process); a second process is refused with one line. Temporaries left by a killed write
are removed when a trial starts.

    >>> import tempfile
    >>> from lrlab.training.engines import train_trial
    >>> from lrlab.training.tasks import load_task
    >>> from lrlab.training.trial import TrialConfig
    >>> out = tempfile.mkdtemp()
    >>> rec = train_trial(load_task("digits"), TrialConfig(epochs=1), RunFolder(out))
    >>> sorted(p.name for p in (Path(out) / rec.name).iterdir())
    ['config.json', 'epochs.jsonl', 'model.pt', 'steps.csv', 'summary.json']
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..fileio import atomic_write, remove_temporaries
from ..training.records import Resume, TrialRecord, TrialSink
from .lock import OutputFolder

STEPS_HEADER = "step,epoch,lr,loss\n"


class RunFolder(OutputFolder, TrialSink):
    """A ``TrialSink`` writing one folder per trial under ``out``."""

    def __init__(self, out: str | Path, tensorboard: bool = False):
        if tensorboard:
            try:
                import tensorboard as _  # noqa: F401
            except ImportError:
                raise ValueError("--tensorboard needs the tensorboard package: "
                                 "pip install 'lrlab[tensorboard]'") from None
        OutputFolder.__init__(self, out)
        TrialSink.__init__(self)
        self.tensorboard = tensorboard
        self._tb: dict[str, Any] = {}

    def folder(self, name: str) -> Path:
        return self.out / name

    # ---- before training ---------------------------------------------------------------
    def _find(self, cfg, task, resume: bool) -> Resume | TrialRecord | None:
        if self.out.is_dir():
            self.claim()
        folder = self.folder(cfg.name)
        done, ckpt = folder / "summary.json", folder / "checkpoint.pt"
        if not resume:
            if done.exists() or ckpt.exists():
                raise ValueError(f"{folder} already holds a run; use --resume to continue it or "
                                 f"choose another --out")
            return None
        if done.exists():
            record = read_record(folder)
            _same_config(folder, "finished run", record.config, cfg.to_dict())
            _check_weights(folder / "model.pt")
            ckpt.unlink(missing_ok=True)  # killed between the summary and the checkpoint's removal
            return record
        if not ckpt.exists():
            return None
        from ..training import checkpoint

        blob = ckpt.read_bytes()
        state = checkpoint.loads(blob, str(ckpt))
        _same_config(folder, "checkpoint", state["config"], cfg.to_dict())
        rows = _read_steps(folder / "steps.csv")
        epochs = _read_epochs(folder / "epochs.jsonl")
        if len(rows) < state["step"] or len(epochs) < state["epoch"]:
            raise ValueError(f"{folder}: steps.csv or epochs.jsonl holds less than its checkpoint "
                             f"(step {state['step']}, epoch {state['epoch']}); delete the folder "
                             f"to train the trial from the start")
        rows, epochs = rows[:state["step"]], epochs[:state["epoch"]]
        record = TrialRecord(cfg.name, cfg.to_dict(), state["status"],
                             lrs=[lr for _, lr, _ in rows], losses=[loss for _, _, loss in rows],
                             epochs=epochs)
        return Resume(blob, record, state["step"], state["epoch"], str(ckpt))

    # ---- while training ----------------------------------------------------------------
    def _start(self, plan, task, resumed: Resume | None, step: int, epoch: int) -> None:
        """The folder's files as far as ``(step, epoch)`` (what a killed run appended after
        its checkpoint is dropped)."""
        cfg = plan.cfg
        folder = self.folder(cfg.name)
        folder.mkdir(parents=True, exist_ok=True)
        self.claim()
        remove_temporaries(folder)
        atomic_write(folder / "config.json", json.dumps(
            {"task": task.spec, "task_options": task.options, **cfg.to_dict(),
             "resolved": plan.resolved}, indent=2))
        rec = resumed.record if resumed else TrialRecord(cfg.name, {})
        atomic_write(folder / "steps.csv", STEPS_HEADER + "".join(  # whole epochs: k // steps
            _row(k, k // plan.steps_per_epoch, lr, loss)
            for k, (lr, loss) in enumerate(zip(rec.lrs[:step], rec.losses[:step]))))
        atomic_write(folder / "epochs.jsonl", "".join(json.dumps(e) + "\n" for e in rec.epochs[:epoch]))
        if self.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb[cfg.name] = SummaryWriter(str(folder / "tb"), purge_step=step)

    def step(self, name: str, step: int, lr: float, loss: float | None) -> None:
        super().step(name, step, lr, loss)
        if name in self._tb:
            self._tb[name].add_scalar("lr", lr, step)
            if loss is not None:
                self._tb[name].add_scalar("loss/step", loss, step)

    def _epoch(self, name: str, rows: list[tuple], entry: dict) -> None:
        self._append(name, rows)
        with open(self.folder(name) / "epochs.jsonl", "a") as f:
            f.write(json.dumps(entry) + "\n")
        if name in self._tb:
            for k in ("train_loss", "train_acc", "val_loss", "val_acc"):
                if entry[k] is not None:
                    self._tb[name].add_scalar(k.replace("_", "/", 1), entry[k], entry["epoch"])

    def _checkpoint(self, name: str, blob: bytes, step: int, epoch: int) -> None:
        atomic_write(self.folder(name) / "checkpoint.pt", blob)

    def _finish(self, record: TrialRecord, rows: list[tuple], weights: bytes) -> None:
        folder = self.folder(record.name)
        self._append(record.name, rows)
        atomic_write(folder / "model.pt", weights)
        config = json.loads((folder / "config.json").read_text())
        atomic_write(folder / "summary.json", json.dumps(
            {**record.summary(), "steps": len(record.lrs), "task": config["task"],
             "task_options": config["task_options"], "config": record.config}, indent=2))
        (folder / "checkpoint.pt").unlink(missing_ok=True)
        if record.name in self._tb:
            self._tb.pop(record.name).close()

    def _append(self, name: str, rows: list[tuple]) -> None:
        with open(self.folder(name) / "steps.csv", "a") as f:
            f.write("".join(_row(*r) for r in rows))


# ---- reading ---------------------------------------------------------------------------------
def _row(step: int, epoch: int, lr: float, loss: float | None) -> str:
    return f"{step},{epoch},{lr!r},{'' if loss is None else repr(loss)}\n"


def _same_config(folder: Path, what: str, stored: dict, given: dict) -> None:
    if stored != given:
        diff = "; ".join(f"{k}: {stored.get(k)!r} there, {given.get(k)!r} now"
                         for k in sorted(set(stored) | set(given)) if stored.get(k) != given.get(k))
        raise ValueError(f"{given['name']}: the {what} in {folder} was made with a different "
                         f"configuration ({diff}); use another --out or drop --resume")


def _read_steps(path: Path) -> list[tuple[int, float, float | None]]:
    """``[(epoch, lr, loss)]`` of every complete row of a ``steps.csv``."""
    try:
        lines = path.read_text().splitlines(keepends=True)
        if not lines or lines[0] != STEPS_HEADER:
            raise ValueError("no step,epoch,lr,loss header")
        out = []
        for k, line in enumerate(lines[1:]):
            if not line.endswith("\n"):
                break  # a row cut by a kill: not part of the history
            step, epoch, lr, loss = line.rstrip("\n").split(",")
            if int(step) != k:
                raise ValueError(f"row {k + 1} is step {step}")
            out.append((int(epoch), float(lr), float(loss) if loss else None))
        return out
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: not a readable steps.csv ({e}); delete the trial's folder "
                         f"to train it again") from None


def _read_epochs(path: Path) -> list[dict]:
    try:
        out = [json.loads(line) for line in path.read_text().splitlines(keepends=True)
               if line.endswith("\n")]
        if not all(isinstance(e, dict) for e in out):
            raise ValueError("a line is not a JSON object")
        return out
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: not a readable epochs.jsonl ({e}); delete the trial's folder "
                         f"to train it again") from None


def read_record(folder: str | Path) -> TrialRecord:
    """The ``TrialRecord`` of a finished trial folder."""
    folder = Path(folder)
    try:
        s = json.loads((folder / "summary.json").read_text())
        rec = TrialRecord(s["name"], s["config"], s["status"], best_epoch=s["best_epoch"],
                          diverged_step=s["diverged_step"], test_loss=s["test_loss"],
                          test_acc=s["test_acc"], seconds=s["seconds"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{folder / 'summary.json'}: not a readable lrlab summary "
                         f"({type(e).__name__}: {e})") from None
    rec.epochs = _read_epochs(folder / "epochs.jsonl")
    rows = _read_steps(folder / "steps.csv")
    rec.lrs, rec.losses = [lr for _, lr, _ in rows], [loss for _, _, loss in rows]
    for path, n, want in [(folder / "steps.csv", len(rows), s.get("steps", len(rows))),
                          (folder / "epochs.jsonl", len(rec.epochs), s["epochs"])]:
        if n != want:
            raise ValueError(f"{path}: holds {n} rows where summary.json says {want}; delete the "
                             f"trial's folder to train it again")
    return rec


def read_trials(folder: str | Path) -> list[TrialRecord]:
    """Every trial of a run folder (or the one trial folder given): a finished trial's
    ``read_record``; an unfinished one as far as its files go (complete lines), status
    ``running``. Needs no torch."""
    out = []
    for f in trial_folders(folder):
        if (f / "summary.json").is_file():
            out.append(read_record(f))
            continue
        config, _ = read_trial(f) if (f / "config.json").is_file() else ({}, None)
        steps, epochs = f / "steps.csv", f / "epochs.jsonl"
        rows = _read_steps(steps) if steps.is_file() else []
        out.append(TrialRecord(f.name, config, lrs=[lr for _, lr, _ in rows],
                               losses=[loss for _, _, loss in rows],
                               epochs=_read_epochs(epochs) if epochs.is_file() else []))
    return out


def _check_weights(path: Path) -> None:
    """``model.pt`` loads as a dict of tensors (with ``weights_only=True``), else one line."""
    import torch

    from ..training.checkpoint import safe_load

    try:
        weights = safe_load(path)
        if not isinstance(weights, dict) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
            raise ValueError("not a dict of tensors")
    except Exception as e:
        raise ValueError(f"{path}: not readable weights ({type(e).__name__}); delete the trial's "
                         f"folder to train it again") from None


def trial_folders(folder: str | Path) -> list[Path]:
    """``folder`` itself when it is a trial folder, else the trial folders in it (a trial folder
    holds ``config.json`` or ``summary.json``)."""
    folder = Path(folder)
    marks = ("config.json", "summary.json")
    if any((folder / m).is_file() for m in marks):
        return [folder]
    found = sorted({p.parent for m in marks for p in folder.glob(f"*/{m}")}) if folder.is_dir() else []
    if not found:
        raise ValueError(f"{str(folder)!r} is not a run: no config.json in it or in its "
                         f"subfolders (give a folder written by lrlab train --out)")
    return found


def read_trial(folder: str | Path) -> tuple[dict, dict | None]:
    """``(config.json, summary.json or None while unfinished)`` of a trial folder."""
    folder = Path(folder)
    out = []
    for name in ("config.json", "summary.json"):
        path = folder / name
        if not path.is_file():
            out.append(None)
            continue
        try:
            data = json.loads(path.read_text())
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as e:
            raise ValueError(f"{path}: not a readable lrlab file ({e})") from None
        out.append(data)
    config, summary = out
    if config is None and summary is not None and "config" in summary:   # the summary holds it too
        config = {"task": summary.get("task"), "task_options": summary.get("task_options", {}),
                  **summary["config"]}
    if config is None or not isinstance(config.get("task"), str):
        raise ValueError(f"{folder / 'config.json'}: missing or without a task")
    return config, summary


def test_weights(folder: str | Path, task) -> tuple[float, float | None]:
    """Test loss and accuracy of a trial folder's ``model.pt`` (loaded with
    ``weights_only=True`` into ``task.build_model()``) on ``task``'s test split."""
    from ..training.checkpoint import safe_load
    from ..training.evaluate import evaluate

    path = Path(folder) / "model.pt"
    model = task.build_model()
    try:
        model.load_state_dict(safe_load(path))
    except Exception as e:  # unpickling, missing or mismatched weights: one line
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"cannot load {path} into the task's model: {first}") from None
    return evaluate(model, task, task.test)


test_weights.__test__ = False  # not a pytest test
