"""``lrlab.from_torch`` against the real ``torch.optim.lr_scheduler`` classes as the oracle.

A case is ``(class_name, optimizer_lr, kwargs, n)``; inside ``SequentialLR`` /
``ChainedScheduler`` the members are ``(class_name, kwargs)`` pairs, built in list order on
the same optimizer for torch, and as ``from_torch`` results for lrlab.
"""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

import lrlab
from lrlab import Plateau

torch = pytest.importorskip("torch")
from torch.optim import lr_scheduler as TL  # noqa: E402

TOL = {"rtol": 1e-9, "atol": 1e-15}


# ---- building both sides -----------------------------------------------------------------
def _optimizer(lr):
    p = torch.nn.Parameter(torch.zeros(1))
    p.grad = torch.zeros(1)
    return torch.optim.SGD([p], lr=lr, momentum=0.9)


def _torch_sched(opt, cls, kw):
    kw = dict(kw)
    if cls in ("SequentialLR", "ChainedScheduler"):
        kw["schedulers"] = [_torch_sched(opt, c, k) for c, k in kw["schedulers"]]
        if cls == "ChainedScheduler":
            return TL.ChainedScheduler(kw["schedulers"])
    return getattr(TL, cls)(opt, **kw)


def _lrlab(cls, lr, kw):
    kw = dict(kw)
    if cls in ("SequentialLR", "ChainedScheduler"):
        kw["schedulers"] = [_lrlab(c, lr, k) for c, k in kw["schedulers"]]
    return lrlab.from_torch(cls, lr, **kw)


def oracle(cls, lr, kw, n):
    """``param_groups[0]['lr']`` right after construction and after each of ``n - 1`` steps."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opt = _optimizer(lr)
        sched = _torch_sched(opt, cls, kw)
        out = [opt.param_groups[0]["lr"]]
        for _ in range(n - 1):
            opt.step()
            sched.step()
            out.append(opt.param_groups[0]["lr"])
    return np.array(out, dtype=np.float64)


def check(cls, lr, kw, n):
    s = _lrlab(cls, lr, kw)
    want = oracle(cls, lr, kw, n)
    assert_allclose(s.curve(n), want, **TOL)
    assert_allclose([s(k) for k in range(n)], want, **TOL)
    assert_allclose(s.at(np.arange(n)[::-1]), want[::-1], **TOL)  # order does not matter
    return s


# ---- the cases -----------------------------------------------------------------------------
from fuzz_compat import alternate, const09, geo, half_cycle, inverse, slow, stairs  # noqa: E402


LINEAR_WARMUP = ("LinearLR", {"start_factor": 0.1, "total_iters": 5})

CASES = [
    # LambdaLR / MultiplicativeLR
    ("LambdaLR", 0.1, {"lr_lambda": geo}, 30),
    ("LambdaLR", 0.5, {"lr_lambda": inverse}, 20),
    ("LambdaLR", 0.1, {"lr_lambda": [stairs]}, 12),
    ("MultiplicativeLR", 0.1, {"lr_lambda": const09}, 30),
    ("MultiplicativeLR", 0.1, {"lr_lambda": alternate}, 12),
    # StepLR
    ("StepLR", 0.1, {"step_size": 1, "gamma": 0.5}, 20),
    ("StepLR", 0.1, {"step_size": 3}, 20),
    ("StepLR", 0.1, {"step_size": 2, "gamma": 0.0}, 6),
    ("StepLR", 0.01, {"step_size": 4, "gamma": 1.5}, 20),
    # MultiStepLR
    ("MultiStepLR", 0.1, {"milestones": [3, 6, 9]}, 12),
    ("MultiStepLR", 0.1, {"milestones": [2, 2, 5], "gamma": 0.5}, 8),
    ("MultiStepLR", 0.1, {"milestones": [5, 2], "gamma": 0.5}, 8),
    ("MultiStepLR", 0.1, {"milestones": [0, 3], "gamma": 0.5}, 6),
    ("MultiStepLR", 0.1, {"milestones": [0, 0, 3, 3, 3], "gamma": 0.5}, 6),
    ("MultiStepLR", 0.1, {"milestones": []}, 4),
    ("MultiStepLR", 0.1, {"milestones": [2, 4], "gamma": 0.0}, 6),
    # ConstantLR
    ("ConstantLR", 0.1, {}, 10),
    ("ConstantLR", 0.1, {"factor": 0.5, "total_iters": 3}, 8),
    ("ConstantLR", 0.1, {"factor": 0.5, "total_iters": 0}, 5),
    ("ConstantLR", 0.1, {"factor": 1.0, "total_iters": 3}, 5),
    ("ConstantLR", 0.1, {"factor": 0.0, "total_iters": 0}, 4),
    # LinearLR
    ("LinearLR", 0.1, {}, 10),
    ("LinearLR", 0.1, {"start_factor": 1.0, "end_factor": 0.0, "total_iters": 4}, 8),
    ("LinearLR", 0.1, {"start_factor": 0.25, "end_factor": 0.75, "total_iters": 7}, 12),
    ("LinearLR", 0.1, {"start_factor": 0.5, "total_iters": 0}, 4),
    ("LinearLR", 0.1, {"total_iters": 1}, 4),
    # ExponentialLR
    ("ExponentialLR", 0.1, {"gamma": 0.9}, 50),
    ("ExponentialLR", 0.1, {"gamma": 1.0}, 5),
    ("ExponentialLR", 0.1, {"gamma": 0.0}, 4),
    # PolynomialLR
    ("PolynomialLR", 0.1, {}, 10),
    ("PolynomialLR", 0.1, {"total_iters": 7, "power": 2.0}, 12),
    ("PolynomialLR", 0.1, {"total_iters": 6, "power": 0.5}, 10),
    ("PolynomialLR", 0.1, {"total_iters": 0, "power": 2.0}, 4),
    ("PolynomialLR", 0.1, {"total_iters": 4, "power": 0.0}, 6),
    ("PolynomialLR", 0.1, {"total_iters": 1}, 4),
    # CosineAnnealingLR: rises again after T_max
    ("CosineAnnealingLR", 0.1, {"T_max": 10}, 31),
    ("CosineAnnealingLR", 0.1, {"T_max": 10, "eta_min": 0.01}, 31),
    ("CosineAnnealingLR", 0.1, {"T_max": 1, "eta_min": 0.01}, 7),
    ("CosineAnnealingLR", 0.1, {"T_max": 7, "eta_min": 0.05}, 50),
    ("CosineAnnealingLR", 0.1, {"T_max": 5, "eta_min": 0.2}, 16),
    ("CosineAnnealingLR", 1.0, {"T_max": 100, "eta_min": 1e-3}, 301),
    # CyclicLR
    ("CyclicLR", 0.1, {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 4}, 30),
    ("CyclicLR", 0.1, {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 3,
                       "mode": "triangular2"}, 30),
    ("CyclicLR", 0.1, {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 3,
                       "mode": "exp_range", "gamma": 0.95}, 30),
    ("CyclicLR", 0.1, {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 2,
                       "step_size_down": 5}, 30),
    ("CyclicLR", 0.1, {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 3,
                       "scale_fn": half_cycle}, 30),
    ("CyclicLR", 0.1, {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 3,
                       "scale_fn": slow, "scale_mode": "iterations"}, 30),
    ("CyclicLR", 0.1, {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 3, "mode": "bogus",
                       "scale_fn": half_cycle}, 12),
    ("CyclicLR", 0.1, {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 3,
                       "step_size_down": 0}, 12),
    ("CyclicLR", 0.1, {"base_lr": 0.1, "max_lr": 0.01, "step_size_up": 3}, 12),
    ("CyclicLR", 0.1, {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 2,
                       "mode": "exp_range", "gamma": 1.01}, 12),
    ("CyclicLR", 0.1, {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 2, "gamma": 7.0}, 8),
    ("CyclicLR", 0.1, {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 2,
                       "cycle_momentum": False, "base_momentum": 0.5}, 8),
    # OneCycleLR: to exactly total_steps
    ("OneCycleLR", 0.1, {"max_lr": 1.0, "total_steps": 20}, 21),
    ("OneCycleLR", 0.1, {"max_lr": 0.5, "total_steps": 37, "pct_start": 0.25,
                         "div_factor": 10.0, "final_div_factor": 100.0}, 38),
    ("OneCycleLR", 0.1, {"max_lr": 1.0, "total_steps": 20, "three_phase": True}, 21),
    ("OneCycleLR", 0.1, {"max_lr": 1.0, "total_steps": 30, "three_phase": True,
                         "anneal_strategy": "linear", "final_div_factor": 1.0}, 30),
    ("OneCycleLR", 0.1, {"max_lr": 1.0, "epochs": 3, "steps_per_epoch": 7}, 22),
    ("OneCycleLR", 0.1, {"max_lr": 1.0, "total_steps": 20, "pct_start": 0.5,
                         "three_phase": True}, 21),
    ("OneCycleLR", 0.1, {"max_lr": 1.0, "total_steps": 20, "anneal_strategy": "linear"}, 20),
    # a first phase shorter than one step is skipped, as torch skips it
    ("OneCycleLR", 0.1, {"max_lr": 1.0, "total_steps": 2}, 3),
    ("OneCycleLR", 0.1, {"max_lr": 1.0, "total_steps": 3}, 4),
    ("OneCycleLR", 0.1, {"max_lr": 1.0, "total_steps": 1}, 2),
    ("OneCycleLR", 0.1, {"max_lr": 1.0, "total_steps": 10, "pct_start": 0.0}, 11),
    ("OneCycleLR", 0.1, {"max_lr": 1.0, "total_steps": 10, "pct_start": 0.6,
                         "three_phase": True}, 11),
    ("OneCycleLR", 0.1, {"max_lr": 1.0, "total_steps": 3, "pct_start": 0.0,
                         "three_phase": True}, 4),
    # CosineAnnealingWarmRestarts
    ("CosineAnnealingWarmRestarts", 0.1, {"T_0": 5}, 23),
    ("CosineAnnealingWarmRestarts", 0.1, {"T_0": 1}, 5),
    ("CosineAnnealingWarmRestarts", 0.1, {"T_0": 3, "T_mult": 2, "eta_min": 0.01}, 50),
    ("CosineAnnealingWarmRestarts", 0.1, {"T_0": 2, "T_mult": 3, "eta_min": 0.001}, 90),
    ("CosineAnnealingWarmRestarts", 0.1, {"T_0": 4, "eta_min": 0.1}, 10),
    ("CosineAnnealingWarmRestarts", 0.1, {"T_0": 5, "eta_min": 0.5}, 23),  # cycles rise
    ("CosineAnnealingWarmRestarts", 0.1, {"T_0": 2, "T_mult": 3, "eta_min": 0.3}, 60),
    ("CosineAnnealingWarmRestarts", 0.1, {"T_0": 1, "T_mult": 100_000}, 30),
    # SequentialLR
    ("SequentialLR", 0.1, {"schedulers": [LINEAR_WARMUP, ("ExponentialLR", {"gamma": 0.9})],
                           "milestones": [5]}, 20),
    ("SequentialLR", 0.1, {"schedulers": [LINEAR_WARMUP, ("CosineAnnealingLR", {"T_max": 10})],
                           "milestones": [5]}, 40),
    ("SequentialLR", 0.1, {"schedulers": [("ConstantLR", {"factor": 0.5, "total_iters": 2}),
                                          ("CosineAnnealingLR", {"T_max": 6, "eta_min": 0.01}),
                                          ("StepLR", {"step_size": 2, "gamma": 0.5})],
                           "milestones": [4, 10]}, 20),
    ("SequentialLR", 0.1, {"schedulers": [("LambdaLR", {"lr_lambda": inverse}),
                                          ("CosineAnnealingWarmRestarts", {"T_0": 3}),
                                          ("PolynomialLR", {"total_iters": 4, "power": 2.0})],
                           "milestones": [3, 9]}, 18),
    ("SequentialLR", 0.1, {"schedulers": [("ExponentialLR", {"gamma": 0.5}),
                                          ("MultiplicativeLR", {"lr_lambda": alternate})],
                           "milestones": [3]}, 10),
    ("SequentialLR", 0.1, {"schedulers": [("ExponentialLR", {"gamma": 0.5}),
                                          ("MultiStepLR", {"milestones": [0, 2], "gamma": 0.5}),
                                          ("MultiplicativeLR", {"lr_lambda": const09})],
                           "milestones": [2, 5]}, 10),
    ("SequentialLR", 0.1, {"schedulers": [("StepLR", {"step_size": 1, "gamma": 0.5}),
                                          ("ConstantLR", {"factor": 0.5, "total_iters": 0}),
                                          ("ConstantLR", {"factor": 0.5, "total_iters": 2})],
                           "milestones": [2, 4]}, 9),
    ("SequentialLR", 0.1, {"schedulers": [LINEAR_WARMUP, ("OneCycleLR", {"max_lr": 1.0,
                                                                        "total_steps": 10})],
                           "milestones": [3]}, 14),
    ("SequentialLR", 0.1, {"schedulers": [("OneCycleLR", {"max_lr": 1.0, "total_steps": 10}),
                                          ("LambdaLR", {"lr_lambda": geo}),
                                          ("OneCycleLR", {"max_lr": 2.0, "total_steps": 6,
                                                          "div_factor": 4.0})],
                           "milestones": [5, 8]}, 14),
    ("SequentialLR", 0.1, {"schedulers": [("CyclicLR", {"base_lr": 0.01, "max_lr": 0.05,
                                                        "step_size_up": 2}),
                                          ("ExponentialLR", {"gamma": 0.5})],
                           "milestones": [3]}, 8),
    ("SequentialLR", 0.1, {"schedulers": [("ExponentialLR", {"gamma": 0.5}),
                                          ("CyclicLR", {"base_lr": 0.01, "max_lr": 0.05,
                                                        "step_size_up": 2})],
                           "milestones": [3]}, 10),
    ("SequentialLR", 0.1, {"schedulers": [("MultiStepLR", {"milestones": [0, 2]})],
                           "milestones": []}, 4),
    # replayed step by step: a combinator first (torch's test_sequentiallr5), a first cosine
    # whose initial_lr a later OneCycleLR changes
    ("SequentialLR", 0.05, {"schedulers": [
        ("ChainedScheduler", {"schedulers": [("LinearLR", {"start_factor": 0.1, "total_iters": 5}),
                                             ("ConstantLR", {"factor": 0.1, "total_iters": 5})]}),
        ("ConstantLR", {"factor": 0.5, "total_iters": 5})], "milestones": [5]}, 10),
    ("SequentialLR", 0.1, {"schedulers": [
        ("SequentialLR", {"schedulers": [("ExponentialLR", {"gamma": 0.9}),
                                         ("StepLR", {"step_size": 2, "gamma": 0.5})],
                          "milestones": [3]}),
        ("CosineAnnealingLR", {"T_max": 4, "eta_min": 0.01})], "milestones": [8]}, 16),
    ("SequentialLR", 0.1, {"schedulers": [
        ("SequentialLR", {"schedulers": [("CosineAnnealingLR", {"T_max": 3}),
                                         ("LinearLR", {"total_iters": 2})], "milestones": [1]}),
        ("StepLR", {"step_size": 2})], "milestones": [6]}, 12),
    ("SequentialLR", 0.1, {"schedulers": [("CosineAnnealingLR", {"T_max": 5, "eta_min": 0.01}),
                                          ("OneCycleLR", {"max_lr": 1.0, "total_steps": 8})],
                           "milestones": [6]}, 14),
    # ChainedScheduler
    ("ChainedScheduler", 1.0, {"schedulers": [("ConstantLR", {"factor": 0.1, "total_iters": 2}),
                                              ("ExponentialLR", {"gamma": 0.9})]}, 10),
    ("ChainedScheduler", 0.1, {"schedulers": [LINEAR_WARMUP,
                                              ("StepLR", {"step_size": 3, "gamma": 0.5}),
                                              ("MultiStepLR", {"milestones": [0, 4, 4]}),
                                              ("MultiplicativeLR", {"lr_lambda": alternate}),
                                              ("PolynomialLR", {"total_iters": 8})]}, 12),
    ("ChainedScheduler", 0.1, {"schedulers": [("ExponentialLR", {"gamma": 0.9}),
                                              ("ChainedScheduler", {"schedulers": [
                                                  ("StepLR", {"step_size": 2})]})]}, 8),
    ("ChainedScheduler", 0.1, {"schedulers": [("CosineAnnealingLR", {"T_max": 3})]}, 10),
    ("ChainedScheduler", 0.1, {"schedulers": [("StepLR", {"step_size": 2, "gamma": 0.5}),
                                              ("CyclicLR", {"base_lr": 0.01, "max_lr": 0.05,
                                                            "step_size_up": 2})]}, 10),
    ("ChainedScheduler", 0.1, {"schedulers": [("CosineAnnealingLR", {"T_max": 3}),
                                              ("LambdaLR", {"lr_lambda": geo})]}, 10),
    ("ChainedScheduler", 0.1, {"schedulers": [("CyclicLR", {"base_lr": 0.01, "max_lr": 0.05,
                                                            "step_size_up": 2}),
                                              ("CosineAnnealingWarmRestarts", {"T_0": 3})]}, 10),
    ("ChainedScheduler", 0.1, {"schedulers": [("OneCycleLR", {"max_lr": 1.0, "total_steps": 9}),
                                              ("LambdaLR", {"lr_lambda": geo})]}, 10),
    ("ChainedScheduler", 0.1, {"schedulers": [("ExponentialLR", {"gamma": 0.9}),
                                              ("OneCycleLR", {"max_lr": 1.0,
                                                              "total_steps": 9})]}, 10),
    # replayed step by step: members that set the LR followed by multiplying ones, cosine with
    # others (torch's test_compound_cosanneal_*), a nested SequentialLR
    ("ChainedScheduler", 0.1, {"schedulers": [("CyclicLR", {"base_lr": 0.01, "max_lr": 0.05,
                                                            "step_size_up": 2}),
                                              ("StepLR", {"step_size": 2, "gamma": 0.5})]}, 12),
    ("ChainedScheduler", 0.1, {"schedulers": [("LambdaLR", {"lr_lambda": geo}),
                                              ("ExponentialLR", {"gamma": 0.9})]}, 10),
    ("ChainedScheduler", 0.05, {"schedulers": [("CosineAnnealingLR", {"T_max": 10, "eta_min": 1e-10}),
                                               ("StepLR", {"step_size": 3})]}, 10),
    ("ChainedScheduler", 0.1, {"schedulers": [("CosineAnnealingLR", {"T_max": 7, "eta_min": 0.02}),
                                              ("MultiStepLR", {"milestones": [3, 9, 20]}),
                                              ("ExponentialLR", {"gamma": 0.97})]}, 10),
    ("ChainedScheduler", 0.1, {"schedulers": [("OneCycleLR", {"max_lr": 1.0, "total_steps": 9}),
                                              ("CosineAnnealingLR", {"T_max": 4})]}, 10),
    ("ChainedScheduler", 0.1, {"schedulers": [
        ("StepLR", {"step_size": 2, "gamma": 0.5}),
        ("SequentialLR", {"schedulers": [("ExponentialLR", {"gamma": 0.9}),
                                         ("ConstantLR", {"factor": 0.5, "total_iters": 3})],
                          "milestones": [4]})]}, 12),
    ("ChainedScheduler", 0.1, {"schedulers": [
        ("CosineAnnealingWarmRestarts", {"T_0": 3, "T_mult": 2}),
        ("MultiplicativeLR", {"lr_lambda": const09})]}, 20),
]


def _case_id(case):
    cls, lr, kw, n = case
    inner = ",".join(c for c, _ in kw.get("schedulers", ()))
    return f"{cls}[{inner}]" if inner else cls


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_matches_torch(case):
    check(*case)


def test_every_class_is_covered():
    covered = {c for c, *_ in CASES} | {"ReduceLROnPlateau"}
    assert covered == set(TL.__all__) - {"LRScheduler"}


def _has_callable(kw):
    for v in kw.values():
        if callable(v) or (isinstance(v, list) and v and callable(v[0])):
            return True
        if isinstance(v, list) and v and isinstance(v[0], tuple):
            if any(_has_callable(k) for _, k in v):
                return True
    return False


@pytest.mark.parametrize("case", [c for c in CASES if not _has_callable(c[2])],
                         ids=[_case_id(c) for c in CASES if not _has_callable(c[2])])
def test_config_round_trip(case):
    cls, lr, kw, n = case
    s = _lrlab(cls, lr, kw)
    again = lrlab.from_config(s.to_config())
    assert again == s
    assert_allclose(again.curve(n), s.curve(n), rtol=0, atol=0)


def test_callables_do_not_write_a_config():
    with pytest.raises(TypeError, match="callable"):
        lrlab.from_torch("LambdaLR", 0.1, lr_lambda=geo).to_config()


# ---- quirks, spelled out --------------------------------------------------------------------
def test_cosine_rises_again_after_t_max():
    s = lrlab.from_torch("CosineAnnealingLR", 1.0, T_max=4, eta_min=0.0)
    assert s(4) == 0.0 and s(8) == pytest.approx(1.0) and s(12) == 0.0
    assert lrlab.create("cosine", base_lr=1.0, total_steps=4)(8) == 0.0  # canonical holds


def test_one_cycle_at_and_after_total_steps():
    kw = {"max_lr": 1.0, "total_steps": 20}
    cos = lrlab.from_torch("OneCycleLR", 0.1, **kw)
    want = oracle("OneCycleLR", 0.1, kw, 21)
    assert want[20] > want[19]  # torch extrapolates its last phase at total_steps
    assert cos(20) == pytest.approx(want[20], rel=1e-9) and cos(25) == cos(20)  # then holds
    with warnings.catch_warnings(), pytest.raises(ValueError, match="Tried to step"):
        warnings.simplefilter("ignore")
        opt = _optimizer(0.1)
        sched = TL.OneCycleLR(opt, **kw)
        for _ in range(21):
            opt.step()
            sched.step()
    lin = {**kw, "anneal_strategy": "linear"}
    assert oracle("OneCycleLR", 0.1, lin, 21)[20] < 0  # torch goes negative there
    assert lrlab.from_torch("OneCycleLR", 0.1, **lin)(20) == 0.0  # lrlab never does


def test_multistep_counts_repeated_milestones():
    s = lrlab.from_torch("MultiStepLR", 1.0, milestones=[2, 2, 5], gamma=0.5)
    assert s.curve(6).tolist() == [1.0, 1.0, 0.25, 0.25, 0.25, 0.125]


def test_cyclic_not_built_first_starts_from_initial_lr():
    kw = {"schedulers": [("ExponentialLR", {"gamma": 0.9}),
                         ("CyclicLR", {"base_lr": 0.01, "max_lr": 0.05, "step_size_up": 2})]}
    s = check("ChainedScheduler", 0.1, kw, 6)
    assert s(0) == 0.1 and s(4) == pytest.approx(0.01)


def test_sequential_multiplicative_continues_from_previous_lr():
    kw = {"schedulers": [("ExponentialLR", {"gamma": 0.5}),
                         ("MultiplicativeLR", {"lr_lambda": alternate})], "milestones": [3]}
    s = check("SequentialLR", 1.0, kw, 6)
    assert s.curve(6).tolist() == [1.0, 0.5, 0.25, 0.25 * 0.5, 0.25 * 0.5, 0.25 * 0.25]


# ---- ReduceLROnPlateau ------------------------------------------------------------------------
def torch_plateau(lr, metrics, **kw):
    opt = _optimizer(lr)
    sched = TL.ReduceLROnPlateau(opt, **kw)
    out = []
    for m in metrics:
        opt.step()
        sched.step(m)
        out.append(opt.param_groups[0]["lr"])
    return out


FLAT = [1.0, 0.9, 0.9, 0.9, 0.9, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.7, 0.71, 0.72, 0.70, 0.69999]
PLATEAU_CASES = [
    ({}, FLAT * 2),
    ({"patience": 0}, FLAT),
    ({"patience": 2, "factor": 0.5}, FLAT),
    ({"patience": 1, "cooldown": 2, "factor": 0.5}, FLAT * 2),
    ({"patience": 1, "threshold": 0.1, "factor": 0.5}, FLAT),
    ({"patience": 1, "threshold": 0.05, "threshold_mode": "abs", "factor": 0.5}, FLAT),
    ({"mode": "max", "patience": 1, "factor": 0.5}, [-m for m in FLAT]),
    ({"mode": "max", "patience": 1, "threshold": 0.02, "threshold_mode": "abs"},
     [1 - m for m in FLAT]),
    ({"patience": 0, "factor": 0.5, "min_lr": 0.02}, FLAT),
    ({"patience": 0, "factor": 0.5, "min_lr": [0.02]}, FLAT),
    ({"patience": 0, "factor": 0.9, "eps": 0.005}, FLAT * 2),
    ({"patience": 0, "factor": 0.5, "cooldown": 1, "min_lr": 0.001, "eps": 0.0}, FLAT * 3),
]


@pytest.mark.parametrize("kw,metrics", PLATEAU_CASES)
def test_reduce_lr_on_plateau_matches_torch(kw, metrics):
    p = lrlab.from_torch("ReduceLROnPlateau", 0.1, **kw)
    assert isinstance(p, Plateau) and p.semantics == "torch"
    got = [p.step(m) for m in metrics]
    assert_allclose(got, torch_plateau(0.1, metrics, **kw), **TOL)


def test_plateau_options_are_passed_through():
    p = lrlab.from_torch("ReduceLROnPlateau", 0.2, mode="max", factor=0.5, patience=3,
                         threshold=0.01, threshold_mode="abs", cooldown=2, min_lr=[0.001],
                         eps=1e-6, verbose=False)
    assert p.to_config() == {"name": "plateau", "lr": 0.2, "mode": "max", "factor": 0.5,
                             "patience": 3, "threshold": 0.01, "threshold_mode": "abs",
                             "cooldown": 2, "min_lr": 0.001, "eps": 1e-6, "semantics": "torch"}


# ---- errors -----------------------------------------------------------------------------------
def test_unknown_class_suggests_nearest():
    with pytest.raises(ValueError, match="did you mean StepLR"):
        lrlab.from_torch("StepLr", 0.1, step_size=2)
    with pytest.raises(ValueError, match="CosineAnnealingLR"):
        lrlab.from_torch("CosineAnealingLR", 0.1, T_max=2)


def test_unknown_keyword_is_named():
    with pytest.raises(ValueError, match=r"StepLR: unknown parameter 'gama'; did you mean 'gamma'"):
        lrlab.from_torch("StepLR", 0.1, step_size=2, gama=0.5)
    with pytest.raises(ValueError, match="unknown parameter 'patiense'"):
        lrlab.from_torch("ReduceLROnPlateau", 0.1, patiense=2)


def test_missing_keyword():
    with pytest.raises(ValueError, match="StepLR: .*step_size"):
        lrlab.from_torch("StepLR", 0.1)


def test_ignored_keywords_and_last_epoch():
    a = lrlab.from_torch("OneCycleLR", 0.1, max_lr=1.0, total_steps=10, cycle_momentum=False,
                         base_momentum=0.8, max_momentum=0.9, verbose=False)
    assert_allclose(a.curve(10), lrlab.from_torch("OneCycleLR", 0.1, max_lr=1.0,
                                                  total_steps=10).curve(10), rtol=0)
    with pytest.raises(ValueError, match="last_epoch"):
        lrlab.from_torch("StepLR", 0.1, step_size=2, last_epoch=3)


# torch validates these itself: both must refuse them, naming class, parameter and value
TORCH_REFUSES = [
    ("LinearLR", {"start_factor": 0.0}, "start_factor"),
    ("LinearLR", {"start_factor": 1.5}, "start_factor"),
    ("LinearLR", {"end_factor": -0.1}, "end_factor"),
    ("ConstantLR", {"factor": 1.5}, "factor"),
    ("ConstantLR", {"factor": -0.5}, "factor"),
    ("OneCycleLR", {"max_lr": 1.0, "total_steps": 10, "pct_start": 1.5}, "pct_start"),
    ("OneCycleLR", {"max_lr": 1.0, "total_steps": 0}, "total_steps"),
    ("OneCycleLR", {"max_lr": 1.0, "epochs": 0, "steps_per_epoch": 5}, "epochs"),
    ("OneCycleLR", {"max_lr": 1.0, "total_steps": 10, "anneal_strategy": "cosine"},
     "anneal_strategy"),
    ("OneCycleLR", {"max_lr": 1.0}, "total_steps"),
    ("CosineAnnealingWarmRestarts", {"T_0": 0}, "T_0"),
    ("CosineAnnealingWarmRestarts", {"T_0": 2, "T_mult": 0}, "T_mult"),
    ("CyclicLR", {"base_lr": 0.01, "max_lr": 0.1, "mode": "zigzag"}, "mode"),
    ("ReduceLROnPlateau", {"factor": 1.0}, "factor"),
    ("ReduceLROnPlateau", {"mode": "minimum"}, "mode"),
    ("ReduceLROnPlateau", {"threshold_mode": "relative"}, "threshold_mode"),
]


@pytest.mark.parametrize("cls,kw,param", TORCH_REFUSES)
def test_refuses_what_torch_refuses(cls, kw, param):
    with pytest.raises(ValueError, match=rf"^{cls}: .*{param}"):
        lrlab.from_torch(cls, 0.1, **kw)
    with pytest.raises(ValueError):
        getattr(TL, cls)(_optimizer(0.1), **kw)


# torch accepts these but fails later, or they would give a negative / undefined LR
LRLAB_REFUSES = [
    ("StepLR", {"step_size": 0}, "step_size"),
    ("StepLR", {"step_size": 2, "gamma": -0.5}, "gamma"),
    ("MultiStepLR", {"milestones": [2, -1]}, "milestones"),
    ("ExponentialLR", {"gamma": -0.9}, "gamma"),
    ("PolynomialLR", {"total_iters": 3, "power": -1.0}, "power"),
    ("CosineAnnealingLR", {"T_max": 0}, "T_max"),
    ("CosineAnnealingLR", {"T_max": 5, "eta_min": -0.1}, "eta_min"),
    ("CyclicLR", {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 0}, "step_size_up"),
    ("CyclicLR", {"base_lr": -0.01, "max_lr": 0.1}, "base_lr"),
    ("OneCycleLR", {"max_lr": 1.0, "total_steps": 10, "pct_start": 0.1}, "pct_start"),  # 0 / 0
    ("OneCycleLR", {"max_lr": 1.0, "total_steps": 10, "div_factor": 0.0}, "div_factor"),
    ("ReduceLROnPlateau", {"min_lr": [0.1, 0.2]}, "min_lr"),
    ("ReduceLROnPlateau", {"patience": -1}, "patience"),
    ("LambdaLR", {"lr_lambda": [geo, geo]}, "lr_lambda"),
]


@pytest.mark.parametrize("cls,kw,param", LRLAB_REFUSES)
def test_invalid_parameters_raise_at_construction(cls, kw, param):
    with pytest.raises(ValueError, match=rf"^{cls}: .*{param}"):
        lrlab.from_torch(cls, 0.1, **kw)


def test_non_callable_lambda_is_a_type_error():
    with pytest.raises(TypeError, match="LambdaLR: lr_lambda must be a callable"):
        lrlab.from_torch("LambdaLR", 0.1, lr_lambda=0.5)


def _seq(*members, milestones, lr=0.1):
    return lrlab.from_torch("SequentialLR", lr, schedulers=list(members), milestones=milestones)


def test_sequential_refusals():
    a = lrlab.from_torch("ExponentialLR", 0.1, gamma=0.9)
    b = lrlab.from_torch("StepLR", 0.1, step_size=2)
    with pytest.raises(ValueError, match="milestones"):
        _seq(a, b, milestones=[])
    with pytest.raises(ValueError, match="milestones"):
        _seq(a, b, milestones=[0])
    with pytest.raises(ValueError, match=r"schedulers\[1\] was built for optimizer_lr 0.2"):
        _seq(a, lrlab.from_torch("StepLR", 0.2, step_size=2), milestones=[3])
    with pytest.raises(ValueError, match="from_torch"):
        _seq(a, lrlab.create("cosine", base_lr=0.1, total_steps=5), milestones=[3])
    with pytest.raises(ValueError, match="ReduceLROnPlateau"):
        _seq(a, lrlab.from_torch("ReduceLROnPlateau", 0.1), milestones=[3])
    with pytest.raises(ValueError, match="schedulers"):
        _seq(milestones=[])


@pytest.mark.parametrize("late, message", [
    (lambda: lrlab.from_torch("ChainedScheduler", 0.1, schedulers=[lrlab.from_torch("StepLR", 0.1, step_size=2)]),
     r"torch raises NotImplementedError \(ChainedScheduler has no get_lr\(\)\) at step 3"),
    (lambda: lrlab.from_torch("LinearLR", 0.1, total_iters=0),
     r"schedulers\[1\] \(LinearLR\) has total_iters=0, and torch divides by it at its milestone \(step 3"),
    (lambda: lrlab.from_torch("PolynomialLR", 0.1, total_iters=0),
     r"schedulers\[1\] \(PolynomialLR\) has total_iters=0"),
])
def test_sequential_raises_at_the_milestone_torch_raises_at(late, message):
    a = lrlab.from_torch("ExponentialLR", 0.1, gamma=0.9)
    s = _seq(a, late(), lrlab.from_torch("StepLR", 0.1, step_size=2), milestones=[3, 6])
    assert s.curve(3).tolist() == pytest.approx([0.1, 0.09, 0.081])
    for k in (3, 7):  # and after: torch cannot go on
        with pytest.raises(ValueError, match=message):
            s(k)


def test_one_cycle_with_an_empty_last_phase_raises_at_total_steps():
    kw = {"max_lr": 1.0, "total_steps": 10, "pct_start": 1.0}
    s = check("OneCycleLR", 0.1, kw, 10)  # torch's steps 0..9 are fine
    with pytest.raises(ValueError, match="torch divides by zero at step total_steps = 10"):
        s(10)
    with warnings.catch_warnings(), pytest.raises(ZeroDivisionError):
        warnings.simplefilter("ignore")
        oracle("OneCycleLR", 0.1, kw, 11)


def test_constant_factor_zero_raises_where_torch_divides_by_it():
    s = lrlab.from_torch("ConstantLR", 0.1, factor=0.0, total_iters=3)
    assert s.curve(3).tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="torch divides the LR by it at step total_iters = 3"):
        s(3)
    # inside a SequentialLR that moves on before, torch never divides: neither does lrlab
    seq = _seq(s, lrlab.from_torch("ExponentialLR", 0.1, gamma=0.5), milestones=[2])
    assert seq.curve(5) == pytest.approx(oracle("SequentialLR", 0.1, {"schedulers": [
        ("ConstantLR", {"factor": 0.0, "total_iters": 3}), ("ExponentialLR", {"gamma": 0.5})],
        "milestones": [2]}, 5))


# ---- CyclicLR triangular2: torch's scale 1 / 2.0 ** (cycle - 1) overflows from cycle 1025 -------
def until_torch_raises(cls, lr, kw, limit):
    """torch's LRs, stepping until ``step()`` raises: ``(lrs before, the step, the error)``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opt = _optimizer(lr)
        sched = _torch_sched(opt, cls, kw)
        out = [opt.param_groups[0]["lr"]]
        for k in range(1, limit):
            try:
                opt.step()
                sched.step()
            except Exception as e:  # noqa: BLE001
                return np.array(out), k, e
            out.append(opt.param_groups[0]["lr"])
    raise AssertionError(f"torch did not raise within {limit} steps")


def raises_from(s, k, framework="torch"):
    """``s`` raises at step ``k`` and after, naming ``k``, in every way of asking (also rebuilt
    from its config); step ``k - 1`` evaluates."""
    assert s(k - 1) == s.at(np.array([k - 1]))[0] >= 0
    msg = re.escape(f"CyclicLR: {framework} raises OverflowError at step {k} (mode='triangular2'")
    asks = [lambda: s(k), lambda: s(k + 5), lambda: s.at(np.array([k - 1, k])),
            lambda: lrlab.from_config(s.to_config())(k)]
    if k < 10 ** 5:
        asks.append(lambda: s.curve(k + 1))
    for ask in asks:
        with pytest.raises(ValueError, match=msg):
            ask()


CYCLIC2 = {"base_lr": 0.01, "max_lr": 0.1, "mode": "triangular2"}


@pytest.mark.parametrize("kw, cycle", [
    ({"step_size_up": 1}, 2),
    ({"step_size_up": 2, "step_size_down": 3}, 5),
    ({"step_size_up": 3, "step_size_down": 0}, 3),  # a sawtooth (LooseCyclic)
    ({"step_size_up": 1, "base_lr": 0.1, "max_lr": 0.01}, 2),  # a dip (LooseCyclic)
])
def test_cyclic_triangular2_raises_at_the_step_torch_overflows(kw, cycle):
    kw = {**CYCLIC2, **kw}
    want, k, error = until_torch_raises("CyclicLR", 0.1, kw, 6000)
    assert isinstance(error, OverflowError) and k == 1024 * cycle  # the first step of cycle 1025
    s = lrlab.from_torch("CyclicLR", 0.1, **kw)
    assert_allclose(s.curve(k), want, **TOL)
    assert_allclose([s(j) for j in range(k)], want, **TOL)
    raises_from(s, k)


@pytest.mark.parametrize("cls, members, milestones", [
    ("ChainedScheduler", [("CyclicLR", {**CYCLIC2, "step_size_up": 1}),
                          ("StepLR", {"step_size": 700, "gamma": 0.5})], None),  # replayed
    ("ChainedScheduler", [("StepLR", {"step_size": 700, "gamma": 0.5}),
                          ("CyclicLR", {**CYCLIC2, "step_size_up": 1})], None),  # the last one
    ("SequentialLR", [("ExponentialLR", {"gamma": 0.9}),
                      ("CyclicLR", {**CYCLIC2, "step_size_up": 1})], [5]),  # from step 5
])
def test_cyclic_triangular2_overflow_inside_combinators(cls, members, milestones):
    kw = {"schedulers": members, **({"milestones": milestones} if milestones else {})}
    want, k, error = until_torch_raises(cls, 0.1, kw, 6000)
    assert isinstance(error, OverflowError) and k == 2048 + (milestones or [0])[0]
    s = _lrlab(cls, 0.1, kw)
    assert_allclose(s.curve(k), want, **TOL)
    assert s(k - 1) == s.curve(k)[-1]
    with pytest.raises(ValueError, match="torch raises OverflowError .*at step 2048"):
        s(k)  # (a SequentialLR member names its own step: 2048 steps after its milestone)


def torch_cyclic_at(kw, k):
    """torch's LR at step ``k``: ``CyclicLR.get_lr`` is a closed form of ``last_epoch``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opt = _optimizer(0.1)
        sched = TL.CyclicLR(opt, **kw)
        sched.last_epoch = k - 1
        opt.step()
        sched.step()
        return opt.param_groups[0]["lr"]


@pytest.mark.parametrize("up, down", [(1, None), (7, 2), (2 ** 40, None), (2 ** 50, 2 ** 50 + 1),
                                      (2 ** 42 + 3, 5), (3 * 2 ** 55, 2 ** 58)])
def test_cyclic_triangular2_overflow_step_for_any_cycle_length(up, down):
    # past step 2**53 the float k / L can round up to cycle 1025 a little before 1024 * L
    # (2**50 up, 2**50 + 1 down: 256 steps before); lrlab uses torch's arithmetic
    kw = {**CYCLIC2, "step_size_up": up, "step_size_down": down}
    s = lrlab.from_torch("CyclicLR", 0.1, **kw)
    try:
        s(2 ** 62 - 1)
    except ValueError as e:
        k = int(re.search(r"at step (\d+)", str(e)).group(1))
    else:  # cycle 1025 starts past 2**62: torch computes every step lrlab takes
        assert_allclose(s(2 ** 62 - 1), torch_cyclic_at(kw, 2 ** 62 - 1), **TOL)
        return
    assert_allclose(s(k - 1), torch_cyclic_at(kw, k - 1), **TOL)
    with pytest.raises(OverflowError):
        torch_cyclic_at(kw, k)
    raises_from(s, k)


def test_sequential_refusals_match_torch_failures():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for late in (lambda o: TL.LinearLR(o, total_iters=0),
                     lambda o: TL.ChainedScheduler([TL.StepLR(o, 2)])):
            opt = _optimizer(0.1)
            sched = TL.SequentialLR(opt, [TL.ExponentialLR(opt, 0.9), late(opt)], milestones=[2])
            with pytest.raises((ZeroDivisionError, NotImplementedError)):
                for _ in range(3):
                    opt.step()
                    sched.step()


def test_chained_refusals():
    with pytest.raises(ValueError, match="schedulers"):
        lrlab.from_torch("ChainedScheduler", 0.1, schedulers=[])


def test_combinators_torch_computes_are_replayed_not_refused():
    cyc = lrlab.from_torch("CyclicLR", 0.1, base_lr=0.01, max_lr=0.05, step_size_up=2)
    step = lrlab.from_torch("StepLR", 0.1, step_size=2)
    cos = lrlab.from_torch("CosineAnnealingLR", 0.1, T_max=4)
    seq = lrlab.from_torch("SequentialLR", 0.1, schedulers=[step, cos], milestones=[2])
    for members in ([cyc, step], [cos, step], [step, seq]):
        s = lrlab.from_torch("ChainedScheduler", 0.1, schedulers=members)
        assert s._impl.name == "torch_steps"
        assert s(0) > 0 and s(40) == s.curve(41)[-1]
        assert lrlab.from_config(s.to_config()) == s


def test_sequential_cut_short_never_reaches_what_torch_cannot_start():
    # the inner SequentialLR would raise at step 10; the outer one moves on at 6 (torch too)
    kw = {"schedulers": [("SequentialLR", {"schedulers": [("LambdaLR", {"lr_lambda": inverse}),
                                                          ("PolynomialLR", {"total_iters": 0})],
                                           "milestones": [10]}),
                         ("ExponentialLR", {"gamma": 0.9})], "milestones": [6]}
    check("SequentialLR", 0.1, kw, 14)


def test_plateau_is_not_a_schedule_config():
    with pytest.raises(ValueError, match="metric-driven"):
        lrlab.from_config({"name": "from_torch", "class_name": "ReduceLROnPlateau", "lr": 0.1,
                           "kwargs": {}})


# ---- random parameters ------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(T=st.integers(1, 40), lr=st.floats(1e-4, 1.0), frac=st.floats(0.0, 0.9),
       periods=st.integers(1, 4))
def test_cosine_annealing_random(T, lr, frac, periods):
    check("CosineAnnealingLR", lr, {"T_max": T, "eta_min": lr * frac}, 2 * periods * T + 2)


@settings(max_examples=40, deadline=None)
@given(up=st.integers(1, 12), down=st.one_of(st.none(), st.integers(0, 12)),
       mode=st.sampled_from(["triangular", "triangular2", "exp_range"]),
       gamma=st.floats(0.8, 1.0), lo=st.floats(0.0, 0.5), hi=st.floats(0.0, 1.0))
def test_cyclic_random(up, down, mode, gamma, lo, hi):
    check("CyclicLR", 0.1, {"base_lr": lo, "max_lr": hi, "step_size_up": up,
                            "step_size_down": down, "mode": mode, "gamma": gamma}, 60)


@settings(max_examples=60, deadline=None)
@given(total=st.integers(8, 200), pct=st.floats(0.15, 0.45), three=st.booleans(),
       anneal=st.sampled_from(["cos", "linear"]), div=st.floats(2.0, 50.0),
       final=st.floats(1.0, 1e4))
def test_one_cycle_random(total, pct, three, anneal, div, final):
    kw = {"max_lr": 0.5, "total_steps": total, "pct_start": pct, "three_phase": three,
          "anneal_strategy": anneal, "div_factor": div, "final_div_factor": final}
    s = lrlab.from_torch("OneCycleLR", 0.1, **kw)
    want = oracle("OneCycleLR", 0.1, kw, total + 1)
    want[-1] = max(want[-1], 0.0)  # torch's linear extrapolation at total_steps may be < 0
    assert_allclose(s.curve(total + 3), np.append(want, [want[-1]] * 2), **TOL)


@settings(max_examples=30, deadline=None)
@given(T0=st.integers(1, 10), mult=st.integers(1, 3), frac=st.floats(0.0, 1.0))
def test_warm_restarts_random(T0, mult, frac):
    check("CosineAnnealingWarmRestarts", 0.1, {"T_0": T0, "T_mult": mult, "eta_min": 0.1 * frac},
          min(200, 3 * T0 * mult ** 3))


@settings(max_examples=40, deadline=None)
@given(ms=st.lists(st.integers(0, 15), max_size=6), gamma=st.floats(0.0, 2.0))
def test_multistep_random(ms, gamma):
    check("MultiStepLR", 0.1, {"milestones": ms, "gamma": gamma}, 20)


def test_the_plain_python_recursion_below_is_torch():
    kw = {"T_max": 50, "eta_min": 0.2}
    assert oracle("CosineAnnealingLR", 0.1, kw, 400).tolist() == _torch_cosine_recursion(0.1, 50, 0.2, 400)


def test_long_cosine_replays_torch_recursion_exactly():
    # past T_max torch's recursion amplifies rounding: the closed form is 1.4e-9 off at 80000
    # (torch itself gives 0.10000000574484225 there; stepping it 80000 times takes seconds)
    s = lrlab.from_torch("CosineAnnealingLR", 0.1, T_max=40000, eta_min=0.2)
    want = _torch_cosine_recursion(0.1, 40000, 0.2, 80001)
    assert s(80000) == want[-1]  # the same float operations, in the same order
    assert s.curve(80001).tolist() == want
    closed = 0.2 + (0.1 - 0.2) * (1 + math.cos(math.pi * 80000 / 40000)) / 2
    assert abs(want[-1] - closed) > 1e-9


def _torch_cosine_recursion(lr, T, eta, n):
    """torch's CosineAnnealingLR.get_lr, stepped n - 1 times in plain Python."""
    out = [lr]
    for e in range(1, n):
        if (e - 1 - T) % (2 * T) == 0:
            lr = lr + (out[0] - eta) * (1 - math.cos(math.pi / T)) / 2
        else:
            lr = (1 + math.cos(math.pi * e / T)) / (1 + math.cos(math.pi * (e - 1) / T)) * (lr - eta) + eta
        out.append(lr)
    return out


def test_cosine_far_out_needs_no_replay_from_step_zero():
    s = lrlab.from_torch("CosineAnnealingLR", 1.0, T_max=7, eta_min=0.1)
    far = 200_003  # replayed from the trough before it: troughs are eta_min exactly
    assert s(far) == _torch_cosine_recursion(1.0, 7, 0.1, far + 1)[-1]
    assert s.at([far, 5])[0] == s(far) and s(5) == s.curve(6)[-1]
    huge = s(2 ** 61)  # any step, at once
    assert 0.1 <= huge <= 1.0


@pytest.mark.parametrize("T, eta, lr", [(1, 0.0, 0.1), (3, 0.01, 0.1), (10, 0.2, 0.1), (257, 0.05, 1.0),
                                         (2000, 0.0, 0.5)])
def test_cosine_is_torch_recursion_bit_for_bit_whatever_the_order_of_the_calls(T, eta, lr):
    n = 6 * T + 7
    want = _torch_cosine_recursion(lr, T, eta, n)
    s = lrlab.from_torch("CosineAnnealingLR", lr, T_max=T, eta_min=eta)
    assert s.curve(n).tolist() == want
    r = lrlab.from_torch("CosineAnnealingLR", lr, T_max=T, eta_min=eta)
    order = np.random.default_rng(T).permutation(n)
    assert [r(int(k)) for k in order] == [want[k] for k in order]
    assert r.at(order[:50]).tolist() == [want[k] for k in order[:50]]


@pytest.mark.parametrize("cls,kw,param", [
    ("CosineAnnealingLR", {"T_max": 2.5}, "T_max"),  # torch computes something: a user error
    ("StepLR", {"step_size": 1.5}, "step_size"),
    ("CyclicLR", {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 2.5}, "step_size_up"),
])
def test_fractional_step_counts_are_refused(cls, kw, param):
    with pytest.raises(TypeError, match=rf"^{cls}: {param} must be an int, got"):
        lrlab.from_torch(cls, 0.1, **kw)


def test_rounding_sized_negatives_become_zero():
    kw = {"T_max": 7, "eta_min": 0.05}  # lr 0: torch ends its rise back to 0 a hair below 0
    want = oracle("CosineAnnealingLR", 0.0, kw, 40)
    assert want.min() < 0 and want.min() > -1e-15
    s = lrlab.from_torch("CosineAnnealingLR", 0.0, **kw)
    got = s.curve(40)
    assert got.min() == 0.0
    assert_allclose(got, np.maximum(want, 0.0), rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("cls,kw,param", [
    ("OneCycleLR", {"max_lr": 1.0, "total_steps": 10.0}, "total_steps"),
    ("OneCycleLR", {"max_lr": 1.0, "epochs": 2.0, "steps_per_epoch": 5}, "epochs"),
    ("OneCycleLR", {"max_lr": 1.0, "epochs": 2, "steps_per_epoch": 5.0}, "steps_per_epoch"),
    ("OneCycleLR", {"max_lr": 1.0, "total_steps": 10, "pct_start": 0}, "pct_start"),
    ("CosineAnnealingWarmRestarts", {"T_0": 10.0}, "T_0"),
    ("CosineAnnealingWarmRestarts", {"T_0": 10, "T_mult": 2.0}, "T_mult"),
])
def test_whole_number_floats_are_refused_where_torch_refuses_them(cls, kw, param):
    with pytest.raises(ValueError):
        getattr(TL, cls)(_optimizer(0.1), **kw)
    with pytest.raises(TypeError, match=rf"^{cls}: {param} must be an? (int|float)"):
        lrlab.from_torch(cls, 0.1, **kw)


def test_cosine_restarts_after_trough_at_torch_value():
    s = lrlab.from_torch("CosineAnnealingLR", 1.0, T_max=3)
    assert s(4) == pytest.approx((1 - math.cos(math.pi / 3)) / 2, rel=1e-12)
