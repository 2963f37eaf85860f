"""Many trials' models as one population: one forward and one backward per step for all.

Every parameter becomes one tensor with a leading trial dimension ``T`` (``(T, *shape)``) and
each layer acts on every trial at once:

- ``Conv2d``: one grouped convolution with the trials folded into the channels: activations
  ``(B, T*C, H, W)``, weights ``(T*C_out, C_in/g, k, k)``, ``groups = T*g``; ``GroupNorm``
  on folded activations is one group norm of ``T*G`` groups (a trial's groups are contiguous);
  pooling and activations act per channel and need nothing;
- ``Linear``: one batched matmul on ``(T, B, F)`` (``out[t] = x[t] @ W[t].T + b[t]``);
  ``LayerNorm`` and ``GroupNorm`` there normalise per trial, then scale by each trial's affine;
- ``Flatten`` turns folded ``(B, T*C, H, W)`` into ``(T, B, C*H*W)``.

So trial ``t``'s output depends on its own parameters and batch only; its gradient is its own
loss's. A model can be stacked when it is a chain of such layers (``nn.Sequential`` or
modules whose children run in the order they were registered; ``Population.check`` compares
the stack with the models themselves on a probe batch, so a model whose ``forward`` does
something else is caught, never trained wrongly). What cannot be stacked raises
``Unstackable`` with the reason: layers with running statistics (``BatchNorm``), dropout
(random numbers per trial), parameters shared between layers, anything unknown.

``StackedOptimizer`` applies ``torch.optim.SGD`` (with or without momentum 0.9) or
``torch.optim.AdamW`` to every trial at once, each with its own LR (per step) and weight
decay; its state reads from and writes to the trials' torch optimizers (checkpoints keep
torch's format, so either engine resumes the other's).

    >>> import torch
    >>> from torch import nn
    >>> models = [nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)) for _ in range(5)]
    >>> pop = Population(models)
    >>> x = torch.randn(5, 8, 3)                       # (trials, batch, features)
    >>> pop(x).shape
    torch.Size([5, 8, 2])
    >>> bool(torch.allclose(pop(x)[2], models[2](x[2]), atol=1e-6))
    True
    >>> Population([nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))])
    Traceback (most recent call last):
    ...
    lrlab.training.engines.population.Unstackable: its BatchNorm1d layer (1) keeps running statistics
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

_ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid,
                nn.Softplus, nn.Mish, nn.Hardswish, nn.Hardtanh, nn.Identity)
_POOLS = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)
_LAYERS = (nn.Conv2d, nn.Linear, nn.GroupNorm, nn.LayerNorm, nn.Flatten, nn.Dropout,
           *_ACTIVATIONS, *_POOLS)


class Unstackable(ValueError):
    """Why a model cannot be trained as a population (the message says)."""


def chain(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``model`` as the layers it applies in order, each with its name prefix."""

    seen: set[int] = set()

    def walk(prefix: str, m: nn.Module) -> list[tuple[str, nn.Module]]:
        where = f"its {type(m).__name__} layer ({prefix[:-1] or 'the model'})"
        if id(m) in seen:
            raise Unstackable(f"{where} is used twice (parameters shared between layers)")
        seen.add(id(m))
        if isinstance(m, _LAYERS):
            if isinstance(m, nn.Conv2d) and m.padding_mode != "zeros":
                raise Unstackable(f"{where} pads with {m.padding_mode!r}")
            if isinstance(m, nn.Dropout) and m.p > 0:
                raise Unstackable(f"{where} draws random numbers per trial")
            if isinstance(m, nn.Flatten) and (m.start_dim, m.end_dim) != (1, -1):
                raise Unstackable(f"{where} flattens dims {m.start_dim}..{m.end_dim}, not 1..-1")
            if isinstance(m, nn.LayerNorm) and len(m.normalized_shape) != 1:
                raise Unstackable(f"{where} normalises more than the last dimension")
            if isinstance(m, nn.MaxPool2d) and m.return_indices:
                raise Unstackable(f"{where} returns indices")
            return [(prefix, m)]
        if any(True for _ in m.buffers(recurse=False)) or isinstance(m, nn.modules.batchnorm._NormBase):
            raise Unstackable(f"{where} keeps running statistics")
        children = [(name, child) for name, child in m._modules.items() if child is not None]
        if not children:
            raise Unstackable(f"{where} is not one the vectorised engine knows")
        if any(True for _ in m.parameters(recurse=False)):
            raise Unstackable(f"{where} holds parameters of its own")
        return [layer for name, child in children for layer in walk(f"{prefix}{name}.", child)]

    return walk("", model)


def _fold(h: torch.Tensor) -> torch.Tensor:
    """``(T, B, C, H, W)`` -> ``(B, T*C, H, W)``."""
    t, b = h.shape[:2]
    return h.transpose(0, 1).reshape(b, t * h.shape[2], *h.shape[3:])


def _unfold(h: torch.Tensor, t: int) -> torch.Tensor:
    """``(B, T*C, ...)`` -> ``(T, B, C, ...)``."""
    b = h.shape[0]
    return h.view(b, t, h.shape[1] // t, *h.shape[2:]).transpose(0, 1)


def _per_trial(p: torch.Tensor, like: torch.Tensor, dim: int) -> torch.Tensor:
    """``p`` of shape ``(T, n)`` viewed to broadcast over ``like`` ``(T, ...)`` along ``dim``."""
    shape = [1] * like.dim()
    shape[0], shape[dim] = p.shape[0], p.shape[1]
    return p.view(shape)


class Population:
    """The models of ``T`` trials (one architecture) as stacked parameters and one forward.

    ``params[j]``: the ``j``-th parameter of every trial, ``(T, *shape)``, a leaf that
    requires grad; ``names[j]`` its name in the models' ``state_dict``. ``population(x)``
    maps ``x`` of shape ``(T, B, *sample)`` to ``(T, B, *out)``.

    A kernel's summation order may follow the shapes (oneDNN's convolution with one input
    channel adds in another order for one group than for several; thread partitions follow
    the work): with ``min_size`` a population computes as that many trials, padded with
    copies of the first that pass no gradient back, so an engine can give a trial the same
    shapes whatever else trains beside it."""

    def __init__(self, models: Sequence[nn.Module], min_size: int = 1):
        self.min_size = min_size
        template = models[0]
        layers = chain(template)
        named = list(template.named_parameters())
        if any(not p.requires_grad for _, p in named):
            raise Unstackable("some of its parameters are frozen (requires_grad=False)")
        self.names = [n for n, _ in named]
        index = {n: j for j, n in enumerate(self.names)}
        try:
            self.steps = [(layer, [index[prefix + k] for k, _ in layer.named_parameters()])
                          for prefix, layer in layers]
        except KeyError:
            raise Unstackable("it shares parameters between layers") from None
        if sum(len(i) for _, i in self.steps) != len(self.names):
            raise Unstackable("it holds parameters its layers do not use")
        for k in range(len(self.steps) - 1):  # ReLU then MaxPool: pool first, the same values
            a, b = self.steps[k][0], self.steps[k + 1][0]  # and gradients on a quarter of the data
            if type(a) is nn.ReLU and isinstance(b, nn.MaxPool2d):
                self.steps[k], self.steps[k + 1] = self.steps[k + 1], self.steps[k]
        with torch.no_grad():
            self.params = [torch.stack([dict(m.named_parameters())[n].detach() for m in models])
                           .requires_grad_() for n in self.names]

    @property
    def size(self) -> int:
        return self.params[0].shape[0] if self.params else 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        params = self.params
        if n < self.min_size:  # padded with copies that pass no gradient back
            pad = self.min_size - n
            params = [torch.cat([p, p.detach()[:1].expand(pad, *p.shape[1:])]) for p in params]
            x = torch.cat([x, x[:1].expand(pad, *x.shape[1:])])
        return self._forward(params, x)[:n]

    def _forward(self, params: list[torch.Tensor], x: torch.Tensor,
                 sizes: list[int] | None = None) -> torch.Tensor:
        """The stacked forward; ``sizes``, when given, receives each layer's output numel."""
        t = x.shape[0]
        h, folded, fresh = x, False, False  # fresh: h is ours and no backward needs it
        for layer, idx in self.steps:
            p = [params[j] for j in idx]
            if type(layer) is nn.ReLU and fresh:
                h, fresh = F.relu_(h), False  # its backward needs its output: not again
                continue
            fresh = isinstance(layer, (nn.Conv2d, nn.Linear, nn.GroupNorm, nn.LayerNorm, *_POOLS))
            if isinstance(layer, nn.Conv2d):
                if not folded:
                    h, folded = _fold(h), True
                h = F.conv2d(h, p[0].flatten(0, 1), p[1].flatten() if len(p) > 1 else None,
                             layer.stride, layer.padding, layer.dilation, layer.groups * t)
            elif isinstance(layer, _POOLS):
                if not folded:
                    h, folded = _fold(h), True
                h = layer(h)
            elif isinstance(layer, nn.GroupNorm) and folded:
                w, b = (q.flatten() for q in p) if p else (None, None)
                h = F.group_norm(h, layer.num_groups * t, w, b, layer.eps)
            elif isinstance(layer, nn.Flatten):
                h = _unfold(h, t).flatten(2) if folded else h.flatten(2)
                folded = False
            elif isinstance(layer, (nn.Linear, nn.GroupNorm, nn.LayerNorm)):
                if folded:
                    h, folded = _unfold(h, t), False
                h = self._stacked(layer, p, h)
            else:  # activations, dropout(p=0): elementwise
                h = layer(h)
            if sizes is not None:
                sizes.append(h.numel())
        return _unfold(h, t) if folded else h

    @staticmethod
    def _stacked(layer: nn.Module, p: list[torch.Tensor], h: torch.Tensor) -> torch.Tensor:
        """A per-trial ``Linear``/``GroupNorm``/``LayerNorm`` on ``h`` of shape ``(T, B, ...)``."""
        if isinstance(layer, nn.Linear):
            flat = h.reshape(h.shape[0], -1, h.shape[-1])
            out = (torch.baddbmm(p[1].unsqueeze(1), flat, p[0].transpose(1, 2)) if len(p) > 1
                   else torch.bmm(flat, p[0].transpose(1, 2)))
            return out.view(*h.shape[:-1], out.shape[-1])
        if isinstance(layer, nn.GroupNorm):
            h = F.group_norm(h.flatten(0, 1), layer.num_groups, None, None, layer.eps).view_as(h)
            dim = 2
        else:
            h = F.layer_norm(h, layer.normalized_shape, None, None, layer.eps)
            dim = h.dim() - 1
        if p:  # weight, and bias unless the layer has none
            h = h * _per_trial(p[0], h, dim)
        if len(p) > 1:
            h = h + _per_trial(p[1], h, dim)
        return h

    def check(self, models: Sequence[nn.Module], x: torch.Tensor) -> int:
        """Raise ``Unstackable`` unless the population computes what each model computes on
        the probe batch ``x`` (``(B, *sample)``); the number of activation values one example
        of one trial makes in a forward (what a step holds for backward)."""
        sizes: list[int] = []
        with torch.no_grad():
            try:
                ours = self._forward(self.params, x.expand(len(models), *x.shape), sizes)
                theirs = torch.stack([m(x) for m in models])
            except (RuntimeError, ValueError, TypeError, IndexError) as e:
                raise Unstackable(f"its layers do not run as a chain ({str(e).splitlines()[0]})") from None
            scale = float(theirs.abs().max()) if theirs.numel() else 0.0
            if ours.shape != theirs.shape or not torch.allclose(ours, theirs, rtol=1e-4,
                                                                 atol=1e-5 * max(scale, 1.0)):
                raise Unstackable("its forward is not its layers applied in order")
        return sum(sizes) // (len(models) * len(x))

    def write(self, row: int, model: nn.Module) -> None:
        """Copy trial ``row``'s weights into ``model``."""
        with torch.no_grad():
            for name, q in model.named_parameters():
                q.copy_(self.params[self.names.index(name)][row])

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None


class StackedOptimizer:
    """``kind`` (``momentum``, ``sgd`` or ``adamw``: the updates of ``lrlab.training.optim``)
    for every trial of a ``Population`` at once, each trial with its own weight decay
    (``weight_decay``, one per trial) and its own LR at every step: ``plan(lrs)`` takes the
    LRs of the coming steps, ``step(k, alive)`` makes the ``k``-th of them (a trial not
    ``alive`` keeps its weights).

    SGD: ``g = grad + wd*p``; momentum ``buf = 0.9*buf + g`` (``buf`` = ``g`` on the first
    step, as torch does: a zero buffer gives that exactly), ``p -= lr*buf``. AdamW (betas 0.9,
    0.999, eps 1e-8): ``p *= 1 - lr*wd``; ``m = lerp(m, g, 0.1)``; ``v = 0.999*v + 0.001*g^2``;
    ``p -= lr/(1 - 0.9^n) * m / (sqrt(v)/sqrt(1 - 0.999^n) + eps)`` with ``n`` the trial's
    step count."""

    BETAS, EPS, MOMENTUM = (0.9, 0.999), 1e-8, 0.9

    def __init__(self, kind: str, population: Population, weight_decay: Sequence[float],
                 optimizers: Sequence[torch.optim.Optimizer], models: Sequence[nn.Module]):
        self.kind, self.pop = kind, population
        params = population.params
        dev = params[0].device
        self.wd = torch.tensor(list(weight_decay), dtype=params[0].dtype, device=dev)
        self.decays = any(w != 0 for w in weight_decay)
        self.slots = {"momentum": ("momentum_buffer",), "sgd": (),
                      "adamw": ("exp_avg", "exp_avg_sq")}[kind]
        self.state = {slot: [torch.stack([self._read(o, m, n, slot) for o, m in zip(optimizers, models)])
                             for n in population.names] for slot in self.slots}
        self.counts = [self._count(o) for o in optimizers]  # AdamW: steps taken per trial
        self.done = 0                                        # ... and since the last plan

    @staticmethod
    def _read(opt: torch.optim.Optimizer, model: nn.Module, name: str, slot: str) -> torch.Tensor:
        p = dict(model.named_parameters())[name]
        value = opt.state.get(p, {}).get(slot)
        return value.detach().clone() if value is not None else torch.zeros_like(p.detach())

    @staticmethod
    def _count(opt: torch.optim.Optimizer) -> int:
        steps = [s["step"] for s in opt.state.values() if "step" in s]
        return int(float(steps[0])) if steps else 0

    def plan(self, lrs: Sequence[Sequence[float]]) -> None:
        """The LRs of the coming steps, ``lrs[k][t]`` for trial ``t`` at step ``k``, as
        device tables (so that ``step`` never waits for the device)."""
        dev, dt = self.wd.device, self.wd.dtype
        self.lr = torch.tensor([list(row) for row in lrs], dtype=dt, device=dev)
        self.counts, self.done = [c + self.done for c in self.counts], 0
        if self.kind == "adamw":  # the bias corrections of each trial's step counts
            b1, b2 = self.BETAS
            steps = [[c + k + 1 for c in self.counts] for k in range(len(lrs))]
            self.step_size = torch.tensor([[a / (1 - b1 ** m) for a, m in zip(row, ms)]
                                           for row, ms in zip(lrs, steps)], dtype=dt, device=dev)
            self.root2 = torch.tensor([[math.sqrt(1 - b2 ** m) for m in ms] for ms in steps],
                                      dtype=dt, device=dev)

    @torch.no_grad()
    def step(self, k: int, alive: torch.Tensor) -> None:
        """The ``k``-th planned update of every trial whose ``alive`` is true; the others
        keep their weights exactly (their gradients and states may be anything)."""
        params = self.pop.params

        def view(v, p):
            return v.view(-1, *[1] * (p.dim() - 1))

        grads = [p.grad for p in params]
        lr = self.lr[k]
        self.done += 1
        if self.kind == "adamw":
            b1, b2 = self.BETAS
            step_size, root2 = self.step_size[k], self.root2[k]
            decay = torch.where(alive, 1 - lr * self.wd, 1.0)
            for p, g, m, v in zip(params, grads, self.state["exp_avg"], self.state["exp_avg_sq"]):
                p.mul_(view(decay, p))
                m.lerp_(g, 1 - b1)
                v.mul_(b2).addcmul_(g, g, value=1 - b2)
                denom = (v.sqrt() / view(root2, p)).add_(self.EPS)
                p.add_(torch.where(view(alive, p), m * view(-step_size, p) / denom, 0.0))
            return
        if self.decays:
            grads = [g + view(self.wd, p) * p for p, g in zip(params, grads)]
        if self.kind == "momentum":
            bufs = self.state["momentum_buffer"]
            torch._foreach_mul_(bufs, self.MOMENTUM)
            torch._foreach_add_(bufs, grads)
            grads = bufs
        for p, g in zip(params, grads):  # a masked row changes by exactly 0, even if g is not finite
            p.sub_(torch.where(view(alive, p), view(lr, p) * g, 0.0))

    def write(self, row: int, opt: torch.optim.Optimizer, model: nn.Module, lr: float) -> None:
        """Put trial ``row``'s state into its torch optimizer ``opt`` (over ``model``)."""
        named = dict(model.named_parameters())
        for j, name in enumerate(self.pop.names):
            state = {slot: self.state[slot][j][row].clone() for slot in self.slots}
            if self.kind == "adamw":
                state = {"step": torch.tensor(float(self.counts[row] + self.done)), **state}
            if state:
                opt.state[named[name]] = state
        for g in opt.param_groups:
            g["lr"] = lr
