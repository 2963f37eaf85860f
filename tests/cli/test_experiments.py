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
