"""``lrlab.plots``: figures written to files, and one-line errors for paths it cannot write."""

import math
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from lrlab import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def finder_result(**changes):
    """An LRFinderResult-like value (plots reads only its fields)."""
    lrs = np.geomspace(1e-4, 1.0, 9).tolist()
    fields = dict(lrs=lrs, losses=[2.3, 2.3, 2.2, 2.0, 1.6, 1.1, 0.9, 1.5, math.inf],
                  smoothed=[2.3, 2.3, 2.25, 2.1, 1.8, 1.4, 1.1, 1.2, math.inf],
                  steepest=lrs[4], valley=lrs[5], suggested_lr=lrs[5], stopped_early=True)
    return SimpleNamespace(**{**fields, **changes})


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


def test_lr_finder_figure(tmp_path):
    out = plots.lr_finder(finder_result(), tmp_path / "f.png")
    assert out.read_bytes()[:8] == PNG_MAGIC
    no_suggestion = finder_result(steepest=None, valley=None, suggested_lr=None, stopped_early=False)
    assert plots.lr_finder(no_suggestion, tmp_path / "g.png").read_bytes()[:8] == PNG_MAGIC


@pytest.mark.parametrize("name, expected", [
    ("no/such/dir/x.png", "no folder"),
    ("x.txt", "unknown image format 'txt' (use .png, .svg or .pdf)"),
    ("x", "unknown image format ''"),
])
def test_unwritable_paths_are_one_line_errors_before_drawing(tmp_path, name, expected):
    path = tmp_path / name
    for draw in (lambda: plots.curves([("c", np.ones(3))], 3, path),
                 lambda: plots.lr_finder(finder_result(), path),
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
