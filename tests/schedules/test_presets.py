"""Run-relative defaults: every name has one, in relative time, right for short and long runs."""

import pytest

import lrlab
from lrlab.schedules.presets import defaults, preset_names


def test_every_schedule_name_has_a_preset():
    assert set(lrlab.names()) | {"from_torch", "from_paddle"} == set(preset_names())


@pytest.mark.parametrize("name", preset_names())
@pytest.mark.parametrize("total", [1, 2, 3, 7, 40, 1000])
def test_every_preset_gives_a_positive_curve_peaking_at_lr(name, total):
    s = lrlab.from_config({"name": name, **defaults(name, 0.1, total)}).bind(total)
    c = s.curve(total)
    assert c.max() <= 0.1 * (1 + 1e-12) and (c > 0).all()
    if total >= 40:
        assert c.max() >= 0.05


def test_presets_are_written_in_relative_time():
    assert defaults("cosine", 0.2, 50) == {"base_lr": 0.2, "total_steps": "100%"}
    assert defaults("sgdr", 0.1, 100)["step_size"] == "25%"
    assert defaults("multistep", 0.1, 100)["milestones"] == ["50%", "75%"]
    assert defaults("multistep", 0.1, 1)["milestones"] == [1]       # merged on a 1-step run
    assert defaults("piecewise", 0.1, 3) == {"milestones": [2], "values": [0.1, 0.01]}
    s = lrlab.from_config({"name": "step", **defaults("step", 0.1, 10)}).bind(10)
    assert s == lrlab.create("step", base_lr=0.1, step_size=3, gamma=0.1)


def test_noam_and_one_cycle_peak_at_lr():
    for name in ("noam", "one_cycle", "inverse_sqrt", "warmup", "wsd"):
        c = lrlab.from_config({"name": name, **defaults(name, 0.1, 200)}).bind(200).curve(200)
        assert c.max() == pytest.approx(0.1, rel=1e-12), name
