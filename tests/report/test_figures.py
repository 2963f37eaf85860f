"""The report's figures from plain data: the number of axes, lines, bars and points."""

from matplotlib.collections import PolyCollection
from matplotlib.patches import Rectangle

from lrlab.report import figures as F
from lrlab.stats import rank


def _rows():
    return rank({"cosine": {0: 0.92, 1: 0.94, 2: 0.93},
                 "step": {0: 0.90, 1: 0.91, 2: None},
                 "const": {0: 0.85, 1: 0.86, 2: 0.84},
                 "gone": {0: None}})


def test_lr_grid_one_axes_per_schedule():
    curves = [(f"s{i}", [0.1, 0.05, 0.01]) for i in range(6)] + [("empty", [])]
    fig = F.lr_grid_figure(curves, ncols=4)
    assert len(fig.axes) == 7
    assert [len(ax.lines) for ax in fig.axes] == [1] * 6 + [0]
    assert [ax.get_title() for ax in fig.axes][:2] == ["s0", "s1"]
    assert len(F.lr_grid_figure([]).axes) == 1


def test_metrics_mean_line_and_band_per_schedule():
    ep = lambda a: [{"train_loss": 1 - a, "val_loss": 1.1 - a, "val_acc": a},  # noqa: E731
                    {"train_loss": 0.5 - a, "val_loss": 0.6 - a, "val_acc": a + 0.1}]
    fig = F.metrics_figure([("cosine", [ep(0.1), ep(0.2)]), ("step", [ep(0.3)])])
    assert len(fig.axes) == 3
    assert [len(ax.lines) for ax in fig.axes] == [2, 2, 2]
    bands = [sum(isinstance(c, PolyCollection) for c in ax.collections) for ax in fig.axes]
    assert bands == [1, 1, 1]  # one seed: no band
    mean = fig.axes[0].lines[0].get_ydata()
    assert [round(v, 9) for v in mean] == [0.85, 0.35]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["cosine", "step"]
    regression = F.metrics_figure([("a", [[{"train_loss": 1.0, "val_loss": 1.0, "val_acc": None}]])])
    assert len(regression.axes) == 2


def test_metrics_highlight_the_best_group_and_zoom_on_the_last_epochs():
    ep = lambda a: [{"train_loss": 1 - a * k, "val_loss": 1.1 - a * k, "val_acc": a * k}  # noqa: E731
                    for k in range(10)]
    fig = F.metrics_figure([("best", [ep(0.05), ep(0.06)]), ("rest", [ep(0.01)])], {"best"})
    assert len(fig.axes) == 6  # three metrics, and the same over epochs 8-10
    full, zoom = fig.axes[0], fig.axes[3]
    assert zoom.get_title() == "train loss, epochs 8-10 (zoom)"
    assert [list(ln.get_xdata()) for ln in zoom.lines] == [[8, 9, 10], [8, 9, 10]]
    grey = [ln for ln in full.lines if ln.get_color() == F.OTHER_COLOR]
    assert len(grey) == 1 and len(full.lines) == 2  # 'rest' grey, behind
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["best"]


def test_accuracy_points_with_intervals_on_an_axis_that_spans_the_data():
    rows = _rows()
    fig = F.accuracy_figure(rows)
    ax = fig.axes[0]
    points = [ln for ln in ax.lines if ln.get_marker() == "o"]
    assert len(points) == 3  # 'gone' diverged: named, no point
    assert sorted(round(p.get_xdata()[0], 6) for p in points) == [0.85, 0.905, 0.93]
    intervals = [ln for ln in ax.lines if ln.get_marker() != "o"]
    assert len(intervals) == 3 and all(len(ln.get_xdata()) == 2 for ln in intervals)
    low, high = ax.get_xlim()
    lows = [r["ci_low"] for r in rows if r["ci_low"] is not None]
    highs = [r["ci_high"] for r in rows if r["ci_high"] is not None]
    assert 0.0 < low <= min(lows) and max(highs) <= high <= 1.0  # the data, not 0 to 1
    assert [t.get_text() for t in ax.get_yticklabels()] == ["cosine", "step", "const", "gone"]
    assert not [p for p in ax.patches if isinstance(p, Rectangle) and p.get_width() > 0]


def test_forest_one_point_per_compared_schedule():
    fig = F.forest_figure(_rows())
    ax = fig.axes[0]
    points = [ln for ln in ax.lines if ln.get_marker() == "o"]
    assert len(points) == 3
    assert [t.get_text() for t in ax.get_yticklabels()] == ["cosine (best)", "step", "const"]
    band = [p for p in ax.patches if isinstance(p, Rectangle) or p.__class__.__name__ == "Polygon"]
    assert len(band) == 1  # the critical difference, shaded left of 0
    assert "critical difference" in ax.get_legend().get_texts()[0].get_text()
    assert len(F.forest_figure([]).axes) == 1


def test_figures_render_to_png():
    png = F.png_bytes(F.accuracy_figure(_rows()))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
