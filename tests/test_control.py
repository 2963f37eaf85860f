"""Plateau and EarlyStopping: one improvement rule, exact state, resume."""

import math

import pytest

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
