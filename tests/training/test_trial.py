"""TrialConfig: validation, JSON round trip, names, monitors; importable without torch."""

import json
import subprocess
import sys

import pytest

from lrlab.training.trial import PLATEAU, TrialConfig


@pytest.mark.parametrize("kw,match", [
    ({"schedule": "cosin"}, "unknown schedule 'cosin'"),
    ({"lr": 0.0}, r"trial: lr must be a finite number > 0, got 0.0"),
    ({"epochs": 0}, r"trial: epochs must be an int >= 1, got 0"),
    ({"interval": "batch"}, r"trial: interval must be one of 'epoch', 'step', got 'batch'"),
    ({"optimizer": "adam"}, r"trial: optimizer must be one of 'momentum', 'sgd', 'adamw'"),
    ({"early_stop": {"patience": -1}}, r"early_stopping: patience must be an int >= 0"),
    ({"early_stop": {"monitor": "loss"}}, r"early_stop: monitor must be one of 'val_loss', 'val_acc'"),
    ({"early_stop": {"patiense": 3}}, r"early_stop: .*patiense"),
    ({"schedule": PLATEAU, "params": {"factor": 2.0}}, r"plateau: factor must be"),
    ({"warmup": -1}, r"trial: warmup must be"),
])
def test_invalid_configs_raise(kw, match):
    with pytest.raises(ValueError, match=match):
        TrialConfig(**kw)


def test_config_round_trip_and_names():
    c = TrialConfig(schedule="cyclic", params={"step_size": 3}, seed=2, early_stop={"patience": 3})
    assert c.name == "cyclic-step_size3-seed2" and TrialConfig.from_dict(c.to_dict()) == c
    assert TrialConfig(schedule="cosine", seed=1).name == "cosine-seed1"
    assert TrialConfig(schedule="plateau", warmup="5%").name == "plateau-warmup5%-seed0"
    assert TrialConfig(schedule="clr", interval="epoch").name == "clr-intervalepoch-seed0"
    long = TrialConfig(schedule="multistep", params={"milestones": [10, 20, 30], "gamma": 0.5})
    assert long.name.startswith("multistep-") and len(long.name) == len("multistep--seed0") + 8
    assert c.stopper().patience == 3 and c.stopper().rule.mode == "min"
    assert TrialConfig(early_stop={"monitor": "val_acc"}).stopper().rule.mode == "max"


def test_plateau_params_and_warmup():
    c = TrialConfig(schedule=PLATEAU, lr=0.1, params={"patience": 2, "factor": 0.5}, warmup="10%")
    p = c.plateau()
    assert p.lr == 0.1 and p.patience == 2 and p.factor == 0.5 and c.warmup == "10%"


def test_one_cycle_and_cyclic_step_every_update_by_default():
    assert TrialConfig(schedule="one_cycle").interval == "step"
    assert TrialConfig(schedule="clr").interval == "step"
    assert TrialConfig(schedule="cosine").interval == "epoch"
    assert TrialConfig(schedule="plateau").interval == "epoch"
    assert TrialConfig(schedule="plateau", interval="step").interval == "step"  # warmup's unit
    assert TrialConfig(schedule="one_cycle", interval="epoch").interval == "epoch"


def test_monitor_sets_the_mode_of_plateau_and_early_stopping():
    c = TrialConfig(schedule=PLATEAU, params={"monitor": "val_acc", "patience": 1},
                    early_stop={"monitor": "val_acc"})
    assert c.plateau().rule.mode == "max" and c.stopper().rule.mode == "max"
    assert c.plateau_monitor == "val_acc" and c.monitor == "val_acc"
    assert c.monitors == {"val_acc"}
    assert TrialConfig().monitors == set()
    assert TrialConfig(early_stop={"patience": 1}).monitors == {"val_loss"}
    with pytest.raises(ValueError, match=r"plateau: mode follows monitor .*instead of mode='max'"):
        TrialConfig(schedule=PLATEAU, params={"mode": "max"})


def test_params_are_stored_as_json_would_give_them_back():
    c = TrialConfig(schedule="multistep", params={"milestones": (1, 2)}, early_stop={"patience": 1})
    assert c.params == {"milestones": [1, 2]}
    assert TrialConfig.from_dict(json.loads(json.dumps(c.to_dict()))) == c


def test_step_counts():
    c = TrialConfig(epochs=3, batch_size=64)
    assert c.epoch_steps(130) == 3 and c.steps(130) == 3
    assert TrialConfig(epochs=3, batch_size=64, interval="step").steps(130) == 9


def test_importing_a_trial_config_loads_no_torch():
    code = ("import sys; from lrlab.training.trial import TrialConfig; TrialConfig(); "
            "import lrlab.training.plan; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_trainer_trial_owns_its_loop_and_has_a_bounded_epoch():
    from lrlab.training.trial import MAX_STEPS_PER_EPOCH, TrialConfig

    own = dict(optimizer=None, weight_decay=None, batch_size=None)
    cfg = TrialConfig(steps_per_epoch=7, epochs=2, **own)
    assert cfg.is_trainer and cfg.epoch_steps(10**6) == 7 and "steps_per_epoch" in cfg.to_dict()
    assert "steps_per_epoch" not in TrialConfig().to_dict()  # engine trials keep their old keys
    with pytest.raises(ValueError, match=f"steps_per_epoch must be an int from 1 to {MAX_STEPS_PER_EPOCH}"):
        TrialConfig(steps_per_epoch=MAX_STEPS_PER_EPOCH + 1, **own)
    with pytest.raises(ValueError, match="optimizer is the trainer's own"):
        TrialConfig(steps_per_epoch=7)
