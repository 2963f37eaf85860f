"""Run-relative defaults: every name has one, in relative time, right for short and long runs;
the named sets (paddle, torch, modern, all) build at any budget and are plain JSON data."""

import json

import numpy as np
import pytest

import lrlab
from lrlab.schedules.presets import PRESETS, Entry, defaults, preset, preset_names
from lrlab.training.plan import make_plan
from lrlab.training.trial import TrialConfig


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


# ---- named sets: paddle, torch, modern, all ----------------------------------------------------

LR = 0.05
SIZES = {"paddle": 15, "torch": 15, "modern": 7}
BELOW_PEAK = {"ChainedScheduler"}  # a product: the cosine has begun when the warmup ends
# ramps a run of that many steps cannot finish (they end below lr)
SHORT = {1: {"LinearWarmup", "CLR", "CLR / CyclicLR", "CyclicLR", "ConstantLR", "LambdaLR",
             "SequentialLR", "ChainedScheduler", "OneCycleLR", "OneCycle",
             "OneCycleLR / OneCycle", "WarmupCosine"},
         3: {"OneCycleLR", "OneCycle", "OneCycleLR / OneCycle", "ChainedScheduler"}}


def _table(entry: Entry, budget: int) -> np.ndarray:
    cfg = TrialConfig(**entry.trial_args(), epochs=budget, batch_size=8)
    plan = make_plan(cfg, n_train=8)  # one step per epoch: `budget` schedule steps either way
    assert plan.total_steps == budget
    return np.array(plan.table)


def _entries():
    return [(name, e) for name in PRESETS for e in preset(name, LR)]


def test_preset_names_and_sizes():
    assert list(PRESETS) == ["paddle", "torch", "modern", "all"]
    for name, n in SIZES.items():
        entries = preset(name)
        assert len(entries) == n, name
        assert len({e.label for e in entries}) == n, name
        args = [json.dumps(e.trial_args(), sort_keys=True) for e in entries]
        assert len(set(args)) == n, f"{name}: two entries make the same trial"


def test_paddle_is_the_source_experiment():
    labels = [e.label for e in preset("paddle")]
    assert labels == ["CosineAnnealingDecay", "ExponentialDecay", "InverseTimeDecay", "LambdaDecay",
                      "LinearWarmup", "MultiStepDecay", "NaturalExpDecay", "NoamDecay",
                      "PiecewiseDecay", "PolynomialDecay", "ReduceOnPlateau", "StepDecay", "CLR",
                      "Adjust_lr", "Constant"]
    by = {e.label: e for e in preset("paddle")}
    assert by["ReduceOnPlateau"].schedule == "plateau"
    assert by["CLR"].schedule == "cyclic" and by["CLR"].interval == "step"
    assert {e.interval for e in preset("paddle") if e.label != "CLR"} == {"epoch"}


def test_torch_covers_every_scheduler():
    assert {e.label for e in preset("torch")} == {
        "StepLR", "MultiStepLR", "ConstantLR", "LinearLR", "ExponentialLR", "PolynomialLR",
        "CosineAnnealingLR", "CosineAnnealingWarmRestarts", "CyclicLR", "OneCycleLR", "LambdaLR",
        "MultiplicativeLR", "SequentialLR", "ChainedScheduler", "ReduceLROnPlateau"}
    by = {e.label: e.schedule for e in preset("torch")}
    assert (by["SequentialLR"], by["ChainedScheduler"], by["CosineAnnealingWarmRestarts"]) == (
        "join", "chain", "cosine_restarts")


def test_modern():
    by = {e.label: (e.schedule, e.interval) for e in preset("modern")}
    assert by == {"OneCycle": ("one_cycle", "step"), "WarmupCosine": ("warmup", "step"),
                  "WSD": ("wsd", "step"), "SGDR": ("cosine_restarts", "step"),
                  "LinearDecay": ("linear", "step"), "InverseSqrt": ("inverse_sqrt", "step"),
                  "Constant": ("constant", "epoch")}


def test_all_is_the_deduplicated_union():
    union = preset("paddle") + preset("torch") + preset("modern")
    merged = preset("all")
    key = lambda e: json.dumps(e.trial_args(), sort_keys=True)  # noqa: E731
    assert [key(e) for e in merged] == list(dict.fromkeys(key(e) for e in union))
    labels = {key(e): e.label.split(" / ") for e in merged}
    for e in union:  # every label of the union is kept, once, on its trial
        assert e.label in labels[key(e)]
    assert sum(len(v) for v in labels.values()) == len({(e.label, key(e)) for e in union})
    assert len({e.label for e in merged}) == len(merged) == 29
    by = {e.label: e for e in merged}
    assert "StepDecay / StepLR" in by and "LambdaDecay / MultiplicativeLR" in by
    assert "Constant" in by and "OneCycleLR / OneCycle" in by  # paddle's and modern's baseline once


@pytest.mark.parametrize("name,entry", _entries(),
                         ids=lambda x: x if isinstance(x, str) else x.label)
@pytest.mark.parametrize("budget", [1, 3, 20, 200])
def test_every_entry_builds_and_peaks_at_lr(name, entry, budget):
    t = _table(entry, budget)
    if entry.schedule == "plateau":
        assert len(t) == 0  # no warmup: the plateau starts at lr and only goes down
        cfg = TrialConfig(**entry.trial_args())
        assert cfg.plateau().lr == LR
        return
    assert len(t) == budget and np.isfinite(t).all() and (t > 0).all()
    assert t.max() <= LR * (1 + 1e-12)
    if entry.label in BELOW_PEAK:
        assert t.max() >= (0.99 * LR if budget >= 20 else LR / 3)
    elif entry.label not in SHORT.get(budget, ()):
        assert t.max() == pytest.approx(LR, rel=1e-12)


def test_chained_scheduler_peak_is_documented():
    e = {x.label: x for x in preset("torch")}["ChainedScheduler"]
    for budget, w in [(20, 1), (200, 10)]:
        peak = LR * (1 + np.cos(np.pi * w / budget)) / 2
        assert _table(e, budget).max() == pytest.approx(peak, rel=1e-12)


@pytest.mark.parametrize("name", list(PRESETS))
def test_entries_are_json_round_trippable(name):
    for e in preset(name, lr=0.1):
        back = json.loads(json.dumps(e.to_dict()))
        assert Entry.from_dict(back) == e
        cfg = TrialConfig(**e.trial_args(), epochs=5, seed=1)
        assert TrialConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
        assert TrialConfig(**Entry.from_dict(back).trial_args(), epochs=5, seed=1) == cfg


def test_trial_args_are_a_fresh_copy():
    e = {x.label: x for x in preset("torch")}["SequentialLR"]
    e.trial_args()["params"]["schedules"][0]["start_factor"] = 0.9
    assert e.params["schedules"][0]["start_factor"] == pytest.approx(1 / 3)


def test_reference_lr_scales_every_entry():
    for e in preset("all", lr=0.2):
        assert e.lr == 0.2
        t = _table(e, 20)
        if e.schedule != "plateau" and e.label != "ChainedScheduler":
            assert t.max() == pytest.approx(0.2, rel=1e-12), e.label


def test_exact_values_at_boundaries():
    by = {e.label: e for e in preset("all", LR)}
    assert _table(by["Adjust_lr"], 20)[:6] == pytest.approx(
        LR * np.array([1, 1, 0.95, 0.95, 0.9025, 0.9025]), rel=1e-12)
    assert _table(by["Adjust_lr"], 200)[:6] == pytest.approx(  # absolute: any budget
        LR * np.array([1, 1, 0.95, 0.95, 0.9025, 0.9025]), rel=1e-12)
    assert _table(by["LambdaDecay / MultiplicativeLR"], 50)[:4] == pytest.approx(
        LR * 0.95 ** np.arange(4), rel=1e-12)
    lo = LR / 6  # CLR over 16 steps: half cycle 2 steps (12.5 %), lr/6 .. lr, per step
    assert _table(by["CLR / CyclicLR"], 16)[:6] == pytest.approx(
        [lo, (lo + LR) / 2, LR, (lo + LR) / 2, lo, (lo + LR) / 2], rel=1e-12)
    assert _table(by["ConstantLR"], 20)[:3] == pytest.approx([LR / 3, LR, LR], rel=1e-12)
    steps = _table(by["StepDecay / StepLR"], 10)  # x0.1 every 30 % of 10 epochs: 3
    assert steps == pytest.approx(LR * np.array([1, 1, 1, .1, .1, .1, .01, .01, .01, .001]),
                                  rel=1e-12)


def test_unknown_preset_suggests():
    with pytest.raises(ValueError, match=r"unknown preset 'padle'; did you mean paddle\?"):
        preset("padle")
    with pytest.raises(ValueError, match="known: paddle, torch, modern, all"):
        preset("xyz")
    with pytest.raises(ValueError, match="lr"):
        preset("paddle", lr=0)
    assert [e.label for e in preset(" Torch ")] == [e.label for e in preset("torch")]


# ---- the rule of the presets (schedules/presets.py, top) ------------------------------------------
SAME_FAMILY = {("ExponentialDecay", "NaturalExpDecay")}  # kept both: the source ran both


@pytest.mark.parametrize("name", ["paddle", "torch", "modern"])
def test_no_decay_loses_half_its_lr_in_the_first_tenth_of_the_run(name):
    for entry in preset(name, LR):
        cfg = TrialConfig(**entry.trial_args(), epochs=20)
        t = np.array(make_plan(cfg, n_train=1347).table)
        if len(t) == 0:
            continue  # the plateau: no table
        peak = int(np.argmax(t))
        if not np.all(np.diff(t[peak:]) <= 1e-15):
            continue  # not a decay after its peak: a cycle (CLR, SGDR)
        tenth = peak + len(t) // 10  # 10 % of the run after the peak (warmups ramp first)
        assert t[min(tenth, len(t) - 1)] >= 0.5 * t.max(), entry.label


@pytest.mark.parametrize("name", ["paddle", "torch", "modern"])
def test_entries_with_the_same_lr_table_are_only_the_documented_family(name):
    tables = {}
    for entry in preset(name, LR):
        cfg = TrialConfig(**entry.trial_args(), epochs=20)
        t = np.array(make_plan(cfg, n_train=1347).table)
        for other, u in tables.items():
            if len(t) and len(t) == len(u) and np.allclose(t, u, rtol=1e-9, atol=0):
                assert (other, entry.label) in SAME_FAMILY
        tables[entry.label] = t


@pytest.mark.parametrize("name", ["paddle", "torch", "modern"])
def test_the_documented_table_is_what_the_entries_run(name):
    import lrlab.schedules.presets as presets

    doc = presets.__doc__
    for entry in preset(name, LR):
        if entry.schedule == "plateau":
            continue
        cfg = TrialConfig(**entry.trial_args(), epochs=20)
        resolved = make_plan(cfg, n_train=1347).resolved
        per_step = ", per step" if cfg.interval == "step" else ""
        assert f"| {entry.label} | {resolved}{per_step} |" in doc, (entry.label, resolved)


def test_inverse_time_ends_at_a_tenth_and_keeps_half_at_a_tenth_of_the_run():
    s = lrlab.from_config({"name": "inverse_time", **defaults("inverse_time", 1.0, 100)}).bind(100)
    assert s(100) == pytest.approx(0.1) and s(10) == pytest.approx(0.5, rel=0.06)
