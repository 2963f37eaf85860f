"""Batch order, batches, one update, evaluation: shared by engines, the LR finder and `test`."""

import torch

from lrlab.training.evaluate import batch_order, batches, evaluate, forward, update
from lrlab.training.tasks import Split, Task


def test_batch_order_is_a_permutation_fixed_by_seed_and_epoch():
    a = batch_order(100, 0, 3)
    assert sorted(a.tolist()) == list(range(100)) and torch.equal(a, batch_order(100, 0, 3))
    assert not torch.equal(a, batch_order(100, 0, 4)) and not torch.equal(a, batch_order(100, 1, 3))
    parts = list(batches(100, 30, 0, 3))
    assert [len(p) for p in parts] == [30, 30, 30, 10] and torch.equal(torch.cat(parts), a)


def _toy():
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    y = torch.tensor([0, 1, 1, 0])
    s = Split(x, y)
    return Task("toy", s, s, s, lambda: torch.nn.Linear(2, 2), classes=("a", "b"))


def test_evaluate_gives_mean_loss_and_accuracy_and_keeps_the_mode():
    task = _toy()
    model = torch.nn.Linear(2, 2)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[0.0, 0.0], [0.0, 1.0]]))
        model.bias.zero_()
    model.train()
    loss, acc = evaluate(model, task, task.val)
    out = model(task.val.x)
    assert acc == 1.0 and loss == torch.nn.functional.cross_entropy(out, task.val.y).item()
    assert model.training


def test_update_applies_the_given_lr():
    task = _toy()
    model = torch.nn.Linear(2, 2)
    opt = torch.optim.SGD(model.parameters(), lr=123.0)
    before = model.weight.detach().clone()
    loss, _ = forward(model, task, task.train.x, task.train.y)
    grad = torch.autograd.grad(loss, model.weight, retain_graph=True)[0]
    update(opt, loss, 0.5)
    assert opt.param_groups[0]["lr"] == 0.5
    torch.testing.assert_close(model.weight.detach(), before - 0.5 * grad)


def test_device_names():
    import pytest

    from lrlab.training.evaluate import device

    assert device("cpu") == torch.device("cpu")
    for bad in ("nope", "cuda:x", 3.5):
        with pytest.raises(ValueError, match="device must be"):
            device(bad)


def test_huge_seeds_give_a_batch_order():
    a = batch_order(10, 2**62 - 1, 5)
    assert sorted(a.tolist()) == list(range(10)) and torch.equal(a, batch_order(10, 2**62 - 1, 5))
