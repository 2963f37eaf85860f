"""The progress display: bars on a terminal that keep their numbers at 80 columns, plain
lines per epoch elsewhere."""

import io
import re

from rich.console import Console

from lrlab.cli.progress import TrainingProgress, describe
from lrlab.training.records import Progress, TrialStatus

ANSI = re.compile(r"\x1b\[[0-9;?]*[a-zA-Z]")


def _events():
    return [Progress("cosine-seed0", 0, 2, 1, 4, 0.05, loss=2.0),
            Progress("cosine-seed0", 1, 2, 2, 4, 0.05, loss=1.5, val_loss=1.25, val_acc=0.5),
            Progress("cosine-seed0", 1, 2, 3, 4, 0.025, loss=1.0),
            Progress("cosine-seed0", 2, 2, 4, 4, 0.025, loss=1.0, val_loss=0.75, val_acc=0.75),
            Progress("cosine-seed0", 2, 2, 4, 4, 0.025, status=TrialStatus.FINISHED)]


def test_plain_lines_per_epoch_when_not_a_terminal():
    buf = io.StringIO()
    with TrainingProgress(["cosine-seed0"], Console(file=buf, force_terminal=False, width=80)) as show:
        for e in _events():
            show(e)
    assert buf.getvalue().splitlines() == [
        "cosine-seed0  epoch 1/2  loss 1.5000  val acc 0.5000  lr 0.05",
        "cosine-seed0  epoch 2/2  loss 1.0000  val acc 0.7500  lr 0.025",
        "cosine-seed0  epoch 2/2  lr 0.025  finished"]
    buf = io.StringIO()
    with TrainingProgress(["a", "cosine-seed0"], Console(file=buf, force_terminal=False)) as show:
        show(_events()[1])
    assert buf.getvalue() == "[trial 2/2] cosine-seed0  epoch 1/2  loss 1.5000  val acc 0.5000  lr 0.05\n"


def test_bars_keep_their_counts_and_times_at_80_columns():
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=80)
    with TrainingProgress(["cosine-seed0", "a-much-longer-trial-name-seed1"], console) as show:
        for e in _events()[:4]:
            show(e)
    frame = ANSI.sub("", buf.getvalue()).split("\r")[-1].splitlines()
    row = next(line for line in frame if line.startswith("cosine-seed0"))
    assert "4/4" in row and "epoch 2/2" in row and "0:00:0" in row


def test_describe_regression_and_divergence():
    e = Progress("t", 1, 3, 5, 15, 0.1, loss=0.5, val_loss=0.25, status=TrialStatus.DIVERGED)
    assert describe(e) == "epoch 1/3  loss 0.5000  val loss 0.2500  lr 0.1  diverged"


def test_an_overall_bar_above_the_trial_that_trains():
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=100)
    with TrainingProgress(["cosine-seed0", "step-seed0"], console) as show:
        for e in _events():
            show(e)
        show(Progress("step-seed0", 0, 2, 1, 4, 0.05, loss=2.0))
    frame = ANSI.sub("", buf.getvalue()).split("\r")[-1].splitlines()  # the last frame drawn
    assert frame[0].startswith("all trials") and "1/2 done" in frame[0]
    assert frame[1].startswith("step-seed0") and "1/4" in frame[1]
    assert not any(line.startswith("cosine-seed0") for line in frame)  # finished: gives way


def test_a_population_training_together_shows_three_bars_and_moves_the_overall_bar():
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=100)
    names = [f"t{i}-seed0" for i in range(5)]
    with TrainingProgress(names, console) as show:
        for n in names:  # every trial one step of four: a quarter of each done
            show(Progress(n, 0, 2, 1, 4, 0.05, loss=2.0))
        show(Progress("t0-seed0", 2, 2, 4, 4, 0.05, status=TrialStatus.FINISHED))
        show(Progress("t4-seed0", 0, 2, 2, 4, 0.05, loss=1.0))
    frame = ANSI.sub("", buf.getvalue()).split("\r")[-1].splitlines()
    # one count: trials ended of all (the bar itself follows the steps: 1 + 4 x 1/4 (+1/4) of 5)
    assert frame[0].startswith("all trials") and "1/5 done" in frame[0]
    assert "last: t0-seed0 finished" in frame[0] and "2/5" not in frame[0]
    bars = [line.split()[0] for line in frame[1:] if line.strip()]
    assert bars == ["t1-seed0", "t2-seed0", "t4-seed0"]  # at most three; t0's gave way to t4


def test_the_time_left_extrapolates_the_fraction_of_all_steps_done():
    from rich.progress import Task

    from lrlab.cli.progress import _Left

    def left(done, total, elapsed):
        t = Task(0, "all", total=total, completed=done, _get_time=lambda: elapsed)
        t.start_time = 0.0
        return str(_Left().render(t))

    assert left(0, 45, 10.0) == "-:--:--"                   # nothing done yet: no guess
    assert left(4.5, 45, 60.0) == "0:09:00"                 # a tenth in a minute: nine more
    assert left(9, 45, 120.0) == "0:08:00"                  # the same pace: a minute less
    assert left(45, 45, 600.0) == "0:00:00"
