"""Trial checkpoints: a plain dict of tensors and numbers, saved atomically with ``torch.save``
and loaded with ``torch.load(weights_only=True)``, so a checkpoint never runs code.

A checkpoint holds what a run cannot recompute: ``model`` and ``optimizer`` state, ``epoch``
and ``step`` completed, the LR ``policy``'s and the ``stopper``'s state, the ``best_state``
weights (early stopping with ``restore_best``), the torch ``rng`` state, the ``config`` it was
written by, the trial's ``status`` and the ``seconds`` trained. The step-by-step history is
not in it: sinks append it as it comes.

    >>> import tempfile, pathlib, torch
    >>> path = pathlib.Path(tempfile.mkdtemp(), "checkpoint.pt")
    >>> state = {k: 0 for k in KEYS} | {"model": {"w": torch.ones(2)}}
    >>> save(path, state); load(path)["model"]["w"].tolist()
    [1.0, 1.0]
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch

from ..fileio import atomic_write

KEYS = ("model", "optimizer", "epoch", "step", "policy", "stopper", "best_state", "rng",
        "config", "status", "seconds")


def save(path: str | Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically (a reader sees the old file or the new one)."""
    atomic_write(Path(path), lambda f: torch.save(state, f))


def safe_load(path: str | Path, device: str | torch.device = "cpu") -> Any:
    """``torch.load(path, weights_only=True)`` onto ``device``, without the warnings torch
    prints before refusing a file (the caller's one-line error says what happened)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.load(path, map_location=device, weights_only=True)


def load(path: str | Path, device: str | torch.device = "cpu") -> dict[str, Any]:
    """A checkpoint written by ``save``; a damaged or foreign file is one ``ValueError`` line
    naming it. Tensors are mapped onto ``device``."""
    try:
        state = safe_load(path, device)
    except Exception as e:  # unpickling refused, truncated or foreign file
        raise ValueError(f"{path}: not a readable lrlab checkpoint ({type(e).__name__}); delete "
                         f"it to train the trial from the start") from None
    if not isinstance(state, dict) or not set(KEYS) <= state.keys():
        missing = sorted(set(KEYS) - set(state)) if isinstance(state, dict) else "everything"
        raise ValueError(f"{path}: not an lrlab checkpoint (missing {missing}); delete it to "
                         f"train the trial from the start")
    return state
