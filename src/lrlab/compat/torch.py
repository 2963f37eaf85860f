"""``from_torch``: each ``torch.optim.lr_scheduler`` class as an lrlab schedule.

Builders take the class's keywords (minus the optimizer; ``lr`` is the optimizer's LR) and
return a schedule with ``s(k) == optimizer.param_groups[0]['lr']`` after ``k`` calls of
``scheduler.step()`` (torch 2.x; checked against torch itself in ``tests/compat/test_torch.py``).
Most classes are canonical schedules. The private classes below hold torch's quirks:

- ``CosineAnnealingLR`` keeps following the cosine after ``T_max`` (period ``2 * T_max``);
- ``OneCycleLR`` extrapolates its last phase at ``k == total_steps`` (and raises after it);
- ``CyclicLR`` accepts ``max_lr < base_lr``, ``step_size_down=0`` and ``gamma > 1``;
- ``SequentialLR`` / ``ChainedScheduler`` share one optimizer between their members, which
  changes what each member starts from (see their builders).

torch's own argument checks raise ``ValueError`` here too, naming the class and parameter;
so do arguments with which torch itself fails later (e.g. a division by zero at some step).

    >>> import lrlab
    >>> lrlab.from_torch("CosineAnnealingLR", 1.0, T_max=2).curve(6).round(12).tolist()
    [1.0, 0.5, 0.0, 0.5, 1.0, 0.5]
    >>> lrlab.from_torch("MultiStepLR", 1.0, milestones=[2, 2, 3], gamma=0.5).curve(4).tolist()
    [1.0, 1.0, 0.25, 0.125]
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Annotated, ClassVar

import numpy as np

from ..control import Plateau
from ..schedules import create
from ..schedules import params as P
from ..schedules.base import Schedule
from ..schedules.cyclic import Cyclic, OneCycle, anneal_phases
from .base import IGNORED, TORCH, FromTorch, build, builder

_FACTOR = P.real(0.0, strict=False)  # a decay factor: torch accepts 0 (the LR drops to 0)


# ---- private schedules: torch's quirks ---------------------------------------------------
@dataclasses.dataclass(frozen=True, repr=False)
class _TorchCosine(Schedule):
    """torch ``CosineAnnealingLR``: ``eta_min + (base_lr - eta_min) * (1 + cos(pi k / T_max)) / 2``
    at every ``k``, so past ``T_max`` it rises back to ``base_lr`` (period ``2 T_max``);
    canonical ``cosine`` holds ``eta_min`` instead.

    Quirk: torch computes it recursively (``lr_k = eta + (lr_{k-1} - eta) * c_k / c_{k-1}``,
    ``c_k = 1 + cos(pi k / T_max)``), and at each ``k = T_max + 1 + 2 j T_max`` (where
    ``c_{k-1} = 0``) restarts from ``eta + (base_lr - eta) * (1 - cos(pi / T_max)) / 2``.
    Past ``T_max`` we use that same arithmetic (``eta + A * c_k / c_start``), not the closed
    form, so both round alike.

    >>> from lrlab.compat.torch import _TorchCosine
    >>> _TorchCosine(base_lr=1.0, T_max=2, eta_min=0.5).curve(5).round(12).tolist()
    [1.0, 0.75, 0.5, 0.75, 1.0]
    """

    name: ClassVar[str] = "torch_cosine"
    base_lr: Annotated[float, P.lr()]
    T_max: Annotated[int, P.integer(1)]
    eta_min: Annotated[float, P.lr()] = 0.0

    def _at(self, k):
        T, lo, hi = self.T_max, self.eta_min, self.base_lr
        c = 1.0 + np.cos(np.pi * k / T)
        out = lo + (hi - lo) * c / 2.0
        late = k > T
        if late.any():
            start = T + 1 + 2 * T * ((k[late] - T - 1) // (2 * T))
            amp = (lo + (hi - lo) * (1.0 - math.cos(math.pi / T)) / 2.0) - lo
            out[late] = lo + amp * (c[late] / (1.0 + np.cos(np.pi * start / T)))
        return out


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

    def _at(self, k):
        return np.maximum(anneal_phases(np.minimum(k, self.total_steps), self._phases(), self.anneal), 0.0)


@dataclasses.dataclass(frozen=True, repr=False)
class _TorchCyclic(Cyclic):
    """Canonical ``cyclic`` arithmetic with torch's looser rules, used only where the
    canonical one refuses a parameter: ``max_lr < base_lr`` (the cycle dips instead of
    peaking), ``step_size_down=0`` (a sawtooth that only rises) and ``gamma > 1``.

    >>> from lrlab.compat.torch import _TorchCyclic
    >>> _TorchCyclic(base_lr=1.0, max_lr=0.0, step_size=2, step_size_down=0).curve(4).tolist()
    [1.0, 0.5, 1.0, 0.5]
    """

    name: ClassVar[str] = "torch_cyclic"
    step_size_down: Annotated[int | None, P.integer(0, optional=True)] = None
    gamma: Annotated[float, P.real(0.0)] = 1.0

    def _validate(self):
        pass

    def _at(self, k):
        with np.errstate(divide="ignore", invalid="ignore"):  # the unused branch divides by 0
            return super()._at(k)


@dataclasses.dataclass(frozen=True, repr=False)
class _FirstStep(Schedule):
    """``schedule`` with its value at step 0 replaced by ``first``.

    Quirk it serves: ``CyclicLR`` computes its step-0 LR from the param group's
    ``initial_lr`` (before it stores its own ``base_lr``), which differs from ``base_lr``
    when another scheduler was built on the optimizer first.
    """

    name: ClassVar[str] = "torch_first_step"
    schedule: Annotated[Schedule, P.schedule()]
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
        raise TypeError(f"{where}: milestones must be a list of steps, got {milestones!r}")
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
    it (``lr * factor`` forever). ``factor=0`` is refused: torch divides by it at
    ``total_iters``.
    """
    where = "ConstantLR"
    factor = P.real(0.0, strict=False, high=1.0)(where, "factor", factor)
    total_iters = P.integer(0)(where, "total_iters", total_iters)
    if total_iters == 0 or factor == 1.0:
        return _constant(lr * factor)
    if factor == 0.0:
        raise ValueError(f"{where}: factor must be > 0 when total_iters > 0 (torch divides the "
                         f"LR by it at step total_iters), got {factor!r}")
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
    unlike canonical ``cosine`` (see ``_TorchCosine``)."""
    where = "CosineAnnealingLR"
    return _TorchCosine(base_lr=lr, T_max=P.integer(1)(where, "T_max", T_max),
                        eta_min=P.lr()(where, "eta_min", eta_min))


@builder(TORCH, "CosineAnnealingWarmRestarts")
def cosine_annealing_warm_restarts(lr, T_0, T_mult=1, eta_min=0.0):
    """SGDR: cosine from ``lr`` to ``eta_min`` over cycles of ``T_0 * T_mult**i`` steps."""
    where = "CosineAnnealingWarmRestarts"
    T_0 = P.integer(1)(where, "T_0", T_0)
    T_mult = P.integer(1)(where, "T_mult", T_mult)
    eta_min = P.lr()(where, "eta_min", eta_min)
    if eta_min > lr:
        raise ValueError(f"{where}: eta_min must be <= the optimizer's lr ({lr!r}) (torch would "
                         f"run each cosine upwards; lrlab's cosine_restarts does not), "
                         f"got {eta_min!r}")
    return create("cosine_restarts", base_lr=lr, step_size=T_0, t_mult=T_mult, min_lr=eta_min)


@builder(TORCH, "CyclicLR")
def cyclic_lr(lr, base_lr, max_lr, step_size_up=2000, step_size_down=None, mode="triangular",
              gamma=1.0, scale_fn=None, scale_mode="cycle"):
    """CLR between ``base_lr`` and ``max_lr`` (the optimizer's lr is overwritten).

    ``mode`` is ignored when ``scale_fn`` is given, and ``gamma`` unless ``mode='exp_range'``
    (as in torch). Parameters the canonical ``cyclic`` refuses use ``_TorchCyclic``.
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
        return _canonical(where, "cyclic", **params)
    return _canonical(where, _TorchCyclic, **params)


@builder(TORCH, "OneCycleLR")
def one_cycle_lr(lr, max_lr, total_steps=None, epochs=None, steps_per_epoch=None, pct_start=0.3,
                 anneal_strategy="cos", div_factor=25.0, final_div_factor=1e4, three_phase=False):
    """One-cycle from ``max_lr / div_factor`` (the optimizer's lr is overwritten); see
    ``_TorchOneCycle`` for ``k >= total_steps``."""
    where = "OneCycleLR"
    if total_steps is not None:
        total = P.integer(2)(where, "total_steps", total_steps)
    elif epochs is not None and steps_per_epoch is not None:
        total = (P.integer(1)(where, "epochs", epochs)
                 * P.integer(1)(where, "steps_per_epoch", steps_per_epoch))
        if total < 2:
            raise ValueError(f"{where}: epochs * steps_per_epoch must be >= 2, got {total}")
    else:
        raise ValueError(f"{where}: give total_steps, or both epochs and steps_per_epoch")
    return _canonical(
        where, _TorchOneCycle, max_lr=P.lr()(where, "max_lr", max_lr), total_steps=total,
        pct_start=P.real(0.0, strict=False, high=1.0)(where, "pct_start", pct_start),
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
                             f"one param group), got {min_lr!r}")
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
                         f"results, got {schedulers!r}")
    out = []
    for i, s in enumerate(schedulers):
        if isinstance(s, Plateau):
            raise ValueError(f"{where}: schedulers[{i}] is a ReduceLROnPlateau, which torch does "
                             f"not support here (its step needs a metric)")
        if not isinstance(s, FromTorch):
            raise ValueError(f"{where}: schedulers[{i}] must be an lrlab.from_torch(...) result "
                             f"(its torch class decides how it behaves here), got {s!r}")
        if s.lr != lr:
            raise ValueError(f"{where}: schedulers[{i}] was built for optimizer_lr {s.lr!r}, but "
                             f"{where} for {lr!r}; all members share one optimizer")
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


def _no_combinators(where: str, members) -> None:
    for i, (cls, _) in enumerate(members):
        if cls in _COMBINATORS:
            raise ValueError(f"{where}: schedulers[{i}] is a {cls}; nesting it is not supported "
                             f"(torch cannot restart it at a milestone and re-initialises the "
                             f"optimizer's LR when it is built)")


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
      ``LinearLR`` / ``PolynomialLR`` with ``total_iters=0`` divide by zero there (refused).
    - Every ``OneCycleLR`` reads its LRs from the param group, i.e. from the last one built.
    - ``CyclicLR`` first: the group's ``initial_lr`` is its ``base_lr``, so later members
      start from that.
    """
    where = "SequentialLR"
    members = _members(where, lr, schedulers)
    _no_combinators(where, members)
    ms = P.milestones(1)(where, "milestones", milestones)
    if len(ms) != len(members) - 1 or any(isinstance(m, str) for m in ms):
        raise ValueError(f"{where}: milestones must be a list of len(schedulers) - 1 = "
                         f"{len(members) - 1} increasing steps >= 1, got {milestones!r}")
    seen = _initial_lrs(members, lr)
    last_cycle = next((a for c, a in reversed(members) if c == "OneCycleLR"), None)
    pieces: list[Schedule] = []
    for i, (cls, a) in enumerate(members):
        base = seen[i]
        if cls == "OneCycleLR":
            a = {**a, **{k: last_cycle[k] for k in ("max_lr", "div_factor", "final_div_factor")}}
        if i == 0 and cls in _MULTIPLY + ("CosineAnnealingLR",):
            if cls == "CosineAnnealingLR" and seen[-1] != base:
                raise ValueError(f"{where}: a first CosineAnnealingLR followed by a OneCycleLR "
                                 f"(which changes the LR the first scheduler restarts from) is "
                                 f"not supported")
            base = seen[-1]
        if i > 0 and cls in ("LinearLR", "PolynomialLR") and a["total_iters"] == 0:
            raise ValueError(f"{where}: schedulers[{i}] ({cls}) needs total_iters >= 1 after a "
                             f"milestone (torch divides by total_iters there), got 0")
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


def _flatten(where: str, lr: float, schedulers) -> list[tuple[str, dict]]:
    members = _members(where, lr, schedulers)
    _no_combinators(where, [(c, a) if c != "ChainedScheduler" else ("", a) for c, a in members])
    out = []
    for cls, a in members:
        if cls == "ChainedScheduler":  # stepping a nested chain steps its members in order
            out += _flatten(where, lr, a["schedulers"])
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
    - Members that set the LR outright (``LambdaLR``, ``CyclicLR``, ``OneCycleLR``,
      ``CosineAnnealingWarmRestarts``) overwrite everything stepped before them: as the last
      member, the chain is that member (with the group's ``initial_lr`` as its base;
      ``CyclicLR`` not built first starts from that ``initial_lr`` at step 0).
    - Refused (ValueError): multiplying members after a setting one (torch then applies only
      their per-step factors, e.g. ``gamma`` at multiples of ``step_size``, which no lrlab
      composition expresses), ``CosineAnnealingLR`` with other members (its update is affine,
      not a factor, and resets at each trough), and nested ``SequentialLR``.
    """
    where = "ChainedScheduler"
    members = _flatten(where, lr, schedulers)
    if len(members) == 1:
        return _rebuild(*members[0], lr)
    classes = [c for c, _ in members]
    setting = [i for i, c in enumerate(classes) if c in _ABSOLUTE]
    if setting:
        j = setting[-1]
        if j != len(members) - 1:
            raise ValueError(f"{where}: {', '.join(classes[j + 1:])} after {classes[j]} is not "
                             f"supported: {classes[j]} sets the LR at every step and torch then "
                             f"applies only the later members' per-step factors")
        cls, a = members[j]
        base = _initial_lrs(members, lr)[j]
        last = _rebuild(cls, a, base)
        if cls == "CyclicLR" and base != float(a["base_lr"]):
            last = _FirstStep(schedule=last, first=base)
        return last
    if "CosineAnnealingLR" in classes:
        raise ValueError(f"{where}: CosineAnnealingLR with other members is not supported (its "
                         f"update is affine and restarts at each trough, not a factor)")
    return create("chain", schedules=[_rebuild(*members[0], lr)]
                  + [_rebuild(c, a, 1.0) for c, a in members[1:]])
