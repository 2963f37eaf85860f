"""The local backend's worker processes: the same ranking as one process, deterministic, a
killed worker loses only its epoch in progress, and a killed driver leaves no worker behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lrlab.experiments.backends import WorkerLost
from lrlab.experiments.runner import compare

@pytest.fixture(scope="module")
def whole(tmp_path_factory, rows):
    """An uninterrupted 2-worker comparison: its folder."""
    out = tmp_path_factory.mktemp("whole") / "cmp"
    compare("digits", rows.SCHEDULES, seeds=2, epochs=4, out=out, workers=2)
    return out


def test_two_worker_processes_rank_as_one_process(whole, tmp_path, rows):
    one = compare("digits", rows.SCHEDULES, seeds=2, epochs=4, out=tmp_path, workers=1)
    (a, _, a_epochs, *_), (b, _, b_epochs, *_) = rows.tables(tmp_path), rows.tables(whole)
    assert [r[:2] for r in a] == [r[:2] for r in b]
    # threads split the sums otherwise: within 4 of the 360 test images, losses within 5 %
    # (measured: most epochs bit-equal, the largest difference 2 % after 4 epochs)
    assert all(abs(x[2] - y[2]) <= 4 / 360 for x, y in zip(a, b))
    assert all(x[-1] == y[-1] and x[4] == pytest.approx(y[4], rel=0.05)
               for x, y in zip(a_epochs, b_epochs))
    assert [r["name"] for r in one.ranking] and len(one.records) == 6


def test_a_killed_worker_stops_the_run_in_one_line_and_the_rerun_ends_identical(whole, tmp_path, rows):
    killed = []

    def kill_one(event):
        if not killed and event.epoch >= 1:
            (victim, *_) = rows.children(os.getpid())
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)

    with pytest.raises(WorkerLost, match=r"^a worker process died \(killed, or out of memory\); "
                                         r"what it committed is kept"):
        compare("digits", rows.SCHEDULES, seeds=2, epochs=4, out=tmp_path, workers=2, on_event=kill_one)
    assert killed and rows.children(os.getpid()) == []  # the other worker is stopped too
    cut = rows.tables(tmp_path)
    assert 0 < len(cut[2]) < len(rows.tables(whole)[2])
    compare("digits", rows.SCHEDULES, seeds=2, epochs=4, out=tmp_path, workers=2)
    assert rows.tables(tmp_path) == rows.tables(whole)


def test_a_killed_driver_leaves_no_worker_and_the_rerun_ends_identical(whole, tmp_path, child_env, rows):
    out = tmp_path / "cmp"
    cmd = [sys.executable, "-m", "lrlab", "compare", *(a for s in rows.SCHEDULES for a in ("--schedule", s)),
           "--seeds", "2", "--epochs", "4", "--workers", "2", "--quiet", "--out", str(out)]
    driver = subprocess.Popen(cmd, env=child_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + rows.HANG
    while rows.epochs_stored(out) < 2 and driver.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert driver.poll() is None, driver.stderr.read().decode()[-2000:]  # still running
    workers = rows.children(driver.pid)
    assert len(workers) == 2
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    for _ in range(200):  # PR_SET_PDEATHSIG: the workers die with it
        if not any(Path(f"/proc/{p}").exists() and (Path(f"/proc/{p}/stat").read_text().split()[2] != "Z")
                   for p in workers):
            break
        time.sleep(0.05)
    assert not rows.running_with(str(out)), "a worker outlived its driver"
    assert 0 < len(rows.tables(out)[2]) < len(rows.tables(whole)[2])
    again = subprocess.run(cmd, env=child_env, capture_output=True, text=True, timeout=rows.HANG)
    assert again.returncode == 0, again.stderr[-2000:]
    assert rows.tables(out) == rows.tables(whole)
