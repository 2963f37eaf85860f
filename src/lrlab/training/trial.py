"""A trial: one schedule x one seed, with everything else that defines the run.

``TrialConfig`` is plain data (JSON round trip), validated at construction, and imports no
torch: a config can be written, checked and stored anywhere. ``lrlab.training.plan`` turns it
into what a run needs (the LR policy, the stopper, the step counts).

    >>> cfg = TrialConfig(schedule="cosine", epochs=10, seed=2)
    >>> cfg.name, cfg.interval, TrialConfig.from_dict(cfg.to_dict()) == cfg
    ('cosine-seed2', 'epoch', True)
    >>> TrialConfig(schedule="step", params={"gamma": 0.5}, lr=0.1, seed=1).name
    'step-gamma0.5-lr0.1-seed1'

Names say what differs from a schedule's defaults, so variants of one schedule can share a
run folder.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

from .. import schedules
from ..control import EarlyStopping, Plateau
from ..schedules import params as P

OPTIMIZERS = ("momentum", "sgd", "adamw")  # SGD with momentum 0.9, plain SGD, AdamW
MONITORS = ("val_loss", "val_acc")
PLATEAU = "plateau"  # the metric-driven schedule (reduce on plateau), stepped once per epoch
METRIC_SCHEDULES = {PLATEAU: Plateau}  # trial schedules that follow a metric: name -> class
MAX_STEPS_PER_EPOCH = 10**6  # a trainer's epoch: the store keeps a row per optimizer step
PER_STEP = ("one_cycle", "cyclic")  # schedules that update every optimizer step by default
_W = "trial"


@dataclass(frozen=True)
class TrialConfig:
    """Everything that defines one trial; ``lr`` is the reference LR of the schedule.

    ``schedule`` is a name of ``lrlab.names()`` (or an alias) or ``plateau``; ``params``
    override its run-relative defaults (``lrlab.schedules.presets``). ``interval`` says what a
    schedule step is (an ``epoch`` or an optimizer ``step``; by default ``step`` for
    ``one_cycle`` and ``cyclic``, which are per-step schedules, else ``epoch``); ``warmup``
    (steps of that interval, or ``'5%'`` of the run) wraps the schedule in a linear warmup,
    or, for ``plateau``, runs before the plateau starts watching the metric. ``early_stop``
    holds ``EarlyStopping`` arguments plus ``monitor`` (``val_loss`` or ``val_acc``); so do
    the ``params`` of ``plateau`` (``Plateau`` arguments, whose ``mode`` follows ``monitor``).
    ``steps_per_epoch`` makes it a trial of a user's trainer (``lrlab.experiments.trainers``):
    its loop owns the optimizer, weight decay and batch size (all None then) and the epoch's
    optimizer steps are given, not computed from the data; a plateau or early stopping belongs
    inside that loop.

        >>> TrialConfig(steps_per_epoch=10, optimizer=None, weight_decay=None, batch_size=None,
        ...             epochs=3, schedule="one_cycle").steps(0)
        30
    """

    schedule: str = "cosine"
    params: dict = field(default_factory=dict)
    optimizer: str | None = "momentum"
    lr: float = 0.05
    weight_decay: float | None = 0.0
    batch_size: int | None = 64
    epochs: int = 20
    interval: str | None = None
    warmup: int | str | None = None
    early_stop: dict | None = None
    seed: int = 0
    name: str = ""
    steps_per_epoch: int | None = None

    def __post_init__(self):
        metric = self.schedule == PLATEAU
        # an unknown name is a ValueError with suggestions; one_cycle and cyclic step every update
        per_step = not metric and schedules.lookup(self.schedule).name in PER_STEP
        default_interval = "step" if per_step else "epoch"
        object.__setattr__(self, "params", P.mapping()(_W, "params", self.params))
        if self.early_stop is not None:
            object.__setattr__(self, "early_stop", P.mapping()(_W, "early_stop", self.early_stop))
        if self.steps_per_epoch is None:
            P.choice(*OPTIMIZERS)(_W, "optimizer", self.optimizer)
            P.real(0.0, strict=False)(_W, "weight_decay", self.weight_decay)
            P.integer(1)(_W, "batch_size", self.batch_size)
        else:
            self._check_trainer(metric)
        P.real(0.0)(_W, "lr", self.lr)
        P.integer(1)(_W, "epochs", self.epochs)
        if self.interval is None:
            object.__setattr__(self, "interval", default_interval)
        P.choice("epoch", "step")(_W, "interval", self.interval)
        P.steps(optional=True)(_W, "warmup", self.warmup)
        P.integer(0)(_W, "seed", self.seed)
        self.stopper()  # validate their arguments now
        if metric:
            self.plateau()
        if not self.name:
            object.__setattr__(self, "name", self._default_name(default_interval))

    def _check_trainer(self, metric: bool) -> None:
        """A trainer trial: its loop owns the optimizer, batch size and weight decay (None
        here); lrlab gives it the schedule, which cannot follow a metric lrlab does not see."""
        P.integer(1)(_W, "steps_per_epoch", self.steps_per_epoch)
        if self.steps_per_epoch > MAX_STEPS_PER_EPOCH:  # a step row each: a bound on the store
            P.fail(_W, "steps_per_epoch", f"an int from 1 to {MAX_STEPS_PER_EPOCH}",
                   self.steps_per_epoch)
        given = [k for k in ("optimizer", "weight_decay", "batch_size") if getattr(self, k) is not None]
        if given:
            raise ValueError(f"{_W}: {given[0]} is the trainer's own (its loop chooses it); "
                             f"lrlab gives a trainer only the schedule, got {given[0]}="
                             f"{getattr(self, given[0])!r}")
        if metric or self.early_stop is not None:
            raise ValueError(f"{_W}: a trainer's schedule is a function of the step; "
                             f"{'plateau' if metric else 'early_stop'} follows metrics inside "
                             f"the trainer's loop (use lrlab.Plateau / EarlyStopping there)")

    def _default_name(self, default_interval: str) -> str:
        """``<schedule>[-<what differs from its defaults>]-seed<N>``: the given params, and lr,
        warmup, interval when not the defaults; a short digest when that gets long."""
        defaults = {"lr": TrialConfig.lr, "warmup": None, "interval": default_interval}
        parts = [f"{k}{v}" for k, v in sorted(self.params.items())]
        parts += [f"{k}{getattr(self, k)}" for k, d in defaults.items() if getattr(self, k) != d]
        tag = "-".join(parts)
        if len(tag) > 32 or not all(c.isalnum() or c in "._%+-_" for c in tag):
            tag = hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:8]
        return f"{self.schedule}{'-' + tag if tag else ''}-seed{self.seed}"

    @property
    def is_trainer(self) -> bool:
        """Whether a user's trainer runs the trial (``steps_per_epoch`` given), not an engine."""
        return self.steps_per_epoch is not None

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if d["steps_per_epoch"] is None:  # the engines' trials: as stored before trainers existed
            del d["steps_per_epoch"]
        return d

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

    @property
    def monitors(self) -> set[str]:
        """Every metric the trial follows (what the task must be able to measure)."""
        out = {self.monitor} if self.early_stop is not None else set()
        return out | ({self.plateau_monitor} if self.schedule == PLATEAU else set())

    def epoch_steps(self, n_train: int) -> int:
        """Optimizer steps in one epoch over ``n_train`` examples (the last batch may be short);
        a trainer trial's own ``steps_per_epoch``."""
        if self.steps_per_epoch is not None:
            return self.steps_per_epoch
        return math.ceil(n_train / self.batch_size)

    def steps(self, n_train: int) -> int:
        """Schedule steps in the run: epochs, or optimizer steps with ``interval='step'``."""
        return self.epochs * (self.epoch_steps(n_train) if self.interval == "step" else 1)

    def stopper(self) -> EarlyStopping | None:
        if self.early_stop is None:
            return None
        return _monitored(EarlyStopping, "early_stop", self.early_stop)

    def plateau(self) -> Plateau:
        return _monitored(lambda **kw: Plateau(self.lr, **kw), "plateau", self.params)


def _monitored(make, where: str, kw: dict):
    """``make(mode=..., **kw)`` with the mode that ``kw['monitor']`` implies."""
    kw = dict(kw)
    monitor = P.choice(*MONITORS)(where, "monitor", kw.pop("monitor", "val_loss"))
    if "mode" in kw:
        raise ValueError(f"{where}: mode follows monitor (val_loss: min, val_acc: max); "
                         f"give monitor=val_acc instead of mode={kw['mode']!r}")
    try:
        return make(mode="min" if monitor == "val_loss" else "max", **kw)
    except TypeError as e:
        raise ValueError(f"{where}: {e}") from None
