"""Parameter kinds: the one place where schedule parameters are checked.

A schedule declares each field with ``Annotated[type, kind]``; ``Schedule.__post_init__``
runs every kind's check, so each schedule validates the same way and every message names
the schedule, the parameter and the value received::

    ValueError: cosine: total_steps must be an int > 0 or a percentage like '50%', got 0

Lengths (``steps``, ``steps0``, ``milestones``) may be *relative*: a string ``'30%'`` means
30 % of the span the schedule is later bound to with ``Schedule.bind(total_steps)``.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

_PERCENT = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*%\s*$")


class Kind:
    """How one parameter is checked and normalised."""

    def __init__(self, doc: str, check: Callable[[str, str, Any], Any], optional: bool = False,
                 length: bool = False):
        self.doc = doc
        self._check = check
        self.optional = optional
        self.length = length  # a length that may be relative ('30%') until bound
        self.low = 0  # smallest step count a bound relative length may round to

    def __call__(self, where: str, param: str, value: Any) -> Any:
        if value is None and self.optional:
            return None
        return self._check(where, param, value)

    def __repr__(self) -> str:
        return f"Kind({self.doc!r})"


def fail(where: str, param: str, rule: str, value: Any, exc: type[Exception] = ValueError):
    """Raise ``exc("<where>: <param> must be <rule>, got <value>")``: the one message format."""
    raise exc(f"{where}: {param} must be {rule}, got {value!r}")


def _number(where: str, param: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        fail(where, param, "a number", value, TypeError)
    value = float(value)
    if not math.isfinite(value):
        fail(where, param, "finite", value)
    return value


def _integer(where: str, param: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if not isinstance(value, bool) and isinstance(value, numbers.Real) and float(value).is_integer():
            return int(value)
        fail(where, param, "an int", value, TypeError)
    return int(value)


def percent(value: Any) -> float | None:
    """The fraction a relative length like ``'30%'`` stands for (0.3), else None."""
    if isinstance(value, str):
        m = _PERCENT.match(value)
        if m:
            return float(m.group(1)) / 100.0
    return None


def real(low: float | None = None, *, strict: bool = True, high: float | None = None,
         high_strict: bool = False, optional: bool = False) -> Kind:
    """A finite float, optionally bounded: low < x (or <=), x <= high (or <)."""
    parts = []
    if low is not None:
        parts.append(f"{'>' if strict else '>='} {low:g}")
    if high is not None:
        parts.append(f"{'<' if high_strict else '<='} {high:g}")
    rule = "a finite number " + " and ".join(parts) if parts else "a finite number"

    def check(where, param, value):
        x = _number(where, param, value)
        if low is not None and (x <= low if strict else x < low):
            fail(where, param, rule, value)
        if high is not None and (x >= high if high_strict else x > high):
            fail(where, param, rule, value)
        return x

    return Kind(rule, check, optional)


def lr(optional: bool = False) -> Kind:
    """A learning rate: finite and >= 0."""
    return real(0.0, strict=False, optional=optional)


def integer(low: int = 1, optional: bool = False) -> Kind:
    rule = f"an int >= {low}"

    def check(where, param, value):
        x = _integer(where, param, value)
        if x < low:
            fail(where, param, rule, value)
        return x

    return Kind(rule, check, optional)


def steps(low: int = 1, optional: bool = False) -> Kind:
    """A length in steps: an int >= low, or a relative length ``'p%'`` (bound later)."""
    rule = f"an int >= {low} or a percentage like '50%'"

    def check(where, param, value):
        if isinstance(value, str):
            frac = percent(value)
            if frac is None or frac > 1.0 or (low > 0 and frac == 0.0):
                fail(where, param, rule + (" (at most 100%)" if frac else ""), value)
            return value.strip()
        x = _integer(where, param, value)
        if x < low:
            fail(where, param, rule, value)
        return x

    kind = Kind(rule, check, optional, length=True)
    kind.low = low
    return kind


def milestones(low: int = 0) -> Kind:
    """Strictly increasing lengths (all ints or all percentages)."""
    one = steps(low)
    rule = "a strictly increasing list of steps"

    def check(where, param, value):
        if isinstance(value, np.ndarray):
            value = value.tolist()
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            fail(where, param, "a list of steps", value, TypeError)
        out = tuple(one(where, param, v) for v in value)
        kinds = {isinstance(v, str) for v in out}
        if len(kinds) > 1:
            fail(where, param, "all ints or all percentages", list(value))
        keys = [percent(v) if isinstance(v, str) else v for v in out]
        if any(b <= a for a, b in zip(keys, keys[1:])):
            fail(where, param, rule, list(value))
        return out

    kind = Kind(rule, check, length=True)
    kind.low = low
    return kind


def lrs() -> Kind:
    """A non-empty list of learning rates."""
    one = lr()

    def check(where, param, value):
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value:
            fail(where, param, "a non-empty list of learning rates", value, TypeError)
        return tuple(one(where, param, v) for v in value)

    return Kind("a list of learning rates", check)


def choice(*options: str) -> Kind:
    rule = "one of " + ", ".join(repr(o) for o in options)

    def check(where, param, value):
        if value not in options:
            fail(where, param, rule, value)
        return value

    return Kind(rule, check)


def flag() -> Kind:
    def check(where, param, value):
        if not isinstance(value, bool):
            fail(where, param, "True or False", value, TypeError)
        return value

    return Kind("True or False", check)


def function(optional: bool = False) -> Kind:
    """A Python callable (Python API only: it cannot be written to a config)."""

    def check(where, param, value):
        if not callable(value):
            fail(where, param, "a callable", value, TypeError)
        return value

    return Kind("a Python callable", check, optional)


def schedule(allow_float: bool = False) -> Kind:
    """Another schedule (or, when allowed, a constant learning rate)."""
    from .base import Schedule

    rule = "an lrlab schedule" + (" or a learning rate" if allow_float else "")
    as_lr = lr()

    def check(where, param, value):
        if isinstance(value, Schedule):
            return value
        if allow_float and isinstance(value, numbers.Real) and not isinstance(value, bool):
            return as_lr(where, param, value)
        fail(where, param, rule, value, TypeError)

    return Kind(rule, check)


def schedules(min_len: int = 1) -> Kind:
    from .base import Schedule

    rule = f"a list of at least {min_len} lrlab schedules"

    def check(where, param, value):
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) < min_len:
            fail(where, param, rule, value, TypeError)
        for v in value:
            if not isinstance(v, Schedule):
                fail(where, param, rule, v, TypeError)
        return tuple(value)

    return Kind(rule, check)


def _as_lists(value: Any) -> Any:
    """Tuples and arrays to lists, numpy scalars to Python ones, recursively: the form a
    value has after a JSON round trip."""
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(_as_lists(v) for v in value)
    if isinstance(value, (tuple, list, range)):
        return [_as_lists(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_lists(v) for k, v in value.items()}
    return value


def mapping() -> Kind:
    """A dict of keyword arguments (tuples inside become lists, as JSON would make them)."""

    def check(where, param, value):
        if not isinstance(value, dict):
            fail(where, param, "a dict", value, TypeError)
        return _as_lists(value)

    return Kind("a dict", check)


def text() -> Kind:
    def check(where, param, value):
        if not isinstance(value, str) or not value:
            fail(where, param, "a non-empty string", value, TypeError)
        return value

    return Kind("a string", check)
