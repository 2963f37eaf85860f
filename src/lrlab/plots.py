"""Figures, written straight to image files: learning-rate curves (``lrlab plot NAMES``), a run
folder's LRs and metrics (``lrlab plot --run DIR``) and the LR range test (``lrlab find-lr``,
:meth:`lrlab.training.lr_finder.LRFinderResult.plot`).

matplotlib only, through its object API on an Agg canvas: no pyplot, no GUI, no global state.
Import this module lazily (``import lrlab`` does not import it). Each figure has a builder
that returns the matplotlib ``Figure`` (``curves_figure``, ``run_figure``,
``lr_finder_figure``: inspect or restyle it) and a writer that saves it (``curves``, ``run``,
``lr_finder``). Legends sit below the axes, in as many columns as the labels' length allows,
and the figure grows a row of height per legend row, so a legend never covers a curve however
many there are. ``log=True`` puts the LR (and loss) axes on a log scale; a value <= 0 (an LR
of 0, say) is not drawn there.

The format is the file's suffix (``.png``, ``.svg``, ``.pdf``, ...); :func:`check_output`
refuses, before any work, a path whose folder is missing or whose format is unknown:

    >>> check_output("/no/such/folder/lr.png")
    Traceback (most recent call last):
    ValueError: cannot write '/no/such/folder/lr.png': no folder '/no/such/folder'
    >>> check_output("lr.txt")
    Traceback (most recent call last):
    ValueError: cannot write 'lr.txt': unknown image format 'txt' (use .png, .svg or .pdf)
    >>> fig = curves_figure([("a", [1.0, 0.1, 0.01]), ("b", [1.0, 1.0, 1.0])], 3, log=True)
    >>> ax = fig.axes[0]
    >>> ax.get_yscale(), len(ax.lines), [t.get_text() for t in fig.legends[0].get_texts()]
    ('log', 2, ['a', 'b'])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backend_bases import FigureCanvasBase
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

LEGEND_CHARS_PER_INCH = 11   # "small" legend text, plus room for the line sample
LEGEND_ROW_INCHES = 0.22


def check_output(path) -> Path:
    """``path`` as a Path; ValueError (one line) when its folder is missing or its suffix is
    not an image format matplotlib writes."""
    path = Path(path)
    folder = path.resolve().parent
    if not folder.is_dir():
        raise ValueError(f"cannot write {str(path)!r}: no folder {str(folder)!r}")
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in FigureCanvasBase.get_supported_filetypes():
        raise ValueError(f"cannot write {str(path)!r}: unknown image format {fmt!r} "
                         f"(use .png, .svg or .pdf)")
    return path


def legend_columns(labels: Sequence[str], width: float) -> int:
    """How many legend columns of ``labels`` fit across a figure ``width`` inches wide.

    >>> legend_columns(["cosine", "step"], 8.0), legend_columns(["x" * 60] * 3, 8.0)
    (2, 1)
    """
    longest = max((len(s) for s in labels), default=1)
    fit = int(width * LEGEND_CHARS_PER_INCH // (longest + 6))
    return max(1, min(len(labels), fit))


def _figure(width: float, height: float, labels: Sequence[str] = ()) -> tuple[Figure, int]:
    """A constrained-layout figure ``height`` inches high plus one legend row height per row
    the ``labels`` need; returns it and the legend's column count."""
    ncols = legend_columns(labels, width)
    rows = math.ceil(len(labels) / ncols) if labels else 0
    fig = Figure(figsize=(width, height + LEGEND_ROW_INCHES * rows), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, ncols


def _legend_below(fig: Figure, handles, labels, ncols: int) -> None:
    if labels:
        fig.legend(handles, labels, loc="outside lower center", ncols=ncols, fontsize="small",
                   frameon=False)


def _save(fig: Figure, path: Path, dpi: int) -> Path:
    """Write ``fig`` to ``path``; an OS error becomes ``OSError('cannot write ...: reason')``."""
    try:
        fig.savefig(path, dpi=dpi)
    except OSError as e:
        raise OSError(f"cannot write {str(path)!r}: {e.strerror or e}") from e
    return path


def _log(ax, log: bool) -> None:
    if log:
        ax.set_yscale("log", nonpositive="mask")


def _floats(values) -> np.ndarray:
    """Numbers as float64, ``None`` as NaN (a gap in the line)."""
    return np.array([math.nan if v is None else v for v in values], dtype=np.float64)


# ---- learning-rate curves ------------------------------------------------------------------
def curves_figure(curves, steps: int, title: str | None = None, log: bool = False) -> Figure:
    """``[(label, values)]`` (the LR at steps ``0 .. steps-1``) against the step on one axes;
    the LR holds for a whole step (a staircase). ``title`` defaults to the label of a single
    curve, else 'learning-rate schedules, N steps'; ``log``: a log y axis."""
    labels = [label for label, _ in curves]
    fig, ncols = _figure(8, 4.5, labels if len(curves) > 1 else ())
    ax = fig.subplots()
    x = np.arange(steps)
    for label, values in curves:
        ax.plot(x, values, label=label, drawstyle="steps-post")
    ax.set_xlabel("step")
    ax.set_ylabel("learning rate" + (" (log scale)" if log else ""))
    _log(ax, log)
    if title is None:
        title = curves[0][0] if len(curves) == 1 else f"learning-rate schedules, {steps} steps"
    ax.set_title(title, fontsize="medium")
    if len(curves) > 1:
        _legend_below(fig, *ax.get_legend_handles_labels(), ncols)
    ax.grid(alpha=0.3, which="both" if log else "major")
    return fig


def curves(curves, steps: int, path, title: str | None = None, log: bool = False) -> Path:
    """Save :func:`curves_figure` at ``path``; returns the path."""
    path = check_output(path)
    return _save(curves_figure(curves, steps, title, log), path, dpi=120)


# ---- a run folder --------------------------------------------------------------------------
def run_figure(trials, log: bool = False, title: str | None = None) -> Figure:
    """A run's trials side by side: the LR of every step, train (solid) and val (dashed) loss
    per epoch, and val accuracy per epoch (left out when no trial has one: regression).

    ``trials``: ``TrialRecord``-like values (``.name``, ``.lrs``, ``.epochs``: dicts with
    ``train_loss``, ``val_loss``, ``val_acc`` and optionally ``epoch``); a ``None`` value is a
    gap. One colour per trial; one legend below. ``log``: log y axes for LR and loss.
    """
    trials = list(trials)
    has_acc = any(e.get("val_acc") is not None for t in trials for e in t.epochs)
    labels = [t.name for t in trials]
    fig, ncols = _figure(13 if has_acc else 9, 4.0, [*labels, "train loss", "val loss"])
    axes = fig.subplots(1, 3 if has_acc else 2)
    ax_lr, ax_loss = axes[0], axes[1]
    handles = []
    for k, t in enumerate(trials):
        color = f"C{k % 10}"
        (h,) = ax_lr.plot(np.arange(len(t.lrs)), _floats(t.lrs), color=color, lw=1.2,
                          drawstyle="steps-post")
        handles.append(h)
        x = _floats([e.get("epoch", i) for i, e in enumerate(t.epochs)])
        ax_loss.plot(x, _floats([e.get("train_loss") for e in t.epochs]), color=color, marker=".")
        ax_loss.plot(x, _floats([e.get("val_loss") for e in t.epochs]), color=color, ls="--",
                     marker=".")
        if has_acc:
            axes[2].plot(x, _floats([e.get("val_acc") for e in t.epochs]), color=color, marker=".")
    ax_lr.set(xlabel="step", ylabel="learning rate" + (" (log scale)" if log else ""),
              title="learning rate per step")
    ax_loss.set(xlabel="epoch", ylabel="loss" + (" (log scale)" if log else ""),
                title="train (solid) and val (dashed) loss")
    for ax in (ax_lr, ax_loss):
        _log(ax, log)
    if has_acc:
        axes[2].set(xlabel="epoch", ylabel="accuracy", title="val accuracy")
    for ax in axes[1:]:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.title.set_fontsize("medium")
    if title:
        fig.suptitle(title)
    style = [Line2D([], [], color="0.4"), Line2D([], [], color="0.4", ls="--")]
    _legend_below(fig, handles + style, labels + ["train loss", "val loss"], ncols)
    return fig


def run(trials, path, log: bool = False, title: str | None = None) -> Path:
    """Save :func:`run_figure` at ``path``; returns the path."""
    path = check_output(path)
    return _save(run_figure(trials, log, title), path, dpi=110)


# ---- the LR range test ---------------------------------------------------------------------
def lr_finder_figure(result) -> Figure:
    """An LR range test (an ``LRFinderResult``): smoothed loss (raw loss faint) against LR on a
    log axis, with every rule's reading marked (``result.rules()``: the suggestion, thick,
    then ``minimum``, ``steepest``, ``valley``); the y range runs from the lowest loss up to 2x
    the first smoothed loss, so the divergence is cut off."""
    marks = {k: v for k, v in result.rules().items() if v is not None}
    lrs = np.asarray(result.lrs)
    sm, raw = _floats(result.smoothed), _floats(result.losses)
    labels = ["loss", "smoothed loss"] + [
        f"{name}: {lr:.2e}" + (" (suggested)" if name == result.rule else "")
        for name, lr in marks.items()]
    fig, ncols = _figure(7, 4.5, labels)
    ax = fig.add_subplot()
    handles = [ax.plot(lrs, raw, color="C0", alpha=0.25, lw=1)[0],
               ax.plot(lrs, sm, color="C0", lw=2)[0]]
    for k, (name, lr) in enumerate(marks.items()):
        thick = name == result.rule
        ax.axvline(lr, color=f"C{k + 1}", ls="--", lw=2 if thick else 1)
        i = int(np.argmin(np.abs(np.log(lrs) - math.log(lr))))
        y = sm[i] if np.isfinite(sm[i]) else np.nan
        handles.append(ax.plot([lr], [y], "o", color=f"C{k + 1}", ms=8 if thick else 5,
                               ls="--", lw=2 if thick else 1)[0])
    ax.set_xscale("log")
    finite = sm[np.isfinite(sm)]
    if len(finite):
        lo = min(finite.min(), raw[np.isfinite(raw)].min(initial=finite.min()))
        hi = min(finite.max(), 2 * finite[0]) if finite[0] > 0 else finite.max()
        pad = 0.05 * (hi - lo) or 0.05 * abs(hi) or 0.05
        ax.set_ylim(lo - pad, max(hi, lo) + pad)
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    sug = (f"{result.suggested_lr:.2e} ({result.rule})" if result.suggested_lr is not None
           else "none")
    ax.set_title(f"LR range test: suggested lr {sug}"
                 + (" (stopped early)" if result.stopped_early else ""), fontsize="medium")
    ax.grid(True, which="both", alpha=0.3)
    _legend_below(fig, handles, labels, ncols)
    return fig


def lr_finder(result, path) -> Path:
    """Save :func:`lr_finder_figure` at ``path``; returns the path."""
    path = check_output(path)
    return _save(lr_finder_figure(result), path, dpi=100)
