"""``from_paddle``: each ``paddle.optimizer.lr`` class as an lrlab schedule.

Each builder takes the class's own keywords (names and defaults as in Paddle 3.x, minus
``last_epoch`` / ``verbose``), checks them by Paddle's rules (type and range errors name the
class, the parameter and the value) and returns a canonical schedule wherever its sequence
equals Paddle's ``last_lr`` after ``k`` calls of ``step()``. Where Paddle has a quirk the
canonical schedules deliberately do not share, a small private schedule below reproduces it.

Paddle arguments lrlab refuses although Paddle takes them (each would give a negative or
meaningless LR, or is a clear user error): negative ``gamma`` / ``end_lr`` / ``eta_min`` /
``threshold``, fractional ``LinearLR.total_steps``, a NaN or infinite
``NoamDecay.warmup_steps``, ``ReduceOnPlateau.factor <= 0``, ``PiecewiseDecay`` boundaries
that are not increasing.

    >>> from lrlab import from_paddle
    >>> from_paddle("NoamDecay", d_model=16, warmup_steps=2).curve(4).round(4).tolist()
    [0.0, 0.0884, 0.1768, 0.1443]
    >>> from_paddle("NoamDecay", d_model=16, warmup_steps=2.5).curve(4).round(4).tolist()
    [0.0, 0.0632, 0.1265, 0.1443]
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import numbers
from typing import Annotated, ClassVar

import numpy as np

from ..control import Plateau
from ..schedules import create
from ..schedules import params as P
from ..schedules.base import Schedule
from ..schedules.cyclic import anneal_phases
from .base import PADDLE, FromPaddle, builder
from .quirks import CosineAnnealing, LooseCyclic, WarmRestarts, halving_overflows

# ---- argument rules, named after the Paddle class ------------------------------------------


def _int(low: int = 1) -> P.Kind:
    """A Python int >= low (Paddle checks ``isinstance(x, int)`` for step counts)."""
    return P.integer(low, strict=True)


def _float(kind: P.Kind) -> P.Kind:
    """``kind``, but only for a Python float (Paddle rejects ints for these)."""

    def check(where, param, value):
        if not isinstance(value, float):
            P.fail(where, param, "a float", value, TypeError)
        return kind(where, param, value)

    return P.Kind("a float: " + kind.doc, check)


def _lower_choice(*options: str) -> P.Kind:
    """One of ``options``, case-insensitive (Paddle lower-cases these)."""
    inner = P.choice(*options)
    return P.Kind(inner.doc, lambda w, p, v: inner(w, p, v.lower() if isinstance(v, str) else v))


def _boundaries() -> P.Kind:
    def check(where, param, value):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple, np.ndarray)):
            P.fail(where, param, "a list of steps", value, TypeError)
        if isinstance(value, np.ndarray):
            value = value.tolist()
        for v in value:
            if isinstance(v, bool) or not isinstance(v, numbers.Real):
                P.fail(where, param, "a list of finite numbers", list(value), TypeError)
            if not abs(v) < P.LIMIT:  # also nan, inf and 10**400
                P.fail(where, param, "a list of finite numbers below 2**62", list(value))
        return list(value)

    return P.Kind("a list of steps", check)


def _truth() -> P.Kind:
    """A flag: True / False (also numpy's, and 0 / 1, which Paddle's ``if x:`` reads alike)."""
    def check(where, param, value):
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        if isinstance(value, numbers.Integral) and value in (0, 1):
            return bool(value)
        P.fail(where, param, "True or False", value, TypeError)

    return P.Kind("True or False", check)


def _lr_or_schedule() -> P.Kind:
    as_lr = P.lr()

    def check(where, param, value):
        if isinstance(value, Schedule):
            if not value.is_bound:
                P.fail(where, param, "a schedule with concrete lengths (call .bind(total_steps) "
                      "on it first)", value)
            return value
        if isinstance(value, Plateau):
            P.fail(where, param, "a learning rate or an lrlab schedule (a ReduceOnPlateau cannot "
                  "be wrapped: Paddle would pass the step count to it as the metric)", value, TypeError)
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            P.fail(where, param, "a learning rate or an lrlab schedule", value, TypeError)
        return as_lr(where, param, value)

    return P.Kind("a learning rate or an lrlab schedule", check)


def _paddle(class_name: str, **kinds: P.Kind):
    """Register a builder for ``class_name``; its arguments named in ``kinds`` are checked
    (and normalised) by those rules first, so errors name the Paddle class and parameter."""

    def deco(fn):
        sig = inspect.signature(fn)

        @functools.wraps(fn)
        def checked(*args, **kwargs):
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            a = bound.arguments
            for p, kind in kinds.items():
                a[p] = kind(class_name, p, a[p])
            return fn(**a)

        return builder(PADDLE, class_name)(checked)

    return deco


LR = P.lr()
UNIT_OPEN = P.real(0.0, high=1.0, high_strict=True)  # 0 < x < 1
BELOW_ONE = P.real(0.0, strict=False, high=1.0, high_strict=True)  # 0 <= x < 1


def _first_below(boundaries, values) -> Schedule:
    """Paddle's lookup "``values[i]`` for the first ``i`` with ``k < boundaries[i]``, else
    ``values[-1]``" as a canonical ``piecewise``: ``k < b`` is ``k < ceil(b)`` for an int step,
    and a boundary not above every earlier one (or 0) can never be the first hit, so it is
    dropped with its value."""
    ms, vs, top = [], [], 0
    for b, v in zip(boundaries, values):
        b = math.ceil(b)
        if b > top:
            ms.append(b)
            vs.append(v)
            top = b
    if not ms:
        return create("constant", base_lr=values[-1])
    return create("piecewise", milestones=ms, values=[*vs, values[-1]])


# ---- private schedules for Paddle's quirks --------------------------------------------------


@dataclasses.dataclass(frozen=True, repr=False)
class _PaddleOneCycle(Schedule):
    """Paddle's ``OneCycleLR``.

    From ``initial = max_learning_rate / divide_factor`` up to ``max_learning_rate``, then down
    to ``end_learning_rate`` (an absolute LR, not a factor as in torch); ``three_phase`` goes
    back to ``initial`` first. Phases end at ``phase_pct * T - 1``, (``2 * phase_pct * T - 2``,)
    ``T - 1``; step ``k`` is in the first phase whose end is ``>= k`` (else the last), at
    ``pct = (k - start) / (end - start)``, annealed ``cos``: ``b + (a - b) / 2 * (cos(pi pct) + 1)``
    or ``linear``: ``(b - a) * pct + a``.

    Quirks: step ``T`` (one past the last phase end) is valid in Paddle and extrapolates the
    last phase (``pct > 1``): with ``linear`` annealing it can be negative, which lrlab refuses
    (a ValueError at that step). Paddle raises beyond ``T``; this schedule holds ``lr(T)``.
    A phase Paddle would divide by zero in (``phase_pct * T == 1``, or ``phase_pct == 1``
    without ``three_phase``) is refused at construction.

    >>> from lrlab.compat.paddle import _PaddleOneCycle
    >>> s = _PaddleOneCycle(1.0, 4, divide_factor=4.0, end_learning_rate=0.0, phase_pct=0.5,
    ...                     anneal_strategy="linear")
    >>> s.curve(4).tolist()  # Paddle's step 4 would be -0.5: s(4) raises
    [0.25, 1.0, 0.5, 0.0]
    """

    name: ClassVar[str] = "paddle_one_cycle"
    max_learning_rate: Annotated[float, P.lr()]
    total_steps: Annotated[int, P.integer(1)]
    divide_factor: Annotated[float, P.real(0.0)] = 25.0
    end_learning_rate: Annotated[float, P.lr()] = 1e-4
    phase_pct: Annotated[float, P.real(0.0, strict=False, high=1.0)] = 0.3
    anneal_strategy: Annotated[str, P.choice("cos", "linear")] = "cos"
    three_phase: Annotated[bool, P.flag()] = False

    def _phases(self):
        """``[(end_step, start_lr, end_lr)]`` in Paddle's float arithmetic (see ``anneal_phases``)."""
        T, p, top = self.total_steps, self.phase_pct, self.max_learning_rate
        low = top / float(self.divide_factor)
        if self.three_phase:
            ends, lrs = [p * T - 1, 2 * p * T - 2, T - 1], [low, top, low, self.end_learning_rate]
        else:
            ends, lrs = [p * T - 1, T - 1], [low, top, self.end_learning_rate]
        return [(ends[i], lrs[i], lrs[i + 1]) for i in range(len(ends))]

    @staticmethod
    def _check(where: str, total_steps: int, phase_pct: float, three_phase: bool) -> None:
        """Paddle's three-phase rule, and no empty phase that a step would divide by."""
        if three_phase and phase_pct >= 0.5:
            P.fail(where, "phase_pct", "< 0.5 with three_phase", phase_pct)
        # the first phase is used (at k = 0) when it ends at 0: phase_pct * T == 1; the last
        # one always (at k = T): it is empty when phase_pct == 1 without three_phase
        e1 = phase_pct * total_steps - 1
        if e1 == 0 or (not three_phase and e1 == total_steps - 1):
            P.fail(where, "phase_pct", f"such that no phase used is empty (Paddle divides by "
                  f"zero; total_steps={total_steps})", phase_pct)

    def _validate(self):
        self._check(self.name, self.total_steps, self.phase_pct, self.three_phase)

    def _at(self, k):
        return anneal_phases(np.minimum(k, self.total_steps), self._phases(), self.anneal_strategy)


@dataclasses.dataclass(frozen=True, repr=False)
class _PaddleNoam(Schedule):
    """Paddle's ``NoamDecay`` with a fractional ``warmup_steps`` (Paddle takes any number > 0;
    the canonical ``noam`` takes a step count):
    ``learning_rate * d_model ** -0.5 * min(k ** -0.5, warmup_steps ** -1.5 * k)``, in Paddle's
    float order, with ``k ** -0.5`` read as 1 at ``k = 0`` (so step 0 has LR 0).

    >>> from lrlab.compat.paddle import _PaddleNoam
    >>> _PaddleNoam(16, 0.5).curve(4).round(4).tolist()  # at or below 1: no warmup at all
    [0.0, 0.25, 0.1768, 0.1443]
    """

    name: ClassVar[str] = "paddle_noam"
    d_model: Annotated[float, P.real(0.0)]
    warmup_steps: Annotated[float, P.real(0.0)]
    learning_rate: Annotated[float, P.lr()] = 1.0

    def _at(self, k):
        n = k.astype(np.float64)
        decay, ramp = np.maximum(n, 1.0) ** -0.5, self.warmup_steps ** -1.5 * n
        return self.learning_rate * self.d_model ** -0.5 * np.minimum(decay, ramp)


# ---- the builders, one per class ------------------------------------------------------------


@_paddle("NoamDecay", d_model=P.real(0.0), warmup_steps=P.real(0.0), learning_rate=LR)
def noam_decay(d_model, warmup_steps, learning_rate=1.0):
    """Paddle's step ``k`` is the paper's ``n`` (canonical ``noam`` uses ``n = k + 1``), so
    step 0 has LR 0: a join of ``constant(0)`` and ``noam`` from step 1. A fractional
    ``warmup_steps`` (Paddle takes any number > 0) is ``_PaddleNoam``; one so small that
    ``warmup_steps ** -1.5`` overflows a float is refused, as Paddle raises there."""
    try:
        warmup_steps ** -1.5
    except OverflowError:
        P.fail("NoamDecay", "warmup_steps", "such that warmup_steps ** -1.5 fits a float (Paddle "
               "raises OverflowError)", warmup_steps)
    if not (warmup_steps.is_integer() and warmup_steps < P.LIMIT):
        return _PaddleNoam(d_model, warmup_steps, learning_rate)
    zero = create("constant", base_lr=0.0)
    noam = create("noam", d_model=d_model, warmup_steps=int(warmup_steps), base_lr=learning_rate)
    return create("join", schedules=[zero, noam], milestones=[1])


@_paddle("PiecewiseDecay", boundaries=_boundaries(), values=P.lrs())
def piecewise_decay(boundaries, values):
    """``values[i]`` for the first ``i`` with ``k < boundaries[i]``, else ``values[-1]``: extra
    values (Paddle allows more than ``len(boundaries) + 1``) are unused but the last.
    Boundaries must be strictly increasing (``[10, 5]``: Paddle never uses the piece after
    10, a user error lrlab refuses)."""
    if not boundaries:
        raise ValueError("PiecewiseDecay: boundaries must be a non-empty list of steps, got []")
    if any(b <= a for a, b in zip(boundaries, boundaries[1:])):  # a piece no step reaches
        P.fail("PiecewiseDecay", "boundaries", "strictly increasing (Paddle takes the first "
               "boundary above the step, so a piece after a larger one is never used)", boundaries)
    if len(values) <= len(boundaries):
        raise ValueError(f"PiecewiseDecay: values must be a list of at least len(boundaries) + 1 = "
                         f"{len(boundaries) + 1} learning rates, got {P.show(list(values))}")
    return _first_below(boundaries, values)


@_paddle("NaturalExpDecay", learning_rate=LR, gamma=P.real(0.0))
def natural_exp_decay(learning_rate, gamma):
    return create("natural_exp", base_lr=learning_rate, gamma=gamma)


@_paddle("InverseTimeDecay", learning_rate=LR, gamma=P.real(0.0, strict=False))
def inverse_time_decay(learning_rate, gamma):
    if gamma == 0.0:
        return create("constant", base_lr=learning_rate)
    return create("inverse_time", base_lr=learning_rate, gamma=gamma)


@_paddle("PolynomialDecay", learning_rate=LR, decay_steps=_int(1), end_lr=LR, power=P.real(0.0),
         cycle=_truth())
def polynomial_decay(learning_rate, decay_steps, end_lr=0.0001, power=1.0, cycle=False):
    return create("polynomial", base_lr=learning_rate, total_steps=decay_steps, min_lr=end_lr,
                  power=power, cycle=bool(cycle))


def _epoch_form(s: Schedule) -> Schedule:
    """The sequence a wrapped Paddle scheduler gives when stepped with an explicit epoch:
    closed forms where Paddle has them (see ``CosineAnnealing``, ``WarmRestarts``)."""
    if not isinstance(s, FromPaddle):
        return s
    impl = s._impl
    if isinstance(impl, (CosineAnnealing, WarmRestarts)):
        return dataclasses.replace(impl, by_epoch=True)
    if s.class_name == "CosineAnnealingWarmRestarts":  # canonical cosine_restarts
        return WarmRestarts(impl.base_lr, impl.step_size, impl.t_mult, impl.min_lr, by_epoch=True)
    return s


@_paddle("LinearWarmup", learning_rate=_lr_or_schedule(), warmup_steps=_int(1), start_lr=LR,
         end_lr=P.real())
def linear_warmup(learning_rate, warmup_steps, start_lr, end_lr):
    """``start_lr + (end_lr - start_lr) * k / warmup_steps`` for ``k < warmup_steps``, then
    ``learning_rate`` (a float, or a schedule run from its own step 0: Paddle calls
    ``inner.step(k - warmup_steps)``). The ramp aims at ``end_lr``, not at the inner LR, and
    the explicit-epoch step makes Paddle use closed forms (``_epoch_form``)."""
    if not end_lr > start_lr:
        raise ValueError(f"LinearWarmup: end_lr must be > start_lr ({P.show(start_lr)}), got {P.show(end_lr)}")
    ramp = create("linear", base_lr=end_lr, total_steps=warmup_steps,
                  start_factor=start_lr / end_lr, end_factor=1.0)
    if isinstance(learning_rate, Schedule):
        after = _epoch_form(learning_rate)
    else:
        after = create("constant", base_lr=learning_rate)
    return create("join", schedules=[ramp, after], milestones=[warmup_steps])


@_paddle("ExponentialDecay", learning_rate=LR, gamma=UNIT_OPEN)
def exponential_decay(learning_rate, gamma):
    return create("exponential", base_lr=learning_rate, gamma=gamma)


@_paddle("MultiStepDecay", learning_rate=LR, milestones=_boundaries(), gamma=BELOW_ONE)
def multi_step_decay(learning_rate, milestones, gamma=0.1):
    """``learning_rate * gamma**i`` for the first ``i`` with ``k < milestones[i]``; milestones
    that are not ints >= 1 (or ``gamma == 0``) go through ``piecewise``."""
    if any(b >= a for a, b in zip(milestones[1:], milestones)):
        raise ValueError(f"MultiStepDecay: milestones must be strictly increasing, got {P.show(milestones)}")
    if gamma > 0 and all(isinstance(m, numbers.Integral) and m >= 1 for m in milestones):
        return create("multistep", base_lr=learning_rate, milestones=milestones, gamma=gamma)
    values = [learning_rate * gamma ** i for i in range(len(milestones) + 1)]
    return _first_below(milestones, values)


@_paddle("StepDecay", learning_rate=LR, step_size=_int(1), gamma=BELOW_ONE)
def step_decay(learning_rate, step_size, gamma=0.1):
    if gamma == 0.0:  # 0.0 ** 0 == 1: the LR holds for one step_size, then 0
        return create("piecewise", milestones=[step_size], values=[learning_rate, 0.0])
    return create("step", base_lr=learning_rate, step_size=step_size, gamma=gamma)


@_paddle("LambdaDecay", learning_rate=LR, lr_lambda=P.function())
def lambda_decay(learning_rate, lr_lambda):
    return create("lambda", base_lr=learning_rate, fn=lr_lambda)


@_paddle("ReduceOnPlateau", learning_rate=LR, mode=_lower_choice("min", "max"), factor=UNIT_OPEN,
         patience=P.integer(0), threshold=P.real(0.0, strict=False),
         threshold_mode=_lower_choice("rel", "abs"), cooldown=P.integer(0), min_lr=LR,
         epsilon=P.real(0.0, strict=False))
def reduce_on_plateau(learning_rate, mode="min", factor=0.1, patience=10, threshold=1e-4,
                      threshold_mode="rel", cooldown=0, min_lr=0, epsilon=1e-8):
    """A ``Plateau`` with Paddle's semantics: metrics are ignored during cooldown, the relative
    bound is ``best - best * threshold``."""
    return Plateau(learning_rate, mode=mode, factor=factor, patience=patience,
                   threshold=threshold, threshold_mode=threshold_mode, cooldown=cooldown,
                   min_lr=min_lr, eps=epsilon, semantics="paddle")


@_paddle("CosineAnnealingDecay", learning_rate=LR, T_max=_int(1), eta_min=LR)
def cosine_annealing_decay(learning_rate, T_max, eta_min=0):
    return CosineAnnealing(learning_rate, T_max, float(eta_min))


@_paddle("MultiplicativeDecay", learning_rate=LR, lr_lambda=P.function())
def multiplicative_decay(learning_rate, lr_lambda):
    return create("multiplicative", base_lr=learning_rate, fn=lr_lambda)


@_paddle("OneCycleLR", max_learning_rate=LR, total_steps=_int(1), divide_factor=P.real(0.0),
         end_learning_rate=LR, phase_pct=_float(P.real(0.0, strict=False, high=1.0)),
         anneal_strategy=P.choice("cos", "linear"), three_phase=_truth())
def one_cycle_lr(max_learning_rate, total_steps, divide_factor=25.0, end_learning_rate=0.0001,
                 phase_pct=0.3, anneal_strategy="cos", three_phase=False):
    _PaddleOneCycle._check("OneCycleLR", total_steps, phase_pct, bool(three_phase))
    return _PaddleOneCycle(max_learning_rate, total_steps, divide_factor, end_learning_rate,
                           phase_pct, anneal_strategy, bool(three_phase))


@_paddle("CyclicLR", base_learning_rate=LR, max_learning_rate=LR, step_size_up=_int(1),
         exp_gamma=_float(P.real()), scale_mode=P.choice("cycle", "iterations"))
def cyclic_lr(base_learning_rate, max_learning_rate, step_size_up, step_size_down=None,
              mode="triangular", exp_gamma=1.0, scale_fn=None, scale_mode="cycle"):
    """Canonical ``cyclic`` (same arithmetic). Without ``scale_fn`` the mode fixes the scale
    argument (cycle for triangular*, iteration for exp_range); with one, ``mode`` is ignored.
    Paddle passes the cycle number to ``scale_fn`` as a float (1.0, 2.0, ...), lrlab as an int.
    ``max_learning_rate < base_learning_rate`` (the cycle dips) and ``exp_gamma`` outside
    (0, 1] are Paddle's too (``LooseCyclic``): a growing ``exp_range`` is an error at the step
    where its LR overflows or turns negative, as in Paddle. ``triangular2``: Paddle's scale
    ``1 / 2.0 ** (cycle - 1)`` overflows from cycle 1025, so its ``step()`` raises
    ``OverflowError`` at step ``1024 * (step_size_up + step_size_down)``; evaluating that step
    or a later one raises a ValueError (``halving_overflows``)."""
    where = "CyclicLR"
    if step_size_down is not None:
        step_size_down = _int(1)(where, "step_size_down", step_size_down)
    params = dict(base_lr=base_learning_rate, max_lr=max_learning_rate, step_size=step_size_up,
                  step_size_down=step_size_down)
    if scale_fn is not None:
        params.update(scale_fn=P.function()(where, "scale_fn", scale_fn), scale_mode=scale_mode)
    else:
        params["mode"] = P.choice("triangular", "triangular2", "exp_range")(where, "mode", mode)
        if mode == "exp_range":
            params["gamma"] = exp_gamma
    if max_learning_rate >= base_learning_rate and 0.0 < params.get("gamma", 1.0) <= 1.0:
        s = create("cyclic", **params)
    else:
        s = LooseCyclic(**params)  # a dip (max < base), or exp_gamma outside (0, 1]
    if params.get("mode") != "triangular2":
        return s
    total = float(step_size_up) + float(step_size_up if step_size_down is None else step_size_down)
    return halving_overflows(s, lambda k: 1 + k.astype(np.float64) // total, "Paddle")


@_paddle("LinearLR", learning_rate=LR, total_steps=P.integer(1),
         start_factor=P.real(0.0, high=1.0), end_factor=P.real(0.0, strict=False, high=1.0))
def linear_lr(learning_rate, total_steps, start_factor=1.0 / 3, end_factor=1.0):
    """Paddle multiplies the previous LR by ``1 + (e - s) / (T s + (k - 1)(e - s))`` each step,
    which telescopes to the canonical ``linear`` (equal to ~1e-12 relative)."""
    return create("linear", base_lr=learning_rate, total_steps=total_steps,
                  start_factor=start_factor, end_factor=end_factor)


@_paddle("CosineAnnealingWarmRestarts", learning_rate=LR, T_0=_int(1), T_mult=_int(1), eta_min=LR)
def cosine_annealing_warm_restarts(learning_rate, T_0, T_mult=1, eta_min=0):
    """Canonical ``cosine_restarts`` unless ``eta_min > learning_rate`` (see ``WarmRestarts``)."""
    if eta_min > learning_rate:
        return WarmRestarts(learning_rate, T_0, T_mult, eta_min)
    return create("cosine_restarts", base_lr=learning_rate, step_size=T_0, t_mult=T_mult,
                  min_lr=eta_min)
