"""Warmup and the schedules built around it: warmup(any schedule), noam, inverse_sqrt, wsd."""

from __future__ import annotations

from typing import Annotated

import numpy as np

from . import params as P
from .base import Schedule, register, schedule_kind


@register("warmup", "linear_warmup")
class Warmup(Schedule):
    """Warm up for ``warmup_steps`` steps into ``schedule`` (a schedule or a constant LR),
    which then runs from its own step 0: ``lr(k) = schedule(k - W)`` for ``k >= W``.

    During warmup, with ``target = schedule(0)`` and ``start = start_lr`` (default
    ``target / (W + 1)``, so step 0 never has LR 0):
    ``linear``: ``start + (target - start) * k / W``; ``exponential``:
    ``start * (target / start) ** (k / W)``. Relative lengths inside ``schedule`` are
    fractions of what follows the warmup.

    >>> from lrlab import create
    >>> create("warmup", schedule=1.0, warmup_steps=3).curve(5).round(6).tolist()
    [0.25, 0.5, 0.75, 1.0, 1.0]
    """

    schedule: Annotated[Schedule | float, schedule_kind(allow_float=True)]
    warmup_steps: Annotated[int | str, P.steps()]
    start_lr: Annotated[float | None, P.real(0.0, optional=True)] = None
    mode: Annotated[str, P.choice("linear", "exponential")] = "linear"

    def _target(self) -> float:
        return self.schedule(0) if isinstance(self.schedule, Schedule) else self.schedule

    def _validate(self):
        if self.is_bound and self.mode == "exponential" and self._target() == 0.0:
            self._fail("schedule", "a schedule starting above 0 for exponential warmup", self.schedule)

    def _span(self, index, n):
        if self.warmup_steps > n:
            raise ValueError(f"warmup: warmup_steps ({self.warmup_steps}) must be at most the "
                             f"{n} steps it is bound to")
        return n - self.warmup_steps

    def _at(self, k):
        W, target = self.warmup_steps, self._target()
        start = self.start_lr if self.start_lr is not None else target / (W + 1)
        t = np.minimum(k, W) / W
        if self.mode == "linear":
            ramp = start + (target - start) * t
        else:
            ramp = start * (target / start) ** t
        if not isinstance(self.schedule, Schedule):
            return np.where(k < W, ramp, target)
        out = ramp
        after = k >= W
        if after.any():
            out[after] = self.schedule.at(k[after] - W)
        return out


@register("inverse_sqrt", "rsqrt")
class InverseSqrt(Schedule):
    """Linear warmup to ``base_lr``, then decay with the inverse square root of the step:
    ``lr(k) = base_lr * min((k + 1) / W, sqrt(W / (k + 1)))`` (peak at step ``W - 1``).

    >>> from lrlab import create
    >>> create("inverse_sqrt", base_lr=1.0, warmup_steps=4).curve(5).round(6).tolist()
    [0.25, 0.5, 0.75, 1.0, 0.894427]
    """

    base_lr: Annotated[float, P.lr()]
    warmup_steps: Annotated[int | str, P.steps()]

    def _at(self, k):
        n = (k + 1).astype(np.float64)
        return self.base_lr * np.minimum(n / self.warmup_steps, np.sqrt(self.warmup_steps / n))


@register("noam")
class Noam(Schedule):
    """The Transformer schedule (Vaswani et al. 2017), with the paper's 1-based step ``n = k + 1``:
    ``lr(k) = base_lr * d_model ** -0.5 * min(n ** -0.5, n * warmup_steps ** -1.5)``.
    (Paddle's ``NoamDecay`` uses ``n = k``, so its step 0 has LR 0: see ``from_paddle``.)

    >>> from lrlab import create
    >>> round(create("noam", d_model=16, warmup_steps=4)(3), 6)
    0.125
    """

    d_model: Annotated[float, P.real(0.0)]
    warmup_steps: Annotated[int | str, P.steps()]
    base_lr: Annotated[float, P.lr()] = 1.0

    def _at(self, k):
        n = (k + 1).astype(np.float64)
        return self.base_lr * self.d_model ** -0.5 * np.minimum(n ** -0.5, n * self.warmup_steps ** -1.5)


@register("wsd", "warmup_stable_decay", "trapezoid")
class WSD(Schedule):
    """Warmup-stable-decay: ``warmup_steps`` of linear warmup (``base_lr * (k + 1) / (W + 1)``),
    hold ``base_lr``, then decay to ``min_lr`` over the last ``decay_steps`` of ``total_steps``
    (``linear``, ``cosine`` or ``sqrt``: ``1 - sqrt(t)``); holds ``min_lr`` afterwards.

    >>> from lrlab import create
    >>> create("wsd", base_lr=1.0, total_steps=6, warmup_steps=1, decay_steps=2).curve(7).tolist()
    [0.5, 1.0, 1.0, 1.0, 1.0, 0.5, 0.0]
    """

    base_lr: Annotated[float, P.lr()]
    total_steps: Annotated[int | str, P.steps()]
    decay_steps: Annotated[int | str, P.steps()]
    warmup_steps: Annotated[int | str, P.steps(0)] = 0
    min_lr: Annotated[float, P.lr()] = 0.0
    decay: Annotated[str, P.choice("linear", "cosine", "sqrt")] = "linear"

    def _validate(self):
        if self._relative("warmup_steps", "decay_steps", "total_steps"):
            return
        if self.warmup_steps + self.decay_steps > self.total_steps:
            self._fail("warmup_steps + decay_steps", f"<= total_steps ({self.total_steps})",
                       self.warmup_steps + self.decay_steps)

    def _at(self, k):
        W, D, T = self.warmup_steps, self.decay_steps, self.total_steps
        t = np.clip(k - (T - D), 0, D) / D
        if self.decay == "linear":
            shape = 1.0 - t
        elif self.decay == "cosine":
            shape = (1.0 + np.cos(np.pi * t)) / 2.0
        else:
            shape = 1.0 - np.sqrt(t)
        out = self.min_lr + (self.base_lr - self.min_lr) * shape
        return np.where(k < W, self.base_lr * (k + 1) / (W + 1), out)
