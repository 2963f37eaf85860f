"""lrlab.compat.base: the class tables, and configs that rebuild in a fresh process."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import lrlab
from lrlab.compat.base import PADDLE, TORCH

# the child prints, as JSON, what it rebuilt from the configs in argv[1], and the framework
# modules it ended up importing (none: compat is numpy only)
REBUILD = """
import json, sys
import lrlab
out = []
for cfg in json.loads(sys.argv[1]):
    s = lrlab.from_config(cfg)
    out.append({"config": s.to_config(), "curve": s.curve(7).tolist(), "repr": repr(s)})
frameworks = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "paddle"))
print(json.dumps({"rebuilt": out, "frameworks": frameworks}))
"""


def fresh(code: str, *args: str) -> dict:
    """Run ``code`` in a new interpreter; its stdout parsed as JSON."""
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def torch_cases():
    s = lrlab.from_torch
    warm = s("LinearLR", 1.0, start_factor=0.5, total_iters=2)
    step = s("StepLR", 1.0, step_size=2, gamma=0.5)
    return {
        "StepLR": (step, [1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.125]),
        "MultiStepLR": (s("MultiStepLR", 1.0, milestones=[1, 3], gamma=0.25),
                        [1.0, 0.25, 0.25, 0.0625, 0.0625, 0.0625, 0.0625]),
        "OneCycleLR": (s("OneCycleLR", 1.0, max_lr=1.0, total_steps=4, pct_start=0.5,
                         anneal_strategy="linear", div_factor=4.0, final_div_factor=1.0),
                       [0.25, 1.0, 0.625, 0.25, 0.0, 0.0, 0.0]),
        "SequentialLR": (s("SequentialLR", 1.0, schedulers=[warm, step], milestones=[2]),
                         [0.5, 0.75, 1.0, 1.0, 0.5, 0.5, 0.25]),
        "ChainedScheduler": (s("ChainedScheduler", 1.0, schedulers=[
            s("ConstantLR", 1.0, factor=0.5, total_iters=2), s("ExponentialLR", 1.0, gamma=0.5)]),
            [0.5, 0.25, 0.25, 0.125, 0.0625, 0.03125, 0.015625]),
    }


def paddle_cases():
    p = lrlab.from_paddle
    inner = p("StepDecay", learning_rate=1.0, step_size=2, gamma=0.5)
    return {
        "StepDecay": (inner, [1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.125]),
        "PiecewiseDecay": (p("PiecewiseDecay", boundaries=[2, 4], values=[1.0, 0.5, 0.25]),
                           [1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.25]),
        "LinearWarmup": (p("LinearWarmup", learning_rate=inner, warmup_steps=2, start_lr=0.0,
                           end_lr=1.0),
                         [0.0, 0.5, 1.0, 1.0, 0.5, 0.5, 0.25]),
        "LinearWarmup(float)": (p("LinearWarmup", learning_rate=0.5, warmup_steps=2,
                                  start_lr=0.0, end_lr=1.0),
                                [0.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]),
    }


def test_tables_are_full_in_a_fresh_process():
    got = fresh("import json, lrlab.compat.base as b; print(json.dumps([sorted(b.TORCH), sorted(b.PADDLE)]))")
    assert got == [sorted(TORCH), sorted(PADDLE)]
    assert {"StepLR", "SequentialLR", "ChainedScheduler", "ReduceLROnPlateau"} <= set(got[0])
    assert {"StepDecay", "LinearWarmup", "ReduceOnPlateau"} <= set(got[1])


@pytest.mark.parametrize("cases", [torch_cases, paddle_cases], ids=["torch", "paddle"])
def test_configs_rebuild_in_a_fresh_process(cases):
    cases = cases()
    for name, (s, expected) in cases.items():
        assert s.curve(7).tolist() == expected, name
    configs = [s.to_config() for s, _ in cases.values()]
    got = fresh(REBUILD, json.dumps(configs))
    assert got["frameworks"] == []
    for (name, (s, expected)), r in zip(cases.items(), got["rebuilt"]):
        assert r["config"] == s.to_config(), name
        assert r["curve"] == expected, name
        assert r["repr"] == repr(s), name


def test_config_rebuilds_an_equal_schedule():
    for s, _ in [*torch_cases().values(), *paddle_cases().values()]:
        assert lrlab.from_config(json.dumps(s.to_config())) == s


def test_nested_config_names_the_framework_class():
    s = torch_cases()["SequentialLR"][0]
    cfg = s.to_config()
    assert cfg["class_name"] == "SequentialLR" and cfg["lr"] == 1.0
    assert [m["class_name"] for m in cfg["kwargs"]["schedulers"]] == ["LinearLR", "StepLR"]
    assert cfg["kwargs"]["milestones"] == [2]


def test_unknown_class_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown class 'Nope'; known: .*StepLR"):
        lrlab.from_config({"name": "from_torch", "class_name": "Nope", "lr": 0.1, "kwargs": {}})
    with pytest.raises(ValueError, match=r"unknown class 'StepDecy'; did you mean StepDecay"):
        lrlab.from_config({"name": "from_paddle", "class_name": "StepDecy", "kwargs": {}})


# ---- malformed input: every keyword of every class, hostile values ---------------------------
# a valid call per class; each keyword in turn gets each hostile value: lrlab must refuse it
# with a ValueError / TypeError that starts with the class name (no OverflowError, no numpy
# "truth value is ambiguous", no traceback from deep inside)
def _f(k):
    return 1.0


VALID_TORCH = {
    "LambdaLR": {"lr_lambda": _f}, "MultiplicativeLR": {"lr_lambda": _f},
    "StepLR": {"step_size": 3, "gamma": 0.5}, "MultiStepLR": {"milestones": [2, 5], "gamma": 0.5},
    "ConstantLR": {"factor": 0.5, "total_iters": 3},
    "LinearLR": {"start_factor": 0.5, "end_factor": 1.0, "total_iters": 3},
    "ExponentialLR": {"gamma": 0.9}, "PolynomialLR": {"total_iters": 5, "power": 2.0},
    "CosineAnnealingLR": {"T_max": 10, "eta_min": 0.01},
    "CyclicLR": {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 4, "step_size_down": 3, "mode": "exp_range",
                 "gamma": 0.9, "scale_mode": "cycle"},
    "OneCycleLR": {"max_lr": 1.0, "total_steps": 20, "pct_start": 0.3, "anneal_strategy": "cos",
                   "div_factor": 25.0, "final_div_factor": 1e4, "three_phase": False},
    "CosineAnnealingWarmRestarts": {"T_0": 5, "T_mult": 2, "eta_min": 0.01},
    "ReduceLROnPlateau": {"mode": "min", "factor": 0.5, "patience": 2, "threshold": 1e-4, "threshold_mode": "rel",
                          "cooldown": 1, "min_lr": 0.001, "eps": 1e-8},
}
VALID_PADDLE = {
    "NoamDecay": {"d_model": 16, "warmup_steps": 4, "learning_rate": 1.0},
    "PiecewiseDecay": {"boundaries": [3, 6], "values": [0.1, 0.05, 0.01]},
    "NaturalExpDecay": {"learning_rate": 0.1, "gamma": 0.5}, "InverseTimeDecay": {"learning_rate": 0.1, "gamma": 0.5},
    "PolynomialDecay": {"learning_rate": 0.1, "decay_steps": 10, "end_lr": 0.0, "power": 1.0, "cycle": False},
    "LinearWarmup": {"learning_rate": 0.1, "warmup_steps": 3, "start_lr": 0.0, "end_lr": 0.1},
    "ExponentialDecay": {"learning_rate": 0.1, "gamma": 0.9},
    "MultiStepDecay": {"learning_rate": 0.1, "milestones": [3, 6], "gamma": 0.5},
    "StepDecay": {"learning_rate": 0.1, "step_size": 3, "gamma": 0.5},
    "LambdaDecay": {"learning_rate": 0.1, "lr_lambda": _f},
    "ReduceOnPlateau": {"learning_rate": 0.1, "mode": "min", "factor": 0.5, "patience": 2, "threshold": 1e-4,
                        "threshold_mode": "rel", "cooldown": 1, "min_lr": 0.0, "epsilon": 1e-8},
    "CosineAnnealingDecay": {"learning_rate": 0.1, "T_max": 10, "eta_min": 0.01},
    "MultiplicativeDecay": {"learning_rate": 0.1, "lr_lambda": _f},
    "OneCycleLR": {"max_learning_rate": 0.1, "total_steps": 20, "divide_factor": 25.0, "end_learning_rate": 1e-4,
                   "phase_pct": 0.3, "anneal_strategy": "cos"},
    "CyclicLR": {"base_learning_rate": 0.01, "max_learning_rate": 0.1, "step_size_up": 4, "step_size_down": 3,
                 "mode": "triangular", "exp_gamma": 1.0, "scale_mode": "cycle"},
    "LinearLR": {"learning_rate": 0.1, "total_steps": 5, "start_factor": 0.5, "end_factor": 1.0},
    "CosineAnnealingWarmRestarts": {"learning_rate": 0.1, "T_0": 5, "T_mult": 2, "eta_min": 0.01},
}
HOSTILE = [10 ** 400, -10 ** 400, float("nan"), float("-inf"), "x", np.array([1.0, 2.0]),
           np.array([[1, 2], [3, 4]]), object()]
# (class, keyword, value) that are legitimately accepted: the framework computes them too
ACCEPTED = {("MultiStepLR", "milestones", "array"), ("MultiStepDecay", "milestones", "array"),
            ("PiecewiseDecay", "boundaries", "array"),
            ("CyclicLR", "scale_mode", "any")}  # torch ignores scale_mode without a scale_fn


def _hostile_cases():
    for framework, table in (("torch", VALID_TORCH), ("paddle", VALID_PADDLE)):
        for cls, kw in table.items():
            for key in kw:
                for i, bad in enumerate(HOSTILE):
                    yield pytest.param(framework, cls, kw, key, bad, id=f"{framework}-{cls}-{key}-{i}")


@pytest.mark.parametrize("framework, cls, kw, key, bad", list(_hostile_cases()))
def test_hostile_keywords_are_refused_naming_the_class(framework, cls, kw, key, bad):
    make = (lambda **k: lrlab.from_torch(cls, 0.1, **k)) if framework == "torch" else \
        (lambda **k: lrlab.from_paddle(cls, **k))
    make(**kw)  # the valid call
    if (framework == "torch" and (cls, key, "any") in ACCEPTED) or (
            (cls, key, "array") in ACCEPTED and isinstance(bad, np.ndarray) and bad.ndim == 1):
        make(**{**kw, key: bad})
        return
    with pytest.raises((ValueError, TypeError)) as e:
        make(**{**kw, key: bad})
    assert str(e.value).startswith(f"{cls}: "), str(e.value)
    assert "ambiguous" not in str(e.value) and len(str(e.value)) < 400
