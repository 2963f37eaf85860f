"""join (each piece sees step - boundary) and chain (product)."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

import lrlab


def test_join_offsets_each_piece_to_its_own_step_zero():
    a = lrlab.create("linear", base_lr=1.0, total_steps=2, start_factor=0.0, end_factor=1.0)
    b = lrlab.create("step", base_lr=1.0, step_size=1, gamma=0.5)
    c = lrlab.create("constant", base_lr=0.01)
    s = lrlab.create("join", schedules=[a, b, c], milestones=[2, 4])
    assert_allclose(s.curve(6), [0, .5, 1, .5, .01, .01])


def test_join_of_one_piece_is_the_piece():
    a = lrlab.create("cosine", base_lr=1.0, total_steps=10)
    assert np.array_equal(lrlab.create("join", schedules=[a]).curve(12), a.curve(12))


def test_join_needs_one_milestone_less_than_pieces():
    a = lrlab.create("constant", base_lr=1.0)
    with pytest.raises(ValueError, match=r"join: milestones must be a list of len\(schedules\) - 1 = 1 steps, got \[\]"):
        lrlab.create("join", schedules=[a, a])
    with pytest.raises(TypeError, match="join: schedules must be a list of at least 1 lrlab schedules, got 0.1"):
        lrlab.create("join", schedules=[a, 0.1], milestones=[3])


def test_sgdr_as_a_join_equals_cosine_restarts():
    pieces = [lrlab.create("cosine", base_lr=1.0, total_steps=n) for n in (2, 4, 8)]
    j = lrlab.create("join", schedules=pieces, milestones=[2, 6])
    r = lrlab.create("cosine_restarts", base_lr=1.0, step_size=2, t_mult=2)
    assert_allclose(j.curve(14), r.curve(14))


def test_chain_multiplies():
    a = lrlab.create("step", base_lr=0.1, step_size=2, gamma=0.5)
    b = lrlab.create("exponential", base_lr=1.0, gamma=0.9)
    assert_allclose(lrlab.create("chain", schedules=[a, b]).curve(4), [0.1 * 0.9 ** k * 0.5 ** (k // 2) for k in range(4)])


def test_nested_config_round_trip():
    inner = lrlab.create("join", schedules=[lrlab.create("constant", base_lr=0.1),
                                            lrlab.create("cosine", base_lr=0.1, total_steps="100%")],
                         milestones=["10%"])
    s = lrlab.create("chain", schedules=[inner, lrlab.create("constant", base_lr=2.0)])
    assert lrlab.from_config(s.to_config()) == s
    assert lrlab.from_config(s.bind(50).to_config()) == s.bind(50)
