"""Drive a ``torch.optim`` optimizer from an lrlab schedule (or an ``lrlab.Plateau``).

``LRLabScheduler`` is a genuine ``torch.optim.lr_scheduler.LRScheduler``: use it in a plain
loop (``optimizer.step(); scheduler.step()``) or anywhere torch schedulers are accepted, e.g.
Lightning's ``configure_optimizers`` returning ``{"scheduler": s, "interval": "step"}``.
The LR applied by the (k+1)-th ``optimizer.step()`` is ``schedule(k)``.

    >>> import torch, lrlab
    >>> from lrlab.integrations.torch import LRLabScheduler
    >>> w = torch.nn.Parameter(torch.zeros(1))
    >>> opt = torch.optim.SGD([w], lr=0.1)
    >>> sched = LRLabScheduler(opt, lrlab.create("step", base_lr=0.1, step_size=2, gamma=0.5))
    >>> lrs = []
    >>> for _ in range(5):
    ...     lrs.append(opt.param_groups[0]["lr"]); opt.step(); sched.step()
    >>> lrs
    [0.1, 0.1, 0.05, 0.05, 0.025]

``PlateauScheduler`` wraps an ``lrlab.Plateau`` and steps on a metric (it subclasses
``ReduceLROnPlateau``, so Lightning recognises it and passes the monitored metric).

Both schedulers' ``state_dict()`` hold plain Python data only (ints, floats, lists, the
schedule's config), so they survive ``torch.save`` + ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from typing import Any, Sequence

from torch import Tensor
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

from ..control import Plateau
from ..schedules import Schedule
from . import schedule_config



def _set_lr(group: dict[str, Any], lr: float) -> None:
    if isinstance(group["lr"], Tensor):
        group["lr"].fill_(lr)
    else:
        group["lr"] = lr


def _ratios(who: str, base_lrs: Sequence[float | Tensor]) -> list[float]:
    """``initial_lr_g / initial_lr_0`` for every group (exactly 1.0 for group 0)."""
    base = [float(b) for b in base_lrs]
    if len(base) > 1 and base[0] == 0.0:
        raise ValueError(f"{who}: param group 0 has initial lr 0, so the other groups' lr "
                         f"ratios to it are undefined; give group 0 a non-zero lr or pass one "
                         f"schedule per group")
    return [1.0] + [b / base[0] for b in base[1:]]


def _checked_base_lrs(sched: Any, state: dict[str, Any], key: str, mine: Any) -> list[float]:
    """The saved ``base_lrs``, after checking the state belongs to this scheduler."""
    who = type(sched).__name__
    if state.get(key) != mine:
        raise ValueError(f"{who}: the state was saved with {key} {state.get(key)!r}, but this "
                         f"scheduler runs {mine!r}")
    base = [float(b) for b in state["base_lrs"]]
    if len(base) != len(sched.optimizer.param_groups):
        raise ValueError(f"{who}: the state has {len(base)} param groups, the optimizer "
                         f"has {len(sched.optimizer.param_groups)}")
    return base


class LRLabScheduler(LRScheduler):
    """A torch ``LRScheduler`` whose LR after ``k`` ``step()`` calls is ``schedule(k)``.

    ``schedule`` is one lrlab schedule or a list of them, one per param group:

    - one schedule: group 0 gets exactly ``schedule(k)``; every other group keeps its ratio
      to group 0's initial lr, ``schedule(k) * (initial_lr_g / initial_lr_0)`` (the initial
      lrs are ``group["initial_lr"]``, set from the group lrs when the first scheduler is
      created, as with every torch scheduler);
    - a list: group ``g`` gets exactly ``schedules[g](k)``; the optimizer's lrs are ignored.

    The LR is a pure function of ``last_epoch`` (the group lrs are written, never read), so
    ``step(epoch)`` jumps anywhere and resuming cannot drift. ``state_dict()`` is plain data:
    the counters, ``base_lrs`` and the schedule's config (``None`` for a schedule holding a
    Python callable, which then cannot be checked on load). ``load_state_dict()`` raises
    ``ValueError`` when the saved config differs from this scheduler's, restores the counters
    and writes the resumed LRs into the optimizer, so the run continues exactly.

        >>> import torch, lrlab
        >>> from lrlab.integrations.torch import LRLabScheduler
        >>> a, b = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
        >>> opt = torch.optim.SGD([{"params": [a], "lr": 1.0}, {"params": [b], "lr": 0.1}])
        >>> s = LRLabScheduler(opt, lrlab.create("cosine", base_lr=0.5, total_steps=4))
        >>> [g["lr"] for g in opt.param_groups]
        [0.5, 0.05]
    """

    def __init__(self, optimizer: Optimizer, schedule: Schedule | Sequence[Schedule],
                 last_epoch: int = -1) -> None:
        who = type(self).__name__
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{who}: optimizer must be a torch.optim.Optimizer, got {optimizer!r}")
        self._shared = isinstance(schedule, Schedule)
        schedules = list(schedule) if isinstance(schedule, (list, tuple)) else [schedule]
        for s in schedules:
            if not isinstance(s, Schedule):
                raise TypeError(f"{who}: schedule must be an lrlab Schedule or a list of them "
                                f"(one per param group), got {s!r}")
            if not s.is_bound:
                raise ValueError(f"{who}: {s!r} has relative lengths; call "
                                 f".bind(total_steps) before handing it to the scheduler")
        if not self._shared and len(schedules) != len(optimizer.param_groups):
            raise ValueError(f"{who}: got {len(schedules)} schedules for "
                             f"{len(optimizer.param_groups)} param groups; pass one per group")
        self.schedules = tuple(schedules)
        self._configs = [schedule_config(s) for s in schedules]
        self._ratio = None
        super().__init__(optimizer, last_epoch)

    @property
    def schedule(self) -> Schedule | tuple[Schedule, ...]:
        return self.schedules[0] if self._shared else self.schedules

    def _lrs(self, k: int) -> list[float]:
        if self._shared:
            if self._ratio is None:
                self._ratio = _ratios(type(self).__name__, self.base_lrs)
            v = self.schedules[0](k)
            return [v] if len(self._ratio) == 1 else [v * r for r in self._ratio]
        return [s(k) for s in self.schedules]

    def get_lr(self) -> list[float]:
        """The LR of every group at step ``last_epoch`` (pure: group lrs are not read)."""
        return self._lrs(self.last_epoch)

    def _get_closed_form_lr(self) -> list[float]:
        return self._lrs(self.last_epoch)

    def _schedule_config(self) -> Any:
        return self._configs[0] if self._shared else list(self._configs)

    def state_dict(self) -> dict[str, Any]:
        return {"last_epoch": int(self.last_epoch), "_step_count": int(self._step_count),
                "base_lrs": [float(b) for b in self.base_lrs],
                "_last_lr": [float(x) for x in self._last_lr],
                "schedule": self._schedule_config()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.base_lrs = _checked_base_lrs(self, state_dict, "schedule", self._schedule_config())
        self._ratio = None
        self.last_epoch = int(state_dict["last_epoch"])
        self._step_count = int(state_dict["_step_count"])
        lrs = self._lrs(self.last_epoch)
        for group, lr in zip(self.optimizer.param_groups, lrs):
            _set_lr(group, lr)
        self._last_lr = [float(x) for x in lrs]


class PlateauScheduler(ReduceLROnPlateau):
    """Reduce-on-plateau driven by an ``lrlab.Plateau``: ``step(metric)`` after each epoch.

    Group 0's LR is ``plateau.lr``; every other group keeps its ratio to group 0's initial lr
    (as in ``LRLabScheduler``). The wrapped ``plateau`` is updated in place. Its decisions are
    exactly the bare ``Plateau``'s for the same metrics; the LRs are written, never read.
    ``state_dict()`` is plain data including the plateau's config and state; loading a state
    saved with a different plateau config raises ``ValueError``.

        >>> import torch, lrlab
        >>> from lrlab.integrations.torch import PlateauScheduler
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> s = PlateauScheduler(opt, lrlab.Plateau(1.0, patience=1, factor=0.5))
        >>> for m in [3.0, 3.0, 3.0]:
        ...     s.step(m)
        >>> opt.param_groups[0]["lr"]
        0.5
    """

    def __init__(self, optimizer: Optimizer, plateau: Plateau) -> None:  # noqa: D107
        who = type(self).__name__
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{who}: optimizer must be a torch.optim.Optimizer, got {optimizer!r}")
        if not isinstance(plateau, Plateau):
            raise TypeError(f"{who}: plateau must be an lrlab.Plateau, got {plateau!r}")
        # ReduceLROnPlateau.__init__ is not called: its counters live in the plateau here.
        self.optimizer = optimizer
        self.plateau = plateau
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", float(group["lr"]))
        self.base_lrs = [float(g["initial_lr"]) for g in optimizer.param_groups]
        self._ratio = _ratios(who, self.base_lrs)
        self.last_epoch = 0
        self._apply()

    # the ReduceLROnPlateau attributes, read from the plateau
    best = property(lambda self: self.plateau.best)
    num_bad_epochs = property(lambda self: self.plateau.num_bad_epochs)
    cooldown_counter = property(lambda self: self.plateau.cooldown_counter)
    in_cooldown = property(lambda self: self.plateau.cooldown_counter > 0)

    def _apply(self) -> None:
        lrs = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, lrs):
            _set_lr(group, lr)
        self._last_lr = lrs

    def get_lr(self) -> list[float]:
        lr = self.plateau.lr
        return [lr * r for r in self._ratio]

    def step(self, metrics: Any, epoch: int | None = None) -> None:  # type: ignore[override]
        """Record one epoch's metric (a number or a 0-dim tensor) and set the next LRs."""
        self.plateau.step(float(metrics))
        self.last_epoch = self.last_epoch + 1 if epoch is None else int(epoch)
        self._apply()

    def state_dict(self) -> dict[str, Any]:
        return {"last_epoch": int(self.last_epoch), "base_lrs": list(self.base_lrs),
                "_last_lr": [float(x) for x in self._last_lr],
                "plateau": self.plateau.to_config(), "plateau_state": self.plateau.state_dict()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        base = _checked_base_lrs(self, state_dict, "plateau", self.plateau.to_config())
        self.base_lrs, self._ratio = base, _ratios(type(self).__name__, base)
        self.plateau.load_state_dict(state_dict["plateau_state"])
        self.last_epoch = int(state_dict["last_epoch"])
        self._apply()
