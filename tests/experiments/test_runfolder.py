"""Run folders as a sink: the files, refusals, resume (also after SIGKILL), damaged files."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch

from lrlab.experiments.runfolder import RunFolder, read_record, trial_folders
from lrlab.training import checkpoint
from lrlab.training.engines import train_trial
from lrlab.training.evaluate import evaluate
from lrlab.training.trial import TrialConfig


def strip(rec):
    epochs = [{k: v for k, v in e.items() if k != "seconds"} for e in rec.epochs]
    return rec.status, rec.lrs, rec.losses, epochs, rec.best_epoch, rec.test_loss, rec.test_acc


def test_records_on_disk(small, tmp_path):
    cfg = TrialConfig(schedule="cosine", epochs=2, name="r")
    rec = train_trial(small, cfg, RunFolder(tmp_path, tensorboard=True))
    folder = tmp_path / "r"
    assert not (folder / "checkpoint.pt").exists()
    lines = (folder / "steps.csv").read_text().splitlines()
    per_epoch = len(rec.lrs) // 2
    assert lines[0] == "step,epoch,lr,loss" and len(lines) == 1 + len(rec.lrs)
    assert lines[1] == f"0,0,{rec.lrs[0]!r},{rec.losses[0]!r}"
    assert lines[-1].startswith(f"{len(rec.lrs) - 1},1,") and lines[per_epoch + 1].startswith(f"{per_epoch},1,")
    assert [json.loads(x) for x in (folder / "epochs.jsonl").read_text().splitlines()] == rec.epochs
    config = json.loads((folder / "config.json").read_text())
    assert config == {"task": "digits", "task_options": {}, **cfg.to_dict(),
                      "resolved": "cosine(base_lr=0.05, total_steps=2)"}
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["test_acc"] == rec.test_acc
    assert summary["config"] == cfg.to_dict() and summary["task"] == "digits"
    model = small.build_model()
    model.load_state_dict(torch.load(folder / "model.pt", weights_only=True))
    assert evaluate(model, small, small.test) == (rec.test_loss, rec.test_acc)
    assert strip(read_record(folder)) == strip(rec)
    assert trial_folders(tmp_path) == [folder] and trial_folders(folder) == [folder]
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ea = EventAccumulator(str(folder / "tb"))
    ea.Reload()
    assert [e.value for e in ea.Scalars("lr")] == pytest.approx(rec.lrs)
    assert len(ea.Scalars("val/loss")) == 2


def test_a_folder_holding_a_run_needs_resume_and_a_finished_trial_is_not_trained_again(small, tmp_path):
    cfg = TrialConfig(schedule="cosine", epochs=2)
    rec = train_trial(small, cfg, RunFolder(tmp_path))
    with pytest.raises(ValueError, match="already holds a run; use --resume"):
        train_trial(small, cfg, RunFolder(tmp_path))
    left = tmp_path / cfg.name / "checkpoint.pt"  # a kill between the summary and its removal
    left.write_bytes(b"left by a kill")
    again = train_trial(small, cfg, RunFolder(tmp_path), resume=True)
    assert strip(again) == strip(rec) and not left.exists()
    with pytest.raises(ValueError, match="finished run in .* was made with a different configuration"):
        train_trial(small, TrialConfig(schedule="cosine", epochs=3), RunFolder(tmp_path), resume=True)


class _Killed(Exception):
    pass


class _DiesAfter(RunFolder):
    """A run folder whose process 'dies' right after the n-th checkpoint (or while appending)."""

    def __init__(self, out, n, extra_rows=False):
        super().__init__(out)
        self.n, self.extra_rows = n, extra_rows

    def checkpoint(self, name, blob, step, epoch):
        super().checkpoint(name, blob, step, epoch)
        self.n -= 1
        if self.n == 0:
            if self.extra_rows:  # rows of the next epoch appended, then killed mid-row
                with open(self.folder(name) / "steps.csv", "a") as f:
                    f.write(f"{step},9,0.1,2.0\n{step + 1},9,0.")
                with open(self.folder(name) / "epochs.jsonl", "a") as f:
                    f.write('{"epoch": 9}\n')
            raise _Killed


@pytest.mark.parametrize("extra_rows", [False, True])
def test_resume_continues_from_the_checkpoint_and_ends_identical(small, tmp_path, extra_rows):
    cfg = TrialConfig(schedule="plateau", epochs=4, warmup=1, early_stop={"patience": 9, "restore_best": True})
    whole = train_trial(small, cfg, RunFolder(tmp_path / "whole"))
    with pytest.raises(_Killed):
        train_trial(small, cfg, _DiesAfter(tmp_path / "k", 2, extra_rows))
    resumed = train_trial(small, cfg, RunFolder(tmp_path / "k"), resume=True)
    assert strip(resumed) == strip(whole)
    for name in ("steps.csv", "epochs.jsonl"):
        a, b = ((tmp_path / d / cfg.name / name).read_text() for d in ("whole", "k"))
        assert no_seconds(a) == no_seconds(b), name


def test_resume_refuses_a_different_configuration_and_writes_nothing(small, tmp_path):
    cfg = TrialConfig(schedule="cosine", epochs=3)
    with pytest.raises(_Killed):
        train_trial(small, cfg, _DiesAfter(tmp_path, 1))
    before = {p.name: p.read_bytes() for p in (tmp_path / cfg.name).iterdir()}
    with pytest.raises(ValueError, match=r"checkpoint in .* was made with a different configuration "
                                         r"\(weight_decay: 0.0 there, 0.1 now\)"):
        train_trial(small, TrialConfig(schedule="cosine", epochs=3, weight_decay=0.1), RunFolder(tmp_path), resume=True)
    assert {p.name: p.read_bytes() for p in (tmp_path / cfg.name).iterdir()} == before


@pytest.mark.parametrize("damage", ["garbage", "foreign", "short_steps", "no_header", "epoch99"])
def test_damaged_files_are_named(small, tmp_path, damage):
    cfg = TrialConfig(schedule="cosine", epochs=3)
    with pytest.raises(_Killed):
        train_trial(small, cfg, _DiesAfter(tmp_path, 2))
    folder = tmp_path / cfg.name
    if damage == "garbage":
        (folder / "checkpoint.pt").write_bytes(b"not a checkpoint")
        match = r"checkpoint.pt: not a readable lrlab checkpoint"
    elif damage == "foreign":
        torch.save({"a": 1}, folder / "checkpoint.pt")
        match = r"checkpoint.pt: not an lrlab checkpoint \(missing"
    elif damage == "short_steps":
        lines = (folder / "steps.csv").read_text().splitlines(keepends=True)
        (folder / "steps.csv").write_text("".join(lines[:3]))
        match = r"steps.csv or epochs.jsonl holds less than its checkpoint"
    elif damage == "no_header":
        (folder / "steps.csv").write_text("")
        match = r"steps.csv: not a readable steps.csv"
    else:
        path = folder / "checkpoint.pt"
        state = checkpoint.loads(path.read_bytes(), str(path))
        path.write_bytes(checkpoint.dumps({**state, "epoch": 99}))
        match = r"holds less than its checkpoint \(step \d+, epoch 99\)"
    with pytest.raises(ValueError, match=match):
        train_trial(small, cfg, RunFolder(tmp_path), resume=True)


def test_not_a_run(tmp_path):
    with pytest.raises(ValueError, match="is not a run: no config.json"):
        trial_folders(tmp_path)


_CHILD = """
import sys
from lrlab.experiments.runfolder import RunFolder
from lrlab.training.engines import train_trial
from lrlab.training.tasks import load_task
from lrlab.training.trial import TrialConfig
train_trial(load_task("digits"), TrialConfig(schedule="cosine", epochs=6, lr=0.05,
            early_stop={"patience": 10, "restore_best": True}, name="t"), RunFolder(sys.argv[1]),
            resume=sys.argv[2] == "1")
"""


def _child(folder, resume=False):
    return subprocess.Popen([sys.executable, "-c", _CHILD, str(folder), "1" if resume else "0"])


def test_sigkill_mid_epoch_then_resume_is_identical_to_an_uninterrupted_run(tmp_path):
    # every run in a fresh process, as `lrlab train` and `lrlab train --resume` would be
    assert _child(tmp_path / "whole").wait() == 0
    killed = tmp_path / "killed"
    child = _child(killed)
    ckpt = killed / "t" / "checkpoint.pt"
    deadline = time.time() + 120
    while time.time() < deadline and child.poll() is None and not ckpt.exists():
        time.sleep(0.01)
    time.sleep(0.05)  # into the next epoch (one epoch takes ~0.15 s)
    assert child.poll() is None, "the child finished before it could be killed"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert ckpt.exists() and not (killed / "t" / "summary.json").exists()
    assert _child(killed, resume=True).wait() == 0
    for name in ("steps.csv", "epochs.jsonl", "summary.json"):
        a, b = (tmp_path / "whole" / "t" / name).read_text(), (killed / "t" / name).read_text()
        assert no_seconds(a) == no_seconds(b), name
    a = torch.load(tmp_path / "whole" / "t" / "model.pt", weights_only=True)
    b = torch.load(killed / "t" / "model.pt", weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)


def no_seconds(text):
    return re.sub(r'"seconds": [0-9.e-]+', '"seconds": _', text)


def test_one_process_at_a_time(small, tmp_path):
    cfg = TrialConfig(schedule="cosine", epochs=1)
    tmp_path.joinpath("out").mkdir()
    with RunFolder(tmp_path / "out") as first:
        first.prepare(cfg, small, resume=False)
        with pytest.raises(ValueError, match="out is in use by another lrlab process"):
            train_trial(small, cfg, RunFolder(tmp_path / "out"))
    assert not (tmp_path / "out" / cfg.name).exists()
    train_trial(small, cfg, RunFolder(tmp_path / "out"))  # released


_HOLD = """
import sys, time
from lrlab.experiments.runfolder import RunFolder
sink = RunFolder(sys.argv[1])
sink.claim()
print("locked", flush=True)
time.sleep(60)
"""


def test_a_killed_process_releases_the_lock(small, tmp_path):
    (tmp_path / "out").mkdir()
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(tmp_path / "out")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(ValueError, match="in use by another lrlab process"):
            train_trial(small, TrialConfig(epochs=1), RunFolder(tmp_path / "out"))
    finally:
        holder.kill()
        holder.wait()
    assert train_trial(small, TrialConfig(epochs=1), RunFolder(tmp_path / "out")).status == "finished"


def test_temporaries_of_a_killed_write_are_removed_on_resume(small, tmp_path):
    from lrlab.fileio import TMP_SUFFIX

    cfg = TrialConfig(schedule="cosine", epochs=2)
    with pytest.raises(_Killed):
        train_trial(small, cfg, _DiesAfter(tmp_path, 1))
    stale = tmp_path / cfg.name / f"checkpoint.pt.x1y2{TMP_SUFFIX}"
    stale.write_bytes(b"half a checkpoint")
    train_trial(small, cfg, RunFolder(tmp_path), resume=True)
    assert not stale.exists()


@pytest.mark.parametrize("forge", ["epoch", "model_shape", "rng", "optimizer", "policy"])
def test_a_checkpoint_that_does_not_fit_the_trial_is_named(small, tmp_path, forge):
    cfg = TrialConfig(schedule="plateau", epochs=3)
    with pytest.raises(_Killed):
        train_trial(small, cfg, _DiesAfter(tmp_path, 1))
    path = tmp_path / cfg.name / "checkpoint.pt"
    state = checkpoint.loads(path.read_bytes(), str(path))
    if forge == "epoch":  # a forged epoch 99 is caught by the folder itself (test above)
        state["step"] -= 1
    elif forge == "model_shape":
        key = next(iter(state["model"]))
        state["model"][key] = torch.zeros(1)
    elif forge == "rng":
        state["rng"] = torch.zeros(3, dtype=torch.uint8)
    elif forge == "optimizer":
        state["optimizer"] = {}
    else:
        state["policy"] = {}
    path.write_bytes(checkpoint.dumps(state))
    with pytest.raises(ValueError, match=r"checkpoint.pt: does not fit trial plateau-seed0 \("):
        train_trial(small, cfg, RunFolder(tmp_path), resume=True)


@pytest.mark.parametrize("damage", ["summary_empty", "model_corrupt", "steps_truncated", "no_config"])
def test_a_damaged_finished_trial_is_named_or_still_usable(small, tmp_path, damage):
    cfg = TrialConfig(schedule="cosine", epochs=2)
    rec = train_trial(small, cfg, RunFolder(tmp_path))
    folder = tmp_path / cfg.name
    if damage == "no_config":  # summary.json holds the config: still testable and resumable
        (folder / "config.json").unlink()
        from lrlab.experiments.runfolder import read_trial

        config, summary = read_trial(folder)
        assert config["task"] == "digits" and TrialConfig.from_dict(
            {k: v for k, v in config.items() if k not in ("task", "task_options")}) == cfg
        assert trial_folders(tmp_path) == [folder]
        assert strip(train_trial(small, cfg, RunFolder(tmp_path), resume=True)) == strip(rec)
        return
    if damage == "summary_empty":
        (folder / "summary.json").write_text("{}")
        match = r"summary.json: not a readable lrlab summary"
    elif damage == "model_corrupt":
        (folder / "model.pt").write_bytes(b"garbage")
        match = r"model.pt: not readable weights"
    else:
        lines = (folder / "steps.csv").read_text().splitlines(keepends=True)
        (folder / "steps.csv").write_text("".join(lines[:-3]))
        match = r"steps.csv: holds \d+ rows where summary.json says"
    with pytest.raises(ValueError, match=match):
        train_trial(small, cfg, RunFolder(tmp_path), resume=True)


def test_read_trials_needs_no_torch_and_reads_unfinished_ones(small, tmp_path):
    with pytest.raises(_Killed):
        train_trial(small, TrialConfig(epochs=3, name="u"), _DiesAfter(tmp_path, 1))
    train_trial(small, TrialConfig(epochs=1, name="f"), RunFolder(tmp_path))
    code = ("import sys; from lrlab.experiments.runfolder import read_trials; "
            f"rs = read_trials({str(tmp_path)!r}); "
            "print([(r.name, str(r.status), len(r.epochs), len(r.lrs) > 0) for r in rs], "
            "'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[('f', 'finished', 1, True), ('u', 'running', 1, True)] False"
