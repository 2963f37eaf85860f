"""What ``lrlab tune`` searches for each schedule: its peak LR and its own parameters, in
relative time, beside the run-relative defaults of ``lrlab.schedules.presets``.

Every schedule is tuned over its peak LR, log-uniform over one range common to all schedules
(``LR_RANGE``: the reference ``lr`` / 30 .. ``lr`` x 30), and over the parameters ``SPACES``
declares for it. A length is a percentage of the run (``'10%'`` .. ``'50%'``), so a sample
means the same schedule at every budget (``lrlab tune``'s rungs bind it to shorter runs). A
parameter an entry fixes (a preset's ``LambdaDecay`` is exponential with ``gamma`` 0.95 per
epoch) is part of the entry's definition and stays; the space tunes what it leaves to the
defaults. Schedules without a row (``cosine``, ``linear``, ``constant``, ...) have no
parameter but the LR.

| name | parameters searched |
|---|---|
| step | step_size 10 % .. 50 %, gamma 0.05 .. 0.7 (log) |
| multistep | gamma 0.05 .. 0.7 (log), at 50 % and 75 % |
| exponential | gamma 0.001 .. 0.3 (log): the factor at the end of the run |
| natural_exp | gamma 1 .. 7: ``exp(-gamma)`` at the end |
| inverse_time | gamma 1 .. 100 (log): ``1 / (1 + gamma)`` at the end |
| polynomial | power 0.5 .. 4 |
| cosine_restarts | step_size 10 % .. 50 % |
| cyclic | step_size 5 % .. 25 % |
| one_cycle | pct_start 0.1 .. 0.5 |
| warmup, inverse_sqrt | warmup_steps 1 % .. 20 % |
| wsd | warmup_steps 1 % .. 10 %, decay_steps 10 % .. 50 % |
| plateau | factor 0.1 .. 0.7 (log), patience 1 .. 5 (epochs) |

    >>> space("step")["gamma"]
    Dim(kind='log', low=0.05, high=0.7)
    >>> space("step")["step_size"].param(30.0)
    '30%'
    >>> sorted(space("cosine"))
    []
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import params as P
from .base import lookup

LR_RANGE = (1 / 30, 30.0)  # the peak LR's range, as factors of the reference lr
KINDS = ("log", "linear", "percent", "int")


@dataclass(frozen=True)
class Dim:
    """One searched parameter: ``kind`` ``log`` (log-uniform), ``linear`` (uniform),
    ``percent`` (uniform, given to the schedule as ``'<x>%'`` of the run) or ``int``
    (uniform over the integers ``low .. high``)."""

    kind: str
    low: float
    high: float

    def __post_init__(self):
        P.choice(*KINDS)("Dim", "kind", self.kind)
        if not (isinstance(self.low, (int, float)) and isinstance(self.high, (int, float))
                and self.low < self.high and (self.kind != "log" or self.low > 0)):
            raise ValueError(f"Dim: low and high must be numbers with low < high"
                             f"{' and low > 0' if self.kind == 'log' else ''}, got "
                             f"{self.low!r}, {self.high!r}")

    def param(self, x: float) -> Any:
        """The schedule's parameter for a drawn ``x`` (a percentage becomes ``'<x>%'``)."""
        if self.kind == "int":
            return int(x)
        return f"{x:.4g}%" if self.kind == "percent" else float(x)

    def distribution(self):
        """The Optuna distribution a sampler draws ``x`` from."""
        import optuna

        if self.kind == "int":
            return optuna.distributions.IntDistribution(int(self.low), int(self.high))
        return optuna.distributions.FloatDistribution(self.low, self.high, log=self.kind == "log")

    def within(self, low: float, high: float) -> Dim:
        """The same kind over ``low .. high`` (a narrower range a config asks for)."""
        return Dim(self.kind, low, high)


_STEP = Dim("percent", 10, 50)
_GAMMA = Dim("log", 0.05, 0.7)
_WARMUP = Dim("percent", 1, 20)

SPACES: dict[str, dict[str, Dim]] = {
    "step": {"step_size": _STEP, "gamma": _GAMMA},
    "multistep": {"gamma": _GAMMA},
    "exponential": {"gamma": Dim("log", 0.001, 0.3)},
    "natural_exp": {"gamma": Dim("linear", 1, 7)},
    "inverse_time": {"gamma": Dim("log", 1, 100)},
    "polynomial": {"power": Dim("linear", 0.5, 4)},
    "cosine_restarts": {"step_size": _STEP},
    "cyclic": {"step_size": Dim("percent", 5, 25)},
    "one_cycle": {"pct_start": Dim("linear", 0.1, 0.5)},
    "warmup": {"warmup_steps": _WARMUP},
    "inverse_sqrt": {"warmup_steps": _WARMUP},
    "wsd": {"warmup_steps": Dim("percent", 1, 10), "decay_steps": _STEP},
    "plateau": {"factor": Dim("log", 0.1, 0.7), "patience": Dim("int", 1, 5)},
}


def space(name: str) -> dict[str, Dim]:
    """The parameters searched for schedule ``name`` (an alias works; ``plateau`` too)."""
    key = name if name == "plateau" else lookup(name).name
    return dict(SPACES.get(key, {}))
