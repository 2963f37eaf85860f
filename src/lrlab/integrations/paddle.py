"""Drive a paddle optimizer from an lrlab schedule (or an ``lrlab.Plateau``).

Pass the scheduler as the optimizer's ``learning_rate`` and call ``step()`` after each
``optimizer.step()``: the (k+1)-th update uses ``schedule(k)``, and ``last_lr`` after ``k``
``step()`` calls is ``schedule(k)``.

    >>> import paddle, lrlab
    >>> from lrlab.integrations.paddle import LRLabScheduler
    >>> sched = LRLabScheduler(lrlab.create("step", base_lr=0.1, step_size=2, gamma=0.5))
    >>> opt = paddle.optimizer.SGD(learning_rate=sched, parameters=paddle.nn.Linear(2, 1).parameters())
    >>> lrs = []
    >>> for _ in range(5):
    ...     lrs.append(opt.get_lr()); opt.step(); sched.step()
    >>> lrs
    [0.1, 0.1, 0.05, 0.05, 0.025]

Paddle param groups scale the global LR by their own ``learning_rate`` factor, so one
schedule drives every group. ``state_dict()`` is plain data (it is also saved inside the
optimizer's ``state_dict()`` under ``"LR_Scheduler"``).
"""

from __future__ import annotations

from typing import Any

from paddle.optimizer.lr import LRScheduler

from ..control import Plateau
from ..schedules import Schedule
from . import schedule_config




class LRLabScheduler(LRScheduler):
    """A paddle ``LRScheduler`` whose ``last_lr`` after ``k`` ``step()`` calls is ``schedule(k)``.

    Pure in ``last_epoch``: ``step(epoch)`` jumps anywhere. ``state_dict()`` holds
    ``last_epoch``, ``last_lr`` and the schedule's config (``None`` for a schedule holding a
    Python callable); ``set_state_dict()`` raises ``ValueError`` when the saved config differs
    from this scheduler's, so a resumed run continues exactly or not at all.

        >>> import lrlab
        >>> from lrlab.integrations.paddle import LRLabScheduler
        >>> s = LRLabScheduler(lrlab.create("cosine", base_lr=0.1, total_steps=4))
        >>> s.step(); s.step()
        >>> s.last_epoch, round(s(), 6)
        (2, 0.05)
    """

    def __init__(self, schedule: Schedule, last_epoch: int = -1, verbose: bool = False) -> None:
        if not isinstance(schedule, Schedule):
            raise TypeError(f"LRLabScheduler: schedule must be an lrlab Schedule, got {schedule!r}")
        if not schedule.is_bound:
            raise ValueError(f"LRLabScheduler: {schedule!r} has relative lengths; call "
                             f".bind(total_steps) before handing it to the scheduler")
        self.schedule = schedule
        self._config = schedule_config(schedule)
        super().__init__(schedule(max(last_epoch, 0)), last_epoch, verbose)

    def get_lr(self) -> float:
        return self.schedule(self.last_epoch)

    def _get_closed_form_lr(self) -> float:
        return self.schedule(self.last_epoch)

    def state_dict(self) -> dict[str, Any]:
        return {"last_epoch": int(self.last_epoch), "last_lr": float(self.last_lr),
                "schedule": self._config}

    def set_state_dict(self, state_dict: dict[str, Any]) -> None:
        saved = state_dict.get("schedule")
        if saved != self._config:
            raise ValueError(f"LRLabScheduler: the state was saved with schedule {saved!r}, "
                             f"but this scheduler runs {self._config!r}")
        self.last_epoch = int(state_dict["last_epoch"])
        self.last_lr = self.get_lr()

    set_dict = set_state_dict


class PlateauScheduler(LRScheduler):
    """Paddle reduce-on-plateau driven by an ``lrlab.Plateau``: ``step(metric)`` per epoch.

    ``last_lr`` is always ``plateau.lr``; the wrapped plateau is updated in place, so the
    decisions are exactly the bare ``Plateau``'s. (Use ``lrlab.Plateau(..., semantics="paddle")``
    for Paddle's own ``ReduceOnPlateau`` rules.) ``state_dict()`` holds the plateau's config and
    state; loading a state saved with a different plateau raises ``ValueError``.

        >>> import lrlab
        >>> from lrlab.integrations.paddle import PlateauScheduler
        >>> s = PlateauScheduler(lrlab.Plateau(1.0, patience=1, factor=0.5))
        >>> for m in [3.0, 3.0, 3.0]:
        ...     s.step(m)
        >>> s()
        0.5
    """

    def __init__(self, plateau: Plateau, verbose: bool = False) -> None:
        if not isinstance(plateau, Plateau):
            raise TypeError(f"PlateauScheduler: plateau must be an lrlab.Plateau, got {plateau!r}")
        # LRScheduler.__init__ would call step() without a metric; set its fields directly.
        self.plateau = plateau
        self.base_lr = float(plateau.initial_lr)
        self.last_lr = float(plateau.lr)
        self.last_epoch = 0
        self.verbose = verbose
        self._var_name = None

    def step(self, metrics: Any, epoch: int | None = None) -> None:  # type: ignore[override]
        """Record one epoch's metric (a number, or a tensor/array of one element)."""
        value = metrics.item() if hasattr(metrics, "item") else metrics
        self.last_lr = float(self.plateau.step(value))
        self.last_epoch = self.last_epoch + 1 if epoch is None else int(epoch)
        if self.verbose:
            print(f"Epoch {self.last_epoch}: {type(self).__name__} set learning rate to {self.last_lr}.")

    def get_lr(self) -> float:
        return self.plateau.lr

    def state_dict(self) -> dict[str, Any]:
        return {"last_epoch": int(self.last_epoch), "last_lr": float(self.last_lr),
                "plateau": self.plateau.to_config(), "plateau_state": self.plateau.state_dict()}

    def set_state_dict(self, state_dict: dict[str, Any]) -> None:
        saved, mine = state_dict.get("plateau"), self.plateau.to_config()
        if saved != mine:
            raise ValueError(f"PlateauScheduler: the state was saved with plateau {saved!r}, "
                             f"but this scheduler runs {mine!r}")
        self.plateau.load_state_dict(state_dict["plateau_state"])
        self.last_epoch = int(state_dict["last_epoch"])
        self.last_lr = float(self.plateau.lr)

    set_dict = set_state_dict
