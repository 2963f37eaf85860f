"""Use an lrlab schedule as a Keras 3 learning-rate schedule.

Keras calls the schedule with the optimizer's iteration count (a tensor), so the (k+1)-th
update uses ``schedule(k)`` (cast to the optimizer's float32). Two modes:

- ``LRLabSchedule(s, steps=N)``: ``s.curve(N)`` becomes a constant table and the step is
  looked up with ``keras.ops`` (``take(table, minimum(step, N - 1))``), so it works inside
  ``jit_compile`` on every backend. After ``N`` steps the last value holds.
- ``LRLabSchedule(s)``: the step is converted to a Python int eagerly and ``s(step)`` is
  called. This works whenever the step is a concrete value (the torch backend, or any backend
  with ``jit_compile=False`` / ``run_eagerly=True``), but not while a graph is traced.

    >>> import lrlab
    >>> from lrlab.integrations.keras import LRLabSchedule
    >>> s = LRLabSchedule(lrlab.create("step", base_lr=0.1, step_size=2, gamma=0.5), steps=4)
    >>> [round(float(s(k)), 6) for k in range(6)]
    [0.1, 0.1, 0.05, 0.05, 0.05, 0.05]

``get_config()`` holds the lrlab config (and ``steps``), which ``from_config`` rebuilds with
``lrlab.from_config`` (``from_torch`` / ``from_paddle`` schedules included). The class is
registered as ``lrlab>LRLabSchedule`` when this module is imported, so models saved with it
load back (``keras.optimizers.schedules.deserialize`` included) in any process that imports
``lrlab.integrations.keras`` first.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from ..schedules import Schedule, from_config


@keras.saving.register_keras_serializable(package="lrlab")
class LRLabSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """A ``keras.optimizers.schedules.LearningRateSchedule`` computing ``schedule(step)``.

    ``steps=N`` precomputes ``schedule.curve(N)`` (jit-safe table lookup, last value held
    after ``N``); without it the step is read eagerly as an int (see the module doc).

        >>> import lrlab
        >>> from lrlab.integrations.keras import LRLabSchedule
        >>> s = LRLabSchedule(lrlab.create("cosine", base_lr=0.1, total_steps=4))
        >>> round(float(s(2)), 6), s.get_config()["steps"]
        (0.05, None)
    """

    def __init__(self, schedule: Schedule, steps: int | None = None) -> None:
        if not isinstance(schedule, Schedule):
            raise TypeError(f"LRLabSchedule: schedule must be an lrlab Schedule, got {schedule!r}")
        if not schedule.is_bound:
            raise ValueError(f"LRLabSchedule: {schedule!r} has relative lengths; call "
                             f".bind(total_steps) first")
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int)
                                  or steps < 1):
            raise ValueError(f"LRLabSchedule: steps must be an int >= 1 or None, got {steps!r}")
        self.schedule = schedule
        self.steps = steps
        self._table = None if steps is None else schedule.curve(steps).astype(np.float32)
        self._tensor = None  # the table as a backend tensor, kept on eager backends

    def _table_tensor(self) -> Any:
        if self._tensor is not None:
            return self._tensor
        table = keras.ops.convert_to_tensor(self._table, dtype="float32")
        if keras.backend.backend() == "torch":  # eager: keep it; traced backends embed it
            self._tensor = table
        return table

    def __call__(self, step: Any) -> Any:
        if self._table is None:
            return self.schedule(int(keras.ops.convert_to_numpy(step)))
        k = keras.ops.minimum(keras.ops.cast(step, "int32"), self.steps - 1)
        return keras.ops.take(self._table_tensor(), k)

    def get_config(self) -> dict[str, Any]:
        return {"schedule": self.schedule.to_config(), "steps": self.steps}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LRLabSchedule:
        return cls(from_config(config["schedule"]), steps=config.get("steps"))
