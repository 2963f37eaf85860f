"""The optimizers a trial can use: ``momentum`` (SGD, momentum 0.9: the source experiment's),
``sgd`` and ``adamw``.

    >>> import torch
    >>> opt = make_optimizer("momentum", [torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    >>> type(opt).__name__, opt.param_groups[0]["momentum"]
    ('SGD', 0.9)
"""

from __future__ import annotations

import torch

from .trial import OPTIMIZERS


def make_optimizer(name: str, params, lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    if name == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {name!r}")
