"""Cyclical schedules: CLR (Smith 2017) and one-cycle (Smith & Topin 2018)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import numpy as np

from . import params as P
from .base import Schedule, register
from .decay import user_factors


@register("cyclic", "clr", "cyclical")
class Cyclic(Schedule):
    """Cyclical LR between ``base_lr`` and ``max_lr``; a cycle is ``step_size`` steps up then
    ``step_size_down`` (default: ``step_size``) steps down.

    With ``L = up + down``, ``cycle = floor(1 + k / L)``, ``x = 1 + k / L - cycle``:
    ``h = x / r`` if ``x <= r`` else ``(x - 1) / (r - 1)`` (``r = up / L``), and
    ``lr = base_lr + (max_lr - base_lr) * h * scale``, where ``scale`` is 1 (``triangular``),
    ``1 / 2 ** (cycle - 1)`` (``triangular2``), ``gamma ** k`` (``exp_range``), or
    ``scale_fn(cycle)`` / ``scale_fn(k)`` for a custom ``scale_fn`` (``scale_mode`` cycle or
    iterations). Same arithmetic as torch's ``CyclicLR``.

    ``triangular2`` past cycle 1024: ``2.0 ** (cycle - 1)`` overflows a float there; torch and
    Paddle raise ``OverflowError``, lrlab takes the limit (scale 0), so the LR stays ``base_lr``.

    >>> from lrlab import create
    >>> create("cyclic", base_lr=0.25, max_lr=1.0, step_size=2).curve(5).tolist()
    [0.25, 0.625, 1.0, 0.625, 0.25]
    """

    base_lr: Annotated[float, P.lr()]
    max_lr: Annotated[float, P.lr()]
    step_size: Annotated[int | str, P.steps()]
    step_size_down: Annotated[int | str | None, P.steps(optional=True)] = None
    mode: Annotated[str, P.choice("triangular", "triangular2", "exp_range")] = "triangular"
    gamma: Annotated[float, P.real(0.0, high=1.0)] = 1.0
    scale_fn: Annotated[Callable | None, P.function(optional=True)] = None
    scale_mode: Annotated[str, P.choice("cycle", "iterations")] = "cycle"

    def _validate(self):
        if self.max_lr < self.base_lr:
            self._fail("max_lr", f">= base_lr ({self.base_lr})", self.max_lr)

    def _at(self, k):
        up = float(self.step_size)
        down = float(self.step_size_down) if self.step_size_down is not None else up
        total = up + down
        ratio = up / total
        cycle = np.floor(1 + k / total)
        x = 1.0 + k / total - cycle
        height = (self.max_lr - self.base_lr) * np.where(x <= ratio, x / ratio, (x - 1) / (ratio - 1))
        if self.scale_fn is not None:
            arg = cycle.astype(np.int64) if self.scale_mode == "cycle" else k
            at = "cycle" if self.scale_mode == "cycle" else "step"
            scale = user_factors(self.name, self.scale_fn, arg, "scale_fn", at)
        elif self.mode == "triangular":
            scale = 1.0
        elif self.mode == "triangular2":
            scale = 1 / (2.0 ** (cycle - 1))
        else:
            scale = self.gamma ** k.astype(np.float64)
        return self.base_lr + height * scale


def _anneal(start, end, pct, how):
    if how == "cos":
        return end + (start - end) / 2.0 * (np.cos(np.pi * pct) + 1)
    return (end - start) * pct + start


def anneal_phases(k: np.ndarray, phases: list[tuple[float, float, float]], how: str) -> np.ndarray:
    """Piecewise annealing: phase ``i`` goes from ``start_lr`` to ``end_lr`` (``cos`` or
    ``linear``) between the previous phase's ``end_step`` (0 for the first) and its own;
    ``phases = [(end_step, start_lr, end_lr)]``; the last phase also takes every later step."""
    out = np.empty(k.shape)
    start, done = 0.0, np.zeros(k.shape, dtype=bool)
    for i, (end, a, b) in enumerate(phases):
        sel = ~done & ((k <= end) if i < len(phases) - 1 else True)
        out[sel] = _anneal(a, b, (k[sel] - start) / (end - start), how)
        done |= sel
        start = end
    return out


@register("one_cycle", "onecycle", "1cycle")
class OneCycle(Schedule):
    """One-cycle: from ``max_lr / div_factor`` up to ``max_lr`` over the first ``pct_start``
    of ``total_steps``, then down to ``max_lr / div_factor / final_div_factor`` at the last
    step (``three_phase``: back to the start LR first, then to the floor). Annealing is
    ``cos`` or ``linear``; phase ends are torch's (``pct_start * T - 1``, ``T - 1``).
    Holds the floor after ``total_steps`` (torch raises there).

    >>> from lrlab import create
    >>> s = create("one_cycle", max_lr=1.0, total_steps=5, pct_start=0.4, anneal="linear",
    ...            div_factor=4.0, final_div_factor=1.0)
    >>> s.curve(6).round(6).tolist()
    [0.25, 1.0, 0.75, 0.5, 0.25, 0.25]
    """

    max_lr: Annotated[float, P.lr()]
    total_steps: Annotated[int | str, P.steps(2)]
    pct_start: Annotated[float, P.real(0.0, high=1.0, high_strict=True)] = 0.3
    anneal: Annotated[str, P.choice("cos", "linear")] = "cos"
    div_factor: Annotated[float, P.real(0.0)] = 25.0
    final_div_factor: Annotated[float, P.real(0.0)] = 1e4
    three_phase: Annotated[bool, P.flag()] = False

    def _phases(self) -> list[tuple[float, float, float]]:
        """``[(end_step, start_lr, end_lr)]``, each phase starting where the last one ended."""
        T, lo = self.total_steps, self.max_lr / self.div_factor
        floor = lo / self.final_div_factor
        e1 = float(self.pct_start * T) - 1
        if self.three_phase:
            return [(e1, lo, self.max_lr), (float(2 * self.pct_start * T) - 2, self.max_lr, lo),
                    (T - 1, lo, floor)]
        return [(e1, lo, self.max_lr), (T - 1, self.max_lr, floor)]

    def _validate(self):
        if self._relative("total_steps"):  # the phases are checked again when bound
            if self.three_phase and self.pct_start >= 0.5:
                self._fail("pct_start", "< 0.5 with three_phase", self.pct_start)
            return
        ends = [0.0] + [e for e, _, _ in self._phases()]
        if any(b <= a for a, b in zip(ends, ends[1:])):
            need = "< 0.5 with three_phase and " if self.three_phase else ""
            self._fail("pct_start", f"{need}such that every phase has at least one step "
                       f"(phase ends {ends[1:]} for total_steps={self.total_steps})", self.pct_start)

    def _at(self, k):
        return anneal_phases(np.minimum(k, self.total_steps - 1), self._phases(), self.anneal)
