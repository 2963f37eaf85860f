"""``lrlab list`` / ``show`` / ``plot`` (lrlab.cli.schedules), the group's one-line errors, the
console script."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import lrlab
from lrlab.cli import cli
from lrlab.cli.schedules import sparkline, table_steps

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def assert_png(path: Path):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 5000


# ---- text output ---------------------------------------------------------------------------
def test_sparkline_and_table_steps():
    assert sparkline([1.0, 0.5, 0.0]) == "█▅▁"
    assert sparkline([0.2] * 4) == "████" and sparkline([0.0] * 3) == "▁▁▁"
    assert len(sparkline(list(range(1000)), width=40)) == 40
    assert table_steps(1) == [0]
    assert table_steps(5) == [0, 1, 2, 3, 4]
    steps = table_steps(1000)
    assert len(steps) == 10 and steps[0] == 0 and steps[-1] == 999


# ---- list ---------------------------------------------------------------------------------
def test_list_names_every_schedule_and_class():
    r = run("list")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    for name in lrlab.names():
        assert any(line.split()[0] == name for line in lines if line and not line[0].isspace()), name
    for alias in lrlab.names(aliases=True):
        assert alias in r.output
    assert "total_steps" in r.output and "REQUIRED" in r.output
    torch_line = next(line for line in lines if line.startswith("--torch classes"))
    paddle_line = next(line for line in lines if line.startswith("--paddle classes"))
    assert "StepLR" in torch_line and "StepDecay" in paddle_line


# ---- show ---------------------------------------------------------------------------------
def test_show_step_values():
    r = run("show", "step", "-p", "base_lr=1", "-p", "step_size=2", "-p", "gamma=0.5", "--steps", 10)
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[1] == "██▄▄▂▂▁▁▁▁"
    table = dict(line.split() for line in lines[3:13])
    assert table == {str(k): f"{0.5 ** (k // 2):g}" for k in range(10)}
    assert lines[-1] == "min 0.0625 at step 8, max 1 at step 0"


def test_show_binds_relative_lengths_and_samples_ten_steps():
    r = run("show", "cosine", "-p", "base_lr=0.1", "-p", "total_steps=50%", "--steps", 200)
    assert r.exit_code == 0, r.output
    assert "total_steps=100" in r.output.splitlines()[0]
    rows = [line.split() for line in r.output.splitlines()[3:-1]]
    assert len(rows) == 10 and rows[0] == ["0", "0.1"] and rows[-1] == ["199", "0"]
    assert set(r.output.splitlines()[1]) <= set("▁▂▃▄▅▆▇█")


def test_show_framework_classes():
    r = run("show", "--torch", "StepLR", "--lr", 1, "-p", "step_size=3", "--steps", 7)
    assert r.exit_code == 0, r.output
    assert [line.split()[1] for line in r.output.splitlines()[3:10]] == \
        ["1", "1", "1", "0.1", "0.1", "0.1", "0.01"]
    r = run("show", "--paddle", "StepDecay", "-p", "learning_rate=0.5", "-p", "step_size=1",
            "-p", "gamma=0.5", "--steps", 3)
    assert r.exit_code == 0, r.output
    assert [line.split()[1] for line in r.output.splitlines()[3:6]] == ["0.5", "0.25", "0.125"]


def test_show_nested_schedule_and_single_milestone():
    cfg = '{"name": "cosine", "base_lr": 0.1, "total_steps": "100%"}'
    r = run("show", "warmup", "-p", f"schedule={cfg}", "-p", "warmup_steps=10%", "--steps", 100)
    assert r.exit_code == 0, r.output
    assert "max 0.1 at step 10" in r.output
    r = run("show", "multistep", "-p", "base_lr=1", "-p", "milestones=3", "--steps", 5)
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[-1] == "min 0.1 at step 3, max 1 at step 0"


# ---- --lr: the reference LR ------------------------------------------------------------------
def table(output):
    """``{step: lr}`` of show's table."""
    return {int(k): float(v) for k, v in (line.split() for line in output.splitlines()[3:-1])}


def test_show_space_lists_what_tune_searches():
    out = CliRunner().invoke(cli, ["show", "wsd", "--space"])
    assert out.exit_code == 0, out.output
    assert out.output.splitlines()[1:4] == [
        "  lr             log-uniform  lr x 0.03333 .. lr x 30  (--lr-range)",
        "  warmup_steps   percent      1% .. 10%",
        "  decay_steps    percent      10% .. 50%"]
    out = CliRunner().invoke(cli, ["show", "cosine", "--space"])
    assert "(no parameter of its own: only the LR)" in out.output


def test_show_lr_gives_trains_defaults():
    by_lr = run("show", "cosine", "--lr", 0.1, "--steps", 10)
    by_params = run("show", "cosine", "-p", "base_lr=0.1", "-p", "total_steps=10", "--steps", 10)
    assert by_lr.exit_code == 0 and by_params.exit_code == 0, (by_lr.output, by_params.output)
    assert by_lr.output == by_params.output
    assert by_lr.output.splitlines()[0] == "cosine(base_lr=0.1, total_steps=10), 10 steps"
    assert {k: round(v, 6) for k, v in table(by_lr.output).items()} == {
        0: 0.1, 1: 0.097553, 2: 0.090451, 3: 0.079389, 4: 0.065451, 5: 0.05, 6: 0.034549,
        7: 0.020611, 8: 0.009549, 9: 0.002447}


def test_show_lr_params_override_and_aliases():
    r = run("show", "steplr", "--lr", 1, "-p", "gamma=0.5", "--steps", 10)  # x0.5 every 30 %
    assert r.exit_code == 0, r.output
    assert table(r.output) == {k: 0.5 ** min(k // 3, 3) for k in range(10)}
    r = run("show", "one_cycle", "--lr", 0.5, "--steps", 100)  # peaks at --lr, 30 % in
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[-1].endswith("max 0.5 at step 29")


def test_show_lr_of_framework_classes():
    # torch: the optimizer LR, 0.1 when not given
    r = run("show", "--torch", "StepLR", "-p", "step_size=2", "-p", "gamma=0.5", "--steps", 4)
    assert r.exit_code == 0, r.output
    assert table(r.output) == {0: 0.1, 1: 0.1, 2: 0.05, 3: 0.05}
    # paddle: learning_rate; a given learning_rate wins
    r = run("show", "--paddle", "StepDecay", "--lr", 0.5, "-p", "step_size=1", "-p", "gamma=0.5",
            "--steps", 3)
    assert r.exit_code == 0, r.output
    assert "learning_rate=0.5" in r.output.splitlines()[0]
    assert table(r.output) == {0: 0.5, 1: 0.25, 2: 0.125}
    r = run("show", "--paddle", "StepDecay", "-p", "learning_rate=1", "-p", "step_size=1",
            "-p", "gamma=0.5", "--lr", 0.5, "--steps", 3)
    assert r.exit_code == 0, r.output
    assert table(r.output) == {0: 1.0, 1: 0.5, 2: 0.25}


def test_plot_lr_for_every_kind_of_curve(tmp_path):
    out = tmp_path / "lr.png"
    r = run("plot", "cosine", "one_cycle", "step", "--torch", "StepLR", "--paddle", "StepDecay",
            "-p", "StepLR.step_size=30", "-p", "StepDecay.step_size=30", "--lr", 0.1,
            "--steps", 100, "-o", out)
    assert r.exit_code == 0, r.output
    assert r.output == f"wrote {out}\n"
    assert_png(out)


def test_show_and_plot_describe_lr_the_same_way():
    def lr_help(cmd):
        text = run(cmd, "--help").output
        return " ".join(text[text.index("--lr FLOAT"):].split("--steps")[0].split())
    assert lr_help("show") == lr_help("plot")
    assert "Reference LR" in lr_help("show") and "learning_rate" in lr_help("show")


# ---- plot ---------------------------------------------------------------------------------
def test_plot_one(tmp_path):
    out = tmp_path / "one.png"
    r = run("plot", "cosine", "-p", "base_lr=0.1", "-p", "total_steps=100%", "--steps", 100, "-o", out)
    assert r.exit_code == 0, r.output
    assert_png(out)


def test_plot_several_with_scoped_params(tmp_path):
    out = tmp_path / "many.png"
    r = run("plot", "cosine", "one_cycle", "step", "-p", "base_lr=0.1", "-p", "max_lr=0.1",
            "-p", "total_steps=100%", "-p", "step_size=30", "-p", "cosine.min_lr=0.01",
            "--steps", 120, "-o", out)
    assert r.exit_code == 0, r.output
    assert_png(out)


@pytest.mark.parametrize("args", [
    ["--torch", "StepLR", "-p", "step_size=5", "--lr", "0.05"],
    ["--paddle", "StepDecay", "-p", "learning_rate=0.1", "-p", "step_size=5"],
    ["step", "--torch", "StepLR", "--paddle", "StepDecay", "-p", "step.base_lr=0.1",
     "-p", "learning_rate=0.1", "-p", "step_size=5"],
])
def test_plot_framework_classes(tmp_path, args):
    out = tmp_path / "fw.png"
    r = run("plot", *args, "--steps", 30, "-o", out)
    assert r.exit_code == 0, r.output
    assert_png(out)


def keep_figures(monkeypatch, builder: str) -> list:
    """The figures that ``lrlab.plots.<builder>`` returns while the test runs."""
    from lrlab import plots

    figures, draw = [], getattr(plots, builder)

    def keep(*args, **kwargs):
        figures.append(draw(*args, **kwargs))
        return figures[-1]

    monkeypatch.setattr(plots, builder, keep)
    return figures


def test_plot_log_scale(tmp_path, monkeypatch):
    figures = keep_figures(monkeypatch, "curves_figure")
    for flag, scale in (["--log"], "log"), ([], "linear"):
        out = tmp_path / f"noam{scale}.png"
        r = run("plot", "noam", "cosine", "--lr", 0.1, "--steps", 1000, *flag, "-o", out)
        assert r.exit_code == 0, r.output
        assert_png(out)
        assert figures[-1].axes[0].get_yscale() == scale and len(figures[-1].axes[0].lines) == 2


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run folder of two finished 2-epoch digits trials."""
    from lrlab.experiments.runfolder import RunFolder
    from lrlab.training.engines import train_population
    from lrlab.training.tasks import load_task
    from lrlab.training.trial import TrialConfig

    out = tmp_path_factory.mktemp("run")
    with RunFolder(out) as sink:
        train_population(load_task("digits"), [TrialConfig(schedule="cosine", epochs=2),
                                               TrialConfig(schedule="noam", epochs=2)], sink)
    return out


def test_plot_run_folder(run_dir, tmp_path, monkeypatch):
    figures = keep_figures(monkeypatch, "run_figure")
    out = tmp_path / "run.png"
    r = run("plot", "--run", run_dir, "--log", "-o", out)
    assert r.exit_code == 0, r.output
    assert r.output == f"wrote {out}\n"
    assert_png(out)
    [fig] = figures
    ax_lr, ax_loss, ax_acc = fig.axes
    assert [a.get_yscale() for a in fig.axes] == ["log", "log", "linear"]
    assert len(ax_lr.lines) == 2 and len(ax_loss.lines) == 4 and len(ax_acc.lines) == 2
    steps = (run_dir / "cosine-seed0" / "steps.csv").read_text().splitlines()[1:]
    lrs = [float(row.split(",")[2]) for row in steps]
    np.testing.assert_array_equal(ax_lr.lines[0].get_ydata(), lrs)
    assert len(ax_acc.lines[1].get_xdata()) == 2               # two epochs
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert texts == ["cosine-seed0", "noam-seed0", "train loss", "val loss"]
    # one trial's folder works too
    r = run("plot", "--run", run_dir / "noam-seed0", "-o", tmp_path / "one.png")
    assert r.exit_code == 0, r.output
    assert len(figures[-1].axes[0].lines) == 1


def test_plot_run_with_an_unfinished_trial(run_dir, tmp_path, monkeypatch):
    import shutil

    figures = keep_figures(monkeypatch, "run_figure")
    run_copy = tmp_path / "run"
    shutil.copytree(run_dir, run_copy)
    trial = run_copy / "noam-seed0"
    (trial / "summary.json").unlink()                        # as if killed in its 2nd epoch
    epochs = (trial / "epochs.jsonl").read_text().splitlines(keepends=True)
    (trial / "epochs.jsonl").write_text(epochs[0] + epochs[1][:10])     # a cut line is left out
    steps = (trial / "steps.csv").read_text().splitlines(keepends=True)
    (trial / "steps.csv").write_text("".join(steps[:25]) + steps[25][:5])
    r = run("plot", "--run", run_copy, "-o", tmp_path / "u.png")
    assert r.exit_code == 0, r.output
    [fig] = figures
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert texts[:2] == ["cosine-seed0", "noam-seed0 (unfinished)"]
    assert len(fig.axes[0].lines[1].get_ydata()) == 24             # complete step rows
    assert len(fig.axes[1].lines[3].get_ydata()) == 1              # complete epoch lines
    (trial / "epochs.jsonl").unlink()                        # not started: nothing to draw
    (trial / "steps.csv").unlink()
    r = run("plot", "--run", run_copy, "-o", tmp_path / "v.png")
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("args, expected", [
    (["--run", "{tmp}", "-o", "x.png"], "is not a run: no config.json"),
    (["--run", "{tmp}/nope", "-o", "x.png"], "is not a run"),
    (["--run", "{run}", "cosine", "-o", "x.png"], "--run plots a run folder's records; drop schedule NAMES"),
    (["--run", "{run}", "--steps", "10", "--lr", "0.1", "-o", "x.png"], "drop --lr, --steps"),
    (["--run", "{run}", "-o", "x.txt"], "unknown image format 'txt'"),
    (["--run", "{run}", "-o", "{tmp}/no/dir/x.png"], "no folder"),
    (["--run", "{run}"], "Missing option '-o'"),
    (["cosine", "--lr", "0.1", "-o", "x.png"], "Missing option '--steps'"),
    (["--run", "{bad}", "-o", "x.png"], "summary.json: not a readable lrlab summary"),
])
def test_plot_run_errors_are_one_line_and_write_nothing(args, expected, run_dir, tmp_path,
                                                        monkeypatch, one_line_error):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(run_dir / "cosine-seed0", bad / "cosine-seed0")
    (bad / "cosine-seed0" / "summary.json").write_text("{")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    fill = dict(tmp=work, run=run_dir, bad=bad)
    one_line_error(run("plot", *[a.format(**fill) for a in args]), expected)
    assert not list(work.iterdir())


# ---- errors -------------------------------------------------------------------------------
COSINE = ["-p", "base_lr=0.1", "-p", "total_steps=10"]


@pytest.mark.parametrize("args, expected", [
    (["show", "cosin", "--steps", "10"], "did you mean cosine"),
    (["show", "cosine", "-p", "base_lr=0.1", "-p", "total_steps=0", "--steps", "10"],
     "cosine: total_steps must be"),
    (["show", "cosine", *COSINE, "-p", "total_stepz=3", "--steps", "10"], "unknown parameter 'total_stepz'"),
    (["show", "cosine", "-p", "base_lr=0.1", "--steps", "10"], "missing required parameter(s) total_steps"),
    (["show", "cosine", *COSINE], "Missing option '--steps'"),
    (["show", "cosine", *COSINE, "--steps", "0"], "--steps"),
    (["show", "cosine", "-p", "base_lr", "--steps", "3"], "expected KEY=VALUE"),
    (["show", "cosine", "-p", "x=[1,", "--steps", "3"], "not valid JSON"),
    (["show", "lambda", "-p", "base_lr=1", "--steps", "3"], "Python-API only"),
    (["show", "cyclic", "-p", "scale_fn=abs", "--steps", "3"], "Python-API only"),
    (["show", "--steps", "3"], "exactly one curve"),
    (["show", "step", "--torch", "StepLR", "--steps", "3"], "exactly one curve"),
    (["show", "--torch", "NoSuchLR", "--steps", "3"], "unknown class 'NoSuchLR'"),
    (["show", "--torch", "StepLR", "--steps", "3"], "step_size"),
    (["show", "--paddle", "OneCycleLR", "-p", "total_steps=3", "--lr", "1", "--steps", "3"],
     "max_learning_rate"),
    (["show", "cosine", "--lr", "0.1", "-p", "total_steps=0", "--steps", "10"],
     "cosine: total_steps must be"),
    (["show", "cosine", "-p", "base_lr=0.1", "-p", "total_steps=10", "--steps", 10 ** 13],
     "'--steps' / '-n': 10000000000000 is not in the range 1<=x<=100000000"),
    (["show", "cosine", "--lr", "0.1", "--steps", 10 ** 30], "--steps"),
    (["show", "--torch", "CosineAnnealingLR", "-p", "T_max=10", "--steps", 10 ** 30], "--steps"),
    (["plot", "cosine", *COSINE, "--steps", 10 ** 30, "-o", "x.png"], "--steps"),
    (["show", "cosine", "--lr", "0.1", "--steps", "10**30"], "--steps"),
    (["plot", "cosine", *COSINE, "--steps", "10", "-o", "x.txt"], "unknown image format 'txt'"),
    (["plot", "cosine", "step", *COSINE, "-p", "foo=1", "--steps", "10", "-o", "x.png"], "'foo'"),
    (["plot", "cosine", *COSINE, "-p", "linear.gamma=2", "--steps", "10", "-o", "x.png"],
     "no curve named 'linear'"),
    (["plot", "cosine", *COSINE, "--steps", "10", "-o", "/no/such/dir/x.png"],
     "cannot write '/no/such/dir/x.png': no folder '/no/such/dir'"),
    (["plot", "cosine", *COSINE, "--steps", "10"], "Missing option '-o'"),
    (["plot", "--steps", "10", "-o", "x.png"], "give a schedule NAME"),
    (["show", "cosine", "--nope"], "No such option"),
    (["nope"], "No such command"),
])
def test_errors_are_one_line_exit_2(args, expected, tmp_path, monkeypatch, one_line_error):
    monkeypatch.chdir(tmp_path)
    one_line_error(run(*args), expected)
    assert not list(tmp_path.iterdir())


def test_help_and_version():
    for args in (["--help"], ["list", "--help"], ["show", "--help"], ["plot", "--help"]):
        r = run(*args)
        assert r.exit_code == 0 and "Usage: " in r.output and r.stderr == ""
    r = run("--version")
    assert r.exit_code == 0 and lrlab.__version__ in r.output


# ---- the real console script ---------------------------------------------------------------
def test_console_script_subprocess(tmp_path):
    script = Path(sys.executable).with_name("lrlab")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "lrlab"]
    ok = subprocess.run(cmd + ["plot", "step", "-p", "base_lr=1", "-p", "step_size=2", "--steps", "8",
                               "-o", str(tmp_path / "s.png")], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert_png(tmp_path / "s.png")
    bad = subprocess.run([sys.executable, "-m", "lrlab", "show", "cosine", "--steps", "5"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr == "lrlab: error: cosine: missing required parameter(s) base_lr, total_steps\n"


def test_framework_classes_take_nested_schedule_configs():
    r = run("show", "--paddle", "LinearWarmup", "-p",
            'learning_rate={"name": "from_paddle", "class_name": "StepDecay", '
            '"kwargs": {"learning_rate": 1.0, "step_size": 2, "gamma": 0.5}}',
            "-p", "warmup_steps=2", "-p", "start_lr=0.0", "-p", "end_lr=1.0", "--steps", 6)
    assert r.exit_code == 0, r.output
    expect = lrlab.from_paddle("LinearWarmup", learning_rate=lrlab.from_paddle(
        "StepDecay", learning_rate=1.0, step_size=2, gamma=0.5), warmup_steps=2, start_lr=0.0, end_lr=1.0)
    table = [line.split() for line in r.output.splitlines() if line.strip()[:1].isdigit()]
    assert [float(v) for _, v in table] == pytest.approx(expect.curve(6).tolist())


def test_list_shows_plateau_for_train():
    out = run("list").output
    assert "plateau  (lrlab train only" in out and "    monitor " in out
