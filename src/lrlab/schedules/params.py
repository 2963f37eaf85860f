"""Parameter kinds: the one place where schedule parameters are checked.

A schedule declares each field with ``Annotated[type, kind]``; ``Schedule.__post_init__``
runs every kind's check, so each schedule validates the same way and every message names
the schedule, the parameter and the value received::

    ValueError: cosine: total_steps must be an int > 0 or a percentage like '50%', got 0

Lengths (``steps``, ``steps0``, ``milestones``) may be *relative*: a string ``'30%'`` means
30 % of the span the schedule is later bound to with ``Schedule.bind(total_steps)``.

Numbers at the edges: every integer parameter (and every step) is below ``2**62``
(``LIMIT``), so a sum of a step and a length never overflows 64-bit integers; a real
parameter too large for a float (``10**400``) is a ``ValueError`` naming it, like any
other out-of-range value. A value is shown at most ``_SHOW`` characters long.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

_PERCENT = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*%\s*$")

LIMIT = 2 ** 62  # every step and integer parameter is below it: step + length fits in int64
_SHOW = 80  # characters of a value shown in a message


class Kind:
    """How one parameter is checked and normalised."""

    def __init__(self, doc: str, check: Callable[[str, str, Any], Any], optional: bool = False,
                 length: bool = False, is_lr: bool = False):
        self.doc = doc
        self._check = check
        self.optional = optional
        self.length = length  # a length that may be relative ('30%') until bound
        self.is_lr = is_lr  # a learning rate (or a list of them): sets the schedule's scale
        self.low = 0  # smallest step count a bound relative length may round to
        self.family = ""  # which factory made it ("real", "steps", ...)

    def __call__(self, where: str, param: str, value: Any) -> Any:
        if value is None and self.optional:
            return None
        return self._check(where, param, value)

    def __repr__(self) -> str:
        return f"Kind({self.doc!r})"


def show(value: Any) -> str:
    """``repr(value)``, shortened: an int of more than 24 digits by its digit count, anything
    else to ``_SHOW`` characters (``show(10**400) == '1000...000 (401 digits)'``)."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        digits = str(abs(int(value)))
        if len(digits) > 24:
            return f"{'-' if value < 0 else ''}{digits[:4]}...{digits[-3:]} ({len(digits)} digits)"
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001  (a broken __repr__ must not hide the real error)
        text = f"<{type(value).__name__}>"
    text = " ".join(text.split())
    return text if len(text) <= _SHOW else text[:_SHOW - 3] + "..."


def fail(where: str, param: str, rule: str, value: Any, exc: type[Exception] = ValueError):
    """Raise ``exc("<where>: <param> must be <rule>, got <value>")``: the one message format."""
    raise exc(f"{where}: {param} must be {rule}, got {show(value)}")


def _number(where: str, param: str, value: Any, floats_only: bool = False) -> float:
    if floats_only and not isinstance(value, float):
        fail(where, param, "a float", value, TypeError)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        fail(where, param, "a number", value, TypeError)
    try:
        value = float(value)
    except (OverflowError, ValueError):  # 10**400, Fraction(10**400): too large for a float
        fail(where, param, "a finite number (one a float can hold)", value)
    if not math.isfinite(value):
        fail(where, param, "finite", value)
    return value


def _integer(where: str, param: str, value: Any, strict: bool = False) -> int:
    """An int; also a whole-number float (``10.0``) unless ``strict`` (torch and Paddle refuse
    those for their step counts)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        real_number = isinstance(value, numbers.Real) and not isinstance(value, bool)
        if real_number and not strict:
            try:
                x = float(value)
            except (OverflowError, ValueError):
                x = math.nan
            if math.isfinite(x) and x.is_integer():
                return int(x)
        fail(where, param, "an int (not a float)" if strict and real_number else "an int", value,
             TypeError)
    return int(value)


def _below_limit(where: str, param: str, rule: str, x: int, value: Any) -> None:
    if x >= LIMIT:
        fail(where, param, f"{rule} and < 2**62", value)


def percent(value: Any) -> float | None:
    """The fraction a relative length like ``'30%'`` stands for (0.3), else None."""
    if isinstance(value, str):
        m = _PERCENT.match(value)
        if m:
            return float(m.group(1)) / 100.0
    return None


def real(low: float | None = None, *, strict: bool = True, high: float | None = None,
         high_strict: bool = False, optional: bool = False, floats_only: bool = False) -> Kind:
    """A finite float, optionally bounded: low < x (or <=), x <= high (or <). ``floats_only``:
    a Python float only, not an int (as torch and Paddle check some fractions)."""
    parts = []
    if low is not None:
        parts.append(f"{'>' if strict else '>='} {low:g}")
    if high is not None:
        parts.append(f"{'<' if high_strict else '<='} {high:g}")
    rule = "a finite number " + " and ".join(parts) if parts else "a finite number"
    if floats_only:
        rule = "a float" + rule[len("a finite number"):]

    def check(where, param, value):
        x = _number(where, param, value, floats_only)
        if low is not None and (x <= low if strict else x < low):
            fail(where, param, rule, value)
        if high is not None and (x >= high if high_strict else x > high):
            fail(where, param, rule, value)
        return x

    kind = Kind(rule, check, optional)
    kind.family = "real"
    return kind


def lr(optional: bool = False) -> Kind:
    """A learning rate: finite and >= 0."""
    kind = real(0.0, strict=False, optional=optional)
    kind.is_lr = True
    kind.family = "lr"
    return kind


def integer(low: int = 1, optional: bool = False, strict: bool = False) -> Kind:
    """An int >= low (and < 2**62); ``strict``: not even a whole-number float."""
    rule = f"an int >= {low}"

    def check(where, param, value):
        x = _integer(where, param, value, strict)
        if x < low:
            fail(where, param, rule, value)
        _below_limit(where, param, rule, x, value)
        return x

    kind = Kind(rule, check, optional)
    kind.family = "integer"
    return kind


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
        _below_limit(where, param, f"an int >= {low}", x, value)
        return x

    kind = Kind(rule, check, optional, length=True)
    kind.low = low
    kind.family = "steps"
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
    kind.family = "milestones"
    return kind


def lrs() -> Kind:
    """A non-empty list of learning rates."""
    one = lr()

    def check(where, param, value):
        if isinstance(value, np.ndarray) and value.ndim == 1:
            value = value.tolist()
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value:
            fail(where, param, "a non-empty list of learning rates", value, TypeError)
        return tuple(one(where, param, v) for v in value)

    kind = Kind("a list of learning rates", check, is_lr=True)
    kind.family = "lrs"
    return kind


def choice(*options: str) -> Kind:
    rule = "one of " + ", ".join(repr(o) for o in options)

    def check(where, param, value):
        if not isinstance(value, str):  # an array would make `in` ambiguous
            fail(where, param, rule, value, TypeError)
        if value not in options:
            fail(where, param, rule, value)
        return value

    kind = Kind(rule, check)
    kind.family = "choice"
    return kind


def flag() -> Kind:
    def check(where, param, value):
        if isinstance(value, np.bool_):
            return bool(value)
        if not isinstance(value, bool):
            fail(where, param, "True or False", value, TypeError)
        return value

    kind = Kind("True or False", check)
    kind.family = "flag"
    return kind


def function(optional: bool = False) -> Kind:
    """A Python callable (Python API only: it cannot be written to a config)."""

    def check(where, param, value):
        if not callable(value):
            fail(where, param, "a callable", value, TypeError)
        return value

    kind = Kind("a Python callable", check, optional)
    kind.family = "function"
    return kind


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

    kind = Kind("a dict", check)
    kind.family = "mapping"
    return kind


def text() -> Kind:
    def check(where, param, value):
        if not isinstance(value, str) or not value:
            fail(where, param, "a non-empty string", value, TypeError)
        return value

    kind = Kind("a string", check)
    kind.family = "text"
    return kind
