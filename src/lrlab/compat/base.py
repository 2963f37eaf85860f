"""Shared machinery of ``from_torch`` / ``from_paddle``: class tables and the wrapper value.

Each framework module registers one *builder* per class: a function with the class's own
constructor keywords (minus the optimizer) that returns an lrlab schedule reproducing the
framework's sequence. The wrapper (``FromTorch`` / ``FromPaddle``) keeps the class name and
keywords, so ``repr`` reads like the call that made it and ``to_config`` round-trips.

The tables are filled by importing the framework modules, which ``lrlab.compat`` does itself
(``TORCH`` by ``compat.torch``, ``PADDLE`` by ``compat.paddle``, both numpy only). This module
never imports them: they import it.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any

from ..control import Plateau
from ..schedules import params as P
from ..schedules.base import Schedule, register

# keywords the frameworks accept that do not change the LR sequence
IGNORED = ("verbose", "cycle_momentum", "base_momentum", "max_momentum")

TORCH: dict[str, Callable[..., Schedule | Plateau]] = {}
PADDLE: dict[str, Callable[..., Schedule | Plateau]] = {}


def builder(table: dict, class_name: str):
    """Register the function that reproduces ``class_name`` of a framework."""

    def deco(fn):
        table[class_name] = fn
        return fn

    return deco


def build(framework: str, table: dict, class_name: str, args: tuple, kwargs: dict):
    if not isinstance(class_name, str):
        raise TypeError(f"from_{framework}: class name must be a string, got {P.show(class_name)}")
    if class_name not in table:
        close = difflib.get_close_matches(class_name, list(table), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(sorted(table))}"
        raise ValueError(f"from_{framework}: unknown class {P.show(class_name)}{hint}")
    fn = table[class_name]
    kwargs = {k: v for k, v in kwargs.items() if k not in IGNORED}
    last_epoch = kwargs.pop("last_epoch", -1)
    if last_epoch != -1:
        raise ValueError(f"{class_name}: last_epoch must be -1 (lrlab schedules are pure: evaluate "
                         f"s(k) at the step you resume from), got {P.show(last_epoch)}")
    sig = inspect.signature(fn)
    valid = [p for p in sig.parameters if p not in ("lr",)]
    for k in kwargs:
        if k not in sig.parameters or k == "lr":
            close = difflib.get_close_matches(k, valid, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ValueError(f"{class_name}: unknown parameter {P.show(k)}; {hint}valid: {', '.join(valid)}")
    try:
        sig.bind(*args, **kwargs)
    except TypeError as e:
        raise ValueError(f"{class_name}: {e}") from None
    return fn(*args, **kwargs)


class _FromFramework(Schedule):
    """An lrlab schedule that reproduces a framework class's own LR sequence."""

    framework = ""

    def _build(self) -> Schedule:
        raise NotImplementedError

    def __post_init__(self):
        super().__post_init__()
        impl = self._build()
        if not isinstance(impl, Schedule):
            raise ValueError(f"{self.class_name} is metric-driven: use lrlab.from_{self.framework}"
                             f"({self.class_name!r}, ...), which returns a Plateau")
        object.__setattr__(self, "_impl", impl)

    @functools.cached_property
    def _cacheable(self) -> bool:
        return self._impl._cacheable

    def _scale(self) -> float:
        return self._impl._scale()

    def _rounding(self) -> float:
        return self._impl._rounding()

    @property
    def is_bound(self) -> bool:
        return True

    def _at(self, k):
        return self._impl._at(k)

    def __repr__(self) -> str:
        args = [repr(self.class_name)] + [repr(getattr(self, f.name)) for f in dataclasses.fields(self)
                                          if f.name not in ("class_name", "kwargs")]
        args += [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"from_{self.framework}({', '.join(args)})"


@register("from_torch", hidden=True)
class FromTorch(_FromFramework):
    """``torch.optim.lr_scheduler.<class_name>(SGD(lr=lr), **kwargs)``'s sequence."""

    framework = "torch"
    class_name: Annotated[str, P.text()]
    lr: Annotated[float, P.lr()]
    kwargs: Annotated[dict, P.mapping()] = dataclasses.field(default_factory=dict)

    def _build(self):
        return build("torch", TORCH, self.class_name, (self.lr,), self.kwargs)


@register("from_paddle", hidden=True)
class FromPaddle(_FromFramework):
    """``paddle.optimizer.lr.<class_name>(**kwargs)``'s sequence (``last_lr`` after k steps)."""

    framework = "paddle"
    class_name: Annotated[str, P.text()]
    kwargs: Annotated[dict, P.mapping()] = dataclasses.field(default_factory=dict)

    def _build(self):
        return build("paddle", PADDLE, self.class_name, (), self.kwargs)


def from_torch(class_name: str, optimizer_lr: float, /, **kwargs: Any) -> Schedule | Plateau:
    """The lrlab equivalent of ``torch.optim.lr_scheduler.<class_name>``.

    ``optimizer_lr`` is the LR the optimizer was built with; ``kwargs`` are the class's own
    constructor keywords without the optimizer. ``s(k)`` equals
    ``optimizer.param_groups[0]['lr']`` after ``k`` calls of ``scheduler.step()``.
    ``ReduceLROnPlateau`` returns a ``Plateau`` with torch's semantics.

    >>> from lrlab import from_torch
    >>> s = from_torch("StepLR", 0.1, step_size=2, gamma=0.5)
    >>> s.curve(5).tolist()
    [0.1, 0.1, 0.05, 0.05, 0.025]
    """
    lr = P.lr()(class_name, "optimizer_lr", optimizer_lr)
    if class_name == "ReduceLROnPlateau":
        return build("torch", TORCH, class_name, (lr,), kwargs)
    return FromTorch(class_name, lr, kwargs)


def from_paddle(class_name: str, /, **kwargs: Any) -> Schedule | Plateau:
    """The lrlab equivalent of ``paddle.optimizer.lr.<class_name>(**kwargs)``.

    ``s(k)`` equals ``scheduler.last_lr`` after ``k`` calls of ``scheduler.step()``.
    ``ReduceOnPlateau`` returns a ``Plateau`` with Paddle's semantics.

    >>> from lrlab import from_paddle
    >>> from_paddle("StepDecay", learning_rate=0.1, step_size=2, gamma=0.5).curve(3).tolist()
    [0.1, 0.1, 0.05]
    """
    if class_name == "ReduceOnPlateau":
        return build("paddle", PADDLE, class_name, (), kwargs)
    return FromPaddle(class_name, kwargs)
