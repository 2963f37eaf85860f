"""The seeded differential fuzz (``fuzz_compat.py``) on a few hundred cases: every torch and
Paddle class against the real framework, step by step. ``bench/fuzz_compat.py`` runs more."""

import pytest

pytest.importorskip("torch")
pytest.importorskip("paddle")


import fuzz_compat as fuzz  # noqa: E402  (made importable by conftest.py)
PER_CLASS = 12


def test_every_class_of_both_frameworks_is_fuzzed():
    from paddle.optimizer import lr as plr
    from torch.optim import lr_scheduler as TL

    assert set(fuzz.TORCH_CLASSES) == set(TL.__all__) - {"LRScheduler"}
    assert set(fuzz.PADDLE_CLASSES) == set(plr.__all__) - {"LRScheduler"}


def test_fuzz_is_seeded():
    assert [repr(c) for c in fuzz.cases(40, seed=3)] == [repr(c) for c in fuzz.cases(40, seed=3)]
    assert [repr(c) for c in fuzz.cases(40, seed=3)] != [repr(c) for c in fuzz.cases(40, seed=4)]


def test_fuzz_matches_torch_and_paddle():
    classes = len(fuzz.TORCH_CLASSES) + len(fuzz.PADDLE_CLASSES)
    report = fuzz.run(PER_CLASS * classes, seed=0)
    assert not report.mismatches, "\n".join(f"{c!r}: {d}" for c, d in report.mismatches)
    assert report.counts["matched"] >= 0.9 * report.total
    assert report.failing_steps > 0  # the edges are drawn: framework errors at some step


@pytest.mark.parametrize("case, category", [
    (fuzz.Case("torch", "CosineAnnealingLR", {"T_max": 2.5}, 20), "refused: user error"),
    (fuzz.Case("paddle", "StepDecay", {"learning_rate": 0.1, "step_size": 2.5}, 20), "both refuse"),
    (fuzz.Case("torch", "PolynomialLR", {"total_iters": 3, "power": -1.0}, 20), "refused: framework fails"),
    (fuzz.Case("torch", "StepLR", {"step_size": 50, "gamma": -0.5}, 20), "refused: framework fails"),
    (fuzz.Case("torch", "ConstantLR", {"factor": 0.0, "total_iters": 5}, 20), "matched"),  # both raise at 5
    (fuzz.Case("torch", "ChainedScheduler", {"schedulers": [
        fuzz.Sub("OneCycleLR", {"max_lr": 1.0, "total_steps": 8, "anneal_strategy": "linear"}),
        fuzz.Sub("CosineAnnealingLR", {"T_max": 38})]}, 9), "matched"),  # both < 0 at step 8
    (fuzz.Case("torch", "MultiStepLR", {"milestones": [2.5]}, 20), "mismatch"),  # not registered
    (fuzz.Case("torch", "OneCycleLR", {"max_lr": 1.0, "total_steps": 10.0}, 11), "both refuse"),
    (fuzz.Case("paddle", "PiecewiseDecay", {"boundaries": [10, 5], "values": [0.3, 0.2, 0.1]}, 20),
     "refused: user error"),
    (fuzz.Case("torch", "CosineAnnealingLR", {"T_max": 7, "eta_min": 0.05}, 40, lr=0.0), "matched"),
])
def test_the_classification_itself(case, category):
    assert fuzz.check(case)[0] == category
