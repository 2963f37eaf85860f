"""The report's figures: each builder takes plain data and returns a matplotlib ``Figure``
(object API on an Agg canvas, as :mod:`lrlab.plots`; no pyplot, no global state).

- :func:`lr_grid_figure`: small multiples, one axes per schedule: the LR of every step;
- :func:`metrics_figure`: train loss, val loss and val accuracy per epoch, one line per
  schedule (the mean over seeds) with a band from the lowest to the highest seed;
- :func:`accuracy_figure`: mean test accuracy per schedule, bars with the 95% interval as
  error bars (ties with the best in one colour, the rest in another);
- :func:`forest_figure`: the paired difference of each schedule to the best, with its 95%
  interval, against a line at zero.

    >>> fig = lr_grid_figure([("cosine", [0.1, 0.05, 0.0]), ("step", [0.1, 0.1, 0.01])])
    >>> len(fig.axes), [ax.get_title() for ax in fig.axes]
    (2, ['cosine', 'step'])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from io import BytesIO
from typing import Any

import numpy as np

from ..plots import _figure, _floats, _legend_below

TIE_COLOR = "#2b6cb0"
OTHER_COLOR = "#a0aec0"


def color_of(k: int, n: int):
    """The colour of series ``k`` of ``n``: matplotlib's 10 defaults, or tab20 (then a
    repeat) beyond 10 series."""
    if n <= 10:
        return f"C{k}"
    from matplotlib import colormaps

    return colormaps["tab20"](k % 20)


def png_bytes(fig, dpi: int = 100) -> bytes:
    """The figure as PNG bytes."""
    buf = BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def _empty(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])


# ---- the LR of every schedule ----------------------------------------------------------------
def lr_grid_figure(curves: Sequence[tuple[str, Sequence[float]]], ncols: int = 4):
    """Small multiples: one axes per ``(label, lrs)`` (the LR at steps 0, 1, ...), in
    ``ncols`` columns, each with its own y range (schedules differ in scale); a schedule
    without steps yet says so."""
    n = max(1, len(curves))
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig, _ = _figure(2.6 * ncols + 0.6, 1.9 * nrows + 0.3)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[len(curves):] if curves else axes[1:]:
        fig.delaxes(ax)
    if not curves:
        _empty(axes[0], "no steps stored yet")
        return fig
    for ax, (label, lrs) in zip(axes, curves):
        ax.set_title(label, fontsize="small")
        if not len(lrs):
            _empty(ax, "no steps stored")
            continue
        ax.plot(np.arange(len(lrs)), _floats(lrs), color="C0", lw=1.2, drawstyle="steps-post")
        ax.tick_params(labelsize="x-small")
        ax.grid(alpha=0.3)
        top = np.nanmax(_floats(lrs)) if np.isfinite(_floats(lrs)).any() else 0.0
        ax.set_ylim(0, top * 1.08 if top > 0 else 1.0)  # a line at the top stays visible
    fig.supxlabel("step", fontsize="small")
    fig.supylabel("learning rate", fontsize="small")
    return fig


# ---- curves per epoch --------------------------------------------------------------------
def _band(ax, per_seed: Sequence[Sequence[float | None]], color: str, first: int = 0,
          muted: bool = False):
    """Mean over seeds (per epoch, over the seeds that have it) and a min-max band, from epoch
    ``first`` on; ``muted``: a thin line without band (a schedule outside the best group)."""
    length = max((len(c) for c in per_seed), default=0)
    if not length:
        return None
    grid = np.full((len(per_seed), length), np.nan)
    for i, c in enumerate(per_seed):
        grid[i, :len(c)] = _floats(c)
    grid[~np.isfinite(grid)] = np.nan
    x = np.arange(1, length + 1)
    with np.errstate(all="ignore"):
        have = np.isfinite(grid).any(axis=0)
        mean = np.full(length, np.nan)
        lo = np.full(length, np.nan)
        hi = np.full(length, np.nan)
        mean[have] = np.nanmean(grid[:, have], axis=0)
        lo[have] = np.nanmin(grid[:, have], axis=0)
        hi[have] = np.nanmax(grid[:, have], axis=0)
    x, mean, lo, hi = x[first:], mean[first:], lo[first:], hi[first:]
    if muted:
        (line,) = ax.plot(x, mean, color=color, lw=0.8, alpha=0.8, zorder=1)
        return line
    (line,) = ax.plot(x, mean, color=color, marker=".", lw=1.3, zorder=2)
    if len(per_seed) > 1:
        ax.fill_between(x, lo, hi, color=color, alpha=0.15, lw=0)
    return line


def metrics_figure(series: Sequence[tuple[str, Sequence[Sequence[dict[str, Any]]]]],
                   highlight: set[str] | None = None):
    """Train loss, val loss and (when any trial has one) val accuracy per epoch, and below them
    the same over the last 30 % of the epochs (zoomed: where schedules part ways), when the
    run has at least 4 epochs.

    ``series``: ``[(label, [epochs of seed 1, epochs of seed 2, ...])]``, each seed's epochs a
    list of dicts with ``train_loss``, ``val_loss``, ``val_acc`` (``None``: a gap).
    ``highlight``: the labels drawn in colour (the best group; default: all), each a line for
    the mean over seeds and a band from the lowest to the highest seed; the others are thin
    grey lines behind them. One legend below the axes, for the coloured ones."""
    has_acc = any(e.get("val_acc") is not None for _, seeds in series for s in seeds for e in s)
    keys = [("train_loss", "train loss"), ("val_loss", "val loss")]
    if has_acc:
        keys.append(("val_acc", "val accuracy"))
    highlight = {label for label, _ in series} if highlight is None else set(highlight)
    labels = [label for label, _ in series if label in highlight]
    length = max((len(s) for _, seeds in series for s in seeds), default=0)
    zoom = length >= 4
    fig, ncols = _figure(4.3 * len(keys), 3.6 * (2 if zoom else 1), labels)
    grid = fig.subplots(2 if zoom else 1, len(keys), squeeze=False)
    handles, names = [], []
    first = int(length * 0.7) if zoom else 0
    for k, (label, seeds) in enumerate(series):
        shown = label in highlight
        color = color_of(k, len(series)) if shown else OTHER_COLOR
        line = None
        for row, start in enumerate((0, first)[:grid.shape[0]]):
            for ax, (key, _) in zip(grid[row], keys):
                got = _band(ax, [[e.get(key) for e in s] for s in seeds], color, start,
                            muted=not shown)
                line = line or got
        if line is not None and shown:
            handles.append(line)
            names.append(label)
    from matplotlib.ticker import MaxNLocator

    for row, axes in enumerate(grid):
        for ax, (key, title) in zip(axes, keys):
            where = f", epochs {first + 1}-{length} (zoom)" if row else " per epoch"
            ax.set_title(f"{title}{where}", fontsize="small")
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if not ax.lines:
                _empty(ax, "no epochs stored yet")
    fig.suptitle("mean over seeds, band from the lowest to the highest seed"
                 + ("; grey: outside the best group" if len(labels) < len(series) else ""),
                 fontsize="small")
    _legend_below(fig, handles, names, ncols)
    return fig


# ---- test accuracy -----------------------------------------------------------------------
def accuracy_figure(rows: Sequence[dict[str, Any]]):
    """Mean test accuracy per schedule (rows of ``stats.rank``, best first) as points with
    their Student-t 95% interval (none with one seed, none drawn when of zero width) on an
    axis that spans the data; the best group in blue, the others grey; a schedule without a
    finite accuracy is named, with no point."""
    n = max(1, len(rows))
    fig, _ = _figure(8, 0.9 + 0.32 * n)
    ax = fig.subplots()
    if not rows:
        _empty(ax, "no schedules")
        return fig
    y = np.arange(len(rows))[::-1]
    means = [r["test_acc_mean"] for r in rows]
    ok = [i for i, m in enumerate(means) if m is not None]
    lows = [rows[i]["ci_low"] if rows[i].get("ci_low") is not None else means[i] for i in ok]
    highs = [rows[i]["ci_high"] if rows[i].get("ci_high") is not None else means[i] for i in ok]
    if ok:  # points with their intervals on an axis that spans the data (not 0 to 1)
        for i, lo, hi in zip(ok, lows, highs):
            color = TIE_COLOR if rows[i]["tied_with_best"] else OTHER_COLOR
            if hi > lo:
                ax.plot([lo, hi], [y[i], y[i]], color=color, lw=2)
            ax.plot([means[i]], [y[i]], "o", color=color, ms=6)
        span = max(max(highs) - min(lows), 0.002)
        ax.set_xlim(max(0.0, min(lows) - 0.08 * span), min(1.0, max(highs) + 0.08 * span))
    for i, r in enumerate(rows):
        if r["test_acc_mean"] is None:
            ax.text(0.01, y[i], "no finite test accuracy (diverged or not finished)",
                    va="center", fontsize="x-small", color="0.35", transform=ax.get_yaxis_transform())
    ax.set_yticks(y, [r["name"] for r in rows], fontsize="small")
    ax.xaxis.set_major_formatter(lambda v, _: f"{100 * v:.1f}%")
    ax.set_xlabel("test accuracy: mean over seeds, 95% Student-t interval within [0, 1]")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title("test accuracy per schedule (blue: the best group)", fontsize="medium")
    return fig


# ---- paired differences ------------------------------------------------------------------
def forest_figure(rows: Sequence[dict[str, Any]]):
    """The paired difference of each schedule to the best (``diff_mean`` with its simultaneous
    interval ``diff_ci_low .. diff_ci_high``, rows of ``stats.rank``) as a forest plot: one
    point per schedule with a paired difference (the best itself at 0), a vertical line at 0
    and a shaded band of the run's critical difference (a gap inside it is not resolved)."""
    rows = [r for r in rows if r.get("diff_mean") is not None]
    fig, _ = _figure(8, 0.9 + 0.32 * max(1, len(rows)))
    ax = fig.subplots()
    if not rows:
        _empty(ax, "no paired differences (no finished, finite trials)")
        return fig
    y = np.arange(len(rows))[::-1]
    for yi, r in zip(y, rows):
        color = TIE_COLOR if r["tied_with_best"] else "#c05621"
        if r.get("diff_ci_low") is not None:
            ax.plot([r["diff_ci_low"], r["diff_ci_high"]], [yi, yi], color=color, lw=1.5)
        ax.plot([r["diff_mean"]], [yi], "o", color=color, ms=5)
    ax.axvline(0.0, color="0.3", lw=1, ls="--")
    cd = rows[0].get("critical_difference") if rows[0]["is_best"] else None
    if cd:
        ax.axvspan(-cd, 0.0, color=TIE_COLOR, alpha=0.12, lw=0,
                   label=f"critical difference ({100 * cd:.2f} points)")
        ax.legend(loc="lower left", fontsize="x-small", frameon=False)
    ax.set_yticks(y, [r["name"] + (" (best)" if r["is_best"] else "") for r in rows],
                  fontsize="small")
    ax.xaxis.set_major_formatter(lambda v, _: f"{100 * v:+.1f}")
    ax.set_xlabel("test accuracy minus the best's, points, paired by seed "
                  "(Tukey simultaneous 95% intervals)")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title("gap to the best (blue: the best group, not told apart)", fontsize="medium")
    return fig


def tuning_figure(curves: Sequence[tuple[str, Sequence[dict[str, float]]]], budget: int | None):
    """Each schedule's tuning curve (``stats.tuning_curve``: the expected best validation
    accuracy among ``k`` of its trials, with its 90 % band) against ``k``, at the first rung's
    budget of ``budget`` epochs: where a curve still climbs at the right, more trials would
    still have found better configurations."""
    curves = [(label, c) for label, c in curves if c]
    fig, ncols = _figure(8, 4.2, [label for label, _ in curves])
    ax = fig.subplots()
    if not curves:
        _empty(ax, "no tuning trial with a finite validation score")
        return fig
    for i, (label, c) in enumerate(curves):
        color = color_of(i, len(curves))
        k = [r["k"] for r in c]
        ax.plot(k, [r["mean"] for r in c], color=color, lw=1.5, label=label)
        ax.fill_between(k, [r["low"] for r in c], [r["high"] for r in c], color=color,
                        alpha=0.12, lw=0)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trials of the schedule (drawn at random from its tuning trials)")
    ax.set_ylabel("best validation accuracy" + (f" after {budget} epochs" if budget else ""))
    ax.grid(alpha=0.3)
    _legend_below(fig, *ax.get_legend_handles_labels(), ncols)
    ax.set_title("tuning curves: expected best of k trials, 90% band", fontsize="medium")
    return fig
