"""The user-trainer trial (``lrlab.experiments.trainers``): the contract, the store, failures,
divergence, resume after SIGKILL with and without ``trial.save``, the state file."""

from __future__ import annotations

import json
import math
import os
import random
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import lrlab
from lrlab.experiments.runner import compare
from lrlab.experiments.trainers import read_state, write_state

HANG = 900  # a hang guard only


def fake(trial, saving=True):
    """A trainer with no framework: its accuracy follows the LR summed so far (exactly
    reproducible), with its state saved after every epoch."""
    state = trial.load() if saving else None
    cum = state["cum"] if state else 0.0
    lrs = trial.step_schedule.curve(trial.epochs * trial.steps_per_epoch)
    for epoch in range(trial.start_epoch, trial.epochs):
        cum += float(lrs[epoch * trial.steps_per_epoch:(epoch + 1) * trial.steps_per_epoch].sum())
        acc = round(0.5 + 0.4 * (1 - math.exp(-cum)) + 0.01 * trial.seed, 6)
        trial.report(epoch, train_loss=1 - acc, val_loss=1 - acc, val_acc=acc)
        if saving:
            trial.save({"cum": cum})
    return {"test_acc": round(acc - 0.005, 6), "test_loss": 1 - acc}


def rows(out):
    db = sqlite3.connect(Path(out) / "results.sqlite")
    try:
        trials = db.execute("SELECT name, status, test_acc, epochs, steps FROM trial ORDER BY name").fetchall()
        epochs = db.execute("SELECT t.name, e.epoch, e.val_acc, e.lr FROM epoch e JOIN trial t "
                            "ON t.id = e.trial_id ORDER BY t.name, e.epoch").fetchall()
        steps = db.execute("SELECT COUNT(*) FROM step").fetchone()[0]
    finally:
        db.close()
    return trials, epochs, steps


def test_a_trainer_fills_the_same_tables_and_ranks(tmp_path):
    r = compare(trainer=fake, schedules=["cosine", "step"], seeds=2, epochs=4, steps_per_epoch=5,
                lr=0.1, out=tmp_path, report=True)
    trials, epochs, steps = rows(tmp_path)
    assert [t[:2] for t in trials] == [("cosine-seed0", "finished"), ("cosine-seed1", "finished"),
                                       ("step-seed0", "finished"), ("step-seed1", "finished")]
    assert all(t[3] == 4 and t[4] == 20 for t in trials) and steps == 80
    # the LR in the store is the schedule's: cosine from 0.1 over 4 epochs
    cos = [e[3] for e in epochs if e[0] == "cosine-seed0"]
    assert cos == pytest.approx(list(lrlab.create("cosine", base_lr=0.1, total_steps=4).curve(4)))
    # cosine sums more LR than step: higher accuracy, on both seeds
    assert [x["name"] for x in r.ranking] == ["cosine", "step"]
    assert r.page.exists() and "cosine-seed0" in r.page.read_text()
    # the report rebuilds from the store alone, with the same ranking
    from lrlab.report.tables import load

    data = load(tmp_path)
    assert [x["name"] for x in data.ranking] == ["cosine", "step"]
    assert json.loads(data.meta["experiment"])["trainer"]["ref"].endswith("fake")


def test_the_trial_it_gets(tmp_path):
    seen = []

    def look(trial):
        seen.append((trial.name, trial.seed, trial.epochs, trial.steps_per_epoch, trial.steps,
                     trial.interval, trial.lr, trial.params, trial.schedule(0),
                     trial.step_schedule.curve(6).tolist(), trial.schedule.curve(6).tolist(),
                     random.random(), np.random.rand(), float(torch.rand(1))))
        for e in range(trial.epochs):
            trial.report(e, val_acc=0.5)

    compare(trainer=look, schedules=[{"name": "step", "params": {"gamma": 0.5, "step_size": 1}},
                                     "one_cycle"], seeds=[3], epochs=2, steps_per_epoch=3,
            lr=0.2, out=tmp_path)
    step, cyc = seen
    assert step[:8] == ("step-seed3", 3, 2, 3, 2, "epoch", 0.2, {"gamma": 0.5, "step_size": 1})
    assert step[8] == 0.2 and step[9] == [0.2, 0.2, 0.2, 0.1, 0.1, 0.1]
    assert cyc[4:6] == (6, "step") and cyc[9] == cyc[10]  # per step: the schedule itself
    assert 0.19 < max(cyc[9]) <= 0.2
    assert step[11:] == cyc[11:]  # seeded the same before each trial of a seed


def test_a_trainer_that_raises_fails_its_trial_and_the_others_go_on(tmp_path):
    def train(trial):
        if trial.name.startswith("step"):
            return {"oops": 1} if trial.seed else 1 / 0
        return fake(trial)

    r = compare(trainer=train, schedules=["cosine", "step"], seeds=2, epochs=2, steps_per_epoch=2,
                out=tmp_path, report=True)
    status = {rec.name: (rec.status, rec.error) for rec in r.records}
    assert status["cosine-seed0"] == ("finished", None)
    assert status["step-seed0"] == ("failed", "ZeroDivisionError: division by zero")
    assert status["step-seed1"][0] == "failed" and "oops" in status["step-seed1"][1]
    assert r.row("step")["n_seeds"] == 0 and r.row("cosine")["is_best"]
    assert "ZeroDivisionError: division by zero" in r.page.read_text()
    # fixed: only the failed trials run again, and then they finish
    ran = []

    def train(trial):  # noqa: F811  the same trainer, its code fixed
        ran.append(trial.name)
        return fake(trial)

    r = compare(trainer=train, schedules=["cosine", "step"], seeds=2, epochs=2, steps_per_epoch=2,
                out=tmp_path)
    assert ran == ["step-seed0", "step-seed1"]
    assert all(rec.status == "finished" and rec.error is None for rec in r.records)
    db = sqlite3.connect(tmp_path / "results.sqlite")
    assert db.execute("SELECT COUNT(*) FROM failure").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM trial").fetchone()[0] == 4


@pytest.mark.parametrize("bad, message", [
    (lambda t: t.report(1, val_acc=0.5), "trial.report: epoch 1, expected 0"),
    (lambda t: [t.report(0, val_acc=0.5), t.report(0, val_acc=0.5)], "epoch 0, expected 1"),
    (lambda t: t.report(0, val_acc=1.5), "val_acc must be a fraction in [0, 1], got 1.5"),
    (lambda t: t.report(0, train_loss=-1.0), "train_loss must be >= 0"),
    (lambda t: t.report(0, val_loss="low"), "val_loss must be a number, got 'low'"),
    (lambda t: None, "returned without reporting an epoch"),
    (lambda t: [t.report(0), "done"][1], "returned str, not a dict"),
    (lambda t: [t.report(0), {"test_acc": 2.0}][1], "returned test_acc must be a fraction"),
    (lambda t: t.save({"f": object()}), "cannot keep a object"),
])
def test_a_broken_contract_is_one_line(tmp_path, bad, message):
    r = compare(trainer=bad, schedules=["cosine"], seeds=1, epochs=2, steps_per_epoch=1,
                out=tmp_path)
    rec = r.records[0]
    assert rec.status == "failed" and message in rec.error and "\n" not in rec.error


def test_a_non_finite_loss_diverges_the_trial(tmp_path):
    said = []

    def blows_up(trial):
        for e in range(trial.epochs):
            loss = float("nan") if (trial.name.startswith("step") and e == 1) else 0.5
            said.append(trial.report(e, train_loss=loss, val_acc=0.5))
            if not said[-1]:
                return {"test_acc": 0.9}  # ignored: the trial diverged
        return {"test_acc": 0.7}

    r = compare(trainer=blows_up, schedules=["cosine", "step"], seeds=1, epochs=3,
                steps_per_epoch=4, out=tmp_path)
    cos, step = r.records
    assert cos.status == "finished" and cos.test_acc == 0.7
    assert step.status == "diverged" and step.test_acc is None and step.diverged_step == 8
    assert said == [True, True, True, True, False]
    assert len(step.epochs) == 2 and step.epochs[1]["train_loss"] is None
    assert r.row("step")["diverged"] == 1


def test_returning_early_is_an_early_stop(tmp_path):
    def stops(trial):
        trial.report(0, val_acc=0.6)
        return {"test_acc": 0.6}

    rec = compare(trainer=stops, schedules=["cosine"], seeds=1, epochs=3, steps_per_epoch=1,
                  out=tmp_path).records[0]
    assert rec.status == "early-stopped" and len(rec.epochs) == 1


def test_metric_val_acc_ranks_by_the_last_epoch(tmp_path):
    def t(trial):
        good = trial.name.startswith("step")
        for e in range(trial.epochs):
            trial.report(e, val_acc=0.8 if good else 0.7)
        return {"test_acc": 0.5 if good else 0.9}  # test would say the opposite

    r = compare(trainer=t, schedules=["cosine", "step"], seeds=2, epochs=2, steps_per_epoch=1,
                out=tmp_path, metric="val_acc")
    assert r.ranking[0]["name"] == "step" and r.ranking[0]["test_acc_mean"] == pytest.approx(0.8)


def test_refused_before_anything_is_written(tmp_path):
    out = tmp_path / "x"
    with pytest.raises(ValueError, match="steps_per_epoch: a trainer's schedule needs it"):
        compare(trainer=fake, schedules=["cosine"], out=out)
    with pytest.raises(ValueError, match="task: a trainer loads its own data"):
        compare(task="digits", trainer=fake, schedules=["cosine"], steps_per_epoch=2, out=out)
    with pytest.raises(ValueError, match="optimizer: the trainer chooses its own optimizer"):
        compare(trainer=fake, schedules=["cosine"], steps_per_epoch=2, optimizer="sgd", out=out)
    with pytest.raises(ValueError, match="plateau follows metrics inside the trainer's loop"):
        compare(trainer=fake, schedules=["plateau"], steps_per_epoch=2, out=out)
    with pytest.raises(ValueError, match="trainer: must be a function"):
        compare(trainer="train.py:train", schedules=["cosine"], steps_per_epoch=2, out=out)
    assert not out.exists()


def test_another_trainer_in_the_same_folder_is_refused(tmp_path):
    compare(trainer=fake, schedules=["cosine"], seeds=1, epochs=1, steps_per_epoch=1, out=tmp_path)

    def other(trial):
        return fake(trial)

    with pytest.raises(ValueError, match="holds an experiment with trainer="):
        compare(trainer=other, schedules=["cosine"], seeds=1, epochs=1, steps_per_epoch=1,
                out=tmp_path)


# ---- kill -9 and resume ---------------------------------------------------------------------
TRAINER = '''
import math, os, signal, sys
KILL = os.environ.get("KILL_AT")  # "name:epoch": SIGKILL after that epoch's report (and save)
LOG = os.environ["CALLS"]

def train(trial):
    saving = os.environ.get("SAVING") == "1"
    state = trial.load() if saving else None
    cum = state["cum"] if state else 0.0
    lrs = trial.step_schedule.curve(trial.epochs * trial.steps_per_epoch)
    for epoch in range(trial.start_epoch, trial.epochs):
        with open(LOG, "a") as f:
            f.write(f"{trial.name}:{epoch}\\n")
        n = trial.steps_per_epoch
        cum += float(lrs[epoch * n:(epoch + 1) * n].sum())
        acc = round(0.5 + 0.4 * (1 - math.exp(-cum)) + 0.01 * trial.seed, 6)
        trial.report(epoch, train_loss=1 - acc, val_acc=acc)
        if saving:
            trial.save({"cum": cum})
        if KILL == f"{trial.name}:{epoch}" and not os.path.exists(LOG + ".killed"):
            open(LOG + ".killed", "w").close()
            os.kill(os.getpid(), signal.SIGKILL)
    return {"test_acc": round(acc, 6)}
'''


def _cli(tmp_path, out, env):
    cmd = [sys.executable, "-m", "lrlab", "compare", "--trainer", f"{tmp_path / 'loop.py'}:train",
           "--steps-per-epoch", "3", "--schedule", "cosine,step", "--seeds", "2", "--epochs", "4",
           "--out", str(out), "--json", "--quiet"]
    return subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=HANG)


@pytest.mark.parametrize("saving", ["1", "0"])
def test_killed_and_resumed_gives_the_same_table(tmp_path, saving):
    (tmp_path / "loop.py").write_text(TRAINER)
    calls = tmp_path / "calls.txt"
    whole = _cli(tmp_path, tmp_path / "whole", {"CALLS": str(tmp_path / "w.txt"), "SAVING": saving})
    assert whole.returncode == 0, whole.stderr
    env = {"CALLS": str(calls), "SAVING": saving, "KILL_AT": "step-seed0:1"}
    killed = _cli(tmp_path, tmp_path / "k", env)
    assert killed.returncode == -9
    again = _cli(tmp_path, tmp_path / "k", env)
    assert again.returncode == 0, again.stderr
    assert rows(tmp_path / "k") == rows(tmp_path / "whole")  # the same trials, epochs and steps
    def timeless(out):  # wall-clock times aside
        drop = lambda d: {k: v for k, v in d.items() if "second" not in k}  # noqa: E731
        return [{**drop(r), "per_seed": [drop(p) for p in r["per_seed"]]}
                for r in json.loads(out)["schedules"]]

    assert timeless(again.stdout) == timeless(whole.stdout)
    ran = calls.read_text().split()
    # cosine finished before the kill and is not run again; step-seed0 continues after its saved
    # epoch 1 (saving) or starts over (not saving)
    assert ran.count("cosine-seed0:0") == 1 and ran.count("cosine-seed1:3") == 1
    assert ran.count("step-seed0:0") == (1 if saving == "1" else 2)
    assert ran.count("step-seed0:2") == 1
    assert _checkpoints(tmp_path / "k") == 0


# ---- the state file ---------------------------------------------------------------------------
def test_state_round_trip_keeps_structure_and_kinds(tmp_path):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.ones(2))], lr=0.1, momentum=0.9)
    opt.state[opt.param_groups[0]["params"][0]] = {"momentum_buffer": torch.full((2,), 0.5)}
    state = {"opt": opt.state_dict(), "np": np.arange(6, dtype=np.int16).reshape(2, 3),
             "t": (1, 2.5, None, "x", True), "nan": float("nan"), 3: [torch.zeros(0)],
             "bf16": torch.tensor([1.5, -2.25], dtype=torch.bfloat16), ("a", 1): 10**30}
    back = read_state(write_state({"epoch": 2, "seconds": 1.5, "state": state}), "here")
    assert back["epoch"] == 2 and back["seconds"] == 1.5
    s = back["state"]
    assert s["t"] == (1, 2.5, None, "x", True) and math.isnan(s["nan"])
    assert s["np"].dtype == np.int16 and s["np"].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert isinstance(s[3][0], torch.Tensor) and s[3][0].shape == (0,)
    assert s["bf16"].dtype == torch.bfloat16 and s["bf16"].tolist() == [1.5, -2.25]
    assert s[("a", 1)] == 10**30
    fresh = torch.optim.SGD([torch.nn.Parameter(torch.ones(2))], lr=0.1, momentum=0.9)
    fresh.load_state_dict(s["opt"])  # int keys survive: torch takes it back
    assert list(fresh.state.values())[0]["momentum_buffer"].tolist() == [0.5, 0.5]


def test_paddle_state_comes_back_as_paddle():
    paddle = pytest.importorskip("paddle")
    net = paddle.nn.Linear(2, 3)
    blob = write_state({"epoch": 1, "seconds": 0.0, "state": net.state_dict()})
    back = read_state(blob, "here")["state"]
    assert isinstance(back["weight"], paddle.Tensor)
    other = paddle.nn.Linear(2, 3)
    other.set_state_dict(back)
    assert np.array_equal(other.weight.numpy(), net.weight.numpy())


@pytest.mark.parametrize("damage", [b"", b"PK\x03\x04junk", None])
def test_a_damaged_state_is_named_and_not_trusted(damage):
    if damage is None:  # a valid zip whose structure is not a state
        import io
        import zipfile

        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as z:
            z.writestr("state.json", json.dumps({"dict": [["epoch", -1]]}))
        damage = buffer.getvalue()
    with pytest.raises(ValueError, match=r"^s\.npz: not a readable lrlab trainer state .*; fix"):
        read_state(damage, "s.npz", "fix")


def _checkpoints(out):
    db = sqlite3.connect(out / "results.sqlite")
    try:
        return db.execute("SELECT COUNT(*) FROM checkpoint").fetchone()[0]
    finally:
        db.close()


def _forge(out, blob):
    db = sqlite3.connect(out / "results.sqlite")
    db.execute("UPDATE checkpoint SET state = ?", (blob,))
    db.commit()
    db.close()


def _saves_then_fails(tmp_path, epochs):
    """A trainer that saves its state after epoch 0 and then fails: the state is kept (a failed
    trial runs again)."""
    def train(trial):
        trial.report(0)
        trial.save({"a": 1})
        return 1 / 0

    compare(trainer=train, schedules=["cosine"], seeds=1, epochs=epochs, steps_per_epoch=1,
            out=tmp_path)
    assert _checkpoints(tmp_path) == 1
    return train


@pytest.mark.parametrize("epochs, forged, says", [
    (2, b"garbage", "not a readable lrlab trainer state"),
    (3, write_state({"epoch": 2, "seconds": 0.0, "state": {}}),
     "saved after epoch 2, kept as epoch 1 of the 3 of trial cosine-seed0 with 1 epochs stored"),
])
def test_a_damaged_or_forged_state_stops_the_run_in_one_line(tmp_path, epochs, forged, says):
    train = _saves_then_fails(tmp_path, epochs)
    _forge(tmp_path, forged)
    with pytest.raises(ValueError, match=says):
        compare(trainer=train, schedules=["cosine"], seeds=1, epochs=epochs, steps_per_epoch=1,
                out=tmp_path)


# ---- found by a hostile review ----------------------------------------------------------------
def test_a_failed_trial_run_again_and_interrupted_leaves_a_readable_store(tmp_path):
    def train(trial):
        raise RuntimeError("first run breaks")

    compare(trainer=train, schedules=["cosine"], seeds=1, epochs=2, steps_per_epoch=1, out=tmp_path)

    def train(trial):  # noqa: F811  fixed, then interrupted (Ctrl-C) mid-run
        trial.report(0, val_acc=0.5)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        compare(trainer=train, schedules=["cosine"], seeds=1, epochs=2, steps_per_epoch=1,
                out=tmp_path)
    from lrlab.experiments.store import read_records

    (rec,) = read_records(tmp_path)  # checked on opening: not "damaged"
    assert rec.status == "running" and rec.error is None


def test_reports_and_saves_after_the_trainer_returned_record_nothing(tmp_path):
    kept = []

    def train(trial):
        kept.append(trial)
        trial.report(0, val_acc=0.5)
        return {"test_acc": 0.5}

    compare(trainer=train, schedules=["cosine"], seeds=1, epochs=3, steps_per_epoch=1, out=tmp_path)
    assert kept[0].report(1, val_acc=0.9) is False
    kept[0].save({"late": 1})
    trials, epochs, steps = rows(tmp_path)
    assert trials == [("cosine-seed0", "early-stopped", 0.5, 1, 1)] and len(epochs) == 1
    assert _checkpoints(tmp_path) == 0


@pytest.mark.parametrize("raise_, says", [
    (lambda: sys.exit(0), "SystemExit: 0"),
    (lambda: (_ for _ in ()).throw(FileNotFoundError("no file caf\udce9.csv")),
     "FileNotFoundError: no file caf\\udce9.csv"),
    (lambda: (_ for _ in ()).throw(ValueError("two\nlines")), "ValueError: two lines"),
])
def test_what_a_trainer_raises_fails_only_its_trial_in_one_line(tmp_path, raise_, says):
    def train(trial):
        if trial.name.startswith("step"):
            raise_()
        return fake(trial)

    r = compare(trainer=train, schedules=["step", "cosine"], seeds=1, epochs=1, steps_per_epoch=1,
                out=tmp_path)
    assert [(x.status, x.error) for x in r.records] == [("failed", says), ("finished", None)]


def test_non_finite_accuracies_diverge_and_strings_are_not_numbers(tmp_path):
    def train(trial):
        if trial.name.startswith("step"):
            trial.report(0, val_loss=float("nan"), val_acc=float("nan"))
            return None
        trial.report(torch.tensor(0), train_loss="0.5")

    r = compare(trainer=train, schedules=["step", "cosine"], seeds=1, epochs=2, steps_per_epoch=1,
                out=tmp_path)
    step, cos = r.records
    assert step.status == "diverged" and step.epochs[0]["val_acc"] is None
    assert cos.status == "failed" and "train_loss must be a number, got '0.5'" in cos.error


def test_report_past_the_last_epoch_says_so(tmp_path):
    r = compare(trainer=lambda t: [t.report(e) for e in range(3)], schedules=["cosine"], seeds=1,
                epochs=2, steps_per_epoch=1, out=tmp_path)
    assert "epoch 2 is past the run's last, 1" in r.records[0].error


def test_the_report_of_a_script_given_trainer_says_how_to_rerun_it(tmp_path):
    script = tmp_path / "run.py"
    script.write_text("import lrlab\n"
                      "def train(trial):\n"
                      "    trial.report(0, val_acc=0.5)\n"
                      "    return {'test_acc': 0.5}\n"
                      f"lrlab.compare(trainer=train, schedules=['cosine'], seeds=1, epochs=1, "
                      f"steps_per_epoch=1, out={str(tmp_path / 'cmp')!r}, report=True)\n")
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=HANG)
    assert r.returncode == 0, r.stderr
    page = (tmp_path / "cmp" / "report.html").read_text()
    assert "__main__:train was given to lrlab.compare by a script: run that script again" in page
    assert "--trainer __main__" not in page


def test_a_loss_only_trainer_is_not_called_diverged(tmp_path):
    def train(trial):
        for e in range(trial.epochs):
            trial.report(e, train_loss=1.0 / (e + 1), val_loss=0.5)
        return {"test_loss": 0.3}

    r = compare(trainer=train, schedules=["cosine", "step"], seeds=2, epochs=2, steps_per_epoch=1,
                out=tmp_path, report=True)
    assert all(rec.status == "finished" and rec.test_loss == 0.3 for rec in r.records)
    assert [(x["diverged"], x["n_seeds"]) for x in r.ranking] == [(0, 0), (0, 0)]
    page = r.page.read_text()
    assert "Nothing to rank: the trials that ended have no test accuracy" in page
    assert "diverged" not in page.split("<h2>")[1]  # the verdict does not say so


@pytest.mark.parametrize("final", [{"test_acc": float("nan")}, {"test_loss": float("inf")}])
def test_a_non_finite_final_metric_diverges_the_trial(tmp_path, final):
    def train(trial):
        trial.report(0, val_acc=0.5)
        return final

    r = compare(trainer=train, schedules=["cosine"], seeds=1, epochs=1, steps_per_epoch=2,
                out=tmp_path)
    assert r.records[0].status == "diverged" and r.records[0].diverged_step == 2
    from lrlab.experiments.store import read_records

    assert read_records(tmp_path)[0].status == "diverged"  # the store stays readable


def test_a_preset_with_a_trainer_leaves_its_plateau_out_with_a_line(tmp_path, caplog):
    import logging

    with caplog.at_level(logging.WARNING):
        r = compare(trainer=fake, preset="paddle", seeds=1, epochs=1, steps_per_epoch=1,
                    out=tmp_path)
    assert [m.getMessage() for m in caplog.records if m.name.startswith("lrlab")] == [
        "preset paddle: ReduceOnPlateau left out: a trainer's schedule is a function of the step "
        "(a plateau belongs inside its loop: lrlab.Plateau)"]
    assert len(r.ranking) == 14 and "ReduceOnPlateau" not in {x["name"] for x in r.ranking}
