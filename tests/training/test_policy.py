"""LR policies: a schedule's table, or warmup then reduce-on-plateau; their state dicts."""

import json

from lrlab import Plateau
from lrlab.training.policy import PlateauLR, ScheduledLR


def test_scheduled_lr_reads_its_table_per_epoch_or_per_step():
    e, s = ScheduledLR([0.3, 0.2, 0.1], "epoch"), ScheduledLR([0.3, 0.2, 0.1], "step")
    assert [e.lr(epoch=k, step=0) for k in range(3)] == [0.3, 0.2, 0.1]
    assert [s.lr(epoch=0, step=k) for k in range(3)] == [0.3, 0.2, 0.1]
    e.end_epoch({"val_loss": 1.0}, 1, 5)
    assert e.state_dict() == {} and e.lr(1, 0) == 0.2


def _metrics(v):
    return {"val_loss": v, "val_acc": None}


def test_warmup_then_plateau_per_epoch():
    q = PlateauLR(Plateau(0.4, patience=0, factor=0.5), "val_loss", warmup=[0.1, 0.2, 0.3])
    lrs = []
    for epoch, loss in enumerate([9.0, 9.0, 9.0, 1.0, 2.0, 3.0]):
        lrs.append(q.lr(epoch, 0))
        q.end_epoch(_metrics(loss), epoch + 1, 0)   # the warmup epochs' metrics are not watched
    # 3 warmup epochs; epoch 3 ends after the warmup (best 1.0); 2.0 and 3.0 are bad epochs
    assert lrs == [0.1, 0.2, 0.3, 0.4, 0.4, 0.2]
    assert q.lr(6, 0) == 0.1


def test_warmup_in_optimizer_steps_then_plateau():
    q = PlateauLR(Plateau(0.4, patience=0, factor=0.5), "val_loss", warmup=[0.1, 0.2, 0.3],
                  interval="step")
    assert [q.lr(0, k) for k in range(5)] == [0.1, 0.2, 0.3, 0.4, 0.4]
    q.end_epoch(_metrics(1.0), 1, 2)         # the warmup still runs at the end of epoch 1
    q.end_epoch(_metrics(2.0), 2, 4)         # the first watched epoch: its loss is the best
    assert q.lr(2, 4) == 0.4
    q.end_epoch(_metrics(3.0), 3, 6)
    assert q.lr(3, 6) == 0.2


def test_plateau_state_round_trips_through_json():
    a = PlateauLR(Plateau(0.4, patience=1, factor=0.5), "val_loss", warmup=[0.2])
    for epoch, v in enumerate([5.0, 1.0, 2.0, 3.0]):
        a.end_epoch(_metrics(v), epoch + 1, 0)
    b = PlateauLR(Plateau(0.4, patience=1, factor=0.5), "val_loss", warmup=[0.2])
    b.load_state_dict(json.loads(json.dumps(a.state_dict())))
    assert b.lr(9, 0) == a.lr(9, 0) == 0.2
    for v in [4.0, 5.0]:
        a.end_epoch(_metrics(v), 9, 0)
        b.end_epoch(_metrics(v), 9, 0)
    assert b.state_dict() == a.state_dict() and b.lr(9, 0) == a.lr(9, 0)
