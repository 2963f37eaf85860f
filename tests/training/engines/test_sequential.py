"""The sequential engine on digits: fairness, the LR from the policy, divergence, early
stopping, plateau with warmup, the exact sequence of sink calls and events."""

import io
import math

import pytest
import torch

from lrlab import EarlyStopping, Plateau
from lrlab.training import checkpoint
from lrlab.training.engines.sequential import train_population, train_trial
from lrlab.training.evaluate import evaluate
from lrlab.training.plan import schedule_for
from lrlab.training.records import Progress, RecordSink, TrialStatus
from lrlab.training.tasks import Split, Task
from lrlab.training.trial import TrialConfig


def strip(rec):
    """A record without wall-clock times."""
    epochs = [{k: v for k, v in e.items() if k != "seconds"} for e in rec.epochs]
    return rec.status, rec.lrs, rec.losses, epochs, rec.best_epoch, rec.test_loss, rec.test_acc


class Spy(RecordSink):
    """A sink that remembers every call."""

    def __init__(self):
        self.calls, self.weights = [], None

    def trial_started(self, plan, task):
        self.calls.append(("started", plan.cfg.name))

    def step(self, name, step, lr, loss):
        self.calls.append(("step", name, step, lr))

    def epoch(self, name, entry):
        self.calls.append(("epoch", name, entry["epoch"]))

    def checkpoint(self, name, blob, step, epoch):
        state = checkpoint.loads(blob, "spy")
        assert (state["epoch"], state["step"]) == (epoch, step)
        self.calls.append(("checkpoint", name, state["epoch"], state["step"], state["status"]))

    def trial_finished(self, record, weights):
        self.calls.append(("finished", record.name, str(record.status)))
        self.weights = torch.load(io.BytesIO(weights), weights_only=True)

    def commit(self):
        self.calls.append(("commit",))


def test_same_seed_same_init_and_batch_order_whatever_the_schedule(small):
    a, b, c = (train_trial(small, TrialConfig(schedule=s, lr=0.1, epochs=1, seed=seed))
               for s, seed in [("cosine", 0), ("step", 0), ("cosine", 1)])
    assert a.losses[0] == b.losses[0]      # same weights, same first batch, LR not applied yet
    assert a.losses[0] != c.losses[0]      # another seed: other weights and batches


def test_deterministic(small):
    cfg = TrialConfig(schedule="one_cycle", lr=0.1, epochs=2, interval="step")
    assert strip(train_trial(small, cfg)) == strip(train_trial(small, cfg))


@pytest.mark.parametrize("interval", ["epoch", "step"])
def test_the_lr_applied_at_every_step_is_the_schedule(small, monkeypatch, interval):
    applied = []
    step = torch.optim.SGD.step

    def spy(self, *a, **k):
        applied.append(self.param_groups[0]["lr"])
        return step(self, *a, **k)

    monkeypatch.setattr(torch.optim.SGD, "step", spy)
    cfg = TrialConfig(schedule="cosine", lr=0.1, epochs=3, interval=interval, warmup=1)
    rec = train_trial(small, cfg)
    per_epoch = math.ceil(len(small.train) / cfg.batch_size)
    total = 3 if interval == "epoch" else 3 * per_epoch
    s = schedule_for(cfg, total)
    expect = [s(k // per_epoch if interval == "epoch" else k) for k in range(3 * per_epoch)]
    assert applied == rec.lrs == expect


def test_sink_calls_and_events_of_a_short_run_in_order(small):
    sink, events = Spy(), []
    cfg = TrialConfig(schedule="step", lr=0.1, epochs=2, batch_size=200, name="t")
    rec = train_trial(small, cfg, sink, on_event=events.append)
    n = math.ceil(len(small.train) / 200)  # steps per epoch
    s = schedule_for(cfg, 2)
    expect = [("started", "t")]
    for e in range(2):
        expect += [("step", "t", e * n + k, s(e)) for k in range(n)]
        expect += [("epoch", "t", e), ("checkpoint", "t", e + 1, (e + 1) * n, "running"),
                   ("commit",)]
    expect += [("finished", "t", "finished"), ("commit",)]
    assert sink.calls == expect
    assert [(p.epoch, p.step) for p in events] == (
        [(0, k + 1) for k in range(n)] + [(1, n)] + [(1, n + k + 1) for k in range(n)]
        + [(2, 2 * n), (2, 2 * n)])
    assert all(isinstance(p, Progress) and p.epochs == 2 and p.steps == 2 * n for p in events)
    assert events[-1].status == TrialStatus.FINISHED and events[n].val_acc == rec.epochs[0]["val_acc"]
    assert all(torch.equal(v, sink.weights[k]) for k, v in sink.weights.items())


def test_a_diverging_trial_is_marked_and_the_others_finish(small):
    cfgs = [TrialConfig(schedule="constant", lr=1e4, optimizer="sgd", epochs=3, name="hot"),
            TrialConfig(schedule="cosine", lr=0.1, epochs=3, name="ok")]
    sink = Spy()
    hot, ok = train_population(small, cfgs, sink)
    assert hot.status == TrialStatus.DIVERGED and hot.diverged_step is not None and hot.test_acc is None
    assert len(hot.lrs) == hot.diverged_step + 1 and hot.losses[-1] is None
    assert ok.status == "finished" and ok.test_acc > 0.25  # chance is 0.1
    assert ("step", "hot", hot.diverged_step, 1e4) in sink.calls
    assert ("finished", "hot", "diverged") in sink.calls


def test_early_stopping_stops_at_the_right_epoch_and_restores_best(small):
    cfg = TrialConfig(schedule="constant", lr=0.3, epochs=30,
                      early_stop={"patience": 2, "min_delta": 0.01, "restore_best": True})
    sink = Spy()
    rec = train_trial(small, cfg, sink)
    assert rec.status == "early-stopped" and len(rec.epochs) < 30
    es = EarlyStopping(patience=2, min_delta=0.01)
    stops = [es.step(e["val_loss"]) for e in rec.epochs]
    assert stops.index(True) == len(rec.epochs) - 1 and rec.best_epoch == es.best_epoch
    model = small.build_model()
    model.load_state_dict(sink.weights)
    val_loss, _ = evaluate(model, small, small.val)
    assert val_loss == pytest.approx(rec.epochs[rec.best_epoch]["val_loss"], rel=1e-6)
    assert rec.best_epoch < len(rec.epochs) - 1


def test_plateau_trial_follows_the_validation_loss(small):
    cfg = TrialConfig(schedule="plateau", lr=0.5, epochs=8, params={"patience": 0, "factor": 0.5})
    rec = train_trial(small, cfg)
    p = Plateau(0.5, patience=0, factor=0.5)
    expect = [0.5] + [p.step(e["val_loss"]) for e in rec.epochs[:-1]]
    assert [e["lr"] for e in rec.epochs] == expect


def test_warmup_then_plateau(small):
    cfg = TrialConfig(schedule="plateau", lr=0.5, epochs=8, warmup=3, batch_size=256,
                      params={"patience": 0, "factor": 0.5})
    rec = train_trial(small, cfg)
    per_epoch = math.ceil(len(small.train) / 256)
    warm = [0.125, 0.25, 0.375]                       # start lr/(W+1), linear to lr
    assert rec.lrs[:3 * per_epoch] == [w for w in warm for _ in range(per_epoch)]
    p = Plateau(0.5, patience=0, factor=0.5)  # watches from the epoch that ends the warmup
    expect = [p.step(e["val_loss"]) for e in rec.epochs[2:-1]]
    assert [e["lr"] for e in rec.epochs[3:]] == expect


def test_regression_task_records_loss_only():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 3, generator=g)
    y = x @ torch.tensor([1.0, -2.0, 0.5])
    sp = lambda a, b: Split(x[a:b], y[a:b])  # noqa: E731
    task = Task("toy", sp(0, 120), sp(120, 160), sp(160, 200), lambda: torch.nn.Linear(3, 1), "regression")
    rec = train_trial(task, TrialConfig(schedule="cosine", lr=0.05, epochs=5, batch_size=20))
    assert rec.test_acc is None and rec.epochs[0]["val_acc"] is None
    assert rec.test_loss < rec.epochs[0]["train_loss"]


def test_every_trial_is_checked_before_any_trains(small):
    cfgs = [TrialConfig(schedule="cosine", epochs=1, name="a"),
            TrialConfig(schedule="cosine", epochs=2, warmup=5, name="b")]  # warmup > run
    sink = Spy()
    with pytest.raises(ValueError, match=r"b: warmup \(5\) must be shorter than the run \(2 steps\)"):
        train_population(small, cfgs, sink)
    assert sink.calls == []
    with pytest.raises(ValueError, match="trial names must be unique, got a more than once"):
        train_population(small, [cfgs[0], cfgs[0]], sink)


def test_val_acc_monitor_on_a_regression_task_is_refused_up_front():
    x = torch.randn(40, 2)
    sp = Split(x[:20], x[:20, 0])
    task = Task("toy", sp, sp, sp, lambda: torch.nn.Linear(2, 1), "regression")
    with pytest.raises(ValueError, match="monitor=val_acc needs a classification task"):
        train_trial(task, TrialConfig(early_stop={"monitor": "val_acc"}))


def test_device_argument(small):
    rec = train_trial(small, TrialConfig(epochs=1), device="cpu")
    assert rec.status == "finished"
    with pytest.raises(ValueError, match="device must be cpu, cuda, cuda:N or mps, got 'nope'"):
        train_trial(small, TrialConfig(epochs=1), device="nope")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device 'cuda' is not available on this machine"):
            train_trial(small, TrialConfig(epochs=1), device="cuda")


def test_a_stop_after_the_last_epoch_is_a_finished_run(small):
    stop_second = {"patience": 0, "min_delta": 1e9}   # nothing improves after epoch 0
    ran_all = train_trial(small, TrialConfig(epochs=2, early_stop=stop_second))
    cut = train_trial(small, TrialConfig(epochs=3, early_stop=stop_second))
    assert ran_all.status == TrialStatus.FINISHED and len(ran_all.epochs) == 2
    assert cut.status == TrialStatus.EARLY_STOPPED and len(cut.epochs) == 2


def test_checkpoints_hold_exactly_the_documented_keys(small):
    from lrlab.training.checkpoint import KEYS

    class Keys(RecordSink):
        def checkpoint(self, name, blob, step, epoch):
            self.keys = set(checkpoint.loads(blob, "here"))

    sink = Keys()
    train_trial(small, TrialConfig(epochs=1), sink)
    assert sink.keys == set(KEYS)
