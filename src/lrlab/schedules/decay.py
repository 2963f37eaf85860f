"""Decaying schedules: closed forms of the step ``k`` (0-based), vectorised over numpy arrays."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated

import numpy as np

from . import params as P
from .base import Schedule, register


@register("constant", "const")
class Constant(Schedule):
    """``lr(k) = base_lr``.

    >>> from lrlab import create
    >>> create("constant", base_lr=0.1).curve(3).tolist()
    [0.1, 0.1, 0.1]
    """

    base_lr: Annotated[float, P.lr()]

    def _at(self, k):
        return np.full(k.shape, self.base_lr)


@register("step", "step_decay", "steplr")
class Step(Schedule):
    """``lr(k) = base_lr * gamma ** floor(k / step_size)``.

    >>> from lrlab import create
    >>> create("step", base_lr=1.0, step_size=2, gamma=0.5).curve(5).tolist()
    [1.0, 1.0, 0.5, 0.5, 0.25]
    """

    base_lr: Annotated[float, P.lr()]
    step_size: Annotated[int | str, P.steps()]
    gamma: Annotated[float, P.real(0.0)] = 0.1

    def _at(self, k):
        return self.base_lr * self.gamma ** (k // self.step_size).astype(np.float64)


@register("multistep", "multi_step", "multistep_decay")
class MultiStep(Schedule):
    """``lr(k) = base_lr * gamma ** (number of milestones <= k)``.

    >>> from lrlab import create
    >>> create("multistep", base_lr=1.0, milestones=[2, 4], gamma=0.5).curve(5).tolist()
    [1.0, 1.0, 0.5, 0.5, 0.25]
    """

    base_lr: Annotated[float, P.lr()]
    milestones: Annotated[tuple, P.milestones(1)]
    gamma: Annotated[float, P.real(0.0)] = 0.1

    def _at(self, k):
        n = np.searchsorted(np.asarray(self.milestones), k, side="right")
        return self.base_lr * self.gamma ** n.astype(np.float64)


@register("piecewise", "piecewise_constant", "piecewise_decay")
class Piecewise(Schedule):
    """``lr(k) = values[i]`` where ``i`` is the number of milestones <= k.

    >>> from lrlab import create
    >>> create("piecewise", milestones=[2, 3], values=[1.0, 0.5, 0.1]).curve(4).tolist()
    [1.0, 1.0, 0.5, 0.1]
    """

    milestones: Annotated[tuple, P.milestones(1)]
    values: Annotated[tuple, P.lrs()]

    def _validate(self):
        if len(self.values) != len(self.milestones) + 1:
            self._fail("values", f"a list of len(milestones) + 1 = {len(self.milestones) + 1} "
                       "learning rates", list(self.values))

    def _at(self, k):
        return np.asarray(self.values)[np.searchsorted(np.asarray(self.milestones), k, side="right")]


@register("exponential", "exp", "exponential_decay")
class Exponential(Schedule):
    """``lr(k) = base_lr * gamma ** (k / step_size)`` (smooth; use ``step`` for stairs).

    >>> from lrlab import create
    >>> create("exponential", base_lr=1.0, gamma=0.5).curve(3).tolist()
    [1.0, 0.5, 0.25]
    """

    base_lr: Annotated[float, P.lr()]
    gamma: Annotated[float, P.real(0.0)]
    step_size: Annotated[int | str, P.steps()] = 1

    def _at(self, k):
        return self.base_lr * self.gamma ** (k / self.step_size)


@register("natural_exp", "natural_exp_decay")
class NaturalExp(Schedule):
    """``lr(k) = base_lr * exp(-gamma * k / step_size)``.

    >>> from lrlab import create
    >>> round(create("natural_exp", base_lr=1.0, gamma=0.5)(2), 6)
    0.367879
    """

    base_lr: Annotated[float, P.lr()]
    gamma: Annotated[float, P.real(0.0)]
    step_size: Annotated[int | str, P.steps()] = 1

    def _at(self, k):
        return self.base_lr * np.exp(-self.gamma * (k / self.step_size))


@register("inverse_time", "inverse_time_decay")
class InverseTime(Schedule):
    """``lr(k) = base_lr / (1 + gamma * k / step_size)``.

    >>> from lrlab import create
    >>> create("inverse_time", base_lr=1.0, gamma=1.0).curve(3).round(6).tolist()
    [1.0, 0.5, 0.333333]
    """

    base_lr: Annotated[float, P.lr()]
    gamma: Annotated[float, P.real(0.0)]
    step_size: Annotated[int | str, P.steps()] = 1

    def _at(self, k):
        return self.base_lr / (1.0 + self.gamma * (k / self.step_size))


@register("polynomial", "poly", "polynomial_decay")
class Polynomial(Schedule):
    """``lr(k) = (base_lr - min_lr) * (1 - t / T) ** power + min_lr``.

    Without ``cycle``: ``t = min(k, total_steps)``, ``T = total_steps`` (holds ``min_lr``).
    With ``cycle``: ``t = k`` and ``T = total_steps * ceil(k / total_steps)`` (at least one
    period), so the decay restarts from a lower peak each period (Paddle's ``cycle=True``).

    >>> from lrlab import create
    >>> create("polynomial", base_lr=1.0, total_steps=4, power=2.0).curve(6).tolist()
    [1.0, 0.5625, 0.25, 0.0625, 0.0, 0.0]
    """

    base_lr: Annotated[float, P.lr()]
    total_steps: Annotated[int | str, P.steps()]
    min_lr: Annotated[float, P.lr()] = 0.0
    power: Annotated[float, P.real(0.0)] = 1.0
    cycle: Annotated[bool, P.flag()] = False

    def _at(self, k):
        T = self.total_steps
        if self.cycle:
            period = T * np.maximum(1, -(-k // T))
            t = k
        else:
            period, t = T, np.minimum(k, T)
        return (self.base_lr - self.min_lr) * (1.0 - t / period) ** self.power + self.min_lr


@register("linear", "linear_decay")
class Linear(Schedule):
    """``lr(k) = base_lr * (start_factor + (end_factor - start_factor) * min(k, T) / T)``.

    Defaults decay linearly from ``base_lr`` to 0; torch/Paddle ``LinearLR`` (a warmup by
    default) is ``start_factor=1/3, end_factor=1``.

    >>> from lrlab import create
    >>> create("linear", base_lr=1.0, total_steps=4).curve(6).tolist()
    [1.0, 0.75, 0.5, 0.25, 0.0, 0.0]
    """

    base_lr: Annotated[float, P.lr()]
    total_steps: Annotated[int | str, P.steps()]
    start_factor: Annotated[float, P.real(0.0, strict=False)] = 1.0
    end_factor: Annotated[float, P.real(0.0, strict=False)] = 0.0

    def _at(self, k):
        t = np.minimum(k, self.total_steps) / self.total_steps
        return self.base_lr * (self.start_factor + (self.end_factor - self.start_factor) * t)


def _half_cosine(base, low, t):
    """``low + (base - low) * (1 + cos(pi * t)) / 2`` for t in [0, 1]."""
    return low + (base - low) * (1.0 + np.cos(np.pi * t)) / 2.0


@register("cosine", "cos", "cosine_annealing")
class Cosine(Schedule):
    """``lr(k) = min_lr + (base_lr - min_lr) * (1 + cos(pi * min(k, T) / T)) / 2``.

    Holds ``min_lr`` after ``total_steps`` (torch's ``CosineAnnealingLR`` rises again; its
    exact sequence is ``lrlab.from_torch("CosineAnnealingLR", ...)``).

    >>> from lrlab import create
    >>> create("cosine", base_lr=1.0, total_steps=2).curve(4).round(6).tolist()
    [1.0, 0.5, 0.0, 0.0]
    """

    base_lr: Annotated[float, P.lr()]
    total_steps: Annotated[int | str, P.steps()]
    min_lr: Annotated[float, P.lr()] = 0.0

    def _at(self, k):
        return _half_cosine(self.base_lr, self.min_lr, np.minimum(k, self.total_steps) / self.total_steps)


@register("cosine_restarts", "sgdr", "cosine_warm_restarts")
class CosineRestarts(Schedule):
    """SGDR: cosine from the peak to ``min_lr`` over cycles of ``step_size * t_mult**i`` steps.

    In cycle ``i`` (from 0) at position ``t`` of length ``T_i``:
    ``lr = min_lr + (base_lr * gamma**i - min_lr) * (1 + cos(pi * t / T_i)) / 2``.

    >>> from lrlab import create
    >>> create("cosine_restarts", base_lr=1.0, step_size=2).curve(5).round(6).tolist()
    [1.0, 0.5, 1.0, 0.5, 1.0]
    """

    base_lr: Annotated[float, P.lr()]
    step_size: Annotated[int | str, P.steps()]
    t_mult: Annotated[int, P.integer(1)] = 1
    min_lr: Annotated[float, P.lr()] = 0.0
    gamma: Annotated[float, P.real(0.0)] = 1.0

    def _validate(self):
        if self.gamma > 1.0:
            self._fail("gamma", "a finite number > 0 and <= 1 (peak decay per restart)", self.gamma)
        if self.min_lr > self.base_lr:
            self._fail("min_lr", f"<= base_lr ({self.base_lr})", self.min_lr)

    def _at(self, k):
        i, t, Ti = restart_cycle(k, self.step_size, self.t_mult)
        peak = self.base_lr * self.gamma ** i.astype(np.float64)
        return _half_cosine(peak, np.minimum(self.min_lr, peak), t / Ti)  # gamma may sink the peak


def restart_cycle(k: np.ndarray, T0: int, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(i, t, T_i)`` for each step ``k``: the warm-restart cycle ``i`` holding it (cycle ``i``
    is ``T_i = T0 * m**i`` steps long), the position ``t`` in it, and ``T_i`` as a float.

    The cycle starts are summed in exact (Python) integers up to the largest step, so no
    logarithm rounds and no power overflows, whatever ``m`` (at most 63 cycles when ``m > 1``).

    >>> import numpy as np
    >>> [a.tolist() for a in restart_cycle(np.array([0, 2, 3, 8, 9]), 3, 2)]
    [[0, 0, 1, 1, 2], [0, 2, 0, 5, 0], [3.0, 3.0, 6.0, 6.0, 12.0]]
    """
    if m == 1 or not k.size:
        return k // T0, k % T0, np.full(k.shape, float(T0))
    top = int(k.max())
    starts, lengths = [0], [T0]
    while starts[-1] + lengths[-1] <= top:
        starts.append(starts[-1] + lengths[-1])
        lengths.append(lengths[-1] * m)
    i = np.searchsorted(np.array(starts, dtype=np.int64), k, side="right") - 1
    t = k - np.array(starts, dtype=np.int64)[i]
    return i, t, np.array([float(n) for n in lengths])[i]


@register("multiplicative")
class Multiplicative(Schedule):
    """``lr(k) = base_lr * fn(1) * fn(2) * ... * fn(k)`` (``lr(0) = base_lr``).

    ``fn`` is a Python callable (not writable to a config). The product is formed one step
    at a time in torch's order (``((base_lr * fn(1)) * fn(2)) * ...``), each factor computed
    once, so a step's value does not depend on the steps asked before; a factor must be finite
    and >= 0, and the first bad one raises at the step that sees it.

    >>> from lrlab import create
    >>> create("multiplicative", base_lr=1.0, fn=lambda k: 0.5).curve(3).tolist()
    [1.0, 0.5, 0.25]
    """

    base_lr: Annotated[float, P.lr()]
    fn: Annotated[Callable, P.function()]

    def _at(self, k):
        if not k.size:
            return np.zeros(0)
        return self._replayed(int(k.max()), self._products)[k]

    def _products(self):
        """``lr_0 = base_lr``, ``lr_k = lr_{k-1} * fn(k)``: torch's order of the products, one
        step at a time, so a step's value never depends on which steps were asked before."""
        lr, k = self.base_lr, 0
        while True:
            yield lr
            k += 1
            lr = lr * user_factor(self.name, self.fn, k)


@register("lambda", "lambda_decay")
class Lambda(Schedule):
    """``lr(k) = base_lr * fn(k)``; ``fn`` must return a finite factor >= 0.

    >>> from lrlab import create
    >>> create("lambda", base_lr=0.1, fn=lambda k: 0.5 ** k).curve(3).tolist()
    [0.1, 0.05, 0.025]
    """

    base_lr: Annotated[float, P.lr()]
    fn: Annotated[Callable, P.function()]

    def _at(self, k):
        return self.base_lr * user_factors(self.name, self.fn, k)


def user_factor(name: str, fn: Callable, x: int, param: str = "fn", at: str = "step") -> float:
    """``fn(x)``, checked to be a finite number >= 0; else an error naming the schedule, the
    parameter and the step."""
    v = fn(x)
    try:
        f = float(v)
    except (TypeError, ValueError, OverflowError):
        raise TypeError(f"{name}: {param} returned {P.show(v)} at {at} {x}; it must return a "
                        f"number") from None
    if not (math.isfinite(f) and f >= 0.0):
        raise ValueError(f"{name}: {param} returned {P.show(v)} at {at} {x}; a factor must be "
                         f"finite and >= 0")
    return f


def user_factors(name: str, fn: Callable, k: np.ndarray, param: str = "fn",
                 at: str = "step") -> np.ndarray:
    """``user_factor`` for every element of ``k`` (given to ``fn`` as Python ints)."""
    out = np.empty(k.shape)
    for i, x in enumerate(k.flat):
        out.flat[i] = user_factor(name, fn, x.item(), param, at)
    return out
