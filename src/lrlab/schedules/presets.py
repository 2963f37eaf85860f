"""Run-relative default parameters for every schedule name.

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
| exponential / natural_exp / inverse_time | ``lr / 100`` at the end |
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
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

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
    "inverse_time": lambda lr, T: {"base_lr": lr, "gamma": 99.0, "step_size": "100%"},
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
