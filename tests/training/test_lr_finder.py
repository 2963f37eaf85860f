import json
import math

import numpy as np
import pytest
import torch

from lrlab.training.lr_finder import (RULE, LRFinderResult, find_lr, lr_sweep, smooth_losses,
                                      steepest_index, suggest, suggestion_window, valley_index)
from lrlab.training.tasks import load_task


@pytest.fixture(scope="module")
def task():
    return load_task("digits")


@pytest.fixture(scope="module")
def calm(task):
    """A sweep that stays far from divergence."""
    return find_lr(task, start_lr=1e-5, end_lr=1e-2, num_steps=20, batch_size=32)


@pytest.fixture(scope="module")
def diverged(task):
    return find_lr(task, start_lr=1e-6, end_lr=1e3, num_steps=40, batch_size=32)


# ---- the sweep -----------------------------------------------------------------------------
def test_lr_sweep_is_exactly_geometric():
    lrs = lr_sweep(1e-7, 10.0, 100)
    assert lrs[0] == 1e-7 and lrs[-1] == 10.0 and len(lrs) == 100
    np.testing.assert_allclose(lrs[1:] / lrs[:-1], 10 ** (8 / 99), rtol=1e-12)
    np.testing.assert_allclose(lrs[50], 1e-7 * 10 ** (8 * 50 / 99), rtol=1e-12)


def test_full_run_records_every_step_of_the_geometric_sweep(calm):
    assert not calm.stopped_early
    assert len(calm.lrs) == len(calm.losses) == len(calm.smoothed) == 20
    assert calm.lrs[0] == 1e-5 and calm.lrs[-1] == 1e-2
    np.testing.assert_allclose(np.diff(np.log(calm.lrs)), math.log(1e3) / 19, rtol=1e-10)
    assert all(math.isfinite(x) for x in calm.losses)
    assert calm.losses[0] == pytest.approx(math.log(10), abs=0.3)   # untrained, 10 classes
    assert calm.smoothed[0] == calm.losses[0]                        # bias-corrected EMA
    np.testing.assert_allclose(calm.smoothed, smooth_losses(calm.losses, 0.05), rtol=1e-12)


def test_diverging_sweep_stops_at_the_first_divergent_step(diverged):
    assert diverged.stopped_early
    n = len(diverged.lrs)
    assert 5 < n < 40 and len(diverged.losses) == len(diverged.smoothed) == n
    sm = np.asarray(diverged.smoothed)
    last = sm[-1]
    assert not math.isfinite(diverged.losses[-1]) or last > 4.0 * sm[:-1].min()
    for i in range(1, n - 1):   # no earlier step met the rule
        assert math.isfinite(diverged.losses[i]) and sm[i] <= 4.0 * sm[:i].min()
    np.testing.assert_allclose(diverged.lrs, lr_sweep(1e-6, 1e3, 40)[:n], rtol=0)


def test_suggestions_lie_in_range_and_below_the_divergence(diverged, calm):
    for r in (diverged, calm):
        lo, hi = r.lrs[0], r.lrs[-1]
        assert r.rule == RULE == "minimum/10"
        assert r.minimum is not None and lo < r.minimum < hi
        assert r.suggested_lr == r.minimum / 10   # may lie below lo on a short sweep
        assert r.steepest is not None and lo <= r.steepest <= r.minimum
        if r.valley is not None:
            assert lo <= r.valley < hi
        assert r.rules() == {"minimum/10": r.suggested_lr, "minimum": r.minimum,
                             "steepest": r.steepest, "valley": r.valley}
    # well below where it blew up (the last 40 // 20 = 2 steps are never suggested)
    assert diverged.minimum <= diverged.lrs[-3]
    assert diverged.steepest <= diverged.lrs[-3]


def test_digits_suggestion_is_where_training_works(task):
    """bench/find_lr_rules.py: on digits the grid's best is 0.03 (0.992 test accuracy), and
    0.01..0.3 all reach >= 0.988; valley suggested ~6e-4 (0.70..0.81)."""
    r = find_lr(task)
    assert r.rule == "minimum/10" and 0.01 <= r.suggested_lr <= 0.2
    assert r.valley < 0.005 < r.suggested_lr   # the former suggestion, kept for comparison


def test_same_arguments_give_identical_numbers(task, calm):
    again = find_lr(task, start_lr=1e-5, end_lr=1e-2, num_steps=20, batch_size=32)
    assert again.to_dict() == calm.to_dict()
    # another seed: other initial weights and batches, so already the first loss differs
    other_seed = find_lr(task, start_lr=1e-5, end_lr=1e-2, num_steps=5, batch_size=32, seed=1)
    assert other_seed.losses[0] != calm.losses[0]


def test_given_model_gets_weights_and_modes_back(task):
    torch.manual_seed(3)
    model = task.build_model()
    model.eval()
    model.head.train()   # a mixed state, restored module by module
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng_before = torch.get_rng_state()
    r1 = find_lr(model=model, task=task, start_lr=1e-3, end_lr=1.0, num_steps=12, batch_size=32)
    after = model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not model.training and model.head.training and not model.features.training
    assert torch.equal(torch.get_rng_state(), rng_before)   # caller's RNG untouched
    # it really trained (losses move), and from the given weights: same run again is identical
    assert len(set(r1.losses)) > 1
    r2 = find_lr(task, model, start_lr=1e-3, end_lr=1.0, num_steps=12, batch_size=32)
    assert r2.losses == r1.losses


def test_given_model_is_restored_when_the_test_fails(task):
    torch.manual_seed(0)
    model = task.build_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    forward, calls = model.forward, []

    def flaky(x):
        calls.append(1)
        if len(calls) == 4:
            raise RuntimeError("boom")
        return forward(x)

    model.forward = flaky
    with pytest.raises(RuntimeError, match="boom"):
        find_lr(task, model, start_lr=1e-2, end_lr=1.0, num_steps=10)
    assert len(calls) == 4 and model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


# ---- pure helpers on known curves ----------------------------------------------------------
def test_smoothing_is_a_bias_corrected_ema():
    losses = np.array([4.0, 2.0, 1.0, 3.0])
    beta = 0.5
    expected = []
    for i in range(len(losses)):
        w = (1 - beta) * beta ** np.arange(i, -1, -1)   # weight of loss_k is (1-b) b^(i-k)
        expected.append((w * losses[: i + 1]).sum() / (1 - beta ** (i + 1)))
    np.testing.assert_allclose(smooth_losses(losses, 0.5), expected, rtol=1e-15)
    assert smooth_losses(losses, 0.5)[1] == pytest.approx((0.25 * 4 + 0.5 * 2) / 0.75)
    np.testing.assert_array_equal(smooth_losses(losses, 1.0), losses)   # no smoothing
    np.testing.assert_allclose(smooth_losses([2.5] * 50, 0.05), 2.5, rtol=1e-12)   # no bias


def test_steepest_point_of_a_sigmoid_drop():
    i = np.arange(60)
    lrs = lr_sweep(1e-6, 1.0, 60)
    curve = 2.0 - 1.5 / (1 + np.exp(-(i - 23) / 3.0)) + np.where(i > 45, 0.2 * (i - 45), 0.0)
    assert steepest_index(curve, lrs) == 23
    # the gradient is taken w.r.t. log lr: the same index whatever the (geometric) spacing
    assert steepest_index(curve, lr_sweep(1e-3, 1e5, 60)) == 23
    assert steepest_index([1.0], [1e-3]) is None


def test_valley_is_halfway_along_the_longest_decrease():
    rising_start = 1.0 + 0.01 * np.arange(10)                # 0..9, increasing, low
    valley = np.linspace(2.0, 1.5, 21)                       # 10..30, strictly decreasing
    rising_end = 1.6 + 0.1 * np.arange(10)                   # 31..40
    assert valley_index(np.concatenate([rising_start, valley, rising_end])) == 20
    # a bump inside the valley does not break it: the subsequence steps over it
    bumpy = np.concatenate([rising_start, valley, rising_end])
    bumpy[15] = 5.0
    assert valley_index(bumpy) == 20
    assert valley_index([1.0, 2.0, 3.0, 4.0]) is None        # no decrease: no valley
    assert valley_index([2.0, 1.0, 3.0]) is None             # only 2 points
    assert valley_index([]) is None


def test_suggest_trims_the_ends_and_ignores_a_non_finite_tail():
    assert suggestion_window(100, 100) == (10, 95)
    assert suggestion_window(6, 100) == (0, 5)               # too short: drop only the last
    lrs = lr_sweep(1e-6, 1.0, 60)
    i = np.arange(60)
    curve = 2.0 - 1.5 / (1 + np.exp(-(i - 23) / 3.0))
    curve[:3] = [0.1, 5.0, 0.2]                              # wild start: skipped (60 // 10 = 6)
    curve[50] = np.inf
    curve[51:] = np.nan
    found = suggest(lrs, curve, 60)
    assert found["steepest"] == lrs[23]
    # the window is indices 6..46 (50 finite points, 60 // 20 = 3 dropped); the curve
    # decreases all the way, so the valley is its middle and the minimum its last point
    assert found["valley"] == lrs[6 + (46 - 6) // 2]
    assert found["minimum"] == lrs[46] and found["minimum/10"] == lrs[46] / 10
    nothing = dict.fromkeys(("minimum/10", "minimum", "steepest", "valley"))
    assert suggest(lrs[:2], [1.0, 2.0], 60) == nothing
    assert suggest(lrs, np.linspace(1.0, 3.0, 60), 60) == nothing   # only rises


def test_minimum_over_ten_of_a_u_shaped_curve():
    lrs = lr_sweep(1e-6, 10.0, 100)
    i = np.arange(100)
    curve = 2.3 - 1.8 / (1 + np.exp(-(i - 50) / 4.0)) + 0.004 * np.maximum(i - 60, 0) ** 2
    low = int(np.argmin(curve))
    assert 60 < low < 80                                     # the bottom of the U
    found = suggest(lrs, curve, 100)
    assert found["minimum"] == lrs[low]
    assert found["minimum/10"] == lrs[low] / 10 == found[RULE]
    assert found["steepest"] == lrs[50]
    # a lower loss in the trimmed start (100 // 10 = 10 steps) or end (5 steps) is ignored
    wild = curve.copy()
    wild[3], wild[97] = -5.0, -5.0
    assert suggest(lrs, wild, 100) == found
    # a lower point after a non-finite loss is ignored too (the tail from the first one is)
    broken = curve.copy()
    broken[85], broken[86:] = np.nan, -5.0
    assert suggest(lrs, broken, 100)["minimum"] == lrs[low]


def test_no_minimum_when_the_loss_never_falls():
    lrs = lr_sweep(1e-6, 10.0, 100)
    flat_then_up = np.concatenate([np.full(50, 2.3), 2.3 + 0.01 * np.arange(1, 51)])
    found = suggest(lrs, flat_then_up, 100)
    assert found["minimum"] is None and found[RULE] is None and found["steepest"] is None


def test_steepest_ignores_drops_after_the_minimum():
    lrs = lr_sweep(1e-6, 1.0, 60)
    i = np.arange(60)
    curve = 2.0 - 0.5 / (1 + np.exp(-(i - 20) / 3.0))       # gentle learning, steepest at 20
    curve[35:45] = 4.0                                       # a blow-up ...
    curve[45:] = 3.0 - 0.1 * np.arange(15)                   # ... a steep recovery to 1.6
    assert steepest_index(curve, lrs) > 35                   # the bare argmin is fooled
    assert suggest(lrs, curve, 60)["steepest"] == lrs[20]


# ---- result: dict and plot -----------------------------------------------------------------
def test_to_dict_is_strict_json(diverged):
    d = diverged.to_dict()
    assert set(d) == {"lrs", "losses", "smoothed", "suggested_lr", "rule", "minimum", "steepest",
                      "valley", "stopped_early"}
    assert d["rule"] == "minimum/10"
    assert json.loads(json.dumps(d, allow_nan=False)) == d
    r = LRFinderResult([1e-3, 1e-2], [1.0, math.inf], [1.0, math.nan], None, RULE, None, None,
                       None, True)
    assert r.to_dict()["losses"] == [1.0, None] and r.to_dict()["smoothed"] == [1.0, None]


def test_plot_writes_a_png(diverged, tmp_path):
    out = diverged.plot(tmp_path / "lr.png")
    assert out == tmp_path / "lr.png"
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = LRFinderResult([1e-3, 1e-2, 1e-1], [1.0, 0.5, math.inf], [1.0, 0.6, math.inf],
                       None, RULE, None, None, None, True)
    assert r.plot(tmp_path / "bad.png").read_bytes()[:4] == b"\x89PNG"


# ---- validation ----------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, name", [
    ({"start_lr": 0.0}, "start_lr"),
    ({"start_lr": -1e-3}, "start_lr"),
    ({"start_lr": math.nan}, "start_lr"),
    ({"start_lr": 1.0, "end_lr": 1.0}, "end_lr"),
    ({"end_lr": math.inf}, "end_lr"),
    ({"num_steps": 4}, "num_steps"),
    ({"batch_size": 0}, "batch_size"),
    ({"smooth": 0.0}, "smooth"),
    ({"smooth": 1.5}, "smooth"),
    ({"diverge": 1.0}, "diverge"),
])
def test_invalid_arguments_are_named(task, kwargs, name):
    value = next(v for k, v in kwargs.items() if k == name)
    with pytest.raises(ValueError, match=rf"find_lr: {name} must be .*, got {value!r}"):
        find_lr(task, **kwargs)


def test_unknown_optimizer_is_rejected(task):
    with pytest.raises(ValueError, match="optimizer must be one of"):
        find_lr(task, optimizer="adagrad", num_steps=5)
