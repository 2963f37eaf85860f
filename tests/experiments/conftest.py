"""Helpers of the experiment tests (backends, tune): a store's rows, its epochs so far, processes by command line."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import tempfile
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


@pytest.fixture(scope="module")
def cluster(child_env, rows):
    """The address of a 2-CPU Ray head on 127.0.0.1 (token authentication off, as it is
    where only this machine joins) and its environment, stopped at the end of the module."""
    import socket

    pytest.importorskip("ray")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    temp = tempfile.mkdtemp(prefix="lrlab-ray-")
    env = {**child_env, "RAY_AUTH_MODE": "disabled"}
    started = subprocess.run(
        ["ray", "start", "--head", "--num-cpus=2", "--num-gpus=0", f"--port={port}",
         "--node-ip-address=127.0.0.1", "--include-dashboard=false", "--disable-usage-stats",
         f"--temp-dir={temp}"], env=env, capture_output=True, text=True, timeout=rows.HANG)
    assert started.returncode == 0, started.stderr[-2000:]
    before = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"
    try:
        yield f"127.0.0.1:{port}", env
    finally:
        if before is None:
            del os.environ["RAY_AUTH_MODE"]
        else:
            os.environ["RAY_AUTH_MODE"] = before
        for pid in rows.running_with(temp):  # this cluster's processes, not any other Ray's
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
