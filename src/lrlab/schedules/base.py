"""The schedule value, its registry and its config round-trip.

A schedule is a pure function of the 0-based step: ``s(k)`` is the learning rate of the
(k+1)-th optimizer update. It holds no counter, so resuming, plotting and testing at any
step are the same call. ``s.curve(n)`` is the vectorised ``[s(k) for k in range(n)]``.

Every value is finite and >= 0, or evaluating that step is a ``ValueError`` naming it. A
negative value within rounding of 0 (``ROUNDING``: 2**-44 of the schedule's largest
learning-rate parameter, wider where a replayed recursion amplifies rounding) is 0. Steps
and lengths are below 2**62. Recursions (a running product, a framework's ``step()``) are
replayed once, in order, and kept (``Replay``), so a step's value never depends on which
steps were asked for before.

    >>> import lrlab
    >>> s = lrlab.create("step", base_lr=0.1, step_size=2, gamma=0.5)
    >>> s.curve(5).tolist()
    [0.1, 0.1, 0.05, 0.05, 0.025]
    >>> lrlab.from_config(s.to_config()) == s
    True
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import json
import math
import numbers
import threading
import typing
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

import numpy as np

from . import params as P

_SHIFT = 10
_BLOCK = 1 << _SHIFT  # steps evaluated at once by the scalar call, then served from a small cache
_MAX_BLOCKS = 8

# A negative value within this much (relative to the schedule's largest learning-rate
# parameter, its ``_scale``) is rounding, and becomes 0: 256 units in the last place of the
# scale. Closed forms are off by a few of those (e.g. torch's cosine from lr 0 up to
# eta_min > 0 ends at -1.7e-18 for eta_min = 0.01); schedules that replay a recursion, which
# amplifies rounding, widen it (``_rounding``). A real negative LR is far larger and stays an
# error.
ROUNDING = 2.0 ** -44

# Recursions (a framework's step(), a running product) are replayed one step at a time in
# Python; at most this many steps (about 2 s and 128 MiB), beyond which evaluating is an error.
MAX_REPLAY = 2 ** 24

_REGISTRY: dict[str, type[Schedule]] = {}
_ALIASES: dict[str, str] = {}
# loaders of the configs of lrlab values that are not schedules, by name (see register_config)
_LOADERS: dict[str, Callable[[dict], Any]] = {}


def _norm(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def register(name: str, *aliases: str, hidden: bool = False):
    """Class decorator: make a schedule creatable by ``name`` (and its aliases)."""

    def deco(cls):
        cls = dataclasses.dataclass(frozen=True, repr=False)(cls)
        cls.name = name
        cls.hidden = hidden
        cls.aliases = aliases
        _REGISTRY[name] = cls
        for a in aliases:
            _ALIASES[_norm(a)] = name
        return cls

    return deco


def register_config(name: str, load: Callable[[dict], Any]) -> None:
    """Make ``from_config`` rebuild a config named ``name`` with ``load(config)``: for the
    lrlab values that write a config but are not schedules (``lrlab.control`` registers
    ``Plateau`` and ``EarlyStopping``, which this package must not import)."""
    _LOADERS[name] = load


def lookup(name: str) -> type[Schedule]:
    """The schedule class for a name or alias; an unknown name suggests the nearest ones."""
    if not isinstance(name, str):
        raise TypeError(f"schedule name must be a string, got {P.show(name)}")
    key = _norm(name)
    key = _ALIASES.get(key, key)
    if key in _REGISTRY:
        return _REGISTRY[key]
    known = names(aliases=True)
    close = difflib.get_close_matches(key, known, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(names())}"
    raise ValueError(f"unknown schedule {P.show(name)}{hint}")


def names(aliases: bool = False) -> list[str]:
    """The canonical schedule names (with their aliases when asked)."""
    out = sorted(n for n, c in _REGISTRY.items() if not c.hidden)
    if aliases:
        out += sorted(a for a, n in _ALIASES.items() if not _REGISTRY[n].hidden)
    return out


def describe(name: str) -> list[tuple[str, str, Any]]:
    """``[(parameter, rule, default or REQUIRED)]`` for a schedule name."""
    cls = lookup(name)
    kinds = cls._kinds()
    out = []
    for f in dataclasses.fields(cls):
        default = _default(f)
        out.append((f.name, kinds[f.name].doc, default))
    return out


def _default(f: dataclasses.Field) -> Any:
    """A field's default value, or REQUIRED."""
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return REQUIRED


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED = _Required()


def create(name: str, **params: Any) -> Schedule:
    """Build a canonical schedule by name: ``create("cosine", base_lr=0.1, total_steps=100)``."""
    cls = lookup(name)
    valid = [f.name for f in dataclasses.fields(cls)]
    for p in params:
        if p not in valid:
            close = difflib.get_close_matches(p, valid, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ValueError(f"{cls.name}: unknown parameter {P.show(p)}; {hint}valid: {', '.join(valid)}")
    missing = [f.name for f in dataclasses.fields(cls)
               if f.name not in params and _default(f) is REQUIRED]
    if missing:
        raise ValueError(f"{cls.name}: missing required parameter(s) {', '.join(missing)}")
    return cls(**params)


def from_config(config: dict | str) -> Schedule | Any:
    """Rebuild a schedule from ``to_config()`` output (a dict, or its JSON text); also the
    other values that write one (``Plateau``, ``EarlyStopping``: see ``register_config``)."""
    if isinstance(config, str):
        config = json.loads(config)
    if not isinstance(config, dict) or "name" not in config:
        raise ValueError(f"a schedule config is a dict with a 'name', got {P.show(config)}")
    load = _LOADERS.get(config["name"]) if isinstance(config["name"], str) else None
    if load is not None:
        return load(config)
    config = dict(config)
    return create(config.pop("name"), **{k: decode(v) for k, v in config.items()})


def decode(value: Any) -> Any:
    """A config value with every nested ``{"name": ...}`` dict rebuilt as a schedule."""
    if isinstance(value, dict):
        if "name" in value:
            return from_config(value)
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


def _as_step(step: Any, what: str = "step", low: int = 0, where: str = "") -> int:
    """``step`` as an int in ``[low, 2**62)``; errors name ``what`` (and ``where``)."""
    at = f"{where}: " if where else ""
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        raise TypeError(f"{at}{what} must be an int, got {P.show(step)}")
    step = int(step)
    if step < low:
        raise ValueError(f"{at}{what} must be >= {low}, got {step}")
    if step >= P.LIMIT:
        raise ValueError(f"{at}{what} must be < 2**62, got {P.show(step)}")
    return step


def resolve_length(value: Any, n: int, low: int = 1) -> Any:
    """A relative length like '30%' as steps of an ``n``-step span (at least ``low``)."""
    frac = P.percent(value) if isinstance(value, str) else None
    if frac is None:
        return value
    return max(low, int(math.floor(frac * n + 0.5)))


class Schedule:
    """Base of every schedule: a frozen dataclass whose fields are checked by their kind.

    Subclasses declare fields as ``Annotated[type, kind]`` and implement ``_at(k)`` for an
    int64 array of steps; ``_validate()`` adds cross-field checks. ``_span(child_index, n)``
    says how many steps a child schedule spans when the parent is bound to ``n`` steps.
    """

    name: ClassVar[str] = ""
    hidden: ClassVar[bool] = False
    aliases: ClassVar[tuple[str, ...]] = ()

    # ---- construction -----------------------------------------------------------------
    @classmethod
    def _kinds(cls) -> dict[str, P.Kind]:
        cached = cls.__dict__.get("_kind_cache")
        if cached is None:
            hints = typing.get_type_hints(cls, include_extras=True)
            cached = {}
            for f in dataclasses.fields(cls):
                meta = getattr(hints[f.name], "__metadata__", ())
                kind = next((m for m in meta if isinstance(m, P.Kind)), None)
                if kind is None:
                    raise TypeError(f"{cls.__name__}.{f.name} has no parameter kind")
                cached[f.name] = kind
            cls._kind_cache = cached
        return cached

    def __post_init__(self) -> None:
        for fname, kind in self._kinds().items():
            object.__setattr__(self, fname, kind(self.name, fname, getattr(self, fname)))
        object.__setattr__(self, "_cache", {})
        object.__setattr__(self, "_replays", {})
        self._validate()

    def _validate(self) -> None:
        """Cross-field checks; override. Runs at construction (and again when bound); a check
        that needs concrete lengths skips while they are percentages (see ``_relative``)."""

    def _relative(self, *fields: str) -> bool:
        """Whether any of these length fields is still a percentage."""
        return any(isinstance(getattr(self, f), str) for f in fields)

    def _fail(self, param: str, rule: str, value: Any) -> None:
        P.fail(self.name, param, rule, value)

    # ---- structure ----------------------------------------------------------------------
    def _children(self) -> list[tuple[str, int | None, Schedule]]:
        out = []
        for fname in self._kinds():
            v = getattr(self, fname)
            if isinstance(v, Schedule):
                out.append((fname, None, v))
            elif isinstance(v, tuple):
                out += [(fname, i, c) for i, c in enumerate(v) if isinstance(c, Schedule)]
        return out

    @property
    def is_bound(self) -> bool:
        """False while any length (its own or a child's) is still a percentage."""
        for fname, kind in self._kinds().items():
            if kind.length:
                v = getattr(self, fname)
                vals = v if isinstance(v, tuple) else (v,)
                if any(isinstance(x, str) for x in vals):
                    return False
        return all(c.is_bound for _, _, c in self._children())

    @functools.cached_property
    def _cacheable(self) -> bool:
        """Whether steps may be evaluated ahead: not when a user callable is involved."""
        own = all(not callable(getattr(self, f)) or isinstance(getattr(self, f), Schedule)
                  for f in self._kinds())
        return own and all(c._cacheable for _, _, c in self._children())

    def bind(self, total_steps: int) -> Schedule:
        """Turn relative lengths ('30%') into steps of a run of ``total_steps`` steps.

        Children are bound to the span they cover (``_span``): a piece of a ``join`` to the
        steps between its milestones, the schedule inside a ``warmup`` to what follows the
        warmup. Already concrete schedules are returned unchanged.
        """
        n = _as_step(total_steps, "total_steps", 1, f"{self.name}.bind")
        if self.is_bound:
            return self
        changes: dict[str, Any] = {}
        for fname, kind in self._kinds().items():
            if not kind.length:
                continue
            v = getattr(self, fname)
            if isinstance(v, tuple):
                nv = tuple(resolve_length(x, n, kind.low) for x in v)
                if any(b <= a for a, b in zip(nv, nv[1:])):
                    raise ValueError(f"{self.name}: {fname} {list(v)} collapse to {list(nv)} "
                                     f"when bound to {n} steps; use a longer run")
            else:
                nv = resolve_length(v, n, kind.low)
            if nv is not v:
                changes[fname] = nv
        own = dataclasses.replace(self, **changes) if changes else self
        kids = own._children()
        if not kids:
            return own
        updates: dict[str, Any] = {}
        for fname, idx, child in kids:
            bound = child.bind(max(1, own._span(idx if idx is not None else 0, n)))
            if idx is None:
                updates[fname] = bound
            else:
                seq = list(updates.get(fname, getattr(own, fname)))
                seq[idx] = bound
                updates[fname] = tuple(seq)
        return dataclasses.replace(own, **updates)

    def _span(self, index: int, n: int) -> int:
        """Steps a child spans when this schedule covers ``n`` steps (default: all of them)."""
        return n

    # ---- evaluation ---------------------------------------------------------------------
    def _require_bound(self) -> None:
        if not self.is_bound:
            raise ValueError(f"{self.name}: has relative lengths; call .bind(total_steps) "
                             f"before evaluating it")

    def _at(self, k: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _scale(self) -> float:
        """The largest learning-rate parameter (its own and its children's): what a negative
        value is compared with to tell rounding from a real negative LR."""
        out = 0.0
        for fname, kind in self._kinds().items():
            v = getattr(self, fname)
            if kind.is_lr:
                for x in (v if isinstance(v, tuple) else (v,)):
                    if isinstance(x, float):
                        out = max(out, abs(x))
        for _, _, child in self._children():
            out = max(out, child._scale())
        return out

    def _rounding(self) -> float:
        """How far below 0 a value may come from rounding alone (see ``ROUNDING``)."""
        return ROUNDING * self._scale()

    def _replayed(self, top: int, steps: Callable[[], Iterator[float]], key: str = "lr") -> np.ndarray:
        """Steps ``0..top`` (at least) of the sequence that ``steps()`` yields one step at a
        time, computed once per schedule and kept (see ``Replay``)."""
        replay = self._replays.get(key)
        if replay is None:
            replay = self._replays.setdefault(key, Replay(self.name, steps, ahead=self._cacheable))
        return replay.upto(top)

    def at(self, steps: Any) -> np.ndarray:
        """The learning rates at an array of 0-based steps (vectorised)."""
        self._require_bound()
        k = np.asarray(steps)
        if k.dtype.kind not in "iu":
            raise TypeError(f"{self.name}: steps must be integers, got dtype {k.dtype}")
        if k.size and k.min() < 0:
            raise ValueError(f"{self.name}: steps must be >= 0, got {int(k.min())}")
        if k.size and k.max() >= P.LIMIT:
            raise ValueError(f"{self.name}: steps must be < 2**62, got {int(k.max())}")
        k = k.astype(np.int64, copy=False)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # checked below
            out = np.asarray(self._at(k), dtype=np.float64)
        if out.shape != k.shape:
            out = np.broadcast_to(out, k.shape).copy()
        # min() is nan when any value is; max() is inf when any value is
        if out.size and not (out.min() >= 0.0 and out.max() < np.inf):
            rounding = (out < 0.0) & (out >= -self._rounding())
            if rounding.any():
                out = np.where(rounding, 0.0, out)
            if not (out.min() >= 0.0 and out.max() < np.inf):
                bad = np.flatnonzero(~(np.isfinite(out) & (out >= 0.0)))[0]
                raise ValueError(f"{self.name}: learning rate at step {int(k.flat[bad])} would be "
                                 f"{float(out.flat[bad])!r}; check the parameters ({self!r})")
        return out

    def __call__(self, step: int) -> float:
        if type(step) is not int or step < 0 or step >= P.LIMIT:
            step = _as_step(step, where=self.name)
        block = step >> _SHIFT
        values = self._cache.get(block)  # the hot path: a block already evaluated
        if values is None:
            if not self._cacheable:
                return float(self.at(np.array([step]))[0])
            try:
                values = self.at(np.arange(block * _BLOCK, (block + 1) * _BLOCK)).tolist()
            except ValueError:  # a later step in the block is bad: report this one only
                return float(self.at(np.array([step]))[0])
            if len(self._cache) >= _MAX_BLOCKS:
                self._cache.pop(next(iter(self._cache)))
            self._cache[block] = values
        return values[step & (_BLOCK - 1)]

    def curve(self, n: int) -> np.ndarray:
        """``np.array([s(k) for k in range(n)])``, computed at once."""
        return self.at(np.arange(_as_step(n, "n", 0, f"{self.name}.curve")))

    # ---- config and display -------------------------------------------------------------
    def to_config(self) -> dict[str, Any]:
        """A JSON-serialisable dict; ``lrlab.from_config`` rebuilds an equal schedule."""
        return {"name": self.name,
                **{f: self._encode(f, getattr(self, f)) for f in self._kinds()}}

    def _encode(self, param: str, value: Any) -> Any:
        if isinstance(value, Schedule):
            return value.to_config()
        if isinstance(value, (tuple, list)):
            return [self._encode(param, v) for v in value]
        if isinstance(value, dict):
            return {k: self._encode(param, v) for k, v in value.items()}
        if callable(value):
            raise TypeError(f"{self.name}: {param} is a Python callable ({_show(value)}) and "
                            f"cannot be written to a config; build this schedule in Python")
        return value

    def __repr__(self) -> str:
        shown = []
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            default = _default(f)
            if default is REQUIRED or v != default:
                shown.append(f"{f.name}={_show(v)}")
        return f"{self.name}({', '.join(shown)})"

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_cache"] = {}
        state["_replays"] = {}
        return state


class Replay:
    """A sequence computed one step at a time, kept as it grows: the values of a recursion
    (a framework's ``step()``, a running product) at steps ``0, 1, 2, ...``.

    ``steps()`` starts a fresh iterator over the sequence, which yields one float per step, or
    an array for a chunk of consecutive steps. Each step is computed once, in order,
    so a step has the same value whatever was asked before. With ``ahead`` (no user callable
    involved) the sequence is extended in doubling blocks; an error met while computing ahead
    is kept and raised only when a step at or past it is asked for. Without ``ahead`` nothing
    past the step asked for is computed. At most ``MAX_REPLAY`` steps are replayed.
    """

    def __init__(self, where: str, steps: Callable[[], Iterator[float]], ahead: bool = True):
        self.where = where
        self._start = steps
        self._ahead = ahead
        self._lock = threading.Lock()
        self._restart()

    def _restart(self) -> None:
        self._it: Iterator[float] | None = None
        self._buf = np.empty(0)
        self._n = 0
        self._error: Exception | None = None  # what stopped the sequence at step self._n
        self._pending: np.ndarray | None = None  # the rest of a chunk not yet needed

    def upto(self, top: int) -> np.ndarray:
        """An array holding steps ``0..top`` (at least); raises if one of them cannot be had."""
        with self._lock:
            if top >= self._n:
                self._extend(top)
            return self._buf[:self._n]

    def _extend(self, top: int) -> None:
        if self._error is None and top >= MAX_REPLAY:
            raise ValueError(f"{self.where}: step {top} is past the {MAX_REPLAY} steps (2**24) that "
                             f"lrlab replays of a recursion one by one")
        if self._error is not None:
            raise self._error
        want = top + 1
        if self._ahead:
            want = min(max(want, 2 * self._n, 1024), MAX_REPLAY)
        if len(self._buf) < want:
            buf = np.empty(max(want, 2 * len(self._buf)) if self._ahead else max(want, len(self._buf) * 3 // 2 + 16))
            buf[:self._n] = self._buf[:self._n]
            self._buf = buf
        if self._it is None:
            self._it = self._start()
        i, it, buf = self._n, self._it, self._buf
        try:
            while i < want:
                if self._pending is not None:
                    v, self._pending = self._pending, None
                else:
                    v = next(it)
                if isinstance(v, np.ndarray):  # a chunk of consecutive steps
                    m = min(len(v), want - i)
                    buf[i:i + m] = v[:m]
                    if m < len(v):
                        self._pending = v[m:]
                    i += m
                else:
                    buf[i] = v
                    i += 1
        except Exception as e:  # noqa: BLE001  (kept, raised for the steps it concerns)
            self._it, self._error = None, e
        except BaseException:  # interrupted: the iterator is gone; start again next time
            self._restart()
            raise
        finally:
            if self._it is not None or self._error is not None:
                self._n = i
        if top >= self._n:
            raise self._error


def _show(v: Any) -> str:
    if isinstance(v, tuple):
        return "[" + ", ".join(_show(x) for x in v) + "]"
    if callable(v) and not isinstance(v, Schedule):
        return getattr(v, "__name__", None) or repr(v)
    if isinstance(v, float):
        return f"{v:g}" if abs(v) >= 1e-4 or v == 0 else repr(v)
    return repr(v)


def schedule_kind(allow_float: bool = False) -> P.Kind:
    """A parameter holding another schedule (or, when allowed, a constant learning rate): a
    ``params.Kind`` that lives here, beside ``Schedule``, so params imports nothing of base."""
    rule = "an lrlab schedule" + (" or a learning rate" if allow_float else "")
    as_lr = P.lr()

    def check(where, param, value):
        if isinstance(value, Schedule):
            return value
        if allow_float and isinstance(value, numbers.Real) and not isinstance(value, bool):
            return as_lr(where, param, value)
        P.fail(where, param, rule, value, TypeError)

    kind = P.Kind(rule, check, is_lr=allow_float)
    kind.family = "schedule"
    return kind


def schedules_kind(min_len: int = 1) -> P.Kind:
    """A parameter holding a list of at least ``min_len`` schedules."""
    rule = f"a list of at least {min_len} lrlab schedules"

    def check(where, param, value):
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) < min_len:
            P.fail(where, param, rule, value, TypeError)
        for v in value:
            if not isinstance(v, Schedule):
                P.fail(where, param, rule, v, TypeError)
        return tuple(value)

    kind = P.Kind(rule, check)
    kind.family = "schedules"
    return kind
