"""Parameter kinds: each check names the schedule, the parameter and the value."""

import math

import pytest

from lrlab.schedules import params as P


def test_percent():
    assert P.percent("30%") == 0.3 and P.percent(" 12.5 % ") == 0.125 and P.percent(".5%") == 0.005
    assert P.percent("30") is None and P.percent(30) is None and P.percent("x%") is None


def test_lr_kind():
    assert P.lr()("s", "base_lr", 1) == 1.0 and isinstance(P.lr()("s", "base_lr", 1), float)
    for bad in (-1e-9, math.inf, math.nan):
        with pytest.raises(ValueError, match=r"s: base_lr must be"):
            P.lr()("s", "base_lr", bad)
    assert P.lr(optional=True)("s", "x", None) is None


def test_steps_kind():
    k = P.steps()
    assert k("s", "n", 5) == 5 and k("s", "n", 5.0) == 5 and k("s", "n", "10%") == "10%"
    for bad in (0, "0%", "101%", "ten"):
        with pytest.raises(ValueError, match=r"s: n must be an int >= 1 or a percentage"):
            k("s", "n", bad)
    assert P.steps(0)("s", "n", 0) == 0 and P.steps(0)("s", "n", "0%") == "0%"
    with pytest.raises(TypeError, match=r"s: n must be an int, got True"):
        k("s", "n", True)


def test_milestones_kind():
    k = P.milestones(1)
    assert k("s", "m", [1, 5]) == (1, 5) and k("s", "m", ["10%", "50%"]) == ("10%", "50%")
    with pytest.raises(ValueError, match="all ints or all percentages"):
        k("s", "m", [1, "50%"])
    with pytest.raises(ValueError, match="strictly increasing"):
        k("s", "m", [5, 5])
    with pytest.raises(TypeError, match="a list of steps"):
        k("s", "m", 5)


def test_choice_flag_function_kinds():
    with pytest.raises(ValueError, match=r"s: mode must be one of 'a', 'b', got 'c'"):
        P.choice("a", "b")("s", "mode", "c")
    with pytest.raises(TypeError, match=r"s: cycle must be True or False, got 1"):
        P.flag()("s", "cycle", 1)
    with pytest.raises(TypeError, match=r"s: fn must be a callable"):
        P.function()("s", "fn", 3)


def test_real_bounds():
    k = P.real(0.0, high=1.0, high_strict=True)
    assert k("s", "x", 0.5) == 0.5
    for bad in (0.0, 1.0):
        with pytest.raises(ValueError, match=r"s: x must be a finite number > 0 and < 1"):
            k("s", "x", bad)


def test_milestones_accept_arrays_and_mappings_normalise_like_json():
    import numpy as np

    assert P.milestones(1)("s", "m", np.array([2, 3])) == (2, 3)
    assert P.mapping()("s", "kw", {"a": (1, 2), "b": {3, 1}, "c": range(2), "d": np.float64(0.5)}) == \
        {"a": [1, 2], "b": [1, 3], "c": [0, 1], "d": 0.5}
