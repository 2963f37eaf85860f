"""lrlab.integrations.paddle: the LR a paddle optimizer applies equals the lrlab schedule."""

import numpy as np
import pytest

paddle = pytest.importorskip("paddle")

import lrlab  # noqa: E402
from lrlab.integrations.paddle import LRLabScheduler, PlateauScheduler  # noqa: E402


def warmup_cosine(total=30, warm=4, lr=0.1):
    return lrlab.create("warmup", schedule=lrlab.create("cosine", base_lr=lr, total_steps=total - warm),
                        warmup_steps=warm)


def batch(k):
    rng = np.random.default_rng(1000 + k)
    return (paddle.to_tensor(rng.standard_normal((8, 3)).astype("float32")),
            paddle.to_tensor(rng.standard_normal((8, 1)).astype("float32")))


def setup(schedule, momentum=True):
    paddle.seed(0)
    sched = LRLabScheduler(schedule)
    model = paddle.nn.Linear(3, 1)
    if momentum:
        opt = paddle.optimizer.Momentum(learning_rate=sched, momentum=0.9, parameters=model.parameters())
    else:
        opt = paddle.optimizer.SGD(learning_rate=sched, parameters=model.parameters())
    return model, opt, sched


def train(model, opt, sched, steps, start=0):
    seen = []
    for k in range(start, start + steps):
        x, y = batch(k)
        loss = paddle.nn.functional.mse_loss(model(x), y)
        loss.backward()
        seen.append(opt.get_lr())
        opt.step()
        opt.clear_grad()
        sched.step()
    return seen


def test_is_a_paddle_lr_scheduler():
    assert isinstance(LRLabScheduler(warmup_cosine()), paddle.optimizer.lr.LRScheduler)
    assert isinstance(PlateauScheduler(lrlab.Plateau(0.1)), paddle.optimizer.lr.LRScheduler)


def test_applied_lr_equals_schedule_at_every_step():
    s = warmup_cosine()
    model, opt, sched = setup(s)
    seen = train(model, opt, sched, 30)
    assert seen == s.curve(30).tolist()
    assert sched.last_lr == s(30) and sched() == s(30) and sched.last_epoch == 30


def test_last_lr_after_k_steps():
    s = warmup_cosine()
    sched = LRLabScheduler(s)
    for k in range(40):
        assert sched.last_lr == s(k)
        sched.step()


def test_sgd_update_uses_the_schedule_lr():
    s = lrlab.create("step", base_lr=0.5, step_size=2, gamma=0.1)
    model, opt, sched = setup(s, momentum=False)
    for k in range(6):
        before = model.weight.numpy().copy()
        x, y = batch(k)
        paddle.nn.functional.mse_loss(model(x), y).backward()
        grad = model.weight.grad.numpy().copy()
        opt.step()
        opt.clear_grad()
        sched.step()
        np.testing.assert_allclose(before - model.weight.numpy(), s(k) * grad, rtol=1e-5, atol=1e-7)


def test_param_group_factors_scale_the_schedule():
    s = lrlab.create("step", base_lr=0.5, step_size=2, gamma=0.1)
    paddle.seed(0)
    a, b = paddle.nn.Linear(3, 1), paddle.nn.Linear(3, 1)
    sched = LRLabScheduler(s)
    opt = paddle.optimizer.SGD(learning_rate=sched, parameters=[
        {"params": a.parameters()}, {"params": b.parameters(), "learning_rate": 0.1}])
    for k in range(4):
        wa, wb = a.weight.numpy().copy(), b.weight.numpy().copy()
        x, y = batch(k)
        (paddle.nn.functional.mse_loss(a(x), y) + paddle.nn.functional.mse_loss(b(x), y)).backward()
        ga, gb = a.weight.grad.numpy().copy(), b.weight.grad.numpy().copy()
        opt.step()
        opt.clear_grad()
        sched.step()
        np.testing.assert_allclose(wa - a.weight.numpy(), s(k) * ga, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(wb - b.weight.numpy(), 0.1 * s(k) * gb, rtol=1e-5, atol=1e-7)


def test_step_with_epoch_and_bad_arguments():
    s = warmup_cosine()
    sched = LRLabScheduler(s)
    sched.step(17)
    assert sched.last_lr == s(17) and sched.last_epoch == 17
    with pytest.raises(TypeError, match="lrlab Schedule"):
        LRLabScheduler(lambda k: 0.1)
    with pytest.raises(ValueError, match="bind"):
        LRLabScheduler(lrlab.create("cosine", base_lr=0.1, total_steps="50%"))


def test_resume_continues_exactly(tmp_path):
    s, k, n = warmup_cosine(), 7, 25
    guard = paddle.utils.unique_name.guard  # same parameter and accumulator names in each run
    with guard():
        model, opt, sched = setup(s)
        full = train(model, opt, sched, n)
        full_w = model.weight.numpy().copy()

    with guard():
        model, opt, sched = setup(s)
        first = train(model, opt, sched, k)
        state = sched.state_dict()
        assert state == {"last_epoch": k, "last_lr": s(k), "schedule": s.to_config()}
        assert opt.state_dict()["LR_Scheduler"] == state
        paddle.save(model.state_dict(), str(tmp_path / "m.pdparams"))
        paddle.save(opt.state_dict(), str(tmp_path / "o.pdopt"))

    with guard():
        model, opt, sched = setup(s)
        model.set_state_dict(paddle.load(str(tmp_path / "m.pdparams")))
        opt.set_state_dict(paddle.load(str(tmp_path / "o.pdopt")))  # restores the scheduler too
        assert sched.last_epoch == k and opt.get_lr() == s(k)
        rest = train(model, opt, sched, n - k, start=k)
    assert first + rest == full
    np.testing.assert_array_equal(model.weight.numpy(), full_w)


def test_load_with_a_different_schedule_raises():
    state = LRLabScheduler(warmup_cosine(total=30)).state_dict()
    with pytest.raises(ValueError, match="saved with schedule"):
        LRLabScheduler(warmup_cosine(total=31)).set_state_dict(state)


def test_lambda_schedule_state():
    s = lrlab.create("lambda", base_lr=0.1, fn=lambda k: 0.5 ** k)
    sched = LRLabScheduler(s)
    for _ in range(3):
        sched.step()
    state = sched.state_dict()
    assert state["schedule"] is None
    again = LRLabScheduler(s)
    again.set_state_dict(state)
    assert again.last_lr == s(3) == 0.1 * 0.125


# ---- plateau ------------------------------------------------------------------------------
METRICS = [5.0, 4.0, 4.0, 4.0, 4.0, 3.0, 3.5, 3.5, 3.5, 3.5, 3.5, 3.5, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0]


def make_plateau(semantics="torch"):
    return lrlab.Plateau(0.1, patience=1, factor=0.5, cooldown=1, min_lr=0.01, semantics=semantics)


@pytest.mark.parametrize("semantics", ["torch", "paddle"])
def test_plateau_reduces_exactly_like_a_bare_plateau(semantics):
    bare = make_plateau(semantics)
    expected = [bare.step(m) for m in METRICS]
    assert len(set(expected)) > 2
    sched = PlateauScheduler(make_plateau(semantics))
    opt = paddle.optimizer.SGD(learning_rate=sched, parameters=paddle.nn.Linear(3, 1).parameters())
    assert opt.get_lr() == 0.1
    got = []
    for m in METRICS:
        sched.step(paddle.to_tensor(m))
        got.append(opt.get_lr())
    assert got == expected
    assert sched.last_epoch == len(METRICS)


def test_plateau_resume_continues_exactly(tmp_path):
    k = 7
    full = PlateauScheduler(make_plateau())
    full_lrs = []
    for m in METRICS:
        full.step(m)
        full_lrs.append(full())

    sched = PlateauScheduler(make_plateau())
    opt = paddle.optimizer.SGD(learning_rate=sched, parameters=paddle.nn.Linear(3, 1).parameters())
    for m in METRICS[:k]:
        sched.step(m)
    paddle.save(opt.state_dict(), str(tmp_path / "o.pdopt"))

    resumed = PlateauScheduler(make_plateau())
    opt = paddle.optimizer.SGD(learning_rate=resumed, parameters=paddle.nn.Linear(3, 1).parameters())
    opt.set_state_dict(paddle.load(str(tmp_path / "o.pdopt")))
    assert opt.get_lr() == full_lrs[k - 1]
    rest = []
    for m in METRICS[k:]:
        resumed.step(m)
        rest.append(opt.get_lr())
    assert rest == full_lrs[k:]
    assert resumed.plateau.state_dict() == full.plateau.state_dict()


def test_plateau_mismatch_raises():
    state = PlateauScheduler(make_plateau()).state_dict()
    with pytest.raises(ValueError, match="saved with plateau"):
        PlateauScheduler(lrlab.Plateau(0.1, patience=2)).set_state_dict(state)
    with pytest.raises(TypeError, match="lrlab.Plateau"):
        PlateauScheduler(warmup_cosine())
