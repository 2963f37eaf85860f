"""The Ray backend on a real local cluster (``ray start --head`` bound to 127.0.0.1, 2 CPUs):
the same rows and ranking as the local backend, a worker killed mid-unit retried from its last
commit, the driver killed and rerun, a user's trainer shipped to the workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lrlab.experiments.runner import compare

pytest.importorskip("ray")

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


@pytest.fixture(scope="module")
def on_ray(cluster, tmp_path_factory, rows):
    """An uninterrupted comparison on the cluster: its folder and result."""
    out = tmp_path_factory.mktemp("ray") / "cmp"
    result = compare("digits", rows.SCHEDULES, seeds=2, epochs=4, out=out, backend="ray",
                     address=cluster[0])
    return out, result


def test_ray_gives_the_rows_and_ranking_of_the_local_backend(on_ray, tmp_path, rows):
    out, result = on_ray
    local = compare("digits", rows.SCHEDULES, seeds=2, epochs=4, out=tmp_path, workers=2)
    assert rows.tables(out) == rows.tables(tmp_path)  # bit for bit: the same units, one thread each
    assert _timeless(result.ranking) == _timeless(local.ranking)


def _timeless(ranking):
    """A ranking without its wall-clock times."""
    drop = lambda d: {k: v for k, v in d.items() if "second" not in k}  # noqa: E731
    return [{**drop(r), "per_seed": [drop(p) for p in r["per_seed"]]} for r in ranking]


def test_a_worker_killed_mid_unit_is_retried_from_its_last_commit(on_ray, cluster, tmp_path, rows):
    killed = []

    def kill_one(event):  # the driver, while units run: SIGKILL one unit's worker process
        if not killed and event.epoch >= 1:
            pids = [p for p in rows.running_with("ray::_unit")]
            if pids:
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])

    compare("digits", rows.SCHEDULES, seeds=2, epochs=4, out=tmp_path, backend="ray",
            address=cluster[0], on_event=kill_one)
    assert killed
    assert rows.tables(tmp_path) == rows.tables(on_ray[0])  # nothing lost, nothing stored twice


def test_the_driver_killed_and_rerun_ends_identical(on_ray, cluster, tmp_path, rows):
    address, env = cluster
    out = tmp_path / "cmp"
    cmd = [sys.executable, "-m", "lrlab", "compare", *(a for s in rows.SCHEDULES for a in ("--schedule", s)),
           "--seeds", "2", "--epochs", "4", "--backend", "ray", "--address", address, "--quiet",
           "--out", str(out)]
    driver = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + rows.HANG
    while rows.epochs_stored(out) < 2 and driver.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert driver.poll() is None, driver.stderr.read().decode()[-2000:]
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    cut = rows.tables(out)
    time.sleep(2)  # the dead driver's tasks have nobody to send to: nothing more is written
    assert rows.tables(out) == cut and 0 < len(cut[2]) < len(rows.tables(on_ray[0])[2])
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=rows.HANG)
    assert again.returncode == 0, again.stderr[-2000:]
    assert rows.tables(out) == rows.tables(on_ray[0])


def test_an_address_where_nothing_answers_is_one_line(tmp_path, rows):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # free again once closed: nothing listens there
    with pytest.raises(ConnectionError, match=rf"^cannot join the Ray cluster at 127.0.0.1:{port}: "
                                              rf"nothing answers there"):
        compare("digits", ["cosine"], seeds=1, epochs=1, out=tmp_path / "x", backend="ray",
                address=f"127.0.0.1:{port}")
    assert not (tmp_path / "x").exists()  # refused before anything is written


def test_a_plain_pytorch_trainer_runs_on_ray(cluster, tmp_path, rows):
    address, env = cluster
    cmd = [sys.executable, "-m", "lrlab", "compare", "--trainer",
           f"{EXAMPLES / 'torch_trainer.py'}:train", "--steps-per-epoch", "17", "--schedule",
           "cosine", "--schedule", "step", "--seeds", "2", "--epochs", "2", "--quiet"]
    on_ray = subprocess.run([*cmd, "--backend", "ray", "--address", address, "--per-trial",
                             "cpu=1", "--out", str(tmp_path / "ray")], env=env, capture_output=True,
                            text=True, timeout=rows.HANG, cwd=tmp_path)
    assert on_ray.returncode == 0, on_ray.stderr[-2000:]
    here = subprocess.run([*cmd, "--out", str(tmp_path / "here")], env=env, capture_output=True,
                          text=True, timeout=rows.HANG, cwd=tmp_path)
    assert here.returncode == 0, here.stderr[-2000:]
    a, b = rows.tables(tmp_path / "ray"), rows.tables(tmp_path / "here")
    assert [r[:2] + r[5:] for r in a[0]] == [r[:2] + r[5:] for r in b[0]]
    assert all(r[1] == "finished" for r in a[0]) and len(a[0]) == 4
    assert [r[:2] + r[-1:] for r in a[2]] == [r[:2] + r[-1:] for r in b[2]]  # epochs and LRs
