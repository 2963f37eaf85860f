"""The SQLite store of an experiment: ``DIR/results.sqlite``, one ``RecordSink`` for a whole
population, readable with the ``sqlite3`` shell and without lrlab.

Tables (schema version 1, in ``meta``):

- ``meta(key, value)``: ``schema_version``, ``lrlab_version``, ``torch_version`` (of the last
  trial started), ``experiment`` (the definition, JSON, when written by ``compare``);
- ``trial(id, key, name, schedule, seed, task, config, resolved, status, test_loss, test_acc,
  best_epoch, diverged_step, epochs, steps, seconds, started, finished)``: one row per trial;
  ``key`` identifies it by its task and full configuration (seed included; the name does not
  count), ``task`` and ``config`` are JSON, ``status`` is a ``TrialStatus``;
- ``epoch(trial_id, epoch, train_loss, train_acc, val_loss, val_acc, lr, seconds)``;
- ``step(trial_id, step, epoch, lr, loss)``: the LR applied and the loss at every step.

Write-ahead logging; every write is one transaction: a trial's start, each epoch (its steps and
metrics together) and its end (final metrics and status, the last write). Checkpoints are files
beside it (``DIR/checkpoints/<key>.pt``, atomic) and the tested weights ``DIR/models/<key>.pt``.
Running the same population again never trains or stores a trial twice: a finished trial is
read back, an unfinished one continues from its checkpoint (rows past it are dropped), one that
died before its first checkpoint starts over. So ``kill -9`` at any moment loses at most the
epoch in progress. One process at a time (``lock.OutputFolder``); a file that is not a store of
this schema is named, never trusted; the temporaries of killed writes are removed when the
store is opened.

    >>> import sqlite3, tempfile
    >>> from lrlab.training.engines import train_trial
    >>> from lrlab.training.tasks import load_task
    >>> from lrlab.training.trial import TrialConfig
    >>> out = tempfile.mkdtemp()
    >>> with Store(out) as store:
    ...     rec = train_trial(load_task("digits"), TrialConfig(epochs=2), store)
    >>> db = sqlite3.connect(f"{out}/results.sqlite")
    >>> db.execute("SELECT name, status, epochs FROM trial").fetchall()
    [('cosine-seed0', 'finished', 2)]
    >>> db.execute("SELECT COUNT(*) FROM step").fetchone()[0] == len(rec.lrs)
    True
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path

from ..fileio import atomic_write, remove_temporaries
from ..training.records import RecordSink, Resume, TrialRecord, TrialStatus
from .lock import OutputFolder

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trial (
    id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
    schedule TEXT NOT NULL, seed INTEGER NOT NULL, task TEXT NOT NULL, config TEXT NOT NULL,
    resolved TEXT, status TEXT NOT NULL, test_loss REAL, test_acc REAL, best_epoch INTEGER,
    diverged_step INTEGER, epochs INTEGER NOT NULL DEFAULT 0, steps INTEGER NOT NULL DEFAULT 0,
    seconds REAL NOT NULL DEFAULT 0, started TEXT, finished TEXT);
CREATE TABLE IF NOT EXISTS epoch (
    trial_id INTEGER NOT NULL REFERENCES trial(id), epoch INTEGER NOT NULL, train_loss REAL,
    train_acc REAL, val_loss REAL, val_acc REAL, lr REAL, seconds REAL,
    PRIMARY KEY (trial_id, epoch));
CREATE TABLE IF NOT EXISTS step (
    trial_id INTEGER NOT NULL REFERENCES trial(id), step INTEGER NOT NULL, epoch INTEGER NOT NULL,
    lr REAL NOT NULL, loss REAL, PRIMARY KEY (trial_id, step)) WITHOUT ROWID;
"""
_EPOCH_KEYS = ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")


def trial_key(task, cfg) -> str:
    """What identifies a trial: its task (spec and options) and full configuration, seed
    included, name excluded (a hex digest of their canonical JSON)."""
    config = {k: v for k, v in cfg.to_dict().items() if k != "name"}
    text = json.dumps({"task": task.spec, "task_options": task.options, "config": config},
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


class Store(OutputFolder, RecordSink):
    """The SQLite store of the experiment in folder ``out`` (a ``RecordSink``)."""

    def __init__(self, out: str | Path):
        super().__init__(out)
        self.path = self.out / "results.sqlite"
        self._db: sqlite3.Connection | None = None
        self._keys: dict[str, str] = {}         # trial name -> key
        self._ids: dict[str, int] = {}          # trial name -> trial.id
        self._rows: dict[str, list[tuple]] = {}  # steps of the epoch in progress
        self._epoch: dict[str, int] = {}
        self._resumed: dict[str, Resume] = {}

    # ---- the database ------------------------------------------------------------------
    def connect(self) -> sqlite3.Connection:
        """The open database (created with its schema on first use; one writer: this process)."""
        if self._db is None:
            self.claim()
            for folder in ("checkpoints", "models"):  # what killed atomic writes left there
                remove_temporaries(self.out / folder)
            try:
                db = sqlite3.connect(self.path, isolation_level=None)  # transactions: _write
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript(_SCHEMA)  # idempotent; this process holds the folder's lock
                db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                           (str(SCHEMA_VERSION),))
                from .. import __version__

                db.execute("INSERT OR IGNORE INTO meta VALUES ('lrlab_version', ?)", (__version__,))
                version = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            except sqlite3.DatabaseError as e:
                raise ValueError(f"{self.path}: not an lrlab store ({e}); move it away or choose "
                                 f"another --out") from None
            if version is None or version[0] != str(SCHEMA_VERSION):
                db.close()
                raise ValueError(f"{self.path}: store schema version {version and version[0]}, this "
                                 f"lrlab reads version {SCHEMA_VERSION}; choose another --out")
            self._db = db
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        super().close()

    def _write(self, *statements: tuple[str, tuple]) -> None:
        """Run ``statements`` as one transaction."""
        db = self.connect()
        db.execute("BEGIN IMMEDIATE")
        try:
            for sql, args in statements:
                db.execute(sql, args)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def checkpoint_path(self, name: str) -> Path:
        return self.out / "checkpoints" / f"{self._keys[name]}.pt"

    def weights_path(self, name: str) -> Path:
        return self.out / "models" / f"{self._keys[name]}.pt"

    # ---- before training ---------------------------------------------------------------
    def prepare(self, cfg, task, resume: bool = True) -> Resume | TrialRecord | None:
        """A finished trial's record, a ``Resume`` from its checkpoint, or None (from the start).
        The store always resumes: ``resume`` is accepted for the sink interface."""
        key = self._keys[cfg.name] = trial_key(task, cfg)
        row = self.connect().execute("SELECT id, status FROM trial WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        trial_id, status = row
        if status != "running":
            return read_record(self.connect(), trial_id)
        ckpt = self.checkpoint_path(cfg.name)
        if not ckpt.exists():
            return None
        from ..training import checkpoint

        state = checkpoint.load(ckpt, task.train.x.device)
        if state["config"] != cfg.to_dict():
            raise ValueError(f"{ckpt}: written by another configuration than trial {cfg.name}; "
                             f"delete it to train the trial from the start")
        rec = read_record(self.connect(), trial_id, state["step"], state["epoch"])
        if len(rec.lrs) < state["step"] or len(rec.epochs) < state["epoch"]:
            raise ValueError(f"{self.path}: holds less of trial {cfg.name} than its checkpoint "
                             f"(step {state['step']}, epoch {state['epoch']}); delete {ckpt} to "
                             f"train the trial from the start")
        rec.status = TrialStatus(state["status"])
        self._resumed[cfg.name] = Resume(state, rec, str(ckpt))
        return self._resumed[cfg.name]

    # ---- while training ----------------------------------------------------------------
    def trial_started(self, plan, task) -> None:
        import torch  # loaded already: a trial trains with it

        cfg = plan.cfg
        resumed = self._resumed.pop(cfg.name, None)
        step, epoch = (resumed.state["step"], resumed.state["epoch"]) if resumed else (0, 0)
        task_json = json.dumps({"spec": task.spec, "options": task.options})
        self._write(
            ("INSERT OR REPLACE INTO meta VALUES ('torch_version', ?)", (torch.__version__,)),
            ("INSERT INTO trial (key, name, schedule, seed, task, config, resolved, status, started) "
             "VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?) ON CONFLICT(key) DO UPDATE SET "
             "status = 'running', name = excluded.name",
             (self._keys[cfg.name], cfg.name, cfg.schedule, cfg.seed, task_json,
              json.dumps(cfg.to_dict()), plan.resolved, _now())),
            ("DELETE FROM step WHERE trial_id = (SELECT id FROM trial WHERE key = ?) AND step >= ?",
             (self._keys[cfg.name], step)),
            ("DELETE FROM epoch WHERE trial_id = (SELECT id FROM trial WHERE key = ?) AND epoch >= ?",
             (self._keys[cfg.name], epoch)),
            ("UPDATE trial SET steps = ?, epochs = ? WHERE key = ?", (step, epoch, self._keys[cfg.name])))
        self._ids[cfg.name] = self.connect().execute(
            "SELECT id FROM trial WHERE key = ?", (self._keys[cfg.name],)).fetchone()[0]
        self._rows[cfg.name], self._epoch[cfg.name] = [], epoch

    def step(self, name: str, step: int, lr: float, loss: float | None) -> None:
        self._rows[name].append((self._ids[name], step, self._epoch[name], lr, loss))

    def _steps(self, name: str) -> list[tuple[str, tuple]]:
        rows, self._rows[name] = self._rows[name], []
        return [("INSERT INTO step VALUES (?, ?, ?, ?, ?)", r) for r in rows] + [
            ("UPDATE trial SET steps = steps + ? WHERE id = ?", (len(rows), self._ids[name]))]

    def epoch(self, name: str, entry: dict) -> None:
        self._write(*self._steps(name), (
            "INSERT INTO epoch VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (self._ids[name], entry["epoch"], *(entry[k] for k in _EPOCH_KEYS))),
            ("UPDATE trial SET epochs = epochs + 1 WHERE id = ?", (self._ids[name],)))
        self._epoch[name] += 1

    def checkpoint(self, name: str, state: dict) -> None:
        from ..training import checkpoint

        checkpoint.save(self.checkpoint_path(name), state)

    def trial_finished(self, record: TrialRecord, weights: dict) -> None:
        import torch

        name = record.name
        atomic_write(self.weights_path(name), lambda f: torch.save(weights, f))
        self._write(*self._steps(name), (
            "UPDATE trial SET status = ?, test_loss = ?, test_acc = ?, best_epoch = ?, "
            "diverged_step = ?, seconds = ?, finished = ? WHERE id = ?",
            (str(record.status), record.test_loss, record.test_acc, record.best_epoch,
             record.diverged_step, record.seconds, _now(), self._ids[name])))
        self.checkpoint_path(name).unlink(missing_ok=True)


# ---- reading ---------------------------------------------------------------------------------
def read_record(db: sqlite3.Connection, trial_id: int, steps: int | None = None,
                epochs: int | None = None) -> TrialRecord:
    """A trial's ``TrialRecord`` from the store (its first ``steps`` steps and ``epochs``
    epochs when given)."""
    (name, config, status, test_loss, test_acc, best_epoch, diverged_step, seconds) = db.execute(
        "SELECT name, config, status, test_loss, test_acc, best_epoch, diverged_step, seconds "
        "FROM trial WHERE id = ?", (trial_id,)).fetchone()
    rows = db.execute("SELECT lr, loss FROM step WHERE trial_id = ? AND step < ? ORDER BY step",
                      (trial_id, 2**62 if steps is None else steps)).fetchall()
    cols = ", ".join(("epoch",) + _EPOCH_KEYS)
    ep = db.execute(f"SELECT {cols} FROM epoch WHERE trial_id = ? AND epoch < ? ORDER BY epoch",
                    (trial_id, 2**62 if epochs is None else epochs)).fetchall()
    return TrialRecord(name, json.loads(config), status, lrs=[r[0] for r in rows],
                       losses=[r[1] for r in rows],
                       epochs=[dict(zip(("epoch",) + _EPOCH_KEYS, e)) for e in ep],
                       best_epoch=best_epoch, diverged_step=diverged_step, test_loss=test_loss,
                       test_acc=test_acc, seconds=seconds)
