"""The SQLite store as a sink: plain tables, one trial per configuration, resume after a kill
(simulated and SIGKILL) identical to an uninterrupted run, one process at a time, damage named."""

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
import torch

from lrlab.experiments.store import SCHEMA_VERSION, Store, trial_key
from lrlab.training.engines import train_population, train_trial
from lrlab.training.trial import TrialConfig


def strip(rec):
    epochs = [{k: v for k, v in e.items() if k != "seconds"} for e in rec.epochs]
    return rec.status, rec.lrs, rec.losses, epochs, rec.best_epoch, rec.test_loss, rec.test_acc


def rows(out, sql, args=()):
    db = sqlite3.connect(out / "results.sqlite")
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


class _Killed(Exception):
    pass


class _DiesAfter(Store):
    """A store whose process 'dies' right after the n-th epoch row (before its checkpoint)
    or right after the n-th checkpoint."""

    def __init__(self, out, n, where="checkpoint"):
        super().__init__(out)
        self.n, self.where = n, where

    def _after(self, where):
        self.n -= self.where == where
        if self.n == 0:
            raise _Killed

    def epoch(self, name, entry):
        super().epoch(name, entry)
        self._after("epoch")

    def checkpoint(self, name, state):
        super().checkpoint(name, state)
        self._after("checkpoint")


def test_temporaries_of_killed_writes_are_removed_when_the_store_opens(tmp_path):
    from lrlab.fileio import TMP_SUFFIX

    stale = [tmp_path / "checkpoints" / f"abc.pt.x1{TMP_SUFFIX}", tmp_path / "models" / f"abc.pt.y2{TMP_SUFFIX}"]
    for path in stale:
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"half a file")
    keep = tmp_path / "models" / "abc.pt"
    keep.write_bytes(b"a finished write")
    with Store(tmp_path) as store:
        store.connect()
    assert not any(p.exists() for p in stale) and keep.read_bytes() == b"a finished write"


def test_plain_tables(small, tmp_path):
    cfgs = [TrialConfig(schedule="cosine", epochs=2), TrialConfig(schedule="step", epochs=2, seed=1)]
    with Store(tmp_path) as store:
        recs = train_population(small, cfgs, store)
    assert rows(tmp_path, "SELECT value FROM meta WHERE key = 'schema_version'") == [(str(SCHEMA_VERSION),)]
    trials = rows(tmp_path, "SELECT name, schedule, seed, status, test_acc, epochs, steps FROM trial ORDER BY id")
    assert trials == [(r.name, c.schedule, c.seed, "finished", r.test_acc, 2, len(r.lrs))
                      for r, c in zip(recs, cfgs)]
    lrs = [lr for (lr,) in rows(tmp_path, "SELECT lr FROM step WHERE trial_id = 1 ORDER BY step")]
    assert lrs == recs[0].lrs
    val = rows(tmp_path, "SELECT val_acc FROM epoch WHERE trial_id = 2 ORDER BY epoch")
    assert [v for (v,) in val] == [e["val_acc"] for e in recs[1].epochs]
    assert rows(tmp_path, "PRAGMA journal_mode") == [("wal",)]
    assert not list((tmp_path / "checkpoints").iterdir())
    model = small.build_model()
    key = trial_key(small, cfgs[0])
    model.load_state_dict(torch.load(tmp_path / "models" / f"{key}.pt", weights_only=True))


def test_the_same_population_again_trains_and_stores_nothing_twice(small, tmp_path):
    cfg = TrialConfig(schedule="cosine", epochs=2)
    with Store(tmp_path) as store:
        first = train_trial(small, cfg, store)
    events = []
    with Store(tmp_path) as store:
        again = train_trial(small, cfg, store, on_event=events.append)
    assert strip(again) == strip(first) and events == []
    assert rows(tmp_path, "SELECT COUNT(*) FROM trial") == [(1,)]
    assert rows(tmp_path, "SELECT COUNT(*) FROM step") == [(len(first.lrs),)]
    # another name, same configuration: the same trial
    with Store(tmp_path) as store:
        assert strip(train_trial(small, TrialConfig(schedule="cosine", epochs=2, name="x"), store)) == strip(first)
    # another seed: another trial
    with Store(tmp_path) as store:
        train_trial(small, TrialConfig(schedule="cosine", epochs=2, seed=1), store)
    assert rows(tmp_path, "SELECT COUNT(*) FROM trial") == [(2,)]


@pytest.mark.parametrize("where", ["checkpoint", "epoch"])
def test_a_killed_trial_continues_and_ends_identical(small, tmp_path, where):
    cfg = TrialConfig(schedule="plateau", epochs=4, warmup=1, early_stop={"patience": 9})
    whole = train_trial(small, cfg)
    with pytest.raises(_Killed):
        with _DiesAfter(tmp_path, 2, where) as store:
            train_trial(small, cfg, store)
    assert rows(tmp_path, "SELECT status FROM trial") == [("running",)]
    with Store(tmp_path) as store:
        resumed = train_trial(small, cfg, store)
    assert strip(resumed) == strip(whole)
    n = len(whole.lrs)
    assert rows(tmp_path, "SELECT COUNT(*), MIN(step), MAX(step) FROM step") == [(n, 0, n - 1)]
    assert rows(tmp_path, "SELECT COUNT(*) FROM epoch") == [(4,)]


def test_a_trial_killed_before_its_first_checkpoint_starts_over(small, tmp_path):
    cfg = TrialConfig(schedule="cosine", epochs=2)
    with pytest.raises(_Killed):
        with _DiesAfter(tmp_path, 1, "epoch") as store:
            train_trial(small, cfg, store)
    with Store(tmp_path) as store:
        assert strip(train_trial(small, cfg, store)) == strip(train_trial(small, cfg))


def test_one_process_at_a_time(small, tmp_path):
    with Store(tmp_path) as first:
        first.connect()
        with pytest.raises(ValueError, match="is in use by another lrlab process"):
            with Store(tmp_path) as second:
                train_trial(small, TrialConfig(epochs=1), second)


@pytest.mark.parametrize("damage", ["garbage", "version"])
def test_a_file_that_is_not_this_store_is_named(small, tmp_path, damage):
    path = tmp_path / "results.sqlite"
    if damage == "garbage":
        path.write_bytes(b"this is not a database, but it is long enough to be read" * 20)
        match = "results.sqlite: not an lrlab store"
    else:
        with Store(tmp_path) as store:
            store.connect().execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
        match = "results.sqlite: store schema version 99"
    with pytest.raises(ValueError, match=match):
        with Store(tmp_path) as store:
            train_trial(small, TrialConfig(epochs=1), store)


_CHILD = """
import sys
from lrlab.experiments.store import Store
from lrlab.training.engines import train_population
from lrlab.training.tasks import load_task
from lrlab.training.trial import TrialConfig
cfgs = [TrialConfig(schedule=s, epochs=4, lr=0.05, seed=seed) for s in ("cosine", "step") for seed in (0, 1)]
with Store(sys.argv[1]) as store:
    train_population(load_task("digits"), cfgs, store)
"""


def _child(out):
    return subprocess.Popen([sys.executable, "-c", _CHILD, str(out)])


def _table(out):
    return rows(out, "SELECT key, status, test_acc, test_loss, epochs, steps FROM trial ORDER BY key")


def test_sigkill_twice_then_resume_gives_the_same_table(tmp_path):
    assert _child(tmp_path / "whole").wait() == 0
    killed = tmp_path / "killed"
    for pause in (1.0, 1.6):  # into the first trials' epochs (one epoch takes ~0.15 s)
        child = _child(killed)
        deadline = time.time() + 120
        while time.time() < deadline and child.poll() is None and not (killed / "results.sqlite").exists():
            time.sleep(0.01)
        time.sleep(pause)
        assert child.poll() is None, "the child finished before it could be killed"
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert _child(killed).wait() == 0
    assert _table(killed) == _table(tmp_path / "whole")
    assert rows(killed, "SELECT COUNT(*) FROM step") == rows(tmp_path / "whole", "SELECT COUNT(*) FROM step")
    assert rows(killed, "PRAGMA integrity_check") == [("ok",)]


def test_versions_are_recorded(small, tmp_path):
    import lrlab

    with Store(tmp_path) as store:
        train_trial(small, TrialConfig(epochs=1), store)
    meta = dict(rows(tmp_path, "SELECT key, value FROM meta"))
    assert meta["lrlab_version"] == lrlab.__version__ and meta["torch_version"] == torch.__version__
