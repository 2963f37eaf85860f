"""Private schedules for what torch and Paddle compute alike and the canonical schedules do not.

- ``CosineAnnealing``: ``CosineAnnealingLR`` / ``CosineAnnealingDecay``, whose ``step()`` is a
  recursion (the same float operations in both frameworks), replayed here step by step;
- ``WarmRestarts``: ``CosineAnnealingWarmRestarts`` with ``eta_min`` above the LR (each cycle
  runs upwards), and Paddle's explicit-epoch cycle lookup;
- ``LooseCyclic``: ``CyclicLR`` with the ranges the canonical ``cyclic`` refuses;
- ``Raises``: the steps from which a framework raises (a piece of a ``join``), e.g. where
  ``CyclicLR``'s ``triangular2`` scale overflows (``halving_overflows``).

Both are numpy only, like the rest of ``lrlab.compat``.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import threading
from collections.abc import Callable
from typing import Annotated, ClassVar

import numpy as np

from ..schedules import params as P
from ..schedules.base import ROUNDING, Schedule, create
from ..schedules.cyclic import Cyclic
from ..schedules.decay import restart_cycle

_SEGMENTS = 16  # half-period segments of CosineAnnealing kept per schedule


@dataclasses.dataclass(frozen=True, repr=False)
class CosineAnnealing(Schedule):
    """torch ``CosineAnnealingLR`` and Paddle ``CosineAnnealingDecay``: a cosine of half-period
    ``T_max`` that rises again (period ``2 T_max``), computed as the frameworks compute it.

    Their ``step()`` is not the closed form
    ``eta_min + (base_lr - eta_min) * (1 + cos(pi k / T_max)) / 2`` but a recursion,
    ``lr_k = (1 + cos(pi k / T)) / (1 + cos(pi (k - 1) / T)) * (lr_{k-1} - eta_min) + eta_min``,
    with ``lr_k = lr_{k-1} + (base_lr - eta_min) * (1 - cos(pi / T)) / 2`` where the
    denominator vanishes (``(k - 1 - T) % (2 T) == 0``). On the way back up the recursion
    amplifies rounding (about 1e-8 relative for ``T_max=40000`` with ``eta_min > 0``), so it
    is replayed here in the frameworks' float order (``math.cos``), exactly.

    At each trough ``k = (2 j + 1) T`` the numerator ``1 + cos(pi k / T)`` rounds to 0, so the
    recursion restarts from ``eta_min`` exactly: a step is replayed from the trough before it
    (at most ``2 T`` steps), never from step 0, and any step can be asked for. (Past about
    10**7 half-periods the numerator no longer rounds to 0; the trough's value is then taken
    from the half-period before it, replayed from ``eta_min``: within ~1e-16 of the frameworks.)

    ``by_epoch=True`` is the closed form, which Paddle uses when stepped with an explicit epoch
    (as ``LinearWarmup`` does). Values a hair below 0 (``base_lr < eta_min``, rounding
    amplified as above) are rounding and become 0 (see ``_rounding``).

    >>> from lrlab.compat.quirks import CosineAnnealing
    >>> CosineAnnealing(1.0, 2).curve(6).round(12).tolist()
    [1.0, 0.5, 0.0, 0.5, 1.0, 0.5]
    >>> s = CosineAnnealing(0.1, 40000, 0.2)  # the closed form gives 0.1 at 80000
    >>> bool(abs(s(80000) - 0.1) > 1e-9), bool(s(80000) == s.curve(80001)[-1])
    (True, True)
    """

    name: ClassVar[str] = "cosine_annealing"
    base_lr: Annotated[float, P.lr()]
    T_max: Annotated[int, P.integer(1)]
    eta_min: Annotated[float, P.lr()] = 0.0
    by_epoch: Annotated[bool, P.flag()] = False

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "_segments", collections.OrderedDict())
        object.__setattr__(self, "_lock", threading.Lock())

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_segments", None)
        state.pop("_lock", None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        object.__setattr__(self, "_segments", collections.OrderedDict())
        object.__setattr__(self, "_lock", threading.Lock())

    def _rounding(self) -> float:
        if self.by_epoch:
            return super()._rounding()
        # the recursion amplifies rounding by about (T / pi)**2 on its way back up (measured:
        # at most 2.4 units of 2**-52 times that, for T_max from 3 to 10**5)
        return self._scale() * (ROUNDING + 2.0 ** -52 * (256 + 16 * (self.T_max / math.pi) ** 2))

    def _at(self, k):
        base, eta, T = self.base_lr, self.eta_min, self.T_max
        if self.by_epoch:
            return eta + (base - eta) * (1 + np.cos(np.pi * k / T)) / 2
        out = np.empty(k.shape)
        head = k <= T
        if head.any():
            out[head] = self._replayed(int(k[head].max()), self._head)[k[head]]
        late = ~head
        if late.any():
            kl = k[late]
            j = (kl - T - 1) // (2 * T)  # half-period segment j starts at the trough (2 j + 1) T
            d = kl - (2 * j + 1) * T  # 1 .. 2 T
            js, inverse = np.unique(j, return_inverse=True)
            if len(js) > 4 and len(js) * (int(d.max()) + 1) <= 4 * len(kl) + 4096:
                out[late] = self._rises(js, int(d.max()))[inverse.ravel(), d]  # many short ones
            else:
                vals = np.empty(kl.shape)
                for i, jj in enumerate(js.tolist()):
                    sel = inverse.ravel() == i
                    vals[sel] = self._segment(jj, int(d[sel].max()))[d[sel]]
                out[late] = vals
        return out

    def _cosines(self, steps: np.ndarray) -> np.ndarray:
        """``math.cos(math.pi * k / T)`` for each step, as the frameworks compute it (libm's
        cos, which numpy's vectorised cos need not equal to the last bit)."""
        x = (math.pi * steps / self.T_max).ravel().tolist()
        return np.array([math.cos(v) for v in x]).reshape(steps.shape)

    def _head(self):
        """Steps 0, 1, ..., T: the descent to the first trough, in chunks."""
        eta, T = self.eta_min, self.T_max
        lr = self.base_lr
        yield lr
        for k0 in range(1, T + 1, 4096):
            k1 = min(T, k0 + 4095)
            c = self._cosines(np.arange(k0 - 1, k1 + 1))
            out = []
            for r in ((1 + c[1:]) / (1 + c[:-1])).tolist():
                lr = r * (lr - eta) + eta
                out.append(lr)
            yield np.array(out)

    def _segment(self, j: int, dmax: int) -> np.ndarray:
        """Values at steps ``(2 j + 1) T + d`` for ``d = 0 .. >= dmax`` (kept: the last few)."""
        with self._lock:
            seg = self._segments.get(j)
            if seg is None or len(seg) <= dmax:
                start = seg if seg is not None else np.array([self._trough(j)])
                n = min(2 * self.T_max + 1, max(dmax + 1, 2 * len(start), 256))
                seg = np.concatenate([start, self._rise(j, float(start[-1]), len(start), n)])
                self._segments[j] = seg
            self._segments.move_to_end(j)
            while len(self._segments) > _SEGMENTS:
                self._segments.popitem(last=False)
            return seg

    def _trough(self, j: int) -> float:
        """The value at the trough ``(2 j + 1) T``: eta_min, as the recursion gives it."""
        T, t = self.T_max, (2 * j + 1) * self.T_max
        if j == 0:
            return float(self._replayed(T, self._head)[T])
        if 1 + math.cos(math.pi * t / T) == 0:
            return self.eta_min
        prev = self._rise(j - 1, self.eta_min, 1, 2 * T + 1)
        c, c_prev = math.cos(math.pi * t / T), math.cos(math.pi * (t - 1) / T)
        return (1 + c) / (1 + c_prev) * (prev[-1] - self.eta_min) + self.eta_min

    def _bump(self) -> float:
        return (self.base_lr - self.eta_min) * (1 - math.cos(math.pi / self.T_max)) / 2

    def _rise(self, j: int, lr: float, d0: int, d1: int) -> np.ndarray:
        """Steps ``(2 j + 1) T + d`` for ``d0 <= d < d1``, from ``lr`` at ``d0 - 1``."""
        eta, t = self.eta_min, (2 * j + 1) * self.T_max
        c = self._cosines(t + np.arange(d0 - 1, d1))
        ratios = ((1 + c[1:]) / (1 + c[:-1])).tolist()
        out = []
        for d, r in zip(range(d0, d1), ratios):
            lr = lr + self._bump() if d == 1 else r * (lr - eta) + eta
            out.append(lr)
        return np.array(out)

    def _rises(self, js: np.ndarray, dmax: int) -> np.ndarray:
        """Segments ``js`` at once, ``d = 0 .. dmax``: one row each (the recursion runs along
        the rows in numpy, whose + - * / round as Python's do)."""
        eta, T = self.eta_min, self.T_max
        starts = np.array([self._trough(j) for j in js.tolist()])
        c = self._cosines((2 * js[:, None] + 1) * T + np.arange(dmax + 1)[None, :])
        ratios = (1 + c[:, 1:]) / (1 + c[:, :-1])
        out = np.empty(c.shape)
        out[:, 0] = starts
        if dmax >= 1:
            out[:, 1] = starts + self._bump()
        for d in range(2, dmax + 1):
            out[:, d] = ratios[:, d - 1] * (out[:, d - 1] - eta) + eta
        return out


@dataclasses.dataclass(frozen=True, repr=False)
class WarmRestarts(Schedule):
    """``CosineAnnealingWarmRestarts`` where the canonical ``cosine_restarts`` differs.

    In cycle ``i`` (length ``T_i = T_0 * T_mult**i``) at position ``T_cur``:
    ``lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2``.

    Quirks: ``eta_min > base_lr`` is allowed by both frameworks (each cycle rises from
    ``base_lr`` towards ``eta_min``; the canonical schedule refuses it). ``by_epoch=True``:
    when stepped with an explicit epoch (as Paddle's ``LinearWarmup`` does) Paddle finds the
    cycle as ``int(math.log(k / T_0 * (T_mult - 1) + 1, T_mult))``, which rounds down at some
    exact restarts (``math.log(243, 3) = 4.999...``): there the LR is ``eta_min`` (end of the
    previous cycle) instead of the restart peak. That float ``log`` is reproduced.

    >>> from lrlab.compat.quirks import WarmRestarts
    >>> round(WarmRestarts(1.0, T_0=1, T_mult=3, by_epoch=True)(121), 12)
    0.0
    >>> WarmRestarts(0.5, T_0=2, eta_min=1.0).curve(4).round(12).tolist()
    [0.5, 0.75, 0.5, 0.75]
    """

    name: ClassVar[str] = "warm_restarts"
    base_lr: Annotated[float, P.lr()]
    T_0: Annotated[int, P.integer(1)]
    T_mult: Annotated[int, P.integer(1)] = 1
    eta_min: Annotated[float, P.lr()] = 0.0
    by_epoch: Annotated[bool, P.flag()] = False

    def _at(self, k):
        T0, m = self.T_0, self.T_mult
        if m > 1 and self.by_epoch:
            x = k / T0 * (m - 1) + 1
            q = np.log(x) / np.log(m)
            near = np.flatnonzero(np.abs(q - np.round(q)) < 1e-6)  # redo in Python's float log
            q[near] = [math.log(float(v), m) for v in x[near]]
            i = np.where(k >= T0, q.astype(np.int64), 0)
            t, Ti = k - T0 * (m ** i - 1) // (m - 1), (T0 * m ** i).astype(np.float64)
        else:
            _, t, Ti = restart_cycle(k, T0, m)
        return self.eta_min + (self.base_lr - self.eta_min) * (1 + np.cos(np.pi * t / Ti)) / 2


@dataclasses.dataclass(frozen=True, repr=False)
class LooseCyclic(Cyclic):
    """Canonical ``cyclic`` arithmetic with the frameworks' looser rules, used only where the
    canonical one refuses a parameter: ``max_lr < base_lr`` (the cycle dips instead of
    peaking), ``step_size_down=0`` (torch: a sawtooth that only rises) and any ``gamma``
    (``exp_range`` with ``gamma > 1`` grows until the LR overflows, which is an error at that
    step; a negative value of the LR is too).

    >>> from lrlab.compat.quirks import LooseCyclic
    >>> LooseCyclic(base_lr=1.0, max_lr=0.0, step_size=2, step_size_down=0).curve(4).tolist()
    [1.0, 0.5, 1.0, 0.5]
    """

    name: ClassVar[str] = "loose_cyclic"
    step_size_down: Annotated[int | None, P.integer(0, optional=True)] = None
    gamma: Annotated[float, P.real()] = 1.0

    def _validate(self):
        pass

    def _at(self, k):
        with np.errstate(divide="ignore", invalid="ignore"):  # the unused branch divides by 0
            return super()._at(k)


@dataclasses.dataclass(frozen=True, repr=False)
class Raises(Schedule):
    """No learning rate: evaluating any step raises ``ValueError(message)``. As a piece of a
    ``join`` it stands for the steps at which the framework itself raises (e.g. torch's
    ``ConstantLR(factor=0)`` divides by zero at ``total_iters``), so the steps before still
    evaluate, and a schedule that never reaches it (a ``SequentialLR`` that moves on first)
    is not refused.

    >>> from lrlab.compat.quirks import Raises
    >>> Raises("torch divides by zero here")(3)
    Traceback (most recent call last):
    ValueError: torch divides by zero here
    """

    name: ClassVar[str] = "raises"
    message: Annotated[str, P.text()]

    def _at(self, k):
        if k.size:
            raise ValueError(self.message)
        return np.zeros(0)


def halving_overflows(schedule: Schedule, cycle: Callable[[np.ndarray], np.ndarray],
                      framework: str) -> Schedule:
    """``schedule``, a ``CyclicLR`` in ``triangular2`` mode, until the first step whose cycle
    number is above 1024; evaluating that step or a later one raises (a ``Raises`` piece).

    Quirk: torch and Paddle scale the cycle by ``1 / (2.0 ** (cycle - 1))``, and ``2.0 ** 1024``
    overflows a float: their ``step()`` raises ``OverflowError`` at the first step of cycle
    1025 (step ``1024 * (step_size_up + step_size_down)``). ``cycle`` is the framework's own
    cycle arithmetic for an int64 array of steps (torch ``floor(1 + k / L)``, Paddle
    ``1 + k // L``), which never decreases, so the step is found by bisection (exactly, also
    where a huge cycle length makes the float division round). Unchanged when no step below
    2**62 reaches cycle 1025.

    >>> from lrlab import create
    >>> from lrlab.compat.quirks import halving_overflows
    >>> s = halving_overflows(create("cyclic", base_lr=0.5, max_lr=1.0, step_size=1,
    ...                              mode="triangular2"), lambda k: 1 + k // 2.0, "Paddle")
    >>> s(2047), s.curve(2048).tolist()[-1]
    (0.5, 0.5)
    >>> s(2048)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: CyclicLR: Paddle raises OverflowError at step 2048 (mode='triangular2': ...)
    """

    def over(k: int) -> bool:
        return bool(cycle(np.array([k], dtype=np.int64))[0] > 1024)

    if not over(P.LIMIT - 1):
        return schedule
    lo, hi = 0, P.LIMIT - 1  # not over at lo (cycle 1), over at hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if over(mid) else (mid, hi)
    why = Raises(f"CyclicLR: {framework} raises OverflowError at step {hi} (mode='triangular2': "
                 f"its scale 1 / 2.0 ** (cycle - 1) overflows a float from cycle 1025)")
    return create("join", schedules=[schedule, why], milestones=[hi])
