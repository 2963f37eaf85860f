"""The LR range test (Leslie Smith, 2015; the fastai / torch-lr-finder "LR finder").

Train a model for ``num_steps`` minibatches while the learning rate grows geometrically from
``start_lr`` to ``end_lr``, record the training loss at every step, and read a good learning
rate off the curve of loss against log LR. Nothing of the run is kept: a model you pass in gets
its weights and train/eval mode back.

The sweep, for step ``i = 0 .. N-1`` (``N = num_steps``)::

    lr_i = start_lr * (end_lr / start_lr) ** (i / (N - 1))      # lr_0 = start_lr, lr_{N-1} = end_lr

``loss_i`` is the loss of the batch of step ``i`` measured *before* the update with ``lr_i``
(as in fastai and torch-lr-finder), so it reflects the updates made with ``lr_0 .. lr_{i-1}``.

Smoothing (an exponential moving average with bias correction, fastai's form), with
``beta = 1 - smooth`` so ``smooth`` is the weight of the newest loss (torch-lr-finder's
``smooth_f``)::

    avg_i      = beta * avg_{i-1} + (1 - beta) * loss_i,   avg_{-1} = 0
    smoothed_i = avg_i / (1 - beta ** (i + 1))

The bias correction makes ``smoothed_0 = loss_0`` (torch-lr-finder's EMA without correction
starts there too, but weights the first loss too heavily for long afterwards). The test stops
early, after recording step ``i``, when ``smoothed_i > diverge * min(smoothed_0..i-1)`` (while
that minimum is > 0, as it is for cross-entropy and MSE) or ``loss_i`` is not finite.

Suggestions, read off the smoothed curve after trimming ``N // 10`` steps at the start (noisy,
nothing learnt yet) and ``max(1, N // 20)`` at the end (the divergence itself) -- proportional
versions of torch-lr-finder's ``skip_start=10, skip_end=5`` at ``N = 100``:

- ``minimum``: the LR of the lowest smoothed loss; ``None`` when that is the window's first
  point (the loss never fell) or fewer than 2 finite points remain;
- ``suggested_lr = minimum / 10`` (``rule = "minimum/10"``, fastai's "minimum" rule; Smith's
  advice: an order of magnitude below where the loss stops falling). The LR at the minimum is
  already at the edge of stability, so a tenth of it is a large LR that still trains. When the
  sweep ends before the loss turns up (``end_lr`` too small), the minimum is the window's last
  point and the suggestion only a lower bound: sweep to a larger ``end_lr``;
- ``steepest`` (reported, not suggested): the LR where ``d smoothed / d log(lr)``
  (``np.gradient``) is most negative (torch-lr-finder's and Lightning's suggestion), looked for
  only up to the minimum (beyond it a drop is a recovery from a spike, not learning);
- ``valley`` (reported, not suggested; lrlab's suggestion before): fastai's "valley" idea,
  halfway along the longest strictly decreasing subsequence of the smoothed losses; ``None``
  when that subsequence has fewer than 3 points.

Why ``minimum/10``: measured with ``bench/find_lr_rules.py`` (CLI defaults 1e-7..10, 100
steps, batch 64; then the default model, momentum SGD 0.9, cosine, batch 64, 20 epochs, seeds
0-2, each seed's own range test; mean test accuracy against the best of the grid 1e-3, 3e-3,
1e-2, 3e-2, 0.1, 0.3, 1)::

    task (grid best)       minimum/10          steepest            valley
    digits (0.992 at 0.03) 0.051 0.011 0.061  0.42 0.11 0.61       0.0011 0.00025 0.00063
                           0.990 (-0.2 pt)    0.934 (-5.7 pt)      0.696 (-29.5 pt)
    csv wine (1.000)       0.11 0.074 0.074   0.079 0.14 0.11      0.0019 0.00063 0.0019
                           1.000 (+0.0 pt)    1.000 (+0.0 pt)      0.546 (-45.4 pt)
    csv breast cancer      0.061 0.042 0.035  0.066 0.066 0.079    0.00063 0.00063 0.00076
      (0.962 at 0.03)      0.959 (-0.3 pt)    0.953 (-0.9 pt)      0.857 (-10.5 pt)

The valley lies on the early, slow part of the descent: 20 epochs of cosine from there do not
reach the accuracy of a larger LR. The steepest point is erratic on digits (0.11 to 0.61 from
seed to seed; 0.6 trains badly). ``minimum/10`` is within one point of the grid's best on
every task; so is fastai's "slide" rule, whose thresholds depend on the number of steps and
the scale of the loss, and the median of minimum/10, steepest and valley, which is a more
complicated way to land on the same numbers here.

    >>> lr_sweep(1e-3, 1e1, 5).tolist()
    [0.001, 0.01, 0.1, 1.0, 10.0]
    >>> smooth_losses([4.0, 2.0], smooth=0.5).tolist()    # (0.25*4 + 0.5*2) / 0.75
    [4.0, 2.6666666666666665]
"""

from __future__ import annotations

import copy
import itertools
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..schedules import params as P
from .evaluate import batches, forward, update
from .evaluate import device as torch_device
from .optim import make_optimizer
from .tasks.base import Task

MIN_VALLEY_POINTS = 3
RULE = "minimum/10"   # how suggested_lr is read off the curve (see the module docstring)


# ---- pure helpers over numpy arrays --------------------------------------------------------
def lr_sweep(start_lr: float, end_lr: float, num_steps: int) -> np.ndarray:
    """``start_lr * (end_lr / start_lr) ** (i / (num_steps - 1))`` for ``i = 0 .. num_steps-1``;
    the first and last values are exactly ``start_lr`` and ``end_lr``."""
    i = np.arange(num_steps, dtype=np.float64)
    lrs = start_lr * (end_lr / start_lr) ** (i / (num_steps - 1))
    lrs[0], lrs[-1] = start_lr, end_lr
    return lrs


class _Smoother:
    """Online bias-corrected EMA: ``avg = beta*avg + (1-beta)*x``, returns ``avg/(1-beta**n)``."""

    def __init__(self, smooth: float):
        self.beta, self.avg, self.n = 1.0 - smooth, 0.0, 0

    def __call__(self, x: float) -> float:
        self.n += 1
        self.avg = self.beta * self.avg + (1.0 - self.beta) * x
        return self.avg / (1.0 - self.beta ** self.n)


def smooth_losses(losses, smooth: float = 0.05) -> np.ndarray:
    """Bias-corrected exponential moving average of ``losses`` (see the module docstring)."""
    s = _Smoother(smooth)
    return np.array([s(float(x)) for x in losses], dtype=np.float64)


def steepest_index(smoothed, lrs) -> int | None:
    """Index of the most negative ``np.gradient(smoothed, log(lrs))``; None for < 2 points.

    >>> steepest_index([3.0, 2.9, 2.0, 1.95, 1.9], [1e-3, 1e-2, 1e-1, 1e0, 1e1])
    1
    """
    y = np.asarray(smoothed, dtype=np.float64)
    if len(y) < 2:
        return None
    return int(np.argmin(np.gradient(y, np.log(np.asarray(lrs, dtype=np.float64)))))


def valley_index(smoothed) -> int | None:
    """Halfway along the longest strictly decreasing subsequence (fastai's "valley" idea).

    ``first + (last - first) // 2`` where ``first``/``last`` are the indices of the first and
    last element of the longest decreasing subsequence (the earliest one on ties); None when
    it has fewer than 3 points.

    >>> valley_index([9.0, 5.0, 4.0, 3.0, 6.0, 2.0, 1.0, 7.0])   # 9 5 4 3 2 1: indices 0..6
    3
    >>> valley_index([1.0, 2.0, 3.0]) is None
    True
    """
    y = np.asarray(smoothed, dtype=np.float64)
    n = len(y)
    length = np.ones(n, dtype=np.int64)   # length of the longest decreasing run ending at i
    first = np.arange(n)                  # where that run starts
    for i in range(1, n):
        prev = np.flatnonzero(y[:i] > y[i])
        if len(prev):
            j = prev[np.argmax(length[prev])]   # earliest of the longest
            length[i], first[i] = length[j] + 1, first[j]
    if n == 0 or length.max() < MIN_VALLEY_POINTS:
        return None
    end = int(np.argmax(length))
    return int(first[end] + (end - first[end]) // 2)


def suggestion_window(n: int, num_steps: int) -> tuple[int, int]:
    """The ``[lo, hi)`` slice of ``n`` recorded finite points the suggestions look at: skip
    ``num_steps // 10`` at the start and ``max(1, num_steps // 20)`` at the end; when fewer than
    3 points would remain, only the last point is dropped (``hi - lo`` may then be < 3)."""
    lo, hi = num_steps // 10, n - max(1, num_steps // 20)
    if hi - lo < MIN_VALLEY_POINTS:
        lo, hi = 0, max(0, n - 1)
    return lo, hi


def suggest(lrs, smoothed, num_steps: int) -> dict[str, float | None]:
    """``{"minimum/10", "minimum", "steepest", "valley"}`` learning rates read off a recorded
    curve (non-finite tail dropped); the first is the suggestion (``RULE``).

    >>> lrs = [1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0]    # the window drops only the last point
    >>> suggest(lrs, [2.3, 2.2, 1.5, 0.9, 1.1, 9.0], 6)
    {'minimum/10': 0.01, 'minimum': 0.1, 'steepest': 0.01, 'valley': 0.001}
    """
    lrs, y = np.asarray(lrs, dtype=np.float64), np.asarray(smoothed, dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(y))
    n = int(bad[0]) if len(bad) else len(y)
    lo, hi = suggestion_window(n, num_steps)
    out: dict[str, float | None] = dict.fromkeys((RULE, "minimum", "steepest", "valley"))
    if hi - lo < 2:
        return out
    low = lo + int(np.argmin(y[lo:hi]))   # the steepest descent is on the way down to here
    if low > lo:
        out["minimum"] = float(lrs[low])
        out[RULE] = out["minimum"] / 10
    s = steepest_index(y[lo:low + 1], lrs[lo:low + 1])
    v = valley_index(y[lo:hi])
    out["steepest"] = float(lrs[lo + s]) if s is not None else None
    out["valley"] = float(lrs[lo + v]) if v is not None else None
    return out


# ---- the result ----------------------------------------------------------------------------
@dataclass(frozen=True)
class LRFinderResult:
    """What the range test recorded: one entry per step run, and the suggestions.
    ``suggested_lr`` is read off the curve by ``rule`` (``minimum/10``: a tenth of
    ``minimum``); ``steepest`` and ``valley`` are other rules' readings, for comparison."""

    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    suggested_lr: float | None
    rule: str
    minimum: float | None
    steepest: float | None
    valley: float | None
    stopped_early: bool

    def rules(self) -> dict[str, float | None]:
        """Every rule's reading: ``{rule: suggested_lr, "minimum", "steepest", "valley"}``."""
        return {self.rule: self.suggested_lr, "minimum": self.minimum,
                "steepest": self.steepest, "valley": self.valley}

    def to_dict(self) -> dict:
        """Plain, strict-JSON data: non-finite losses become ``None``."""
        d = asdict(self)
        for key in ("losses", "smoothed"):
            d[key] = [x if math.isfinite(x) else None for x in d[key]]
        return d

    def plot(self, path) -> Path:
        """Save smoothed loss (raw loss faint) against LR on a log axis, with every rule's
        reading marked, as an image at ``path`` (format from the suffix); returns the path."""
        from .. import plots  # lazy: matplotlib

        return plots.lr_finder(self, path)


# ---- the test ------------------------------------------------------------------------------
def _check(start_lr, end_lr, num_steps, batch_size, smooth, diverge, seed) -> None:
    w = "find_lr"
    P.real(0.0)(w, "start_lr", start_lr)
    if P.real(0.0)(w, "end_lr", end_lr) <= start_lr:
        P.fail(w, "end_lr", f"a finite number > start_lr ({start_lr})", end_lr)
    P.integer(5)(w, "num_steps", num_steps)
    P.integer(1)(w, "batch_size", batch_size)
    P.real(0.0, high=1.0)(w, "smooth", smooth)
    P.real(1.0)(w, "diverge", diverge)
    P.integer(0)(w, "seed", seed)


def find_lr(task: Task, model: torch.nn.Module | None = None, *, start_lr: float = 1e-7,
            end_lr: float = 10.0, num_steps: int = 100, batch_size: int = 64,
            optimizer: str = "momentum", weight_decay: float = 0.0, smooth: float = 0.05,
            diverge: float = 4.0, seed: int = 0, device: str | None = None) -> LRFinderResult:
    """Run the LR range test on ``task.train`` (see the module docstring for the formulas).

    ``model=None`` builds ``task.build_model()`` after ``torch.manual_seed(seed)`` (the weights
    every trial of that seed starts from). A given model is trained in place and then gets its
    weights (a deep copy of its ``state_dict``) and every submodule's train/eval mode back,
    even if the test raises. Batches: the engines' own (``evaluate.batches``: epoch 0's order
    for ``seed``, then epoch 1's, ...; a short tail is dropped), so the test sees what training
    sees. The global torch RNG is seeded with ``seed`` inside
    ``torch.random.fork_rng``, so dropout-like randomness is reproducible and the caller's RNG
    state is untouched. Same arguments (and same device) -> identical ``lrs`` and ``losses``.
    """
    _check(start_lr, end_lr, num_steps, batch_size, smooth, diverge, seed)
    lrs = lr_sweep(float(start_lr), float(end_lr), num_steps)
    device = torch_device(device if device is not None else
                          next(iter(model.parameters())).device if model is not None else "cpu")
    fork_devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(seed)
        if model is None:
            model = task.build_model().to(device)
            saved_state, saved_modes = None, None
        else:
            saved_state = copy.deepcopy(model.state_dict())
            saved_modes = [(m, m.training) for m in model.modules()]
        try:
            losses, smoothed, stopped = _sweep(task, model, lrs, batch_size, optimizer,
                                               weight_decay, smooth, diverge, seed)
        finally:
            if saved_state is not None:
                model.load_state_dict(saved_state)
                for m, mode in saved_modes:
                    m.training = mode
    done = lrs[: len(losses)]
    found = suggest(done, smoothed, num_steps)
    return LRFinderResult([float(x) for x in done], losses, smoothed, found[RULE], RULE,
                          found["minimum"], found["steepest"], found["valley"], stopped)


def _full_batches(n: int, batch_size: int, seed: int):
    """The full batches of ``evaluate.batches``, epoch after epoch (a short tail is dropped)."""
    for epoch in itertools.count():
        for idx in batches(n, batch_size, seed, epoch):
            if len(idx) == batch_size:
                yield idx


def _sweep(task, model, lrs, batch_size, optimizer, weight_decay, smooth, diverge, seed):
    train = task.to(next(iter(model.parameters())).device).train
    bs = min(batch_size, len(train))
    opt = make_optimizer(optimizer, model.parameters(), lr=float(lrs[0]), weight_decay=weight_decay)
    model.train()
    smoother, best = _Smoother(smooth), math.inf
    losses: list[float] = []
    smoothed: list[float] = []
    for lr, idx in zip(lrs, _full_batches(len(train), bs, seed)):
        loss, _ = forward(model, task, train.x[idx], train.y[idx])
        value = float(loss.item())
        s = smoother(value)
        losses.append(value)
        smoothed.append(s)
        if not (math.isfinite(value) and math.isfinite(s)) or (best > 0 and s > diverge * best):
            return losses, smoothed, True
        best = min(best, s)
        update(opt, loss, float(lr))
    return losses, smoothed, False
