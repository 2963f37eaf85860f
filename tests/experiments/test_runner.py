"""compare: the experiment trained into the store and ranked; the same call again trains
nothing; other run settings are refused, other schedules and seeds extend."""

import sqlite3

import pytest

from lrlab.experiments.runner import compare


def _trials(out):
    db = sqlite3.connect(out / "results.sqlite")
    try:
        return db.execute("SELECT name, status FROM trial ORDER BY id").fetchall()
    finally:
        db.close()


def test_compare_ranks_and_is_idempotent(small, tmp_path, monkeypatch):
    import lrlab.training.tasks as tasks

    monkeypatch.setattr(tasks, "load_task", lambda spec, **kw: small)
    r = compare("digits", ["constant", {"name": "step", "params": {"gamma": 0.5}, "label": "half"}],
                seeds=2, epochs=3, lr=0.1, out=tmp_path)
    assert sorted(row["name"] for row in r.ranking) == ["constant", "half"]
    assert r.to_json()["trials_total"] == 4 and r.to_json()["trials_finished"] == 4
    by_seed = {(rec.name, rec.config["seed"]): rec.test_acc for rec in r.records}
    for row in r.ranking:
        accs = [by_seed[(f"{row['name']}-seed{s}", s)] for s in (0, 1)]
        assert row["test_acc_mean"] == pytest.approx(sum(accs) / 2, rel=1e-12)
    events = []
    again = compare("digits", ["constant", {"name": "step", "params": {"gamma": 0.5}, "label": "half"}],
                    seeds=2, epochs=3, lr=0.1, out=tmp_path, on_event=events.append)
    assert events == [] and again.ranking == r.ranking and len(_trials(tmp_path)) == 4
    # another seed extends the experiment: only its trials train
    more = compare("digits", ["constant", {"name": "step", "params": {"gamma": 0.5}, "label": "half"}],
                   seeds=3, epochs=3, lr=0.1, out=tmp_path, on_event=events.append)
    assert {e.name for e in events} == {"constant-seed2", "half-seed2"}
    assert len(_trials(tmp_path)) == 6 and all(row["n_seeds"] == 3 for row in more.ranking)
    with pytest.raises(ValueError, match="holds an experiment with epochs=3, not 4; only schedules and seeds"):
        compare("digits", ["constant"], seeds=2, epochs=4, lr=0.1, out=tmp_path)


def test_a_refused_experiment_writes_nothing(small, tmp_path, monkeypatch):
    import lrlab.training.tasks as tasks

    monkeypatch.setattr(tasks, "load_task", lambda spec, **kw: small)
    with pytest.raises(ValueError, match=r"warmup \(5\) must be shorter"):
        compare("digits", ["cosine"], epochs=2, warmup=5, out=tmp_path / "x")
    with pytest.raises(ValueError, match="schedules\\[0\\].params.gamma"):
        compare("digits", [{"name": "step", "params": {"gamma": -1}}], out=tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_a_store_recorded_before_defaults_were_resolved_is_the_same_experiment(small, tmp_path, monkeypatch):
    import json
    import sqlite3

    import lrlab.training.tasks as tasks

    monkeypatch.setattr(tasks, "load_task", lambda spec, **kw: small)
    compare("digits", ["constant"], seeds=1, epochs=1, out=tmp_path)
    db = sqlite3.connect(tmp_path / "results.sqlite")
    (text,) = db.execute("SELECT value FROM meta WHERE key = 'experiment'").fetchone()
    old = {k: v for k, v in json.loads(text).items() if k not in ("lr", "optimizer", "batch_size")}
    db.execute("UPDATE meta SET value = ? WHERE key = 'experiment'", (json.dumps(old),))
    db.commit()
    db.close()
    result = compare("digits", ["constant"], seeds=1, epochs=1, lr=0.05, out=tmp_path)
    assert result.to_json()["trials_finished"] == 1


def test_the_report_is_written_while_the_folder_is_held(small, tmp_path, monkeypatch):
    import lrlab.training.tasks as tasks
    from lrlab.experiments.lock import OutputFolder

    monkeypatch.setattr(tasks, "load_task", lambda spec, **kw: small)
    import lrlab.report.html as html

    held = []
    real = html._files

    def spy(data):
        other = OutputFolder(tmp_path)
        with pytest.raises(ValueError, match="in use by another lrlab process"):
            other.claim()  # the compare still holds its folder while its report is written
        held.append(True)
        return real(data)

    monkeypatch.setattr(html, "_files", spy)
    result = compare("digits", ["constant"], seeds=1, epochs=1, out=tmp_path, report=True)
    assert held == [True] and result.page == tmp_path / "report.html" and result.page.is_file()


@pytest.mark.parametrize("a, b", [
    ({"name": "cosine", "label": "a"}, {"name": "cos", "label": "b"}),                 # an alias
    ({"name": "cosine", "label": "a"}, {"name": "cosine", "label": "b",
                                        "params": {"base_lr": 0.05}}),                # the default
    ({"name": "step", "label": "a", "params": {"step_size": 2}},
     {"name": "step", "label": "b", "params": {"step_size": 2.0}}),                   # 2 == 2.0
    ({"name": "plateau", "label": "a"}, {"name": "plateau", "label": "b",
                                         "params": {"factor": 0.1}}),                  # Plateau's default
])
def test_two_labels_that_run_the_same_trials_are_refused_before_the_store(small, tmp_path,
                                                                           monkeypatch, a, b):
    import lrlab.training.tasks as tasks

    monkeypatch.setattr(tasks, "load_task", lambda spec, **kw: small)
    with pytest.raises(ValueError, match="schedules: b runs the same trials as a"):
        compare("digits", [a, b], seeds=1, epochs=2, out=tmp_path / "x")
    assert not (tmp_path / "x").exists()
    other = dict(b, params={"factor": 0.5}) if a["name"] == "plateau" else {"name": "step", "label": "b"}
    assert compare("digits", [a, other], seeds=1, epochs=2, out=tmp_path / "y").to_json()[
        "trials_finished"] == 2


def test_your_own_task_object_and_model_function(tmp_path):
    import torch

    from lrlab.training.tasks import Split, Task, load_task

    digits = load_task("digits")
    mine = Task("my-digits", Split(digits.train.x[:300], digits.train.y[:300]), digits.val,
                digits.test, digits.build_model, classes=digits.classes)

    def make(info):
        return torch.nn.Sequential(torch.nn.Flatten(),
                                   torch.nn.Linear(int(torch.tensor(info.input_shape).prod()), info.outputs))

    r = compare(mine, ["cosine", "step"], seeds=2, epochs=1, out=tmp_path, model=make)
    assert [rec.status for rec in r.records] == ["finished"] * 4
    import json
    import sqlite3

    db = sqlite3.connect(tmp_path / "results.sqlite")
    definition = json.loads(db.execute("SELECT value FROM meta WHERE key = 'experiment'").fetchone()[0])
    assert definition["task"] == "my-digits" and definition["model"]["ref"].endswith("make")
    assert db.execute("SELECT DISTINCT task FROM trial").fetchall() == [
        ('{"spec": "my-digits", "options": {}}',)]
    db.close()
    with pytest.raises(ValueError, match="task: must be a Task or a spec .* got a dict$"):
        compare({"x": 1}, ["cosine"], out=tmp_path / "no")
    with pytest.raises(ValueError, match=r"^task my-digits: .*model resnet raised .*needs images"):
        flat = Split(torch.randn(30, 5), torch.arange(30) % 10)
        compare(Task("my-digits", flat, flat, flat, digits.build_model, classes=digits.classes),
                ["cosine"], out=tmp_path / "no", model="resnet")
    assert not (tmp_path / "no").exists()


def test_another_tasks_data_under_the_same_name_is_refused(tmp_path):
    from dataclasses import replace

    from lrlab.training.tasks import Split, load_task

    digits = load_task("digits")
    mine = replace(digits, train=Split(digits.train.x[:400], digits.train.y[:400]))
    compare(mine, ["cosine"], seeds=1, epochs=1, out=tmp_path)  # spec "digits", other data
    with pytest.raises(ValueError, match="holds an experiment with task_options="):
        compare("digits", ["cosine"], seeds=1, epochs=1, out=tmp_path)
    compare(mine, ["cosine"], seeds=[0, 1], epochs=1, out=tmp_path)  # the same data extends it


def test_a_batchnorm_model_with_a_last_batch_of_one_is_refused_before_writing(tmp_path):
    import torch

    from lrlab.training.tasks import Split, Task

    s = Split(torch.randn(65, 4), torch.arange(65) % 2)
    task = Task("bn", s, s, s, lambda: torch.nn.Sequential(torch.nn.Linear(4, 8),
                                                           torch.nn.BatchNorm1d(8),
                                                           torch.nn.Linear(8, 2)), classes=("a", "b"))
    with pytest.raises(ValueError, match="batch_size: 64 leaves a last batch of 1 of the 65"):
        compare(task, ["cosine"], seeds=1, epochs=1, out=tmp_path / "no")
    assert not (tmp_path / "no").exists()
    assert compare(task, ["cosine"], seeds=1, epochs=1, batch_size=30, out=tmp_path / "ok").records
