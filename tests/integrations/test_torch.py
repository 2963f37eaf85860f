"""lrlab.integrations.torch: the LR torch actually applies equals the lrlab schedule."""

import io
import math
import subprocess
import sys
import warnings

import pytest

torch = pytest.importorskip("torch")

import lrlab  # noqa: E402
from lrlab.integrations.torch import LRLabScheduler, PlateauScheduler  # noqa: E402

LRScheduler = torch.optim.lr_scheduler.LRScheduler


def warmup_cosine(total=40, warm=5, lr=0.1):
    return lrlab.create("warmup", schedule=lrlab.create("cosine", base_lr=lr, total_steps=total - warm),
                        warmup_steps=warm)


def batch(k):
    g = torch.Generator().manual_seed(1000 + k)
    return torch.randn(8, 3, generator=g), torch.randn(8, 1, generator=g)


def model_and_opt(lrs=(0.1,), opt="sgd"):
    torch.manual_seed(0)
    layers = [torch.nn.Linear(3, 1) for _ in lrs]
    groups = [{"params": m.parameters(), "lr": lr} for m, lr in zip(layers, lrs)]
    if opt == "sgd":
        o = torch.optim.SGD(groups, lr=lrs[0], momentum=0.9)
    else:
        o = torch.optim.Adam(groups, lr=lrs[0])
    return layers, o


def train(layers, opt, sched, steps, start=0):
    """Run ``steps`` real updates; return the lr of every group right before each update."""
    seen = []
    for k in range(start, start + steps):
        x, y = batch(k)
        loss = sum(torch.nn.functional.mse_loss(m(x), y) for m in layers)
        opt.zero_grad()
        loss.backward()
        seen.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    return seen


def plain(obj):
    """True when obj is only ints, floats, strs, bools, None, lists and str-keyed dicts."""
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return True
    if isinstance(obj, list):
        return all(plain(v) for v in obj)
    if isinstance(obj, dict):
        return all(isinstance(k, str) and plain(v) for k, v in obj.items())
    return False


def roundtrip(state):
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


def test_import_lrlab_does_not_import_frameworks():
    code = ("import sys, lrlab, lrlab.integrations; "
            "print([m for m in ('torch', 'paddle', 'keras', 'tensorflow', 'jax') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_is_a_genuine_lr_scheduler():
    _, opt = model_and_opt()
    sched = LRLabScheduler(opt, warmup_cosine())
    assert isinstance(sched, LRScheduler)
    assert isinstance(PlateauScheduler(opt, lrlab.Plateau(0.1)), LRScheduler)
    # what Lightning's configure_optimizers hands back
    config = {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
    assert isinstance(config["lr_scheduler"]["scheduler"], LRScheduler)


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_applied_lr_equals_schedule_at_every_step(opt):
    s = warmup_cosine()
    layers, o = model_and_opt(opt=opt)
    sched = LRLabScheduler(o, s)
    seen = train(layers, o, sched, 40)
    assert [lr for (lr,) in seen] == s.curve(40).tolist()
    assert sched.get_last_lr() == [s(40)]
    assert sched.last_epoch == 40


def test_sgd_update_uses_the_schedule_lr():
    s = lrlab.create("step", base_lr=0.5, step_size=2, gamma=0.1)
    w = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    o = torch.optim.SGD([w], lr=123.0)  # overwritten by the scheduler
    sched = LRLabScheduler(o, s)
    for k in range(6):
        before = w.detach().clone()
        w.grad = torch.ones(1, dtype=torch.float64)
        o.step()
        sched.step()
        assert (before - w.detach()).item() == pytest.approx(s(k), rel=1e-12)


def test_groups_keep_their_ratio_to_group_zero():
    s = warmup_cosine(lr=0.2)
    base = (1.0, 0.1, 0.03)
    layers, o = model_and_opt(base)
    sched = LRLabScheduler(o, s)
    seen = train(layers, o, sched, 40)
    for k, lrs in enumerate(seen):
        assert lrs[0] == s(k)  # exact
        assert lrs[1:] == [s(k) * (b / base[0]) for b in base[1:]]
        assert lrs[1] == pytest.approx(s(k) * 0.1, rel=1e-12)
    assert sched.base_lrs == list(base)


def test_one_schedule_per_group():
    ss = [warmup_cosine(lr=0.1), lrlab.create("step", base_lr=0.01, step_size=3, gamma=0.5),
          lrlab.create("constant", base_lr=0.003)]
    layers, o = model_and_opt((1.0, 1.0, 1.0))
    sched = LRLabScheduler(o, ss)
    seen = train(layers, o, sched, 25)
    for g, s in enumerate(ss):
        assert [lrs[g] for lrs in seen] == s.curve(25).tolist()
    assert sched.state_dict()["schedule"] == [s.to_config() for s in ss]


def test_bad_arguments():
    _, o = model_and_opt((0.1, 0.1))
    with pytest.raises(ValueError, match="2 param groups"):
        LRLabScheduler(o, [warmup_cosine()])
    with pytest.raises(TypeError, match="lrlab Schedule"):
        LRLabScheduler(o, lambda k: 0.1)
    with pytest.raises(TypeError, match="Optimizer"):
        LRLabScheduler(object(), warmup_cosine())
    with pytest.raises(ValueError, match="bind"):
        LRLabScheduler(o, lrlab.create("cosine", base_lr=0.1, total_steps="50%"))
    _, o = model_and_opt((0.0, 0.1))
    with pytest.raises(ValueError, match="group 0"):
        LRLabScheduler(o, warmup_cosine())


def test_relative_schedule_once_bound():
    s = lrlab.create("cosine", base_lr=0.1, total_steps="50%").bind(20)
    layers, o = model_and_opt()
    seen = train(layers, o, LRLabScheduler(o, s), 20)
    assert [lr for (lr,) in seen] == s.curve(20).tolist()


def test_step_with_epoch_uses_the_closed_form():
    s = warmup_cosine()
    _, o = model_and_opt((0.1, 0.05))
    sched = LRLabScheduler(o, s)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sched.step(17)
    assert [g["lr"] for g in o.param_groups] == [s(17), s(17) * 0.5]
    assert sched._get_closed_form_lr() == sched.get_lr() == [s(17), s(17) * 0.5]


@pytest.mark.filterwarnings("ignore:Detected call of")
def test_get_lr_is_pure():
    s = warmup_cosine()
    _, o = model_and_opt()
    sched = LRLabScheduler(o, s)
    for _ in range(3):
        sched.step()
    o.param_groups[0]["lr"] = 99.0  # someone tampers with the group lr
    sched.step()
    assert o.param_groups[0]["lr"] == s(4)


def test_state_dict_is_plain_and_survives_weights_only_load():
    s = warmup_cosine()
    layers, o = model_and_opt((0.1, 0.02))
    sched = LRLabScheduler(o, s)
    train(layers, o, sched, 7)
    state = sched.state_dict()
    assert plain(state)
    assert state["schedule"] == s.to_config()
    assert state["last_epoch"] == 7
    assert roundtrip(state) == state


@pytest.mark.parametrize("with_optimizer_state", [True, False])
def test_resume_continues_exactly(with_optimizer_state):
    s, base, k, n = warmup_cosine(), (0.1, 0.02), 7, 30
    layers, o = model_and_opt(base)
    full = train(layers, o, LRLabScheduler(o, s), n)
    full_params = [p.detach().clone() for m in layers for p in m.parameters()]

    layers, o = model_and_opt(base)
    sched = LRLabScheduler(o, s)
    first = train(layers, o, sched, k)
    ckpt = roundtrip({"model": [m.state_dict() for m in layers], "opt": o.state_dict(),
                      "sched": sched.state_dict()})

    layers, o = model_and_opt(base)
    sched = LRLabScheduler(o, s)
    for m, sd in zip(layers, ckpt["model"]):
        m.load_state_dict(sd)
    if with_optimizer_state:
        o.load_state_dict(ckpt["opt"])
    sched.load_state_dict(ckpt["sched"])
    assert [g["lr"] for g in o.param_groups] == full[k]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no step-order warning after resuming
        rest = train(layers, o, sched, n - k, start=k)
    assert first + rest == full
    if with_optimizer_state:  # momentum restored too: bit-identical weights
        assert all(torch.equal(a, p) for a, p in zip(full_params, (p for m in layers for p in m.parameters())))


def test_load_with_a_different_schedule_raises():
    _, o = model_and_opt()
    state = LRLabScheduler(o, warmup_cosine(total=40)).state_dict()
    _, o = model_and_opt()
    other = LRLabScheduler(o, warmup_cosine(total=41))
    with pytest.raises(ValueError, match="saved with schedule"):
        other.load_state_dict(state)
    _, o = model_and_opt((0.1, 0.1))
    with pytest.raises(ValueError, match="saved with schedule"):
        LRLabScheduler(o, [warmup_cosine(), warmup_cosine()]).load_state_dict(state)


def test_lambda_schedule_is_not_evaluated_ahead():
    calls = []

    def fn(k):
        calls.append(k)
        return 0.5 ** k

    s = lrlab.create("lambda", base_lr=0.1, fn=fn)
    layers, o = model_and_opt()
    sched = LRLabScheduler(o, s)
    seen = train(layers, o, sched, 5)
    assert [lr for (lr,) in seen] == [0.1 * 0.5 ** k for k in range(5)]
    assert max(calls) == 5
    state = sched.state_dict()
    assert state["schedule"] is None and plain(state)
    _, o = model_and_opt()
    again = LRLabScheduler(o, s)
    again.load_state_dict(roundtrip(state))
    assert o.param_groups[0]["lr"] == s(5)


def test_tensor_lr_groups():
    s = warmup_cosine()
    w = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    o = torch.optim.Adam([w], lr=torch.tensor(0.1, dtype=torch.float64))
    sched = LRLabScheduler(o, s)
    for k in range(10):
        assert isinstance(o.param_groups[0]["lr"], torch.Tensor)
        assert o.param_groups[0]["lr"].item() == s(k)
        w.grad = torch.ones(2, dtype=torch.float64)
        o.step()
        sched.step()
    assert plain(sched.state_dict())


# ---- plateau ------------------------------------------------------------------------------
METRICS = [5.0, 4.0, 4.0, 4.0, 4.0, 3.0, 3.5, 3.5, 3.5, 3.5, 3.5, 3.5, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0]


def make_plateau():
    return lrlab.Plateau(0.1, patience=1, factor=0.5, cooldown=1, min_lr=0.01)


def test_plateau_reduces_exactly_like_a_bare_plateau():
    bare = make_plateau()
    expected = [bare.step(m) for m in METRICS]
    assert len(set(expected)) > 2  # it does reduce, and hits min_lr
    layers, o = model_and_opt((1.0, 0.1))
    sched = PlateauScheduler(o, make_plateau())
    assert isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau)
    assert [g["lr"] for g in o.param_groups] == [0.1, 0.1 * 0.1]
    got = []
    for m in METRICS:
        sched.step(torch.tensor(m))
        got.append([g["lr"] for g in o.param_groups])
    assert [lrs[0] for lrs in got] == expected
    assert [lrs[1] for lrs in got] == [lr * 0.1 for lr in expected]
    assert sched.get_last_lr() == got[-1]
    assert sched.best == bare.best and sched.num_bad_epochs == bare.num_bad_epochs
    assert sched.last_epoch == len(METRICS)


def test_plateau_resume_continues_exactly():
    k = 7
    layers, o = model_and_opt((1.0, 0.1))
    full = PlateauScheduler(o, make_plateau())
    full_lrs = []
    for m in METRICS:
        full.step(m)
        full_lrs.append([g["lr"] for g in o.param_groups])

    _, o = model_and_opt((1.0, 0.1))
    sched = PlateauScheduler(o, make_plateau())
    for m in METRICS[:k]:
        sched.step(m)
    state = sched.state_dict()
    assert plain(state) and state["plateau"] == make_plateau().to_config()
    state = roundtrip(state)

    _, o = model_and_opt((1.0, 0.1))
    resumed = PlateauScheduler(o, make_plateau())
    resumed.load_state_dict(state)
    assert [g["lr"] for g in o.param_groups] == full_lrs[k - 1]
    rest = []
    for m in METRICS[k:]:
        resumed.step(m)
        rest.append([g["lr"] for g in o.param_groups])
    assert rest == full_lrs[k:]
    assert resumed.plateau.state_dict() == full.plateau.state_dict()


def test_plateau_mismatch_and_bad_arguments():
    _, o = model_and_opt()
    state = PlateauScheduler(o, make_plateau()).state_dict()
    other = PlateauScheduler(o, lrlab.Plateau(0.1, patience=2))
    with pytest.raises(ValueError, match="saved with plateau"):
        other.load_state_dict(state)
    with pytest.raises(TypeError, match="lrlab.Plateau"):
        PlateauScheduler(o, warmup_cosine())


def test_plateau_min_mode_inf_best_survives_weights_only_load():
    _, o = model_and_opt()
    state = roundtrip(PlateauScheduler(o, lrlab.Plateau(0.1)).state_dict())
    assert math.isinf(state["plateau_state"]["best"])
