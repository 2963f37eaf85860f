"""The SQLite store of an experiment: ``DIR/results.sqlite``, one ``RecordSink`` for a whole
population, readable with the ``sqlite3`` shell and without lrlab.

Tables (schema version 1, in ``meta``):

- ``meta(key, value)``: ``schema_version``, ``lrlab_version``, ``torch_version`` (and
  ``paddle_version``, ``keras_version``, ``lightning_version`` when loaded) of the last trial
  started, ``experiment`` (the definition, JSON, when written by ``compare``),
  ``test_size`` (examples in the task's test split, written by ``compare``), ``tune`` (a
  tuning's definition, its draws and its seed, JSON, written by ``lrlab tune``);
- ``trial(id, key, name, schedule, seed, task, config, resolved, status, test_loss, test_acc,
  best_epoch, diverged_step, epochs, steps, seconds, started, finished)``: one row per trial;
  ``key`` identifies it by its task and full configuration (seed included; the name does not
  count), ``task`` and ``config`` are JSON, ``status`` is a ``TrialStatus``;
- ``epoch(trial_id, epoch, train_loss, train_acc, val_loss, val_acc, lr, seconds)``;
- ``step(trial_id, step, epoch, lr, loss)``: the LR applied and the loss at every step;
- ``example(trial_id, split, n, hits)``: which of the ``n`` examples of the ``test`` and
  ``val`` split the trial's final model gets right (``numpy.packbits``, in the split's order;
  classification only), written with the trial's end: the test set's own sampling noise is
  measured from it;
- ``failure(trial_id, message)``: why a ``failed`` trial failed (a user's trainer raised: the
  exception's last line; such a trial runs again next time);
- ``checkpoint(trial_id, step, epoch, state)``: an unfinished (or failed) trial's last
  checkpoint, taken after ``step`` steps and ``epoch`` epochs (``state``: the engine's bytes,
  ``lrlab.training.checkpoint.dumps``, or a trainer's ``trial.save``). A store written before
  these three tables existed gets them when next extended.

A user's trainer (``lrlab.experiments.trainers``) writes the same rows: its ``config`` has
``steps_per_epoch`` (and no optimizer, batch size or weight decay: the trainer's own), its
``task`` is ``trainer:<function>``, its step rows hold the schedule's LR and a NULL loss (not
measured), and a finished one may have no test metric (ranked on ``val_acc``).

Write-ahead logging; a trial's start is one transaction, and so is each ``commit`` of the
engine: a population's epoch (every trial's steps, metrics and checkpoint together, and the
ends of the trials that ended: final metrics and status, their last write). The tested weights
are files beside it, ``DIR/models/<key>.pt``. Running the same population again never trains
or stores a trial twice: a finished trial is read back, an unfinished one continues from its
checkpoint (rows past it are dropped), one that died before its first checkpoint starts over.
So ``kill -9`` at any moment loses at most the population epoch in progress. One writer: this
process (``lock.OutputFolder``; workers send their records here,
``lrlab.experiments.backends``); the temporaries of killed writes are removed when the store is
opened.

A store is checked whenever it is opened, for writing or reading (:func:`check`): SQLite's
``quick_check``, the schema version and tables, and every trial's row against its steps and
epochs (a known status, a configuration that validates and matches its key, metrics in range,
an ended trial complete). A file that fails is named in one line and neither read nor extended;
another program's SQLite file is refused before anything is added to it. A write that fails
(a full disk) is one line naming the file, and the same command continues once there is space.

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
    >>> with Reader.open(out) as r:  # one checked, consistent read
    ...     [(t.name, t.status, len(r.epochs(t.id)), len(r.lrs(t.id))) for t in r.trials()]
    [('cosine-seed0', 'finished', 2, 38)]
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sqlite3
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..fileio import atomic_write, remove_temporaries
from ..training.records import Resume, TrialRecord, TrialSink, TrialStatus
from ..training.trial import TrialConfig
from .lock import OutputFolder

STORE = "results.sqlite"

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
CREATE TABLE IF NOT EXISTS example (
    trial_id INTEGER NOT NULL REFERENCES trial(id), split TEXT NOT NULL, n INTEGER NOT NULL,
    hits BLOB NOT NULL, PRIMARY KEY (trial_id, split));
CREATE TABLE IF NOT EXISTS failure (
    trial_id INTEGER PRIMARY KEY REFERENCES trial(id), message TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS checkpoint (
    trial_id INTEGER PRIMARY KEY REFERENCES trial(id), step INTEGER NOT NULL,
    epoch INTEGER NOT NULL, state BLOB NOT NULL);
"""
_ADDED = _SCHEMA.strip().split(";")[-4:-1]  # the tables added after the first stores were written
_EPOCH_KEYS = ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")
_COLUMNS = {"meta": ("key", "value"),
            "trial": ("id", "key", "name", "schedule", "seed", "task", "config", "resolved",
                      "status", "test_loss", "test_acc", "best_epoch", "diverged_step", "epochs",
                      "steps", "seconds", "started", "finished"),
            "epoch": ("trial_id", "epoch", *_EPOCH_KEYS),
            "step": ("trial_id", "step", "epoch", "lr", "loss"),
            "example": ("trial_id", "split", "n", "hits"),
            "failure": ("trial_id", "message"),
            "checkpoint": ("trial_id", "step", "epoch", "state")}


def trial_key(task, cfg) -> str:
    """What identifies a trial: its task (spec and options) and full configuration, seed
    included, name excluded (a hex digest of their canonical JSON)."""
    return _key(task.spec, task.options, cfg.to_dict())


def _key(spec: str, options: dict, config: dict) -> str:
    config = {k: v for k, v in config.items() if k != "name"}
    text = json.dumps({"task": spec, "task_options": options, "config": config},
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


class Store(OutputFolder, TrialSink):
    """The SQLite store of the experiment in folder ``out`` (a ``TrialSink``)."""

    def __init__(self, out: str | Path):
        OutputFolder.__init__(self, out)
        TrialSink.__init__(self)
        self.path = self.out / STORE
        self._db: sqlite3.Connection | None = None
        self._keys: dict[str, str] = {}         # trial name -> key
        self._ids: dict[str, int] = {}          # trial name -> trial.id
        self._pending: list[tuple[str, tuple]] = []  # the writes of the next commit

    # ---- the database ------------------------------------------------------------------
    def connect(self) -> sqlite3.Connection:
        """The open database (created with its schema on first use; one writer: this process).
        An existing file is checked (:func:`check`) read-only before the folder is touched, so
        a refused store gets no lock file and loses nothing."""
        if self._db is None:
            if self.path.is_symlink() or (self.path.exists() and not self.path.is_file()):
                raise ValueError(f"{self.path}: not a file; move it away or choose another --out")
            if self.path.is_file() and self.path.stat().st_size:
                open_store(self.out).close()
            self.claim()
            remove_temporaries(self.out, "report.html")  # what killed atomic writes left
            for folder in ("report", "models"):
                remove_temporaries(self.out / folder)
            db = None
            try:
                db = sqlite3.connect(self.path.resolve().as_uri(), uri=True,
                                     isolation_level=None)  # transactions: _write
                if not _objects(db):  # a new (or empty) file: ours to set up
                    db.execute("PRAGMA journal_mode=WAL")
                    from .._version import __version__

                    db.execute("BEGIN IMMEDIATE")
                    for statement in filter(str.strip, _SCHEMA.split(";")):
                        db.execute(statement)
                    db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                    db.execute("INSERT INTO meta VALUES ('lrlab_version', ?)", (__version__,))
                    db.execute("COMMIT")
                else:
                    for statement in _ADDED:  # IF NOT EXISTS: a store of an earlier lrlab gets them
                        db.execute(statement)
            except sqlite3.DatabaseError as e:
                if db is not None:
                    db.close()
                raise _unwritable(self.path, e) from None
            except BaseException:
                if db is not None:
                    db.close()
                raise
            self._db = db
        return self._db

    def meta(self, key: str) -> str | None:
        row = self.connect().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        self._write(("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value)))

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        super().close()

    def _write(self, *statements: tuple[str, tuple]) -> None:
        """Run ``statements`` as one transaction; a failed write (a full disk) is one line
        naming the file, and nothing of the transaction stays."""
        db = self.connect()
        try:
            db.execute("BEGIN IMMEDIATE")
            for sql, args in statements:
                db.execute(sql, args)
            db.execute("COMMIT")
        except BaseException as e:
            if db.in_transaction:  # SQLite may have rolled back itself (disk full)
                db.execute("ROLLBACK")
            if isinstance(e, sqlite3.DatabaseError):
                raise _unwritable(self.path, e) from None
            raise

    def records(self, names: list[str]) -> list[TrialRecord]:
        """The records of trials ``names`` (each ``prepare``d) as the store holds them."""
        db = self.connect()
        return [read_record(db, db.execute("SELECT id FROM trial WHERE key = ?",
                                           (self._keys[n],)).fetchone()[0]) for n in names]

    def reader(self) -> Reader:
        """A ``Reader`` over this store's own connection (commit first what is pending)."""
        return Reader(self.connect(), self.path, own=False)

    def weights_path(self, name: str) -> Path:
        return self.out / "models" / f"{self._keys[name]}.pt"

    # ---- before training ---------------------------------------------------------------
    def _find(self, cfg, task, resume: bool) -> Resume | TrialRecord | None:
        """A finished trial's record, a ``Resume`` from its checkpoint, or None (from the start).
        The store always resumes: ``resume`` is accepted for the sink interface."""
        key = self._keys[cfg.name] = trial_key(task, cfg)
        row = self.connect().execute("SELECT id, status FROM trial WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        trial_id, status = row
        if status not in ("running", "failed"):  # a failed trial runs again (fixed code)
            return read_record(self.connect(), trial_id)
        row = self.connect().execute("SELECT step, epoch, state FROM checkpoint WHERE trial_id = ?",
                                     (trial_id,)).fetchone()
        if row is None:
            return None
        step, epoch, blob = row
        rec = read_record(self.connect(), trial_id, step, epoch)  # check: no fewer rows
        return Resume(blob, rec, step, epoch, f"{self.path}: the checkpoint of trial {cfg.name}",
                      f"to train the trial from the start, drop it: sqlite3 {self.path} "
                      f"'DELETE FROM checkpoint WHERE trial_id = {trial_id}'")

    # ---- while training ----------------------------------------------------------------
    def _start(self, plan, task, resumed: Resume | None, step: int, epoch: int) -> None:
        """The trial runs from ``(step, epoch)``: its row is written (or set running again),
        the rows past that point dropped, in one transaction."""
        cfg, key = plan.cfg, self._keys[plan.cfg.name]
        versions = [(f"{name}_version", sys.modules[name].__version__)
                    for name in ("torch", "paddle", "keras", "lightning") if name in sys.modules]
        task_json = json.dumps({"spec": task.spec, "options": task.options})
        self._write(
            *self._flush(),
            *(("INSERT OR REPLACE INTO meta VALUES (?, ?)", v) for v in versions),
            ("INSERT INTO trial (key, name, schedule, seed, task, config, resolved, status, started) "
             "VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?) ON CONFLICT(key) DO UPDATE SET "
             "status = 'running', name = excluded.name",
             (key, cfg.name, cfg.schedule, cfg.seed, task_json, json.dumps(cfg.to_dict()),
              plan.resolved, _now())),
            ("DELETE FROM failure WHERE trial_id = (SELECT id FROM trial WHERE key = ?)",
             (key,)),  # running again: its last failure is over
            ("DELETE FROM step WHERE trial_id = (SELECT id FROM trial WHERE key = ?) AND step >= ?",
             (key, step)),
            ("DELETE FROM epoch WHERE trial_id = (SELECT id FROM trial WHERE key = ?) AND epoch >= ?",
             (key, epoch)),
            ("UPDATE trial SET steps = ?, epochs = ? WHERE key = ?", (step, epoch, key)))
        self._ids[cfg.name] = self.connect().execute(
            "SELECT id FROM trial WHERE key = ?", (key,)).fetchone()[0]

    def _steps(self, name: str, rows: list[tuple]) -> list[tuple[str, tuple]]:
        tid = self._ids[name]
        return [("INSERT INTO step VALUES (?, ?, ?, ?, ?)", (tid, *r)) for r in rows] + [
            ("UPDATE trial SET steps = steps + ? WHERE id = ?", (len(rows), tid))]

    def _epoch(self, name: str, rows: list[tuple], entry: dict) -> None:
        self._pending += [*self._steps(name, rows), (
            "INSERT INTO epoch VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (self._ids[name], entry["epoch"], *(entry[k] for k in _EPOCH_KEYS))),
            ("UPDATE trial SET epochs = epochs + 1 WHERE id = ?", (self._ids[name],))]

    def _checkpoint(self, name: str, blob: bytes, step: int, epoch: int) -> None:
        self._pending.append(("INSERT OR REPLACE INTO checkpoint VALUES (?, ?, ?, ?)",
                              (self._ids[name], step, epoch, blob)))

    def commit(self) -> None:
        """Everything sent since the last commit, as one transaction (a population's epoch:
        its trials' steps, epochs, checkpoints and ends)."""
        if self._pending:
            self._write(*self._flush())

    def _flush(self) -> list[tuple[str, tuple]]:
        pending, self._pending = self._pending, []
        return pending

    def _finish(self, record: TrialRecord, rows: list[tuple], weights: bytes | None) -> None:
        """The trial's end, in the next commit: its final metrics and status (``record.error``
        for a failed one; a failed trial keeps its checkpoint for its next run, the others drop
        it); ``weights`` (the tested model's state dict, ``torch.save``'s bytes; None for a
        trainer's trial) are written now, to ``models/``."""
        name = record.name
        if weights is not None:
            atomic_write(self.weights_path(name), weights)
        failure = (("INSERT OR REPLACE INTO failure VALUES (?, ?)", (self._ids[name], record.error))
                   if record.error is not None else
                   ("DELETE FROM failure WHERE trial_id = ?", (self._ids[name],)))
        self._pending += [*self._steps(name, rows), failure, *(
            ("INSERT OR REPLACE INTO example VALUES (?, ?, ?, ?)", (self._ids[name], split, n, hits))
            for split, (n, hits) in record.examples.items()), (
            "UPDATE trial SET status = ?, test_loss = ?, test_acc = ?, best_epoch = ?, "
            "diverged_step = ?, seconds = ?, finished = ? WHERE id = ?",
            (str(record.status), record.test_loss, record.test_acc, record.best_epoch,
             record.diverged_step, record.seconds, _now(), self._ids[name]))]
        if record.status != TrialStatus.FAILED:
            self._pending.append(("DELETE FROM checkpoint WHERE trial_id = ?", (self._ids[name],)))


# ---- reading ---------------------------------------------------------------------------------
@dataclass
class TrialRow:
    """One row of the ``trial`` table (``config`` parsed; ``n_epochs``: how many were stored)."""

    id: int
    name: str
    status: str
    config: dict
    test_acc: float | None
    test_loss: float | None
    best_epoch: int | None
    diverged_step: int | None
    n_epochs: int
    steps: int
    seconds: float
    resolved: str | None


class Reader:
    """One consistent read of a store: everything read between ``with`` and its end comes from
    one read transaction (a snapshot), whatever a writer commits meanwhile. ``Reader.open(out)``
    opens the store in ``out`` read-only and checked (:func:`open_store`); ``Store.reader()``
    reads through the writer's own connection (this process wrote it: no check again). Every
    reader of a store (the report, ``lrlab show``, ``read_records``) reads through it.
    """

    def __init__(self, db: sqlite3.Connection, path: Path, own: bool):
        self.db, self.path, self._own = db, path, own

    @classmethod
    def open(cls, out: str | Path) -> Reader:
        return cls(open_store(out), Path(out) / STORE, own=True)

    def __enter__(self) -> Reader:
        self.db.execute("BEGIN")
        return self

    def __exit__(self, *exc) -> None:
        if self.db.in_transaction:
            self.db.execute("COMMIT")  # a read transaction: nothing to write
        if self._own:
            self.db.close()

    def meta(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT key, value FROM meta"))

    def trials(self) -> list[TrialRow]:
        """Every trial row, in the order they were first started."""
        return [TrialRow(tid, name, status, json.loads(config), acc, loss, best, div, n, steps,
                         secs or 0.0, res)
                for (tid, name, status, config, acc, loss, best, div, n, steps, secs, res)
                in self.db.execute(
                    "SELECT id, name, status, config, test_acc, test_loss, best_epoch, "
                    "diverged_step, epochs, steps, seconds, resolved FROM trial ORDER BY id")]

    def epochs(self, trial_id: int) -> list[dict]:
        """A trial's epoch rows: ``{"epoch", "train_loss", ..., "seconds"}``, in order."""
        cols = ("epoch",) + _EPOCH_KEYS
        return [dict(zip(cols, r)) for r in self.db.execute(
            f"SELECT {', '.join(cols)} FROM epoch WHERE trial_id = ? ORDER BY epoch", (trial_id,))]

    def lrs(self, trial_id: int) -> list[float]:
        """The LR a trial applied at every step."""
        return [r[0] for r in self.db.execute(
            "SELECT lr FROM step WHERE trial_id = ? ORDER BY step", (trial_id,))]

    def examples(self, split: str = "test") -> dict[int, tuple[int, bytes]]:
        return read_examples(self.db, split)

    def failures(self) -> dict[int, str]:
        return read_failures(self.db)

    def record(self, trial_id: int) -> TrialRecord:
        return read_record(self.db, trial_id)

    def fingerprint(self) -> tuple:
        return fingerprint(self.db)


def read_examples(db: sqlite3.Connection, split: str = "test") -> dict[int, tuple[int, bytes]]:
    """Every trial's per-example correctness on ``split``: ``{trial id: (n, packed bits)}``
    (no entry for a regression trial, a diverged one, or any trial of an earlier lrlab's
    store)."""
    if ("table", "example") not in _objects(db):
        return {}
    return {tid: (n, hits) for tid, n, hits in db.execute(
        "SELECT trial_id, n, hits FROM example WHERE split = ?", (split,))}


def read_failures(db: sqlite3.Connection) -> dict[int, str]:
    """Every failed trial's message: ``{trial id: the exception's last line}``."""
    if ("table", "failure") not in _objects(db):
        return {}
    return dict(db.execute("SELECT trial_id, message FROM failure"))


def read_records(out: str | Path) -> list[TrialRecord]:
    """Every trial of the store in ``out`` (checked, read-only), in the order they started; an
    unfinished one as far as it got (status ``running``)."""
    with Reader.open(out) as r:
        return [r.record(t.id) for t in r.trials()]


def read_record(db: sqlite3.Connection, trial_id: int, steps: int | None = None,
                epochs: int | None = None) -> TrialRecord:
    """A trial's ``TrialRecord`` from the store (its first ``steps`` steps and ``epochs``
    epochs when given)."""
    (name, config, status, test_loss, test_acc, best_epoch, diverged_step, seconds) = db.execute(
        "SELECT name, config, status, test_loss, test_acc, best_epoch, diverged_step, seconds "
        "FROM trial WHERE id = ?", (trial_id,)).fetchone()
    error = read_failures(db).get(trial_id) if status == "failed" else None
    rows = db.execute("SELECT lr, loss FROM step WHERE trial_id = ? AND step < ? ORDER BY step",
                      (trial_id, 2**62 if steps is None else steps)).fetchall()
    cols = ", ".join(("epoch",) + _EPOCH_KEYS)
    ep = db.execute(f"SELECT {cols} FROM epoch WHERE trial_id = ? AND epoch < ? ORDER BY epoch",
                    (trial_id, 2**62 if epochs is None else epochs)).fetchall()
    return TrialRecord(name, json.loads(config), status, lrs=[r[0] for r in rows],
                       losses=[r[1] for r in rows],
                       epochs=[dict(zip(("epoch",) + _EPOCH_KEYS, e)) for e in ep],
                       best_epoch=best_epoch, diverged_step=diverged_step, test_loss=test_loss,
                       test_acc=test_acc, seconds=seconds, error=error)


# ---- checking ----------------------------------------------------------------------------
def _unwritable(path: Path, e: sqlite3.DatabaseError) -> Exception:
    """A database error as one line naming the file: a full disk (``OSError``, the same command
    continues once there is space) or a file that is not a readable store (``ValueError``)."""
    text = str(e)
    if isinstance(e, sqlite3.OperationalError) and ("full" in text or "I/O" in text
                                                     or "readonly" in text or "read-only" in text):
        return OSError(f"{path}: cannot write ({text}); free space (or make it writable) and run "
                       f"the same command again: what was stored is kept")
    return _foreign(path, text)


def _foreign(path: Path, why: str) -> ValueError:
    return ValueError(f"{path}: not an lrlab store ({why}); move it away or choose another --out")


def _objects(db: sqlite3.Connection) -> set[tuple[str, str]]:
    """``(type, name)`` of everything in ``db``'s schema (none: a new file)."""
    return set(db.execute("SELECT type, name FROM sqlite_master"))


_OBJECTS = {("table", "meta"), ("table", "trial"), ("table", "epoch"), ("table", "step"),
            ("index", "sqlite_autoindex_meta_1"), ("index", "sqlite_autoindex_trial_1"),
            ("index", "sqlite_autoindex_epoch_1"), ("table", "example"),
            ("index", "sqlite_autoindex_example_1"), ("table", "failure"), ("table", "checkpoint")}
_LATER = {"example", "failure", "checkpoint"}  # tables a store of an earlier lrlab may lack


def _damaged(path: Path, what: str) -> ValueError:
    return ValueError(f"{path}: damaged store: {what}; it is neither read nor extended (move it "
                      f"away or choose another --out)")


def open_store(out: str | Path) -> sqlite3.Connection:
    """The store in folder ``out``, opened read-only and checked (:func:`check`); one-line
    ``ValueError`` when there is none or it fails. Any path works (``%``, ``#``, ``?``, spaces,
    unicode, ``file:``): the SQLite URI is built by ``Path.as_uri``, which escapes them. In a
    folder nobody can write (a read-only mount) the file is read as immutable."""
    path = Path(out) / STORE
    db = _read_only(path)
    try:
        check(db, path)
    except BaseException:
        db.close()
        raise
    return db


def _read_only(path: Path) -> sqlite3.Connection:
    """``path`` opened read-only, unchecked (see :func:`open_store`)."""
    if not path.is_file():
        raise ValueError(f"{path.parent}: no {STORE} here (not a folder of `lrlab compare`)")
    uri = path.resolve().as_uri()
    try:
        db = sqlite3.connect(uri + "?mode=ro", uri=True)
        try:
            db.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        except sqlite3.OperationalError as e:
            db.close()
            wal = path.with_name(path.name + "-wal")
            if os.access(path.parent, os.W_OK) or (wal.exists() and wal.stat().st_size):
                # a log nobody may fold in holds committed writes: never read around it
                raise ValueError(f"{path}: cannot open ({e}); it needs read and write access to "
                                 f"its folder{' (a write-ahead log is pending)' if wal.exists() else ''}"
                                 ) from None
            db = sqlite3.connect(uri + "?immutable=1", uri=True)  # no writer can exist here
    except sqlite3.OperationalError as e:
        raise ValueError(f"{path}: cannot open ({e})") from None
    except sqlite3.DatabaseError as e:
        raise _foreign(path, e) from None
    return db


def check(db: sqlite3.Connection, path: Path) -> None:
    """Refuse, in one ``ValueError`` line naming ``path``, a database that is not an intact
    lrlab store of this schema version: SQLite's ``quick_check``, the tables and their columns,
    ``schema_version``, and every trial (:func:`_check_trials`)."""
    try:
        result = [r[0] for r in db.execute("PRAGMA quick_check")]
        if result != ["ok"]:
            raise _damaged(path, f"SQLite's quick_check says {result[0]!r}")
        objects = _objects(db)
        if ("table", "meta") not in objects:
            names = ", ".join(f"{t} {n}" for t, n in sorted(objects)) or "nothing"
            raise _foreign(path, f"it holds {names}")
        version = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if version is None or version[0] != str(SCHEMA_VERSION):
            raise ValueError(f"{path}: store schema version {version and version[0]}, this lrlab "
                             f"reads version {SCHEMA_VERSION}; choose another --out")
        for table, columns in _COLUMNS.items():
            have = tuple(r[1] for r in db.execute(f"PRAGMA table_info({table})"))
            if not have and table in _LATER:
                continue
            if have != columns:
                raise _damaged(path, f"table {table} has columns {', '.join(have) or 'none'}, "
                                     f"not {', '.join(columns)}")
        extra = sorted(objects - _OBJECTS)  # a trigger or view would run or lie on our reads
        if extra:
            raise _damaged(path, f"it holds {extra[0][0]} {extra[0][1]!r}, which lrlab never "
                                 f"creates")
        _check_types(db, path)
        _check_trials(db, path, objects)
    except sqlite3.DatabaseError as e:
        raise _foreign(path, e) from None


_TYPES = (  # (table, what must hold of every row): types and ranges SQL checks in one pass each
    ("trial", "typeof(seed) = 'integer' AND typeof(epochs) = 'integer' AND "
              "typeof(steps) = 'integer' AND typeof(seconds) IN ('real', 'integer') AND "
              "seconds >= 0 AND seconds < 1e300 AND typeof(test_acc) IN ('real', 'integer', 'null') "
              "AND typeof(test_loss) IN ('real', 'integer', 'null') AND "
              "typeof(best_epoch) IN ('integer', 'null') AND "
              "typeof(diverged_step) IN ('integer', 'null')"),
    ("epoch", "typeof(epoch) = 'integer' AND "
              + " AND ".join(f"typeof({k}) IN ('real', 'integer', 'null')" for k in _EPOCH_KEYS)
              + " AND (seconds IS NULL OR (seconds >= 0 AND seconds < 1e300))"),
    ("step", "typeof(step) = 'integer' AND typeof(epoch) = 'integer' AND "
             "typeof(lr) IN ('real', 'integer') AND typeof(loss) IN ('real', 'integer', 'null') "
             "AND (loss IS NULL OR loss >= 0) AND epoch >= 0 AND "
             "epoch <= (SELECT epochs FROM trial WHERE trial.id = step.trial_id)"),
)


def _check_types(db: sqlite3.Connection, path: Path) -> None:
    for table, rule in _TYPES:
        row = db.execute(f"SELECT rowid FROM {table} WHERE NOT ({rule}) LIMIT 1"
                         if table != "step" else
                         f"SELECT trial_id, step FROM step WHERE NOT ({rule}) LIMIT 1").fetchone()
        if row is not None:
            raise _damaged(path, f"a row of table {table} holds a value of the wrong type or "
                                 f"out of range ({table} row {row[0] if table != 'step' else row})")


def _fraction(x) -> bool:
    return x is None or (isinstance(x, (int, float)) and 0.0 <= x <= 1.0)


def _loss(x, infinite: bool = False) -> bool:
    return x is None or (isinstance(x, (int, float)) and x >= 0.0 and (infinite or math.isfinite(x)))


def _check_trials(db: sqlite3.Connection, path: Path, objects: set) -> None:
    """Every trial row against its steps and epochs (aggregated in SQL: one pass each), its
    per-example results against its test accuracy and its failure message against its status
    (when the store has those tables)."""
    steps = {r[0]: r[1:] for r in db.execute(
        "SELECT trial_id, COUNT(*), MIN(step), MAX(step), MIN(lr), MAX(lr) FROM step "
        "GROUP BY trial_id")}
    epochs = {r[0]: r[1:] for r in db.execute(
        "SELECT trial_id, COUNT(*), MIN(epoch), MAX(epoch), MIN(lr), MAX(lr), "
        "MIN(train_acc), MAX(train_acc), MIN(val_acc), MAX(val_acc), "
        "MIN(train_loss), MIN(val_loss) FROM epoch GROUP BY trial_id")}
    known = {str(s) for s in TrialStatus}
    accs: dict[int, float | None] = {}  # trial id -> test_acc
    for (tid, key, name, schedule, seed, task, config, status, test_loss, test_acc, best,
         diverged, n_epochs, n_steps) in db.execute(
            "SELECT id, key, name, schedule, seed, task, config, status, test_loss, test_acc, "
            "best_epoch, diverged_step, epochs, steps FROM trial"):
        accs[tid] = test_acc
        where = f"trial {name!r} (id {tid})"
        if status not in known:
            raise _damaged(path, f"{where} has status {status!r}, not one of {', '.join(known)}")
        try:
            cfg_data, task_data = json.loads(config), json.loads(task)
            cfg = TrialConfig.from_dict(cfg_data)
            spec, options = task_data["spec"], task_data["options"]
            if _key(spec, options, cfg.to_dict()) != key:
                raise ValueError("its configuration does not match its key")
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as e:
            raise _damaged(path, f"{where}: its configuration is not lrlab's ({e})") from None
        if (cfg.name, cfg.schedule, cfg.seed) != (name, schedule, seed):
            raise _damaged(path, f"{where}: name, schedule or seed differ from its configuration")
        n, first, last, lr_low, lr_high = steps.get(tid, (0, None, None, None, None))
        if n != n_steps or (n and (first != 0 or last != n - 1)):
            raise _damaged(path, f"{where} records {n_steps} steps and has {n} step rows")
        if n and not (lr_low >= 0 and math.isfinite(lr_high)):
            raise _damaged(path, f"{where} has a step LR out of range ({lr_low} .. {lr_high})")
        e = epochs.get(tid, (0,) + (None,) * 10)
        if e[0] != n_epochs or (e[0] and (e[1] != 0 or e[2] != e[0] - 1)):
            raise _damaged(path, f"{where} records {n_epochs} epochs and has {e[0]} epoch rows")
        if e[0] and not (e[3] >= 0 and math.isfinite(e[4]) and all(map(_fraction, e[5:9]))
                         and _loss(e[9], True) and _loss(e[10], True)):
            raise _damaged(path, f"{where} has epoch metrics out of range")
        if not (_fraction(test_acc) and _loss(test_loss, status == "diverged")):
            raise _damaged(path, f"{where} has test_acc {test_acc!r}, test_loss {test_loss!r}")
        if status in ("finished", "early-stopped"):
            if (test_loss is None and test_acc is None and not cfg.is_trainer) or n_epochs < 1 or (
                    n_epochs > cfg.epochs) or (
                    status == "finished" and n_epochs != cfg.epochs):
                raise _damaged(path, f"{where} is {status} but incomplete ({n_epochs} of "
                                     f"{cfg.epochs} epochs, test_acc {test_acc!r}, test_loss "
                                     f"{test_loss!r})")
        if best is not None and not (isinstance(best, int) and 0 <= best < max(n_epochs, 1)):
            raise _damaged(path, f"{where} has best_epoch {best!r}")
        if diverged is not None and not (isinstance(diverged, int) and diverged >= 0):
            raise _damaged(path, f"{where} has diverged_step {diverged!r}")
    statuses: dict[int, str] = dict(db.execute("SELECT id, status FROM trial"))
    if ("table", "checkpoint") in objects:
        for tid, step, epoch, kind in db.execute(
                "SELECT c.trial_id, c.step - t.steps, c.epoch - t.epochs, typeof(c.state) "
                "FROM checkpoint c LEFT JOIN trial t ON t.id = c.trial_id"):
            if statuses.get(tid) not in ("running", "failed") or kind != "blob" or not (
                    isinstance(step, int) and isinstance(epoch, int) and step <= 0 and epoch <= 0):
                raise _damaged(path, f"the checkpoint of trial id {tid} does not fit the trial")
    if ("table", "failure") in objects:
        for tid, message in db.execute("SELECT trial_id, message FROM failure"):
            if statuses.get(tid) != "failed" or not isinstance(message, str):
                raise _damaged(path, f"a failure message of trial id {tid}, which has not failed")
    examples = (db.execute("SELECT trial_id, split, n, hits FROM example")
                if ("table", "example") in objects else [])
    for tid, split, n, hits in examples:
        ok = (tid in accs and split in ("test", "val") and isinstance(n, int) and n > 0
              and isinstance(hits, bytes) and len(hits) == (n + 7) // 8)
        right = int.from_bytes(hits, "big").bit_count() if ok else 0
        if ok and split == "test" and accs[tid] is not None:
            ok = abs(right / n - accs[tid]) < 1e-9
        if not ok:
            raise _damaged(path, f"its per-example results of trial id {tid} ({split!r}) do not "
                                 f"match the trial")
    orphans = (set(steps) | set(epochs)) - set(accs)
    if orphans:
        raise _damaged(path, f"rows of trial id {min(orphans)}, which is not in the trial table")
    experiment = db.execute("SELECT value FROM meta WHERE key = 'experiment'").fetchone()
    if experiment is not None:
        from .spec import experiment as validate

        try:
            validate(json.loads(experiment[0]))
        except (ValueError, TypeError, RecursionError) as e:
            raise _damaged(path, f"its recorded experiment is not one lrlab writes ({e})") from None


def read_fingerprint(out: str | Path) -> tuple:
    """The :func:`fingerprint` of the store in ``out`` now (no check: it only tells whether
    the store changed since a checked read)."""
    db = _read_only(Path(out) / STORE)
    try:
        return fingerprint(db)
    finally:
        db.close()


def fingerprint(db: sqlite3.Connection) -> tuple:
    """What changes whenever a trial is written (a start, an epoch, an end) or the definition
    is: a reader compares two to know whether the store changed between them."""
    return db.execute(
        "SELECT COUNT(*), TOTAL(steps), TOTAL(epochs), GROUP_CONCAT(id || status || name, ','), "
        "(SELECT value FROM meta WHERE key = 'experiment') FROM trial").fetchone()
