"""Trial checkpoints: a plain dict of tensors and numbers, turned into bytes with ``torch.save``
(``dumps``) and back with ``torch.load(weights_only=True)`` (``loads``), so a checkpoint never
runs code. The engine owns the format; a sink keeps the bytes (the store in a row written with
the epoch's records, a run folder in ``checkpoint.pt``, a worker sends them to the driver).

A checkpoint holds what a run cannot recompute: ``model`` and ``optimizer`` state, ``epoch``
and ``step`` completed, the LR ``policy``'s and the ``stopper``'s state, the ``best_state``
weights (early stopping with ``restore_best``), the torch ``rng`` state, the ``config`` it was
written by, the trial's ``status`` and the ``seconds`` trained. The step-by-step history is
not in it: sinks append it as it comes.

    >>> import torch
    >>> state = {k: 0 for k in KEYS} | {"model": {"w": torch.ones(2)}}
    >>> loads(dumps(state), "here")["model"]["w"].tolist()
    [1.0, 1.0]
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import torch


KEYS = ("model", "optimizer", "epoch", "step", "policy", "stopper", "best_state", "rng",
        "config", "status", "seconds")


def dumps(state: dict[str, Any]) -> bytes:
    """``state`` as bytes (``torch.save``'s format)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def safe_load(path: str | Path | io.BytesIO, device: str | torch.device = "cpu") -> Any:
    """``torch.load(path, weights_only=True)`` onto ``device``, without the warnings torch
    prints before refusing a file (the caller's one-line error says what happened)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.load(path, map_location=device, weights_only=True)


def loads(blob: bytes, source: str, device: str | torch.device = "cpu",
          remedy: str = "delete it to train the trial from the start") -> dict[str, Any]:
    """A checkpoint from ``dumps``; damaged or foreign bytes are one ``ValueError`` line naming
    ``source`` (where they were read) and ending with ``remedy``. Tensors are mapped onto
    ``device``."""
    try:
        state = safe_load(io.BytesIO(blob), device)
    except Exception as e:  # unpickling refused, truncated or foreign file
        raise ValueError(f"{source}: not a readable lrlab checkpoint ({type(e).__name__}); "
                         f"{remedy}") from None
    if not isinstance(state, dict) or not set(KEYS) <= state.keys():
        missing = sorted(set(KEYS) - set(state)) if isinstance(state, dict) else "everything"
        raise ValueError(f"{source}: not an lrlab checkpoint (missing {missing}); {remedy}")
    return state
