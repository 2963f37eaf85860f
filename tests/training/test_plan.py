"""Plans: the concrete schedule of a trial, its LR table checked up front, the policy it gets."""

import math

import pytest

import lrlab
from lrlab.training.plan import make_plan, schedule_for
from lrlab.training.policy import PlateauLR, ScheduledLR
from lrlab.training.trial import PLATEAU, TrialConfig


def test_defaults_are_relative_to_the_run_and_params_override():
    assert schedule_for(TrialConfig(schedule="cosine", lr=0.2), 50) == lrlab.create("cosine", base_lr=0.2, total_steps=50)
    s = schedule_for(TrialConfig(schedule="step", lr=0.1, params={"step_size": 3}), 10)
    assert s == lrlab.create("step", base_lr=0.1, step_size=3, gamma=0.1)
    assert schedule_for(TrialConfig(schedule="one_cycle", lr=0.3), 100).max_lr == 0.3


def test_warmup_wraps_the_schedule_which_fills_the_rest():
    s = schedule_for(TrialConfig(schedule="cosine", lr=0.1, warmup="10%"), 100)
    assert s == lrlab.create("warmup", schedule=lrlab.create("cosine", base_lr=0.1, total_steps=90), warmup_steps=10)
    with pytest.raises(ValueError, match=r"cosine-warmup100-seed0: warmup \(100\) must be shorter than the run \(100 steps\)"):
        schedule_for(TrialConfig(schedule="cosine", warmup=100), 100)


@pytest.mark.parametrize("name", lrlab.names() + ["from_torch", "from_paddle"])
@pytest.mark.parametrize("epochs", [1, 2, 3, 40])
def test_every_schedule_name_plans_out_of_the_box(name, epochs):
    plan = make_plan(TrialConfig(schedule=name, lr=0.1, epochs=epochs), n_train=100)
    steps = epochs * (2 if plan.cfg.interval == "step" else 1)
    assert len(plan.table) == steps and max(plan.table) <= 0.1 + 1e-12 and min(plan.table) > 0


def test_the_table_is_the_schedules_curve_per_interval():
    plan = make_plan(TrialConfig(schedule="one_cycle", lr=0.1, epochs=3, batch_size=10), n_train=95)
    assert plan.steps_per_epoch == 10 and plan.total_steps == 30
    assert plan.table == tuple(plan.schedule.curve(30).tolist())
    p = plan.policy()
    assert isinstance(p, ScheduledLR) and p.lr(epoch=1, step=17) == plan.schedule(17)
    per_epoch = make_plan(TrialConfig(schedule="step", lr=0.1, epochs=3), n_train=95)
    ep = per_epoch.policy()
    assert [ep.lr(e, 99) for e in range(3)] == per_epoch.schedule.curve(3).tolist()


def test_a_non_finite_table_is_refused_up_front_naming_the_trial_and_the_step():
    cfg = TrialConfig(schedule="lambda", params={"fn": lambda k: math.inf if k == 7 else 1.0},
                      epochs=10, name="bad")
    with pytest.raises(ValueError, match=r"^bad: lambda: fn returned inf at step 7"):
        make_plan(cfg, n_train=100)


def test_val_acc_needs_a_classification_task():
    cfg = TrialConfig(early_stop={"monitor": "val_acc"}, name="r")
    with pytest.raises(ValueError, match="r: monitor=val_acc needs a classification task"):
        make_plan(cfg, 100, "regression")
    make_plan(cfg, 100, "classification")


def test_plateau_plans_a_warmup_table_then_the_plateau():
    plan = make_plan(TrialConfig(schedule=PLATEAU, lr=0.1, epochs=10, warmup=3), n_train=100)
    assert plan.schedule is None
    w = lrlab.create("warmup", schedule=0.1, warmup_steps=3).curve(3)
    assert plan.table == tuple(w.tolist())
    assert isinstance(plan.policy(), PlateauLR) and plan.policy() is not plan.policy()
    assert make_plan(TrialConfig(schedule=PLATEAU, epochs=3), 100).table == ()
