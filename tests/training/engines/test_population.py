"""Stacked populations: the forward and gradients of every trial equal its own model's, what
cannot be stacked says why, and the stacked optimizer is torch's SGD / momentum / AdamW."""

import copy

import pytest
import torch
from torch import nn

from lrlab.training.engines.population import Population, StackedOptimizer, Unstackable, chain
from lrlab.training.optim import make_optimizer
from lrlab.training.tasks import MLP, ResNet, SmallCNN
from lrlab.training.tasks.models import BasicBlock


class Blocks(nn.Module):
    """A model whose forward runs its children in registration order (stackable)."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(2, 4, 3, stride=2, padding=1, bias=False), nn.GELU())
        self.pool = nn.AvgPool2d(4)
        self.head = nn.Sequential(nn.Flatten(), nn.LayerNorm(4), nn.Linear(4, 6, bias=False),
                                  nn.GroupNorm(2, 6), nn.Tanh(), nn.Dropout(0.0), nn.Linear(6, 3))

    def forward(self, x):
        return self.head(self.pool(self.body(x)))


MODELS = {  # name -> (factory, one example's shape)
    "SmallCNN": (lambda: SmallCNN(1, 10, width=8), (1, 8, 8)),
    "MLP": (lambda: MLP(5, 3, hidden=(7, 6)), (5,)),
    "blocks": (Blocks, (2, 8, 8)),
    "grouped conv": (lambda: nn.Sequential(nn.Conv2d(4, 6, 3, groups=2, dilation=2), nn.ReLU(),
                                           nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.SiLU()), (4, 9, 9)),
    "relu then pool": (lambda: nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(),
                                             nn.MaxPool2d(2), nn.ReLU(), nn.Flatten()), (1, 6, 6)),
    "norms without affine or bias": (lambda: nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.GroupNorm(2, 4, affine=False), nn.ReLU(), nn.ReLU(),
        nn.Flatten(), nn.Linear(36, 6), nn.LayerNorm(6, bias=False), nn.GroupNorm(3, 6, affine=False),
        nn.LayerNorm(6, elementwise_affine=False), nn.ReLU(), nn.ReLU()), (1, 3, 3)),
    "ResNet": (lambda: ResNet(1, 10, width=4), (1, 8, 8)),
    "batchnorms": (lambda: nn.Sequential(
        nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4, affine=False), nn.ReLU(),
        nn.BatchNorm2d(4, track_running_stats=False), nn.Flatten(), nn.Linear(16, 5),
        nn.BatchNorm1d(5, momentum=0.3, eps=1e-3), nn.ReLU(), nn.Linear(5, 3)), (2, 4, 4)),
    "residual MLP": (lambda: nn.Sequential(nn.Linear(4, 6), _Res(), nn.Linear(6, 2)), (4,)),
}


class _Res(nn.Module):
    """A residual block of linear layers with an identity shortcut and no ``out``."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.ReLU(), nn.Linear(6, 6), nn.BatchNorm1d(6))
        self.shortcut = nn.Sequential()

    def forward(self, x):
        return self.body(x) + self.shortcut(x)


def population_of(name, t=3):
    make, shape = MODELS[name]
    torch.manual_seed(0)
    models = [make() for _ in range(t)]
    return models, Population(models), shape


@pytest.mark.parametrize("name", MODELS)
def test_every_trial_computes_what_its_model_computes(name):
    models, pop, shape = population_of(name)
    torch.manual_seed(1)
    x = torch.randn(3, 5, *shape)  # each trial its own batch
    out = pop(x)
    out.square().sum().backward()
    for t, m in enumerate(models):
        theirs = m(x[t])
        theirs.square().sum().backward()
        torch.testing.assert_close(out[t], theirs, rtol=1e-4, atol=1e-4)
        for j, (n, p) in enumerate(m.named_parameters()):
            assert pop.names[j] == n
            torch.testing.assert_close(pop.params[j].grad[t], p.grad, rtol=1e-3, atol=1e-3)
    pop.check(models, x[0])  # and the probe agrees


def test_a_trial_depends_on_its_own_parameters_only():
    models, pop, shape = population_of("SmallCNN")
    x = torch.randn(3, 4, *shape)
    before = pop(x).detach()
    with torch.no_grad():
        for p in pop.params:
            p[1] = float("nan")
    after = pop(x)
    assert torch.equal(after[0], before[0]) and torch.equal(after[2], before[2])
    assert after[1].isnan().all()


@pytest.mark.parametrize("model, reason", [
    (nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4, momentum=None)),
     "its BatchNorm1d layer (1) averages its running statistics cumulatively (momentum=None)"),
    (nn.Sequential(nn.Conv2d(1, 4, 1), nn.InstanceNorm2d(4, track_running_stats=True)),
     "its InstanceNorm2d layer (1) keeps running statistics"),
    (nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5)), "its Dropout layer (1) draws random numbers per trial"),
    (nn.Sequential(nn.Linear(3, 4), nn.LSTM(4, 4)), "its LSTM layer (1) is not one the vectorised engine knows"),
    (nn.Sequential(nn.Conv2d(1, 2, 3, padding_mode="reflect", padding=1)), "pads with 'reflect'"),
    (nn.Sequential(nn.Flatten(0)), "flattens dims 0..-1"),
    (nn.Sequential(nn.LayerNorm((2, 3))), "normalises more than the last dimension"),
])
def test_what_cannot_be_stacked_says_why(model, reason):
    with pytest.raises(Unstackable, match=reason.replace("(", r"\(").replace(")", r"\)")):
        Population([model])


def test_own_parameters_shared_and_frozen_parameters_are_refused():
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin, self.scale = nn.Linear(2, 2), nn.Parameter(torch.ones(1))

        def forward(self, x):
            return self.lin(x) * self.scale

    with pytest.raises(Unstackable, match="its Scaled layer .the model. holds parameters of its own"):
        Population([Scaled()])
    lin = nn.Linear(2, 2)
    with pytest.raises(Unstackable, match="used twice .parameters shared between layers."):
        Population([nn.Sequential(lin, nn.ReLU(), lin)])
    frozen = nn.Sequential(nn.Linear(2, 2))
    frozen[0].bias.requires_grad_(False)
    with pytest.raises(Unstackable, match="frozen"):
        Population([frozen])


def test_a_forward_that_is_not_the_chain_is_caught_by_the_probe():
    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(3, 3), nn.Linear(3, 3)

        def forward(self, x):
            return self.b(self.a(x)) + x

    models = [Residual(), Residual()]
    pop = Population(models)  # its layers look like a chain...
    with pytest.raises(Unstackable, match="its forward is not its layers applied in order"):
        pop.check(models, torch.randn(2, 3))

    class Backwards(Residual):
        def forward(self, x):
            return self.a(self.b(x))

    with pytest.raises(Unstackable, match="not its layers applied in order"):
        Population([Backwards()]).check([Backwards()], torch.randn(2, 3))
    assert [n for n, _ in chain(Residual())] == ["a.", "b."]


def test_write_back():
    models, pop, shape = population_of("MLP", t=4)
    target = MLP(5, 3, hidden=(7, 6))
    pop.write(3, target)
    assert all(torch.equal(a, b) for a, b in zip(target.state_dict().values(),
                                                 models[3].state_dict().values()))


@pytest.mark.parametrize("kind", ["momentum", "sgd", "adamw"])
def test_the_stacked_optimizer_is_torchs_with_a_lr_and_weight_decay_per_trial(kind):
    torch.manual_seed(0)
    models = [MLP(4, 3, hidden=(5,)) for _ in range(3)]
    twins = copy.deepcopy(models)
    wds, lrs = [0.0, 1e-2, 0.1], [[0.1, 0.01, 0.5], [0.05, 0.02, 0.25]]
    opts = [make_optimizer(kind, m.parameters(), 0.1, wd) for m, wd in zip(twins, wds)]
    pop = Population(models)
    stacked = StackedOptimizer(kind, pop, wds, [make_optimizer(kind, m.parameters(), 0.1, wd)
                                                for m, wd in zip(models, wds)], models)
    for k in range(6):
        grads = [torch.randn_like(p) for p in pop.params]
        for t, (m, o) in enumerate(zip(twins, opts)):
            for g, p in zip(grads, m.parameters()):
                p.grad = g[t].clone()
            for group in o.param_groups:
                group["lr"] = lrs[k % 2][t]
            o.step()
        for p, g in zip(pop.params, grads):
            p.grad = g.clone()
        if k % 3 == 0:
            stacked.plan([lrs[(k + j) % 2] for j in range(3)])
        stacked.step(k % 3, torch.ones(3, dtype=torch.bool))
    for t, m in enumerate(twins):
        for j, p in enumerate(m.parameters()):
            torch.testing.assert_close(pop.params[j][t], p, rtol=0, atol=1e-6)
    # the state goes back into torch's optimizer in torch's own format, and comes back
    fresh = [make_optimizer(kind, m.parameters(), 0.1, wd) for m, wd in zip(models, wds)]
    for t in range(3):
        pop.write(t, models[t])
        stacked.write(t, fresh[t], models[t], lrs[1][t])
        mine, theirs = fresh[t].state_dict(), opts[t].state_dict()
        assert mine["param_groups"] == theirs["param_groups"]
        assert mine["state"].keys() == theirs["state"].keys()
        for i, slots in theirs["state"].items():
            assert mine["state"][i].keys() == slots.keys()
            for key, value in slots.items():
                assert mine["state"][i][key].dtype == value.dtype
                torch.testing.assert_close(mine["state"][i][key], value, rtol=0, atol=1e-6)
    again = StackedOptimizer(kind, pop, wds, fresh, models)
    assert again.counts == ([6, 6, 6] if kind == "adamw" else [0, 0, 0])
    for slot in stacked.state:
        assert all(torch.equal(a, b) for a, b in zip(again.state[slot], stacked.state[slot]))


@pytest.mark.parametrize("name, batch", [("SmallCNN", 16), ("ResNet", 37)])
def test_trials_left_compute_as_in_the_crowd_in_their_rows(name, batch):
    """Trials given their rows among padded ones add in the order of the full population
    (oneDNN's strided grouped convolution over an odd batch adds by the group's place)."""
    make, shape = MODELS[name]
    torch.manual_seed(0)
    models = [make() for _ in range(3)]
    x = torch.randn(3, batch, *shape)
    crowd = Population(models)
    crowd(x).square().sum().backward()
    for keep in ([2], [1, 2], [0, 2]):
        few = Population([models[i] for i in keep], positions=keep, slots=3)
        out = few(x[keep])
        out.square().sum().backward()
        assert out.shape[0] == len(keep)
        for j, i in enumerate(keep):
            assert all(torch.equal(a.grad[i], b.grad[j]) for a, b in zip(crowd.params, few.params))


@pytest.mark.parametrize("kind", ["momentum", "sgd", "adamw"])
def test_a_trial_masked_out_keeps_its_weights_whatever_its_gradient(kind):
    torch.manual_seed(0)
    models = [MLP(4, 3, hidden=(5,)) for _ in range(3)]
    pop = Population(models)
    stacked = StackedOptimizer(kind, pop, [0.1] * 3, [make_optimizer(kind, m.parameters(), 0.1, 0.1)
                                                      for m in models], models)
    stacked.plan([[0.1] * 3] * 4)
    alive = torch.tensor([True, False, True])
    for k in range(4):
        before = [p.detach().clone() for p in pop.params]
        for p in pop.params:
            p.grad = torch.randn_like(p)
            p.grad[1] = float("nan") if k % 2 else float("inf")
        stacked.step(k, alive)
        for p, b in zip(pop.params, before):
            assert torch.equal(p[1], b[1]) and not torch.equal(p[0], b[0])
            assert p.isfinite().all()


@pytest.mark.parametrize("kind", ["momentum", "sgd", "adamw"])
def test_a_masked_trial_keeps_even_infinite_weights(kind):
    """A trial that diverged through infinite weights keeps them as they were (0 x inf is no
    update), as the sequential engine leaves them."""
    models = [MLP(2, 1, hidden=(2,)) for _ in range(2)]
    pop = Population(models)
    stacked = StackedOptimizer(kind, pop, [1e-3] * 2, [make_optimizer(kind, m.parameters(), 0.1, 1e-3)
                                                      for m in models], models)
    with torch.no_grad():
        pop.params[0][1] = float("-inf")
    stacked.plan([[0.1, 0.1]] * 2)
    for k in range(2):
        for p in pop.params:
            p.grad = torch.full_like(p, float("inf"))
        stacked.step(k, torch.tensor([True, False]))
    assert (pop.params[0][1] == float("-inf")).all()


@pytest.mark.parametrize("name", ["ResNet", "batchnorms", "residual MLP"])
def test_batchnorm_keeps_each_trials_running_statistics_and_eval_mode_reads_them(name):
    models, pop, shape = population_of(name, t=3)
    pop = Population(models, positions=[0, 2, 3], slots=4)  # a padded row: its statistics stay there
    twins = [copy.deepcopy(m) for m in models]
    torch.manual_seed(2)
    for _ in range(3):  # three training steps' worth of forwards
        x = torch.randn(3, 6, *shape)
        ours = pop(x)
        for t, m in enumerate(twins):
            torch.testing.assert_close(ours[t], m(x[t]), rtol=1e-4, atol=1e-5)
    for j, n in enumerate(pop.buffer_names):
        for t, m in enumerate(twins):
            torch.testing.assert_close(pop.buffers[j][t], dict(m.named_buffers())[n], rtol=1e-5,
                                       atol=1e-6)
    x = torch.randn(3, 5, *shape)
    before = [b.clone() for b in pop.buffers]
    with torch.no_grad():
        ours = pop(x, training=False)
    assert all(torch.equal(a, b) for a, b in zip(before, pop.buffers))  # eval changes nothing
    for t, m in enumerate(twins):
        torch.testing.assert_close(ours[t], m.eval()(x[t]), rtol=1e-4, atol=1e-5)
    target = copy.deepcopy(models[0])
    pop.write(2, target)
    for n, b in target.named_buffers():
        assert torch.equal(b, dict(twins[2].named_buffers())[n]) or b.is_floating_point()
    for m in twins:
        m.train()
    pop.check(twins, x[0])  # the probe runs in eval mode, changes nothing, restores the mode
    assert all(torch.equal(a, b) for a, b in zip(before, pop.buffers))
    assert all(m.training for m in twins)


def test_a_resnet_block_is_a_residual_of_the_chain():
    steps = chain(BasicBlock(2, 4, stride=2))
    assert len(steps) == 1 and type(steps[0][1]).__name__ == "Residual"
    r = steps[0][1]
    assert [n for n, _ in r.body] == ["body.0.", "body.1.", "body.2.", "body.3.", "body.4."]
    assert [n for n, _ in r.shortcut] == ["shortcut.0.", "shortcut.1."] and [n for n, _ in r.out] == ["out."]


def test_the_probe_takes_non_finite_outputs():
    """A model whose outputs are NaN (a NaN weight) is probed without an error of its own."""
    models = [MLP(4, 3, hidden=(5,)) for _ in range(2)]
    with torch.no_grad():
        for m in models:
            m.net[0].bias[0] = float("nan")
    assert Population(models).check(models, torch.randn(2, 4)) > 0
