"""The Schedule contract for every canonical schedule: property tests over valid parameters,
registry, relative time, config round-trip, step checks."""

import json
import math
import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lrlab
from lrlab.schedules.base import _BLOCK

lr = st.floats(1e-6, 10.0)
small = st.floats(1e-3, 0.999)
length = st.integers(1, 300)


def _plain(name):
    """Strategies for every canonical schedule without nested schedules or callables."""
    return {
        "constant": st.fixed_dictionaries({"base_lr": lr}),
        "step": st.fixed_dictionaries({"base_lr": lr, "step_size": length, "gamma": small}),
        "multistep": st.fixed_dictionaries({
            "base_lr": lr, "gamma": small,
            "milestones": st.lists(st.integers(1, 500), min_size=1, max_size=5, unique=True).map(sorted)}),
        "piecewise": st.integers(1, 4).flatmap(lambda n: st.fixed_dictionaries({
            "milestones": st.lists(st.integers(1, 500), min_size=n, max_size=n, unique=True).map(sorted),
            "values": st.lists(lr, min_size=n + 1, max_size=n + 1)})),
        "exponential": st.fixed_dictionaries({"base_lr": lr, "gamma": small, "step_size": length}),
        "natural_exp": st.fixed_dictionaries({"base_lr": lr, "gamma": st.floats(1e-4, 2.0), "step_size": length}),
        "inverse_time": st.fixed_dictionaries({"base_lr": lr, "gamma": st.floats(1e-4, 5.0), "step_size": length}),
        "polynomial": st.fixed_dictionaries({"base_lr": lr, "total_steps": length, "power": st.floats(0.1, 4.0),
                                             "cycle": st.booleans()}, optional={"min_lr": st.floats(0, 1e-6)}),
        "linear": st.fixed_dictionaries({"base_lr": lr, "total_steps": length,
                                         "start_factor": st.floats(0, 2), "end_factor": st.floats(0, 2)}),
        "cosine": st.fixed_dictionaries({"base_lr": lr, "total_steps": length, "min_lr": st.floats(0, 1e-6)}),
        "cosine_restarts": st.fixed_dictionaries({
            "base_lr": lr, "step_size": length, "t_mult": st.integers(1, 3),
            "min_lr": st.floats(0, 1e-6), "gamma": st.floats(0.1, 1.0)}),
        "noam": st.fixed_dictionaries({"d_model": st.integers(1, 1024), "warmup_steps": length, "base_lr": lr}),
        "inverse_sqrt": st.fixed_dictionaries({"base_lr": lr, "warmup_steps": length}),
        "cyclic": st.fixed_dictionaries({
            "base_lr": st.floats(0, 1e-3), "max_lr": st.floats(1e-3, 1.0), "step_size": length,
            "step_size_down": st.none() | length, "mode": st.sampled_from(["triangular", "triangular2", "exp_range"]),
            "gamma": st.floats(0.9, 1.0)}),
        "one_cycle": st.fixed_dictionaries({
            "max_lr": lr, "total_steps": st.integers(10, 500), "pct_start": st.floats(0.15, 0.45),
            "anneal": st.sampled_from(["cos", "linear"]), "three_phase": st.booleans(),
            "div_factor": st.floats(1.0, 100.0), "final_div_factor": st.floats(1.0, 1e4)}),
        "wsd": st.integers(10, 500).flatmap(lambda t: st.fixed_dictionaries({
            "base_lr": lr, "total_steps": st.just(t), "warmup_steps": st.integers(0, t // 3),
            "decay_steps": st.integers(1, t // 2), "decay": st.sampled_from(["linear", "cosine", "sqrt"])})),
    }[name]


PLAIN = ["constant", "step", "multistep", "piecewise", "exponential", "natural_exp", "inverse_time",
         "polynomial", "linear", "cosine", "cosine_restarts", "noam", "inverse_sqrt", "cyclic",
         "one_cycle", "wsd"]


def _check_contract(s, n=700):
    curve = s.curve(n)
    assert curve.shape == (n,) and curve.dtype == np.float64
    assert np.isfinite(curve).all() and (curve >= 0).all()
    for k in [0, 1, n // 3, n - 1, n + 5000]:
        v = s(k)
        assert isinstance(v, float)
        if k < n:
            assert v == curve[k]
    assert np.array_equal(s.at(np.arange(n)[::-1]), curve[::-1])
    cfg = json.loads(json.dumps(s.to_config()))
    assert lrlab.from_config(cfg) == s
    assert np.array_equal(lrlab.from_config(cfg).curve(n), curve)


@pytest.mark.parametrize("name", PLAIN)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_contract_over_random_valid_parameters(name, data):
    params = data.draw(_plain(name))
    _check_contract(lrlab.create(name, **params))


@settings(max_examples=40, deadline=None)
@given(inner=st.sampled_from(["cosine", "step", "one_cycle"]), w=st.integers(1, 50),
       mode=st.sampled_from(["linear", "exponential"]), data=st.data())
def test_contract_of_compositions(inner, w, mode, data):
    a = lrlab.create(inner, **data.draw(_plain(inner)))
    b = lrlab.create("cosine", base_lr=0.01, total_steps=100)
    _check_contract(lrlab.create("warmup", schedule=a, warmup_steps=w, mode=mode))
    _check_contract(lrlab.create("join", schedules=[a, b], milestones=[w]))
    _check_contract(lrlab.create("chain", schedules=[a, b]))


def test_every_canonical_name_is_covered():
    covered = set(PLAIN) | {"warmup", "join", "chain", "lambda", "multiplicative"}
    assert covered == set(lrlab.names())


def test_scalar_call_matches_curve_across_cache_blocks():
    s = lrlab.create("cosine", base_lr=0.1, total_steps=5 * _BLOCK)
    curve = s.curve(5 * _BLOCK)
    ks = [0, _BLOCK - 1, _BLOCK, 3 * _BLOCK + 7, 2, 5 * _BLOCK - 1]
    assert [s(k) for k in ks] == [curve[k] for k in ks]


def test_unknown_name_suggests_nearest():
    with pytest.raises(ValueError, match=r"unknown schedule 'cosin'; did you mean cosine"):
        lrlab.create("cosin", base_lr=0.1, total_steps=10)


def test_aliases_resolve_case_insensitively():
    assert lrlab.create("SGDR", base_lr=0.1, step_size=5).name == "cosine_restarts"
    assert lrlab.create("one-cycle", max_lr=0.1, total_steps=10).name == "one_cycle"


def test_unknown_and_missing_parameters():
    with pytest.raises(ValueError, match=r"cosine: unknown parameter 'T_max'.*valid: base_lr, total_steps, min_lr"):
        lrlab.create("cosine", base_lr=0.1, T_max=10)
    with pytest.raises(ValueError, match=r"cosine: missing required parameter\(s\) total_steps"):
        lrlab.create("cosine", base_lr=0.1)


@pytest.mark.parametrize("name,params,match", [
    ("cosine", {"base_lr": -0.1, "total_steps": 10}, r"cosine: base_lr must be a finite number >= 0, got -0.1"),
    ("cosine", {"base_lr": math.nan, "total_steps": 10}, r"cosine: base_lr must be finite, got nan"),
    ("cosine", {"base_lr": math.inf, "total_steps": 10}, r"base_lr must be finite, got inf"),
    ("cosine", {"base_lr": 0.1, "total_steps": 0}, r"cosine: total_steps must be an int >= 1"),
    ("cosine", {"base_lr": 0.1, "total_steps": "150%"}, r"total_steps must be .*at most 100%.*'150%'"),
    ("step", {"base_lr": 0.1, "step_size": 5, "gamma": 0.0}, r"step: gamma must be a finite number > 0, got 0.0"),
    ("step", {"base_lr": 0.1, "step_size": -3}, r"step: step_size must be an int >= 1 .*got -3"),
    ("multistep", {"base_lr": 0.1, "milestones": [5, 3]}, r"multistep: milestones must be a strictly increasing"),
    ("piecewise", {"milestones": [5], "values": [0.1]}, r"piecewise: values must be a list of len\(milestones\) \+ 1 = 2"),
    ("wsd", {"base_lr": 0.1, "total_steps": 10, "warmup_steps": 8, "decay_steps": 5},
     r"wsd: warmup_steps \+ decay_steps must be <= total_steps \(10\), got 13"),
    ("one_cycle", {"max_lr": 0.1, "total_steps": 3, "pct_start": 0.3}, r"one_cycle: pct_start must be"),
    ("one_cycle", {"max_lr": 0.1, "total_steps": 100, "three_phase": True, "pct_start": 0.6}, r"pct_start must be < 0.5"),
    ("cyclic", {"base_lr": 0.1, "max_lr": 0.01, "step_size": 5}, r"cyclic: max_lr must be >= base_lr \(0.1\), got 0.01"),
    ("warmup", {"schedule": 0.1, "warmup_steps": 5, "start_lr": 0.0}, r"warmup: start_lr must be a finite number > 0, got 0.0"),
    ("join", {"schedules": [], "milestones": []}, r"join: schedules must be a list of at least 1"),
])
def test_invalid_parameters_raise_at_construction(name, params, match):
    with pytest.raises((ValueError, TypeError), match=match):
        lrlab.create(name, **params)


def test_wrong_kinds_raise_type_error():
    with pytest.raises(TypeError, match=r"cosine: base_lr must be a number, got '0.1'"):
        lrlab.create("cosine", base_lr="0.1", total_steps=10)
    with pytest.raises(TypeError, match=r"step: step_size must be an int, got 2.5"):
        lrlab.create("step", base_lr=0.1, step_size=2.5)
    with pytest.raises(TypeError, match=r"cosine: base_lr must be a number, got True"):
        lrlab.create("cosine", base_lr=True, total_steps=10)


def test_steps_are_checked():
    s = lrlab.create("constant", base_lr=0.1)
    with pytest.raises(ValueError, match="step must be >= 0, got -1"):
        s(-1)
    with pytest.raises(TypeError, match="step must be an int"):
        s(1.5)
    assert s(np.int64(3)) == 0.1
    with pytest.raises(TypeError, match="steps must be integers"):
        s.at(np.array([0.5]))


def test_overflow_is_an_error_not_inf():
    s = lrlab.create("exponential", base_lr=1.0, gamma=1e10)
    with pytest.raises(ValueError, match=r"exponential: learning rate at step 31 would be inf"):
        s.curve(40)
    assert s(3) == 1e30  # earlier steps still evaluate


def test_relative_lengths_bind_to_the_run():
    s = lrlab.create("cosine", base_lr=1.0, total_steps="50%")
    assert not s.is_bound and repr(s) == "cosine(base_lr=1, total_steps='50%')"
    with pytest.raises(ValueError, match=r"cosine: has relative lengths; call .bind\(total_steps\)"):
        s(0)
    b = s.bind(20)
    assert b == lrlab.create("cosine", base_lr=1.0, total_steps=10)
    assert b.bind(999) is b  # concrete schedules are unchanged
    assert s.bind(1).total_steps == 1  # never rounds a length to zero


def test_relative_lengths_inside_compositions_are_fractions_of_their_span():
    inner = lrlab.create("cosine", base_lr=1.0, total_steps="100%")
    w = lrlab.create("warmup", schedule=inner, warmup_steps="10%").bind(200)
    assert w.warmup_steps == 20 and w.schedule.total_steps == 180
    j = lrlab.create("join", schedules=[inner, inner, inner], milestones=["25%", "75%"]).bind(100)
    assert j.milestones == (25, 75)
    assert [p.total_steps for p in j.schedules] == [25, 50, 25]
    with pytest.raises(ValueError, match=r"join: milestones \['50%', '51%'\] collapse to \[1, 1\]"):
        lrlab.create("join", schedules=[inner] * 3, milestones=["50%", "51%"]).bind(2)


def test_lambda_config_says_it_cannot_be_serialised():
    s = lrlab.create("lambda", base_lr=0.1, fn=lambda k: 0.9 ** k)
    with pytest.raises(TypeError, match=r"lambda: fn is a Python callable \(<lambda>\) and cannot be written"):
        s.to_config()


def test_from_config_accepts_json_text_and_rejects_garbage():
    s = lrlab.create("step", base_lr=0.1, step_size=3)
    assert lrlab.from_config(json.dumps(s.to_config())) == s
    with pytest.raises(ValueError, match="a schedule config is a dict with a 'name'"):
        lrlab.from_config({"base_lr": 0.1})


def test_schedules_are_immutable_hashable_and_picklable():
    s = lrlab.create("multistep", base_lr=0.1, milestones=[3, 6])
    with pytest.raises(AttributeError):
        s.base_lr = 1.0
    s(5)
    assert pickle.loads(pickle.dumps(s)) == s and hash(s) == hash(lrlab.create("multistep", base_lr=0.1, milestones=(3, 6)))


def test_describe_lists_parameters_with_rules_and_defaults():
    rows = {p: (rule, default) for p, rule, default in lrlab.describe("cosine")}
    assert rows["total_steps"][0].startswith("an int >= 1 or a percentage")
    assert repr(rows["base_lr"][1]) == "REQUIRED" and rows["min_lr"][1] == 0.0


@pytest.mark.parametrize("name,params,match", [
    ("piecewise", {"milestones": ["50%"], "values": [1.0]}, "values must be a list of len"),
    ("cyclic", {"base_lr": 1.0, "max_lr": 0.1, "step_size": "10%"}, "max_lr must be >= base_lr"),
    ("cosine_restarts", {"base_lr": 0.1, "step_size": "10%", "gamma": 2.0}, "gamma must be"),
    ("one_cycle", {"max_lr": 0.1, "total_steps": "100%", "three_phase": True, "pct_start": 0.6},
     r"pct_start must be < 0.5 with three_phase"),
])
def test_checks_that_need_no_lengths_run_even_while_lengths_are_relative(name, params, match):
    with pytest.raises(ValueError, match=match):
        lrlab.create(name, **params)


def test_binding_refuses_a_warmup_or_join_longer_than_the_run():
    inner = lrlab.create("cosine", base_lr=0.1, total_steps="100%")
    with pytest.raises(ValueError, match=r"warmup: warmup_steps \(20\) must be at most the 10 steps"):
        lrlab.create("warmup", schedule=inner, warmup_steps=20).bind(10)
    with pytest.raises(ValueError, match=r"join: milestones \[5, 20\] must end within the 10 steps"):
        lrlab.create("join", schedules=[inner] * 3, milestones=[5, 20]).bind(10)


# ---- numbers at the edges, messages that name the right thing -------------------------------
def test_bind_and_curve_name_their_argument():
    s = lrlab.create("cosine", base_lr=0.1, total_steps="50%")
    with pytest.raises(ValueError, match=r"^cosine.bind: total_steps must be >= 1, got -1$"):
        s.bind(-1)
    with pytest.raises(ValueError, match=r"^cosine.bind: total_steps must be >= 1, got 0$"):
        s.bind(0)
    with pytest.raises(ValueError, match=r"^cosine.bind: total_steps must be < 2\*\*62, got 1000...000 \(31 digits\)"):
        s.bind(10 ** 30)
    with pytest.raises(TypeError, match=r"^cosine.bind: total_steps must be an int, got 2.5"):
        s.bind(2.5)
    b = s.bind(10)
    with pytest.raises(ValueError, match=r"^cosine.curve: n must be >= 0, got -1"):
        b.curve(-1)
    with pytest.raises(ValueError, match=r"^cosine.curve: n must be < 2\*\*62"):
        b.curve(10 ** 30)


def test_steps_at_and_past_2_62_are_value_errors():
    s = lrlab.create("inverse_sqrt", base_lr=1.0, warmup_steps=10)
    assert 0 < s(2 ** 62 - 1) < 1e-8  # k + 1 does not overflow
    with pytest.raises(ValueError, match=r"inverse_sqrt: step must be < 2\*\*62"):
        s(2 ** 62)
    with pytest.raises(ValueError, match=r"inverse_sqrt: steps must be < 2\*\*62"):
        s.at(np.array([0, 2 ** 62], dtype=np.uint64))


@pytest.mark.parametrize("name, params", [
    ("polynomial", {"base_lr": 1.0, "total_steps": 2 ** 62 - 1, "cycle": True}),
    ("wsd", {"base_lr": 1.0, "total_steps": 2 ** 62 - 1, "decay_steps": 2 ** 61}),
    ("cosine_restarts", {"base_lr": 1.0, "step_size": 2 ** 62 - 1, "t_mult": 2 ** 61}),
    ("join", {"schedules": [lrlab.create("constant", base_lr=1.0)] * 2, "milestones": [2 ** 62 - 1]}),
    ("warmup", {"schedule": 1.0, "warmup_steps": 2 ** 62 - 1}),
    ("step", {"base_lr": 1.0, "step_size": 2 ** 62 - 1, "gamma": 0.5}),
])
def test_the_largest_lengths_evaluate_at_the_largest_steps(name, params):
    s = lrlab.create(name, **params)
    out = s.at(np.array([0, 1, 2 ** 61, 2 ** 62 - 2, 2 ** 62 - 1]))
    assert np.all(np.isfinite(out)) and np.all(out >= 0)


def test_rounding_sized_negatives_are_zero_and_real_ones_errors():
    from lrlab.schedules.base import ROUNDING

    s = lrlab.create("lambda", base_lr=1.0, fn=lambda k: 1.0)
    assert s._rounding() == ROUNDING * 1.0 and 1e-14 < ROUNDING < 1e-12

    class Dip(type(lrlab.create("constant", base_lr=1.0))):  # a constant a hair or far below 0
        def _at(self, k):
            return np.where(k == 1, -0.5 * ROUNDING * self.base_lr, np.where(k == 2, -1e-9, self.base_lr))

    d = Dip(base_lr=0.5)
    assert d.curve(2).tolist() == [0.5, 0.0]
    with pytest.raises(ValueError, match="learning rate at step 2 would be -1e-09"):
        d.curve(3)


def test_replay_is_computed_once_in_order_and_the_same_whatever_was_asked_before():
    from lrlab.schedules.base import Replay

    calls = []

    def steps():
        x = 1.0
        while True:
            calls.append(x)
            yield x
            x = x * 0.9 + 0.01

    a, b = Replay("a", steps), Replay("b", steps)
    far = a.upto(5000)[5000]
    for k in range(0, 5001, 97):
        b.upto(k)
    assert b.upto(5000)[5000] == far
    assert len(a.upto(3)) >= 5001  # computed ahead, in doubling blocks
    lazy = Replay("lazy", steps, ahead=False)
    calls.clear()
    assert len(lazy.upto(9)) == 10 and len(calls) == 10


def test_replay_errors_are_raised_for_the_steps_they_concern():
    from lrlab.schedules.base import MAX_REPLAY, Replay

    def steps():
        yield from (1.0, 0.5)
        raise ZeroDivisionError("at step 2")

    r = Replay("r", steps)
    assert r.upto(1).tolist() == [1.0, 0.5]  # the error met ahead is kept, not raised
    for _ in range(2):
        with pytest.raises(ZeroDivisionError, match="at step 2"):
            r.upto(2)
    with pytest.raises(ValueError, match=r"step 16777216 is past the 16777216 steps"):
        Replay("far", steps).upto(MAX_REPLAY)


def test_schedules_with_replays_pickle_and_copy():
    import copy

    m = lrlab.create("multiplicative", base_lr=1.0, fn=_half)
    m(50)
    for c in (pickle.loads(pickle.dumps(m)), copy.deepcopy(m)):
        assert c == m and c(50) == m(50)


def _half(k):
    return 0.5 if k % 7 == 0 else 1.0
