"""``lrlab.plots``: figures written to files, and one-line errors for paths it cannot write."""

import math
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from lrlab import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class FinderResult(SimpleNamespace):
    """An LRFinderResult-like value without torch (plots reads its fields and ``rules()``)."""

    def rules(self):
        return {self.rule: self.suggested_lr, "minimum": self.minimum, "steepest": self.steepest,
                "valley": self.valley}


def finder_result(**changes):
    lrs = np.geomspace(1e-4, 1.0, 9).tolist()
    fields = dict(lrs=lrs, losses=[2.3, 2.3, 2.2, 2.0, 1.6, 1.1, 0.9, 1.5, math.inf],
                  smoothed=[2.3, 2.3, 2.25, 2.1, 1.8, 1.4, 1.1, 1.2, math.inf],
                  suggested_lr=lrs[2], rule="minimum/10", minimum=lrs[6], steepest=lrs[4],
                  valley=lrs[5], stopped_early=True)
    return FinderResult(**{**fields, **changes})


def record(name, steps=6, epochs=3, acc=True, **changes):
    """A TrialRecord-like value (plots reads .name, .lrs, .epochs)."""
    eps = [dict(epoch=e, train_loss=1.0 / (e + 1), train_acc=0.5, val_loss=1.2 / (e + 1),
                val_acc=(0.5 + 0.1 * e) if acc else None, lr=0.1, seconds=0.1)
           for e in range(epochs)]
    return SimpleNamespace(**{"name": name, "lrs": [0.1 / (k + 1) for k in range(steps)],
                              "losses": [1.0] * steps, "epochs": eps, **changes})


def legend_clear_of_axes(fig):
    """The figure's legend lies inside the figure and overlaps none of its axes."""
    fig.canvas.draw()
    [legend] = fig.legends
    box = legend.get_window_extent()
    assert fig.bbox.x0 <= box.x0 and box.x1 <= fig.bbox.x1 and fig.bbox.y0 <= box.y0
    for ax in fig.axes:
        assert not box.overlaps(ax.get_window_extent()), ax.get_title()
    return legend


@pytest.mark.parametrize("suffix, magic", [(".png", PNG_MAGIC), (".svg", b"<?xml"), (".pdf", b"%PDF")])
def test_curves_writes_the_format_of_the_suffix(tmp_path, suffix, magic):
    x = np.arange(20)
    out = plots.curves([("constant", np.full(20, 0.1)), ("linear", 0.1 - 0.005 * x)], 20,
                       tmp_path / f"lr{suffix}")
    assert out == tmp_path / f"lr{suffix}"
    assert out.read_bytes().startswith(magic)


def test_curves_one_curve_and_a_title(tmp_path):
    out = plots.curves([("step", np.array([1.0, 1.0, 0.5]))], 3, str(tmp_path / "a.png"), title="t")
    assert out.read_bytes()[:8] == PNG_MAGIC


def test_curves_log_scale_and_a_legend_below_the_axes():
    x = np.arange(100)
    noam = [("noam(d_model=512, warmup_steps=10)", 512 ** -0.5 * np.minimum((x + 1) ** -0.5,
                                                                         (x + 1) * 10 ** -1.5))]
    fig = plots.curves_figure(noam, 100, log=True)
    [ax] = fig.axes
    assert ax.get_yscale() == "log" and len(ax.lines) == 1 and not fig.legends   # one: title
    assert plots.curves_figure(noam, 100).axes[0].get_yscale() == "linear"
    many = [(f"cosine(base_lr={k / 100}, total_steps=100, min_lr=0.001)", np.full(100, k / 100))
            for k in range(1, 26)]
    fig = plots.curves_figure(many, 100, log=True)
    assert len(fig.axes[0].lines) == 25
    legend = legend_clear_of_axes(fig)
    assert [t.get_text() for t in legend.get_texts()] == [label for label, _ in many]
    # the figure grows with the legend's rows, so the axes keep their height
    assert fig.get_figheight() > plots.curves_figure(many[:2], 100).get_figheight()


def test_a_zero_lr_is_not_drawn_on_a_log_axis(tmp_path):
    warmup = [("linear warmup", np.linspace(0.0, 0.1, 10)), ("constant", np.full(10, 0.1))]
    out = plots.curves(warmup, 10, tmp_path / "w.png", log=True)
    assert out.read_bytes()[:8] == PNG_MAGIC


def test_legend_columns():
    assert plots.legend_columns(["a"] * 30, 8) == 12          # short labels: many columns
    assert plots.legend_columns(["x" * 200], 8) == 1          # never fewer than one
    assert plots.legend_columns([], 8) == 1


def test_run_figure_lr_loss_and_accuracy():
    trials = [record("cosine-seed0"), record("step-seed0", steps=8, epochs=4)]
    fig = plots.run_figure(trials)
    ax_lr, ax_loss, ax_acc = fig.axes
    assert len(ax_lr.lines) == 2 and len(ax_loss.lines) == 4 and len(ax_acc.lines) == 2
    np.testing.assert_array_equal(ax_lr.lines[1].get_xdata(), np.arange(8))
    np.testing.assert_array_equal(ax_lr.lines[1].get_ydata(), trials[1].lrs)
    np.testing.assert_array_equal(ax_loss.lines[3].get_xdata(), [0, 1, 2, 3])   # epochs
    assert ax_loss.lines[3].get_linestyle() == "--"                            # val loss
    np.testing.assert_array_equal(ax_acc.lines[0].get_ydata(), [0.5, 0.6, 0.7])
    assert ax_lr.lines[0].get_color() == ax_loss.lines[0].get_color() == ax_acc.lines[0].get_color()
    assert [a.get_yscale() for a in fig.axes] == ["linear"] * 3
    legend = legend_clear_of_axes(fig)
    assert [t.get_text() for t in legend.get_texts()] == ["cosine-seed0", "step-seed0",
                                                          "train loss", "val loss"]
    fig = plots.run_figure(trials, log=True)
    assert [a.get_yscale() for a in fig.axes] == ["log", "log", "linear"]   # not accuracy


def test_run_figure_regression_gaps_and_many_trials():
    gaps = record("diverged", steps=4, epochs=2, acc=False, lrs=[0.1, 0.1, None, None])
    gaps.epochs[1]["val_loss"] = None
    fig = plots.run_figure([gaps])
    assert len(fig.axes) == 2                          # no accuracy: regression
    assert np.isnan(fig.axes[0].lines[0].get_ydata()[2])
    assert np.isnan(fig.axes[1].lines[1].get_ydata()[1])
    fig = plots.run_figure([record(f"cosine-lr{k}-seed{k % 3}") for k in range(30)], log=True)
    assert len(fig.axes[0].lines) == 30
    legend_clear_of_axes(fig)


def test_run_writes_a_png(tmp_path):
    out = plots.run([record("a"), record("b")], tmp_path / "run.png", title="runs")
    assert out.read_bytes()[:8] == PNG_MAGIC


def test_lr_finder_figure(tmp_path):
    out = plots.lr_finder(finder_result(), tmp_path / "f.png")
    assert out.read_bytes()[:8] == PNG_MAGIC
    fig = plots.lr_finder_figure(finder_result())
    [ax] = fig.axes
    assert ax.get_xscale() == "log"
    assert "(minimum/10)" in ax.get_title()
    legend = legend_clear_of_axes(fig)
    texts = [t.get_text() for t in legend.get_texts()]
    assert texts[:2] == ["loss", "smoothed loss"] and len(texts) == 6
    assert texts[2].startswith("minimum/10: ") and texts[2].endswith(" (suggested)")
    no_suggestion = finder_result(steepest=None, valley=None, minimum=None, suggested_lr=None,
                                  stopped_early=False)
    assert plots.lr_finder(no_suggestion, tmp_path / "g.png").read_bytes()[:8] == PNG_MAGIC
    texts = [t.get_text() for t in plots.lr_finder_figure(no_suggestion).legends[0].get_texts()]
    assert texts == ["loss", "smoothed loss"]


@pytest.mark.parametrize("name, expected", [
    ("no/such/dir/x.png", "no folder"),
    ("x.txt", "unknown image format 'txt' (use .png, .svg or .pdf)"),
    ("x", "unknown image format ''"),
])
def test_unwritable_paths_are_one_line_errors_before_drawing(tmp_path, name, expected):
    path = tmp_path / name
    for draw in (lambda: plots.curves([("c", np.ones(3))], 3, path),
                 lambda: plots.lr_finder(finder_result(), path),
                 lambda: plots.run([record("a")], path),
                 lambda: plots.check_output(path)):
        with pytest.raises(ValueError) as e:
            draw()
        assert str(e.value).startswith(f"cannot write {str(path)!r}: ") and expected in str(e.value)
        assert "\n" not in str(e.value)
    assert not path.exists()


def test_an_os_error_is_one_cannot_write_line(tmp_path):
    folder = tmp_path / "a.png"   # a folder where the image should go
    folder.mkdir()
    with pytest.raises(OSError, match=r"^cannot write '.*a\.png': Is a directory$"):
        plots.curves([("c", np.ones(3))], 3, folder)


def test_importing_plots_leaves_pyplot_alone():
    code = "import sys, lrlab.plots; sys.exit('matplotlib.pyplot' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_importing_lrlab_does_not_import_plots():
    code = "import sys, lrlab; sys.exit('lrlab.plots' in sys.modules or 'matplotlib' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
