"""Tasks: data (train/val/test tensors) + a model factory + the loss and metric to use.

A task is what the engine consumes; every trial of a population shares its task, so the data
are loaded (and, for image folders, decoded) once. Built-in tasks by spec string:

- ``digits``: scikit-learn's 8x8 digits (1,797 images, 10 classes, no download), a fixed
  stratified 65/15/20 train/val/test split, a small CNN;
- ``imagefolder:PATH``: a class-per-folder image set (see ``lrlab.training.imagefolder``);
- ``csv:PATH``: a table with a label or target column (see ``lrlab.training.tabular``).

Anything else: build a ``Task`` yourself from tensors and a model factory.

    >>> t = load_task("digits")
    >>> t.kind, t.num_classes, tuple(t.train.x.shape[1:]), len(t.train) + len(t.val) + len(t.test)
    ('classification', 10, (1, 8, 8), 1797)
"""

from __future__ import annotations

from collections.abc import Callable
import dataclasses
import functools
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
        if self.kind not in ("classification", "regression"):
            raise ValueError(f"task: kind must be 'classification' or 'regression', got {self.kind!r}")
        for name in ("train", "val", "test"):
            if len(getattr(self, name)) == 0:
                raise ValueError(f"task {self.spec}: the {name} split is empty")

    @property
    def num_classes(self) -> int | None:
        return len(self.classes) if self.kind == "classification" else None

    def loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.kind == "classification":
            return nn.functional.cross_entropy(out, y)
        return nn.functional.mse_loss(out.reshape(y.shape), y)

    def correct(self, out: torch.Tensor, y: torch.Tensor) -> int | None:
        """Number of correct predictions in a batch (None for regression)."""
        if self.kind != "classification":
            return None
        return int((out.argmax(1) == y).sum())


# ---- default models ------------------------------------------------------------------------
class SmallCNN(nn.Module):
    """Three 3x3 conv blocks with GroupNorm (no running statistics: a batch of trials can be
    trained as one vectorised model later), global average pooling, a linear classifier."""

    def __init__(self, in_channels: int, num_classes: int, width: int = 32):
        super().__init__()

        def block(cin, cout):
            return [nn.Conv2d(cin, cout, 3, padding=1), nn.GroupNorm(8, cout), nn.ReLU()]

        self.features = nn.Sequential(*block(in_channels, width), *block(width, width),
                                      nn.MaxPool2d(2), *block(width, 2 * width),
                                      nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(2 * width, num_classes)

    def forward(self, x):
        return self.head(self.features(x))


class MLP(nn.Module):
    """A ReLU MLP for tabular data."""

    def __init__(self, in_features: int, out_features: int, hidden: tuple[int, ...] = (128, 64)):
        super().__init__()
        sizes = (in_features, *hidden)
        layers: list[nn.Module] = []
        for a, b in zip(sizes, sizes[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.net = nn.Sequential(*layers, nn.Linear(sizes[-1], out_features))

    def forward(self, x):
        return self.net(x)


# ---- splitting and the built-in tasks -----------------------------------------------------
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


@functools.lru_cache(maxsize=4)
def digits(split_seed: int = 0) -> Task:
    """scikit-learn's digits as 1x8x8 images, standardised; a small CNN. Loaded once per
    process and split (the tensors are shared by every trial; nothing writes to them)."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.tensor(data.images, dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(data.target, dtype=torch.long)
    tr, va, te = split_indices(data.target, len(y), split_seed)
    xs = standardize(x[tr], x[va], x[te], dims=(0, 2, 3))
    classes = tuple(str(c) for c in data.target_names)
    return Task("digits", Split(xs[0], y[tr]), Split(xs[1], y[va]), Split(xs[2], y[te]),
                lambda: SmallCNN(1, len(classes)), "classification", classes)


def load_task(spec: str, **options) -> Task:
    """A task from its spec string: ``digits``, ``imagefolder:PATH`` or ``csv:PATH``."""
    kind, _, arg = spec.partition(":")
    if kind == "digits" and not arg:
        task = digits(**options)
    elif kind == "imagefolder" and arg:
        from .imagefolder import imagefolder_task

        task = imagefolder_task(arg, **options)
    elif kind == "csv" and arg:
        from .tabular import csv_task

        task = csv_task(arg, **options)
    else:
        raise ValueError(f"unknown task {spec!r}; use digits, imagefolder:PATH or csv:PATH")
    return dataclasses.replace(task, options=dict(options))
