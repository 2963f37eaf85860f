"""A task: data (train/val/test tensors), a model factory, and the loss and metric to use.

Every trial of a population shares its task, so the data are loaded (and, for image folders,
decoded) once. Build one yourself from tensors and a model factory, or load a built-in one with
``lrlab.training.tasks.load_task``.

    >>> import torch
    >>> s = Split(torch.zeros(4, 2), torch.tensor([0, 1, 0, 1]))
    >>> t = Task("toy", s, s, s, lambda: torch.nn.Linear(2, 2), classes=("a", "b"))
    >>> t.num_classes, len(t.train)
    (2, 4)
"""

from __future__ import annotations

from collections.abc import Callable
import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class Split:
    """Inputs and targets of one split, as tensors."""

    x: torch.Tensor
    y: torch.Tensor

    def __post_init__(self):
        if len(self.x) != len(self.y):
            raise ValueError(f"split: x has {len(self.x)} rows but y has {len(self.y)}")

    def __len__(self) -> int:
        return len(self.x)

    def __repr__(self) -> str:  # never the tensors themselves
        return f"Split({len(self)} x {tuple(self.x.shape[1:])}, y {tuple(self.y.shape[1:])} {self.y.dtype})"


@dataclass(frozen=True)
class TaskInfo:
    """What a model function needs to know of a task: ``fn(info) -> nn.Module`` builds a model
    that maps a batch ``(B, *input_shape)`` to ``(B, outputs)`` (logits of ``num_classes``
    classes, or the regression targets)."""

    spec: str
    kind: str
    input_shape: tuple[int, ...]
    num_classes: int | None
    outputs: int


@dataclass(frozen=True)
class Task:
    """Data, a model factory and the objective of one learning problem.

    ``build_model()`` is called right after ``torch.manual_seed(seed)``, so one seed gives
    every trial the same initial weights. ``kind`` is ``classification`` (cross-entropy,
    metric accuracy; ``y`` holds class indices) or ``regression`` (MSE; no accuracy).
    ``spec`` and ``options`` name the task again: ``load_task(spec, **options)`` rebuilds it
    (``lrlab test`` reloads a run's task that way).
    """

    spec: str
    train: Split
    val: Split
    test: Split
    build_model: Callable[[], nn.Module]
    kind: str = "classification"
    classes: tuple[str, ...] = ()
    info: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.spec, str) or not self.spec:
            raise ValueError(f"task: spec must be a non-empty name, got {self.spec!r}")
        if self.kind not in ("classification", "regression"):
            raise ValueError(f"task: kind must be 'classification' or 'regression', got {self.kind!r}")
        for name in ("train", "val", "test"):
            split = getattr(self, name)
            if not isinstance(split, Split):
                raise ValueError(f"task {self.spec}: {name} must be a Split(x, y), got a "
                                 f"{type(split).__name__}")
            if len(split) == 0:
                raise ValueError(f"task {self.spec}: the {name} split is empty")
        if not callable(self.build_model):
            raise ValueError(f"task {self.spec}: build_model must be a function returning a "
                             f"torch.nn.Module, got a {type(self.build_model).__name__}")

    def __repr__(self) -> str:  # never the tensors themselves
        return (f"Task({self.spec!r}, {self.kind}, train {self.train!r}, val {len(self.val)}, "
                f"test {len(self.test)})")

    @property
    def model_info(self) -> TaskInfo:
        """What a model function is given (``TaskInfo``)."""
        y = self.train.y
        outputs = self.num_classes if self.kind == "classification" else int(
            math.prod(y.shape[1:]))
        return TaskInfo(self.spec, self.kind, tuple(self.train.x.shape[1:]), self.num_classes,
                        outputs)

    def checked(self, model: str = "its model") -> Task:
        """The task, after checking in one line each that its splits agree (input and target
        shapes, finite float inputs; class indices in range, or finite float targets) and that
        its model has trainable parameters and maps a batch to finite ``(B, outputs)``
        (``(B, num_classes)`` exactly for a classification); ``ValueError`` naming what is
        wrong."""
        where = f"task {self.spec}"
        shape = tuple(self.train.x.shape[1:])
        for name in ("train", "val", "test"):
            x, y = getattr(self, name).x, getattr(self, name).y
            if not (isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor)):
                raise ValueError(f"{where}: {name} x and y must be torch tensors")
            if tuple(x.shape[1:]) != shape:
                raise ValueError(f"{where}: {name} inputs are {tuple(x.shape[1:])}, train's are {shape}")
            if tuple(y.shape[1:]) != tuple(self.train.y.shape[1:]):
                raise ValueError(f"{where}: {name} targets are {tuple(y.shape[1:])} per example, "
                                 f"train's are {tuple(self.train.y.shape[1:])}")
            if not x.is_floating_point():
                raise ValueError(f"{where}: {name} inputs are {x.dtype}, not floating point")
            if not bool(torch.isfinite(x).all()):
                raise ValueError(f"{where}: {name} inputs hold NaN or infinite values")
            if self.kind == "classification":
                if not self.classes:
                    raise ValueError(f"{where}: a classification task needs its classes")
                if y.dtype != torch.long or y.dim() != 1:
                    raise ValueError(f"{where}: {name} targets must be class indices (int64, one "
                                     f"per example), got {y.dtype} of shape {tuple(y.shape)}")
                low, high = int(y.min()), int(y.max())
                if low < 0 or high >= len(self.classes):
                    raise ValueError(f"{where}: {name} targets run {low}..{high}, not within the "
                                     f"{len(self.classes)} classes")
            elif not y.is_floating_point():
                raise ValueError(f"{where}: {name} targets of a regression are {y.dtype}, not "
                                 f"floating point")
            elif not bool(torch.isfinite(y).all()):
                raise ValueError(f"{where}: {name} targets hold NaN or infinite values")
        self._probe(self.build_model, f"{where}: {model}")
        return self

    def _probe(self, build: Callable[[], nn.Module], what: str) -> None:
        """``build()`` (seeded, as an engine builds it) must give an ``nn.Module`` mapping two
        training examples to ``(2, outputs)``."""
        from ...usercode import last_line

        state = torch.get_rng_state()
        try:
            torch.manual_seed(0)
            try:
                model = build()
            except (Exception, SystemExit) as e:
                raise ValueError(f"{what} raised {last_line(e)}") from None
            if not isinstance(model, nn.Module):
                raise ValueError(f"{what} is a {type(model).__name__}, not a torch.nn.Module")
            if not any(p.requires_grad for p in model.parameters()):
                raise ValueError(f"{what} has no trainable parameters")
            x = self.train.x[:2].to(next(model.parameters(), torch.zeros(0)).device)
            try:
                with torch.no_grad():
                    out = model.eval()(x)
            except (Exception, SystemExit) as e:
                raise ValueError(f"{what} cannot take a batch of {tuple(x.shape)} "
                                 f"({last_line(e)})") from None
            want = (len(x), self.model_info.outputs)
            fits = isinstance(out, torch.Tensor) and (
                tuple(out.shape) == want if self.kind == "classification"
                else out.reshape(len(x), -1).shape == want)
            if not fits:
                got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
                raise ValueError(f"{what} maps a batch of {tuple(x.shape)} to {got}, not {want}")
            if not bool(torch.isfinite(out).all()):
                raise ValueError(f"{what} gives NaN or infinite outputs before any training")
        finally:
            torch.set_rng_state(state)

    def with_model(self, fn: Callable[[TaskInfo], nn.Module], name: str = "model") -> Task:
        """The task with ``fn(self.model_info)`` as its model (checked: see ``checked``)."""
        info = self.model_info
        return dataclasses.replace(self, build_model=lambda: fn(info)).checked(f"model {name}")

    @property
    def num_classes(self) -> int | None:
        return len(self.classes) if self.kind == "classification" else None

    def loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.kind == "classification":
            return nn.functional.cross_entropy(out, y)
        return nn.functional.mse_loss(out.reshape(y.shape), y)

    def losses(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``loss`` of each trial of a population at once: ``out`` ``(T, B, ...)`` and ``y``
        ``(T, B, ...)`` give ``(T,)``."""
        if self.kind == "classification":
            t, b = y.shape[:2]
            return nn.functional.cross_entropy(out.flatten(0, 1), y.flatten(0, 1),
                                               reduction="none").view(t, b).mean(1)
        return (out.reshape(y.shape) - y).square().flatten(1).mean(1)

    def to(self, device: str | torch.device) -> Task:
        """The task with every split on ``device`` (the same task when they are there)."""
        device = torch.device(device)
        if all(getattr(self, n).x.device == device for n in ("train", "val", "test")):
            return self
        moved = {n: Split(getattr(self, n).x.to(device), getattr(self, n).y.to(device))
                 for n in ("train", "val", "test")}
        return dataclasses.replace(self, **moved)

    def hits(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor | None:
        """Which predictions are right: ``out``'s arg-max over the last axis equals ``y``, one
        bool per example (per trial and example for a population); None for regression."""
        if self.kind != "classification":
            return None
        return out.argmax(-1) == y

    def correct(self, out: torch.Tensor, y: torch.Tensor) -> int | None:
        """Number of correct predictions in a batch (None for regression)."""
        hits = self.hits(out, y)
        return None if hits is None else int(hits.sum())

    def corrects(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor | None:
        """``correct`` of each trial of a population: ``(T,)`` counts (None for regression)."""
        hits = self.hits(out, y)
        return None if hits is None else hits.sum(1)


# ---- splitting and scaling -----------------------------------------------------------------
MIN_PER_CLASS = 3
"""Members a class needs for the stratified train/val/test split of ``split_indices``: the test
split is drawn first and the val split from the rest, and each draw needs two members of a class
(scikit-learn refuses fewer), so a class of 2 can be left with 1 for the second draw."""


def small_classes(counts, minimum: int = MIN_PER_CLASS) -> list[int]:
    """Indices of the classes with at least one but fewer than ``minimum`` members: those a
    stratified split refuses. Loaders name them (folder, label value) before splitting.

    >>> small_classes([5, 1, 0, 2, 3])
    [1, 3]
    """
    return [i for i, n in enumerate(counts) if 0 < n < minimum]


def split_indices(y: np.ndarray | None, n: int, seed: int, val: float = 0.15, test: float = 0.2,
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train/val/test indices: stratified by ``y`` when given, reproducible from ``seed``."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(n)
    strat = y if y is not None and len(np.unique(y)) > 1 else None
    rest, te = train_test_split(idx, test_size=test, random_state=seed, stratify=strat)
    strat_rest = strat[rest] if strat is not None else None
    tr, va = train_test_split(rest, test_size=val / (1 - test), random_state=seed, stratify=strat_rest)
    return np.sort(tr), np.sort(va), np.sort(te)


def standardize(train: torch.Tensor, *others: torch.Tensor, dims: tuple[int, ...] = (0,)):
    """Scale every tensor by the train split's mean and std (per channel / feature)."""
    mean = train.mean(dim=dims, keepdim=True)
    std = train.std(dim=dims, keepdim=True).clamp_min(1e-6)
    return [(t - mean) / std for t in (train, *others)]


