"""``lrlab train`` / ``test`` / ``find-lr`` (lrlab.cli.training): results, run folders, one-line
errors.

Kept fast: digits runs are 1-2 epochs; the every-schedule runs use a tiny CSV table.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import lrlab
from lrlab.cli import cli

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
KEYS = {"test_acc", "test_loss", "best_epoch", "status", "seconds", "name", "out"}
ALL_SCHEDULES = [*lrlab.names(), "plateau"]


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def one(result):
    """The only trial of a `--json` result (always {"trials": [...]}, whatever their number)."""
    assert set(result) == {"trials"} and len(result["trials"]) == 1, result
    return result["trials"][0]


def run_json(*args):
    r = run(*args)
    assert r.exit_code == 0, (r.stdout, r.stderr)
    assert len(r.stdout.splitlines()) == 1
    return json.loads(r.stdout)


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """One finished 2-epoch cosine run on digits: (run folder, train's JSON)."""
    out = tmp_path_factory.mktemp("digits")
    result = one(run_json("train", "--task", "digits", "--schedule", "cosine", "--epochs", 2,
                          "--out", out, "--quiet", "--json"))
    return out, result


# ---- train ----------------------------------------------------------------------------------
def test_train_json_and_run_folder(digits_run):
    out, result = digits_run
    assert set(result) == KEYS
    assert result["status"] == "finished" and result["name"] == "cosine-seed0"
    assert 0.0 < result["test_acc"] <= 1.0 and result["test_loss"] > 0
    assert result["best_epoch"] in (0, 1) and result["seconds"] > 0
    folder = out / "cosine-seed0"
    assert result["out"] == str(folder)
    for f in ("config.json", "epochs.jsonl", "steps.csv", "summary.json", "model.pt"):
        assert (folder / f).is_file(), f
    assert not (folder / "checkpoint.pt").exists()
    config = json.loads((folder / "config.json").read_text())
    assert config["task"] == "digits" and config["schedule"] == "cosine" and config["epochs"] == 2
    summary = json.loads((folder / "summary.json").read_text())
    assert {k: summary[k] for k in KEYS - {"out"}} == {k: result[k] for k in KEYS - {"out"}}


def test_resume_of_a_finished_run_reports_it_without_training(digits_run):
    out, result = digits_run
    model = out / "cosine-seed0" / "model.pt"
    before = model.stat().st_mtime_ns
    again = one(run_json("train", "--schedule", "cosine", "--epochs", 2, "--out", out,
                         "--resume", "--quiet", "--json"))
    assert again == result
    assert model.stat().st_mtime_ns == before


def test_existing_run_without_resume_is_an_error(digits_run, one_line_error):
    out, _ = digits_run
    r = run("train", "--schedule", "cosine", "--epochs", 2, "--out", out, "--quiet")
    one_line_error(r, "already holds a run; use --resume")


def test_population_with_scoped_params(tmp_path):
    r = run("train", "--schedule", "cosine", "--schedule", "step", "--seed", "0,1",
            "-p", "step.gamma=0.5", "--epochs", 1, "--batch-size", 256, "--out", tmp_path, "--json")
    assert r.exit_code == 0, r.stderr
    assert "step-gamma0.5-seed1" in r.stderr  # the progress goes to stderr, the JSON alone to stdout
    result = json.loads(r.stdout)
    names = ["cosine-seed0", "cosine-seed1", "step-gamma0.5-seed0", "step-gamma0.5-seed1"]
    assert set(result) == {"trials"} and [t["name"] for t in result["trials"]] == names
    assert all(set(t) == KEYS and t["status"] == "finished" for t in result["trials"])
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != ".lrlab.lock") == names
    for name in names:
        config = json.loads((tmp_path / name / "config.json").read_text())
        assert config["params"] == ({"gamma": 0.5} if name.startswith("step") else {})
        assert config["seed"] == int(name[-1])
    tested = run_json("test", tmp_path, "--json")
    assert tested == result


def test_every_schedule_trains_out_of_the_box(tiny_csv, tmp_path):
    """Every name of `lrlab list` trains without parameters: one population, one epoch of 4
    optimizer steps (--interval step, which plateau does not take: it is tested below)."""
    schedules = [a for n in lrlab.names() for a in ("--schedule", n)]
    result = run_json("train", "--task", f"csv:{tiny_csv}", *schedules, "--interval", "step",
                      "--epochs", 1, "--batch-size", 16, "--out", tmp_path, "--quiet", "--json")
    trials = result["trials"]
    from lrlab.training.trial import TrialConfig

    expect = [TrialConfig(schedule=n, interval="step").name for n in lrlab.names()]
    assert [t["name"] for t in trials] == expect and "cosine-intervalstep-seed0" in expect
    assert all(t["status"] == "finished" and t["test_acc"] is not None for t in trials), trials


@pytest.mark.parametrize("name", ALL_SCHEDULES)
def test_every_schedule_trains_one_epoch(tiny_csv, name):
    from lrlab.training.engines import train_trial
    from lrlab.training.tasks import load_task
    from lrlab.training.trial import TrialConfig

    rec = train_trial(load_task(f"csv:{tiny_csv}"), TrialConfig(schedule=name, epochs=1, batch_size=32))
    assert rec.status == "finished" and len(rec.epochs) == 1


def test_plateau_after_a_warmup(tiny_csv, tmp_path):
    r = one(run_json("train", "--task", f"csv:{tiny_csv}", "--schedule", "plateau", "--warmup", "50%",
                     "-p", "patience=0", "--epochs", 4, "--batch-size", 16, "--out", tmp_path,
                     "--quiet", "--json"))
    assert r["status"] == "finished"
    assert r["name"] == "plateau-patience0-warmup50%-seed0"
    rows = (tmp_path / r["name"] / "steps.csv").read_text().splitlines()[1:]
    lrs = [float(row.split(",")[2]) for row in rows]
    per_epoch = len(lrs) // 4
    # two warmup epochs from lr/3 to 2lr/3, then the plateau starts at --lr
    assert lrs[0] == pytest.approx(0.05 / 3) and lrs[per_epoch] == pytest.approx(0.1 / 3)
    assert lrs[2 * per_epoch] == 0.05


def test_variants_of_one_schedule_share_a_run(tiny_csv, tmp_path):
    for lr in ("0.05", "0.1"):
        run_json("train", "--task", f"csv:{tiny_csv}", "--schedule", "cosine", "--lr", lr,
                 "--epochs", 1, "--out", tmp_path, "--quiet", "--json")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != ".lrlab.lock") == [
        "cosine-lr0.1-seed0", "cosine-seed0"]


def test_train_options_reach_the_trial(tiny_csv, tmp_path):
    r = run("train", "--task", f"csv:{tiny_csv}", "--label", "label", "--schedule", "linear",
            "--early-stop", "patience=1,min_delta=0.001,monitor=val_acc,restore_best=false",
            "--warmup", "10%", "--interval", "step", "--optimizer", "adamw", "--lr", "0.01",
            "--weight-decay", "0.01", "--epochs", 3, "--batch-size", 16, "--seed", 2,
            "--out", tmp_path, "--quiet")
    assert r.exit_code == 0, r.stderr
    name = "linear-lr0.01-warmup10%-intervalstep-seed2"
    assert r.stdout.startswith(name + " ") and "test acc " in r.stdout
    config = json.loads((tmp_path / name / "config.json").read_text())
    assert config["early_stop"] == {"patience": 1, "min_delta": 0.001, "monitor": "val_acc",
                                    "restore_best": False}
    assert (config["warmup"], config["interval"], config["optimizer"], config["lr"],
            config["weight_decay"], config["seed"]) == ("10%", "step", "adamw", 0.01, 0.01, 2)


def test_imagefolder_task_options(tmp_path, monkeypatch):
    PIL = pytest.importorskip("PIL.Image")
    monkeypatch.setenv("LRLAB_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "images"
    for c, colour in [("bee", "yellow"), ("wasp", "black")]:
        (root / c).mkdir(parents=True)
        for i in range(10):
            PIL.new("RGB", (12, 10), colour).save(root / c / f"{i}.png")
    options = ["--image-size", 6, "--split-seed", 3]
    result = run_json("train", "--task", f"imagefolder:{root}", *options, "--schedule", "cosine",
                      "--epochs", 1, "--out", tmp_path / "run", "--quiet", "--json")
    assert one(result)["status"] == "finished"
    assert list((tmp_path / "cache").glob("imagefolder-images-6-*.npz"))
    config = json.loads((tmp_path / "run" / "cosine-seed0" / "config.json").read_text())
    assert config["task"] == f"imagefolder:{root}" and config["task_options"] == {"size": 6, "split_seed": 3}
    # from any folder, with or without the same options; other options are refused
    monkeypatch.chdir(tmp_path / "cache")
    assert run_json("test", tmp_path / "run", "--json") == result
    assert run_json("test", tmp_path / "run", *options, "--json") == result
    r = run("test", tmp_path / "run", "--image-size", 8)
    assert r.exit_code == 2 and "trained with --image-size 6; testing it with 8" in r.stderr
    # the data moved: --data points at it
    root.rename(tmp_path / "moved")
    assert run("test", tmp_path / "run").exit_code == 2
    assert run_json("test", tmp_path / "run", "--data", tmp_path / "moved", "--json") == result


# ---- test -----------------------------------------------------------------------------------
def test_test_reproduces_train(digits_run):
    out, result = digits_run
    assert one(run_json("test", out, "--json")) == result
    assert one(run_json("test", out / "cosine-seed0", "--json")) == result
    r = run("test", out)
    assert r.exit_code == 0
    assert r.stdout.startswith("cosine-seed0  finished ") and f"{result['test_acc']:.4f}" in r.stdout


def test_test_refuses_unfinished_trials(tmp_path, one_line_error):
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "config.json").write_text(json.dumps({"task": "digits", "schedule": "cosine"}))
    one_line_error(run("test", tmp_path), "has not finished")


# ---- find-lr --------------------------------------------------------------------------------
def test_find_lr_json_and_plot(tmp_path):
    png = tmp_path / "lr.png"
    result = run_json("find-lr", "--task", "digits", "--steps", 20, "--start-lr", 1e-4,
                      "--json", "--quiet", "-o", png)
    assert set(result) == {"suggested_lr", "rule", "minimum", "steepest", "valley", "stopped_early"}
    assert result["suggested_lr"] > 0 and isinstance(result["stopped_early"], bool)
    assert png.read_bytes()[:8] == PNG_MAGIC


def test_find_lr_human_output():
    r = run("find-lr", "--steps", 8, "--start-lr", 1e-3, "--end-lr", 1, "--quiet")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.startswith("suggested lr ") and "steepest" in r.stdout


# ---- errors ---------------------------------------------------------------------------------
T = ["train", "--out", "run", "--quiet"]  # errors inside the engine come after the progress bar


@pytest.mark.parametrize("args, expected", [
    ([*T, "--schedule", "cosinus"], "unknown schedule 'cosinus'"),
    ([*T, "--schedule", "cosine", "--early-stop", "patience"], "expected KEY=VALUE"),
    ([*T, "--schedule", "cosine", "--early-stop", "patience=2,,"], "expected KEY=VALUE"),
    ([*T, "--schedule", "cosine", "--early-stop", "bogus=1"], "bogus"),
    ([*T, "--schedule", "cosine", "--early-stop", "monitor=acc"], "monitor"),
    ([*T, "--schedule", "cosine", "--interval", "batch"], "'--interval'"),
    ([*T, "--schedule", "cosine", "--epochs", 0], "epochs must be"),
    ([*T, "--schedule", "cosine", "--epochs", 2, "--warmup", 2], "warmup (2) must be shorter"),
    ([*T, "--schedule", "cosine", "--warmup", "x"], "warmup"),
    ([*T, "--schedule", "cosine", "--seed", "a"], "'--seed'"),
    ([*T, "--schedule", "cosine", "--seed", "0,-1"], "'--seed'"),
    ([*T, "--schedule", "cosine", "--seed", "0,0"], "more than once"),
    ([*T, "--schedule", "cosine", "--optimizer", "adam"], "optimizer"),
    ([*T, "--schedule", "cosine", "--lr", 0], "lr"),
    ([*T, "--schedule", "cosine", "-p", "linear.gamma=1"], "no curve named 'linear'"),
    ([*T, "--schedule", "cosine", "--schedule", "step", "-p", "nope=1"], "'nope'"),
    ([*T, "--schedule", "lambda", "-p", "fn=abs"], "Python-API only"),
    ([*T, "--schedule", "plateau", "-p", "factor=2"], "plateau: factor must be"),
    ([*T, "--schedule", "cosine", "--tensorboard", "--device", "nope"], "nope"),
    ([*T, "--schedule", "cosine", "--task", "mnist"], "unknown task 'mnist'"),
    ([*T, "--schedule", "cosine", "--task", "csv:/no/such.csv"], "does not exist"),
    ([*T, "--schedule", "cosine", "--label", "y"], "--label applies to csv:PATH tasks only"),
    ([*T, "--schedule", "cosine", "--image-size", 8], "--image-size applies to imagefolder"),
    (["train", "--schedule", "cosine"], "Missing option '--out'"),
    (["train", "--out", "run"], "Missing option '--schedule'"),
    (["test", "."], "is not a run"),
    (["test", "no/such/dir"], "is not a run"),
    (["find-lr", "--steps", 3], "'--steps'"),
    (["find-lr", "--start-lr", 1, "--end-lr", 0.1, "--quiet"], "end_lr"),
    (["find-lr", "--task", "nope", "--quiet"], "unknown task"),
    (["find-lr", "--steps", 5, "--optimizer", "adam", "--quiet"], "optimizer"),
    (["find-lr", "-o", "/no/such/dir/x.png", "--quiet"], "no folder '/no/such/dir'"),
    (["find-lr", "-o", "x.txt", "--quiet"], "unknown image format 'txt'"),
    ([*T, "--schedule", "plateau", "-p", "mode=max"], "mode follows monitor"),
])
def test_errors_are_one_line_exit_2(args, expected, tmp_path, monkeypatch, one_line_error):
    monkeypatch.chdir(tmp_path)
    one_line_error(run(*args), expected)
    assert not list(tmp_path.glob("run/*/model.pt"))


def test_help():
    for cmd in ("train", "test", "find-lr"):
        r = run(cmd, "--help")
        assert r.exit_code == 0 and "Usage: " in r.stdout and r.stderr == ""


# ---- the real console script ----------------------------------------------------------------
def test_console_script_train_subprocess(tiny_csv, tmp_path):
    script = Path(sys.executable).with_name("lrlab")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "lrlab"]
    p = subprocess.run(cmd + ["train", "--quiet", "--json", "--task", f"csv:{tiny_csv}", "--schedule",
                              "cosine", "--epochs", "1", "--out", str(tmp_path)],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""
    result = one(json.loads(p.stdout))
    assert result["status"] == "finished" and result["out"] == str(tmp_path / "cosine-seed0")


def test_importing_the_cli_does_not_import_torch():
    code = "import sys, lrlab.cli; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], env={**os.environ}).returncode == 0


def test_a_missing_extra_is_one_line_naming_it(monkeypatch, tmp_path, one_line_error):
    import builtins

    real = builtins.__import__

    def no_torch(name, *a, **k):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real(name, *a, **k)

    for mod in [m for m in sys.modules if m.startswith("lrlab.training") or m.startswith("lrlab.experiments")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setattr(builtins, "__import__", no_torch)
    monkeypatch.chdir(tmp_path)
    one_line_error(run("train", "--schedule", "cosine", "--out", "r", "--quiet"),
                   "this command needs torch, which is not installed: pip install 'lrlab[torch]'")
    assert not (tmp_path / "r").exists()


def test_schedule_lists_and_one_json_shape(tiny_csv, tmp_path):
    result = run_json("train", "--task", f"csv:{tiny_csv}", "--schedule", "cosine,step",
                      "--schedule", "linear", "--epochs", 1, "--out", tmp_path, "--quiet", "--json")
    assert [t["name"] for t in result["trials"]] == ["cosine-seed0", "step-seed0", "linear-seed0"]
    config = json.loads((tmp_path / "step-seed0" / "config.json").read_text())
    assert config["resolved"] == "step(base_lr=0.05, step_size=1)"


def test_a_refused_resume_names_what_differs(digits_run, one_line_error):
    out, _ = digits_run
    r = run("train", "--schedule", "cosine", "--epochs", 3, "--out", out, "--resume", "--quiet")
    one_line_error(r, "made with a different configuration (epochs: 2 there, 3 now)")


def test_ctrl_c_says_how_to_continue(monkeypatch, tmp_path):
    import lrlab.training.engines as engines

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(engines, "train_population", interrupted)
    monkeypatch.chdir(tmp_path)
    from lrlab.cli import main

    with pytest.raises(SystemExit) as e:
        main(["train", "--schedule", "cosine", "--out", "r", "--quiet"])
    assert e.value.code == 130
