"""Helpers of the experiment tests (backends, tune): a store's rows, its epochs so far, processes by command line."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from types import SimpleNamespace

import pytest

SCHEDULES = ["cosine", "step", "constant"]
HANG = 900  # a hang guard only


def tables(out):
    """Every row a trial leaves in the store (wall-clock seconds aside)."""
    db = sqlite3.connect(Path(out) / "results.sqlite")
    try:
        return [db.execute(q).fetchall() for q in (
            "SELECT name, status, test_acc, test_loss, best_epoch, epochs, steps FROM trial ORDER BY name",
            "SELECT t.name, s.step, s.epoch, s.lr, s.loss FROM step s JOIN trial t ON t.id = s.trial_id ORDER BY 1, 2",
            "SELECT t.name, e.epoch, e.train_loss, e.train_acc, e.val_loss, e.val_acc, e.lr FROM epoch e "
            "JOIN trial t ON t.id = e.trial_id ORDER BY 1, 2",
            "SELECT t.name, x.split, x.hits FROM example x JOIN trial t ON t.id = x.trial_id ORDER BY 1, 2",
            "SELECT COUNT(*) FROM checkpoint")]
    finally:
        db.close()


def epochs_stored(out) -> int:
    path = Path(out) / "results.sqlite"
    if not path.exists():
        return 0
    db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        return db.execute("SELECT COUNT(*) FROM epoch").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0
    finally:
        db.close()


def children(pid: int) -> list[int]:
    return [int(p) for task in Path(f"/proc/{pid}/task").iterdir()
            for p in (task / "children").read_text().split()]


def running_with(text: str) -> list[int]:
    """Processes whose command line, or a file they hold open, names ``text``."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if not proc.name.isdigit():
                continue
            if text.encode() in (proc / "cmdline").read_bytes() or any(
                    text in str(fd.readlink()) for fd in (proc / "fd").iterdir()):
                found.append(int(proc.name))
        except OSError:
            continue
    return found


@pytest.fixture(scope="session")
def rows():
    """``tables``, ``epochs_stored``, ``children`` and ``running_with`` of this module."""
    return SimpleNamespace(tables=tables, epochs_stored=epochs_stored, children=children,
                           running_with=running_with, SCHEDULES=SCHEDULES, HANG=HANG)
