"""The tuning search spaces: every declared range gives valid trials at its ends and middle, on
short and long runs; values a config narrows stay within the declared ranges."""

from __future__ import annotations

import numpy as np
import pytest

from lrlab.schedules.spaces import LR_RANGE, SPACES, Dim, space
from lrlab.training.plan import make_plan
from lrlab.training.trial import TrialConfig


@pytest.mark.parametrize("name", sorted(SPACES))
@pytest.mark.parametrize("epochs", [2, 20])
def test_every_range_gives_a_valid_trial_at_its_ends_and_middle(name, epochs):
    dims = space(name)
    for u in (0.0, 0.5, 1.0):
        for lr in (0.05 * LR_RANGE[0], 0.05 * LR_RANGE[1]):
            params = {k: d.param(d.low + u * (d.high - d.low)) for k, d in dims.items()}
            interval = "epoch" if name == "plateau" else "step"
            plan = make_plan(TrialConfig(schedule=name, params=params, lr=lr, epochs=epochs,
                                         interval=interval), n_train=640)
            table = np.asarray(plan.table)
            assert np.isfinite(table).all() and (table >= 0).all()
            if name != "plateau" and name not in ("cyclic",):  # cyclic's floor is lr/10
                assert table.max() <= lr * (1 + 1e-9)


def test_a_dim_is_validated_and_maps_draws_to_parameters():
    assert Dim("percent", 10, 50).param(12.345) == "12.35%"
    assert Dim("int", 1, 5).param(3.0) == 3 and Dim("log", 0.1, 1).param(0.5) == 0.5
    with pytest.raises(ValueError, match="low and high must be numbers with low < high and low > 0"):
        Dim("log", 0, 1)
    with pytest.raises(ValueError, match="kind"):
        Dim("cubic", 0, 1)
    assert Dim("log", 0.05, 0.7).within(0.1, 0.5) == Dim("log", 0.1, 0.5)


def test_aliases_and_unknown_names():
    assert space("StepLR") == space("step") and space("cosine") == {}
    with pytest.raises(ValueError, match="unknown schedule"):
        space("stepp")
