"""Exact values of cyclic and one-cycle schedules."""

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose

import lrlab


def test_triangular_clr_of_smith():
    s = lrlab.create("cyclic", base_lr=0.001, max_lr=0.006, step_size=2000)
    assert_allclose(s.at(np.array([0, 1000, 2000, 3000, 4000, 6000])),
                    [0.001, 0.0035, 0.006, 0.0035, 0.001, 0.006])


def test_triangular2_halves_each_cycle():
    s = lrlab.create("cyclic", base_lr=0.0, max_lr=1.0, step_size=2, mode="triangular2")
    assert_allclose(s.curve(13)[[2, 6, 10]], [1, .5, .25])


def test_triangular2_past_cycle_1024_is_base_lr():
    # torch and Paddle raise OverflowError there (lrlab.from_torch / from_paddle too); the
    # canonical schedule takes the limit of the halving
    s = lrlab.create("cyclic", base_lr=0.0, max_lr=1.0, step_size=1, mode="triangular2")
    assert s(2047) == 2.0 ** -1023  # the peak of cycle 1024
    assert s(2049) == s(10 ** 9 + 1) == 0.0  # peaks of cycles 1025 and later
    t = lrlab.create("cyclic", base_lr=0.25, max_lr=1.0, step_size=1, mode="triangular2")
    assert t.curve(2060)[2048:].tolist() == [0.25] * 12


def test_exp_range_scales_by_gamma_per_step():
    s = lrlab.create("cyclic", base_lr=0.0, max_lr=1.0, step_size=2, mode="exp_range", gamma=0.9)
    assert_allclose(s.curve(7)[[2, 6]], [0.9 ** 2, 0.9 ** 6])


def test_asymmetric_cycle():
    s = lrlab.create("cyclic", base_lr=0.0, max_lr=1.0, step_size=1, step_size_down=3)
    assert_allclose(s.curve(6), [0, 1, 2 / 3, 1 / 3, 0, 1], atol=1e-15)


def test_custom_scale_fn_in_both_modes():
    by_cycle = lrlab.create("cyclic", base_lr=0.0, max_lr=1.0, step_size=1, scale_fn=lambda c: 1 / c)
    assert_allclose(by_cycle.curve(6)[[1, 3, 5]], [1, 1 / 2, 1 / 3])
    by_step = lrlab.create("cyclic", base_lr=0.0, max_lr=1.0, step_size=1, scale_fn=lambda k: 0.5,
                           scale_mode="iterations")
    assert_allclose(by_step.curve(3), [0, .5, 0], atol=1e-15)


def test_one_cycle_two_phase_cos():
    s = lrlab.create("one_cycle", max_lr=1.0, total_steps=100, div_factor=10.0, final_div_factor=100.0)
    c = s.curve(102)
    assert c[0] == pytest.approx(0.1) and c[29] == pytest.approx(1.0)
    assert c[99] == pytest.approx(0.001) and c[100] == c[99] and c[101] == c[99]
    assert int(np.argmax(c)) == 29


def test_one_cycle_three_phase_linear():
    s = lrlab.create("one_cycle", max_lr=1.0, total_steps=21, pct_start=0.5 * 20 / 21, anneal="linear",
                     div_factor=10.0, final_div_factor=10.0, three_phase=True)
    c = s.curve(21)
    assert c[9] == pytest.approx(1.0) and c[18] == pytest.approx(0.1) and c[20] == pytest.approx(0.01)
    assert c[4] == pytest.approx(0.1 + 0.9 * 4 / 9)


def test_one_cycle_values_follow_torch_phase_ends():
    s = lrlab.create("one_cycle", max_lr=2.0, total_steps=10, pct_start=0.3, anneal="cos")
    e1 = 0.3 * 10 - 1
    expect = [0.08 + (2.0 - 0.08) / 2 * (1 - math.cos(math.pi * k / e1)) for k in range(3)]
    assert_allclose(s.curve(3), expect)


def test_a_bad_scale_fn_is_named():
    s = lrlab.create("cyclic", base_lr=0.0, max_lr=1.0, step_size=1, scale_fn=lambda c: "x")
    with pytest.raises(TypeError, match=r"cyclic: scale_fn returned 'x' at cycle 1; it must return a number"):
        s(0)
    s = lrlab.create("cyclic", base_lr=0.0, max_lr=1.0, step_size=1, scale_fn=lambda k: -1.0,
                     scale_mode="iterations")
    with pytest.raises(ValueError, match=r"scale_fn returned -1.0 at step 0; a factor must be finite"):
        s(0)
