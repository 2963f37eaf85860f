"""``from_paddle``: each ``paddle.optimizer.lr`` class as an lrlab schedule."""

from __future__ import annotations

from ..schedules import create
from .base import PADDLE, builder


@builder(PADDLE, "StepDecay")
def step_decay(learning_rate, step_size, gamma=0.1):
    return create("step", base_lr=learning_rate, step_size=step_size, gamma=gamma)
