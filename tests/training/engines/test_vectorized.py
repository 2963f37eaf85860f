"""The vectorised engine: the sequential engine's records up to summation order (identical LR
sequences), trials that do not disturb each other, per-trial stopping, checkpoints either engine
resumes, and the fallback for a model it cannot stack."""

import logging
import math
from dataclasses import replace

import pytest
import torch
from torch import nn

from lrlab.experiments.runfolder import RunFolder
from lrlab.training.engines import ENGINES, sequential, train_population, vectorized
from lrlab.training.plan import make_plan
from lrlab.training.records import TrialStatus
from lrlab.training.tasks import MLP, Split, Task
from lrlab.training.trial import TrialConfig

from .test_sequential import Spy, strip


def both(task, cfgs, **kw):
    return (sequential.train_population(task, cfgs, **kw),
            vectorized.train_population(task, cfgs, **kw))


ACC_TOL = 0.012  # accuracies within a few test examples (4 of the 360 digits test images)


def close(a, b, tol=1e-4):
    """Records equal but for float rounding: same LRs and statuses, losses within ``tol``, test
    accuracies within a few examples (a rounding difference flips an example near the
    boundary, by CPU and thread partition)."""
    assert a.name == b.name and a.status == b.status and a.lrs == b.lrs
    assert len(a.epochs) == len(b.epochs) and a.best_epoch == b.best_epoch
    assert a.diverged_step == b.diverged_step
    for x, y in zip(a.losses, b.losses):
        assert (x is None) == (y is None) and (x is None or math.isclose(x, y, rel_tol=tol, abs_tol=tol))
    for key, t in (("test_acc", max(tol, ACC_TOL)), ("test_loss", tol)):
        x, y = getattr(a, key), getattr(b, key)
        assert (x is None) == (y is None) and (x is None or math.isclose(x, y, abs_tol=t))


def test_the_engines_are_listed_and_the_cli_offers_them():
    from lrlab.cli.training import ENGINES as offered

    assert tuple(ENGINES) == offered == ("vectorized", "sequential")
    with pytest.raises(ValueError, match="engine must be one of vectorized, sequential, got 'fast'"):
        train_population(None, [], engine="fast")
    with pytest.raises(ValueError, match="task: must be a lrlab.training.tasks.Task .* got a dict"):
        train_population({"x": torch.zeros(3)}, [])


@pytest.mark.parametrize("optimizer", ["momentum", "sgd", "adamw"])
def test_same_records_as_the_sequential_engine(small, optimizer):
    cfgs = [TrialConfig(schedule=s, lr=lr, epochs=3, seed=seed, optimizer=optimizer,
                        weight_decay=wd, interval=interval)
            for s, lr, wd, interval, seed in [("cosine", 0.05, 0.0, "epoch", 0),
                                              ("one_cycle", 0.05, 1e-3, "step", 0),
                                              ("step", 0.02, 1e-2, "epoch", 1)]]
    if optimizer == "adamw":
        cfgs = [replace(c, lr=c.lr / 20, name="") for c in cfgs]
    for a, b in zip(*both(small, cfgs)):
        close(a, b, tol=2e-3)
        assert a.losses[:2] == pytest.approx(b.losses[:2], rel=1e-5)  # the first steps agree closely


def test_the_lr_of_every_step_comes_from_each_trials_policy_plateau_and_early_stopping(small):
    cfgs = [TrialConfig(schedule="plateau", lr=0.1, epochs=6, warmup=1,
                        params={"patience": 0, "factor": 0.5, "threshold": 0.5}, name="plateau"),
            TrialConfig(schedule="constant", lr=0.05, epochs=6, name="stops",
                        early_stop={"patience": 0, "min_delta": 10.0, "restore_best": True}),
            TrialConfig(schedule="linear", lr=0.05, epochs=6, name="linear")]
    seq, vec = both(small, cfgs)
    for a, b in zip(seq, vec):
        close(a, b, tol=1e-3)
    plateau, stops, linear = vec
    assert len(set(plateau.lrs)) > 2                     # the warmup, then the plateau cut it
    assert stops.status == TrialStatus.EARLY_STOPPED and len(stops.epochs) == 2
    assert linear.status == TrialStatus.FINISHED and len(linear.epochs) == 6


def test_a_diverging_trial_leaves_the_population_without_disturbing_the_others(small):
    ok = [TrialConfig(schedule="cosine", lr=0.1, epochs=2, name="ok"),
          TrialConfig(schedule="step", lr=0.05, epochs=2, seed=1, name="ok-1")]
    hot = TrialConfig(schedule="constant", lr=1e4, optimizer="sgd", epochs=2, name="hot")
    sink = Spy()
    alone = vectorized.train_population(small, ok)
    hot_rec, *together = vectorized.train_population(small, [hot, *ok], sink)
    assert hot_rec.status == TrialStatus.DIVERGED and hot_rec.test_acc is None
    assert len(hot_rec.lrs) == hot_rec.diverged_step + 1 and hot_rec.losses[-1] is None
    assert ("finished", "hot", "diverged") in sink.calls
    assert [strip(r) for r in together] == [strip(r) for r in alone]  # bit for bit
    seq_hot = sequential.train_population(small, [hot])[0]
    assert (seq_hot.status, seq_hot.diverged_step) == (hot_rec.status, hot_rec.diverged_step)


class KillAt(RunFolder):
    """A run folder that stops the run (KeyboardInterrupt) right after the ``n``-th checkpoint
    (of trial ``trial``, or of any trial: between two trials' checkpoints of one epoch, say)."""

    def __init__(self, out, n, trial=None):
        super().__init__(out)
        self.n, self.trial = n, trial

    def checkpoint(self, name, blob, step, epoch):
        super().checkpoint(name, blob, step, epoch)
        self.n -= self.trial in (None, name)
        if self.n == 0:
            raise KeyboardInterrupt


@pytest.mark.parametrize("model, kill", [("cnn", 1), ("cnn", 4), ("cnn", 5), ("cnn", 7),
                                         ("resnet", 5)])
def test_killed_anywhere_and_resumed_ends_identical(small, tmp_path, model, kill, monkeypatch):
    """Checkpoints of one epoch written for some trials, not others; a trial finished before
    the kill; one that diverges: the resumed run computes with the shapes of the uninterrupted
    one (the trials behind catch up in a padded population), so it ends bit for bit the same;
    with BatchNorm too (its running statistics are checkpointed with the weights)."""
    if model == "resnet":
        from lrlab.training.tasks import ResNet

        small = replace(small, build_model=lambda: ResNet(1, 10, width=4))
    cfgs = [TrialConfig(schedule="cosine", lr=0.1, epochs=4, seed=2, name="a"),
            TrialConfig(schedule="step", lr=0.05, epochs=1, seed=0, name="short"),
            TrialConfig(schedule="constant", lr=0.05, epochs=4, seed=1, name="b",
                        early_stop={"patience": 0, "min_delta": 0.5}),
            TrialConfig(schedule="linear", lr=0.2, epochs=3, seed=5, name="c"),
            TrialConfig(schedule="constant", lr=1e4, epochs=4, optimizer="sgd", name="hot")]
    shapes = {}  # (run, trial) -> the population rows of each epoch it trained
    epoch = vectorized._epoch

    def spy(task, runs, rows, sink, last):
        for r, row in zip(runs, rows[0]):  # its row among how many
            shapes.setdefault((label, r.cfg.name), []).append((r.epoch, (row, rows[1])))
        return epoch(task, runs, rows, sink, last)

    monkeypatch.setattr(vectorized, "_epoch", spy)
    label = "whole"
    with RunFolder(tmp_path / "whole") as sink:
        whole = vectorized.train_population(small, cfgs, sink)
    assert whole[4].status == TrialStatus.DIVERGED and whole[2].status == TrialStatus.EARLY_STOPPED
    label = "killed"
    with KillAt(tmp_path / "killed", kill) as sink, pytest.raises(KeyboardInterrupt):
        vectorized.train_population(small, cfgs, sink)
    label = "resumed"
    with RunFolder(tmp_path / "killed") as sink:
        resumed = vectorized.train_population(small, cfgs, sink, resume=True)
    assert [strip(r) for r in resumed] == [strip(r) for r in whole]
    for c in cfgs:  # every epoch of every trial computed in its place among the rows of the whole run
        done = dict(shapes.get(("killed", c.name), []) + shapes.get(("resumed", c.name), []))
        assert done == dict(shapes[("whole", c.name)]), c.name


def test_sink_calls_of_a_population_per_trial_in_order(small):
    cfgs = [TrialConfig(schedule="step", lr=0.1, epochs=2, batch_size=200, name=n) for n in "ab"]
    seq, vec = Spy(), Spy()
    sequential.train_population(small, cfgs, seq)
    vectorized.train_population(small, cfgs, vec)
    for name in "ab":
        mine = [c for c in vec.calls if c[1:2] == (name,)]
        assert mine == [c for c in seq.calls if c[1:2] == (name,)]
    assert vec.calls[:2] == [("started", "a"), ("started", "b")]  # trained together
    # one commit per population epoch (the trials' ends in the last), one per trial epoch and end
    assert (vec.calls.count(("commit",)), seq.calls.count(("commit",))) == (2, 6)
    assert vec.calls[-1] == seq.calls[-1] == ("commit",)


def test_checkpoints_resume_on_either_engine(small, tmp_path):
    cfgs = [TrialConfig(schedule="cosine", lr=0.1, epochs=4, name="c", seed=1),
            TrialConfig(schedule="one_cycle", lr=0.1, epochs=4, name="o", optimizer="adamw")]
    whole = vectorized.train_population(small, cfgs)
    for first, then in [(vectorized, sequential), (sequential, vectorized), (vectorized, vectorized)]:
        out = tmp_path / f"{first.__name__}-{then.__name__}".replace(".", "_")
        with KillAt(out, 2, trial="o") as sink, pytest.raises(KeyboardInterrupt):
            first.train_population(small, cfgs, sink)
        with RunFolder(out) as sink:
            resumed = then.train_population(small, cfgs, sink, resume=True)
        for a, b in zip(resumed, whole):
            if first is then:
                assert strip(a) == strip(b)
            else:
                close(a, b, tol=2e-2)


def test_trials_of_other_lengths_batch_sizes_and_optimizers_in_one_call(small):
    cfgs = [TrialConfig(schedule="cosine", lr=0.05, epochs=e, batch_size=b, optimizer=o, name=f"{e}{b}{o}")
            for e, b, o in [(1, 64, "momentum"), (3, 64, "momentum"), (2, 100, "momentum"),
                            (2, 64, "adamw")]]
    for a, b in zip(*both(small, cfgs)):
        close(a, b, tol=2e-3)
        assert len(b.epochs) == b.config["epochs"]


def test_a_regression_task():
    torch.manual_seed(0)
    x = torch.randn(120, 3)
    y = x @ torch.tensor([1.0, -2.0, 0.5]) + 0.1 * torch.randn(120)
    s = Split(x, y)
    task = Task("toy", s, Split(x[:30], y[:30]), Split(x[:40], y[:40]), lambda: MLP(3, 1),
                "regression")
    for a, b in zip(*both(task, [TrialConfig(schedule="cosine", lr=0.05, epochs=3, seed=k) for k in (0, 1)])):
        close(a, b, tol=1e-3)
        assert b.test_acc is None and b.epochs[-1]["train_acc"] is None and b.test_loss < 1.0


class _WithDropout(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.Dropout(0.1), nn.ReLU(),
                                 nn.Linear(16, 10))

    def forward(self, x):
        return self.net(x)


def test_a_model_it_cannot_stack_trains_sequentially_after_one_line(small, caplog):
    task = replace(small, build_model=_WithDropout)
    cfgs = [TrialConfig(schedule="cosine", lr=0.05, epochs=1, seed=s) for s in range(3)]
    with caplog.at_level(logging.WARNING):
        vec = vectorized.train_population(task, cfgs)
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("lrlab")]
    assert lines == ["vectorized engine: _WithDropout cannot be stacked (its Dropout layer "
                     "(net.2) draws random numbers per trial); training one trial after another"]
    assert [strip(r) for r in vec] == [strip(r) for r in sequential.train_population(task, cfgs)]


def test_a_resnet_trains_stacked_and_agrees_with_the_sequential_engine(small, caplog, tmp_path):
    """BatchNorm and residual blocks stack (no fallback line); records within rounding, and
    the running statistics the tested weights carry agree too."""
    from lrlab.training.tasks import ResNet

    task = replace(small, build_model=lambda: ResNet(1, 10, width=4))
    cfgs = [TrialConfig(schedule=s, lr=0.05, epochs=2, seed=seed, batch_size=32)
            for s, seed in [("cosine", 0), ("step", 0), ("cosine", 1)]]
    seq_out, vec_out = RunFolder(tmp_path / "s"), RunFolder(tmp_path / "v")
    seq = sequential.train_population(task, cfgs, seq_out)
    with caplog.at_level(logging.WARNING):
        vec = vectorized.train_population(task, cfgs, vec_out)
    assert not [r for r in caplog.records if r.name.startswith("lrlab")]
    for a, b in zip(seq, vec):
        close(a, b, tol=2e-3)
    for cfg in cfgs:
        a = torch.load(seq_out.out / cfg.name / "model.pt", weights_only=True)
        b = torch.load(vec_out.out / cfg.name / "model.pt", weights_only=True)
        for k in a:
            if "running" in k or "num_batches" in k:
                torch.testing.assert_close(a[k], b[k], rtol=1e-3, atol=1e-4)


def test_large_populations_are_split(small, monkeypatch):
    monkeypatch.setattr(vectorized, "MAX_POPULATION", 2)
    cfgs = [TrialConfig(schedule="cosine", lr=0.05, epochs=1, seed=s) for s in range(5)]
    sink = Spy()
    recs = vectorized.train_population(small, cfgs, sink)
    started = [i for i, c in enumerate(sink.calls) if c[0] == "started"]
    assert len(started) == 5 and started[2] == started[1] + 1 and started[1] > 1  # 1 + 2 + 2
    plans = [make_plan(c, len(small.train)) for c in cfgs]
    assert vectorized.populations(small, plans) == ([[0], [1, 2], [3, 4]], None)
    assert all(r.status == TrialStatus.FINISHED for r in recs)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
def test_cuda_agrees_and_resumes(small, tmp_path):
    """On a GPU too (kernels there are not deterministic run to run: within rounding)."""
    cfgs = [TrialConfig(schedule="cosine", lr=0.05, epochs=3, seed=s, name=f"o{s}") for s in range(2)]
    whole = vectorized.train_population(small, cfgs, device="cuda")
    for a, b in zip(whole, sequential.train_population(small, cfgs, device="cuda")):
        close(a, b, tol=2e-2)
    for engine in (vectorized, sequential):
        out = tmp_path / engine.__name__.replace(".", "_")
        with KillAt(out, 3) as sink, pytest.raises(KeyboardInterrupt):
            engine.train_population(small, cfgs, sink, device="cuda")
        with RunFolder(out) as sink:
            for a, b in zip(engine.train_population(small, cfgs, sink, resume=True, device="cuda"), whole):
                close(a, b, tol=2e-2)
