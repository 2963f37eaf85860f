"""``lrlab.cli.params``: value parsing, distributing ``-p`` to curves, ``--lr`` filling defaults."""

import click
import pytest

from lrlab.cli.params import (_Curve, _early_stop, _seeds, build_curves, parse_assignment,
                              parse_value)


# ---- value parsing ----------------------------------------------------------------------
@pytest.mark.parametrize("text, value", [
    ("3", 3), ("-2", -2), ("0.5", 0.5), ("1e-3", 1e-3), ("2.5E2", 250.0), (".5", 0.5),
    ("true", True), ("False", False), ("null", None), ("None", None),
    ("[10,20]", [10, 20]), ("10,20", [10, 20]), ("10%, 50%", ["10%", "50%"]),
    ('["20%"]', ["20%"]), ("0.1,0.01", [0.1, 0.01]), ("10%", "10%"), ("cos", "cos"),
    ('"true"', "true"), ('{"name": "constant", "base_lr": 1}', {"name": "constant", "base_lr": 1}),
    ("__import__('os')", "__import__('os')"), ("1_000", "1_000"), ("nan", "nan"),
])
def test_parse_value(text, value):
    got = parse_value(text)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize("text", ["[1,", "{x}", "1,,2", "1,"])
def test_parse_value_rejects(text):
    with pytest.raises(click.BadParameter):
        parse_value(text)


def test_parse_assignment():
    assert parse_assignment("base_lr=0.1") == (None, "base_lr", 0.1)
    assert parse_assignment("cosine.min_lr=1e-2") == ("cosine", "min_lr", 0.01)
    assert parse_assignment("one-cycle.max_lr=1") == ("one-cycle", "max_lr", 1)
    assert parse_assignment("mode=a=b") == (None, "mode", "a=b")
    for bad in ["base_lr", "=1", "1x=2", "a.b.c=1", "a b=1"]:
        with pytest.raises(click.BadParameter):
            parse_assignment(bad)


def test_seeds_and_early_stop():
    assert _seeds(None, None, "3") == [3] and _seeds(None, None, "0,1,2") == [0, 1, 2]
    for bad in ("a", "0,-1", "1.5", "true"):
        with pytest.raises(click.BadParameter):
            _seeds(None, None, bad)
    assert _early_stop(None, None, None) is None
    assert _early_stop(None, None, "patience=5, monitor=val_acc") == {"patience": 5, "monitor": "val_acc"}
    with pytest.raises(click.BadParameter):
        _early_stop(None, None, "patience")


# ---- distributing parameters ----------------------------------------------------------------
def test_unscoped_params_go_where_they_fit_scoped_ones_win():
    curves = build_curves(["cosine", "cos", "step"], [], [],
                          ["base_lr=1", "total_steps=10", "step_size=5", "cos.min_lr=0.5"], None, 10)
    (_, a), (_, b), (_, c) = curves
    assert a[-1] < 0.1 and b[-1] > 0.5 and list(c[:6]) == [1] * 5 + [0.1]
    # the name as written wins over an alias: 'StepLR' is also an alias of lrlab's step
    [(_, s), (_, t)] = build_curves(["step"], ["StepLR"], [],
                                    ["StepLR.step_size=2", "step.step_size=4", "step.base_lr=0.1"],
                                    None, 5)
    assert list(t) == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001])
    assert list(s) == pytest.approx([0.1] * 4 + [0.01])


# ---- --lr: the reference LR -----------------------------------------------------------------
def test_lr_fills_the_run_defaults_of_lrlab_names():
    [(label, v)] = build_curves(["cosine"], [], [], [], 0.5, 5)
    [(same_label, w)] = build_curves(["cosine"], [], [], ["base_lr=0.5", "total_steps=5"], None, 5)
    assert label == same_label and v.tolist() == w.tolist()
    [(_, v)] = build_curves(["step"], [], [], [], 1.0, 10)  # x0.1 every 30 % of the run
    assert [round(x, 12) for x in v] == [1.0] * 3 + [0.1] * 3 + [0.01] * 3 + [0.001]
    # given parameters override the defaults; aliases get their canonical defaults
    [(_, v)] = build_curves(["steplr"], [], [], ["gamma=0.5"], 1.0, 10)
    assert v.tolist() == [1.0] * 3 + [0.5] * 3 + [0.25] * 3 + [0.125]
    # a callable the defaults provide is fine; a given one stays Python-API only
    [(_, v)] = build_curves(["lambda"], [], [], [], 1.0, 3)
    assert [round(x, 12) for x in v] == [1.0, 0.95, 0.9025]
    with pytest.raises(ValueError, match="Python-API only"):
        build_curves(["lambda"], [], [], ["fn=abs"], 1.0, 3)


def test_lr_of_framework_classes():
    # torch: the optimizer LR (0.1 when not given)
    [(_, v)] = build_curves([], ["StepLR"], [], ["step_size=2"], 0.5, 4)
    assert [round(x, 12) for x in v] == [0.5, 0.5, 0.05, 0.05]
    [(_, v)] = build_curves([], ["StepLR"], [], ["step_size=2"], None, 3)
    assert [round(x, 12) for x in v] == [0.1, 0.1, 0.01]
    # paddle: learning_rate, unless given
    [(_, v)] = build_curves([], [], ["StepDecay"], ["step_size=1", "gamma=0.5"], 0.5, 3)
    assert v.tolist() == [0.5, 0.25, 0.125]
    [(_, v)] = build_curves([], [], ["StepDecay"], ["learning_rate=1", "step_size=1", "gamma=0.5"], 0.5, 2)
    assert v.tolist() == [1.0, 0.5]
    # a paddle class without a learning_rate parameter takes its LRs as -p
    with pytest.raises(ValueError, match="max_learning_rate"):
        build_curves([], [], ["OneCycleLR"], ["total_steps=4"], 0.5, 4)


def test_curve_accepts_and_matches():
    c = _Curve("lrlab", "cos")
    assert c.canonical == "cosine" and "total_steps" in c.accepts
    assert c.matches("cosine") and c.matches("cos") and not c.matches("step")
    assert "lr" not in _Curve("torch", "StepLR").accepts
    assert "learning_rate" in _Curve("paddle", "StepDecay").accepts
    assert "factor" in _Curve("metric", "plateau").accepts
