"""``from_torch``: each ``torch.optim.lr_scheduler`` class as an lrlab schedule.

Builders take the class's keywords (minus the optimizer; ``lr`` is the optimizer's LR) and
return a schedule with ``s(k) == optimizer.param_groups[0]['lr']`` after ``k`` calls of
``scheduler.step()`` (torch 2.x; checked against torch itself in ``tests/compat/test_torch.py``).
Most classes are canonical schedules. The private classes below hold torch's quirks:

- ``CosineAnnealingLR`` keeps following the cosine after ``T_max`` (period ``2 * T_max``),
  computed by torch's own recursion (``compat.quirks.CosineAnnealing``, shared with Paddle);
- ``OneCycleLR`` extrapolates its last phase at ``k == total_steps`` (and raises after it);
  a first phase shorter than one step is skipped, as torch skips it;
- ``CyclicLR`` accepts ``max_lr < base_lr``, ``step_size_down=0`` and ``gamma > 1``, and
  raises where torch's ``triangular2`` overflows (cycle 1025);
- ``CosineAnnealingWarmRestarts`` accepts ``eta_min`` above the LR (cycles run upwards);
- ``SequentialLR`` / ``ChainedScheduler`` share one optimizer between their members, which
  changes what each member starts from: closed forms where they exist (see their builders),
  else torch's steps replayed on one param group (``compat.torch_steps``).

torch's own argument checks raise ``ValueError`` here too, naming the class and parameter
(including its type checks: ``T_0``, ``T_mult``, ``total_steps``, ``epochs`` and
``steps_per_epoch`` must be ints, not whole-number floats; ``pct_start`` a float); so do
arguments with which torch itself fails later (a division by zero at some step), and a few
clear user errors torch computes something for (a fractional or negative step count).

    >>> import lrlab
    >>> lrlab.from_torch("CosineAnnealingLR", 1.0, T_max=2).curve(6).round(12).tolist()
    [1.0, 0.5, 0.0, 0.5, 1.0, 0.5]
    >>> lrlab.from_torch("MultiStepLR", 1.0, milestones=[2, 2, 3], gamma=0.5).curve(4).tolist()
    [1.0, 1.0, 0.25, 0.125]
"""

from __future__ import annotations

import dataclasses
import inspect
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Annotated, ClassVar

import numpy as np

from ..control import Plateau
from ..schedules import create
from ..schedules import params as P
from ..schedules.base import Schedule, schedule_kind
from ..schedules.cyclic import OneCycle, anneal_phases
from .base import IGNORED, TORCH, FromTorch, build, builder
from .quirks import CosineAnnealing, LooseCyclic, Raises, WarmRestarts, halving_overflows
from .torch_steps import TorchSteps

_FACTOR = P.real(0.0, strict=False)  # a decay factor: torch accepts 0 (the LR drops to 0)
_COUNT = P.integer(1, strict=True)  # torch checks isinstance(x, int) for these


# ---- private schedules: torch's quirks ---------------------------------------------------
@dataclasses.dataclass(frozen=True, repr=False)
class _TorchOneCycle(OneCycle):
    """Canonical ``one_cycle`` up to ``total_steps - 1``; at ``k >= total_steps`` the value
    torch gives at ``k == total_steps``.

    Quirk: torch evaluates its last phase one step past its end there (``pct > 1``): with
    ``cos`` annealing that is a little above the floor; with ``linear`` it is below the floor,
    usually negative (e.g. ``-0.143`` for ``max_lr=1, total_steps=10``), which lrlab never
    emits: we return 0 instead. torch raises after ``total_steps``; a pure schedule holds.
    """

    name: ClassVar[str] = "torch_one_cycle"
    total_steps: Annotated[int, P.integer(1)]
    pct_start: Annotated[float, P.real(0.0, strict=False, high=1.0)] = 0.3

    def _empty(self) -> tuple[bool, bool]:
        """torch's rule: a step in ``0..total_steps`` picks the first phase whose end is at or
        after it (else the last) and divides by that phase's length. A phase that no step
        picks may be empty or reversed (a ``pct_start * total_steps < 1`` skips the warmup);
        one that a step picks and is empty is torch's ``ZeroDivisionError``: the first phase
        (picked by step 0, so torch raises at construction) or the last (picked by step
        ``total_steps`` only: ``pct_start=1.0``)."""
        ends = [e for e, _, _ in self._phases()]
        starts = [0.0] + ends[:-1]
        return (ends[0] == starts[0],
                ends[-1] == starts[-1] and max(ends[:-1]) < self.total_steps)

    def _validate(self):
        if self._empty()[0]:
            self._fail("pct_start", "such that the first phase is not empty (torch divides by "
                       "zero at step 0; pct_start * total_steps = 1)", self.pct_start)

    def _at(self, k):
        T = self.total_steps
        if k.size and k.max() >= T and self._empty()[1]:
            raise ValueError(f"OneCycleLR: torch divides by zero at step total_steps = {T} and "
                             f"raises after it (pct_start={self.pct_start} leaves the last phase "
                             f"empty)")
        return np.maximum(anneal_phases(np.minimum(k, T), self._phases(), self.anneal), 0.0)


@dataclasses.dataclass(frozen=True, repr=False)
class _FirstStep(Schedule):
    """``schedule`` with its value at step 0 replaced by ``first``.

    Quirk it serves: ``CyclicLR`` computes its step-0 LR from the param group's
    ``initial_lr`` (before it stores its own ``base_lr``), which differs from ``base_lr``
    when another scheduler was built on the optimizer first.
    """

    name: ClassVar[str] = "torch_first_step"
    schedule: Annotated[Schedule, schedule_kind()]
    first: Annotated[float, P.lr()]

    def _at(self, k):
        return np.where(k == 0, self.first, self.schedule.at(k))


# ---- helpers -----------------------------------------------------------------------------
def _canonical(where: str, cls: type[Schedule] | str, **params) -> Schedule:
    """Build a schedule; its validation errors are re-labelled with the torch class name."""
    name = cls if isinstance(cls, str) else cls.name
    try:
        return create(cls, **params) if isinstance(cls, str) else cls(**params)
    except (ValueError, TypeError) as e:
        msg = str(e)
        msg = msg[len(name) + 2:] if msg.startswith(f"{name}: ") else msg
        raise type(e)(f"{where}: {msg}") from None


def _constant(lr: float) -> Schedule:
    return create("constant", base_lr=lr)


def _raises_from(before: Schedule, step: int, message: str) -> Schedule:
    """``before`` until ``step``; from ``step`` on, evaluating raises ``ValueError(message)``:
    where torch raises."""
    return create("join", schedules=[before, Raises(message)], milestones=[step])


def _zero_after(lr: float, step: int) -> Schedule:
    """``lr`` until ``step``, then 0 (a decay with ``gamma=0``)."""
    return create("piecewise", milestones=[step], values=[lr, 0.0])


def _one_fn(where: str, fn) -> Callable:
    if isinstance(fn, (list, tuple)):
        if len(fn) != 1:
            raise ValueError(f"{where}: lr_lambda must be one function (lrlab models one param "
                             f"group), got a list of {len(fn)}")
        fn = fn[0]
    return P.function()(where, "lr_lambda", fn)


# ---- the plain classes -------------------------------------------------------------------
@builder(TORCH, "LambdaLR")
def lambda_lr(lr, lr_lambda):
    """``lr * lr_lambda(k)``."""
    return create("lambda", base_lr=lr, fn=_one_fn("LambdaLR", lr_lambda))


@builder(TORCH, "MultiplicativeLR")
def multiplicative_lr(lr, lr_lambda):
    """``lr * lr_lambda(1) * ... * lr_lambda(k)`` (``lr_lambda(0)`` is never used)."""
    return create("multiplicative", base_lr=lr, fn=_one_fn("MultiplicativeLR", lr_lambda))


@builder(TORCH, "StepLR")
def step_lr(lr, step_size, gamma=0.1):
    """``lr * gamma ** (k // step_size)``."""
    step_size = P.integer(1)("StepLR", "step_size", step_size)
    gamma = _FACTOR("StepLR", "gamma", gamma)
    if gamma == 0.0:
        return _zero_after(lr, step_size)
    return create("step", base_lr=lr, step_size=step_size, gamma=gamma)


@builder(TORCH, "MultiStepLR")
def multi_step_lr(lr, milestones, gamma=0.1):
    """``lr * gamma ** (number of milestones <= k)``.

    Quirk: torch keeps the milestones in a ``Counter``, so a repeated milestone decays
    once per repetition (``[2, 2]`` multiplies by ``gamma**2`` at step 2), the order does not
    matter, and a milestone 0 already decays the LR at construction.
    """
    where = "MultiStepLR"
    if isinstance(milestones, (str, bytes)) or not isinstance(milestones, Iterable):
        raise TypeError(f"{where}: milestones must be a list of steps, got {P.show(milestones)}")
    counts = Counter(P.integer(0)(where, "milestones", m) for m in milestones)
    gamma = _FACTOR(where, "gamma", gamma)
    at_zero = counts.pop(0, 0)
    edges = sorted(counts)
    if not edges:
        return _constant(lr * gamma ** at_zero)
    if at_zero == 0 and gamma > 0 and set(counts.values()) == {1}:
        return create("multistep", base_lr=lr, milestones=edges, gamma=gamma)
    n, values = at_zero, [lr * gamma ** at_zero]
    for m in edges:
        n += counts[m]
        values.append(lr * gamma ** n)
    return create("piecewise", milestones=edges, values=values)


@builder(TORCH, "ConstantLR")
def constant_lr(lr, factor=1.0 / 3, total_iters=5):
    """``lr * factor`` for ``k < total_iters``, then ``lr``.

    Quirk: with ``total_iters=0`` torch multiplies by ``factor`` at step 0 and never undoes
    it (``lr * factor`` forever). With ``factor=0`` torch divides by zero at ``total_iters``:
    the LR is 0 before, and evaluating ``total_iters`` or later raises a ValueError.
    """
    where = "ConstantLR"
    factor = P.real(0.0, strict=False, high=1.0)(where, "factor", factor)
    total_iters = P.integer(0)(where, "total_iters", total_iters)
    if total_iters == 0 or factor == 1.0:
        return _constant(lr * factor)
    if factor == 0.0:
        return _raises_from(_constant(0.0), total_iters, f"{where}: factor is 0, and torch divides "
                            f"the LR by it at step total_iters = {total_iters} (ZeroDivisionError)")
    return create("piecewise", milestones=[total_iters], values=[lr * factor, lr])


@builder(TORCH, "LinearLR")
def linear_lr(lr, start_factor=1.0 / 3, end_factor=1.0, total_iters=5):
    """``lr * (start_factor + (end_factor - start_factor) * min(k, T) / T)``.

    Quirk: ``total_iters=0`` holds ``lr * start_factor`` forever.
    """
    where = "LinearLR"
    start = P.real(0.0, high=1.0)(where, "start_factor", start_factor)
    end = P.real(0.0, strict=False, high=1.0)(where, "end_factor", end_factor)
    total_iters = P.integer(0)(where, "total_iters", total_iters)
    if total_iters == 0:
        return _constant(lr * start)
    return create("linear", base_lr=lr, total_steps=total_iters, start_factor=start,
                  end_factor=end)


@builder(TORCH, "ExponentialLR")
def exponential_lr(lr, gamma):
    """``lr * gamma ** k``."""
    gamma = _FACTOR("ExponentialLR", "gamma", gamma)
    if gamma == 0.0:
        return _zero_after(lr, 1)
    return create("exponential", base_lr=lr, gamma=gamma)


@builder(TORCH, "PolynomialLR")
def polynomial_lr(lr, total_iters=5, power=1.0):
    """``lr * (1 - min(k, T) / T) ** power`` (``total_iters=0`` or ``power=0``: ``lr``)."""
    where = "PolynomialLR"
    total_iters = P.integer(0)(where, "total_iters", total_iters)
    power = P.real(0.0, strict=False)(where, "power", power)
    if total_iters == 0 or power == 0.0:
        return _constant(lr)
    return create("polynomial", base_lr=lr, total_steps=total_iters, power=power)


@builder(TORCH, "CosineAnnealingLR")
def cosine_annealing_lr(lr, T_max, eta_min=0.0):
    """``eta_min + (lr - eta_min) * (1 + cos(pi k / T_max)) / 2`` at every ``k``: periodic,
    unlike canonical ``cosine``, and computed by torch's recursion (see ``CosineAnnealing``)."""
    where = "CosineAnnealingLR"
    return _canonical(where, CosineAnnealing, base_lr=lr,
                      T_max=P.integer(1)(where, "T_max", T_max),
                      eta_min=P.lr()(where, "eta_min", eta_min))


@builder(TORCH, "CosineAnnealingWarmRestarts")
def cosine_annealing_warm_restarts(lr, T_0, T_mult=1, eta_min=0.0):
    """SGDR: cosine from ``lr`` to ``eta_min`` over cycles of ``T_0 * T_mult**i`` steps
    (``eta_min`` above ``lr``: each cycle rises, see ``WarmRestarts``)."""
    where = "CosineAnnealingWarmRestarts"
    T_0 = _COUNT(where, "T_0", T_0)
    T_mult = _COUNT(where, "T_mult", T_mult)
    eta_min = P.lr()(where, "eta_min", eta_min)
    if eta_min > lr:
        return WarmRestarts(base_lr=lr, T_0=T_0, T_mult=T_mult, eta_min=eta_min)
    return create("cosine_restarts", base_lr=lr, step_size=T_0, t_mult=T_mult, min_lr=eta_min)


@builder(TORCH, "CyclicLR")
def cyclic_lr(lr, base_lr, max_lr, step_size_up=2000, step_size_down=None, mode="triangular",
              gamma=1.0, scale_fn=None, scale_mode="cycle"):
    """CLR between ``base_lr`` and ``max_lr`` (the optimizer's lr is overwritten).

    ``mode`` is ignored when ``scale_fn`` is given, and ``gamma`` unless ``mode='exp_range'``
    (as in torch). Parameters the canonical ``cyclic`` refuses use ``LooseCyclic``.
    ``triangular2``: torch's scale ``1 / 2.0 ** (cycle - 1)`` overflows from cycle 1025, so its
    ``step()`` raises ``OverflowError`` at step ``1024 * (step_size_up + step_size_down)``;
    evaluating that step or a later one raises a ValueError (``halving_overflows``).
    """
    where = "CyclicLR"
    params = {"base_lr": P.lr()(where, "base_lr", base_lr),
              "max_lr": P.lr()(where, "max_lr", max_lr),
              "step_size": P.integer(1)(where, "step_size_up", step_size_up),
              "step_size_down": P.integer(0, optional=True)(where, "step_size_down",
                                                            step_size_down)}
    if scale_fn is not None:
        params["scale_fn"] = P.function()(where, "scale_fn", scale_fn)
        params["scale_mode"] = P.choice("cycle", "iterations")(where, "scale_mode", scale_mode)
    else:
        params["mode"] = P.choice("triangular", "triangular2", "exp_range")(where, "mode", mode)
        if mode == "exp_range":
            params["gamma"] = P.real(0.0)(where, "gamma", gamma)
    if (params["max_lr"] >= params["base_lr"] and params["step_size_down"] != 0
            and params.get("gamma", 1.0) <= 1.0):
        s = _canonical(where, "cyclic", **params)
    else:
        s = _canonical(where, LooseCyclic, **params)
    if params.get("mode") != "triangular2":
        return s
    up, down = params["step_size"], params["step_size_down"]
    total = float(up) + (float(down) if down is not None else float(up))
    return halving_overflows(s, lambda k: np.floor(1 + k / total), "torch")


@builder(TORCH, "OneCycleLR")
def one_cycle_lr(lr, max_lr, total_steps=None, epochs=None, steps_per_epoch=None, pct_start=0.3,
                 anneal_strategy="cos", div_factor=25.0, final_div_factor=1e4, three_phase=False):
    """One-cycle from ``max_lr / div_factor`` (the optimizer's lr is overwritten); see
    ``_TorchOneCycle`` for ``k >= total_steps``."""
    where = "OneCycleLR"
    if total_steps is not None:
        total = _COUNT(where, "total_steps", total_steps)
    elif epochs is not None and steps_per_epoch is not None:
        total = _COUNT(where, "epochs", epochs) * _COUNT(where, "steps_per_epoch", steps_per_epoch)
        if total >= P.LIMIT:
            raise ValueError(f"{where}: epochs * steps_per_epoch must be < 2**62, got {total}")
    else:
        raise ValueError(f"{where}: give total_steps, or both epochs and steps_per_epoch")
    return _canonical(
        where, _TorchOneCycle, max_lr=P.lr()(where, "max_lr", max_lr), total_steps=total,
        pct_start=P.real(0.0, strict=False, high=1.0, floats_only=True)(where, "pct_start", pct_start),
        anneal=P.choice("cos", "linear")(where, "anneal_strategy", anneal_strategy),
        div_factor=P.real(0.0)(where, "div_factor", div_factor),
        final_div_factor=P.real(0.0)(where, "final_div_factor", final_div_factor),
        three_phase=P.flag()(where, "three_phase", three_phase))


@builder(TORCH, "ReduceLROnPlateau")
def reduce_lr_on_plateau(lr, mode="min", factor=0.1, patience=10, threshold=1e-4,
                         threshold_mode="rel", cooldown=0, min_lr=0, eps=1e-8):
    """A ``Plateau`` with torch's semantics (one param group: ``min_lr`` a number or 1-list)."""
    where = "ReduceLROnPlateau"
    if isinstance(min_lr, (list, tuple)):
        if len(min_lr) != 1:
            raise ValueError(f"{where}: min_lr must be a number or a list of one (lrlab models "
                             f"one param group), got {P.show(min_lr)}")
        min_lr = min_lr[0]
    return Plateau(lr, mode=P.choice("min", "max")(where, "mode", mode),
                   factor=P.real(0.0, high=1.0, high_strict=True)(where, "factor", factor),
                   patience=P.integer(0)(where, "patience", patience),
                   threshold=P.real(0.0, strict=False)(where, "threshold", threshold),
                   threshold_mode=P.choice("rel", "abs")(where, "threshold_mode", threshold_mode),
                   cooldown=P.integer(0)(where, "cooldown", cooldown),
                   min_lr=P.lr()(where, "min_lr", min_lr),
                   eps=P.real(0.0, strict=False)(where, "eps", eps), semantics="torch")


# ---- the combinators ---------------------------------------------------------------------
_COMBINATORS = ("SequentialLR", "ChainedScheduler")
# classes whose step multiplies the current LR by a factor that depends only on k
_MULTIPLY = ("StepLR", "MultiStepLR", "ConstantLR", "LinearLR", "ExponentialLR", "PolynomialLR",
             "MultiplicativeLR")
# classes whose step sets the LR from their own state, ignoring the current LR
_ABSOLUTE = ("LambdaLR", "CyclicLR", "OneCycleLR", "CosineAnnealingWarmRestarts")


def _members(where: str, lr: float, schedulers) -> list[tuple[str, dict]]:
    """``[(class_name, full keyword arguments)]`` of ``from_torch`` members sharing ``lr``."""
    if (isinstance(schedulers, (str, bytes)) or not isinstance(schedulers, Sequence)
            or not schedulers):
        raise ValueError(f"{where}: schedulers must be a non-empty list of lrlab.from_torch(...) "
                         f"results, got {P.show(schedulers)}")
    out = []
    for i, s in enumerate(schedulers):
        if isinstance(s, Plateau):
            raise ValueError(f"{where}: schedulers[{i}] is a ReduceLROnPlateau, which torch does "
                             f"not support here (its step needs a metric)")
        if not isinstance(s, FromTorch):
            raise ValueError(f"{where}: schedulers[{i}] must be an lrlab.from_torch(...) result "
                             f"(its torch class decides how it behaves here), got {P.show(s)}")
        if s.lr != lr:
            raise ValueError(f"{where}: schedulers[{i}] was built for optimizer_lr {P.show(s.lr)}, but "
                             f"{where} for {P.show(lr)}; all members share one optimizer")
        kw = {k: v for k, v in s.kwargs.items() if k not in IGNORED and k != "last_epoch"}
        bound = inspect.signature(TORCH[s.class_name]).bind(s.lr, **kw)
        bound.apply_defaults()
        args = dict(bound.arguments)
        args.pop("lr")
        out.append((s.class_name, args))
    return out


def _initial_lrs(members, lr: float) -> list[float]:
    """The param group's ``initial_lr`` after each member is built, in order.

    The first scheduler built sets it (to ``lr``, or ``CyclicLR``'s ``base_lr``, which it
    writes into the group first); every ``OneCycleLR`` overwrites it with
    ``max_lr / div_factor``. It is the ``base_lr`` of ``LambdaLR``,
    ``CosineAnnealingLR`` and ``CosineAnnealingWarmRestarts`` and the LR that
    ``SequentialLR`` resets the group to.
    """
    init, out = None, []
    for cls, a in members:
        if cls == "OneCycleLR":
            init = float(a["max_lr"]) / float(a["div_factor"])
        elif init is None:
            init = float(a["base_lr"]) if cls == "CyclicLR" else lr
        out.append(init)
    return out


def _rebuild(cls: str, args: dict, lr: float) -> Schedule:
    return build("torch", TORCH, cls, (lr,), args)


def _cannot_start(where: str, i: int, cls: str, a: dict, step: int) -> str | None:
    """Why torch raises when ``SequentialLR`` starts member ``i`` at ``step`` (None: it does
    not). It calls ``_update_lr(0)`` there: a combinator has no ``get_lr``
    (NotImplementedError); ``LinearLR`` / ``PolynomialLR`` divide by ``total_iters``."""
    if cls in _COMBINATORS:
        return (f"{where}: schedulers[{i}] is a {cls}, which torch cannot start at its milestone "
                f"(step {step}: NotImplementedError, it has no get_lr)")
    if cls in ("LinearLR", "PolynomialLR") and a["total_iters"] == 0:
        return (f"{where}: schedulers[{i}] ({cls}) has total_iters=0, and torch divides by it at "
                f"its milestone (step {step}: ZeroDivisionError)")
    return None


def _replayed(where: str, lr: float, schedulers, milestones=()) -> Schedule:
    """``where`` as torch steps it: every member on one param group (``TorchSteps``)."""

    def tree(members):
        out = []
        for s, (cls, a) in zip(members, _members(where, lr, members)):
            if cls in _COMBINATORS:
                out.append((cls, {"milestones": list(a.get("milestones", ()))},
                            tree(a["schedulers"])))
            else:
                out.append((cls, a, ()))
        return tuple(out)

    def leaves(members):
        for s in members:
            if s.class_name in _COMBINATORS:
                yield from leaves(s.kwargs["schedulers"])
            else:
                yield s

    flat = list(leaves(schedulers))
    period = max((int(s.kwargs.get("T_max", 0)) for s in flat
                  if s.class_name == "CosineAnnealingLR"), default=0)
    return TorchSteps(class_name=where, lr=lr, tree=tree(schedulers), milestones=tuple(milestones),
                      scale=max(s._scale() for s in flat), period=period,
                      cacheable=all(s._cacheable for s in flat))


@builder(TORCH, "SequentialLR")
def sequential_lr(lr, schedulers, milestones):
    """``schedulers[i]`` from ``milestones[i-1]``, seeing ``k - milestones[i-1]`` (a ``join``).

    Members are ``from_torch`` results for the same ``lr``, assumed built in list order on
    one optimizer. Quirks of torch reproduced:

    - SequentialLR resets the LR to the group's ``initial_lr`` and re-runs the first
      scheduler's initial step: recursive first schedulers start from that ``initial_lr``
      (``max_lr / div_factor`` if a ``OneCycleLR`` is among the members).
    - At a milestone torch calls ``_update_lr(0)`` on the next scheduler: its closed form at
      step 0 from its ``base_lr`` (the ``initial_lr`` when it was built). Without a closed
      form, ``MultiplicativeLR`` multiplies the *previous* scheduler's last LR by
      ``lr_lambda(0)``; ``ConstantLR(total_iters=0)`` restarts at its full LR (closed form);
      ``LinearLR`` / ``PolynomialLR`` with ``total_iters=0`` divide by zero there, and a
      combinator after the first member has no ``get_lr``: evaluating that milestone or later
      raises a ValueError (a schedule that never gets there, e.g. inside another
      ``SequentialLR`` that moves on first, is fine, as in torch).
    - Every ``OneCycleLR`` reads its LRs from the param group, i.e. from the last one built.
    - ``CyclicLR`` first: the group's ``initial_lr`` is its ``base_lr``, so later members
      start from that.
    - A member that is a ``ChainedScheduler`` or ``SequentialLR`` (first, its members are
      stepped from epoch -1, so even their first step changes the LR: torch's own
      ``test_sequentiallr5``), and a first ``CosineAnnealingLR`` whose ``initial_lr`` a later
      ``OneCycleLR`` changed, are replayed step by step (``TorchSteps``).

    Milestones must be strictly increasing steps >= 1 (torch does not check; with others some
    member is never used or is used at the wrong step: a user error).
    """
    where = "SequentialLR"
    members = _members(where, lr, schedulers)
    ms = P.milestones(1)(where, "milestones", milestones)
    if len(ms) != len(members) - 1 or any(isinstance(m, str) for m in ms):
        raise ValueError(f"{where}: milestones must be a list of len(schedulers) - 1 = "
                         f"{len(members) - 1} increasing steps >= 1, got {P.show(milestones)}")
    seen = _initial_lrs(members, lr)
    first = members[0][0]
    if (any(c in _COMBINATORS for c, _ in members)  # their members' initial_lr is not seen here
            or (first == "CosineAnnealingLR" and seen[-1] != seen[0])):
        return _replayed(where, lr, schedulers, ms)
    last_cycle = next((a for c, a in reversed(members) if c == "OneCycleLR"), None)
    pieces: list[Schedule] = []
    for i, (cls, a) in enumerate(members):
        base = seen[i]
        if cls == "OneCycleLR":
            a = {**a, **{k: last_cycle[k] for k in ("max_lr", "div_factor", "final_div_factor")}}
        if i == 0 and cls in _MULTIPLY + ("CosineAnnealingLR",):
            base = seen[-1]
        why = _cannot_start(where, i, cls, a, ms[i - 1]) if i > 0 else None
        if why:  # torch raises at this milestone and cannot go on
            pieces.append(Raises(why))
            ms = ms[:i]
            break
        if i > 0 and cls == "ConstantLR" and a["total_iters"] == 0:
            piece = _constant(base)
        elif i > 0 and cls == "MultiplicativeLR":
            fn = _one_fn(cls, a["lr_lambda"])
            before = (pieces[0] if i == 1
                      else create("join", schedules=pieces, milestones=ms[:i - 1]))
            start = before(ms[i - 1] - 1) * float(fn(0))
            piece = create("multiplicative", base_lr=start, fn=fn)
        else:
            piece = _rebuild(cls, a, base)
        pieces.append(piece)
    return pieces[0] if len(pieces) == 1 else create("join", schedules=pieces, milestones=ms)


def _flat_chain(where: str, lr: float, members) -> list[tuple[str, dict]] | None:
    """Nested ``ChainedScheduler`` members inlined (stepping one steps its members in order);
    None when a ``SequentialLR`` is among them."""
    out = []
    for cls, a in members:
        if cls == "ChainedScheduler":
            inner = _flat_chain(where, lr, _members(where, lr, a["schedulers"]))
            if inner is None:
                return None
            out += inner
        elif cls == "SequentialLR":
            return None
        else:
            out.append((cls, a))
    return out


@builder(TORCH, "ChainedScheduler")
def chained_scheduler(lr, schedulers):
    """Every member steps the shared LR in turn, in list order (members: ``from_torch``
    results for the same ``lr``, built in list order; nested chains are flattened).

    - Members that multiply the LR (``StepLR``, ``MultiStepLR``, ``ConstantLR``,
      ``LinearLR``, ``ExponentialLR``, ``PolynomialLR``, ``MultiplicativeLR``) compose as a
      product: ``lr * prod(member_i(k) / lr)`` (a ``chain``).
    - A member that sets the LR outright (``LambdaLR``, ``CyclicLR``, ``OneCycleLR``,
      ``CosineAnnealingWarmRestarts``) as the last one overwrites everything stepped before
      it: the chain is that member (with the group's ``initial_lr`` as its base; ``CyclicLR``
      not built first starts from that ``initial_lr`` at step 0).
    - Anything else is replayed step by step as torch steps it (``TorchSteps``): members
      after a setting one (torch then applies only their per-step factors, e.g. ``gamma`` at
      multiples of ``step_size``), ``CosineAnnealingLR`` with other members (its update is
      affine and restarts at each trough: torch's own ``test_compound_cosanneal_*``), and
      nested ``SequentialLR``.
    """
    where = "ChainedScheduler"
    members = _members(where, lr, schedulers)
    if len(members) == 1:
        return _rebuild(*members[0], lr)
    flat = _flat_chain(where, lr, members)
    if flat is None:
        return _replayed(where, lr, schedulers)
    classes = [c for c, _ in flat]
    if all(c in _MULTIPLY for c in classes):
        return create("chain", schedules=[_rebuild(*flat[0], lr)]
                      + [_rebuild(c, a, 1.0) for c, a in flat[1:]])
    if classes[-1] in _ABSOLUTE:
        cls, a = flat[-1]
        base = _initial_lrs(flat, lr)[-1]
        last = _rebuild(cls, a, base)
        if cls == "CyclicLR" and base != float(a["base_lr"]):
            last = _FirstStep(schedule=last, first=base)
        return last
    return _replayed(where, lr, schedulers)
