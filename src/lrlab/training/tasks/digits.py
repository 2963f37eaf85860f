"""The embedded task: scikit-learn's 8x8 digits (1,797 images, 10 classes, no download), a fixed
stratified 65/15/20 train/val/test split, standardised, and a ``SmallCNN``.

    >>> t = digits()
    >>> t.kind, t.num_classes, tuple(t.train.x.shape[1:]), len(t.train) + len(t.val) + len(t.test)
    ('classification', 10, (1, 8, 8), 1797)
"""

from __future__ import annotations

import functools

import torch

from .base import Split, Task, split_indices, standardize
from .models import SmallCNN


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
