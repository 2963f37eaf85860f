"""``lrlab compare``: flags and config files, the ranking table and JSON, one-line errors."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from lrlab.cli import cli


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_compare_json_then_the_same_command_trains_nothing(tiny_csv, tmp_path):
    args = ["compare", "--task", f"csv:{tiny_csv}", "--schedule", "cosine,step", "-p", "step.gamma=0.5",
            "--seeds", 2, "--epochs", 2, "--batch-size", 16, "--out", tmp_path, "--json"]
    r = run(*args)
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out) == {"schedules", "trials_total", "trials_finished"}
    assert out["trials_total"] == out["trials_finished"] == 4
    assert sorted(s["name"] for s in out["schedules"]) == ["cosine", "step"]
    assert {"test_acc_mean", "test_acc_std", "ci_low", "ci_high", "n_seeds", "diverged",
            "tied_with_best"} <= set(out["schedules"][0])
    again = run(*args[:-1], "--resume", "--json")
    assert again.exit_code == 0 and json.loads(again.stdout) == out and "epoch" not in again.stderr


def test_config_file_with_flags_overriding(tiny_csv, tmp_path):
    cfg = tmp_path / "e.yaml"
    cfg.write_text(f"task: csv:{tiny_csv}\nschedules:\n  - constant\n  - {{name: plateau, params: {{patience: 0}}}}\n"
                   "seeds: [4]\nepochs: 5\nbatch_size: 16\n")
    r = run("compare", "--config", cfg, "--epochs", 2, "--out", tmp_path / "o", "--quiet")
    assert r.exit_code == 0, r.stderr
    assert "constant" in r.stdout and "plateau" in r.stdout and "2 schedules x 1 seed " in r.stdout
    import sqlite3

    db = sqlite3.connect(tmp_path / "o" / "results.sqlite")
    assert sorted(db.execute("SELECT name, epochs FROM trial").fetchall()) == [
        ("constant-seed4", 2), ("plateau-seed4", 2)]
    db.close()


@pytest.mark.parametrize("args, expected", [
    (["--schedule", "cosinus"], "unknown schedule 'cosinus'"),
    (["--preset", "padle"], "unknown preset 'padle'; did you mean paddle?"),
    ([], "schedules: give at least one schedule (or a preset)"),
    (["--schedule", "cosine", "--seeds", 2, "--seed", "0,1"], "give --seeds N or --seed LIST, not both"),
    (["--schedule", "step", "-p", "step.gamma=-1"], "schedules[0].params.gamma: must be a finite number > 0"),
    (["--preset", "modern", "-p", "gamma=2"], "-p applies to --schedule names"),
    (["--schedule", "cosine", "--config", "nope.yaml"], "nope.yaml: cannot read the config"),
    (["--schedule", "cosine", "--epochs", 0], "epochs: must be an int >= 1"),
    (["--schedule", "cosine", "--label", "x"], "--label applies to csv:PATH tasks only"),
])
def test_errors_are_one_line_and_write_nothing(args, expected, tmp_path, monkeypatch, one_line_error):
    monkeypatch.chdir(tmp_path)
    one_line_error(run("compare", *args, "--out", "cmp", "--quiet"), expected)
    assert not (tmp_path / "cmp").exists()


def test_a_bad_config_file_is_one_line(tmp_path, monkeypatch, one_line_error):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "e.yaml").write_text("schedules:\n  - {name: step, params: {gama: 0.5}}\nsedes: 2\n")
    one_line_error(run("compare", "--config", "e.yaml", "--out", "cmp"), "sedes: unknown key; did you mean 'seeds'?")
    (tmp_path / "e.yaml").write_text("schedules:\n  - {name: step, params: {gama: 0.5}}\n")
    one_line_error(run("compare", "--config", "e.yaml", "--out", "cmp"),
                   "schedules[0].params: unknown parameter 'gama'; did you mean 'gamma'?")
    assert not (tmp_path / "cmp").exists()


def test_compare_writes_the_report_and_report_rebuilds_it(tiny_csv, tmp_path, one_line_error):
    out = tmp_path / "cmp"
    r = run("compare", "--task", f"csv:{tiny_csv}", "--schedule", "cosine,constant", "--seeds", 1,
            "--epochs", 1, "--batch-size", 16, "--out", out, "--quiet", "--json")
    assert r.exit_code == 0, r.stderr
    assert set(json.loads(r.stdout)) == {"schedules", "trials_total", "trials_finished"}
    page = out / "report.html"
    assert r.stderr.strip() == f"report: {page}" and page.is_file()
    assert sorted(p.name for p in (out / "report").glob("*.png")) == [
        "accuracy.png", "forest.png", "lr.png", "metrics.png"]
    page.unlink()
    again = run("report", out)
    assert again.exit_code == 0, again.stderr
    assert again.stdout.strip() == str(page) and page.is_file()
    assert 'data-name="cosine"' in page.read_text() and "single sample" in page.read_text()
    plain = run("compare", "--task", f"csv:{tiny_csv}", "--schedule", "cosine,constant", "--seeds", 1,
                "--epochs", 1, "--batch-size", 16, "--out", out, "--quiet")
    assert plain.exit_code == 0 and f"report: {page}" in plain.stdout
    (tmp_path / "empty").mkdir()
    one_line_error(run("report", tmp_path / "empty"), "no results.sqlite here")


_ARGS = ["compare", "--task", "digits", "--schedule", "cosine,step", "--seeds", "2", "--epochs", "4",
         "--quiet", "--json", "--out"]


def _lrlab():
    import sys

    script = Path(sys.executable).with_name("lrlab")
    return [str(script)] if script.exists() else [sys.executable, "-m", "lrlab"]


def test_compare_killed_twice_at_random_moments_then_resumed_gives_the_same_table(tmp_path):
    import random
    import signal
    import sqlite3
    import subprocess
    import time

    def table(out):
        db = sqlite3.connect(out / "results.sqlite")
        try:
            return (db.execute("SELECT key, name, status, test_acc, epochs, steps FROM trial "
                               "ORDER BY key").fetchall(),
                    db.execute("SELECT COUNT(*), COUNT(DISTINCT trial_id || '-' || step) FROM step").fetchone())
        finally:
            db.close()

    whole = subprocess.run(_lrlab() + _ARGS + [str(tmp_path / "whole")], capture_output=True, text=True)
    assert whole.returncode == 0, whole.stderr
    rng = random.Random(7)
    killed = tmp_path / "killed"
    for _ in range(2):
        child = subprocess.Popen(_lrlab() + _ARGS + [str(killed)], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while time.time() < deadline and child.poll() is None and not (killed / "results.sqlite").exists():
            time.sleep(0.01)
        time.sleep(rng.uniform(0.1, 1.5))
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
        child.wait()
    done = subprocess.run(_lrlab() + _ARGS + [str(killed)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    counts = lambda out: (json.loads(out)["trials_total"], json.loads(out)["trials_finished"])  # noqa: E731
    assert counts(done.stdout) == counts(whole.stdout) == (4, 4)
    (rows_a, steps_a), (rows_b, steps_b) = table(tmp_path / "whole"), table(killed)
    assert rows_b == rows_a and steps_b == steps_a and steps_b[0] == steps_b[1]  # no duplicates
    ranks = lambda out: [(s["name"], s["test_acc_mean"]) for s in json.loads(out)["schedules"]]  # noqa: E731
    assert ranks(done.stdout) == ranks(whole.stdout)


def test_a_second_compare_on_the_same_folder_is_refused(tmp_path, one_line_error):
    from lrlab.experiments.lock import OutputFolder

    with OutputFolder(tmp_path) as held:
        held.claim()
        one_line_error(run("compare", "--schedule", "cosine", "--epochs", 1, "--seeds", 1,
                           "--out", tmp_path, "--quiet"), "is in use by another lrlab process")


# ---- promises on compare (issue: what a hostile battery and a newcomer broke) --------------------
def _small(csv, out, *more):
    return ["compare", "--task", f"csv:{csv}", "--schedule", "cosine", "--seeds", 1, "--epochs", 1,
            "--batch-size", 16, "--out", out, "--quiet", *more]


def _trials(out):
    import sqlite3

    db = sqlite3.connect(Path(out) / "results.sqlite")
    try:
        return db.execute("SELECT name, status FROM trial ORDER BY name").fetchall()
    finally:
        db.close()


def test_one_configuration_under_two_labels_is_refused_before_anything_is_written(
        tmp_path, monkeypatch, one_line_error):
    monkeypatch.chdir(tmp_path)
    Path("two.yaml").write_text("schedules: [cosine, {name: cosine, label: cosine2}]\nseeds: 1\nepochs: 2\n")
    for engine in ("vectorized", "sequential"):
        one_line_error(run("compare", "--config", "two.yaml", "--out", "X", "--engine", engine),
                       "schedules[1]: cosine2 is the same configuration as schedules[0] (cosine)")
        assert not Path("X").exists()


@pytest.mark.parametrize("name", ["cmp%41", "hash#x", "q?x=1", "sp ace", "ünï cødé", "a%2Fb"])
def test_any_folder_name_works(tiny_csv, tmp_path, name):
    other = tmp_path / "cmpA"  # what 'cmp%41' decoded would be: never read in its place
    assert run(*_small(tiny_csv, other, "--schedule", "step")).exit_code == 0
    out = tmp_path / name
    r = run(*_small(tiny_csv, out))
    assert r.exit_code == 0, r.stderr
    assert _trials(out) == [("cosine-seed0", "finished")]
    page = (out / "report.html").read_text()
    assert 'data-name="cosine"' in page and 'data-name="step"' not in page
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["cmpA", name])  # nothing beside it
    r = run("report", out)
    assert r.exit_code == 0 and r.stdout.strip() == str(out / "report.html")


@pytest.mark.parametrize("device, says", [("cuda:7", "device 'cuda:7' is not available"),
                                          ("junk", "device must be cpu, cuda, cuda:N or mps, got 'junk'")])
def test_a_refused_device_writes_nothing_and_the_corrected_command_runs(
        tiny_csv, tmp_path, device, says, one_line_error):
    out = tmp_path / "dev"
    one_line_error(run(*_small(tiny_csv, out, "--device", device, "--epochs", 2)), says)
    assert not out.exists()
    assert run(*_small(tiny_csv, out)).exit_code == 0


def test_defaults_are_recorded_resolved_so_giving_them_explicitly_is_the_same_experiment(tiny_csv, tmp_path):
    import sqlite3

    out = tmp_path / "o"
    assert run(*_small(tiny_csv, out)).exit_code == 0
    db = sqlite3.connect(out / "results.sqlite")
    exp = json.loads(db.execute("SELECT value FROM meta WHERE key = 'experiment'").fetchone()[0])
    db.close()
    assert exp["lr"] == 0.05 and exp["optimizer"] == "momentum" and exp["weight_decay"] == 0.0
    r = run(*_small(tiny_csv, out, "--lr", 0.05, "--optimizer", "momentum", "--json"))
    assert r.exit_code == 0, r.stderr
    r = run(*_small(tiny_csv, out, "--lr", 0.1))
    assert r.exit_code == 2 and "holds an experiment with lr=0.05, not 0.1" in r.stderr


@pytest.mark.parametrize("text, says", [
    ("task: 5\nschedules: [cosine]\n", "task: must be digits, imagefolder:PATH or csv:PATH, got 5"),
    ("schedules: [cosine]\nsedes: 2\nepoch: 3\n", "sedes: unknown key; did you mean 'seeds'?; "
                                                  "epoch: unknown key; did you mean 'epochs'?"),
    ("schedules: [cosine\nseeds: 2\n", "e.yaml:2:6: not valid YAML (while parsing a flow sequence"),
    ("a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi")), "expands to more than 100000 values"),
])
def test_bad_config_files_are_one_line_naming_the_file(text, says, tmp_path, monkeypatch, one_line_error):
    monkeypatch.chdir(tmp_path)
    Path("e.yaml").write_text(text)
    one_line_error(run("compare", "--config", "e.yaml", "--out", "cmp"), says)
    assert not Path("cmp").exists()


def test_a_json_config_error_gives_the_line_and_column(tmp_path, monkeypatch, one_line_error):
    monkeypatch.chdir(tmp_path)
    Path("e.json").write_text('{"schedules": ["cosine"],\n  seeds: 2}')
    one_line_error(run("compare", "--config", "e.json", "--out", "cmp"),
                   "e.json:2:3: not valid JSON (Expecting property name enclosed in double quotes)")


def test_huge_configs_are_refused_early_with_their_limit(tmp_path, monkeypatch, one_line_error):
    monkeypatch.chdir(tmp_path)
    Path("many.json").write_text(json.dumps({"schedules": ["cosine"] * 200_000}))
    one_line_error(run("compare", "--config", "many.json", "--out", "cmp"),
                   "bytes; a config file is at most 1048576 bytes")
    Path("some.json").write_text(json.dumps({"schedules": [{"name": "step", "label": f"s{i}"}
                                                           for i in range(1001)]}))
    one_line_error(run("compare", "--config", "some.json", "--out", "cmp"),
                   "schedules: at most 1000 in one experiment, got 1001")


def test_schedules_is_an_alias_and_plot_reads_a_compare_folder(tiny_csv, tmp_path):
    out = tmp_path / "o"
    r = run("compare", "--task", f"csv:{tiny_csv}", "--schedules", "cosine,step", "--seeds", 1,
            "--epochs", 2, "--batch-size", 16, "--out", out, "--quiet")
    assert r.exit_code == 0, r.stderr
    assert _trials(out) == [("cosine-seed0", "finished"), ("step-seed0", "finished")]
    r = run("plot", "--run", out, "-o", tmp_path / "p.png")
    assert r.exit_code == 0, r.stderr
    assert (tmp_path / "p.png").stat().st_size > 10_000


def test_report_removes_what_a_killed_report_write_left(tiny_csv, tmp_path):
    from lrlab.fileio import TMP_SUFFIX

    out = tmp_path / "o"
    assert run(*_small(tiny_csv, out)).exit_code == 0
    left = [out / f"report.html.x1{TMP_SUFFIX}", out / "report" / f"lr.png.x2{TMP_SUFFIX}"]
    for p in left:
        p.write_text("half")
    assert run("report", out).exit_code == 0
    assert not any(p.exists() for p in left)


@pytest.fixture
def small_disk(tmp_path):
    """A 256 KiB tmpfs (root and mount allowed), or a skip; ``grow()`` frees space."""
    import subprocess

    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(disk)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (the store's write failure is tested by a "
                    "failing connection in tests/experiments/test_store.py)")

    class Disk:
        path = disk

        @staticmethod
        def grow():
            subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)

    yield Disk
    subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def test_a_full_disk_is_one_line_and_the_same_command_continues_identical(tiny_csv, tmp_path,
                                                                          small_disk):
    args = ["compare", "--task", f"csv:{tiny_csv}", "--schedule", "cosine,step", "--seeds", 2,
            "--epochs", 3, "--batch-size", 16, "--quiet", "--json", "--out"]
    whole = run(*args, tmp_path / "whole")
    assert whole.exit_code == 0, whole.stderr
    out = small_disk.path / "cmp"
    full = run(*args, out)
    assert full.exit_code == 2 and full.stderr.count("\n") == 1, full.stderr
    assert full.stderr.startswith(f"lrlab: error: {out}") and "cannot write" in full.stderr
    assert "No space left on device" in full.stderr or "disk is full" in full.stderr, full.stderr
    small_disk.grow()
    done = run(*args, out)
    assert done.exit_code == 0, done.stderr
    counts = lambda r: (json.loads(r.stdout)["trials_total"], json.loads(r.stdout)["trials_finished"])  # noqa: E731
    assert counts(done) == counts(whole) == (4, 4)
    accs = lambda r: [(s["name"], s["per_seed"]) for s in json.loads(r.stdout)["schedules"]]  # noqa: E731
    strip = lambda rows: [(n, [(p["seed"], p["test_acc"]) for p in ps]) for n, ps in rows]  # noqa: E731
    assert strip(accs(done)) == strip(accs(whole))


@pytest.mark.parametrize("name, text, says", [
    ("e.json", '{"schedules": ["cosine"], "seeds": 2, "seeds": 3}', "the key 'seeds' is given twice"),
    ("e.yaml", "schedules: [cosine]\nseeds: 2\nseeds: 3\n", "e.yaml:1:1: the key 'seeds' is given twice"),
])
def test_a_key_given_twice_is_refused(name, text, says, tmp_path, monkeypatch, one_line_error):
    monkeypatch.chdir(tmp_path)
    Path(name).write_text(text)
    one_line_error(run("compare", "--config", name, "--out", "cmp"), says)


def test_a_relative_folder_named_like_a_uri_works(tiny_csv, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = run(*_small(tiny_csv, "file:x"))
    assert r.exit_code == 0, r.stderr
    assert _trials(tmp_path / "file:x") == [("cosine-seed0", "finished")]


def test_a_store_on_a_read_only_mount_reports_and_plots(tiny_csv, tmp_path):
    import shutil
    import subprocess

    src = tmp_path / "src"
    assert run(*_small(tiny_csv, src)).exit_code == 0
    ro = tmp_path / "ro"
    ro.mkdir()
    for f in ("results.sqlite",):
        shutil.copy(src / f, ro / f)
    if subprocess.run(["mount", "--bind", str(ro), str(ro)], capture_output=True).returncode:
        pytest.skip("cannot bind-mount here")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(ro)], check=True, capture_output=True)
        r = run("plot", "--run", ro, "-o", tmp_path / "p.png")
        assert r.exit_code == 0, r.stderr
        from lrlab.report.tables import load

        assert [row["name"] for row in load(ro).ranking] == ["cosine"]
    finally:
        subprocess.run(["umount", "-l", str(ro)], capture_output=True)
    # a write-ahead log left by a killed writer holds committed rows: never read around it
    import sys

    code = (f"import os, sqlite3; db = sqlite3.connect({str(ro / 'results.sqlite')!r}); "
            "db.execute('PRAGMA wal_autocheckpoint=0'); "
            "db.execute(\"INSERT INTO meta VALUES ('marker', '1')\"); db.commit(); os._exit(0)")
    subprocess.run([sys.executable, "-c", code], check=True)
    (ro / "results.sqlite-shm").unlink(missing_ok=True)
    assert (ro / "results.sqlite-wal").stat().st_size > 0
    subprocess.run(["mount", "--bind", str(ro), str(ro)], check=True, capture_output=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(ro)], check=True, capture_output=True)
        with pytest.raises(ValueError, match="a write-ahead log is pending"):
            load(ro)
    finally:
        subprocess.run(["umount", "-l", str(ro)], capture_output=True)


def test_the_python_api_takes_one_schedule_and_refuses_odd_seeds_in_one_line(tiny_csv, tmp_path):
    import lrlab

    result = lrlab.compare(f"csv:{tiny_csv}", "cosine", seeds=1, epochs=1, batch_size=16,
                           out=tmp_path / "one")
    assert [r["name"] for r in result.ranking] == ["cosine"]
    with pytest.raises(ValueError, match="seeds: must be a count or a non-empty list of seeds, got 2.5"):
        lrlab.compare(f"csv:{tiny_csv}", "cosine", seeds=2.5, out=tmp_path / "two")
    assert not (tmp_path / "two").exists()


# ---- --model and --trainer: the user's code, named on the command line --------------------
MODEL = """
import torch

def make(info):
    c, h, w = info.input_shape
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(c * h * w, info.outputs))

def wrong(info):
    return "a model"

def crashes(info):
    raise RuntimeError("out of ideas")
"""


@pytest.mark.parametrize("model, expected", [
    ("nofile.py:make", "--model: nofile.py: no such file"),
    ("m.py:nothing", "m.py has no function 'nothing' (it defines: crashes, make, wrong)"),
    ("m.py:wrong", "model m.py:wrong is a str, not a torch.nn.Module"),
    ("m.py:crashes", "model m.py:crashes raised RuntimeError: out of ideas"),
    ("vgg", "--model: must be one of default, cnn, mlp, resnet or your FILE.py:FUNCTION, got 'vgg'"),
])
def test_a_bad_model_is_one_line_and_writes_nothing(model, expected, tmp_path, monkeypatch,
                                                    one_line_error):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.py").write_text(MODEL)
    one_line_error(run("compare", "--model", model, "--schedule", "cosine", "--out", "cmp"), expected)
    assert not (tmp_path / "cmp").exists()


def test_your_model_is_recorded_and_a_resume_with_another_is_refused(tmp_path, monkeypatch,
                                                                     one_line_error):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.py").write_text(MODEL)
    args = ["compare", "--model", "m.py:make", "--schedule", "cosine", "--seeds", 1, "--epochs", 1,
            "--out", "cmp", "--quiet"]
    assert run(*args).exit_code == 0
    import sqlite3

    db = sqlite3.connect(tmp_path / "cmp" / "results.sqlite")
    model = json.loads(db.execute("SELECT value FROM meta WHERE key = 'experiment'").fetchone()[0])["model"]
    db.close()
    assert model["ref"] == "m.py:make" and len(model["sha256"]) == 64
    (tmp_path / "m.py").write_text(MODEL + "\n# edited\n")
    one_line_error(run(*args), "holds an experiment with model='m.py:make (sha256")
    one_line_error(run(*args[:2], "resnet", *args[3:]), "holds an experiment with model=")


def test_a_config_file_names_no_code(tmp_path, monkeypatch, one_line_error):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "e.yaml").write_text("trainer: loop.py:train\nschedules: [cosine]\n")
    one_line_error(run("compare", "--config", "e.yaml", "--out", "cmp"),
                   "trainer: a config file names no code; give it on the command line")
    (tmp_path / "e.yaml").write_text("model: m.py:make\nschedules: [cosine]\n")
    one_line_error(run("compare", "--config", "e.yaml", "--out", "cmp"),
                   "model: a config file names a built-in model")
    (tmp_path / "e.yaml").write_text("model: resnet\nschedules: [cosine]\nepochs: 1\nseeds: 1\n")
    r = run("compare", "--config", "e.yaml", "--out", "cmp", "--quiet")
    assert r.exit_code == 0, r.stderr
    assert not (tmp_path / "m.py").exists()


def test_a_trainer_from_the_command_line(tmp_path, monkeypatch, one_line_error):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "loop.py").write_text(
        "def train(trial):\n"
        "    for e in range(trial.epochs):\n"
        "        trial.report(e, val_acc=0.5 + 0.1 * (trial.schedule.name == 'cosine'))\n"
        "    return {'test_acc': 0.5}\n")
    one_line_error(run("compare", "--trainer", "loop.py:train", "--schedule", "cosine",
                       "--out", "cmp"), "steps_per_epoch: a trainer's schedule needs it")
    one_line_error(run("compare", "--trainer", "loop.py:train", "--steps-per-epoch", 2,
                       "--schedule", "cosine", "--optimizer", "sgd", "--out", "cmp"),
                   "optimizer: the trainer chooses its own optimizer")
    one_line_error(run("compare", "--trainer", "loop.py:train", "--steps-per-epoch", 2,
                       "--schedule", "cosine", "--engine", "sequential", "--out", "cmp"),
                   "--engine applies to lrlab's engine; a trainer chooses its own engine")
    one_line_error(run("compare", "--trainer", "loop.py:train", "--steps-per-epoch", 2,
                       "--schedule", "cosine", "--split-seed", 3, "--out", "cmp"),
                   "--split-seed applies to lrlab's tasks; a trainer loads its own data")
    assert not (tmp_path / "cmp").exists()
    r = run("compare", "--trainer", "loop.py:train", "--steps-per-epoch", 2, "--schedule",
            "cosine,step", "--seeds", 2, "--epochs", 2, "--metric", "val_acc", "--out", "cmp",
            "--json", "--quiet")
    assert r.exit_code == 0, r.stderr
    ranking = json.loads(r.stdout)["schedules"]
    assert [(x["name"], round(x["test_acc_mean"], 6)) for x in ranking] == [("cosine", 0.6),
                                                                           ("step", 0.5)]
    # the report names the trainer, and its command (the code on the command line, the rest
    # in the config file it wrote) runs the same experiment: nothing left to train
    page = (tmp_path / "cmp" / "report.html").read_text()
    assert "loop.py:train" in page and "validation accuracy of the last epoch" in page
    config = json.loads((tmp_path / "cmp" / "report" / "experiment.json").read_text())
    assert "trainer" not in config and config["steps_per_epoch"] == 2
    import html
    import re
    import shlex

    command = next(html.unescape(c) for c in re.findall(r"<pre>(lrlab compare [^<]*)</pre>", page))
    assert "--trainer loop.py:train --steps-per-epoch 2 --config" in command
    again = run(*shlex.split(command)[1:], "--json", "--quiet")
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)["schedules"] == ranking


def test_with_json_what_a_trainer_prints_goes_to_stderr(tmp_path):
    """Python prints and writes to file descriptor 1 (a framework's C++ log) alike."""
    import subprocess
    import sys

    (tmp_path / "loud.py").write_text(
        "import os\n"
        "print('imported, says the file')\n"
        "def train(trial):\n"
        "    print('python says hello')\n"
        "    os.write(1, b'fd 1 says hello\\n')\n"
        "    trial.report(0, val_acc=0.5)\n"
        "    return {'test_acc': 0.5}\n")
    r = subprocess.run([sys.executable, "-m", "lrlab", "compare", "--trainer", "loud.py:train",
                        "--steps-per-epoch", "1", "--schedule", "cosine", "--seeds", "1",
                        "--epochs", "1", "--out", "cmp", "--json", "--quiet"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["trials_finished"] == 1
    assert "python says hello" in r.stderr and "fd 1 says hello" in r.stderr and "imported, says" in r.stderr
