"""The SQLite store as a sink: plain tables, one trial per configuration, resume after a kill
(simulated and SIGKILL) identical to an uninterrupted run, one process at a time, damage named."""

import json
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
    """A store whose process 'dies' right after the n-th epoch row (before its checkpoint),
    the n-th checkpoint (before the commit) or the n-th commit."""

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

    def checkpoint(self, name, blob, step, epoch):
        super().checkpoint(name, blob, step, epoch)
        self._after("checkpoint")

    def commit(self):
        super().commit()
        self._after("commit")


def test_temporaries_of_killed_writes_are_removed_when_the_store_opens(tmp_path):
    from lrlab.fileio import TMP_SUFFIX

    stale = [tmp_path / "report" / f"a.png.x1{TMP_SUFFIX}", tmp_path / "models" / f"abc.pt.y2{TMP_SUFFIX}"]
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
    assert rows(tmp_path, "SELECT COUNT(*) FROM checkpoint") == [(0,)]  # ended: dropped
    assert not (tmp_path / "checkpoints").exists()
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


@pytest.mark.parametrize("where", ["checkpoint", "epoch", "commit"])
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


# ---- a store's values are checked whenever it is opened ---------------------------------------
@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A finished store: 2 schedules x 2 seeds x 2 epochs on a tiny CSV task."""
    from lrlab.experiments.runner import compare

    base = tmp_path_factory.mktemp("made")
    csv = base / "t.csv"
    csv.write_text("a,b,label\n" + "\n".join(
        f"{(i * 37) % 100 / 100},{(i * 11) % 50 / 50},{'yes' if (i * 37) % 100 > 50 else 'no'}"
        for i in range(80)) + "\n")
    compare(f"csv:{csv}", ["cosine", "step"], seeds=2, epochs=2, batch_size=16, out=base / "out")
    return base / "out"


def _copy(src, dst):
    import shutil

    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".lrlab.lock"))
    return dst


def _sql(out, *statements):
    db = sqlite3.connect(out / "results.sqlite")
    for s in statements:
        db.execute(s)
    db.commit()
    db.close()


DAMAGE = {  # what a forged or damaged store holds -> what the one line says
    "null metrics": ("UPDATE trial SET test_acc = NULL, test_loss = NULL WHERE id = 1",
                     "is finished but incomplete"),
    "accuracy 2.0": ("UPDATE trial SET test_acc = 2.0 WHERE id = 2", "has test_acc 2.0"),
    "accuracy a string": ("UPDATE trial SET test_acc = 'high' WHERE id = 2", "table trial holds a value"),
    "negative loss": ("UPDATE trial SET test_loss = -1 WHERE id = 2", "test_loss -1.0"),
    "forged config": ("UPDATE trial SET config = json_set(config, '$.lr', 9.0) WHERE id = 1",
                      "does not match its key"),
    "config not JSON": ("UPDATE trial SET config = '{bad' WHERE id = 1", "configuration is not lrlab's"),
    "config a list": ("UPDATE trial SET config = '[]' WHERE id = 1", "configuration is not lrlab's"),
    "deleted steps": ("DELETE FROM step WHERE trial_id = 1 AND step > 3", "step rows"),
    "deleted epoch": ("DELETE FROM epoch WHERE trial_id = 3 AND epoch = 0", "epoch rows"),
    "bogus status": ("UPDATE trial SET status = 'bogus' WHERE id = 1", "has status 'bogus'"),
    "val acc 7": ("UPDATE epoch SET val_acc = 7 WHERE trial_id = 1", "epoch metrics out of range"),
    "inf LR": ("UPDATE step SET lr = 1e999 WHERE trial_id = 2 AND step = 0", "step LR out of range"),
    "renamed": ("UPDATE trial SET name = 'other-seed0' WHERE id = 1", "name, schedule or seed differ"),
    "experiment a list": ("UPDATE meta SET value = '[]' WHERE key = 'experiment'",
                          "recorded experiment is not one lrlab writes"),
    "experiment task 5": ("""UPDATE meta SET value = '{"task": 5}' WHERE key = 'experiment'""",
                          "recorded experiment is not one lrlab writes (task: must be"),
    "trigger": ("CREATE TRIGGER t AFTER INSERT ON meta BEGIN DELETE FROM epoch; END",
                "it holds trigger 't', which lrlab never creates"),
    "view": ("CREATE VIEW v AS SELECT 1", "it holds view 'v'"),
    "extra table": ("CREATE TABLE notes (x)", "it holds table 'notes'"),
    "seconds a string": ("UPDATE trial SET seconds = 'zz' WHERE id = 1", "table trial holds a value"),
    "negative seconds": ("UPDATE trial SET seconds = -1e300 WHERE id = 1", "table trial holds a value"),
    "epoch seconds a string": ("UPDATE epoch SET seconds = 'zz'", "table epoch holds a value"),
    "val loss a string": ("UPDATE epoch SET val_loss = 'zz' WHERE epoch = 1", "table epoch holds"),
    "epoch lr a string": ("UPDATE epoch SET lr = 'abc'", "table epoch holds a value"),
    "step lr a string": ("UPDATE step SET lr = 'abc'", "table step holds a value"),
    "negative step loss": ("UPDATE step SET loss = -5", "table step holds a value"),
    "step loss a string": ("UPDATE step SET loss = 'zz'", "table step holds a value"),
    "step of epoch 999": ("UPDATE step SET epoch = 999", "table step holds a value"),
    "fractional step": ("UPDATE step SET step = step + 0.5 WHERE step > 0 AND step < 3",
                        "table step holds a value"),
    "schema v2": ("UPDATE meta SET value = '2' WHERE key = 'schema_version'", "store schema version 2"),
    "foreign trial table": ("DROP TABLE trial", "table trial has columns id, name, not id, key"),
    "forged hits": ("UPDATE example SET hits = zeroblob(length(hits)) WHERE trial_id = 1 AND "
                    "split = 'test'", "per-example results of trial id 1 ('test') do not match"),
    "short hits": ("UPDATE example SET hits = X'00' WHERE trial_id = 2", "per-example results"),
    "orphan rows": ("INSERT INTO epoch VALUES (99, 0, 1, 0.5, 1, 0.5, 0.1, 1)",
                    "rows of trial id 99, which is not in the trial table"),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_store_is_named_and_neither_read_nor_extended(made, tmp_path, damage,
                                                                one_line_error):
    from click.testing import CliRunner

    from lrlab.cli import cli
    from lrlab.experiments.store import read_records

    out = _copy(made, tmp_path / "out")
    sql, says = DAMAGE[damage]
    _sql(out, sql)
    if damage == "foreign trial table":
        _sql(out, "CREATE TABLE trial (id INTEGER, name TEXT)")
    before = (out / "results.sqlite").read_bytes()
    for opened in (lambda: Store(out).connect(), lambda: read_records(out)):
        with pytest.raises(ValueError, match=str(out / "results.sqlite")) as e:
            opened()
        assert says in str(e.value) and "\n" not in str(e.value)
    one_line_error(CliRunner().invoke(cli, ["report", str(out)]), says)
    assert not (out / "report.html").exists()
    csv = json.loads(rows(made, "SELECT value FROM meta WHERE key = 'experiment'")[0][0])["task"]
    (out / "mine.lrlab-tmp").write_text("the user's")
    before_files = sorted(p.name for p in out.iterdir())
    # the same compare, and one that adds a schedule, are refused before they write anything
    for more in ([], ["--schedule", "linear"]):
        one_line_error(CliRunner().invoke(cli, ["compare", "--task", csv, "--schedule", "cosine,step",
                                                "--seeds", 2, "--epochs", 2, "--batch-size", 16,
                                                "--out", str(out), "--quiet", *more]), says)
    plot = CliRunner().invoke(cli, ["plot", "--run", str(out), "-o", str(tmp_path / "p.png")])
    one_line_error(plot, says)
    assert (out / "results.sqlite").read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == before_files  # no lock file, nothing removed


def test_bytes_overwritten_in_the_file_are_named(made, tmp_path, one_line_error):
    from click.testing import CliRunner

    from lrlab.cli import cli

    out = _copy(made, tmp_path / "out")
    path = out / "results.sqlite"
    data = bytearray(path.read_bytes())
    page = 4096 if len(data) > 8192 else len(data) // 2  # past the header: a table's page
    data[page:page + 2048] = os.urandom(2048)
    path.write_bytes(bytes(data))
    r = CliRunner().invoke(cli, ["report", str(out)])
    assert r.exit_code == 2 and str(path) in r.stderr and "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1


@pytest.mark.parametrize("what", ["table users", "view v"])
def test_another_programs_sqlite_file_is_refused_and_left_as_it_was(tmp_path, what):
    path = tmp_path / "results.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE users (id INTEGER, name TEXT)" if what == "table users"
               else "CREATE VIEW v AS SELECT 1")
    db.commit()
    db.close()
    before = path.read_bytes()
    with pytest.raises(ValueError, match=rf"results.sqlite: not an lrlab store \(it holds {what}\)"):
        Store(tmp_path).connect()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.sqlite"]  # not even a lock


def test_a_checkpoint_of_an_ended_trial_is_a_damaged_store(made, tmp_path):
    out = _copy(made, tmp_path / "out")
    db = sqlite3.connect(out / "results.sqlite")
    db.execute("INSERT INTO checkpoint VALUES (1, 0, 0, x'00')")
    db.commit()
    db.close()
    with pytest.raises(ValueError, match=r"damaged store: the checkpoint of trial id 1 does not "
                                         r"fit the trial"):
        Store(out).connect()


def test_a_full_disk_while_writing_is_one_line_and_nothing_half_written(small, tmp_path, monkeypatch):
    def full(*a, **k):
        raise sqlite3.OperationalError("database or disk is full")

    cfg = TrialConfig(epochs=2, batch_size=128)
    with Store(tmp_path) as store:
        store.connect()
        real = store._db
        monkeypatch.setattr(store, "_db", _Failing(real, after=3))
        with pytest.raises(OSError, match=r"results.sqlite: cannot write \(database or disk is full\); "
                                          r"free space"):
            train_trial(small, cfg, store)
        store._db = real
    with Store(tmp_path) as store:  # what was written is whole; the same run continues
        rec = train_trial(small, cfg, store)
    assert rec.status == "finished" and len(rec.epochs) == 2


class _Failing:
    """A connection whose n-th write statement fails like a full disk (SQLite rolls back)."""

    def __init__(self, db, after):
        self.db, self.after = db, after

    def execute(self, sql, *args):
        if sql.startswith(("INSERT", "UPDATE", "DELETE")):
            self.after -= 1
            if self.after == 0:
                self.db.execute("ROLLBACK")  # what SQLite does itself on SQLITE_FULL
                raise sqlite3.OperationalError("database or disk is full")
        return self.db.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self.db, name)


def test_records_of_a_store_for_plotting(made):
    from lrlab.experiments.store import read_records

    recs = read_records(made)
    assert sorted(r.name for r in recs) == ["cosine-seed0", "cosine-seed1", "step-seed0", "step-seed1"]
    assert all(r.status == "finished" and len(r.epochs) == 2 and len(r.lrs) == 2 * 4 for r in recs)


def test_a_reader_sees_one_snapshot_while_the_writer_commits(made, tmp_path):
    from lrlab.experiments.store import Reader

    out = _copy(made, tmp_path / "out")
    with Reader.open(out) as r:
        before = r.fingerprint()
        first = [(t.name, t.status, t.n_epochs, t.steps) for t in r.trials()]
        _sql(out, "UPDATE trial SET status = 'running', epochs = 1 WHERE name = 'cosine-seed0'",
             "DELETE FROM epoch WHERE epoch = 1")
        assert [(t.name, t.status, t.n_epochs, t.steps) for t in r.trials()] == first
        assert all(len(r.epochs(t.id)) == 2 and len(r.lrs(t.id)) == 8 for t in r.trials())
        assert r.fingerprint() == before
    assert first == [(n, "finished", 2, 8) for n in ("cosine-seed0", "cosine-seed1",
                                                      "step-seed0", "step-seed1")]
    with pytest.raises(ValueError, match="damaged store"):  # what the writer did is checked
        Reader.open(out)


def test_a_pickled_checkpoint_is_one_line_naming_the_file_and_the_trial_without_a_warning(
        small, tmp_path, recwarn):
    import pickle

    cfg = TrialConfig(epochs=3, batch_size=128)
    with pytest.raises(_Killed):
        train_trial(small, cfg, _DiesAfter(tmp_path, 1, "commit"))
    db = sqlite3.connect(tmp_path / "results.sqlite")
    db.execute("UPDATE checkpoint SET state = ?", (pickle.dumps(object()),))
    db.commit()
    db.close()
    path = tmp_path / "results.sqlite"
    with pytest.raises(ValueError) as e, Store(tmp_path) as store:
        train_trial(small, cfg, store)
    assert str(e.value) == (
        f"{path}: the checkpoint of trial cosine-seed0: not a readable lrlab checkpoint "
        f"(UnpicklingError); to train the trial from the start, drop it: sqlite3 {path} "
        f"'DELETE FROM checkpoint WHERE trial_id = 1'")
    assert not [w for w in recwarn if "torch" in str(w.filename)]


def test_which_test_and_val_examples_each_trial_gets_right_is_stored(made, tmp_path):
    import numpy as np

    from lrlab.experiments.store import open_store, read_examples

    db = open_store(made)
    try:
        by_split = {split: read_examples(db, split) for split in ("test", "val")}
        for tid, acc in db.execute("SELECT id, test_acc FROM trial").fetchall():
            ex = {split: rows[tid] for split, rows in by_split.items() if tid in rows}
            assert set(ex) == {"test", "val"}
            n, hits = ex["test"]
            right = np.unpackbits(np.frombuffer(hits, np.uint8), count=n)
            assert right.sum() / n == pytest.approx(acc, abs=1e-12)
    finally:
        db.close()


def test_a_store_of_an_earlier_lrlab_without_per_example_results_reads_and_extends(made, tmp_path):
    from lrlab.experiments.runner import compare
    from lrlab.experiments.store import read_records

    out = _copy(made, tmp_path / "old")
    _sql(out, "DROP TABLE example")
    assert len(read_records(out)) == 4  # read as it is
    csv = json.loads(rows(out, "SELECT value FROM meta WHERE key = 'experiment'")[0][0])["task"]
    compare(csv, ["cosine", "step", "linear"], seeds=2, epochs=2, batch_size=16, out=out)
    assert rows(out, "SELECT COUNT(DISTINCT trial_id) FROM example") == [(2,)]  # the new ones
