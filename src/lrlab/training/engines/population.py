"""Many trials' models as one population: one forward and one backward per step for all.

Every parameter becomes one tensor with a leading trial dimension ``T`` (``(T, *shape)``) and
each layer acts on every trial at once:

- ``Conv2d``: one grouped convolution with the trials folded into the channels: activations
  ``(B, T*C, H, W)``, weights ``(T*C_out, C_in/g, k, k)``, ``groups = T*g``; ``GroupNorm``
  on folded activations is one group norm of ``T*G`` groups (a trial's groups are contiguous);
  pooling and activations act per channel and need nothing;
- ``Linear``: one batched matmul on ``(T, B, F)`` (``out[t] = x[t] @ W[t].T + b[t]``);
  ``LayerNorm`` and ``GroupNorm`` there normalise per trial, then scale by each trial's affine;
- ``BatchNorm2d`` (and ``BatchNorm1d``) on folded activations is one batch norm over
  ``T*C`` channels: channel ``t*C + c`` is trial ``t``'s channel ``c``, normalised over that
  trial's own batch, with its own running statistics (kept stacked, ``(T, C)``, updated in
  place) and affine parameters; in eval mode the running ones. Exactly each trial's own
  BatchNorm, up to summation order;
- ``Flatten`` turns folded ``(B, T*C, H, W)`` into ``(T, B, C*H*W)``;
- a residual block (a module whose children are ``body`` and ``shortcut``, optionally
  ``out``: ``out(body(x) + shortcut(x))``, as ``lrlab.training.tasks.models.BasicBlock``)
  runs both branches stacked and adds them.

So trial ``t``'s output depends on its own parameters and batch only; its gradient is its own
loss's. A model can be stacked when it is a chain of such layers (``nn.Sequential`` or
modules whose children run in the order they were registered; ``Population.check`` compares
the stack with the models themselves on a probe batch, in eval mode, so a model whose
``forward`` does something else is caught, never trained wrongly). What cannot be stacked
raises ``Unstackable`` with the reason: dropout (random numbers per trial), a BatchNorm with
cumulative averages (``momentum=None``) or of another kind, parameters shared between layers,
anything unknown.

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
    >>> Population([nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5))])
    Traceback (most recent call last):
    ...
    lrlab.training.engines.population.Unstackable: its Dropout layer (1) draws random numbers per trial
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

_ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid,
                nn.Softplus, nn.Mish, nn.Hardswish, nn.Hardtanh, nn.Identity)
_POOLS = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)
_BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d)
_LAYERS = (nn.Conv2d, nn.Linear, nn.GroupNorm, nn.LayerNorm, nn.Flatten, nn.Dropout,
           *_BATCHNORMS, *_ACTIVATIONS, *_POOLS)
_RESIDUAL = {"body", "shortcut"}  # the children of a residual block: out(body(x) + shortcut(x))


class Unstackable(ValueError):
    """Why a model cannot be trained as a population (the message says)."""


@dataclass
class Residual:
    """A residual block of a chain: ``out(body(x) + shortcut(x))``, each part a chain (an
    empty ``shortcut``: the identity; an empty ``out``: nothing)."""

    body: list
    shortcut: list
    out: list


def chain(model: nn.Module) -> list[tuple[str, nn.Module | Residual]]:
    """``model`` as the layers it applies in order, each with its name prefix; a module whose
    children are ``body`` and ``shortcut`` (and optionally ``out``) is a ``Residual`` block
    (``lrlab.training.tasks.models.BasicBlock``; ``Population.check`` confirms its forward)."""

    seen: set[int] = set()

    def walk(prefix: str, m: nn.Module) -> list[tuple[str, nn.Module | Residual]]:
        where = f"its {type(m).__name__} layer ({prefix[:-1] or 'the model'})"
        if id(m) in seen:
            raise Unstackable(f"{where} is used twice (parameters shared between layers)")
        seen.add(id(m))
        if isinstance(m, _BATCHNORMS) and m.momentum is None:
            raise Unstackable(f"{where} averages its running statistics cumulatively "
                              f"(momentum=None)")
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
        if not children and type(m) is nn.Sequential:
            return []  # the identity
        if not children:
            raise Unstackable(f"{where} is not one the vectorised engine knows")
        if any(True for _ in m.parameters(recurse=False)):
            raise Unstackable(f"{where} holds parameters of its own")
        names = {name for name, _ in children}
        if _RESIDUAL <= names <= _RESIDUAL | {"out"}:
            part = dict(children)
            return [(prefix, Residual(*(walk(f"{prefix}{k}.", part[k]) if k in part else []
                                        for k in ("body", "shortcut", "out"))))]
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
    requires grad; ``names[j]`` its name in the models' ``state_dict``; ``buffers[j]`` and
    ``buffer_names[j]`` the same for the BatchNorm running statistics.
    ``population(x, training)`` maps ``x`` of shape ``(T, B, *sample)`` to ``(T, B, *out)``;
    ``training`` as a model's mode (BatchNorm: batch statistics, running ones updated; else
    the running ones).

    A kernel's summation order may follow the shapes and a trial's place among them
    (oneDNN's convolution with one input channel adds in another order for one group than for
    several; its strided grouped convolution over an odd batch adds a group's work by where the
    group lies, as threads split it): with ``positions`` (the row of each model) and ``slots``
    (rows in all) a population computes as ``slots`` trials with each model in its row and
    the other rows copies of the first model that pass no gradient back, so an engine can give
    a trial the same shapes and the same place whatever else trains beside it."""

    def __init__(self, models: Sequence[nn.Module], positions: Sequence[int] | None = None,
                 slots: int | None = None):
        self.positions = list(range(len(models)) if positions is None else positions)
        self.slots = max(slots or 0, len(models), max(self.positions) + 1)
        if len(self.positions) != len(models) or len(set(self.positions)) != len(models):
            raise ValueError(f"positions: one distinct row per model, got {self.positions}")
        self._spread = None
        if self.positions != list(range(self.slots)):  # where each row's copy comes from
            src = [0] * self.slots
            for i, row in enumerate(self.positions):
                src[row] = i
            self._spread = torch.tensor(src), torch.tensor(self.positions)
        template = models[0]
        layers = chain(template)
        named = list(template.named_parameters())
        if any(not p.requires_grad for _, p in named):
            raise Unstackable("some of its parameters are frozen (requires_grad=False)")
        self.names = [n for n, _ in named]
        self.buffer_names = [n for n, _ in template.named_buffers()]
        used: list[int] = [0, 0]
        self.steps = self._index(layers, {n: j for j, n in enumerate(self.names)},
                                 {n: j for j, n in enumerate(self.buffer_names)}, used)
        if used[0] != len(self.names):
            raise Unstackable("it holds parameters its layers do not use")
        if used[1] != len(self.buffer_names):
            raise Unstackable("it holds buffers its layers do not use")
        with torch.no_grad():
            self.params = [torch.stack([dict(m.named_parameters())[n].detach() for m in models])
                           .requires_grad_() for n in self.names]
            self.buffers = [torch.stack([dict(m.named_buffers())[n].detach() for m in models])
                            for n in self.buffer_names]

    @classmethod
    def _index(cls, layers, index: dict, bindex: dict, used: list[int]) -> list:
        """``layers`` as steps ``(layer, parameter indices, buffer indices)`` (a ``Residual``
        of steps for a block); ReLU then MaxPool becomes MaxPool then ReLU (the same values
        and gradients on a quarter of the data)."""
        steps: list = []
        for prefix, layer in layers:
            if isinstance(layer, Residual):
                steps.append(Residual(*(cls._index(part, index, bindex, used)
                                        for part in (layer.body, layer.shortcut, layer.out))))
                continue
            try:
                steps.append((layer, [index[prefix + k] for k, _ in layer.named_parameters()],
                              [bindex[prefix + k] for k, _ in layer.named_buffers()]))
            except KeyError:
                raise Unstackable("it shares parameters between layers") from None
            used[0] += len(steps[-1][1])
            used[1] += len(steps[-1][2])
        for k in range(len(steps) - 1):
            a, b = steps[k], steps[k + 1]
            if (isinstance(a, tuple) and isinstance(b, tuple) and type(a[0]) is nn.ReLU
                    and isinstance(b[0], nn.MaxPool2d)):
                steps[k], steps[k + 1] = b, a
        return steps

    @property
    def size(self) -> int:
        return self.params[0].shape[0] if self.params else 0

    def __call__(self, x: torch.Tensor, training: bool = True) -> torch.Tensor:
        if self._spread is None:
            return self._forward(self.params, self.buffers, x, training)
        src, rows = (t.to(x.device) for t in self._spread)
        params = []
        for p in self.params:  # each model in its row; the others copies with no gradient
            full = p.detach()[src]
            full[rows] = p
            params.append(full)
        buffers = [b[src] for b in self.buffers]
        out = self._forward(params, buffers, x[src], training)
        if training:  # the running statistics of the models' rows
            with torch.no_grad():
                for mine, spread in zip(self.buffers, buffers):
                    mine.copy_(spread[rows])
        return out[rows]

    def _forward(self, params: list[torch.Tensor], buffers: list[torch.Tensor], x: torch.Tensor,
                 training: bool, sizes: list[int] | None = None) -> torch.Tensor:
        """The stacked forward; ``sizes``, when given, receives each layer's output numel."""
        t = x.shape[0]
        h, folded, _ = self._run(self.steps, params, buffers, x, False, False, t, training, sizes)
        return _unfold(h, t) if folded else h

    def _run(self, steps: list, params, buffers, h: torch.Tensor, folded: bool, fresh: bool,
             t: int, training: bool, sizes) -> tuple[torch.Tensor, bool, bool]:
        """``steps`` on ``h``: the output, whether it is folded, whether it is fresh (ours,
        and no backward needs it: a ReLU may then work in place)."""
        for step in steps:
            if isinstance(step, Residual):
                body = self._run(step.body, params, buffers, h, folded, False, t, training, sizes)
                short = self._run(step.shortcut, params, buffers, h, folded, False, t, training,
                                  sizes)
                (hb, fb, _), (hs, fs, _) = body, short
                if fb != fs:  # one branch folded (convolved), the other not
                    hb, hs = (hb if fb else _fold(hb)), (hs if fs else _fold(hs))
                h, folded, fresh = hb + hs, fb or fs, True
                if sizes is not None:
                    sizes.append(h.numel())
                h, folded, fresh = self._run(step.out, params, buffers, h, folded, fresh, t,
                                             training, sizes)
                continue
            layer, idx, bidx = step
            p = [params[j] for j in idx]
            if type(layer) is nn.ReLU and fresh:
                h, fresh = F.relu_(h), False  # its backward needs its output: not again
                continue
            fresh = isinstance(layer, (nn.Conv2d, nn.Linear, nn.GroupNorm, nn.LayerNorm,
                                       *_BATCHNORMS, *_POOLS))
            if isinstance(layer, nn.Conv2d):
                if not folded:
                    h, folded = _fold(h), True
                h = F.conv2d(h, p[0].flatten(0, 1), p[1].flatten() if len(p) > 1 else None,
                             layer.stride, layer.padding, layer.dilation, layer.groups * t)
            elif isinstance(layer, _POOLS):
                if not folded:
                    h, folded = _fold(h), True
                h = layer(h)
            elif isinstance(layer, _BATCHNORMS):
                h = self._batch_norm(layer, p, [buffers[j] for j in bidx], h, folded, t, training)
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
        return h, folded, fresh

    @staticmethod
    def _batch_norm(layer: nn.Module, p: list[torch.Tensor], b: list[torch.Tensor],
                    h: torch.Tensor, folded: bool, t: int, training: bool) -> torch.Tensor:
        """``BatchNorm1d``/``2d`` of every trial at once: with the trials folded into the
        channels, channel ``t*C + c`` is trial ``t``'s channel ``c``, normalised over its own
        batch, with its own running statistics (``(T, C)`` buffers, updated in place through
        flat views) and affine parameters: exactly each trial's own BatchNorm."""
        w, bias = (q.flatten() for q in p) if p else (None, None)
        stats = bool(b)  # track_running_stats
        mean, var = (b[0].view(-1), b[1].view(-1)) if stats else (None, None)
        batch = training or not stats
        x = h if folded else h.transpose(0, 1).flatten(1, 2)  # (T, B, C, ...) -> (B, T*C, ...)
        out = F.batch_norm(x, mean, var, w, bias, batch, layer.momentum, layer.eps)
        if training and stats:
            b[2].add_(1)  # num_batches_tracked
        if folded:
            return out
        return out.view(x.shape[0], t, -1, *x.shape[2:]).transpose(0, 1)

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
        modes = [m.training for m in models]
        with torch.no_grad():  # in eval mode: running statistics are read, never changed
            try:
                ours = self._forward(self.params, self.buffers, x.expand(len(models), *x.shape),
                                     False, sizes)
                theirs = torch.stack([m.eval()(x) for m in models])
            except (RuntimeError, ValueError, TypeError, IndexError) as e:
                raise Unstackable(f"its layers do not run as a chain ({str(e).splitlines()[0]})") from None
            finally:
                for m, mode in zip(models, modes):
                    m.train(mode)
            finite = theirs.abs().nan_to_num(0.0, 0.0, 0.0)
            scale = float(finite.max()) if theirs.numel() else 0.0
            if ours.shape != theirs.shape or not torch.allclose(
                    ours, theirs, rtol=1e-4, atol=1e-5 * max(scale, 1.0), equal_nan=True):
                raise Unstackable("its forward is not its layers applied in order (a residual "
                                  "block stacks when its children are body and shortcut: "
                                  "out(body(x) + shortcut(x)))")
        return sum(sizes) // (len(models) * len(x))

    def write(self, row: int, model: nn.Module) -> None:
        """Copy trial ``row``'s weights (and running statistics) into ``model``."""
        with torch.no_grad():
            for name, q in model.named_parameters():
                q.copy_(self.params[self.names.index(name)][row])
            for name, q in model.named_buffers():
                q.copy_(self.buffers[self.buffer_names.index(name)][row])

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
