"""The frameworks' own test cases, ported as data and compared against the frameworks.

torch: ``test/optim/test_lrscheduler.py`` of pytorch/pytorch (commit 01f9ef32eae5); the name
of each case is the upstream test it comes from (its optimizer LR is 0.05, as there; the
upstream targets are what torch computes, so torch is the oracle here). Paddle:
``test/legacy_test/test_lr_scheduler.py`` of PaddlePaddle/Paddle (commit 04a048e4118b), the
``func_api_kwargs`` table of ``TestLRScheduler.test_scheduler`` and the warm-restarts and
plateau tests, 20 steps each as there; ``LinearLR``, which that file does not test, from the
example in its docstring (``paddle/optimizer/lr.py``).

Each case runs through ``fuzz_compat.check``: lrlab must match the framework at every step.
"""

import math

import pytest

pytest.importorskip("torch")
pytest.importorskip("paddle")


import fuzz_compat as F  # noqa: E402  (made importable by conftest.py)
Sub = F.Sub


def lambda_09(x):
    return 0.9 ** x


def lambda_const_09(x):
    return 0.9


def lambda_095(x):
    return 0.95 ** x


def lambda_const_095(x):
    return 0.95


def T(name, cls, kw, n, lr=0.05):
    return pytest.param(F.Case("torch", cls, kw, n, lr), id=name)


def chain(*members):
    return {"schedulers": [Sub(c, k) for c, k in members]}


def seq(members, milestones):
    return {"schedulers": [m if isinstance(m, Sub) else Sub(*m) for m in members], "milestones": milestones}


COS10 = ("CosineAnnealingLR", {"T_max": 10, "eta_min": 1e-10})
TORCH = [
    T("test_step_lr", "StepLR", {"gamma": 0.1, "step_size": 3}, 12),
    T("test_multi_step_lr", "MultiStepLR", {"gamma": 0.1, "milestones": [2, 5, 9]}, 12),
    T("test_get_last_lr_constantlr", "ConstantLR", {"factor": 0.5, "total_iters": 5}, 10),
    T("test_get_last_lr_linearlr", "LinearLR", {"start_factor": 0.25, "end_factor": 0.6, "total_iters": 4}, 10),
    T("test_closed_form_linearlr", "LinearLR", {"start_factor": 1 / 3, "end_factor": 0.7, "total_iters": 4}, 20),
    T("test_closed_form_exp_lr", "ExponentialLR", {"gamma": 0.9}, 20),
    T("test_closed_form_poly_lr", "PolynomialLR", {"power": 0.9}, 20),
    T("test_closed_form_cos_anneal_lr", "CosineAnnealingLR", {"T_max": 5, "eta_min": 1e-10}, 20),
    T("test_lambda_lr", "LambdaLR", {"lr_lambda": lambda_09}, 10),
    T("test_multiplicative_lr", "MultiplicativeLR", {"lr_lambda": lambda_const_09}, 10),
    T("test_sequentiallr1", "SequentialLR",
      seq([("ExponentialLR", {"gamma": 0.8}), ("StepLR", {"gamma": 0.1, "step_size": 4})], [3]), 19),
    T("test_sequentiallr2", "SequentialLR",
      seq([("ConstantLR", {"factor": 0.1, "total_iters": 3}), ("ExponentialLR", {"gamma": 0.9})], [3]), 13),
    T("test_sequentiallr3", "SequentialLR",
      seq([("ConstantLR", {"factor": 0.1, "total_iters": 3}), ("ExponentialLR", {"gamma": 0.8}),
           ("StepLR", {"gamma": 0.1, "step_size": 2})], [3, 6]), 12),
    T("test_sequentiallr4", "SequentialLR",
      seq([("ConstantLR", {"factor": 1.0}), ("ConstantLR", {"factor": 0.1})], [10]), 14, lr=0.1),
    T("test_sequentiallr5", "SequentialLR",
      seq([Sub("ChainedScheduler", chain(("LinearLR", {"start_factor": 0.1, "total_iters": 5}),
                                         ("ConstantLR", {"factor": 0.1, "total_iters": 5}))),
           ("ConstantLR", {"factor": 0.5, "total_iters": 5})], [5]), 10),
    T("test_sequentiallr_does_not_alias_lr_and_initial_lr", "SequentialLR",
      seq([("LinearLR", {"start_factor": 0.1, "end_factor": 0.8, "total_iters": 4}),
           ("LinearLR", {"start_factor": 0.8, "end_factor": 0.1, "total_iters": 4})], [4]), 8, lr=2.0),
    T("test_chained_lr1", "ChainedScheduler", chain(("StepLR", {"gamma": 0.1, "step_size": 3})), 12),
    T("test_chained_lr2", "ChainedScheduler", chain(("LinearLR", {"start_factor": 0.4, "total_iters": 3})), 12),
    T("test_chained_lr3", "ChainedScheduler",
      chain(("LinearLR", {"start_factor": 0.4, "total_iters": 3}),
            ("MultiStepLR", {"milestones": [4, 8, 10], "gamma": 0.1})), 14),
    T("test_chained_lr4", "ChainedScheduler",
      chain(("ExponentialLR", {"gamma": 0.9}), ("ConstantLR", {"factor": 0.2, "total_iters": 4}),
            ("StepLR", {"gamma": 0.1, "step_size": 3})), 9),
    T("test_chained_lr5", "ChainedScheduler",
      chain(("PolynomialLR", {"power": 0.9, "total_iters": 5}), ("ConstantLR", {"factor": 0.1})), 10),
    T("test_compound_step_and_multistep_lr", "ChainedScheduler",
      chain(("StepLR", {"gamma": 0.1, "step_size": 3}), ("MultiStepLR", {"gamma": 0.1, "milestones": [2, 5, 9]})), 10),
    T("test_compound_step_and_exp_lr", "ChainedScheduler",
      chain(("StepLR", {"gamma": 0.1, "step_size": 3}), ("ExponentialLR", {"gamma": 0.9})), 12),
    T("test_compound_exp_and_multistep_lr", "ChainedScheduler",
      chain(("MultiStepLR", {"gamma": 0.1, "milestones": [2, 5, 9]}), ("ExponentialLR", {"gamma": 0.9})), 11),
    T("test_compound_exp_and_linearlr", "ChainedScheduler",
      chain(("LinearLR", {"start_factor": 0.4, "end_factor": 0.9, "total_iters": 4}),
            ("ExponentialLR", {"gamma": 0.9})), 11),
    T("test_compound_step_and_constantlr", "ChainedScheduler",
      chain(("StepLR", {"gamma": 0.1, "step_size": 3}), ("ConstantLR", {"factor": 0.4, "total_iters": 4})), 12),
    T("test_compound_linearlr_and_multistep_lr", "ChainedScheduler",
      chain(("MultiStepLR", {"gamma": 0.1, "milestones": [2, 5, 9]}),
            ("LinearLR", {"start_factor": 0.4, "total_iters": 4})), 11),
    T("test_compound_cosanneal_and_step_lr", "ChainedScheduler",
      chain(COS10, ("StepLR", {"gamma": 0.1, "step_size": 3})), 10),
    T("test_compound_cosanneal_and_multistep_lr", "ChainedScheduler",
      chain(COS10, ("MultiStepLR", {"gamma": 0.1, "milestones": [2, 5, 9]})), 10),
    T("test_compound_cosanneal_and_linearlr", "ChainedScheduler",
      chain(("LinearLR", {"start_factor": 0.4, "total_iters": 4}), COS10), 10),
    T("test_compound_cosanneal_and_exp_lr", "ChainedScheduler",
      chain(COS10, ("ExponentialLR", {"gamma": 0.1})), 10),
    T("test_cycle_lr_triangular_mode_one_lr", "CyclicLR",
      {"base_lr": 1, "max_lr": 5, "step_size_up": 4, "mode": "triangular"}, 11),
    T("test_cycle_lr_triangular2_mode_one_lr", "CyclicLR",
      {"base_lr": 1, "max_lr": 5, "step_size_up": 4, "mode": "triangular2"}, 22),
    T("test_cycle_lr_exp_range_mode_one_lr", "CyclicLR",
      {"base_lr": 1, "max_lr": 5, "step_size_up": 4, "mode": "exp_range", "gamma": 0.9}, 13),
    T("test_cycle_lr_triangular_mode_step_size_up_down", "CyclicLR",
      {"base_lr": 1, "max_lr": 5, "step_size_up": 4, "step_size_down": 6}, 11),
    T("test_cycle_lr_triangular2_mode_step_size_up_down", "CyclicLR",
      {"base_lr": 1, "max_lr": 5, "step_size_up": 2, "step_size_down": 6, "mode": "triangular2"}, 24),
    T("test_cycle_lr_exp_range_mode_step_size_up_down", "CyclicLR",
      {"base_lr": 1, "max_lr": 5, "step_size_up": 2, "step_size_down": 6, "mode": "exp_range", "gamma": 0.9}, 13),
    T("test_onecycle_lr_linear_annealing", "OneCycleLR",
      {"max_lr": 25, "final_div_factor": 2, "total_steps": 10, "anneal_strategy": "linear"}, 10),
    T("test_onecycle_lr_linear_annealing_three_phases", "OneCycleLR",
      {"max_lr": 25, "div_factor": 25, "total_steps": 10, "anneal_strategy": "linear", "pct_start": 0.4,
       "final_div_factor": 4, "three_phase": True}, 10),
    T("test_onecycle_lr_cosine_annealing", "OneCycleLR", {"max_lr": 25, "final_div_factor": 2, "total_steps": 10}, 10),
] + [
    T(f"test_CosineAnnealingWarmRestarts_lr1[T_mult={m}]", "CosineAnnealingWarmRestarts",
      {"T_0": 10, "T_mult": m, "eta_min": 1e-10}, 100) for m in (1, 2, 4)
]


def P(name, cls, kw, n=20, metrics=()):
    return pytest.param(F.Case("paddle", cls, kw, n, metrics=list(metrics)), id=name)


PADDLE = [
    P("NoamDecay", "NoamDecay", {"d_model": 0.01, "warmup_steps": 100}),
    P("PiecewiseDecay", "PiecewiseDecay", {"boundaries": [3, 6, 9, 15, 20], "values": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]}, 25),
    P("NaturalExpDecay", "NaturalExpDecay", {"learning_rate": 0.5, "gamma": 0.1}),
    P("InverseTimeDecay", "InverseTimeDecay", {"learning_rate": 0.5, "gamma": 0.1}),
    P("PolynomialDecay", "PolynomialDecay", {"learning_rate": 0.5, "decay_steps": 20, "end_lr": 0, "power": 1.0}, 30),
    P("PolynomialDecay[cycle]", "PolynomialDecay",
      {"learning_rate": 0.5, "decay_steps": 20, "end_lr": 0, "power": 1.0, "cycle": True}, 50),
    P("LinearWarmup", "LinearWarmup", {"learning_rate": 0.5, "warmup_steps": 10, "start_lr": 0, "end_lr": 0.5}),
    P("test_linear_warmp", "LinearWarmup",
      {"learning_rate": Sub("NaturalExpDecay", {"learning_rate": 0.5, "gamma": 0.1}), "warmup_steps": 10,
       "start_lr": 0.0, "end_lr": 0.1}, 30),
    P("ExponentialDecay", "ExponentialDecay", {"learning_rate": 0.5, "gamma": 0.9}),
    P("MultiStepDecay", "MultiStepDecay", {"learning_rate": 0.5, "milestones": [3, 6, 9, 15, 20], "gamma": 0.8}, 25),
    P("StepDecay", "StepDecay", {"learning_rate": 0.5, "step_size": 2, "gamma": 0.8}),
    P("LambdaDecay", "LambdaDecay", {"learning_rate": 0.5, "lr_lambda": lambda_095}),
    P("MultiplicativeDecay", "MultiplicativeDecay", {"learning_rate": 0.5, "lr_lambda": lambda_const_095}),
    P("CosineAnnealingDecay", "CosineAnnealingDecay", {"learning_rate": 0.5, "T_max": 10}, 40),
    P("OneCycleLR[cos]", "OneCycleLR", {"max_learning_rate": 0.1, "total_steps": 20, "divide_factor": 5,
                                        "end_learning_rate": 0.0001, "anneal_strategy": "cos", "phase_pct": 0.3}, 21),
    P("OneCycleLR[linear]", "OneCycleLR", {"max_learning_rate": 0.5, "total_steps": 20, "divide_factor": 10,
                                           "end_learning_rate": 0.001, "anneal_strategy": "linear",
                                           "phase_pct": 0.4}, 20),
    P("OneCycleLR[cos, three_phase]", "OneCycleLR",
      {"max_learning_rate": 1.0, "total_steps": 20, "divide_factor": 9, "end_learning_rate": 0.0001,
       "anneal_strategy": "cos", "phase_pct": 0.3, "three_phase": True}, 21),
    P("OneCycleLR[linear, three_phase]", "OneCycleLR",
      {"max_learning_rate": 0.3, "total_steps": 20, "divide_factor": 25, "end_learning_rate": 0.0005,
       "anneal_strategy": "linear", "phase_pct": 0.2, "three_phase": True}, 20),
] + [
    P(f"CyclicLR[{mode}, exp_gamma={g}]", "CyclicLR",
      {"base_learning_rate": 0.5, "max_learning_rate": 1.0, "step_size_up": 15, "step_size_down": 5,
       "mode": mode, "exp_gamma": g, "scale_fn": None, "scale_mode": "cycle"}, 60)
    for mode, g in (("triangular", 1.0), ("triangular2", 1.0), ("exp_range", 0.8))
] + [
    P("CyclicLR[scale_fn, cycle]", "CyclicLR",
      {"base_learning_rate": 0.5, "max_learning_rate": 1.0, "step_size_up": 15, "step_size_down": 5,
       "mode": "exp_range", "exp_gamma": 1.0, "scale_fn": lambda_095, "scale_mode": "cycle"}, 60),
    P("CyclicLR[scale_fn, iterations]", "CyclicLR",
      {"base_learning_rate": 0.5, "max_learning_rate": 1.0, "step_size_up": 15, "step_size_down": 5,
       "mode": "exp_range", "exp_gamma": 1.0, "scale_fn": lambda_const_095, "scale_mode": "iterations"}, 60),
    P("LinearLR (docstring example)", "LinearLR", {"learning_rate": 0.5, "total_steps": 5}, 10),
    P("TestCosineAnnealingWarmRestarts", "CosineAnnealingWarmRestarts",
      {"learning_rate": 0.5, "T_0": 1, "T_mult": 2, "eta_min": 0}, 40),
] + [
    P(f"TestReduceOnPlateauDecay[{m}, {t}]", "ReduceOnPlateau",
      {"learning_rate": 1.0, "mode": m, "factor": 0.5, "patience": 3, "threshold": 1e-4, "threshold_mode": t,
       "cooldown": 1, "min_lr": 0, "epsilon": 1e-8}, metrics=[math.sin(e) for e in range(20)])
    for m, t in (("min", "rel"), ("max", "rel"), ("min", "abs"), ("max", "abs"))
]


@pytest.mark.parametrize("case", TORCH + PADDLE)
def test_upstream_case_matches_the_framework(case):
    assert F.check(case) == ("matched", "")


def test_every_class_has_an_upstream_case():
    assert {c.values[0].cls for c in TORCH} | {"ReduceLROnPlateau"} == set(F.TORCH_CLASSES)
    assert {c.values[0].cls for c in PADDLE} == set(F.PADDLE_CLASSES)
