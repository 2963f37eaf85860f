"""torch's LR schedulers stepped as torch steps them, on one shared param group (numpy only).

``ChainedScheduler`` and ``SequentialLR`` let several schedulers write one optimizer's LR in
turn; what each computes then depends on what the others wrote before it (recursive members
multiply the current LR; ``SequentialLR`` resets the LR and undoes its members' first step;
a ``ChainedScheduler`` inside a ``SequentialLR`` steps its members from epoch -1; ...). Most
combinations are closed forms (``compat.torch`` builds them as ``chain`` / ``join``); the rest
are *replayed* here: each class below is a line-by-line transcription of the ``get_lr`` /
``step`` / ``_get_closed_form_lr`` of ``torch.optim.lr_scheduler`` (torch 2.13) on a plain
dict standing for the param group, in torch's float order. ``TorchSteps`` is the schedule
that yields the group's LR after each step; ``s(k)`` equals torch's
``optimizer.param_groups[0]['lr']`` after ``k`` steps.

One departure, an lrlab rule for the class on its own too: a ``OneCycleLR`` stepped past
``total_steps`` (torch raises) holds its value at ``total_steps``. Where torch itself raises
(a division by zero, an overflow such as ``CyclicLR``'s ``triangular2`` scale from cycle
1025), the schedule raises a ``ValueError`` naming that step, at construction if torch raises
there; a negative LR is an error at its step, as everywhere in lrlab.
"""

from __future__ import annotations

import dataclasses
import math
from bisect import bisect_right
from collections import Counter
from typing import Annotated, Any, ClassVar

from ..schedules import params as P
from ..schedules.base import ROUNDING, Schedule

_TREE = P.Kind("torch schedulers", lambda where, param, value: value)


# ---- the schedulers, transcribed ------------------------------------------------------------
class _Scheduler:
    """``LRScheduler``: construction runs the initial step (``get_lr`` in initial mode)."""

    has_closed_form = False

    def __init__(self, group: dict, args: dict):
        self.group = group
        self.args = args
        self._setup(args)
        group.setdefault("initial_lr", group["lr"])
        self.base_lr = group["initial_lr"]
        self.last_epoch = -1
        self._is_initial = False
        self._initial_step()
        self._after_init()

    def _setup(self, args: dict) -> None:
        """What the class's ``__init__`` does before ``LRScheduler.__init__``."""

    def _after_init(self) -> None:
        """What the class's ``__init__`` does after it."""

    def _initial_step(self) -> None:
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def step(self) -> None:
        self._step_count += 1
        self._update_lr(None)

    def _update_lr(self, epoch: int | None) -> None:
        if epoch is None:
            self.last_epoch += 1
            value = self.get_lr()
        else:
            self.last_epoch = epoch
            value = self.closed_form() if self.has_closed_form else self.get_lr()
        self.group["lr"] = value

    def get_lr(self) -> float:
        raise NotImplementedError

    def closed_form(self) -> float:
        raise NotImplementedError


class _LambdaLR(_Scheduler):
    def _setup(self, a):
        fn = a["lr_lambda"]
        self.fn = fn[0] if isinstance(fn, (list, tuple)) else fn

    def get_lr(self):
        return self.base_lr * self.fn(self.last_epoch)


class _MultiplicativeLR(_LambdaLR):
    def get_lr(self):
        if not self._is_initial:
            return self.group["lr"] * self.fn(self.last_epoch)
        return self.group["lr"]


class _StepLR(_Scheduler):
    has_closed_form = True

    def get_lr(self):
        a = self.args
        if self.last_epoch == 0 or self.last_epoch % a["step_size"] != 0:
            return self.group["lr"]
        return self.group["lr"] * a["gamma"]

    def closed_form(self):
        a = self.args
        return self.base_lr * a["gamma"] ** (self.last_epoch // a["step_size"])


class _MultiStepLR(_Scheduler):
    has_closed_form = True

    def _setup(self, a):
        self.milestones = Counter(a["milestones"])

    def get_lr(self):
        if self.last_epoch not in self.milestones:
            return self.group["lr"]
        return self.group["lr"] * self.args["gamma"] ** self.milestones[self.last_epoch]

    def closed_form(self):
        ms = sorted(self.milestones.elements())
        return self.base_lr * self.args["gamma"] ** bisect_right(ms, self.last_epoch)


class _ConstantLR(_Scheduler):
    has_closed_form = True

    def get_lr(self):
        a = self.args
        if self.last_epoch == 0:
            return self.group["lr"] * a["factor"]
        if self.last_epoch != a["total_iters"]:
            return self.group["lr"]
        return self.group["lr"] * (1.0 / a["factor"])

    def closed_form(self):
        a = self.args
        return self.base_lr * (a["factor"] + (self.last_epoch >= a["total_iters"]) * (1 - a["factor"]))


class _LinearLR(_Scheduler):
    has_closed_form = True

    def get_lr(self):
        a = self.args
        s, e, n = a["start_factor"], a["end_factor"], a["total_iters"]
        if self.last_epoch == 0:
            return self.group["lr"] * s
        if self._is_initial or self.last_epoch > n:
            return self.group["lr"]
        return self.group["lr"] * (1.0 + (e - s) / (n * s + (self.last_epoch - 1) * (e - s)))

    def closed_form(self):
        a = self.args
        s, e, n = a["start_factor"], a["end_factor"], a["total_iters"]
        return self.base_lr * (s + (e - s) * min(n, self.last_epoch) / n)


class _ExponentialLR(_Scheduler):
    has_closed_form = True

    def get_lr(self):
        if self._is_initial:
            return self.group["lr"]
        return self.group["lr"] * self.args["gamma"]

    def closed_form(self):
        return self.base_lr * self.args["gamma"] ** self.last_epoch


class _PolynomialLR(_Scheduler):
    has_closed_form = True

    def get_lr(self):
        a = self.args
        n = a["total_iters"]
        if self._is_initial or self.last_epoch > n:
            return self.group["lr"]
        decay = ((1.0 - self.last_epoch / n) / (1.0 - (self.last_epoch - 1) / n)) ** a["power"]
        return self.group["lr"] * decay

    def closed_form(self):
        a = self.args
        n = a["total_iters"]
        return self.base_lr * (1.0 - min(n, self.last_epoch) / n) ** a["power"]


class _CosineAnnealingLR(_Scheduler):
    has_closed_form = True

    def get_lr(self):
        T, eta = self.args["T_max"], self.args["eta_min"]
        if self._is_initial:
            return self.group["lr"]
        if self._step_count == 1 and self.last_epoch > 0:
            return eta + (self.base_lr - eta) * (1 + math.cos(self.last_epoch * math.pi / T)) / 2
        if (self.last_epoch - 1 - T) % (2 * T) == 0:
            return self.group["lr"] + (self.base_lr - eta) * (1 - math.cos(math.pi / T)) / 2
        return ((1 + math.cos(math.pi * self.last_epoch / T))
                / (1 + math.cos(math.pi * (self.last_epoch - 1) / T))
                * (self.group["lr"] - eta) + eta)

    def closed_form(self):
        T, eta = self.args["T_max"], self.args["eta_min"]
        return eta + (self.base_lr - eta) * (1 + math.cos(math.pi * self.last_epoch / T)) / 2


class _CyclicLR(_Scheduler):
    def __init__(self, group, args):
        group["lr"] = args["base_lr"]
        super().__init__(group, args)
        self.base_lr = args["base_lr"]  # torch sets base_lrs after its initial step

    def _setup(self, a):
        up = float(a["step_size_up"])
        down = float(a["step_size_down"]) if a["step_size_down"] is not None else up
        self.total_size = up + down
        self.step_ratio = up / self.total_size
        fn, mode = a["scale_fn"], a["mode"]
        if fn is not None:
            self.scale_fn, self.scale_mode = fn, a["scale_mode"]
        elif mode == "triangular":
            self.scale_fn, self.scale_mode = (lambda x: 1.0), "cycle"
        elif mode == "triangular2":  # OverflowError from cycle 1025, as in torch
            self.scale_fn, self.scale_mode = (lambda x: 1 / (2.0 ** (x - 1))), "cycle"
        else:
            gamma = a["gamma"]
            self.scale_fn, self.scale_mode = (lambda x: gamma ** x), "iterations"

    def get_lr(self):
        cycle = math.floor(1 + self.last_epoch / self.total_size)
        x = 1.0 + self.last_epoch / self.total_size - cycle
        if x <= self.step_ratio:
            scale_factor = x / self.step_ratio
        else:
            scale_factor = (x - 1) / (self.step_ratio - 1)
        base_height = (self.args["max_lr"] - self.base_lr) * scale_factor
        arg = cycle if self.scale_mode == "cycle" else self.last_epoch
        return self.base_lr + base_height * self.scale_fn(arg)


class _CosineAnnealingWarmRestarts(_Scheduler):
    def _setup(self, a):
        self.T_0 = self.T_i = a["T_0"]
        self.T_mult, self.eta_min = a["T_mult"], a["eta_min"]
        self.T_cur = -1

    def get_lr(self):
        return self.eta_min + (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * self.T_cur / self.T_i)) / 2

    def step(self):
        epoch = None
        if self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur = self.T_cur + 1
            if self.T_cur >= self.T_i:
                self.T_cur = self.T_cur % self.T_i
                self.T_i = self.T_i * self.T_mult
        else:  # epoch 0 < T_0
            self.T_i = self.T_0
            self.T_cur = epoch
        self.last_epoch = math.floor(epoch)
        self.group["lr"] = self.get_lr()


class _OneCycleLR(_Scheduler):
    def __init__(self, group, args):
        a = args
        total = a["total_steps"] if a["total_steps"] is not None else a["epochs"] * a["steps_per_epoch"]
        self.total_steps = total
        pct = a["pct_start"]
        if a["three_phase"]:
            self.phases = [(float(pct * total) - 1, "initial_lr", "max_lr"),
                           (float(2 * pct * total) - 2, "max_lr", "initial_lr"),
                           (total - 1, "initial_lr", "min_lr")]
        else:
            self.phases = [(float(pct * total) - 1, "initial_lr", "max_lr"),
                           (total - 1, "max_lr", "min_lr")]
        group["initial_lr"] = a["max_lr"] / a["div_factor"]
        group["max_lr"] = a["max_lr"]
        group["min_lr"] = group["initial_lr"] / a["final_div_factor"]
        super().__init__(group, args)

    def _anneal(self, start, end, pct):
        if self.args["anneal_strategy"] == "cos":
            cos_out = math.cos(math.pi * pct) + 1
            return end + (start - end) / 2.0 * cos_out
        return (end - start) * pct + start

    def get_lr(self):
        step_num = min(self.last_epoch, self.total_steps)  # torch raises past total_steps
        start_step = 0.0
        for i, (end_step, a, b) in enumerate(self.phases):
            if step_num <= end_step or i == len(self.phases) - 1:
                pct = (step_num - start_step) / (end_step - start_step)
                return self._anneal(self.group[a], self.group[b], pct)
            start_step = end_step
        raise AssertionError("unreachable")


class _ChainedScheduler:
    """``ChainedScheduler``: steps every member in order; its ``__init__`` steps nothing."""

    def __init__(self, group: dict, members: list):
        self.group = group
        self._schedulers = members

    def step(self) -> None:
        for s in self._schedulers:
            s.step()

    def _initial_step(self) -> None:  # LRScheduler._initial_step: step() once
        self._step_count = 0
        self.step()

    def _update_lr(self, epoch) -> None:  # LRScheduler._update_lr -> get_lr(), which it lacks
        raise NotImplementedError(f"{type(self).__name__[1:]} has no get_lr()")


class _SequentialLR(_ChainedScheduler):
    """``SequentialLR``: resets the LR to ``initial_lr``, undoes its members' first step, runs
    the initial step of the member for step 0; at a milestone the next member's closed form at
    epoch 0 (``_update_lr(0)``), else its ``step()``."""

    def __init__(self, group: dict, members: list, milestones: list):
        super().__init__(group, members)
        self._milestones = milestones
        self.last_epoch = 0
        group["lr"] = group["initial_lr"]
        self._undo(self)
        members[bisect_right(milestones, 0)]._initial_step()

    def _undo(self, sched) -> None:
        if hasattr(sched, "_schedulers"):
            for s in sched._schedulers:
                self._undo(s)
        elif hasattr(sched, "last_epoch"):
            sched.last_epoch -= 1

    def step(self) -> None:
        self.last_epoch += 1
        idx = bisect_right(self._milestones, self.last_epoch)
        s = self._schedulers[idx]
        if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
            s._update_lr(0)
        else:
            s.step()

    def _initial_step(self) -> None:
        self._step_count = 0
        self.step()


_CLASSES = {c.__name__[1:]: c for c in (
    _LambdaLR, _MultiplicativeLR, _StepLR, _MultiStepLR, _ConstantLR, _LinearLR, _ExponentialLR,
    _PolynomialLR, _CosineAnnealingLR, _CyclicLR, _CosineAnnealingWarmRestarts, _OneCycleLR)}


def build(group: dict, class_name: str, args: dict, members) -> Any:
    """The scheduler ``class_name`` on ``group`` (its members built first, in list order)."""
    if class_name == "ChainedScheduler":
        return _ChainedScheduler(group, [build(group, c, a, m) for c, a, m in members])
    if class_name == "SequentialLR":
        built = [build(group, c, a, m) for c, a, m in members]
        return _SequentialLR(group, built, list(args["milestones"]))
    return _CLASSES[class_name](group, args)


# ---- the schedule ---------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, repr=False)
class TorchSteps(Schedule):
    """The LR of ``class_name`` (a ``ChainedScheduler`` or ``SequentialLR``) after each
    ``step()``, replayed once and kept (see ``Replay``).

    ``tree`` is ``((class_name, args, tree), ...)`` for the members (``args`` with torch's
    defaults filled in, ``tree`` the members of a nested combinator); ``scale`` and
    ``periods`` (the members' largest LR parameter and cosine half-period) size the rounding
    tolerance.
    """

    name: ClassVar[str] = "torch_steps"
    class_name: Annotated[str, P.text()]
    lr: Annotated[float, P.lr()]
    tree: Annotated[tuple, _TREE]
    milestones: Annotated[tuple, _TREE] = ()
    scale: Annotated[float, P.lr()] = 0.0
    period: Annotated[int, P.integer(0)] = 0
    cacheable: Annotated[bool, P.flag()] = True

    @property
    def _cacheable(self) -> bool:
        return self.cacheable

    def _scale(self) -> float:
        return max(self.lr, self.scale)

    def _rounding(self) -> float:
        # a CosineAnnealingLR member amplifies rounding like CosineAnnealing (see there)
        return self._scale() * (ROUNDING + 2.0 ** -52 * (256 + 16 * (self.period / math.pi) ** 2))

    def _validate(self):
        self._replayed(0, self._steps)  # torch builds and steps the schedulers at construction

    def _at(self, k):
        return self._replayed(int(k.max()) if k.size else 0, self._steps)[k]

    def _steps(self):
        group = {"lr": self.lr}
        try:
            top = build(group, self.class_name, {"milestones": list(self.milestones)}, self.tree)
        except (ArithmeticError, ValueError, TypeError, NotImplementedError) as e:
            raise ValueError(f"{self.class_name}: torch raises {type(e).__name__} ({e}) when "
                             f"its schedulers are built") from e
        yield float(group["lr"])
        k = 0
        while True:
            k += 1
            try:
                top.step()
                lr = float(group["lr"])
            except (ArithmeticError, ValueError, TypeError, NotImplementedError) as e:
                raise ValueError(f"{self.class_name}: torch raises {type(e).__name__} ({e}) at "
                                 f"step {k}") from e
            yield lr
