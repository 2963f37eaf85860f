"""The sequential engine on digits: fairness, divergence, early stopping, exact resume."""

import json
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace

import pytest
import torch

from lrlab import EarlyStopping, Plateau
from lrlab.training.engine import batch_order, evaluate, train_population, train_trial
from lrlab.training.tasks import Split, Task, load_task
from lrlab.training.trial import TrialConfig, schedule_for


@pytest.fixture(scope="module")
def digits():
    return load_task("digits")


@pytest.fixture(scope="module")
def small(digits):
    """A quarter of digits, for speed."""
    cut = lambda s: Split(s.x[: len(s) // 4], s.y[: len(s) // 4])  # noqa: E731
    return replace(digits, train=cut(digits.train), val=cut(digits.val))


def _strip(rec):
    """A record without wall-clock times."""
    epochs = [{k: v for k, v in e.items() if k != "seconds"} for e in rec.epochs]
    return rec.status, rec.lrs, rec.losses, epochs, rec.best_epoch, rec.test_loss, rec.test_acc


def test_same_seed_same_init_and_batch_order_whatever_the_schedule(small):
    a, b, c = (train_trial(small, TrialConfig(schedule=s, lr=0.1, epochs=1, seed=seed))
               for s, seed in [("cosine", 0), ("step", 0), ("cosine", 1)])
    assert a.losses[0] == b.losses[0]      # same weights, same first batch, LR not applied yet
    assert a.losses[0] != c.losses[0]      # another seed: other weights and batches
    assert torch.equal(batch_order(100, 0, 3), batch_order(100, 0, 3))
    assert not torch.equal(batch_order(100, 0, 3), batch_order(100, 0, 4))


def test_deterministic(small):
    cfg = TrialConfig(schedule="one_cycle", lr=0.1, epochs=2, interval="step")
    assert _strip(train_trial(small, cfg)) == _strip(train_trial(small, cfg))


@pytest.mark.parametrize("interval", ["epoch", "step"])
def test_the_lr_applied_at_every_step_is_the_schedule(small, monkeypatch, interval):
    applied = []
    step = torch.optim.SGD.step

    def spy(self, *a, **k):
        applied.append(self.param_groups[0]["lr"])
        return step(self, *a, **k)

    monkeypatch.setattr(torch.optim.SGD, "step", spy)
    cfg = TrialConfig(schedule="cosine", lr=0.1, epochs=3, interval=interval, warmup=1)
    rec = train_trial(small, cfg)
    per_epoch = math.ceil(len(small.train) / cfg.batch_size)
    total = 3 if interval == "epoch" else 3 * per_epoch
    s = schedule_for(cfg, total)
    expect = [s(k // per_epoch if interval == "epoch" else k) for k in range(3 * per_epoch)]
    assert applied == rec.lrs == expect


def test_a_diverging_trial_is_marked_and_the_others_finish(small, tmp_path):
    cfgs = [TrialConfig(schedule="constant", lr=1e4, optimizer="sgd", epochs=3, name="hot"),
            TrialConfig(schedule="cosine", lr=0.1, epochs=3, name="ok")]
    hot, ok = train_population(small, cfgs, tmp_path, quiet=True)
    assert hot.status == "diverged" and hot.diverged_step is not None and hot.test_acc is None
    assert len(hot.lrs) == hot.diverged_step + 1 and hot.losses[-1] is None
    assert ok.status == "finished" and ok.test_acc > 0.25  # chance is 0.1
    assert json.loads((tmp_path / "hot" / "summary.json").read_text())["status"] == "diverged"


def test_early_stopping_stops_at_the_right_epoch_and_restores_best(small, tmp_path):
    cfg = TrialConfig(schedule="constant", lr=0.3, epochs=30,
                      early_stop={"patience": 2, "min_delta": 0.01, "restore_best": True})
    rec = train_trial(small, cfg, tmp_path / "t")
    assert rec.status == "early-stopped" and len(rec.epochs) < 30
    es = EarlyStopping(patience=2, min_delta=0.01)
    stops = [es.step(e["val_loss"]) for e in rec.epochs]
    assert stops.index(True) == len(rec.epochs) - 1 and rec.best_epoch == es.best_epoch
    model = small.build_model()
    model.load_state_dict(torch.load(tmp_path / "t" / "model.pt", weights_only=True))
    val_loss, _ = evaluate(model, small, small.val)
    assert val_loss == pytest.approx(rec.epochs[rec.best_epoch]["val_loss"], rel=1e-6)
    assert rec.best_epoch < len(rec.epochs) - 1


def test_plateau_trial_follows_the_validation_loss(small):
    cfg = TrialConfig(schedule="plateau", lr=0.5, epochs=8, params={"patience": 0, "factor": 0.5})
    rec = train_trial(small, cfg)
    p = Plateau(0.5, patience=0, factor=0.5)
    expect = [0.5] + [p.step(e["val_loss"]) for e in rec.epochs[:-1]]
    assert [e["lr"] for e in rec.epochs] == expect


def test_records_on_disk(small, tmp_path):
    rec = train_trial(small, TrialConfig(schedule="cosine", epochs=2), tmp_path / "r", tensorboard=True)
    folder = tmp_path / "r"
    assert not (folder / "checkpoint.pt").exists()
    lines = (folder / "steps.csv").read_text().splitlines()
    assert lines[0] == "step,epoch,lr,loss" and len(lines) == 1 + len(rec.lrs)
    assert float(lines[1].split(",")[2]) == rec.lrs[0]
    assert [json.loads(x) for x in (folder / "epochs.jsonl").read_text().splitlines()] == rec.epochs
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["task"] == "digits" and cfg["schedule"] == "cosine"
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ea = EventAccumulator(str(folder / "tb"))
    ea.Reload()
    assert [e.value for e in ea.Scalars("lr")] == pytest.approx(rec.lrs)
    assert len(ea.Scalars("val/loss")) == 2
    with pytest.raises(ValueError, match="already holds a run; use --resume"):
        train_trial(small, TrialConfig(schedule="cosine", epochs=2), folder)
    again = train_trial(small, TrialConfig(schedule="cosine", epochs=2), folder, resume=True)
    assert _strip(again)[1:] == _strip(rec)[1:]


def test_resume_refuses_a_different_configuration(small, tmp_path):
    cfg = TrialConfig(schedule="cosine", epochs=3)
    trial_dir = tmp_path / "x"
    from lrlab.training.engine import _Trial

    t = _Trial(small, cfg, trial_dir)
    trial_dir.mkdir()
    t.checkpoint()
    with pytest.raises(ValueError, match="written by a different configuration"):
        train_trial(small, replace(cfg, lr=0.1), trial_dir, resume=True)


_CHILD = """
import sys
from lrlab.training.engine import train_trial
from lrlab.training.tasks import load_task
from lrlab.training.trial import TrialConfig
train_trial(load_task("digits"), TrialConfig(schedule="cosine", epochs=6, lr=0.05,
            early_stop={"patience": 10, "restore_best": True}), sys.argv[1], resume=sys.argv[2] == "1")
"""


def _child(folder, resume=False):
    return subprocess.Popen([sys.executable, "-c", _CHILD, str(folder), "1" if resume else "0"])


def test_sigkill_mid_epoch_then_resume_is_identical_to_an_uninterrupted_run(tmp_path):
    # every run in a fresh process, as `lrlab train` and `lrlab train --resume` would be
    assert _child(tmp_path / "whole").wait() == 0
    killed = tmp_path / "killed"
    child = _child(killed)
    ckpt = killed / "checkpoint.pt"
    deadline = time.time() + 120
    while time.time() < deadline and child.poll() is None and not ckpt.exists():
        time.sleep(0.01)
    time.sleep(0.05)  # into the next epoch (one epoch takes ~0.15 s)
    assert child.poll() is None, "the child finished before it could be killed"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert ckpt.exists() and not (killed / "summary.json").exists()
    assert _child(killed, resume=True).wait() == 0
    for name in ("steps.csv", "epochs.jsonl", "summary.json"):
        a, b = (tmp_path / "whole" / name).read_text(), (killed / name).read_text()
        if name != "steps.csv":  # wall-clock seconds differ; everything else must not
            a, b = (_no_seconds(x) for x in (a, b))
        assert a == b, name
    a = torch.load(tmp_path / "whole" / "model.pt", weights_only=True)
    b = torch.load(killed / "model.pt", weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)


def _no_seconds(text):
    import re

    return re.sub(r'"seconds": [0-9.e-]+', '"seconds": _', text)


def test_regression_task_records_loss_only():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 3, generator=g)
    y = x @ torch.tensor([1.0, -2.0, 0.5])
    sp = lambda a, b: Split(x[a:b], y[a:b])  # noqa: E731
    task = Task("toy", sp(0, 120), sp(120, 160), sp(160, 200), lambda: torch.nn.Linear(3, 1), "regression")
    rec = train_trial(task, TrialConfig(schedule="cosine", lr=0.05, epochs=5, batch_size=20))
    assert rec.test_acc is None and rec.epochs[0]["val_acc"] is None
    assert rec.test_loss < rec.epochs[0]["train_loss"]


def test_every_trial_is_checked_before_any_trains(small, tmp_path):
    cfgs = [TrialConfig(schedule="cosine", epochs=1, name="a"),
            TrialConfig(schedule="cosine", epochs=2, warmup=5, name="b")]  # warmup > run
    with pytest.raises(ValueError, match=r"warmup \(5\) must be shorter than the run \(2 steps\)"):
        train_population(small, cfgs, tmp_path, quiet=True)
    assert not (tmp_path / "a").exists()


def test_resume_of_a_finished_trial_checks_its_configuration(small, tmp_path):
    cfg = TrialConfig(schedule="cosine", epochs=1)
    train_trial(small, cfg, tmp_path / "f")
    with pytest.raises(ValueError, match="finished run in .* was made with a different configuration"):
        train_trial(small, replace(cfg, epochs=2), tmp_path / "f", resume=True)


@pytest.mark.parametrize("content", [b"not a checkpoint", None])
def test_a_damaged_checkpoint_is_a_clear_error(small, tmp_path, content):
    folder = tmp_path / "d"
    folder.mkdir()
    if content is None:
        torch.save({"a": 1}, folder / "checkpoint.pt")
    else:
        (folder / "checkpoint.pt").write_bytes(content)
    with pytest.raises(ValueError, match=r"checkpoint.pt: not (a readable )?an? lrlab checkpoint|checkpoint.pt: not a readable"):
        train_trial(small, TrialConfig(schedule="cosine", epochs=1), folder, resume=True)


def test_val_acc_monitor_on_a_regression_task_is_refused_up_front(tmp_path):
    x = torch.randn(40, 2)
    sp = Split(x[:20], x[:20, 0])
    task = Task("toy", sp, sp, sp, lambda: torch.nn.Linear(2, 1), "regression")
    with pytest.raises(ValueError, match="monitor=val_acc needs a classification task"):
        train_trial(task, TrialConfig(early_stop={"monitor": "val_acc"}), tmp_path / "r")
    assert not (tmp_path / "r").exists()
