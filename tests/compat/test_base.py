"""lrlab.compat.base: the class tables, and configs that rebuild in a fresh process."""

from __future__ import annotations

import json
import subprocess
import sys

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
                          timeout=120)
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
