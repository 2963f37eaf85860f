"""The worked examples in ``examples/``: each compares 3 schedules x 2 seeds with its own
trainer (plain PyTorch, PaddlePaddle, PyTorch Lightning, Keras 3) into a store and a report,
here on 2 epochs; the Paddle one is also killed with SIGKILL and resumed from its saved state."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
HANG = 1800  # a hang guard only
RUN = """
import json, os, runpy, signal, sys
module = runpy.run_path(sys.argv[1])
kill = os.environ.get("KILL_AT")
if kill:  # SIGKILL right after trial NAME saved its state after epoch E
    name, epoch = kill.split(":")
    inner = module["train"]

    def train(trial):
        save = trial.save

        def saved(state):
            save(state)
            if trial.name == name and trial.reported == int(epoch) + 1:
                os.kill(os.getpid(), signal.SIGKILL)
        trial.save = saved
        return inner(trial)
    module["main"].__globals__["train"] = train
result = module["main"](sys.argv[2], epochs=int(sys.argv[3]), seeds=2)
print(json.dumps([[r["name"], r["n_seeds"]] for r in result.ranking]))
"""


def _run(example, out, epochs=2, env=None):
    return subprocess.run([sys.executable, "-c", RUN, str(EXAMPLES / example), str(out), str(epochs)],
                          capture_output=True, text=True, timeout=HANG, cwd=out.parent,
                          env={**os.environ, "KERAS_BACKEND": "torch", **(env or {})})


def _table(out):
    db = sqlite3.connect(out / "results.sqlite")
    try:
        return (db.execute("SELECT name, status, test_acc, test_loss, epochs, steps FROM trial "
                           "ORDER BY name").fetchall(),
                db.execute("SELECT t.name, e.epoch, e.train_loss, e.val_loss, e.val_acc, e.lr "
                           "FROM epoch e JOIN trial t ON t.id = e.trial_id ORDER BY 1, 2").fetchall())
    finally:
        db.close()


@pytest.mark.parametrize("example, module", [("torch_trainer.py", "torch"),
                                             ("paddle_trainer.py", "paddle"),
                                             ("lightning_trainer.py", "lightning"),
                                             ("keras_trainer.py", "keras")])
def test_each_example_compares_three_schedules_over_two_seeds(tmp_path, example, module):
    pytest.importorskip(module)
    out = tmp_path / "cmp"
    r = _run(example, out)
    assert r.returncode == 0, r.stderr[-2000:]
    assert sorted(json.loads(r.stdout.strip().splitlines()[-1])) == [
        ["cosine", 2], ["one_cycle", 2], ["step", 2]]
    trials, epochs = _table(out)
    assert len(trials) == 6 and all(  # above chance (0.1) after 2 epochs
        t[1] == "finished" and 0.15 < t[2] <= 1 and t[4] == 2
                                    for t in trials), trials
    assert len(epochs) == 12 and all(e[4] is not None for e in epochs)
    assert (out / "report.html").exists()
    lrlab_report = subprocess.run([sys.executable, "-m", "lrlab", "report", str(out)],
                                  capture_output=True, text=True, timeout=HANG)
    assert lrlab_report.returncode == 0, lrlab_report.stderr


def test_the_paddle_example_resumes_after_sigkill_with_the_same_table(tmp_path):
    pytest.importorskip("paddle")
    (tmp_path / "a").mkdir()
    whole = _run("paddle_trainer.py", tmp_path / "a" / "cmp", epochs=3)
    assert whole.returncode == 0, whole.stderr[-2000:]
    (tmp_path / "b").mkdir()
    out = tmp_path / "b" / "cmp"
    killed = _run("paddle_trainer.py", out, epochs=3, env={"KILL_AT": "step-seed0:1"})
    assert killed.returncode == -9, killed.stderr[-2000:]
    db = sqlite3.connect(out / "results.sqlite")
    assert db.execute("SELECT epoch FROM checkpoint").fetchall() == [(2,)]  # saved after epoch 1
    db.close()
    again = _run("paddle_trainer.py", out, epochs=3)
    assert again.returncode == 0, again.stderr[-2000:]
    (a_trials, a_epochs), (b_trials, b_epochs) = _table(tmp_path / "a" / "cmp"), _table(out)
    assert [t[:2] + t[4:] for t in a_trials] == [t[:2] + t[4:] for t in b_trials]
    for x, y in zip(a_trials + a_epochs, b_trials + b_epochs):  # losses within rounding
        assert x[:2] == y[:2] and x[2:] == pytest.approx(y[2:], rel=1e-4, abs=1e-6)
