"""What every training loop shares: the batch order, one optimizer update, evaluation.

Used by the engines, the LR range test and ``lrlab test``, so that they cannot disagree.

- ``device(name)``: a torch device that exists here, or one clear error;
- ``batch_order(n, seed, epoch)``: the permutation of the training set in epoch ``epoch`` for
  ``seed``, from a generator seeded with ``seed * 1_000_003 + epoch``: the same for every trial
  of a seed, whatever its schedule (fairness), and reproducible after a resume (taken modulo
  2**63, so any seed up to TrialConfig's limit works).
- ``batches(n, batch_size, seed, epoch)``: its consecutive slices (the last may be short).
- ``forward`` / ``update``: the loss of a batch, then one optimizer step at a given LR.
- ``evaluate(model, task, split)``: mean loss and accuracy (None for regression);
  ``evaluate_examples`` also which examples are right (packed bits), for the store.

    >>> batch_order(5, seed=0, epoch=0).tolist() == batch_order(5, seed=0, epoch=0).tolist()
    True
    >>> [len(b) for b in batches(5, 2, seed=0, epoch=0)]
    [2, 2, 1]
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

EVAL_BATCH = 1024


def device(name: str | torch.device) -> torch.device:
    """``name`` (``cpu``, ``cuda``, ``cuda:1``, ``mps``) as a torch device that exists here;
    anything else is one ``ValueError`` naming it."""
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError):
        raise ValueError(f"device must be cpu, cuda, cuda:N or mps, got {name!r}") from None
    available = {"cpu": lambda: True, "cuda": torch.cuda.is_available,
                 "mps": torch.backends.mps.is_available}.get(dev.type)
    if available is None or not available():
        raise ValueError(f"device {str(dev)!r} is not available on this machine")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"device {str(dev)!r} is not available: {torch.cuda.device_count()} "
                         f"CUDA device(s)")
    return dev


def batch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The permutation of ``range(n)`` in epoch ``epoch`` for ``seed``."""
    g = torch.Generator().manual_seed((seed * 1_000_003 + epoch) % 2**63)
    return torch.randperm(n, generator=g)


def batches(n: int, batch_size: int, seed: int, epoch: int) -> Iterator[torch.Tensor]:
    """The index batches of one epoch: consecutive slices of ``batch_order``."""
    order = batch_order(n, seed, epoch)
    for i in range(0, n, batch_size):
        yield order[i:i + batch_size]


def forward(model: torch.nn.Module, task, x: torch.Tensor, y: torch.Tensor):
    """``(loss, outputs)`` of one training batch."""
    out = model(x)
    return task.loss(out, y), out


def update(opt: torch.optim.Optimizer, loss: torch.Tensor, lr: float) -> None:
    """One optimizer step on ``loss`` with learning rate ``lr`` for every param group."""
    for g in opt.param_groups:
        g["lr"] = lr
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def evaluate(model: torch.nn.Module, task, split) -> tuple[float, float | None]:
    """Mean loss and accuracy (None for regression) of ``model`` on a split, in eval mode
    (the model's mode is restored)."""
    loss, correct = _pass(model, task, split, lambda hits: int(hits.sum()), sum)
    return loss, None if correct is None else correct / len(split)


def evaluate_examples(model: torch.nn.Module, task, split) -> tuple[float, float | None, bytes | None]:
    """``evaluate`` and which examples the model gets right: their correctness as packed
    bits (``numpy.packbits`` of one bool per example, in the split's order; None for
    regression), so a test set's own sampling noise can be measured later."""
    import numpy as np

    loss, right = _pass(model, task, split, lambda hits: hits.cpu().numpy(),
                        lambda parts: np.concatenate(parts))
    if right is None:
        return loss, None, None
    return loss, int(right.sum()) / len(split), np.packbits(right).tobytes()


@torch.no_grad()
def _pass(model: torch.nn.Module, task, split, per_batch, combine):
    """One pass over ``split`` in eval mode: the mean loss, and ``combine`` of ``per_batch``
    of every batch's ``task.hits`` (None for regression)."""
    was = model.training
    model.eval()
    total, parts = 0.0, []
    for i in range(0, len(split), EVAL_BATCH):
        x, y = split.x[i:i + EVAL_BATCH], split.y[i:i + EVAL_BATCH]
        out = model(x)
        total += float(task.loss(out, y)) * len(y)
        hits = task.hits(out, y)
        if hits is not None:
            parts.append(per_batch(hits))
    model.train(was)
    return total / len(split), combine(parts) if parts else None
