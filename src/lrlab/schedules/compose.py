"""The composition primitives: ``join`` (pieces in time) and ``chain`` (product).

``join`` is the one way to put schedules one after another: piece ``i`` runs from
``milestones[i-1]`` and sees ``k - milestones[i-1]``, so each piece starts at its own step 0
(optax ``join_schedules``). Warmup-then-decay, SGDR-style restarts and torch's
``SequentialLR`` are joins. ``chain`` multiplies schedules, as torch's ``ChainedScheduler``
multiplies the factors of its members.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np

from . import params as P
from .base import Schedule, register, schedules_kind


@register("join", "sequential")
class Join(Schedule):
    """``lr(k) = schedules[i](k - milestones[i-1])`` for ``milestones[i-1] <= k < milestones[i]``.

    Relative lengths inside a piece are fractions of that piece's span.

    >>> from lrlab import create
    >>> a = create("constant", base_lr=1.0)
    >>> b = create("step", base_lr=0.5, step_size=1, gamma=0.5)
    >>> create("join", schedules=[a, b], milestones=[2]).curve(5).tolist()
    [1.0, 1.0, 0.5, 0.25, 0.125]
    """

    schedules: Annotated[tuple, schedules_kind(1)]
    milestones: Annotated[tuple, P.milestones(1)] = ()

    def _validate(self):
        if len(self.milestones) != len(self.schedules) - 1:
            self._fail("milestones", f"a list of len(schedules) - 1 = {len(self.schedules) - 1} "
                       "steps", list(self.milestones))

    def _span(self, index, n):
        if self.milestones and self.milestones[-1] > n:
            raise ValueError(f"join: milestones {list(self.milestones)} must end within the {n} "
                             f"steps it is bound to")
        edges = (0, *self.milestones, n)
        return max(1, edges[index + 1] - edges[index])  # a piece after the run: never reached

    def _at(self, k):
        piece = np.searchsorted(np.asarray(self.milestones, dtype=np.int64), k, side="right")
        starts = (0, *self.milestones)
        out = np.empty(k.shape)
        for i, s in enumerate(self.schedules):
            sel = piece == i
            if sel.any():
                out[sel] = s.at(k[sel] - starts[i])
        return out


@register("chain", "product", "chained")
class Chain(Schedule):
    """``lr(k) = schedules[0](k) * schedules[1](k) * ...``: give all but one ``base_lr=1``
    to use them as factors.

    >>> from lrlab import create
    >>> lr = create("cosine", base_lr=0.1, total_steps=4)
    >>> pulse = create("cyclic", base_lr=0.5, max_lr=1.0, step_size=1)
    >>> create("chain", schedules=[lr, pulse]).curve(3).round(6).tolist()
    [0.05, 0.085355, 0.025]
    """

    schedules: Annotated[tuple, schedules_kind(1)]

    def _at(self, k):
        out = np.ones(k.shape)
        for s in self.schedules:
            out = out * s.at(k)
        return out
