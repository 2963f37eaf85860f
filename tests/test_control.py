"""Plateau and EarlyStopping: one improvement rule, exact state, resume."""

import json
import math
import subprocess
import sys

import pytest

import lrlab
from lrlab import EarlyStopping, Improvement, Plateau


def test_improvement_rule():
    assert Improvement("min", 0.1, "abs").is_better(0.89, 1.0)
    assert not Improvement("min", 0.1, "abs").is_better(0.9, 1.0)
    assert Improvement("max", 0.1, "rel").is_better(1.11, 1.0)
    assert not Improvement("max", 0.1, "rel").is_better(1.1, 1.0)
    assert Improvement("min").is_better(1.0, math.inf)
    assert not Improvement("min").is_better(math.nan, 1.0)


def test_plateau_patience_factor_min_lr():
    p = Plateau(1.0, patience=2, factor=0.5, min_lr=0.3)
    lrs = [p.step(m) for m in [5, 5, 5, 5, 5, 5, 5, 5, 5]]
    assert lrs == [1, 1, 1, .5, .5, .5, .3, .3, .3]


def test_plateau_cooldown_torch_vs_paddle():
    metrics = [1.0, 2.0, 2.0, 0.5, 2.0, 2.0, 2.0, 2.0]
    torch_like = Plateau(1.0, patience=1, factor=0.5, cooldown=2)
    paddle_like = Plateau(1.0, patience=1, factor=0.5, cooldown=2, semantics="paddle")
    # torch tracks the new best 0.5 during cooldown; paddle ignores metrics while cooling down
    assert [torch_like.step(m) for m in metrics] == [1, 1, .5, .5, .5, .5, .25, .25]
    assert [paddle_like.step(m) for m in metrics] == [1, 1, .5, .5, .5, .5, .25, .25]
    assert torch_like.best == 0.5 and paddle_like.best == 1.0


def test_plateau_eps_skips_tiny_reductions():
    p = Plateau(1e-9, patience=0, factor=0.5, eps=1e-8)
    assert [p.step(1.0) for _ in range(3)] == [1e-9] * 3


def test_plateau_state_dict_resumes_exactly():
    metrics = [3, 2, 2, 2, 1, 1, 1, 1, 1, 1]
    full = Plateau(0.1, patience=1, cooldown=1)
    expect = [full.step(m) for m in metrics]
    a = Plateau(0.1, patience=1, cooldown=1)
    got = [a.step(m) for m in metrics[:4]]
    b = Plateau(0.1, patience=1, cooldown=1)
    b.load_state_dict(dict(a.state_dict()))
    got += [b.step(m) for m in metrics[4:]]
    assert got == expect


@pytest.mark.parametrize("kw,match", [
    ({"factor": 1.0}, r"plateau: factor must be a finite number > 0 and < 1, got 1.0"),
    ({"patience": -1}, r"plateau: patience must be an int >= 0, got -1"),
    ({"mode": "down"}, r"improvement: mode must be one of 'min', 'max', got 'down'"),
    ({"threshold_mode": "pct"}, r"threshold_mode must be one of 'rel', 'abs'"),
])
def test_plateau_validation(kw, match):
    with pytest.raises(ValueError, match=match):
        Plateau(0.1, **kw)


def test_plateau_rejects_non_numeric_metric():
    with pytest.raises(TypeError, match="plateau: metric must be a number, got 'x'"):
        Plateau(0.1).step("x")


def test_early_stopping_stops_after_patience_and_remembers_best():
    es = EarlyStopping(patience=3, mode="max")
    metrics = [0.5, 0.7, 0.69, 0.71, 0.70, 0.70, 0.70, 0.9]
    stops = []
    for m in metrics:
        stops.append(es.step(m))
        if stops[-1]:
            break
    assert len(stops) == 7 and es.best == 0.71 and es.best_epoch == 3 and es.stopped_epoch == 6


def test_early_stopping_min_delta_baseline_start_from_epoch():
    es = EarlyStopping(patience=1, min_delta=0.1)
    assert [es.step(m) for m in [1.0, 0.95]] == [False, True]  # 0.95 is within min_delta
    es = EarlyStopping(patience=1, min_delta=0.1)
    assert [es.step(m) for m in [1.0, 0.85, 0.8]] == [False, False, True]
    es = EarlyStopping(patience=2, baseline=0.5)  # improvements that miss the baseline do not reset patience
    assert [es.step(m) for m in [0.9, 0.8, 0.7, 0.75]] == [False, False, False, True]
    assert es.best == 0.7 and es.best_epoch == 2
    es = EarlyStopping(patience=0, start_from_epoch=2)
    assert [es.step(m) for m in [1.0, 2.0, 3.0, 4.0]] == [False, False, False, True]


def test_early_stopping_and_plateau_share_the_rule():
    es, p = EarlyStopping(patience=1, min_delta=0.1), Plateau(1.0, patience=1, threshold=0.1, threshold_mode="abs")
    for m in [1.0, 0.95, 0.85, 0.84]:
        es.step(m)
        p.step(m)
        assert es.improved == (p.num_bad_epochs == 0 and p.best == m)


def test_early_stopping_state_dict_round_trip():
    a = EarlyStopping(patience=2)
    for m in [1.0, 0.5, 0.6]:
        a.step(m)
    b = EarlyStopping(patience=2)
    b.load_state_dict(a.state_dict())
    assert b.step(0.7) == a.step(0.7) is True


# ---- configs: from_config rebuilds an equal object, in this process and in a fresh one ------
def fresh(code: str, *args: str):
    """Run ``code`` in a new interpreter; its stdout parsed as JSON."""
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# the child rebuilds each (class, config) of argv[1], feeds it the metrics of argv[2] and
# prints its config, its fresh state and what step() returned
REPLAY = """
import json, sys
from lrlab import EarlyStopping, Plateau
out = []
for cls, cfg in json.loads(sys.argv[1]):
    obj = {"Plateau": Plateau, "EarlyStopping": EarlyStopping}[cls].from_config(cfg)
    fresh = [obj.to_config(), obj.state_dict()]
    out.append(fresh + [[obj.step(m) for m in json.loads(sys.argv[2])]])
print(json.dumps(out))
"""
METRICS = [3.0, 3.0, 3.0, 2.0, 2.5, 2.5, 2.5, 1.0, 2.0, 2.0]


def controls():
    return {
        "torch": Plateau(1.0, patience=1, factor=0.5, cooldown=1, threshold=0.1, min_lr=0.2),
        "paddle": Plateau(1.0, mode="min", patience=1, factor=0.5, cooldown=1, threshold=0.1,
                          semantics="paddle"),
        "from_torch": lrlab.from_torch("ReduceLROnPlateau", 1.0, patience=0, factor=0.25),
        "from_paddle": lrlab.from_paddle("ReduceOnPlateau", learning_rate=1.0, patience=0,
                                         factor=0.25, cooldown=2),
        "early_stopping": EarlyStopping(patience=2, min_delta=0.25, baseline=2.9),
        # every argument away from its default
        "plateau_all": Plateau(0.5, mode="max", factor=0.3, patience=2, threshold=0.05,
                               threshold_mode="abs", cooldown=1, min_lr=0.01, eps=1e-6,
                               semantics="paddle"),
        "early_stopping_all": EarlyStopping(mode="max", patience=3, min_delta=0.1, baseline=1.5,
                                            start_from_epoch=2, restore_best=False),
    }


EXPECTED_STEPS = {
    "torch": [1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25, 0.2],  # min_lr 0.2 at the end
    "paddle": [1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25],  # cooldown skips metrics
    "from_torch": [1.0, 0.25, 0.0625, 0.0625, 0.015625, 0.00390625, 0.0009765625,
                   0.0009765625, 0.000244140625, 6.103515625e-05],
    "from_paddle": [1.0, 0.25, 0.25, 0.25, 0.25, 0.0625, 0.0625, 0.0625, 0.0625, 0.015625],
    # 3.0 misses the baseline, so it does not reset the patience: stop at epoch 1
    "early_stopping": [False, True, True, False, False, True, True, False, False, True],
    # mode max: 3.0 is the best; 2.0 / 2.5 fail to beat it by the 0.05 threshold
    "plateau_all": [0.5, 0.5, 0.5, 0.15, 0.15, 0.15, 0.15, 0.045, 0.045, 0.045],
    # epochs 0 and 1 are ignored; 3.0 at epoch 2 is the best, beating the baseline
    "early_stopping_all": [False, False, False, False, False, True, True, True, True, True],
}


def test_controls_step_as_expected():
    for name, obj in controls().items():
        assert [obj.step(m) for m in METRICS] == EXPECTED_STEPS[name], name


def test_semantics_survive_the_config():
    cfg = controls()["from_paddle"].to_config()
    assert cfg == {"name": "plateau", "lr": 1.0, "mode": "min", "factor": 0.25, "patience": 0,
                   "threshold": 1e-4, "threshold_mode": "rel", "cooldown": 2, "min_lr": 0.0,
                   "eps": 1e-8, "semantics": "paddle"}
    assert controls()["from_torch"].to_config()["semantics"] == "torch"


def test_from_config_rebuilds_an_equal_object():
    for name, obj in controls().items():
        cls = type(obj)
        for load in (cls.from_config, lrlab.from_config, lrlab.schedules.from_config):
            back = load(obj.to_config())
            assert type(back) is cls and back == obj, name
            assert load(json.dumps(obj.to_config())) == obj, name


def test_configs_rebuild_in_a_fresh_process():
    objs = controls()
    payload = [[type(o).__name__, o.to_config()] for o in objs.values()]
    got = fresh(REPLAY, json.dumps(payload), json.dumps(METRICS))
    for (name, obj), (config, state, steps) in zip(objs.items(), got):
        assert config == obj.to_config(), name
        assert state == obj.state_dict(), name
        assert steps == EXPECTED_STEPS[name], name


def test_lrlab_from_config_rebuilds_them_in_a_fresh_process():
    objs = controls()
    code = ("import json, sys, lrlab\n"
            "out = []\n"
            "for text in json.loads(sys.argv[1]):\n"
            "    obj = lrlab.from_config(text)\n"
            "    out.append([type(obj).__name__, obj.to_config(), obj.state_dict(),\n"
            "                [obj.step(m) for m in json.loads(sys.argv[2])]])\n"
            "print(json.dumps(out))\n")
    texts = [json.dumps(o.to_config()) for o in objs.values()]
    got = fresh(code, json.dumps(texts), json.dumps(METRICS))
    for (name, obj), (cls, config, state, steps) in zip(objs.items(), got):
        assert cls == type(obj).__name__, name
        assert config == obj.to_config() and state == obj.state_dict(), name
        assert steps == EXPECTED_STEPS[name], name


def test_equality_compares_settings_and_state():
    a, b = Plateau(0.1, patience=1), Plateau(0.1, patience=1)
    assert a == b and a != Plateau(0.1, patience=2) and a != EarlyStopping()
    a.step(1.0)
    assert a != b
    b.step(1.0)
    assert a == b
    es = EarlyStopping(patience=1)
    es.step(1.0)
    assert es != EarlyStopping(patience=1)
    with pytest.raises(TypeError):
        hash(a)


@pytest.mark.parametrize("cls,config,match", [
    (Plateau, {"name": "early_stopping"}, r"plateau: a config is a dict with name='plateau'"),
    (Plateau, {"lr": 0.1}, r"plateau: a config is a dict with name='plateau'"),
    (Plateau, {"name": "plateau", "lr": 0.1, "patiense": 2},
     r"plateau: unknown parameter 'patiense'; did you mean 'patience'\? valid: lr, mode,"),
    (EarlyStopping, {"name": "early_stopping", "factor": 0.1},
     r"early_stopping: unknown parameter 'factor'; valid: mode, patience, min_delta,"),
    (Plateau, {"name": "plateau", "lr": 0.1, "factor": 2.0},
     r"plateau: factor must be a finite number > 0 and < 1, got 2.0"),
])
def test_from_config_refuses_bad_configs(cls, config, match):
    with pytest.raises(ValueError, match=match):
        cls.from_config(config)


def test_lrlab_from_config_hands_their_configs_to_their_class():
    with pytest.raises(ValueError, match=r"^plateau: unknown parameter 'patiense'"):
        lrlab.from_config({"name": "plateau", "lr": 0.1, "patiense": 2})
    with pytest.raises(ValueError, match=r"^early_stopping: unknown parameter 'factor'"):
        lrlab.from_config('{"name": "early_stopping", "factor": 0.1}')
