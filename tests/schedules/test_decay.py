"""Exact values of the decaying schedules at their boundaries."""

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose

import lrlab


def curve(name, n, **p):
    return lrlab.create(name, **p).curve(n)


def test_constant():
    assert curve("constant", 3, base_lr=0.25).tolist() == [0.25, 0.25, 0.25]


def test_step_boundaries():
    assert_allclose(curve("step", 7, base_lr=1.0, step_size=3, gamma=0.1),
                    [1, 1, 1, 0.1, 0.1, 0.1, 0.01], rtol=1e-15)
    assert curve("step", 3, base_lr=1.0, step_size=1, gamma=0.5).tolist() == [1.0, 0.5, 0.25]


def test_multistep_changes_exactly_at_milestones():
    assert_allclose(curve("multistep", 8, base_lr=1.0, milestones=[2, 5], gamma=0.5),
                    [1, 1, .5, .5, .5, .25, .25, .25])


def test_piecewise_values_switch_at_milestones():
    assert curve("piecewise", 6, milestones=[1, 4], values=[3.0, 2.0, 1.0]).tolist() == [3, 2, 2, 2, 1, 1]


def test_exponential_natural_exp_inverse_time():
    assert_allclose(curve("exponential", 4, base_lr=2.0, gamma=0.5), [2, 1, .5, .25])
    assert_allclose(curve("exponential", 3, base_lr=1.0, gamma=0.25, step_size=2), [1, .5, .25])
    assert_allclose(curve("natural_exp", 3, base_lr=1.0, gamma=0.5), [1, math.exp(-.5), math.exp(-1)])
    assert_allclose(curve("inverse_time", 3, base_lr=1.0, gamma=0.5, step_size=2), [1, 1 / 1.25, 1 / 1.5])


def test_polynomial_holds_floor_and_cycles():
    assert_allclose(curve("polynomial", 6, base_lr=1.0, total_steps=4, min_lr=0.2),
                    [1, .8, .6, .4, .2, .2])
    # cycle: period grows to the next multiple of total_steps, so the peak decays each period
    c = curve("polynomial", 10, base_lr=1.0, total_steps=4, cycle=True)
    assert_allclose(c[:5], [1, .75, .5, .25, 0.0], atol=1e-15)
    assert_allclose(c[5:9], [1 - 5 / 8, 1 - 6 / 8, 1 - 7 / 8, 0.0], atol=1e-15)


def test_linear_from_start_to_end_factor():
    assert_allclose(curve("linear", 5, base_lr=1.0, total_steps=3, start_factor=1 / 3, end_factor=1.0),
                    [1 / 3, 5 / 9, 7 / 9, 1, 1])


def test_cosine_boundaries_and_floor():
    c = curve("cosine", 12, base_lr=1.0, total_steps=10, min_lr=0.1)
    assert c[0] == 1.0 and c[5] == pytest.approx(0.55) and c[10] == pytest.approx(0.1)
    assert c[11] == c[10]  # holds its floor, never rises again
    assert (np.diff(c[:11]) < 0).all()


def test_cosine_restarts_t_mult_1_and_2():
    c = curve("cosine_restarts", 9, base_lr=1.0, step_size=3)
    assert_allclose(c[[0, 3, 6]], [1, 1, 1])
    assert_allclose(c[1], (1 + math.cos(math.pi / 3)) / 2)
    c2 = curve("cosine_restarts", 22, base_lr=1.0, step_size=2, t_mult=2)
    restarts = [k for k in range(22) if c2[k] == 1.0]
    assert restarts == [0, 2, 6, 14]  # cycles of 2, 4, 8, ...
    assert_allclose(c2[6 + 4], 0.5)  # half way through the third cycle (length 8)


def test_cosine_restarts_gamma_decays_peaks():
    c = curve("cosine_restarts", 7, base_lr=1.0, step_size=3, gamma=0.5, min_lr=0.0)
    assert_allclose(c[[0, 3, 6]], [1, .5, .25])


def test_cosine_restarts_cycle_index_is_exact_for_large_steps():
    s = lrlab.create("cosine_restarts", base_lr=1.0, step_size=1, t_mult=3)
    starts = [(3 ** i - 1) // 2 for i in range(1, 25)]
    assert np.all(s.at(np.array(starts)) == 1.0)
    assert np.all(s.at(np.array(starts[1:]) - 1) < 1.0)


def test_multiplicative_is_a_running_product_and_evaluates_each_factor_once():
    calls = []

    def f(k):
        calls.append(k)
        return 0.5 if k % 2 else 1.0

    s = lrlab.create("multiplicative", base_lr=1.0, fn=f)
    assert s.curve(5).tolist() == [1.0, 0.5, 0.5, 0.25, 0.25]
    assert s(3) == 0.25 and s(6) == 0.125
    assert calls == [1, 2, 3, 4, 5, 6]


def test_lambda_checks_the_factor_at_the_step_that_sees_it():
    s = lrlab.create("lambda", base_lr=0.1, fn=lambda k: 1.0 - 0.25 * k)
    assert_allclose(s.curve(5), [0.1, 0.075, 0.05, 0.025, 0.0], atol=1e-17)
    with pytest.raises(ValueError, match=r"lambda: fn returned -0.25 at step 5; a factor must be finite and >= 0"):
        s(5)
    with pytest.raises(ValueError, match=r"fn returned nan at step 0"):
        lrlab.create("lambda", base_lr=0.1, fn=lambda k: math.nan)(0)
    with pytest.raises(TypeError, match=r"fn returned 'x' at step 0; it must return a number"):
        lrlab.create("lambda", base_lr=0.1, fn=lambda k: "x")(0)
    with pytest.raises(TypeError, match=r"lambda: fn must be a callable, got 0.9"):
        lrlab.create("lambda", base_lr=0.1, fn=0.9)


def test_the_hand_written_policies_of_the_write_ups():
    # Adjust_lr: x0.95 every 2 epochs over a 10-epoch run
    assert_allclose(curve("step", 10, base_lr=0.1, step_size=2, gamma=0.95),
                    [0.1 * 0.95 ** (k // 2) for k in range(10)])
    # warmup 10, hold 50, then 0.95^k floored at 0.05 (a lambda policy)
    fn = lambda e: (e + 1) / 10 if e < 10 else (1.0 if e < 60 else max(0.95 ** (e - 60), 0.05))  # noqa: E731
    c = lrlab.create("lambda", base_lr=0.1, fn=fn).curve(200)
    assert c[0] == pytest.approx(0.01) and c[9] == pytest.approx(0.1) and c[59] == 0.1
    assert c[199] == pytest.approx(0.005)


def _exact_restarts(k, T0, m, base=1.0):
    """Warm restarts in Python integers: the cycle holding k, then the half cosine."""
    start, length = 0, T0
    while start + length <= k:
        start, length = start + length, length * m
    return base * (1 + math.cos(math.pi * ((k - start) / length))) / 2


@pytest.mark.parametrize("T0, m", [(7, 100_000), (1, 10 ** 9), (3, 2 ** 40), (10, 3), (1, 2)])
def test_cosine_restarts_finds_the_cycle_in_exact_integers(T0, m):
    s = lrlab.create("cosine_restarts", base_lr=1.0, step_size=T0, t_mult=m)
    ks = [0, 1, T0 - 1, T0, T0 + 1, 10 ** 6, 10 ** 12, 10 ** 15 + 3, 2 ** 62 - 1]
    assert_allclose(s.at(np.array(ks)), [_exact_restarts(k, T0, m) for k in ks], rtol=1e-12, atol=0)


def test_cosine_restarts_large_t_mult_far_out_matches_the_issue():
    s = lrlab.create("cosine_restarts", base_lr=1.0, step_size=7, t_mult=100_000)
    assert s(10 ** 12) == pytest.approx(0.999999956447919, rel=1e-12)  # not 0.9999999997001183


def test_multiplicative_gives_a_step_the_same_value_whatever_was_asked_before():
    fn = lambda k: 0.97  # noqa: E731  (0.97 ** k rounds differently in another order)
    a = lrlab.create("multiplicative", base_lr=0.1, fn=fn)
    b = lrlab.create("multiplicative", base_lr=0.1, fn=fn)
    first = a(700)
    for k in range(0, 701, 7):
        b(k)
    assert b(700) == first == a.curve(701)[700]
    lr = 0.1
    for _ in range(700):  # torch's order: ((lr * f) * f) * ...
        lr = lr * 0.97
    assert first == lr


def test_multiplicative_far_steps_are_a_clear_error():
    s = lrlab.create("multiplicative", base_lr=0.1, fn=lambda k: 1.0)
    with pytest.raises(ValueError, match="multiplicative: step 1000000000000 is past the 16777216 steps"):
        s(10 ** 12)
