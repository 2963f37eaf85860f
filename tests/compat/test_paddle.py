"""``from_paddle`` against the real ``paddle.optimizer.lr`` classes as the oracle.

``s(k)`` must equal ``scheduler.last_lr`` after ``k`` calls of ``scheduler.step()``
(``k = 0``: right after construction), to 1e-9 relative, for every class.
"""

import inspect
import json
import math
import re
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

paddle = pytest.importorskip("paddle")
from paddle.optimizer import lr as plr  # noqa: E402

import lrlab  # noqa: E402

from . import test_torch as torch_checks  # noqa: E402
from lrlab.compat.base import PADDLE  # noqa: E402

RTOL, ATOL = 1e-9, 1e-15


class Inner:
    """A wrapped scheduler: built with Paddle for the oracle, with from_paddle for lrlab."""

    def __init__(self, cls, **kw):
        self.cls, self.kw = cls, kw

    def __repr__(self):
        return f"{self.cls}({', '.join(f'{k}={v!r}' for k, v in self.kw.items())})"


def _paddle_kw(kw):
    return {k: getattr(plr, v.cls)(**_paddle_kw(v.kw)) if isinstance(v, Inner) else v
            for k, v in kw.items()}


def _lrlab_kw(kw):
    return {k: lrlab.from_paddle(v.cls, **_lrlab_kw(v.kw)) if isinstance(v, Inner) else v
            for k, v in kw.items()}


def oracle(cls, n, **kw):
    sched = getattr(plr, cls)(**_paddle_kw(kw))
    out = [sched.last_lr]
    for _ in range(n - 1):
        sched.step()
        out.append(sched.last_lr)
    return np.array(out, dtype=np.float64)


def check(cls, n, **kw):
    """Compare curve(n) and each s(k) with the oracle; return the lrlab schedule."""
    want = oracle(cls, n, **kw)
    s = lrlab.from_paddle(cls, **_lrlab_kw(kw))
    assert_allclose(s.curve(n), want, rtol=RTOL, atol=ATOL)
    assert_allclose([s(k) for k in range(n)], want, rtol=RTOL, atol=ATOL)
    return s


def sq(k):
    return 1.0 / (k + 1)


CASES = [
    # NoamDecay: step 0 is 0 (Paddle's n = k, not the paper's k + 1)
    ("NoamDecay", 300, dict(d_model=64, warmup_steps=100, learning_rate=2.0)),
    ("NoamDecay", 30, dict(d_model=16, warmup_steps=1, learning_rate=0.5)),
    ("NoamDecay", 50, dict(d_model=512.0, warmup_steps=10)),
    ("NoamDecay", 30, dict(d_model=16, warmup_steps=2.5)),  # a fractional warmup: Paddle's too
    ("NoamDecay", 30, dict(d_model=64, warmup_steps=0.5, learning_rate=0.3)),  # no warmup at all
    ("NoamDecay", 300, dict(d_model=512.0, warmup_steps=100.25, learning_rate=2.0)),
    ("NoamDecay", 30, dict(d_model=16, warmup_steps=4.0)),  # a whole number: canonical noam
    ("NoamDecay", 30, dict(d_model=16, warmup_steps=1e-200)),  # warmup_steps ** -1.5 = 1e300
    ("NoamDecay", 30, dict(d_model=16, warmup_steps=1e200)),  # tiny LRs
    # PiecewiseDecay
    ("PiecewiseDecay", 14, dict(boundaries=[3, 6, 10], values=[1.0, 0.5, 0.1, 0.05])),
    ("PiecewiseDecay", 5, dict(boundaries=[2], values=[0.1, 0.01])),
    ("PiecewiseDecay", 9, dict(boundaries=[3, 5], values=[0.1, 0.2, 0.3, 0.4])),  # extra value
    ("PiecewiseDecay", 8, dict(boundaries=[2.5, 4.0], values=[0.3, 0.2, 0.1])),  # float boundaries
    ("PiecewiseDecay", 8, dict(boundaries=[0, 4], values=[0.3, 0.2, 0.1])),
    # NaturalExpDecay, InverseTimeDecay, ExponentialDecay
    ("NaturalExpDecay", 40, dict(learning_rate=0.5, gamma=0.1)),
    ("NaturalExpDecay", 10, dict(learning_rate=1, gamma=2.0)),
    ("InverseTimeDecay", 40, dict(learning_rate=0.5, gamma=0.1)),
    ("InverseTimeDecay", 5, dict(learning_rate=0.5, gamma=0.0)),
    ("InverseTimeDecay", 20, dict(learning_rate=0.5, gamma=3)),
    ("ExponentialDecay", 60, dict(learning_rate=0.1, gamma=0.9)),
    ("ExponentialDecay", 10, dict(learning_rate=1.0, gamma=0.5)),
    # PolynomialDecay
    ("PolynomialDecay", 15, dict(learning_rate=0.1, decay_steps=10)),
    ("PolynomialDecay", 30, dict(learning_rate=0.1, decay_steps=10, end_lr=0.001, power=2.0)),
    ("PolynomialDecay", 45, dict(learning_rate=0.1, decay_steps=10, end_lr=0.001, cycle=True)),
    ("PolynomialDecay", 45, dict(learning_rate=0.1, decay_steps=7, power=2.0, cycle=True)),
    ("PolynomialDecay", 20, dict(learning_rate=0.01, decay_steps=10, end_lr=0.1, power=0.5)),
    # LinearWarmup around a float
    ("LinearWarmup", 20, dict(learning_rate=0.1, warmup_steps=5, start_lr=0.0, end_lr=0.1)),
    ("LinearWarmup", 12, dict(learning_rate=0.5, warmup_steps=3, start_lr=0.01, end_lr=0.2)),
    ("LinearWarmup", 6, dict(learning_rate=0.05, warmup_steps=1, start_lr=0.0, end_lr=1.0)),
    # LinearWarmup around schedulers: the inner one runs from its own step 0 after warmup
    ("LinearWarmup", 50, dict(learning_rate=Inner("CosineAnnealingDecay", learning_rate=0.1, T_max=10),
                              warmup_steps=5, start_lr=0.0, end_lr=0.1)),
    ("LinearWarmup", 30, dict(learning_rate=Inner("PiecewiseDecay", boundaries=[3, 8],
                                                  values=[0.3, 0.2, 0.1]),
                              warmup_steps=4, start_lr=0.001, end_lr=0.5)),
    ("LinearWarmup", 40, dict(learning_rate=Inner("MultiStepDecay", learning_rate=0.2, milestones=[5, 9]),
                              warmup_steps=3, start_lr=0.0, end_lr=0.1)),
    ("LinearWarmup", 30, dict(learning_rate=Inner("LinearLR", learning_rate=0.2, total_steps=8),
                              warmup_steps=3, start_lr=0.0, end_lr=0.1)),
    ("LinearWarmup", 30, dict(learning_rate=Inner("NoamDecay", d_model=16, warmup_steps=4),
                              warmup_steps=3, start_lr=0.0, end_lr=0.1)),
    ("LinearWarmup", 26, dict(learning_rate=Inner("OneCycleLR", max_learning_rate=0.1, total_steps=20),
                              warmup_steps=5, start_lr=0.0, end_lr=0.1)),
    ("LinearWarmup", 60, dict(learning_rate=Inner("CosineAnnealingWarmRestarts", learning_rate=0.1, T_0=4,
                                                  T_mult=2, eta_min=0.01),
                              warmup_steps=2, start_lr=0.0, end_lr=0.1)),
    # epoch-form warm restarts: int(math.log(243, 3)) == 4, so Paddle's epoch 121 is eta_min
    ("LinearWarmup", 400, dict(learning_rate=Inner("CosineAnnealingWarmRestarts", learning_rate=0.1, T_0=1,
                                                   T_mult=3),
                               warmup_steps=2, start_lr=0.0, end_lr=0.1)),
    ("LinearWarmup", 40, dict(learning_rate=Inner("LinearWarmup", warmup_steps=3, start_lr=0.0, end_lr=0.2,
                                                  learning_rate=Inner("CosineAnnealingDecay",
                                                                      learning_rate=0.1, T_max=6)),
                              warmup_steps=4, start_lr=0.01, end_lr=0.05)),
    # MultiStepDecay, StepDecay
    ("MultiStepDecay", 14, dict(learning_rate=0.1, milestones=[3, 6, 9], gamma=0.5)),
    ("MultiStepDecay", 14, dict(learning_rate=0.1, milestones=[1, 2])),
    ("MultiStepDecay", 5, dict(learning_rate=0.1, milestones=[])),
    ("MultiStepDecay", 8, dict(learning_rate=0.1, milestones=[0, 4], gamma=0.5)),
    ("MultiStepDecay", 8, dict(learning_rate=0.1, milestones=[2.5, 5], gamma=0.5)),
    ("MultiStepDecay", 8, dict(learning_rate=0.1, milestones=[3], gamma=0.0)),
    ("StepDecay", 20, dict(learning_rate=0.1, step_size=3, gamma=0.5)),
    ("StepDecay", 8, dict(learning_rate=0.1, step_size=1)),
    ("StepDecay", 8, dict(learning_rate=0.1, step_size=3, gamma=0.0)),
    # LambdaDecay, MultiplicativeDecay
    ("LambdaDecay", 30, dict(learning_rate=0.1, lr_lambda=lambda k: 0.95 ** k)),
    ("LambdaDecay", 30, dict(learning_rate=0.5, lr_lambda=sq)),
    ("MultiplicativeDecay", 40, dict(learning_rate=0.1, lr_lambda=lambda k: 0.9)),
    ("MultiplicativeDecay", 40, dict(learning_rate=0.1, lr_lambda=lambda k: 0.95 if k % 2 else 1.0)),
    # CosineAnnealingDecay: recursive, rises again past T_max
    ("CosineAnnealingDecay", 31, dict(learning_rate=0.1, T_max=10)),
    ("CosineAnnealingDecay", 31, dict(learning_rate=0.1, T_max=10, eta_min=0.01)),
    ("CosineAnnealingDecay", 22, dict(learning_rate=0.1, T_max=7, eta_min=0.02)),
    ("CosineAnnealingDecay", 8, dict(learning_rate=0.1, T_max=1)),
    ("CosineAnnealingDecay", 16, dict(learning_rate=0.05, T_max=5, eta_min=0.2)),  # eta_min > lr
    # OneCycleLR, stepped to exactly total_steps
    ("OneCycleLR", 101, dict(max_learning_rate=0.1, total_steps=100)),
    ("OneCycleLR", 101, dict(max_learning_rate=0.1, total_steps=100, end_learning_rate=0.005,
                             anneal_strategy="linear")),
    ("OneCycleLR", 101, dict(max_learning_rate=0.1, total_steps=100, three_phase=True)),
    ("OneCycleLR", 101, dict(max_learning_rate=0.1, total_steps=100, three_phase=True,
                             anneal_strategy="linear")),
    ("OneCycleLR", 11, dict(max_learning_rate=1, total_steps=10, divide_factor=10, phase_pct=0.25,
                            end_learning_rate=0.0)),
    ("OneCycleLR", 11, dict(max_learning_rate=0.1, total_steps=10, phase_pct=0.05)),  # phase 1 skipped
    ("OneCycleLR", 2, dict(max_learning_rate=0.1, total_steps=1)),
    # CyclicLR
    ("CyclicLR", 40, dict(base_learning_rate=0.1, max_learning_rate=1.0, step_size_up=5)),
    ("CyclicLR", 40, dict(base_learning_rate=0.1, max_learning_rate=1.0, step_size_up=5, step_size_down=3)),
    ("CyclicLR", 60, dict(base_learning_rate=0.01, max_learning_rate=0.1, step_size_up=4,
                          mode="triangular2")),
    ("CyclicLR", 60, dict(base_learning_rate=0.01, max_learning_rate=0.1, step_size_up=4, step_size_down=6,
                          mode="exp_range", exp_gamma=0.98)),
    ("CyclicLR", 60, dict(base_learning_rate=0.01, max_learning_rate=0.1, step_size_up=3,
                          scale_fn=lambda c: 0.5 ** (c - 1))),
    ("CyclicLR", 60, dict(base_learning_rate=0.01, max_learning_rate=0.1, step_size_up=3, step_size_down=2,
                          scale_fn=lambda k: 1 / (1 + 0.05 * k), scale_mode="iterations", mode="other")),
    ("CyclicLR", 10, dict(base_learning_rate=0.1, max_learning_rate=0.1, step_size_up=1)),
    # Paddle's own ranges: a cycle that dips below base, an exp_range that grows
    ("CyclicLR", 30, dict(base_learning_rate=0.1, max_learning_rate=0.05, step_size_up=2)),
    ("CyclicLR", 30, dict(base_learning_rate=0.1, max_learning_rate=0.0, step_size_up=3,
                          step_size_down=2, mode="triangular2")),
    ("CyclicLR", 40, dict(base_learning_rate=0.1, max_learning_rate=1.0, step_size_up=2,
                          mode="exp_range", exp_gamma=1.5)),
    ("CyclicLR", 20, dict(base_learning_rate=0.1, max_learning_rate=1.0, step_size_up=2,
                          mode="exp_range", exp_gamma=0.0)),
    # LinearLR
    ("LinearLR", 20, dict(learning_rate=0.1, total_steps=10)),
    ("LinearLR", 20, dict(learning_rate=0.1, total_steps=10, start_factor=1.0, end_factor=0.0)),
    ("LinearLR", 12, dict(learning_rate=0.5, total_steps=7, start_factor=0.5, end_factor=0.25)),
    ("LinearLR", 5, dict(learning_rate=0.5, total_steps=1, start_factor=0.1)),
    # CosineAnnealingWarmRestarts
    ("CosineAnnealingWarmRestarts", 40, dict(learning_rate=0.1, T_0=5)),
    ("CosineAnnealingWarmRestarts", 100, dict(learning_rate=0.1, T_0=3, T_mult=2, eta_min=0.01)),
    ("CosineAnnealingWarmRestarts", 400, dict(learning_rate=0.1, T_0=1, T_mult=3)),
    # eta_min > learning_rate: each cycle rises towards eta_min
    ("CosineAnnealingWarmRestarts", 30, dict(learning_rate=0.05, T_0=4, T_mult=2, eta_min=0.2)),
]


@pytest.mark.parametrize("cls,n,kw", CASES, ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(CASES)])
def test_matches_paddle(cls, n, kw):
    check(cls, n, **kw)


def test_every_class_is_covered_with_paddles_signature():
    classes = set(plr.__all__) - {"LRScheduler"}
    assert set(PADDLE) == classes
    assert {c for c, _, _ in CASES} | {"ReduceOnPlateau"} == classes
    for name in classes:
        want = [(p.name, p.default) for p in inspect.signature(getattr(plr, name)).parameters.values()
                if p.name not in ("last_epoch", "verbose")]
        got = [(p.name, p.default) for p in inspect.signature(PADDLE[name]).parameters.values()]
        assert got == want, name


def test_long_cosine_replays_paddles_recursion():
    # past T_max the recursion amplifies rounding at the bottom (~1e-8 from the closed form)
    s = check("CosineAnnealingDecay", 40005, learning_rate=0.1, T_max=20000, eta_min=0.2)
    k = np.arange(40005)
    closed = 0.2 + (0.1 - 0.2) * (1 + np.cos(np.pi * k / 20000)) / 2
    assert np.abs(s.curve(40005) / closed - 1).max() > 1e-9  # so the closed form would not do
    assert s(40004) == s.curve(40005)[-1]


def test_long_cosine_inside_warmup_uses_the_closed_form():
    # LinearWarmup steps the inner scheduler with an explicit epoch: Paddle's closed form
    check("LinearWarmup", 40005, warmup_steps=2, start_lr=0.0, end_lr=0.1,
          learning_rate=Inner("CosineAnnealingDecay", learning_rate=0.1, T_max=20000, eta_min=0.2))


def test_warm_restarts_epoch_form_quirk_is_visible():
    inner = lrlab.from_paddle("CosineAnnealingWarmRestarts", learning_rate=0.1, T_0=1, T_mult=3)
    w = lrlab.from_paddle("LinearWarmup", learning_rate=inner, warmup_steps=2, start_lr=0.0, end_lr=0.1)
    assert inner(121) == pytest.approx(0.1)  # a restart
    assert w(2 + 121) == 0.0  # Paddle's int(math.log(243, 3)) == 4: end of the previous cycle


def test_linear_warmup_around_a_canonical_schedule():
    inner = lrlab.create("step", base_lr=0.2, step_size=3, gamma=0.5)
    s = lrlab.from_paddle("LinearWarmup", learning_rate=inner, warmup_steps=4, start_lr=0.0, end_lr=0.1)
    want = oracle("LinearWarmup", 20, learning_rate=Inner("StepDecay", learning_rate=0.2, step_size=3,
                                                            gamma=0.5),
                  warmup_steps=4, start_lr=0.0, end_lr=0.1)
    assert_allclose(s.curve(20), want, rtol=RTOL, atol=ATOL)


def test_linear_warmup_needs_a_bound_inner_schedule():
    inner = lrlab.create("cosine", base_lr=0.1, total_steps="50%")
    with pytest.raises(ValueError, match=r"LinearWarmup: learning_rate must be a schedule with concrete"):
        lrlab.from_paddle("LinearWarmup", learning_rate=inner, warmup_steps=2, start_lr=0.0, end_lr=0.1)
    s = lrlab.from_paddle("LinearWarmup", learning_rate=inner.bind(10), warmup_steps=2, start_lr=0.0,
                          end_lr=0.1)
    assert s(2) == 0.1 and s(7) == 0.0


def test_linear_warmup_start_above_end_is_refused_like_paddle():
    kw = dict(learning_rate=0.1, warmup_steps=5, start_lr=0.2, end_lr=0.1)
    with pytest.raises(AssertionError):
        plr.LinearWarmup(**kw)
    with pytest.raises(ValueError, match=r"LinearWarmup: end_lr must be > start_lr \(0.2\), got 0.1"):
        lrlab.from_paddle("LinearWarmup", **kw)
    with pytest.raises(TypeError, match="LinearWarmup: learning_rate .*ReduceOnPlateau"):
        plateau = lrlab.from_paddle("ReduceOnPlateau", learning_rate=0.1)
        lrlab.from_paddle("LinearWarmup", learning_rate=plateau, warmup_steps=5, start_lr=0.0, end_lr=0.1)


def test_one_cycle_after_total_steps():
    kw = dict(max_learning_rate=0.1, total_steps=20)
    sched = plr.OneCycleLR(**kw)
    for _ in range(20):
        sched.step()
    with pytest.raises(ValueError):  # Paddle raises past total_steps; lrlab holds lr(total_steps)
        sched.step()
    s = lrlab.from_paddle("OneCycleLR", **kw)
    assert s(21) == s(100) == s(20) == pytest.approx(sched.last_lr, rel=RTOL)
    assert s(20) != s(19)  # end_learning_rate is not held: step 20 extrapolates the last phase


def test_one_cycle_negative_extrapolation_is_refused_at_that_step():
    kw = dict(max_learning_rate=0.1, total_steps=100, anneal_strategy="linear")
    want = oracle("OneCycleLR", 101, **kw)
    assert want[100] < 0  # Paddle's own LR at step total_steps
    s = lrlab.from_paddle("OneCycleLR", **kw)
    assert_allclose(s.curve(100), want[:100], rtol=RTOL, atol=ATOL)
    with pytest.raises(ValueError, match="learning rate at step 100 would be -0.00"):
        s(100)


# ---- ReduceOnPlateau: Plateau(semantics="paddle") against last_lr after step(metric) ----------

def plateau_oracle(metrics, **kw):
    sched = plr.ReduceOnPlateau(**kw)
    out = []
    for m in metrics:
        sched.step(m)
        out.append(sched.last_lr)
    return out


FLAT = [5.0] * 12
# best * (1 - th) != best - best * th here: torch's rule and Paddle's disagree on B
B, TH = 6.550770429955353, 0.01
assert B * (1 - TH) != B - B * TH

PLATEAU_CASES = [
    (dict(learning_rate=1.0, patience=2, factor=0.5), FLAT),
    (dict(learning_rate=1.0, patience=0, factor=0.5), [3.0, 2.0, 2.0, 2.0, 1.0, 1.0]),
    (dict(learning_rate=1.0, patience=1, factor=0.5, cooldown=2),
     [1.0, 2.0, 2.0, 0.5, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0]),
    (dict(learning_rate=1.0, patience=1, factor=0.5, cooldown=3),
     [4.0, 3.0, 3.0, 3.0, 0.1, 0.1, 0.2, 0.2, 0.2, 0.2, 0.05, 0.05, 0.05]),
    (dict(learning_rate=1.0, patience=0, factor=0.5, threshold=TH),
     [B, B * (1 - TH), B - B * TH, 1.0, 1.0]),
    (dict(learning_rate=1.0, patience=0, factor=0.5, threshold=0.1), [1.0, 0.9, 0.89, 0.8, 0.5]),
    (dict(learning_rate=1.0, patience=0, factor=0.5, threshold=0.05, threshold_mode="abs"),
     [1.0, 0.96, 0.95, 0.9, 0.85, 0.849, 0.8]),
    (dict(learning_rate=0.1, mode="max", patience=1, factor=0.2, threshold=0.1),
     [1.0, 1.1, 1.11, 1.2, 1.35, 1.3, 1.3, 1.3, 2.0, 1.0]),
    (dict(learning_rate=0.1, mode="MAX", patience=0, threshold=0.05, threshold_mode="ABS"),
     [1.0, 1.04, 1.06, 1.1, 1.2]),
    (dict(learning_rate=0.1, patience=0, factor=0.1, min_lr=0.005), FLAT),
    (dict(learning_rate=1e-3, patience=0, factor=0.5, epsilon=1e-3), FLAT),
    (dict(learning_rate=1e-3, patience=0, factor=0.5, epsilon=2e-4), FLAT),
    (dict(learning_rate=1.0), [3, 2, 1] + [1] * 30),
    (dict(learning_rate=1.0, patience=1, factor=0.5, threshold=0.0),
     [np.float64(1.0), np.float64(1.0), 1, 1.0, 0.5, 0.5]),
]


@pytest.mark.parametrize("kw,metrics", PLATEAU_CASES)
def test_reduce_on_plateau_matches_paddle(kw, metrics):
    p = lrlab.from_paddle("ReduceOnPlateau", **kw)
    assert isinstance(p, lrlab.Plateau) and p.semantics == "paddle"
    assert p() == kw["learning_rate"]
    got = [p.step(m) for m in metrics]
    assert_allclose(got, plateau_oracle(metrics, **kw), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("first", [math.inf, math.nan])
def test_reduce_on_plateau_non_finite_first_metric(first):
    kw = dict(learning_rate=1.0, patience=0, factor=0.5)
    p = lrlab.from_paddle("ReduceOnPlateau", **kw)
    metrics = [first, 1.0, 1.0]
    assert [p.step(m) for m in metrics] == plateau_oracle(metrics, **kw)


def test_reduce_on_plateau_maps_every_argument():
    p = lrlab.from_paddle("ReduceOnPlateau", learning_rate=0.5, mode="Max", factor=0.3, patience=4,
                          threshold=0.01, threshold_mode="ABS", cooldown=2, min_lr=0.01, epsilon=1e-6)
    assert p.to_config() == {"name": "plateau", "lr": 0.5, "mode": "max", "factor": 0.3, "patience": 4,
                             "threshold": 0.01, "threshold_mode": "abs", "cooldown": 2, "min_lr": 0.01,
                             "eps": 1e-6, "semantics": "paddle"}


# ---- errors, config ---------------------------------------------------------------------------

def test_unknown_class_suggests():
    with pytest.raises(ValueError, match=r"unknown class 'StepDecy'; did you mean StepDecay"):
        lrlab.from_paddle("StepDecy", learning_rate=0.1, step_size=2)


def test_unknown_or_missing_keyword():
    with pytest.raises(ValueError, match=r"StepDecay: unknown parameter 'gama'; did you mean 'gamma'"):
        lrlab.from_paddle("StepDecay", learning_rate=0.1, step_size=2, gama=0.5)
    with pytest.raises(ValueError, match=r"StepDecay: missing a required argument: 'step_size'"):
        lrlab.from_paddle("StepDecay", learning_rate=0.1)
    with pytest.raises(ValueError, match=r"StepDecay: last_epoch must be -1"):
        lrlab.from_paddle("StepDecay", learning_rate=0.1, step_size=2, last_epoch=3)
    s = lrlab.from_paddle("StepDecay", learning_rate=0.1, step_size=2, verbose=True, last_epoch=-1)
    assert s.curve(3).tolist() == [0.1, 0.1, 0.1 * 0.1]


INVALID = [
    ("NoamDecay", dict(d_model=0, warmup_steps=10), "d_model"),
    ("NoamDecay", dict(d_model=16, warmup_steps=10, learning_rate=-1.0), "learning_rate"),
    ("NoamDecay", dict(d_model=16, warmup_steps=0), "warmup_steps"),  # ZeroDivisionError
    ("NoamDecay", dict(d_model=16, warmup_steps=-2.5), "warmup_steps"),  # a complex power
    ("NoamDecay", dict(d_model=16, warmup_steps=1e-300), "warmup_steps"),  # ** -1.5 overflows
    ("NoamDecay", dict(d_model=16, warmup_steps="4"), "warmup_steps"),
    ("PiecewiseDecay", dict(boundaries=[], values=[0.1]), "boundaries"),
    ("PiecewiseDecay", dict(boundaries=[2, 4], values=[0.1, 0.2]), "values"),
    ("NaturalExpDecay", dict(learning_rate=0.1, gamma=0.0), "gamma"),
    ("PolynomialDecay", dict(learning_rate=0.1, decay_steps=0), "decay_steps"),
    ("PolynomialDecay", dict(learning_rate=0.1, decay_steps=2.5), "decay_steps"),
    ("PolynomialDecay", dict(learning_rate=0.1, decay_steps=10, power=0.0), "power"),
    ("LinearWarmup", dict(learning_rate=0.1, warmup_steps=0, start_lr=0.0, end_lr=0.1), "warmup_steps"),
    ("LinearWarmup", dict(learning_rate=0.1, warmup_steps=3, start_lr=0.1, end_lr=0.1), "end_lr"),
    ("LinearWarmup", dict(learning_rate=0.1, warmup_steps=3, start_lr=-0.1, end_lr=0.1), "start_lr"),
    ("LinearWarmup", dict(learning_rate="0.1", warmup_steps=3, start_lr=0.0, end_lr=0.1), "learning_rate"),
    ("ExponentialDecay", dict(learning_rate=0.1, gamma=1.0), "gamma"),
    ("ExponentialDecay", dict(learning_rate=0.1, gamma=0.0), "gamma"),
    ("MultiStepDecay", dict(learning_rate=0.1, milestones=[5, 3]), "milestones"),
    ("MultiStepDecay", dict(learning_rate=0.1, milestones=5), "milestones"),
    ("MultiStepDecay", dict(learning_rate=0.1, milestones=[5], gamma=1.5), "gamma"),
    ("StepDecay", dict(learning_rate=0.1, step_size=0), "step_size"),
    ("StepDecay", dict(learning_rate=0.1, step_size=2.0), "step_size"),
    ("StepDecay", dict(learning_rate=0.1, step_size=2, gamma=1.0), "gamma"),
    ("StepDecay", dict(learning_rate=-1, step_size=2), "learning_rate"),
    ("StepDecay", dict(learning_rate="a", step_size=2), "learning_rate"),
    ("LambdaDecay", dict(learning_rate=0.1, lr_lambda=3), "lr_lambda"),
    ("ReduceOnPlateau", dict(learning_rate=0.1, mode="up"), "mode"),
    ("ReduceOnPlateau", dict(learning_rate=0.1, factor=1.0), "factor"),
    ("ReduceOnPlateau", dict(learning_rate=0.1, threshold_mode="pct"), "threshold_mode"),
    ("ReduceOnPlateau", dict(learning_rate="0.1"), "learning_rate"),
    ("CosineAnnealingDecay", dict(learning_rate=0.1, T_max=10.0), "T_max"),
    ("CosineAnnealingDecay", dict(learning_rate=0.1, T_max=0), "T_max"),
    ("CosineAnnealingDecay", dict(learning_rate=0.1, T_max=10, eta_min="0"), "eta_min"),
    ("MultiplicativeDecay", dict(learning_rate=0.1, lr_lambda=None), "lr_lambda"),
    ("OneCycleLR", dict(max_learning_rate=0.1, total_steps=0), "total_steps"),
    ("OneCycleLR", dict(max_learning_rate=0.1, total_steps=10.0), "total_steps"),
    ("OneCycleLR", dict(max_learning_rate=-0.1, total_steps=10), "max_learning_rate"),
    ("OneCycleLR", dict(max_learning_rate=0.1, total_steps=10, end_learning_rate=-1.0), "end_learning_rate"),
    ("OneCycleLR", dict(max_learning_rate=0.1, total_steps=10, phase_pct=1), "phase_pct"),
    ("OneCycleLR", dict(max_learning_rate=0.1, total_steps=10, phase_pct=1.5), "phase_pct"),
    ("OneCycleLR", dict(max_learning_rate=0.1, total_steps=10, phase_pct=0.5, three_phase=True), "phase_pct"),
    ("OneCycleLR", dict(max_learning_rate=0.1, total_steps=10, anneal_strategy="exp"), "anneal_strategy"),
    ("OneCycleLR", dict(max_learning_rate=0.1, total_steps=10, phase_pct=0.1), "phase_pct"),  # 0 / 0
    ("CyclicLR", dict(base_learning_rate=0.1, max_learning_rate=-1.0, step_size_up=2), "max_learning_rate"),
    ("CyclicLR", dict(base_learning_rate=0.1, max_learning_rate=1.0, step_size_up=0), "step_size_up"),
    ("CyclicLR", dict(base_learning_rate=0.1, max_learning_rate=1.0, step_size_up=2.0), "step_size_up"),
    ("CyclicLR", dict(base_learning_rate=0.1, max_learning_rate=1.0, step_size_up=2, step_size_down=0),
     "step_size_down"),
    ("CyclicLR", dict(base_learning_rate=0.1, max_learning_rate=1.0, step_size_up=2, exp_gamma=1),
     "exp_gamma"),
    ("CyclicLR", dict(base_learning_rate=0.1, max_learning_rate=1.0, step_size_up=2, mode="tri"), "mode"),
    ("CyclicLR", dict(base_learning_rate=0.1, max_learning_rate=1.0, step_size_up=2, scale_mode="x"),
     "scale_mode"),
    ("LinearLR", dict(learning_rate=0.1, total_steps=10, start_factor=0.0), "start_factor"),
    ("LinearLR", dict(learning_rate=0.1, total_steps=10, start_factor=1.5), "start_factor"),
    ("LinearLR", dict(learning_rate=0.1, total_steps=10, end_factor=-0.1), "end_factor"),
    ("LinearLR", dict(learning_rate=0.1, total_steps=0), "total_steps"),
    ("CosineAnnealingWarmRestarts", dict(learning_rate=0.1, T_0=0), "T_0"),
    ("CosineAnnealingWarmRestarts", dict(learning_rate=0.1, T_0=2.0), "T_0"),
    ("CosineAnnealingWarmRestarts", dict(learning_rate=0.1, T_0=2, T_mult=0), "T_mult"),
]


@pytest.mark.parametrize("cls,kw,param", INVALID, ids=[f"{c}-{p}-{i}" for i, (c, _, p) in enumerate(INVALID)])
def test_invalid_parameters_raise_at_construction_like_paddle(cls, kw, param):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(Exception):  # noqa: B017  (Paddle: AssertionError, ZeroDivisionError, ...)
            plr.__dict__[cls](**kw)
    with pytest.raises((ValueError, TypeError), match=rf"^{cls}: {param} must be .*, got "):
        lrlab.from_paddle(cls, **kw)


REFUSED = [  # Paddle takes these, lrlab refuses them: negative, growing or meaningless LRs
    ("StepDecay", dict(learning_rate=0.1, step_size=2, gamma=-0.5), "gamma"),
    ("InverseTimeDecay", dict(learning_rate=0.1, gamma=-0.5), "gamma"),
    ("PolynomialDecay", dict(learning_rate=0.1, decay_steps=5, end_lr=-0.1), "end_lr"),
    ("CosineAnnealingDecay", dict(learning_rate=0.1, T_max=5, eta_min=-0.1), "eta_min"),
    ("PiecewiseDecay", dict(boundaries=[10, 5], values=[0.3, 0.2, 0.1]), "boundaries"),  # 0.2 unused
    ("PiecewiseDecay", dict(boundaries=[5, 3, 8], values=[0.4, 0.3, 0.2, 0.1]), "boundaries"),
    ("PiecewiseDecay", dict(boundaries=[3, 3], values=[0.3, 0.2, 0.1]), "boundaries"),
    # NaN: Paddle's min(k ** -0.5, nan) ignores the warmup; inf: an LR of 0 at every step
    ("NoamDecay", dict(d_model=16, warmup_steps=math.nan), "warmup_steps"),
    ("NoamDecay", dict(d_model=16, warmup_steps=math.inf), "warmup_steps"),
]


@pytest.mark.parametrize("cls,kw,param", REFUSED)
def test_refused_paddle_arguments(cls, kw, param):
    plr.__dict__[cls](**kw)  # Paddle takes it
    with pytest.raises(ValueError, match=rf"^{cls}: {param} must be "):
        lrlab.from_paddle(cls, **kw)


def test_one_cycle_full_last_phase_is_refused():
    # Paddle divides by zero at step total_steps; lrlab refuses at construction
    sched = plr.OneCycleLR(max_learning_rate=0.1, total_steps=10, phase_pct=1.0)
    for _ in range(9):
        sched.step()
    with pytest.raises(ZeroDivisionError):
        sched.step()
    with pytest.raises(ValueError, match="OneCycleLR: phase_pct must be such that no phase used is empty"):
        lrlab.from_paddle("OneCycleLR", max_learning_rate=0.1, total_steps=10, phase_pct=1.0)


@pytest.mark.parametrize("cls,n,kw", [c for c in CASES if not any(callable(v) for v in c[2].values())],
                         ids=lambda v: v if isinstance(v, str) else "")
def test_config_round_trip(cls, n, kw):
    s = lrlab.from_paddle(cls, **_lrlab_kw(kw))
    config = s.to_config()
    back = lrlab.from_config(json.loads(json.dumps(config)))
    assert back == s
    assert_allclose(back.curve(n), s.curve(n), rtol=0, atol=0)


def test_lambda_ones_cannot_be_written():
    s = lrlab.from_paddle("LambdaDecay", learning_rate=0.1, lr_lambda=sq)
    with pytest.raises(TypeError, match="callable"):
        s.to_config()


def test_repr_reads_like_the_call():
    s = lrlab.from_paddle("StepDecay", learning_rate=0.1, step_size=2)
    assert repr(s) == "from_paddle('StepDecay', learning_rate=0.1, step_size=2)"


# ---- random parameters -----------------------------------------------------------------------

@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lr=st.floats(1e-4, 1.0), up=st.integers(1, 8), down=st.one_of(st.none(), st.integers(1, 8)),
       mode=st.sampled_from(["triangular", "triangular2", "exp_range"]), gamma=st.floats(0.5, 1.0))
def test_cyclic_random(lr, up, down, mode, gamma):
    check("CyclicLR", 50, base_learning_rate=lr, max_learning_rate=lr * 10, step_size_up=up,
          step_size_down=down, mode=mode, exp_gamma=gamma)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lr=st.floats(1e-3, 1.0), steps=st.integers(1, 12), end=st.floats(0.0, 1e-3),
       power=st.floats(0.1, 3.0), cycle=st.booleans())
def test_polynomial_random(lr, steps, end, power, cycle):
    check("PolynomialDecay", 40, learning_rate=lr, decay_steps=steps, end_lr=end, power=power, cycle=cycle)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(total=st.integers(2, 60), pct=st.floats(0.0, 0.49), three=st.booleans(),
       how=st.sampled_from(["cos", "linear"]), div=st.floats(1.0, 50.0))
def test_one_cycle_random(total, pct, three, how, div):
    kw = dict(max_learning_rate=0.1, total_steps=total, phase_pct=pct, three_phase=three,
              anneal_strategy=how, divide_factor=div, end_learning_rate=0.01)
    if pct * total - 1 == 0:
        with pytest.raises(ValueError, match="phase_pct"):
            lrlab.from_paddle("OneCycleLR", **kw)
        return
    want = oracle("OneCycleLR", total + 1, **kw)
    s = lrlab.from_paddle("OneCycleLR", **kw)
    ok = np.flatnonzero(want < 0)
    n = total + 1 if not ok.size else int(ok[0])  # lrlab refuses Paddle's negative LRs
    assert_allclose(s.curve(n), want[:n], rtol=RTOL, atol=ATOL)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(T=st.integers(1, 40), eta=st.floats(0.0, 0.3), lr=st.floats(1e-3, 0.5))
def test_cosine_random(T, eta, lr):
    check("CosineAnnealingDecay", 3 * T + 2, learning_rate=lr, T_max=T, eta_min=eta)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(T0=st.integers(1, 6), mult=st.integers(1, 4), eta=st.floats(0.0, 0.3), lr=st.floats(1e-3, 0.5))
def test_warm_restarts_random(T0, mult, eta, lr):
    check("CosineAnnealingWarmRestarts", 120, learning_rate=lr, T_0=T0, T_mult=mult, eta_min=eta)
    check("LinearWarmup", 122, warmup_steps=2, start_lr=0.0, end_lr=0.1,
          learning_rate=Inner("CosineAnnealingWarmRestarts", learning_rate=lr, T_0=T0, T_mult=mult,
                              eta_min=eta))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(warmup=st.floats(1e-3, 1e4), d_model=st.sampled_from([16, 64.0, 512, 0.01]),
       lr=st.floats(1e-3, 2.0))
def test_noam_fractional_warmup_random(warmup, d_model, lr):
    s = check("NoamDecay", 60, d_model=d_model, warmup_steps=warmup, learning_rate=lr)
    assert lrlab.from_config(json.dumps(s.to_config())) == s


# ---- CyclicLR triangular2: Paddle's scale 1 / 2.0 ** (cycle - 1) overflows from cycle 1025 -------
CYCLIC2 = dict(base_learning_rate=0.01, max_learning_rate=0.1, mode="triangular2")


def raises_from(s, k):
    """``s`` raises at step ``k`` and after, naming ``k`` (test_torch's check, for Paddle)."""
    torch_checks.raises_from(s, k, "Paddle")


@pytest.mark.parametrize("kw, cycle", [
    (dict(step_size_up=1), 2),
    (dict(step_size_up=2, step_size_down=3), 5),
    (dict(step_size_up=1, base_learning_rate=0.1, max_learning_rate=0.01), 2),  # a dip (LooseCyclic)
])
def test_cyclic_triangular2_raises_at_the_step_paddle_overflows(kw, cycle):
    kw = {**CYCLIC2, **kw}
    sched, want = plr.CyclicLR(**kw), []
    with pytest.raises(OverflowError):
        for _ in range(6000):
            want.append(sched.last_lr)
            sched.step()
    k = sched.last_epoch  # the step Paddle raised at: the first of cycle 1025
    assert k == len(want) == 1024 * cycle
    s = lrlab.from_paddle("CyclicLR", **kw)
    assert_allclose(s.curve(k), want, rtol=RTOL, atol=ATOL)
    assert_allclose([s(j) for j in range(k)], want, rtol=RTOL, atol=ATOL)
    raises_from(s, k)


def paddle_cyclic_at(kw, k):
    """Paddle's LR at step ``k``: ``CyclicLR.get_lr`` is a closed form of ``last_epoch``."""
    sched = plr.CyclicLR(**kw)
    sched.last_epoch = k - 1
    sched.step()
    return sched.last_lr


@pytest.mark.parametrize("up, down", [(1, None), (7, 2), (2 ** 40, None), (2 ** 50, 2 ** 50 + 1),
                                      (3 * 2 ** 55, 2 ** 58)])
def test_cyclic_triangular2_overflow_step_for_any_cycle_length(up, down):
    # past step 2**53 Paddle's float k // L can reach cycle 1025 a little before 1024 * L
    kw = {**CYCLIC2, "step_size_up": up, "step_size_down": down}
    s = lrlab.from_paddle("CyclicLR", **kw)
    try:
        s(2 ** 62 - 1)
    except ValueError as e:
        k = int(re.search(r"at step (\d+)", str(e)).group(1))
    else:  # cycle 1025 starts past 2**62: Paddle computes every step lrlab takes
        assert_allclose(s(2 ** 62 - 1), paddle_cyclic_at(kw, 2 ** 62 - 1), rtol=RTOL, atol=ATOL)
        return
    assert_allclose(s(k - 1), paddle_cyclic_at(kw, k - 1), rtol=RTOL, atol=ATOL)
    with pytest.raises(OverflowError):
        paddle_cyclic_at(kw, k)
    raises_from(s, k)


def test_cyclic_growing_exp_range_is_refused_where_paddle_overflows():
    kw = dict(base_learning_rate=0.1, max_learning_rate=1.0, step_size_up=2, mode="exp_range",
              exp_gamma=1.5)
    sched = plr.CyclicLR(**kw)
    with pytest.raises(OverflowError):  # gamma ** k overflows a float at some step
        for _ in range(3000):
            sched.step()
    k = sched.last_epoch  # the step Paddle raised at
    s = lrlab.from_paddle("CyclicLR", **kw)
    assert s(k - 1) == pytest.approx(sched.last_lr, rel=RTOL)
    with pytest.raises(ValueError, match=f"learning rate at step {k} would be inf"):
        s(k)


def test_math_log_quirk_exists():
    assert int(math.log(243, 3)) == 4
