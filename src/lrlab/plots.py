"""Figures, written straight to image files: learning-rate curves (``lrlab plot``) and the LR
range test (``lrlab find-lr``, :meth:`lrlab.training.lr_finder.LRFinderResult.plot`).

matplotlib only, through its object API on an Agg canvas: no pyplot, no GUI, no global state.
Import this module lazily (``import lrlab`` does not import it). The format is the file's
suffix (``.png``, ``.svg``, ``.pdf``, ...); :func:`check_output` refuses, before any work, a
path whose folder is missing or whose format is unknown:

    >>> check_output("/no/such/folder/lr.png")
    Traceback (most recent call last):
    ValueError: cannot write '/no/such/folder/lr.png': no folder '/no/such/folder'
    >>> check_output("lr.txt")
    Traceback (most recent call last):
    ValueError: cannot write 'lr.txt': unknown image format 'txt' (use .png, .svg or .pdf)
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.backend_bases import FigureCanvasBase
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


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


def _figure(width: float, height: float, **kw) -> Figure:
    fig = Figure(figsize=(width, height), **kw)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: Path, dpi: int) -> Path:
    """Write ``fig`` to ``path``; an OS error becomes ``OSError('cannot write ...: reason')``."""
    try:
        fig.savefig(path, dpi=dpi)
    except OSError as e:
        raise OSError(f"cannot write {str(path)!r}: {e.strerror or e}") from e
    return path


def curves(curves, steps: int, path, title: str | None = None) -> Path:
    """Plot ``[(label, values)]`` (the LR at steps ``0 .. steps-1``) against the step on one
    figure saved at ``path``; returns the path. The LR holds for a whole step (a staircase).
    ``title`` defaults to the label of a single curve, else 'learning-rate schedules, N steps'."""
    path = check_output(path)
    fig = _figure(8, 4.5, layout="constrained")
    ax = fig.subplots()
    x = np.arange(steps)
    for label, values in curves:
        ax.plot(x, values, label=label, drawstyle="steps-post")
    ax.set_xlabel("step")
    ax.set_ylabel("learning rate")
    if title is None:
        title = curves[0][0] if len(curves) == 1 else f"learning-rate schedules, {steps} steps"
    ax.set_title(title)
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return _save(fig, path, dpi=120)


def lr_finder(result, path) -> Path:
    """Plot an LR range test (an ``LRFinderResult``): smoothed loss (raw loss faint) against
    LR on a log axis, with the steepest and valley suggestions marked; the y range runs from
    the lowest loss up to 2x the first smoothed loss, so the divergence is cut off. Saved at
    ``path``; returns the path."""
    path = check_output(path)
    fig = _figure(7, 4.5)
    ax = fig.add_subplot()
    lrs = np.asarray(result.lrs)
    ax.plot(lrs, result.losses, color="C0", alpha=0.25, lw=1, label="loss")
    ax.plot(lrs, result.smoothed, color="C0", lw=2, label="smoothed loss")
    sm = np.asarray(result.smoothed)
    for name, lr, color in (("steepest", result.steepest, "C1"), ("valley", result.valley, "C2")):
        if lr is not None:
            k = int(np.argmin(np.abs(np.log(lrs) - math.log(lr))))
            ax.axvline(lr, color=color, ls="--", lw=1)
            ax.plot([lr], [sm[k]], "o", color=color, label=f"{name}: {lr:.2e}")
    ax.set_xscale("log")
    finite = sm[np.isfinite(sm)]
    if len(finite):
        raw = np.asarray(result.losses)
        lo = min(finite.min(), raw[np.isfinite(raw)].min(initial=finite.min()))
        hi = min(finite.max(), 2 * finite[0]) if finite[0] > 0 else finite.max()
        pad = 0.05 * (hi - lo) or 0.05 * abs(hi) or 0.05
        ax.set_ylim(lo - pad, max(hi, lo) + pad)
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    sug = f"{result.suggested_lr:.2e}" if result.suggested_lr is not None else "none"
    ax.set_title(f"LR range test: suggested lr {sug}"
                 + (" (stopped early)" if result.stopped_early else ""))
    ax.legend(loc="best")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return _save(fig, path, dpi=100)
