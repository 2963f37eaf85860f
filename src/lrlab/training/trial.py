"""A trial: one schedule x one seed, with everything else that defines the run.

``TrialConfig`` is plain data (JSON round trip), validated at construction. ``schedule_for``
turns it into the concrete schedule of a run: a schedule named without parameters gets
defaults relative to the run (``cosine`` anneals over the whole run from ``lr``,
``one_cycle`` peaks at ``lr``, ``step`` decays x0.1 at 30 %, 60 %, 90 % ...), so every name
of ``lrlab list`` works out of the box; given parameters override the defaults.

    >>> cfg = TrialConfig(schedule="cosine", lr=0.1, epochs=10)
    >>> s = schedule_for(cfg, total=10)
    >>> s, round(s(5), 6)
    (cosine(base_lr=0.1, total_steps=10), 0.05)
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from .. import schedules
from ..control import EarlyStopping, Plateau
from ..schedules import params as P
from ..schedules.base import resolve_length
from .optim import OPTIMIZERS

PLATEAU = "plateau"  # the metric-driven schedule (ReduceOnPlateau), stepped once per epoch
PER_STEP = ("one_cycle", "cyclic")  # schedules that update every optimizer step by default
_W = "trial"


def _decay_095(k: int) -> float:
    """0.95 ** k: the write-ups' LambdaDecay."""
    return 0.95 ** k


def _factor_095(k: int) -> float:
    return 0.95


def run_defaults(name: str, lr: float, total: int) -> dict[str, Any]:
    """Parameters that make schedule ``name`` sensible for a run of ``total`` steps from ``lr``."""
    frac = lambda f: resolve_length(f"{100 * f}%", total)  # noqa: E731  (as 'p%' lengths round)
    cosine = {"name": "cosine", "base_lr": lr, "total_steps": "100%"}
    halves = sorted({frac(0.5), frac(0.75)})  # one milestone when a short run merges them
    table: dict[str, dict[str, Any]] = {
        "constant": {"base_lr": lr},
        "step": {"base_lr": lr, "step_size": frac(0.3), "gamma": 0.1},
        "multistep": {"base_lr": lr, "milestones": halves, "gamma": 0.1},
        "piecewise": {"milestones": halves, "values": [lr, lr / 10, lr / 100][:len(halves) + 1]},
        "exponential": {"base_lr": lr, "gamma": 0.01, "step_size": total},       # lr/100 at the end
        "natural_exp": {"base_lr": lr, "gamma": math.log(100), "step_size": total},
        "inverse_time": {"base_lr": lr, "gamma": 99.0, "step_size": total},
        "polynomial": {"base_lr": lr, "total_steps": total, "power": 2.0},
        "linear": {"base_lr": lr, "total_steps": total},
        "cosine": {"base_lr": lr, "total_steps": total},
        "cosine_restarts": {"base_lr": lr, "step_size": frac(0.25)},
        "multiplicative": {"base_lr": lr, "fn": _factor_095},
        "lambda": {"base_lr": lr, "fn": _decay_095},
        "noam": {"d_model": 1.0, "warmup_steps": frac(0.05), "base_lr": lr * math.sqrt(frac(0.05))},
        "inverse_sqrt": {"base_lr": lr, "warmup_steps": frac(0.05)},
        "cyclic": {"base_lr": lr / 10, "max_lr": lr, "step_size": frac(0.125)},
        "one_cycle": {"max_lr": lr, "total_steps": max(2, total),
                      "pct_start": max(0.3, 1.5 / max(2, total))},  # >= 1 step of warmup
        "warmup": {"schedule": cosine, "warmup_steps": frac(0.05)},
        "wsd": {"base_lr": lr, "total_steps": total, "warmup_steps": resolve_length("5%", total, 0),
                "decay_steps": frac(0.2)},
        "join": {"schedules": [{"name": "constant", "base_lr": lr}, cosine], "milestones": [frac(0.5)]},
        "chain": {"schedules": [cosine, {"name": "cyclic", "base_lr": 0.5, "max_lr": 1.0,
                                         "step_size": frac(0.125)}]},
    }
    return table[schedules.lookup(name).name]


@dataclass(frozen=True)
class TrialConfig:
    """Everything that defines one trial; ``lr`` is the reference LR of the schedule.

    ``interval`` says what a schedule step is (an ``epoch`` or an optimizer ``step``; by
    default ``step`` for ``one_cycle`` and ``cyclic``, which are per-step schedules, else ``epoch``);
    ``warmup`` (steps of that interval, or ``'5%'``) wraps the schedule in a linear warmup;
    ``early_stop`` holds ``EarlyStopping`` arguments plus ``monitor`` (``val_loss`` or
    ``val_acc``); so do the ``params`` of ``plateau`` (``Plateau`` arguments, whose ``mode``
    follows ``monitor``).
    """

    schedule: str = "cosine"
    params: dict = field(default_factory=dict)
    optimizer: str = "momentum"
    lr: float = 0.05
    weight_decay: float = 0.0
    batch_size: int = 64
    epochs: int = 20
    interval: str | None = None
    warmup: int | str | None = None
    early_stop: dict | None = None
    seed: int = 0
    name: str = ""

    def __post_init__(self):
        if self.schedule != PLATEAU:
            schedules.lookup(self.schedule)  # unknown name: ValueError with suggestions
        object.__setattr__(self, "params", P.mapping()(_W, "params", self.params))
        if self.early_stop is not None:
            object.__setattr__(self, "early_stop", P.mapping()(_W, "early_stop", self.early_stop))
        P.choice(*OPTIMIZERS)(_W, "optimizer", self.optimizer)
        P.real(0.0)(_W, "lr", self.lr)
        P.real(0.0, strict=False)(_W, "weight_decay", self.weight_decay)
        P.integer(1)(_W, "batch_size", self.batch_size)
        P.integer(1)(_W, "epochs", self.epochs)
        if self.interval is None:
            per_step = self.schedule != PLATEAU and schedules.lookup(self.schedule).name in PER_STEP
            object.__setattr__(self, "interval", "step" if per_step else "epoch")
        P.choice("epoch", "step")(_W, "interval", self.interval)
        P.steps(optional=True)(_W, "warmup", self.warmup)
        P.integer(0)(_W, "seed", self.seed)
        if self.schedule == PLATEAU and (self.interval != "epoch" or self.warmup is not None):
            raise ValueError("trial: plateau follows the validation metric once per epoch; "
                             "it takes no --interval step and no --warmup")
        self.stopper()  # validate their arguments now
        if self.schedule == PLATEAU:
            self.plateau()
        if not self.name:
            object.__setattr__(self, "name", f"{self.schedule}-seed{self.seed}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrialConfig:
        return cls(**d)

    @property
    def monitor(self) -> str:
        """The metric early stopping watches."""
        return (self.early_stop or {}).get("monitor", "val_loss")

    @property
    def plateau_monitor(self) -> str:
        """The metric a ``plateau`` schedule watches."""
        return self.params.get("monitor", "val_loss")

    def steps(self, n_train: int) -> int:
        """Schedule steps in the run: epochs, or optimizer steps with ``interval='step'``."""
        return self.epochs * (math.ceil(n_train / self.batch_size) if self.interval == "step" else 1)

    def stopper(self) -> EarlyStopping | None:
        if self.early_stop is None:
            return None
        return _monitored(EarlyStopping, "early_stop", self.early_stop)

    def plateau(self) -> Plateau:
        return _monitored(lambda **kw: Plateau(self.lr, **kw), "plateau", self.params)


def _monitored(make, where: str, kw: dict):
    """``make(mode=..., **kw)`` with the mode that ``kw['monitor']`` implies."""
    kw = dict(kw)
    monitor = P.choice("val_loss", "val_acc")(where, "monitor", kw.pop("monitor", "val_loss"))
    if "mode" in kw:
        raise ValueError(f"{where}: mode follows monitor (val_loss: min, val_acc: max); "
                         f"give monitor=val_acc instead of mode={kw['mode']!r}")
    try:
        return make(mode="min" if monitor == "val_loss" else "max", **kw)
    except TypeError as e:
        raise ValueError(f"{where}: {e}") from None


def schedule_for(cfg: TrialConfig, total: int) -> schedules.Schedule:
    """The concrete schedule of a trial whose run has ``total`` schedule steps."""
    if cfg.schedule == PLATEAU:
        raise ValueError("plateau is metric-driven: use TrialConfig.plateau()")
    warm = resolve_length(cfg.warmup, total)
    if warm is not None and warm >= total:
        raise ValueError(f"trial: warmup ({cfg.warmup}) must be shorter than the run ({total} steps)")
    span = total - (warm or 0)
    params = {**run_defaults(cfg.schedule, cfg.lr, span), **cfg.params}
    s = schedules.from_config({"name": cfg.schedule, **params}).bind(span)
    if warm:
        s = schedules.create("warmup", schedule=s, warmup_steps=warm)
    return s
