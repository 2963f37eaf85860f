"""lrlab.stats against hand-computed values, edge cases and properties.

Closed forms used for the t quantiles (no table needed):
- df = 1 (Cauchy): F(t) = 1/2 + atan(t)/pi, so t_{0.975,1} = tan(0.475 pi) = 12.706204736...;
- df = 2: F(t) = 1/2 + t / (2 sqrt(2 + t^2)), so t/sqrt(2+t^2) = 0.95,
  t^2 = 2 * 0.95^2 / (1 - 0.95^2) = 1.805 / 0.0975 = 722/39, t_{0.975,2} = 4.3026527297494...
  and the two-sided p-value of a statistic t is 1 - |t| / sqrt(2 + t^2).
"""

import json
import math
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrlab.stats import (
    accuracies,
    curve_auc,
    diverged_count,
    paired_difference,
    quantisation_sd,
    range_quantile,
    rank,
    resolution,
    seeds_needed,
    summarize,
    t_quantile,
    test_set_noise,
    time_to_target,
    two_way,
)

REL = 1e-12
T1 = math.tan(0.475 * math.pi)  # t_{0.975, 1}
T2 = math.sqrt(722 / 39)  # t_{0.975, 2}


def approx(x):
    return pytest.approx(x, rel=REL, abs=1e-15)


# --------------------------------------------------------------------------- t quantile


def test_t_quantile_matches_closed_forms():
    assert t_quantile(0.95, 1) == approx(T1)
    assert t_quantile(0.95, 2) == approx(T2)
    # df = 2 at 90%: t^2 = 2 * 0.9^2 / (1 - 0.9^2) = 1.62 / 0.19
    assert t_quantile(0.90, 2) == approx(math.sqrt(1.62 / 0.19))


@pytest.mark.parametrize("confidence", [0, 1, -0.5, 1.5, float("nan")])
def test_t_quantile_refuses_bad_confidence(confidence):
    with pytest.raises(ValueError, match="confidence must be in"):
        t_quantile(confidence, 2)


@pytest.mark.parametrize("df", [0, -1, 1.5])
def test_t_quantile_refuses_bad_df(df):
    with pytest.raises(ValueError, match="df must be an integer >= 1"):
        t_quantile(0.95, df)


# --------------------------------------------------------------------------- summarize


def test_summarize_three_seeds():
    # mean = (0.90 + 0.92 + 0.94) / 3 = 0.92
    # s^2 = (0.02^2 + 0 + 0.02^2) / 2 = 0.0004, s = 0.02
    # half-width = t_{0.975,2} * s / sqrt(3) = 4.3026527297494 * 0.02 / 1.7320508 = 0.0496827542...
    s = summarize([0.90, 0.92, 0.94])
    half = T2 * 0.02 / math.sqrt(3)
    assert half == pytest.approx(0.049682754235, rel=1e-10)
    assert s["n"] == 3 and s["single_sample"] is False
    assert s["mean"] == approx(0.92)
    assert s["std"] == approx(0.02)
    assert s["ci_low"] == approx(0.92 - half)
    assert s["ci_high"] == approx(0.92 + half)


def test_summarize_two_seeds():
    # mean 0.85; s = sqrt((0.05^2 + 0.05^2) / 1) = 0.05 sqrt(2); s / sqrt(2) = 0.05
    # half-width = t_{0.975,1} * 0.05 = 12.706204736 * 0.05 = 0.6353102368
    s = summarize([0.8, 0.9])
    assert s["mean"] == approx(0.85)
    assert s["std"] == approx(0.05 * math.sqrt(2))
    assert s["ci_high"] - s["mean"] == pytest.approx(T1 * 0.05, rel=1e-10)
    assert s["mean"] - s["ci_low"] == pytest.approx(0.6353102368, rel=1e-9)


def test_summarize_other_confidence():
    # 90%: t_{0.95,2} = sqrt(1.62 / 0.19); same data as above
    s = summarize([0.90, 0.92, 0.94], confidence=0.90)
    assert s["ci_high"] == approx(0.92 + math.sqrt(1.62 / 0.19) * 0.02 / math.sqrt(3))


def test_summarize_one_seed_has_no_interval():
    assert summarize([0.8]) == {
        "n": 1, "mean": 0.8, "std": None, "ci_low": None, "ci_high": None,
        "single_sample": True,
    }


def test_summarize_no_values():
    s = summarize([])
    assert s["n"] == 0 and s["mean"] is None and s["ci_low"] is None
    assert s["single_sample"] is False


def test_summarize_identical_values_give_zero_width_exactly():
    # 0.1 + 0.1 + 0.1 = 0.30000000000000004 in floats; the mean must still be 0.1 exactly
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = summarize([0.1, 0.1, 0.1])
    assert s["mean"] == 0.1 and s["std"] == 0.0
    assert s["ci_low"] == s["ci_high"] == 0.1


@pytest.mark.parametrize("bad", [None, float("nan"), float("inf")])
def test_summarize_refuses_non_finite(bad):
    with pytest.raises((ValueError, TypeError)):
        summarize([0.9, bad])


# --------------------------------------------------------------------------- paired difference


def test_paired_difference_hand_example():
    # d = x - y = 0.90-0.91, 0.93-0.91, 0.95-0.92 = -0.01, 0.02, 0.03
    # mean d = 0.04/3 = 0.013333...
    # s^2 = ((-0.01-0.04/3)^2 + (0.02-0.04/3)^2 + (0.03-0.04/3)^2) / 2
    #     = (49/90000 + 4/90000 + 25/90000) / 2 = 78/180000 = 13/30000
    # t^2 = 3 * (0.04/3)^2 / (13/30000) = 16/13;  p = 1 - sqrt(t^2 / (2 + t^2)) = 1 - sqrt(8/21)
    # half-width = t_{0.975,2} * sqrt(13/30000) / sqrt(3)
    # wins: seeds 1 and 2 of 3 -> 2/3
    x = {0: 0.90, 1: 0.93, 2: 0.95}
    y = {0: 0.91, 1: 0.91, 2: 0.92}
    d = paired_difference(x, y)
    half = T2 * math.sqrt(13 / 30000) / math.sqrt(3)
    assert d["n_shared"] == 3
    assert d["mean"] == pytest.approx(0.04 / 3, rel=1e-12)
    assert d["std"] == pytest.approx(math.sqrt(13 / 30000), rel=1e-12)
    assert d["ci_low"] == pytest.approx(0.04 / 3 - half, rel=1e-12)
    assert d["ci_high"] == pytest.approx(0.04 / 3 + half, rel=1e-12)
    assert d["t"] == pytest.approx(math.sqrt(16 / 13), rel=1e-12)
    assert d["p_value"] == pytest.approx(1 - math.sqrt(8 / 21), rel=1e-10)
    assert d["prob_improvement"] == pytest.approx(2 / 3, rel=1e-15)


def test_paired_difference_df1_pvalue():
    # d = -0.02, -0.03: mean -0.025, s = 0.005 sqrt(2), s/sqrt(2) = 0.005, t = -5, df = 1
    # p = 2 P(T_1 >= 5) = 1 - 2 atan(5) / pi
    d = paired_difference({0: 0.90, 1: 0.91}, {0: 0.92, 1: 0.94})
    assert d["t"] == pytest.approx(-5.0, rel=1e-10)
    assert d["p_value"] == pytest.approx(1 - 2 * math.atan(5) / math.pi, rel=1e-9)
    assert d["prob_improvement"] == 0.0


def test_paired_difference_ties_count_half():
    # seed 0 tie (1/2), seed 1 win (1), seed 2 loss (0), seed 3 tie (1/2) -> 2/4
    d = paired_difference({0: 0.5, 1: 0.75, 2: 0.25, 3: 0.5}, {0: 0.5, 1: 0.5, 2: 0.5, 3: 0.5})
    assert d["prob_improvement"] == 0.5


def test_paired_difference_uses_only_shared_finite_seeds():
    # shared finite seeds: 0 and 3 (1 diverged in y, 2 missing from y, 4 missing from x)
    x = {0: 0.75, 1: 0.9, 2: 0.9, 3: 0.5}
    y = {0: 0.5, 1: None, 3: 0.5, 4: 0.1}
    d = paired_difference(x, y)
    assert d["n_shared"] == 2
    assert d["mean"] == 0.125  # (0.25 + 0) / 2
    assert d["prob_improvement"] == 0.75  # (1 + 1/2) / 2


def test_paired_difference_one_shared_seed():
    d = paired_difference({0: 0.75, 1: 0.6}, {0: 0.5})
    assert d["n_shared"] == 1 and d["mean"] == 0.25 and d["prob_improvement"] == 1.0
    assert d["std"] is None and d["ci_low"] is None and d["p_value"] is None


def test_paired_difference_nothing_shared():
    d = paired_difference({0: 0.75}, {1: 0.5})
    assert d["n_shared"] == 0 and d["mean"] is None and d["prob_improvement"] is None


def test_paired_difference_zero_variance_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        same = paired_difference({0: 0.9, 1: 0.8, 2: 0.7}, {0: 0.9, 1: 0.8, 2: 0.7})
        # every difference is exactly 0.25 (binary fractions): s = 0, t = +inf, p = 0
        shifted = paired_difference({0: 0.75, 1: 0.5}, {0: 0.5, 1: 0.25})
    assert same["mean"] == 0.0 and same["std"] == 0.0
    assert same["ci_low"] == same["ci_high"] == 0.0
    assert same["p_value"] == 1.0 and same["t"] == 0.0 and same["prob_improvement"] == 0.5
    assert shifted["mean"] == 0.25 and shifted["ci_low"] == shifted["ci_high"] == 0.25
    assert shifted["p_value"] == 0.0 and shifted["t"] == math.inf


# --------------------------------------------------------------------------- the verdict's parts

# Montgomery, Design and Analysis of Experiments, Example 4.1 (vascular graft yield: 4
# extrusion pressures, 6 batches as blocks), ANOVA table 4.4: SS treatments 178.17 (df 3),
# blocks 192.25 (df 5), error 109.89 (df 15), MS error 7.33, total 480.31 (df 23).
MONTGOMERY = {"8500": [90.3, 89.2, 98.2, 93.9, 87.4, 97.9],
              "8700": [92.5, 89.5, 90.6, 94.7, 87.0, 95.8],
              "8900": [85.5, 90.8, 89.6, 86.2, 88.0, 93.4],
              "9100": [82.5, 89.5, 85.6, 87.4, 78.9, 90.7]}


def test_two_way_reproduces_a_textbook_randomised_block_anova():
    ss, df = two_way({k: dict(enumerate(v)) for k, v in MONTGOMERY.items()})
    assert df == 15 and round(ss, 2) == 109.89 and round(ss / df, 2) == 7.33


def test_two_way_with_a_missing_cell_is_the_least_squares_fit():
    import numpy as np

    data = {k: dict(enumerate(v)) for k, v in MONTGOMERY.items()}
    del data["8900"][3]
    ss, df = two_way(data)
    # the same fit written out: one column per pressure, one per batch but the first
    cells = [(k, j, v) for k, per in data.items() for j, v in per.items()]
    x = np.array([[k == p for p in MONTGOMERY] + [j == b for b in range(1, 6)] for k, j, _ in cells],
                 dtype=float)
    y = np.array([v for *_, v in cells])
    resid = y - x @ np.linalg.lstsq(x, y, rcond=None)[0]
    assert df == 23 - 9 and ss == pytest.approx(float(resid @ resid), rel=1e-10)


def test_two_way_needs_degrees_of_freedom():
    assert two_way({"a": {0: 0.9}, "b": {0: 0.8}}) == (0.0, 0)
    assert two_way({}) == (0.0, 0) and two_way({"a": {0: None}}) == (0.0, 0)


@pytest.mark.parametrize("k, df, table", [(2, 10, 3.151), (3, 10, 3.877), (4, 20, 3.958),
                                          (5, 30, 4.102), (10, 30, 4.824), (15, 60, 5.001)])
def test_studentised_range_quantile_against_the_table(k, df, table):
    # Tukey's q_{0.95}(k, df), e.g. Montgomery Appendix Table VII / Harter (1960)
    assert range_quantile(k, df) == pytest.approx(table, abs=2e-3)


def test_studentised_range_of_two_means_is_sqrt2_times_t():
    for df in (2, 5, 28):
        assert range_quantile(2, df) == pytest.approx(math.sqrt(2) * t_quantile(0.95, df), rel=1e-6)


def test_the_quantisation_of_a_count():
    assert quantisation_sd(360) == pytest.approx(1 / (math.sqrt(12) * 360), rel=1e-15)
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="n_test must be an int >= 1"):
            quantisation_sd(bad)


def test_resolution_and_seeds_needed():
    acc = {k: {j: v / 100 for j, v in enumerate(vals)} for k, vals in MONTGOMERY.items()}
    res = resolution(acc, n_test=None)
    sigma = math.sqrt(109.88625 / 15) / 100
    q = range_quantile(4, 15)
    assert res["k"] == 4 and res["n"] == 6 and res["df"] == 15
    assert res["sigma"] == pytest.approx(sigma, rel=1e-9)
    assert res["critical_difference"] == pytest.approx(q * sigma / math.sqrt(6), rel=1e-9)
    z = 0.8416212335729143  # the 80 % point of the standard normal
    assert res["resolvable"] == pytest.approx((q + math.sqrt(2) * z) * sigma / math.sqrt(6), rel=1e-6)
    # what more seeds buy: the first n whose 80 %-power gap is below the asked one
    n = seeds_needed(0.03, res)
    gap = lambda m: (range_quantile(4, 3 * (m - 1)) + math.sqrt(2) * z) * sigma / math.sqrt(m)  # noqa: E731
    assert gap(n) <= 0.03 < gap(n - 1)
    assert seeds_needed(1e-9, res) is None and seeds_needed(0.0, res) is None
    floored = resolution({"a": {0: 0.5, 1: 0.5}, "b": {0: 0.5, 1: 0.5}}, n_test=100)
    assert floored["sigma_pooled"] == 0.0 and floored["sigma"] == quantisation_sd(100)
    one = resolution({"a": {0: 0.5}, "b": {0: 0.4}})
    assert one["q"] is None and one["critical_difference"] is None and seeds_needed(0.1, one) is None


# --------------------------------------------------------------------------- curves


def test_curve_auc_step_rule():
    # (0.5 + 0.8 + 0.9 + 0.9) / 4 = 3.1 / 4 = 0.775
    assert curve_auc([0.5, 0.8, 0.9, 0.9]) == approx(0.775)
    assert curve_auc([1.0, 1.0]) == 1.0
    # a NaN epoch earns 0: (0.5 + 0 + 1) / 3 = 0.5
    assert curve_auc([0.5, float("nan"), 1.0]) == 0.5
    with pytest.raises(ValueError, match="at least one epoch"):
        curve_auc([])


def test_time_to_target():
    # first epoch with acc >= 0.85 is the 3rd; seconds 2 + 1.5 + 1.5 = 5
    assert time_to_target([0.5, 0.8, 0.9, 0.95], 0.85, [2.0, 1.5, 1.5, 1.5]) == (3, 5.0)
    assert time_to_target([0.5, 0.8, 0.9, 0.95], 0.5) == (1, None)  # reached at equality
    assert time_to_target([0.5, 0.8], 0.85, [1.0, 1.0]) is None
    assert time_to_target([float("nan"), 0.9], 0.85) == (2, None)
    assert time_to_target([], 0.5) is None
    with pytest.raises(ValueError, match="one entry per epoch"):
        time_to_target([0.5, 0.9], 0.85, [1.0])


def test_diverged_count():
    assert diverged_count({0: 0.9, 1: None, 2: float("nan"), 3: float("inf")}) == 3
    assert diverged_count({}) == 0


# --------------------------------------------------------------------------- rank


def _tukey_half(acc, name, best="cosine", n_test=None):
    """The critical difference of ``name`` against ``best`` written out: two-way residual
    variance (balanced, with its textbook formula when every cell is there), the pair's own
    variance moderated toward it, Tukey's q for the schedules with a finite accuracy."""
    import numpy as np

    names = [k for k, v in acc.items() if any(x is not None for x in v.values())]
    seeds = sorted({s for k in names for s, x in acc[k].items() if x is not None})
    ss, df = two_way(acc)
    sigma = max(math.sqrt(ss / df), quantisation_sd(n_test) if n_test else 0.0)
    shared = [s for s in seeds if acc[name].get(s) is not None and acc[best].get(s) is not None]
    d = np.array([acc[name][s] - acc[best][s] for s in shared])
    n = len(shared)  # the pair's variance moderated toward the pooled with 1 degree of freedom
    s = max(sigma, math.sqrt(((n - 1) * d.var(ddof=1) / 2 + sigma ** 2) / n))
    return range_quantile(len(names), df) * s / math.sqrt(len(shared))


def test_rank_hand_example():
    # cosine: 0.92, 0.94, 0.93 -> mean 0.93 (best); step: 0.90, 0.91, diverged -> 0.905;
    # const: 0.85, 0.86, 0.84 -> 0.85: 8 points below on every seed, +-1 point.
    acc = {"step": {0: 0.90, 1: 0.91, 2: None}, "const": {0: 0.85, 1: 0.86, 2: 0.84},
           "cosine": {0: 0.92, 1: 0.94, 2: 0.93}}
    rows = rank(acc)
    by = {r["name"]: r for r in rows}
    assert [r["name"] for r in rows] == ["cosine", "step", "const"]
    assert [r["rank"] for r in rows] == [1, 2, 3]
    cos, step, const = by["cosine"], by["step"], by["const"]
    assert cos["is_best"] and cos["tied_with_best"] and cos["diff_mean"] == 0.0
    assert cos["prob_improvement"] == 0.5
    assert cos["test_acc_mean"] == approx(0.93) and cos["test_acc_std"] == approx(0.01)
    assert cos["test_acc_min"] == 0.92 and cos["test_acc_max"] == 0.94

    assert step["diverged"] == 1 and step["n_seeds"] == 2 and step["seeds"] == [0, 1]
    assert step["n_shared"] == 2 and step["comparable"]
    assert step["diff_mean"] == approx(-0.025)
    half = _tukey_half(acc, "step")
    assert step["critical_difference"] == pytest.approx(half, rel=1e-9) and half > 0.025
    assert step["tied_with_best"] is True  # 2.5 points with 2 seeds: not resolved
    assert step["diff_ci_low"] == pytest.approx(-0.025 - half, rel=1e-9)
    assert step["ci_high"] - step["test_acc_mean"] == pytest.approx(T1 * 0.005, rel=1e-9)

    half = _tukey_half(acc, "const")
    assert const["critical_difference"] == pytest.approx(half, rel=1e-9) and half < 0.08
    assert const["tied_with_best"] is False and const["prob_improvement"] == 0.0
    assert const["diff_ci_high"] == pytest.approx(-0.08 + half, rel=1e-9)
    assert all(r["missing_seeds"] == [] and r["single_sample"] is False for r in rows)


def test_a_constant_one_image_gap_is_not_flagged_and_a_ten_point_gap_is():
    n = 360
    base = {0: 300, 1: 310, 2: 305}
    acc = {"best": {s: (v + 1) / n for s, v in base.items()},  # one image ahead on every seed
           "one": {s: v / n for s, v in base.items()},
           "noisy": {0: 301 / n, 1: 309 / n, 2: 306 / n},
           "far": {s: (v - 36) / n for s, v in base.items()}}  # 10 points below
    rows = {r["name"]: r for r in rank(acc, n_test=n)}
    assert rows["one"]["diff_mean"] == pytest.approx(-1 / n) and rows["one"]["tied_with_best"]
    assert rows["noisy"]["tied_with_best"] and rows["far"]["tied_with_best"] is False
    # the paired sd of "one" is 0: the pooled noise (floored at the quantisation) decides
    assert rows["one"]["critical_difference"] > 1 / n


def test_intervals_of_an_accuracy_stay_within_0_and_1():
    rows = rank({"a": {0: 1.0, 1: 0.96, 2: 1.0}, "b": {0: 0.02, 1: 0.0, 2: 0.04}}, n_test=50)
    for r in rows:
        assert 0.0 <= r["ci_low"] <= r["test_acc_mean"] <= r["ci_high"] <= 1.0
        assert -1.0 <= r["diff_ci_low"] <= r["diff_ci_high"] <= 1.0
    same = rank({"a": {0: 0.9, 1: 0.9, 2: 0.9}, "b": {0: 0.8, 1: 0.85, 2: 0.8}}, n_test=100)
    assert same[0]["ci_low"] < 0.9 < same[0]["ci_high"]  # no zero-width interval: the floor


def test_the_test_set_size_is_inferred_from_the_accuracies_when_not_given():
    from lrlab.stats import infer_n_test

    assert infer_n_test([0.9, 0.91, 0.92, 0.899]) == 1000
    assert infer_n_test([k / 1763 for k in (1650, 1700, 1702)]) == 1763
    assert infer_n_test([0.5, None, float("nan")]) == 2 and infer_n_test([math.pi / 4]) is None


def test_a_single_seed_above_the_best_is_not_the_yardstick():
    rows = rank({"a": {0: .90, 1: .91, 2: .92}, "b": {0: .70, 1: .71, 2: .72},
                 "hot": {0: .93, 1: None, 2: None}}, n_test=360)
    by = {r["name"]: r for r in rows}
    assert [r["name"] for r in rows] == ["hot", "a", "b"]  # still ordered by mean
    assert by["a"]["is_best"] and not by["hot"]["is_best"]
    assert by["hot"]["tied_with_best"] and not by["hot"]["comparable"]  # not compared
    assert by["b"]["tied_with_best"] is False  # 20 points below a, resolved


def test_accuracies_round_trip_through_the_rows():
    acc = {"a": {0: 0.9, 1: None}, "b": {0: 0.8, 1: 0.7}}
    assert accuracies(rank(acc)) == acc


def test_false_verdicts_stay_rare_in_simulated_experiments_with_a_known_truth():
    """A small version of bench/verdict.py: 15 equal schedules x 3 seeds on 360 images (a seed
    effect of 0.5 points, trial noise 0.3 points): the family-wise rate of calling one of them
    worse stays near 5 % (150 experiments: under 10 %), where the old paired-t + Holm rule
    was at 34 %; a schedule 1.5 points worse is caught most of the time."""
    import numpy as np

    rng = np.random.default_rng(0)

    def experiment(gap):
        seed = rng.normal(0, 0.005, 3)
        return {f"s{i}": {j: float(np.round((0.98 - (gap if i == 14 else 0) + seed[j]
                                             + rng.normal(0, 0.003)) * 360) / 360)
                          for j in range(3)} for i in range(15)}

    false = sum(not all(r["tied_with_best"] for r in rank(experiment(0.0), n_test=360))
                for _ in range(150))
    caught = sum(not {r["name"]: r for r in rank(experiment(0.015), n_test=360)}["s14"]["tied_with_best"]
                 for _ in range(60))
    assert false <= 15 and caught >= 45


def test_rank_curves_time_to_target_and_auc():
    # final val acc: a = (0.95 + 0.97)/2 = 0.96 (best), b = (0.90 + 0.92)/2 = 0.91
    # targets: 95% -> 0.95 * 0.96 = 0.912; 99% -> 0.99 * 0.96 = 0.9504
    # a, 95%: seed 0 at epoch 3 (0.95), seed 1 at epoch 3 (0.97) -> 3 epochs;
    #         seconds 1+1+1 = 3 and 2+2+2 = 6 -> 4.5
    # a, 99%: seed 0 never (0.95 < 0.9504), seed 1 epoch 3 -> reached 1 of 2 -> None
    # b, 95%: seed 0 never (0.90), seed 1 epoch 2 (0.92) -> None; 99% never
    # AUC a: (0.6+0.85+0.95)/3 = 0.8, (0.7+0.9+0.97)/3 = 0.856667 -> mean 0.828333
    # AUC b: (0.8+0.9+0.9)/3 = 0.866667, (0.85+0.92+0.92)/3 = 0.896667 -> mean 0.881667
    # b's test diverged on seed 2: its curve must be ignored.
    rows = rank(
        {"a": {0: 0.95, 1: 0.96}, "b": {0: 0.93, 1: 0.94, 2: None}},
        val_acc={
            "a": {0: [0.6, 0.85, 0.95], 1: [0.7, 0.9, 0.97]},
            "b": {0: [0.8, 0.9, 0.9], 1: [0.85, 0.92, 0.92], 2: [0.99, 0.99, 0.99]},
        },
        epoch_seconds={"a": {0: [1.0, 1.0, 1.0], 1: [2.0, 2.0, 2.0]},
                       "b": {0: [1.0, 1.0, 1.0], 1: [1.0, 1.0, 1.0]}},
    )
    a, b = rows
    assert a["name"] == "a" and b["name"] == "b"
    assert a["val_acc_final_mean"] == approx(0.96) and b["val_acc_final_mean"] == approx(0.91)
    assert a["target_95"] == approx(0.912) and b["target_99"] == approx(0.9504)
    assert a["auc_mean"] == approx((0.8 + 2.57 / 3) / 2)
    assert b["auc_mean"] == approx((2.6 / 3 + 2.69 / 3) / 2)
    assert (a["reached_95"], a["epochs_to_95"], a["seconds_to_95"]) == (2, 3.0, 4.5)
    assert (a["reached_99"], a["epochs_to_99"], a["seconds_to_99"]) == (1, None, None)
    assert (b["reached_95"], b["epochs_to_95"], b["seconds_to_95"]) == (1, None, None)
    assert b["reached_99"] == 0 and b["n_curves"] == 2
    seeds_b = {e["seed"]: e for e in b["per_seed"]}
    assert seeds_b[1]["epochs_to_95"] == 2 and seeds_b[1]["seconds_to_95"] == 2.0
    assert seeds_b[0]["epochs_to_95"] is None
    assert seeds_b[2] == {"seed": 2, "test_acc": None, "diverged": True, "val_acc_final": None,
                          "auc": None, "epochs_to_95": None, "seconds_to_95": None,
                          "epochs_to_99": None, "seconds_to_99": None}
    assert seeds_b[1]["auc"] == approx(2.69 / 3)


def test_rank_time_to_target_without_seconds_and_other_targets():
    rows = rank({"a": {0: 0.9, 1: 0.9}}, val_acc={"a": {0: [0.5, 1.0], 1: [1.0, 1.0]}},
                targets=(0.5, 0.995))
    (a,) = rows
    # best final val = 1.0; 50% -> epoch 1 on both; 99.5% -> epochs 2 and 1 -> mean 1.5
    assert a["epochs_to_50"] == 1.0 and a["seconds_to_50"] is None
    assert a["epochs_to_99.5"] == 1.5 and a["reached_99.5"] == 2


def test_rank_one_seed_is_a_single_sample_and_all_tie():
    rows = rank({"a": {0: 0.9}, "b": {0: 0.8}, "c": {0: 0.85}})
    assert [r["name"] for r in rows] == ["a", "c", "b"]
    for r in rows:
        assert r["single_sample"] is True and r["ci_low"] is None and r["test_acc_std"] is None
        assert r["comparable"] is False and r["critical_difference"] is None
        assert r["tied_with_best"] is True  # one seed cannot tell them apart
    assert rows[2]["diff_mean"] == approx(-0.1) and rows[2]["prob_improvement"] == 0.0


def test_rank_all_diverged_and_empty_schedules():
    rows = rank({"good": {0: 0.9, 1: 0.92}, "boom": {0: None, 1: float("nan")}, "later": {}})
    assert [r["name"] for r in rows] == ["good", "boom", "later"]
    boom, later = rows[1], rows[2]
    assert boom["diverged"] == 2 and boom["n_seeds"] == 0 and boom["test_acc_mean"] is None
    assert boom["tied_with_best"] is False and boom["n_shared"] == 0
    assert later["missing_seeds"] == [0, 1] and later["diverged"] == 0
    assert later["tied_with_best"] is False and later["per_seed"] == []
    assert rows[0]["tied_with_best"] and rows[0]["is_best"]


def test_rank_everything_diverged():
    rows = rank({"a": {0: None}, "b": {0: float("inf")}})
    assert [r["name"] for r in rows] == ["a", "b"]
    assert not any(r["is_best"] or r["tied_with_best"] for r in rows)
    assert rank({}) == []


def test_rank_missing_seeds_and_one_shared_seed():
    # b misses seed 1: shared with a are seeds 0, 2 (comparable)
    # c has only seed 3, which a lacks -> 0 shared: cannot be distinguished -> tie
    # d shares only seed 0 -> 1 shared -> tie (not compared)
    rows = rank({
        "a": {0: 0.9, 1: 0.95, 2: 0.92},
        "b": {0: 0.5, 2: 0.25},
        "c": {3: 0.8},
        "d": {0: 0.1},
    })
    by = {r["name"]: r for r in rows}
    assert by["b"]["missing_seeds"] == [1, 3] and by["b"]["n_shared"] == 2
    assert by["c"]["n_shared"] == 0 and by["c"]["tied_with_best"] is True
    assert by["c"]["diff_mean"] is None and by["c"]["missing_seeds"] == [0, 1, 2]
    assert by["d"]["n_shared"] == 1 and by["d"]["tied_with_best"] is True
    assert by["d"]["comparable"] is False and by["d"]["critical_difference"] is None
    # b is 53.5 points below on 2 seeds, but the model has 1 degree of freedom left:
    # q(4, 1) = 27 resolves nothing
    assert by["b"]["comparable"] and by["b"]["tied_with_best"] is True
    assert by["b"]["critical_difference"] > 0.535


def test_rank_identical_schedules_tie_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rows = rank({"a": {0: 0.9, 1: 0.9, 2: 0.9}, "b": {0: 0.9, 1: 0.9, 2: 0.9}})
    a, b = rows
    assert a["name"] == "a" and a["is_best"]  # equal means: more seeds, then name
    # no test-set size given: 0.9 is a count of at least 10 examples, whose rounding floors
    # the noise (1/sqrt(12)/10): no zero-width interval, no zero critical difference
    floor = quantisation_sd(10)
    assert a["test_acc_std"] == 0.0
    assert a["ci_high"] - 0.9 == pytest.approx(T2 * floor / math.sqrt(3), rel=1e-9)
    assert b["diff_mean"] == 0.0
    assert b["critical_difference"] == pytest.approx(range_quantile(2, 2) * floor / math.sqrt(3))
    assert b["tied_with_best"] is True and b["prob_improvement"] == 0.5


def test_rank_constant_gap_without_any_noise_is_distinguished():
    # b is exactly 0.25 below a on every seed and nothing else varies: the only noise is the
    # rounding to whole examples: with 4 test examples (1/sqrt(12)/4 = 7.2 points) 25 points
    # are not resolved at 2 seeds; given 1000 examples they are; not given, 4 is inferred
    acc = {"a": {0: 0.75, 1: 0.5}, "b": {0: 0.5, 1: 0.25}}
    rows = rank(acc, n_test=4)
    assert rows[1]["critical_difference"] > 0.25 and rows[1]["tied_with_best"] is True
    assert rank(acc) == rows
    rows = rank(acc, n_test=1000)
    assert rows[1]["critical_difference"] < 0.25 and rows[1]["tied_with_best"] is False


def test_rank_ties_on_mean_prefer_more_seeds():
    rows = rank({"a": {0: 0.9}, "b": {0: 0.9, 1: 0.9}})
    assert [r["name"] for r in rows] == ["b", "a"]


def test_rank_is_json_ready():
    rows = rank(
        {"a": {0: 0.9, 1: 0.92}, "b": {0: 0.8, 1: None}},
        val_acc={"a": {0: [0.5, 0.9], 1: [0.6, 0.95]}, "b": {0: [0.4, 0.8]}},
        epoch_seconds={"a": {0: [1.0, 1.0], 1: [1.0, 1.5]}},
    )
    text = json.dumps(rows, allow_nan=False)
    assert json.loads(text)[0]["name"] == "a"

    def plain(v):
        if isinstance(v, dict):
            return all(isinstance(k, (str, int)) and plain(x) for k, x in v.items())
        if isinstance(v, list):
            return all(plain(x) for x in v)
        return v is None or type(v) in (bool, int, float, str)

    assert plain(rows)


def test_rank_refuses_bad_input():
    with pytest.raises(ValueError, match="val_acc names schedules not in test_acc"):
        rank({"a": {0: 0.9}}, val_acc={"z": {0: [0.5]}})
    with pytest.raises(ValueError, match="alpha must be in"):
        rank({"a": {0: 0.9}}, alpha=1.0)
    with pytest.raises(ValueError, match="targets must be"):
        rank({"a": {0: 0.9}}, targets=(0.0,))
    with pytest.raises(ValueError, match="one entry per epoch"):
        rank({"a": {0: 0.9}}, val_acc={"a": {0: [0.5, 0.9]}}, epoch_seconds={"a": {0: [1.0]}})


# --------------------------------------------------------------------------- properties

_acc = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


@given(st.lists(_acc, min_size=1, max_size=10), st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_summarize_interval_contains_the_mean(values, confidence):
    s = summarize(values, confidence)
    assert min(values) <= s["mean"] <= max(values)
    if len(values) >= 2:
        assert s["std"] >= 0.0
        assert s["ci_low"] <= s["mean"] <= s["ci_high"]
        assert math.isclose(s["mean"] - s["ci_low"], s["ci_high"] - s["mean"],
                            rel_tol=1e-9, abs_tol=1e-15)
    else:
        assert s["ci_low"] is None


@given(st.lists(_acc, min_size=1, max_size=10), st.randoms(use_true_random=False))
def test_summarize_does_not_depend_on_order(values, rnd):
    shuffled = list(values)
    rnd.shuffle(shuffled)
    assert summarize(shuffled) == summarize(values)


@st.composite
def _pair(draw):
    seeds = draw(st.lists(st.integers(0, 20), min_size=0, max_size=8, unique=True))
    x = {s: draw(st.one_of(_acc, st.none())) for s in seeds}
    others = [s for s in seeds if draw(st.booleans())] + draw(st.lists(st.integers(21, 25)))
    y = {s: draw(st.one_of(_acc, st.none())) for s in others}
    return x, y


@given(_pair())
def test_paired_difference_is_antisymmetric(pair):
    x, y = pair
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        xy, yx = paired_difference(x, y), paired_difference(y, x)
    assert xy["n_shared"] == yx["n_shared"]
    if xy["n_shared"] == 0:
        return
    assert xy["mean"] == pytest.approx(-yx["mean"], abs=1e-15)
    assert xy["prob_improvement"] + yx["prob_improvement"] == pytest.approx(1.0)
    if xy["n_shared"] >= 2:
        assert xy["p_value"] == pytest.approx(yx["p_value"], abs=1e-12)
        assert 0.0 <= xy["p_value"] <= 1.0
        assert xy["ci_low"] <= xy["mean"] <= xy["ci_high"]


@st.composite
def _experiment(draw):
    names = draw(st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), min_size=1, max_size=5,
                          unique=True))
    seeds = draw(st.lists(st.integers(0, 9), min_size=1, max_size=5, unique=True))
    test, val, secs = {}, {}, {}
    for name in names:
        mine = [s for s in seeds if draw(st.booleans()) or s == seeds[0]]
        test[name] = {s: draw(st.one_of(_acc, st.none(), st.just(float("nan")))) for s in mine}
        epochs = draw(st.integers(1, 4))
        val[name] = {s: draw(st.lists(_acc, min_size=epochs, max_size=epochs)) for s in mine}
        secs[name] = {s: [1.0] * epochs for s in mine}
    return test, val, secs


def _shuffled(mapping, rnd):
    keys = list(mapping)
    rnd.shuffle(keys)
    return {k: (_shuffled(mapping[k], rnd) if isinstance(mapping[k], dict) else mapping[k])
            for k in keys}


@settings(max_examples=60, deadline=None)
@given(_experiment(), st.randoms(use_true_random=False))
def test_rank_properties(experiment, rnd):
    test, val, secs = experiment
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rows = rank(test, val, secs)
        again = rank(_shuffled(test, rnd), _shuffled(val, rnd), _shuffled(secs, rnd))
    # permuting schedules and seeds changes nothing, bit for bit
    assert json.dumps(again, allow_nan=False) == json.dumps(rows, allow_nan=False)
    assert sorted(r["name"] for r in rows) == sorted(test)
    means = [r["test_acc_mean"] for r in rows if r["test_acc_mean"] is not None]
    assert means == sorted(means, reverse=True)
    for r in rows:
        assert r["diverged"] == diverged_count(test[r["name"]])
        if r["ci_low"] is not None:
            assert r["ci_low"] <= r["test_acc_mean"] <= r["ci_high"]
        if r["critical_difference"] is not None and not r["is_best"]:
            assert r["tied_with_best"] == (-r["diff_mean"] <= r["critical_difference"])
            assert r["diff_ci_low"] <= r["diff_mean"] <= r["diff_ci_high"]
        if r["test_acc_mean"] is None:
            assert not r["tied_with_best"]
        if r["auc_mean"] is not None:
            assert 0.0 <= r["auc_mean"] <= 1.0
    if means:
        best = next(r for r in rows if r["is_best"])
        assert best["tied_with_best"] and sum(r["is_best"] for r in rows) == 1
        multi = [r for r in rows if r["test_acc_mean"] is not None and r["n_seeds"] >= 2]
        assert best is (multi[0] if multi else rows[0])



def test_test_set_noise_is_the_paired_bootstrap_over_test_examples():
    import numpy as np

    rng = np.random.default_rng(3)
    n, seeds = 360, 3
    a = [rng.random(n) < 0.97 for _ in range(seeds)]
    b = [np.where(rng.random(n) < 0.1, ~x, x) for x in a]  # disagrees on about 10 %
    r = test_set_noise(a, b)
    d = np.mean([x.astype(float) - y for x, y in zip(a, b)], axis=0)
    boot = [d[rng.integers(0, n, n)].mean() for _ in range(4000)]  # resample the test images
    assert r["n_examples"] == n and r["n_seeds"] == seeds and r["gap"] == pytest.approx(d.mean())
    assert r["sd"] == pytest.approx(np.std(boot), rel=0.08)
    assert r["half"] == pytest.approx(1.959964 * r["sd"], rel=1e-6)
    assert test_set_noise([], [])["sd"] is None


def test_rank_trials_leaves_out_ended_trials_with_nothing_to_rank():
    """A finished trial without a test accuracy (regression, a loss-only trainer) is not a
    diverged one."""
    from lrlab.stats import rank_trials

    e = [{"val_acc": None, "seconds": 1.0}]
    rows = rank_trials(["a"], [("a", 0, "finished", None, e), ("a", 1, "diverged", None, e),
                               ("a", 2, "failed", None, [])])
    assert rows[0]["diverged"] == 1 and rows[0]["n_seeds"] == 0


def test_tuning_curve_is_the_best_of_k_over_every_subset():
    import itertools

    import numpy as np

    from lrlab.stats import tuning_curve

    rng = np.random.default_rng(3)
    for n in (1, 4, 7):
        scores = list(rng.random(n).round(2))
        curve = tuning_curve(scores, level=0.8)
        for row in curve:
            bests = sorted(max(c) for c in itertools.combinations(scores, row["k"]))
            assert row["mean"] == pytest.approx(np.mean(bests), abs=1e-12)
            assert row["low"] == pytest.approx(np.quantile(bests, 0.1, method="inverted_cdf"))
            assert row["high"] == pytest.approx(np.quantile(bests, 0.9, method="inverted_cdf"))
        assert curve[-1]["mean"] == max(scores) and [r["k"] for r in curve] == list(range(1, n + 1))
    assert tuning_curve([float("-inf"), 0.5])[0]["mean"] == 0.5  # a diverged trial: the lowest
    assert tuning_curve([float("nan")]) == []
