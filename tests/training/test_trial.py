"""TrialConfig validation and run-relative schedule defaults."""

import json

import pytest

import lrlab
from lrlab.training.trial import PLATEAU, TrialConfig, run_defaults, schedule_for


@pytest.mark.parametrize("name", lrlab.names())
@pytest.mark.parametrize("total", [1, 2, 3, 40])
def test_every_schedule_name_works_out_of_the_box(name, total):
    s = schedule_for(TrialConfig(schedule=name, lr=0.1), total=total)
    c = s.curve(total)
    assert c.max() <= 0.1 + 1e-12 and (c > 0).all()
    if total == 40:
        assert c.max() >= 0.05


def test_defaults_are_relative_to_the_run_and_params_override():
    assert schedule_for(TrialConfig(schedule="cosine", lr=0.2), 50) == lrlab.create("cosine", base_lr=0.2, total_steps=50)
    s = schedule_for(TrialConfig(schedule="step", lr=0.1, params={"step_size": 3}), 10)
    assert s == lrlab.create("step", base_lr=0.1, step_size=3, gamma=0.1)
    assert schedule_for(TrialConfig(schedule="one_cycle", lr=0.3), 100).max_lr == 0.3
    assert run_defaults("sgdr", 0.1, 100)["step_size"] == 25


def test_warmup_wraps_the_schedule_which_fills_the_rest():
    s = schedule_for(TrialConfig(schedule="cosine", lr=0.1, warmup="10%"), 100)
    assert s == lrlab.create("warmup", schedule=lrlab.create("cosine", base_lr=0.1, total_steps=90), warmup_steps=10)
    with pytest.raises(ValueError, match=r"warmup \(100\) must be shorter than the run \(100 steps\)"):
        schedule_for(TrialConfig(schedule="cosine", warmup=100), 100)


@pytest.mark.parametrize("kw,match", [
    ({"schedule": "cosin"}, "unknown schedule 'cosin'"),
    ({"lr": 0.0}, r"trial: lr must be a finite number > 0, got 0.0"),
    ({"epochs": 0}, r"trial: epochs must be an int >= 1, got 0"),
    ({"interval": "batch"}, r"trial: interval must be one of 'epoch', 'step', got 'batch'"),
    ({"optimizer": "adam"}, r"trial: optimizer must be one of 'momentum', 'sgd', 'adamw'"),
    ({"early_stop": {"patience": -1}}, r"early_stopping: patience must be an int >= 0"),
    ({"early_stop": {"monitor": "loss"}}, r"early_stop: monitor must be one of 'val_loss', 'val_acc'"),
    ({"early_stop": {"patiense": 3}}, r"early_stop: .*patiense"),
    ({"schedule": PLATEAU, "interval": "step"}, "plateau follows the validation metric once per epoch"),
])
def test_invalid_configs_raise(kw, match):
    with pytest.raises(ValueError, match=match):
        TrialConfig(**kw)


def test_config_round_trip_and_names():
    c = TrialConfig(schedule="cyclic", params={"step_size": 3}, seed=2, early_stop={"patience": 3})
    assert c.name == "cyclic-seed2" and TrialConfig.from_dict(c.to_dict()) == c
    assert c.stopper().patience == 3 and c.stopper().rule.mode == "min"
    assert TrialConfig(early_stop={"monitor": "val_acc"}).stopper().rule.mode == "max"


def test_plateau_params():
    p = TrialConfig(schedule=PLATEAU, lr=0.1, params={"patience": 2, "factor": 0.5}).plateau()
    assert p.lr == 0.1 and p.patience == 2 and p.factor == 0.5


def test_one_cycle_and_cyclic_step_every_update_by_default():
    assert TrialConfig(schedule="one_cycle").interval == "step"
    assert TrialConfig(schedule="clr").interval == "step"
    assert TrialConfig(schedule="cosine").interval == "epoch"
    assert TrialConfig(schedule="plateau").interval == "epoch"
    assert TrialConfig(schedule="one_cycle", interval="epoch").interval == "epoch"


def test_monitor_sets_the_mode_of_plateau_and_early_stopping():
    c = TrialConfig(schedule=PLATEAU, params={"monitor": "val_acc", "patience": 1},
                    early_stop={"monitor": "val_acc"})
    assert c.plateau().rule.mode == "max" and c.stopper().rule.mode == "max"
    assert c.plateau_monitor == "val_acc" and c.monitor == "val_acc"
    with pytest.raises(ValueError, match=r"plateau: mode follows monitor .*instead of mode='max'"):
        TrialConfig(schedule=PLATEAU, params={"mode": "max"})


def test_params_are_stored_as_json_would_give_them_back():
    c = TrialConfig(schedule="multistep", params={"milestones": (1, 2)}, early_stop={"patience": 1})
    assert c.params == {"milestones": [1, 2]}
    assert TrialConfig.from_dict(json.loads(json.dumps(c.to_dict()))) == c
