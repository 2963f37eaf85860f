"""lrlab tune: the same budget for every schedule (read back from the store), selection on
validation alone (a poisoned test metric changes nothing), a tune killed in every phase and resumed
ending with the same trials and choice, a trainer's tune, refused configs in one line."""

from __future__ import annotations

import json
import math
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lrlab.experiments.tune import TUNING_SEED, budgets, kept, score, tuning
from lrlab.training.records import TrialRecord

ARGS = ["--schedule", "cosine,step,wsd", "--trials-per-schedule", "4", "--budget-rungs", "2",
        "--epochs", "3", "--seeds", "2", "--quiet", "--json"]


def lrlab_tune(out, env, *extra, timeout=900):
    done = subprocess.run([sys.executable, "-m", "lrlab", "tune", *ARGS, *extra, "--out", str(out)],
                          env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def whole(tmp_path_factory, child_env):
    out = tmp_path_factory.mktemp("tune") / "t"
    return out, lrlab_tune(out, child_env)


def tuning_rows(out):
    """``[(name, config)]`` of every tuning trial in the store (its seed is the tuning seed)."""
    db = sqlite3.connect(Path(out) / "results.sqlite")
    try:
        rows = [(n, json.loads(c)) for n, c in db.execute("SELECT name, config FROM trial ORDER BY id")]
    finally:
        db.close()
    return [(n, c) for n, c in rows if c["seed"] == TUNING_SEED]


def test_rungs_are_complete_runs_eta_times_shorter():
    assert budgets(20, 3, 3) == [2, 7, 20]
    assert budgets(27, 4, 3) == [1, 3, 9, 27]
    assert budgets(5, 1, 3) == [5]
    assert [kept(8, r, 2) for r in range(4)] == [8, 4, 2, 1]
    assert [kept(2, r, 3) for r in range(3)] == [2, 1, 1]


def test_a_trial_scores_its_last_validation_accuracy_and_a_diverged_one_lowest():
    rec = TrialRecord("a", {}, "finished", epochs=[{"val_acc": 0.9, "val_loss": 0.1},
                                                     {"val_acc": 0.5, "val_loss": 0.7}])
    assert score(rec) == 0.5
    rec.epochs[-1]["val_acc"] = None
    assert score(rec) == -0.7  # no accuracy (regression): the loss
    assert score(TrialRecord("b", {}, "diverged", epochs=rec.epochs)) == -math.inf
    assert score(TrialRecord("c", {}, "finished")) == -math.inf


def test_every_schedule_gets_the_same_trials_and_epochs_read_from_the_store(whole):
    out, result = whole
    rows = tuning_rows(out)
    per_label: dict[str, list[int]] = {}
    for name, cfg in rows:
        per_label.setdefault(name.split("-t")[0], []).append(cfg["epochs"])
    # 4 draws at 1 epoch, the best of each (4 // 3) at 3: 7 epochs per schedule
    assert {k: sorted(v) for k, v in per_label.items()} == {s: [1, 1, 1, 1, 3] for s in ("cosine", "step", "wsd")}
    assert result["tuning_epochs"] == {"cosine": 7, "step": 7, "wsd": 7}
    assert result["budgets"] == [1, 3] and result["selected_on"] == "validation"
    lrs = [cfg["lr"] for _, cfg in rows]
    assert all(0.05 / 30 <= lr <= 0.05 * 30 for lr in lrs) and len(set(lrs)) > 3
    steps = {cfg["params"].get("step_size") for n, cfg in rows if n.startswith("step-")}
    assert all(isinstance(s, str) and s.endswith("%") and 10 <= float(s[:-1]) <= 50 for s in steps)
    # the evaluation: each schedule's choice over seeds 0 and 1, ranked
    assert sorted(r["name"] for r in result["schedules"]) == ["cosine", "step", "wsd"]
    assert result["trials_finished"] == 6


def test_the_choice_is_the_best_validation_score_at_the_last_rung(whole):
    out, result = whole
    db = sqlite3.connect(Path(out) / "results.sqlite")
    try:
        last = {}
        for name, cfg, tid in db.execute("SELECT name, config, id FROM trial"):
            cfg = json.loads(cfg)
            if cfg["seed"] == TUNING_SEED and cfg["epochs"] == 3:
                val = db.execute("SELECT val_acc FROM epoch WHERE trial_id = ? ORDER BY epoch DESC",
                                 (tid,)).fetchone()[0]
                last[name.split("-t")[0]] = (val, cfg)
    finally:
        db.close()
    for label, chosen in result["tuned"].items():
        val, cfg = last[label]
        assert chosen["val"] == val and chosen["lr"] == cfg["lr"]
        assert all(cfg["params"][k] == v for k, v in chosen["params"].items())


def test_poisoning_the_tuning_trials_test_metric_changes_nothing(whole, tmp_path, child_env):
    out, result = whole
    poisoned = tmp_path / "t"
    shutil.copytree(out, poisoned, ignore=shutil.ignore_patterns(".lrlab.lock"))
    db = sqlite3.connect(poisoned / "results.sqlite")
    chosen = {f"{k}-t{v['draw']}-" for k, v in result["tuned"].items()}
    for tid, name, cfg in db.execute("SELECT id, name, config FROM trial").fetchall():
        if json.loads(cfg)["seed"] == TUNING_SEED:  # the chosen worst on test, the others perfect
            value = 0.0 if any(name.startswith(c) for c in chosen) else 1.0
            db.execute("UPDATE trial SET test_acc = ? WHERE id = ?", (value, tid))
            db.execute("DELETE FROM example WHERE trial_id = ? AND split = 'test'", (tid,))
    db.commit()
    db.close()
    again = lrlab_tune(poisoned, child_env)
    assert again["tuned"] == result["tuned"] and again["schedules"] == result["schedules"]


@pytest.mark.parametrize("kills", [(2, 14, 27)])  # in rung 0, in rung 1, in the evaluation
def test_a_tune_killed_in_every_phase_and_resumed_ends_with_the_same_trials_and_choice(
        whole, tmp_path, child_env, rows, kills):
    out = tmp_path / "t"
    cmd = [sys.executable, "-m", "lrlab", "tune", *ARGS, "--out", str(out)]
    for at in kills:  # SIGKILL once the store holds `at` epochs
        driver = subprocess.Popen(cmd, env=child_env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE)
        deadline = time.monotonic() + rows.HANG
        while rows.epochs_stored(out) < at and driver.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert driver.poll() is None, driver.stderr.read().decode()[-2000:]
        driver.send_signal(signal.SIGKILL)
        driver.wait()
    assert 0 < rows.epochs_stored(out) < rows.epochs_stored(whole[0])
    result = lrlab_tune(out, child_env)
    assert result["tuned"] == whole[1]["tuned"]
    assert rows.tables(out) == rows.tables(whole[0])  # no trial twice, none still running


def test_a_tune_of_your_own_trainer(tmp_path):
    from lrlab.experiments.tune import tune
    from lrlab.usercode import load_function

    train = load_function(str(Path(__file__).resolve().parents[2] / "examples" / "torch_trainer.py")
                          + ":train", "--trainer")
    result = tune(trainer=train, schedules=["cosine", "step"], trials_per_schedule=2,
                  budget_rungs=1, epochs=2, seeds=1, steps_per_epoch=17, out=tmp_path / "t")
    assert result.budget == {"cosine": 4, "step": 4}
    assert sorted(result.chosen) == ["cosine", "step"]
    assert all(r.status == "finished" for r in result.evaluation.records)


@pytest.mark.parametrize("config, expected", [
    ({"space": {"step": {"gamma": [0.01, 0.5]}}},
     "space.step.gamma: must be [low, high] within 0.05 .. 0.7, got [0.01, 0.5]"),
    ({"space": {"step": {"power": [1, 2]}}}, "space.step.power: step searches step_size, gamma"),
    ({"space": {"cosine": {"step_size": [10, 20]}}},
     "space.cosine.step_size: cosine searches only the LR (lr_range)"),
    ({"space": {"stepp": {}}}, "space.stepp: not a schedule of this experiment"),
    ({"lr_range": [3, 1]}, "lr_range: must be [low, high], factors of lr with 0 < low < high"),
    ({"budget_rungs": 5}, "budget_rungs: 5 rungs, each 3x longer, are 1, 1, 2, 7, 20 epochs at "
                          "epochs=20: two the same; give fewer rungs or more epochs"),
    ({"trials_per_schedule": 0}, "trials_per_schedule: must be a whole number from 1 to 1000, got 0"),
    ({"sampler_seed": 2**40}, "sampler_seed: must be a whole number from 0 to 4294967295"),
    ({"budget_rungs": True}, "budget_rungs: must be a whole number from 1 to 10, got True"),
    ({"trials_pre_schedule": 3}, "trials_pre_schedule: unknown key; did you mean 'trials_per_schedule'?"),
    ({"preset": "paddle", "schedules": [], "space": {"Adjust_lr": {"gamma": [0.1, 0.5]}}},
     "space.Adjust_lr.gamma: Adjust_lr fixes gamma (0.95); it is not searched"),
    ({"metric": "val_acc"}, "metric: tune chooses on validation, so it ranks on the held-out test_acc"),
    ({"schedules": [{"name": "cosine", "params": {"base_lr": 0.1}}]},
     "schedules: cosine's parameters fix its LR (the same LR table at lr x 0.0333333 and x 30)"),
    ({"schedules": ["cosine", {"name": "cosine", "label": "c2", "params": {"total_steps": "100%"}}]},
     "schedules: c2 runs the same trials as cosine"),
    ({"schedules": [{"name": "one_cycle", "interval": "epoch"}], "sampler_seed": 1},
     "tune: one_cycle's draw 0 (lr="),
])
def test_a_bad_tuning_key_in_a_config_is_one_line_and_writes_nothing(tmp_path, monkeypatch,
                                                                      one_line_error, config,
                                                                      expected):
    from click.testing import CliRunner

    from lrlab.cli import cli

    monkeypatch.chdir(tmp_path)
    Path("t.yaml").write_text(json.dumps({"schedules": ["cosine", "step"], **config}))
    result = CliRunner().invoke(cli, ["tune", "--config", "t.yaml", "--out", "t", "--quiet"])
    one_line_error(result, expected)
    assert not Path("t").exists()


def test_a_compare_store_with_other_settings_is_refused_before_tuning_writes(tmp_path, child_env):
    from lrlab.experiments.runner import compare
    from lrlab.experiments.store import read_records

    compare("digits", ["cosine"], seeds=1, epochs=1, out=tmp_path / "t")
    done = subprocess.run([sys.executable, "-m", "lrlab", "tune", *ARGS, "--out", str(tmp_path / "t")],
                          env=child_env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 2 and "holds an experiment with epochs=1, not 3" in done.stderr
    assert len(read_records(tmp_path / "t")) == 1
    db = sqlite3.connect(tmp_path / "t" / "results.sqlite")
    assert db.execute("SELECT value FROM meta WHERE key = 'tune'").fetchone() is None
    db.close()


def test_a_compare_and_a_tune_never_share_a_folder(whole, tmp_path, child_env, rows):
    from lrlab.experiments.runner import compare

    compare("digits", ["cosine", "step", "wsd"], seeds=2, epochs=3, out=tmp_path / "c")
    done = subprocess.run([sys.executable, "-m", "lrlab", "tune", *ARGS, "--out", str(tmp_path / "c")],
                          env=child_env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 2 and "holds a comparison (lrlab compare) that was not tuned" in done.stderr
    out = tmp_path / "t"
    shutil.copytree(whole[0], out, ignore=shutil.ignore_patterns(".lrlab.lock"))
    with pytest.raises(ValueError, match="holds a tuning \\(lrlab tune\\): run that tune again"):
        compare("digits", ["cosine", "step", "wsd"], seeds=2, epochs=3, out=out)
    assert rows.tables(out) == rows.tables(whole[0])


def test_the_draws_are_sobol_points_and_every_preset_label_evaluates():
    from lrlab.experiments.tune import _evaluation, draw

    t = tuning({"schedules": ["cosine"], "trials_per_schedule": 8})
    lrs = [d["lr"] for d in draw(t)["cosine"]]
    strata = sorted(int(8 * math.log(lr / (0.05 / 30)) / math.log(900)) for lr in lrs)
    assert strata == list(range(8))  # one draw in each eighth of the log range
    t = tuning({"preset": "all", "trials_per_schedule": 1, "space": {"step": {"gamma": [0.1, 0.5]}}})
    final = _evaluation(t, {e.label: {"lr": 0.1, "params": {}} for e in t.exp.entries})
    assert [e.label for e in final.entries] == [e.label for e in t.exp.entries]
    assert "StepDecay / StepLR" in [e.label for e in final.entries]
    assert {e.lr for e in final.entries} == {0.1}


def test_tuning_validates_without_training():
    t = tuning({"preset": "paddle", "trials_per_schedule": 3, "space": {"StepDecay": {"gamma": [0.1, 0.5]}}})
    step = next(e for e in t.exp.entries if e.label == "StepDecay")
    assert t.dims(step)["gamma"].low == 0.1 and set(t.dims(step)) == {"gamma", "step_size"}
    lam = next(e for e in t.exp.entries if e.label == "LambdaDecay")  # its gamma is its definition
    assert t.dims(lam) == {}
    assert t.budgets == [2, 7, 20] and t.seed == TUNING_SEED


def test_another_tuning_or_damaged_draws_in_the_folder_are_one_line(whole, tmp_path, child_env):
    out = tmp_path / "t"
    shutil.copytree(whole[0], out, ignore=shutil.ignore_patterns(".lrlab.lock"))
    cmd = [sys.executable, "-m", "lrlab", "tune", *ARGS, "--out", str(out)]
    other = subprocess.run([*cmd, "--trials-per-schedule", "5"], env=child_env,
                           capture_output=True, text=True, timeout=600)
    assert other.returncode == 2 and other.stderr.count("\n") == 1, other.stderr
    assert "holds a tuning with another trials_per_schedule (4); tune again in another --out" in other.stderr
    db = sqlite3.connect(out / "results.sqlite")
    tune = json.loads(db.execute("SELECT value FROM meta WHERE key = 'tune'").fetchone()[0])
    tune["drawn"]["step"][1]["lr"] = -1.0
    db.execute("UPDATE meta SET value = ? WHERE key = 'tune'", (json.dumps(tune),))
    db.commit()
    db.close()
    damaged = subprocess.run(cmd, env=child_env, capture_output=True, text=True, timeout=600)
    assert damaged.returncode == 2 and "its recorded draws do not fit the tuning" in damaged.stderr


def test_on_ray_the_same_trials_and_choice_as_local_workers(cluster, tmp_path, rows):
    from lrlab.experiments.tune import tune

    kw = dict(schedules=["cosine", "step", "wsd"], trials_per_schedule=4, budget_rungs=2, epochs=3,
              seeds=2)
    on_ray = tune("digits", out=tmp_path / "ray", backend="ray", address=cluster[0], **kw)
    local = tune("digits", out=tmp_path / "local", workers=2, **kw)
    assert on_ray.chosen == local.chosen and on_ray.budget == local.budget
    assert rows.tables(tmp_path / "ray") == rows.tables(tmp_path / "local")
