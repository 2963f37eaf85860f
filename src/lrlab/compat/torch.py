"""``from_torch``: each ``torch.optim.lr_scheduler`` class as an lrlab schedule.

Builders take the class's keywords (minus the optimizer; ``lr`` is the optimizer's LR)."""

from __future__ import annotations

from ..schedules import create
from .base import TORCH, builder


@builder(TORCH, "StepLR")
def step_lr(lr, step_size, gamma=0.1):
    return create("step", base_lr=lr, step_size=step_size, gamma=gamma)
