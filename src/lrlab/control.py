"""The metric-driven, stateful parts: ``Plateau`` (reduce on plateau) and ``EarlyStopping``.

Both decide "is this an improvement?" with the same ``Improvement`` rule, so they never
disagree about "better". ``patience`` keeps each framework's meaning (so configurations carry
over unchanged): ``Plateau`` reduces after ``patience + 1`` non-improving epochs in a row
(torch/Paddle: "ignore the first ``patience`` bad epochs"); ``EarlyStopping`` stops once
``patience`` epochs have passed without improvement (Keras). Their whole state is in
``state_dict()`` (plain floats and ints), so a resumed run continues exactly.

Their settings are in ``to_config()``; ``lrlab.from_config`` (like ``Plateau.from_config`` /
``EarlyStopping.from_config``) rebuilds an equal, fresh object in any process: this module
registers their config names with the schedules' ``from_config`` (``register_config``).

    >>> import lrlab
    >>> p = lrlab.Plateau(0.1, patience=2, semantics="paddle")
    >>> lrlab.from_config(p.to_config()) == p
    True
"""

from __future__ import annotations

import difflib
import inspect
import json
import math
from dataclasses import dataclass
from typing import Any

from .schedules import params as P
from .schedules.base import register_config


@dataclass(frozen=True)
class Improvement:
    """Is ``current`` better than ``best``?

    ``min``/``abs``: ``current < best - threshold``; ``min``/``rel``: ``current < best * (1 - threshold)``
    (``max``: the mirror images). ``rel_form="paddle"`` computes the relative bound as
    ``best - best * threshold`` (Paddle's arithmetic, which rounds differently from torch's).
    """

    mode: str = "min"
    threshold: float = 0.0
    threshold_mode: str = "abs"
    rel_form: str = "torch"

    def __post_init__(self):
        P.choice("min", "max")("improvement", "mode", self.mode)
        P.real(0.0, strict=False)("improvement", "threshold", self.threshold)
        P.choice("rel", "abs")("improvement", "threshold_mode", self.threshold_mode)
        P.choice("torch", "paddle")("improvement", "rel_form", self.rel_form)

    @property
    def worst(self) -> float:
        return math.inf if self.mode == "min" else -math.inf

    def is_better(self, current: float, best: float | None) -> bool:
        """``best=None`` means nothing seen yet: then any metric is better (even inf or nan)."""
        if best is None:
            return True
        th, sign = self.threshold, (1.0 if self.mode == "max" else -1.0)
        if self.threshold_mode == "abs":
            bound = best + sign * th
        elif self.rel_form == "torch":
            bound = best * (1.0 + sign * th)
        else:
            bound = best + sign * best * th
        return current > bound if self.mode == "max" else current < bound


def _settings(cls: type, name: str, config: dict[str, Any] | str) -> dict[str, Any]:
    """The constructor keywords in a ``to_config()`` dict (or its JSON text) named ``name``."""
    if isinstance(config, str):
        config = json.loads(config)
    if not isinstance(config, dict) or config.get("name") != name:
        raise ValueError(f"{name}: a config is a dict with name={name!r}, got {config!r}")
    kwargs = {k: v for k, v in config.items() if k != "name"}
    valid = list(inspect.signature(cls).parameters)
    for k in kwargs:
        if k not in valid:
            close = difflib.get_close_matches(k, valid, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ValueError(f"{name}: unknown parameter {k!r}; {hint}valid: {', '.join(valid)}")
    return kwargs


def _metric(where: str, value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{where}: metric must be a number, got {value!r}") from None


class _Monitor:
    """What Plateau and EarlyStopping share besides ``Improvement``: equal when their settings
    (``to_config``) and state (``state_dict``) are; shown by their settings."""

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return (self.to_config(), self.state_dict()) == (other.to_config(), other.state_dict())

    __hash__ = None  # mutable: equal now, maybe not after the next step()

    def __repr__(self) -> str:
        cfg = self.to_config()
        cfg.pop("name")
        return f"{type(self).__name__}(" + ", ".join(f"{k}={v!r}" for k, v in cfg.items()) + ")"


class Plateau(_Monitor):
    """Reduce the LR by ``factor`` when the metric has not improved for ``patience`` epochs.

    After a reduction, ``cooldown`` epochs pass before bad epochs count again. A reduction
    smaller than ``eps`` is skipped; the LR never goes below ``min_lr``.
    ``semantics="torch"`` (default) still tracks the best metric during cooldown;
    ``"paddle"`` ignores metrics during cooldown entirely (Paddle's ``ReduceOnPlateau``) and
    uses Paddle's relative-threshold arithmetic.

    Two plateaus are equal when their settings and their state are.

    >>> from lrlab import Plateau
    >>> p = Plateau(1.0, patience=1, factor=0.5)
    >>> [p.step(m) for m in [3.0, 3.0, 3.0, 2.0, 2.0, 2.0]]
    [1.0, 1.0, 0.5, 0.5, 0.5, 0.25]
    """

    def __init__(self, lr: float, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr: float = 0.0, eps: float = 1e-8, semantics: str = "torch"):
        w = "plateau"
        self.initial_lr = P.lr()(w, "lr", lr)
        self.factor = P.real(0.0, high=1.0, high_strict=True)(w, "factor", factor)
        self.patience = P.integer(0)(w, "patience", patience)
        self.cooldown = P.integer(0)(w, "cooldown", cooldown)
        self.min_lr = P.lr()(w, "min_lr", min_lr)
        self.eps = P.real(0.0, strict=False)(w, "eps", eps)
        self.semantics = P.choice("torch", "paddle")(w, "semantics", semantics)
        self.rule = Improvement(mode, P.real(0.0, strict=False)(w, "threshold", threshold),
                                threshold_mode, rel_form=semantics)
        self.lr = self.initial_lr
        # torch starts from the worst value (a first inf/nan metric is a bad epoch); Paddle
        # from "nothing seen" (the first metric, whatever it is, becomes the best)
        self.best: float | None = self.rule.worst if semantics == "torch" else None
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.epochs = 0

    def step(self, metric: float) -> float:
        """Record one epoch's metric; return the LR for the next epoch."""
        current = _metric("plateau", metric)
        self.epochs += 1
        if self.semantics == "paddle" and self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            return self.lr
        if self.rule.is_better(current, self.best):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.semantics == "torch" and self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            new_lr = max(self.lr * self.factor, self.min_lr)
            if self.lr - new_lr > self.eps:
                self.lr = new_lr
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        return self.lr

    def __call__(self, step: int = 0) -> float:
        """The current LR (a plateau's LR depends on metrics, not on the step)."""
        return self.lr

    def to_config(self) -> dict[str, Any]:
        """The settings (not the state) as a JSON-serialisable dict; see ``from_config``."""
        return {"name": "plateau", "lr": self.initial_lr, "mode": self.rule.mode,
                "factor": self.factor, "patience": self.patience,
                "threshold": self.rule.threshold, "threshold_mode": self.rule.threshold_mode,
                "cooldown": self.cooldown, "min_lr": self.min_lr, "eps": self.eps,
                "semantics": self.semantics}

    @classmethod
    def from_config(cls, config: dict[str, Any] | str) -> Plateau:
        """A fresh ``Plateau`` from ``to_config()`` output (a dict, or its JSON text).

        >>> from lrlab import Plateau
        >>> Plateau.from_config({"name": "plateau", "lr": 0.1, "patience": 2}).patience
        2
        """
        return cls(**_settings(cls, "plateau", config))

    def state_dict(self) -> dict[str, Any]:
        return {"lr": self.lr, "best": self.best, "num_bad_epochs": self.num_bad_epochs,
                "cooldown_counter": self.cooldown_counter, "epochs": self.epochs}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.lr = float(state["lr"])
        self.best = None if state["best"] is None else float(state["best"])
        self.num_bad_epochs = int(state["num_bad_epochs"])
        self.cooldown_counter = int(state["cooldown_counter"])
        self.epochs = int(state["epochs"])

    def __repr__(self) -> str:
        return super().__repr__() + f" [lr={self.lr!r}]"


class EarlyStopping(_Monitor):
    """Stop when the metric has not improved for ``patience`` epochs (Keras semantics).

    An improvement beats the best so far by more than ``min_delta``. With a ``baseline``,
    the patience counter only resets on improvements that also beat the baseline. Epochs
    before ``start_from_epoch`` are ignored. ``step(metric)`` returns True when training
    should stop; ``improved`` says whether the last epoch was a new best (save its weights
    then, to restore them with ``restore_best``).

    Two early stoppers are equal when their settings and their state are.

    >>> from lrlab import EarlyStopping
    >>> es = EarlyStopping(patience=2)
    >>> [es.step(m) for m in [1.0, 0.5, 0.6, 0.7]], es.best_epoch
    ([False, False, False, True], 1)
    """

    def __init__(self, mode: str = "min", patience: int = 5, min_delta: float = 0.0,
                 baseline: float | None = None, start_from_epoch: int = 0,
                 restore_best: bool = True):
        w = "early_stopping"
        self.patience = P.integer(0)(w, "patience", patience)
        self.baseline = P.real(optional=True)(w, "baseline", baseline)
        self.start_from_epoch = P.integer(0)(w, "start_from_epoch", start_from_epoch)
        self.restore_best = P.flag()(w, "restore_best", restore_best)
        self.rule = Improvement(mode, P.real(0.0, strict=False)(w, "min_delta", min_delta), "abs")
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.wait = 0
        self.epoch = -1
        self.stopped_epoch: int | None = None
        self.improved = False

    def step(self, metric: float) -> bool:
        """Record one epoch's metric; True when training should stop now."""
        current = _metric("early_stopping", metric)
        self.epoch += 1
        self.improved = False
        if self.epoch < self.start_from_epoch:
            return False
        self.wait += 1
        if self.rule.is_better(current, self.best):
            self.best, self.best_epoch, self.improved = current, self.epoch, True
            if self.baseline is None or self.rule.is_better(current, self.baseline):
                self.wait = 0
            return False
        if self.wait >= self.patience and self.epoch > 0:
            self.stopped_epoch = self.epoch
            return True
        return False

    def to_config(self) -> dict[str, Any]:
        """The settings (not the state) as a JSON-serialisable dict; see ``from_config``."""
        return {"name": "early_stopping", "mode": self.rule.mode, "patience": self.patience,
                "min_delta": self.rule.threshold, "baseline": self.baseline,
                "start_from_epoch": self.start_from_epoch, "restore_best": self.restore_best}

    @classmethod
    def from_config(cls, config: dict[str, Any] | str) -> EarlyStopping:
        """A fresh ``EarlyStopping`` from ``to_config()`` output (a dict, or its JSON text).

        >>> from lrlab import EarlyStopping
        >>> es = EarlyStopping(mode="max", patience=3, baseline=0.5)
        >>> EarlyStopping.from_config(es.to_config()) == es
        True
        """
        return cls(**_settings(cls, "early_stopping", config))

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait,
                "epoch": self.epoch, "stopped_epoch": self.stopped_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = None if state["best"] is None else float(state["best"])
        self.best_epoch = state["best_epoch"]
        self.wait = int(state["wait"])
        self.epoch = int(state["epoch"])
        self.stopped_epoch = state["stopped_epoch"]


register_config("plateau", Plateau.from_config)
register_config("early_stopping", EarlyStopping.from_config)
