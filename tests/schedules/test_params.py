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


# ---- numbers at the edges --------------------------------------------------------------------
def test_reals_too_large_for_a_float_are_value_errors_naming_the_parameter():
    from fractions import Fraction

    for big in (10 ** 400, -10 ** 400, Fraction(10 ** 400, 3)):
        with pytest.raises(ValueError, match=r"^s: x must be a finite number \(one a float can hold\)"):
            P.real()("s", "x", big)
    with pytest.raises(ValueError, match=r"s: base_lr must be .*, got 1000\.\.\.000 \(401 digits\)"):
        P.lr()("s", "base_lr", 10 ** 400)
    assert P.real()("s", "x", 10 ** 300) == 1e300


def test_integers_and_lengths_are_below_2_62():
    for kind in (P.integer(1), P.steps(), P.integer(0, strict=True)):
        assert kind("s", "n", 2 ** 62 - 1) == 2 ** 62 - 1
        for big in (2 ** 62, 2 ** 63, 10 ** 400):
            with pytest.raises(ValueError, match=r"^s: n must be an int >= \d and < 2\*\*62, got"):
                kind("s", "n", big)
    with pytest.raises(ValueError, match="< 2\\*\\*62"):
        P.milestones(1)("s", "m", [5, 2 ** 63])
    with pytest.raises(TypeError, match=r"^s: n must be an int, got inf"):
        P.integer()("s", "n", math.inf)
    assert P.integer()("s", "n", 1e18) == 10 ** 18  # a whole-number float is an int


def test_strict_integers_and_floats_only():
    k = P.integer(1, strict=True)
    assert k("s", "T_0", 10) == 10
    with pytest.raises(TypeError, match=r"^s: T_0 must be an int \(not a float\), got 10.0"):
        k("s", "T_0", 10.0)
    f = P.real(0.0, strict=False, high=1.0, floats_only=True)
    assert f("s", "pct", 0.0) == 0.0
    with pytest.raises(TypeError, match=r"^s: pct must be a float, got 0"):
        f("s", "pct", 0)
    assert "a float >= 0 and <= 1" == f.doc


def test_show_keeps_messages_short():
    assert P.show(10 ** 400) == "1000...000 (401 digits)"
    assert P.show(-(10 ** 30)) == "-1000...000 (31 digits)"
    assert len(P.show(list(range(1000)))) == 80 and P.show(list(range(1000))).endswith("...")
    assert P.show(2 ** 63) == "9223372036854775808"


def test_numpy_values_get_clear_messages():
    import numpy as np

    with pytest.raises(TypeError, match=r"^s: mode must be one of 'a', 'b', got array\(\['a'\]"):
        P.choice("a", "b")("s", "mode", np.array(["a"]))
    assert P.flag()("s", "cycle", np.bool_(True)) is True
    assert P.lrs()("s", "values", np.array([0.1, 0.2])) == (0.1, 0.2)
    with pytest.raises(TypeError, match=r"^s: base_lr must be a number, got array"):
        P.lr()("s", "base_lr", np.array([0.1, 0.2]))
    assert P.lr()("s", "base_lr", np.float32(0.5)) == 0.5


# ---- every parameter of every canonical schedule, given malformed values ---------------------
def _bad_values(kind):
    import numpy as np

    nan, inf = math.nan, math.inf
    pair = np.array([1.0, 2.0])
    table = {
        "real": [10 ** 400, -10 ** 400, nan, inf, -inf, "0.1", True, pair, [0.1]],
        "lr": [10 ** 400, nan, inf, -1.0, "0.1", True, pair, [0.1]],
        "integer": [2 ** 62, 2 ** 63, 10 ** 400, -1, 2.5, nan, inf, "3", True, pair, [3]],
        "steps": [2 ** 62, 10 ** 400, -1, 2.5, nan, inf, "x", "150%", True, pair, [3]],
        "milestones": [5, "x", [2 ** 63], [nan], [True], [3, 2], [-1, 5], np.array([[1, 2]])],
        "lrs": ["x", [], [nan], [-1.0], 10 ** 400, [10 ** 400], np.array([[0.1]]), [True]],
        "choice": [np.array(["linear"]), 1, "nope", True, ["linear"]],
        "flag": [1, "true", np.array([True, False])],
        "function": [3, "abs", pair],
        "schedule": ["x", pair, -1.0, 10 ** 400, True],
        "schedules": [[], "x", [3], pair],
        "mapping": [[], "x"],
        "text": ["", 3],
    }
    values = list(table[kind.family])
    if not kind.optional:
        values.append(None)
    return values


def _malformed_cases():
    import dataclasses

    from lrlab.schedules import decode, lookup
    from lrlab.schedules.presets import defaults, preset_names

    out = []
    for name in preset_names():
        if name in ("from_torch", "from_paddle"):
            continue
        cls = lookup(name)
        base = {k: decode(v) for k, v in defaults(name, 0.1, 100).items()}
        for f in dataclasses.fields(cls):
            kind = cls._kinds()[f.name]
            out += [(name, base, f.name, bad) for bad in _bad_values(kind)]
    return out


@pytest.mark.parametrize("name, base, param, bad", _malformed_cases(),
                         ids=lambda v: v if isinstance(v, str) else None)
def test_malformed_values_name_the_schedule_and_the_parameter(name, base, param, bad):
    from lrlab.schedules import create

    create(name, **base)  # the baseline is valid
    with pytest.raises((ValueError, TypeError)) as e:
        create(name, **{**base, param: bad})
    assert str(e.value).startswith(f"{name}: {param} must be "), str(e.value)
    assert len(str(e.value)) < 400
