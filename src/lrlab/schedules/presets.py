"""Run-relative default parameters for every schedule name, and the named sets a comparison runs.

``defaults(name, lr, total)`` makes a schedule named without parameters sensible for a run of
``total`` schedule steps starting from (or peaking at) the reference LR ``lr``. Lengths are
written in relative time (``'30%'``) and resolved when the schedule is bound to the run, so one
preset means the same thing for a 10-epoch and a 200-epoch run. Only values that are not
lengths but depend on the run stay in steps: noam's scale (its peak is ``lr``), one-cycle's
``pct_start`` (at least one step of warmup) and milestones that a very short run would merge.

| name | defaults (``lr`` = reference LR, ``T`` = steps of the run) |
|---|---|
| constant | ``lr`` |
| step | x0.1 every 30 % |
| multistep / piecewise | x0.1 at 50 % and 75 % |
| exponential / natural_exp | ``lr / 100`` at the end |
| inverse_time | ``lr / 10`` at the end (``gamma`` 9: half of ``lr`` at 11 % of the run) |
| polynomial | power 2 to 0 at the end; linear: ``lr`` to 0 |
| cosine | ``lr`` to 0 over the run |
| cosine_restarts | restarts every 25 % |
| multiplicative / lambda | x0.95 per step (the write-ups' LambdaDecay) |
| noam / inverse_sqrt | warmup 5 %, peak ``lr`` |
| cyclic | ``lr/10 .. lr``, half cycle 12.5 % |
| one_cycle | peak ``lr``, 30 % up |
| warmup / wsd | 5 % warmup; cosine to 0 / 20 % decay |
| join | constant half, then cosine |
| chain | cosine x a cyclic factor 0.5 .. 1 |
| from_torch / from_paddle | the framework's cosine annealing over the run |

    >>> defaults("step", 0.1, 100)
    {'base_lr': 0.1, 'step_size': '30%', 'gamma': 0.1}
    >>> defaults("multistep", 0.1, 3)["milestones"]      # 50 % and 75 % of 3 steps merge
    [2]

Named sets (``preset(name, lr)``, names in ``PRESETS``): lists of ``Entry`` (a label, a
schedule name, its ``params`` as plain JSON data overriding the defaults above, the
``interval`` and the reference ``lr``), so ``TrialConfig(**entry.trial_args(), seed=...)``
builds the trial directly and the entry is stored as JSON. Parameters are relative to the run
(``'30%'``, or left to the defaults above where a value depends on the run's length), so a
preset fits any budget. Every entry peaks at ``lr``, except as noted (``Entry.note``).

**The rule the presets follow**, so that a ranking measures schedules and not accidents of
their defaults (tested for every entry of ``paddle``, ``torch`` and ``modern`` bound to a
20-epoch run):

1. every entry peaks at ``lr`` (exceptions below);
2. no decay loses more than half its LR in the first 10 % of the run (a shape that does is
   decided by its first epoch); this is why ``inverse_time`` ends at ``lr/10``: a hyperbola
   ``1 / (1 + gamma t)`` that reaches ``lr/100`` has lost 91 % by 10 % of the run;
3. decays to a floor end near ``lr/100`` (exponential, natural_exp, multistep and piecewise
   x0.1 twice; step x0.1 every 30 % ends at ``lr/1000``); cosine, linear and polynomial end
   at 0 by definition; the write-ups' absolute factors (x0.95 per epoch or per 2 epochs, the
   plateau's patience in epochs) keep their definition;
4. two entries of one preset never make the same trial; two with the same LR table are
   named in the report ("same curve as ...": ExponentialDecay and NaturalExpDecay are one
   family, ``gamma ** t = exp(-t ln(1/gamma))``, and run the same curve here; both are kept
   because the source experiment ran both).

What each ``paddle`` entry becomes for a 20-epoch run on digits (1,347 training images, batch
64: 22 steps per epoch), as ``lrlab.training.plan`` resolves it:

| label | ran as |
|---|---|
| CosineAnnealingDecay | cosine(base_lr=0.05, total_steps=20) |
| ExponentialDecay | exponential(base_lr=0.05, gamma=0.01, step_size=20) |
| InverseTimeDecay | inverse_time(base_lr=0.05, gamma=9, step_size=20) |
| LambdaDecay | exponential(base_lr=0.05, gamma=0.95) |
| LinearWarmup | warmup(schedule=0.05, warmup_steps=1) |
| MultiStepDecay | multistep(base_lr=0.05, milestones=[10, 15], gamma=0.5) |
| NaturalExpDecay | natural_exp(base_lr=0.05, gamma=4.60517, step_size=20) |
| NoamDecay | noam(d_model=1, warmup_steps=1, base_lr=0.05) |
| PiecewiseDecay | piecewise(milestones=[10, 15], values=[0.05, 0.005, 0.0005]) |
| PolynomialDecay | polynomial(base_lr=0.05, total_steps=20, power=2) |
| ReduceOnPlateau | Plateau(lr=0.05, factor=0.5, patience=2, paddle semantics) on val_loss |
| StepDecay | step(base_lr=0.05, step_size=6) |
| CLR | cyclic(base_lr=0.00833333, max_lr=0.05, step_size=55), per step |
| Adjust_lr | step(base_lr=0.05, step_size=2, gamma=0.95) |
| Constant | constant(base_lr=0.05) |

``torch`` and ``modern``, the same run:

| label | ran as |
|---|---|
| StepLR | step(base_lr=0.05, step_size=6) |
| MultiStepLR | multistep(base_lr=0.05, milestones=[10, 15]) |
| ConstantLR | piecewise(milestones=[1], values=[0.0166667, 0.05]) |
| LinearLR | linear(base_lr=0.05, total_steps=20) |
| ExponentialLR | exponential(base_lr=0.05, gamma=0.01, step_size=20) |
| PolynomialLR | polynomial(base_lr=0.05, total_steps=20, power=2) |
| CosineAnnealingLR | cosine(base_lr=0.05, total_steps=20) |
| CosineAnnealingWarmRestarts | cosine_restarts(base_lr=0.05, step_size=5) |
| CyclicLR | cyclic(base_lr=0.00833333, max_lr=0.05, step_size=55), per step |
| OneCycleLR | one_cycle(max_lr=0.05, total_steps=440), per step |
| LambdaLR | warmup(schedule=cosine(base_lr=0.05, total_steps=18, min_lr=0.005), warmup_steps=2) |
| MultiplicativeLR | exponential(base_lr=0.05, gamma=0.95) |
| SequentialLR | join(schedules=[linear(base_lr=0.05, total_steps=1, start_factor=0.333333, end_factor=1), cosine(base_lr=0.05, total_steps=19)], milestones=[1]) |
| ChainedScheduler | chain(schedules=[linear(base_lr=1, total_steps=1, start_factor=0.333333, end_factor=1), cosine(base_lr=0.05, total_steps=20)]) |
| ReduceLROnPlateau | Plateau(lr=0.05, factor=0.5, patience=2) on val_loss |
| OneCycle | one_cycle(max_lr=0.05, total_steps=440), per step |
| WarmupCosine | warmup(schedule=cosine(base_lr=0.05, total_steps=418), warmup_steps=22), per step |
| WSD | wsd(base_lr=0.05, total_steps=440, decay_steps=88, warmup_steps=22), per step |
| SGDR | cosine_restarts(base_lr=0.05, step_size=63, t_mult=2), per step |
| LinearDecay | linear(base_lr=0.05, total_steps=440), per step |
| InverseSqrt | inverse_sqrt(base_lr=0.05, warmup_steps=22), per step |
| Constant | constant(base_lr=0.05) |

``paddle``: the source experiment (the 12 Paddle schedules it ran, CLR, Adjust_lr, a constant
baseline), per epoch except CLR (per step):

| label | schedule, params |
|---|---|
| CosineAnnealingDecay | cosine ``lr`` to 0 over the run |
| ExponentialDecay | exponential to ``lr/100`` at the end |
| InverseTimeDecay | inverse_time to ``lr/10`` at the end |
| LambdaDecay | 0.95 ** epoch, as exponential gamma 0.95, step_size 1 (absolute: per epoch) |
| LinearWarmup | warmup over 5 % into the constant ``lr`` (Paddle's LinearWarmup around a float) |
| MultiStepDecay | multistep x0.5 at 50 % and 75 % (x0.1 would repeat PiecewiseDecay) |
| NaturalExpDecay | natural_exp to ``lr/100`` at the end |
| NoamDecay | noam, warmup 5 %, scaled to peak at ``lr`` |
| PiecewiseDecay | piecewise ``lr, lr/10, lr/100`` at 50 % and 75 % |
| PolynomialDecay | polynomial power 2 to 0 at the end |
| ReduceOnPlateau | plateau on val_loss, factor 0.5, patience 2 (epochs), Paddle semantics |
| StepDecay | step x0.1 every 30 % |
| CLR | cyclic triangular ``lr/6 .. lr`` (Smith's 0.001 .. 0.006), half cycle 12.5 % |
| Adjust_lr | step x0.95 every 2 epochs (absolute, as the write-up defines it) |
| Constant | constant ``lr`` (the baseline) |

``torch``: every ``torch.optim.lr_scheduler`` class through lrlab's canonical equivalent
(``from_torch`` takes absolute kwargs), per epoch except CyclicLR and OneCycleLR (per step):

| label | schedule, params |
|---|---|
| StepLR | step x0.1 every 30 % |
| MultiStepLR | multistep x0.1 at 50 % and 75 % |
| ConstantLR | piecewise ``lr/3`` for the first 5 %, then ``lr`` (torch's factor 1/3) |
| LinearLR | linear ``lr`` to 0 over the run (torch's default 1/3 -> 1 is a warmup: SequentialLR) |
| ExponentialLR | exponential to ``lr/100`` at the end |
| PolynomialLR | polynomial power 2 to 0 (power 1 would repeat LinearLR) |
| CosineAnnealingLR | cosine ``lr`` to 0 over the run |
| CosineAnnealingWarmRestarts | cosine_restarts every 25 % (T_mult 1) |
| CyclicLR | cyclic triangular ``lr/6 .. lr`` (torch's 0.001 .. 0.006), half cycle 12.5 % |
| OneCycleLR | one_cycle peak ``lr``, 30 % up, cos |
| LambdaLR | the write-ups' warmup+cosine lambda: 10 % warmup, cosine ``lr`` to ``lr/10`` |
| MultiplicativeLR | x0.95 per epoch (torch's example), as exponential gamma 0.95 (absolute) |
| SequentialLR | join: LinearLR ``lr/3 -> lr`` over 5 %, then cosine to 0 |
| ChainedScheduler | chain: LinearLR factor 1/3 -> 1 over 5 % x cosine ``lr`` to 0, both from 0 |
| ReduceLROnPlateau | plateau on val_loss, factor 0.5, patience 2 (absolute: epochs) |

``modern``: per step except the constant baseline: OneCycle (as OneCycleLR), WarmupCosine
(5 % warmup, cosine to 0), WSD (5 % warmup, linear decay over the last 20 %), SGDR
(cosine_restarts, T_0 = 1/7 of the run, T_mult 2: three cycles), LinearDecay (``lr`` to 0),
InverseSqrt (5 % warmup, peak ``lr``), Constant.

``all``: the union in that order; entries that make the same trial (equal ``trial_args()``)
appear once, labelled with every label they had (``'StepDecay / StepLR'``).

Exceptions to "peaks at ``lr``": ChainedScheduler peaks at ``lr * (1 + cos(pi W / T)) / 2``
(W warmup steps of T: about 0.994 ``lr`` from 20 steps on, 0.75 ``lr`` at 3; the cosine has
begun when the warmup ends); ReduceOnPlateau / ReduceLROnPlateau have no table (they start at
``lr`` and only go down); and a run too short to finish a ramp never reaches ``lr`` (1 step:
the warmups, CLR, ConstantLR, LambdaLR, SequentialLR, ChainedScheduler, OneCycle; 3 steps:
OneCycle, 0.75 ``lr``). Absolute parameters, by their definition: LambdaDecay /
MultiplicativeLR (x0.95 per epoch), Adjust_lr (x0.95 every 2 epochs), the plateaus' patience
(epochs). Python callables cannot be stored, so 0.95 ** epoch is written as ``exponential``
(gamma 0.95, step_size 1), equal to ``lambda`` with ``0.95 ** k`` up to rounding.

    >>> [(e.label, e.schedule, e.params) for e in preset("paddle", lr=0.1)][13]
    ('Adjust_lr', 'step', {'gamma': 0.95, 'step_size': 2})
    >>> len(preset("all"))
    29
"""

from __future__ import annotations

import copy
import difflib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import params as P
from .base import lookup, resolve_length


def _decay_095(k: int) -> float:
    """0.95 ** k: the write-ups' LambdaDecay."""
    return 0.95 ** k


def _factor_095(k: int) -> float:
    return 0.95


def _milestones(total: int, *percents: float) -> list:
    """``['p%', ...]``, or the distinct steps they resolve to when a short run merges them."""
    rel = [f"{p:g}%" for p in percents]
    steps = sorted({resolve_length(r, total) for r in rel})
    return rel if len(steps) == len(rel) else steps


def _cosine(lr: float) -> dict[str, Any]:
    return {"name": "cosine", "base_lr": lr, "total_steps": "100%"}


def _noam(lr: float, total: int) -> dict[str, Any]:
    w = resolve_length("5%", total)
    return {"d_model": 1.0, "warmup_steps": "5%", "base_lr": lr * math.sqrt(w)}


def _piecewise(lr: float, total: int) -> dict[str, Any]:
    m = _milestones(total, 50, 75)
    return {"milestones": m, "values": [lr, lr / 10, lr / 100][:len(m) + 1]}


def _one_cycle(lr: float, total: int) -> dict[str, Any]:
    n = max(2, total)
    return {"max_lr": lr, "total_steps": n, "pct_start": max(0.3, 1.5 / n)}  # >= 1 step up


_TABLE: dict[str, Callable[[float, int], dict[str, Any]]] = {
    "constant": lambda lr, T: {"base_lr": lr},
    "step": lambda lr, T: {"base_lr": lr, "step_size": "30%", "gamma": 0.1},
    "multistep": lambda lr, T: {"base_lr": lr, "milestones": _milestones(T, 50, 75), "gamma": 0.1},
    "piecewise": _piecewise,
    "exponential": lambda lr, T: {"base_lr": lr, "gamma": 0.01, "step_size": "100%"},
    "natural_exp": lambda lr, T: {"base_lr": lr, "gamma": math.log(100), "step_size": "100%"},
    "inverse_time": lambda lr, T: {"base_lr": lr, "gamma": 9.0, "step_size": "100%"},
    "polynomial": lambda lr, T: {"base_lr": lr, "total_steps": "100%", "power": 2.0},
    "linear": lambda lr, T: {"base_lr": lr, "total_steps": "100%"},
    "cosine": lambda lr, T: {"base_lr": lr, "total_steps": "100%"},
    "cosine_restarts": lambda lr, T: {"base_lr": lr, "step_size": "25%"},
    "multiplicative": lambda lr, T: {"base_lr": lr, "fn": _factor_095},
    "lambda": lambda lr, T: {"base_lr": lr, "fn": _decay_095},
    "noam": _noam,
    "inverse_sqrt": lambda lr, T: {"base_lr": lr, "warmup_steps": "5%"},
    "cyclic": lambda lr, T: {"base_lr": lr / 10, "max_lr": lr, "step_size": "12.5%"},
    "one_cycle": _one_cycle,
    "warmup": lambda lr, T: {"schedule": _cosine(lr), "warmup_steps": "5%"},
    "wsd": lambda lr, T: {"base_lr": lr, "total_steps": "100%", "warmup_steps": "5%",
                          "decay_steps": "20%"},
    "join": lambda lr, T: {"schedules": [{"name": "constant", "base_lr": lr}, _cosine(lr)],
                           "milestones": ["50%"]},
    "chain": lambda lr, T: {"schedules": [_cosine(lr), {"name": "cyclic", "base_lr": 0.5,
                                                         "max_lr": 1.0, "step_size": "12.5%"}]},
    "from_torch": lambda lr, T: {"class_name": "CosineAnnealingLR", "lr": lr,
                                 "kwargs": {"T_max": T}},
    "from_paddle": lambda lr, T: {"class_name": "CosineAnnealingDecay",
                                  "kwargs": {"learning_rate": lr, "T_max": T}},
}


def defaults(name: str, lr: float, total: int) -> dict[str, Any]:
    """Parameters that make schedule ``name`` (or an alias) sensible for a run of ``total``
    schedule steps from the reference LR ``lr``; bind the schedule to ``total`` to use them."""
    return _TABLE[lookup(name).name](lr, total)


def preset_names() -> list[str]:
    """Every name that has defaults (all of ``lrlab.names()`` plus the hidden wrappers)."""
    return sorted(_TABLE)


# ---- named sets ------------------------------------------------------------------------------

PLATEAU = "plateau"  # the metric-driven trial schedule (lrlab.training.trial.PLATEAU)


@dataclass(frozen=True)
class Entry:
    """One schedule of a preset: ``label`` (as the source names it), ``schedule`` (a name of
    ``lrlab.names()`` or ``plateau``), ``params`` (plain JSON data overriding the run-relative
    ``defaults``), ``interval`` (``epoch`` or ``step``), the reference ``lr``, and a ``note``
    when the entry departs from the preset's rules (an absolute length, a peak below ``lr``).

    ``TrialConfig(**entry.trial_args(), epochs=20, seed=0)`` is its trial.
    """

    label: str
    schedule: str
    params: dict = field(default_factory=dict)
    interval: str = "epoch"
    lr: float = 0.05
    note: str = ""

    def trial_args(self) -> dict[str, Any]:
        """The ``TrialConfig`` arguments that define the entry (a fresh copy)."""
        return {"schedule": self.schedule, "params": copy.deepcopy(self.params),
                "interval": self.interval, "lr": self.lr}

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, **self.trial_args(), "note": self.note}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Entry:
        return cls(**d)


def _c(lr: float, **kw: Any) -> dict[str, Any]:
    return {"name": "cosine", "base_lr": lr, "total_steps": "100%", **kw}


def _lin(base: float, start: float, total: str = "100%") -> dict[str, Any]:
    return {"name": "linear", "base_lr": base, "total_steps": total, "start_factor": start,
            "end_factor": 1.0}


_PER_EPOCH_095 = "absolute: x0.95 per epoch whatever the run's length (the definition's)"
_PATIENCE = "patience counts epochs (absolute)"
_PLATEAU = {"factor": 0.5, "patience": 2}


def _paddle(lr: float) -> list[Entry]:
    E = Entry
    return [
        E("CosineAnnealingDecay", "cosine", {}, lr=lr),
        E("ExponentialDecay", "exponential", {}, lr=lr),
        E("InverseTimeDecay", "inverse_time", {}, lr=lr),
        E("LambdaDecay", "exponential", {"gamma": 0.95, "step_size": 1}, lr=lr,
          note="0.95 ** epoch as exponential (JSON-plain); " + _PER_EPOCH_095),
        E("LinearWarmup", "warmup", {"schedule": lr, "warmup_steps": "5%"}, lr=lr),
        E("MultiStepDecay", "multistep", {"gamma": 0.5}, lr=lr),
        E("NaturalExpDecay", "natural_exp", {}, lr=lr),
        E("NoamDecay", "noam", {}, lr=lr),
        E("PiecewiseDecay", "piecewise", {}, lr=lr),
        E("PolynomialDecay", "polynomial", {}, lr=lr),
        E("ReduceOnPlateau", PLATEAU, {**_PLATEAU, "semantics": "paddle"}, lr=lr,
          note="metric-driven: starts at lr, only goes down; " + _PATIENCE),
        E("StepDecay", "step", {}, lr=lr),
        E("CLR", "cyclic", {"base_lr": lr / 6, "step_size": "12.5%"}, "step", lr),
        E("Adjust_lr", "step", {"gamma": 0.95, "step_size": 2}, lr=lr,
          note="absolute: x0.95 every 2 epochs whatever the run's length (the write-up's)"),
        E("Constant", "constant", {}, lr=lr),
    ]


def _torch(lr: float) -> list[Entry]:
    E = Entry
    return [
        E("StepLR", "step", {}, lr=lr),
        E("MultiStepLR", "multistep", {}, lr=lr),
        E("ConstantLR", "piecewise", {"milestones": ["5%"], "values": [lr / 3, lr]}, lr=lr),
        E("LinearLR", "linear", {}, lr=lr),
        E("ExponentialLR", "exponential", {}, lr=lr),
        E("PolynomialLR", "polynomial", {}, lr=lr),
        E("CosineAnnealingLR", "cosine", {}, lr=lr),
        E("CosineAnnealingWarmRestarts", "cosine_restarts", {}, lr=lr),
        E("CyclicLR", "cyclic", {"base_lr": lr / 6, "step_size": "12.5%"}, "step", lr),
        E("OneCycleLR", "one_cycle", {}, "step", lr),
        E("LambdaLR", "warmup", {"schedule": _c(lr, min_lr=lr / 10), "warmup_steps": "10%"},
          lr=lr, note="the write-ups' warmup+cosine lambda, as JSON data"),
        E("MultiplicativeLR", "exponential", {"gamma": 0.95, "step_size": 1}, lr=lr,
          note="factor 0.95 per epoch as exponential (JSON-plain); " + _PER_EPOCH_095),
        E("SequentialLR", "join", {"schedules": [_lin(lr, 1 / 3), _c(lr)], "milestones": ["5%"]},
          lr=lr),
        E("ChainedScheduler", "chain", {"schedules": [_lin(1.0, 1 / 3, "5%"), _c(lr)]}, lr=lr,
          note="a product: peaks at lr * (1 + cos(pi * W / T)) / 2 (W warmup steps of T), "
               "about 0.994 lr"),
        E("ReduceLROnPlateau", PLATEAU, dict(_PLATEAU), lr=lr,
          note="metric-driven: starts at lr, only goes down; " + _PATIENCE),
    ]


def _modern(lr: float) -> list[Entry]:
    E = Entry
    return [
        E("OneCycle", "one_cycle", {}, "step", lr),
        E("WarmupCosine", "warmup", {}, "step", lr),
        E("WSD", "wsd", {}, "step", lr),
        E("SGDR", "cosine_restarts", {"step_size": "14.29%", "t_mult": 2}, "step", lr),
        E("LinearDecay", "linear", {}, "step", lr),
        E("InverseSqrt", "inverse_sqrt", {}, "step", lr),
        E("Constant", "constant", {}, lr=lr),
    ]


def _all(lr: float) -> list[Entry]:
    """The union; an entry making the same trial as an earlier one joins its label."""
    out: list[Entry] = []
    for entry in _paddle(lr) + _torch(lr) + _modern(lr):
        same = next((i for i, e in enumerate(out) if e.trial_args() == entry.trial_args()), None)
        if same is None:
            out.append(entry)
            continue
        first = out[same]
        labels = first.label.split(" / ")
        if entry.label not in labels:
            notes = [n for n in (first.note, entry.note) if n]
            out[same] = Entry(" / ".join([*labels, entry.label]), first.schedule, first.params,
                              first.interval, first.lr, notes[0] if notes else "")
    return out


_SETS: dict[str, Callable[[float], list[Entry]]] = {
    "paddle": _paddle, "torch": _torch, "modern": _modern, "all": _all}

PRESETS: dict[str, str] = {
    "paddle": "the source experiment: 12 Paddle schedules, CLR, Adjust_lr and a constant baseline",
    "torch": "every torch.optim.lr_scheduler class, in relative time",
    "modern": "one-cycle, warmup+cosine, WSD, SGDR, linear to zero, inverse-sqrt, constant",
    "all": "paddle, torch and modern, each trial once",
}


def preset(name: str, lr: float = 0.05) -> list[Entry]:
    """The entries of preset ``name`` (see ``PRESETS``) for the reference LR ``lr``.

    >>> [e.label for e in preset("modern")][:3]
    ['OneCycle', 'WarmupCosine', 'WSD']
    >>> preset("padle")
    Traceback (most recent call last):
    ...
    ValueError: unknown preset 'padle'; did you mean paddle?
    """
    if not isinstance(name, str):
        raise TypeError(f"preset name must be a string, got {P.show(name)}")
    key = name.strip().lower()
    if key not in _SETS:
        close = difflib.get_close_matches(key, list(_SETS), n=3, cutoff=0.6)
        hint = f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(_SETS)}"
        raise ValueError(f"unknown preset {P.show(name)}; {hint}")
    lr = P.real(0.0)("preset", "lr", lr)
    return _SETS[key](lr)
