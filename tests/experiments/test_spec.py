"""Experiment definitions: files (YAML safe, JSON), presets, validation with key paths."""

import json

import pytest

from lrlab.experiments.spec import experiment, load
from lrlab.schedules.presets import preset
from lrlab.training.trial import TrialConfig


def test_trials_are_entries_times_seeds_with_shared_settings():
    exp = experiment({"preset": "modern", "schedules": [{"name": "step", "params": {"gamma": 0.5},
                                                         "label": "half"}],
                      "seeds": [3, 5], "epochs": 4, "lr": 0.1, "early_stop": {"patience": 2}})
    trials = exp.trials
    assert len(trials) == (len(preset("modern")) + 1) * 2
    assert trials[-1] == TrialConfig(schedule="step", params={"gamma": 0.5}, lr=0.1, epochs=4,
                                     early_stop={"patience": 2}, seed=5, name="half-seed5")
    assert {t.epochs for t in trials} == {4} and {t.lr for t in trials} == {0.1}
    assert [t.name for t in trials[:2]] == ["OneCycle-seed3", "OneCycle-seed5"]


def test_round_trip_through_plain_data():
    exp = experiment({"task": "csv:t.csv", "task_options": {"label": "y"}, "schedules": ["cosine"],
                      "seeds": 2, "warmup": "5%"})
    again = experiment(json.loads(json.dumps(exp.to_dict())))
    assert again == exp and again.trials == exp.trials


def test_yaml_and_json_files(tmp_path):
    (tmp_path / "e.yaml").write_text("task: digits\nschedules:\n  - cosine\n  - {name: plateau, params: {patience: 2}}\nseeds: 2\n")
    (tmp_path / "e.json").write_text(json.dumps({"schedules": ["cosine", {"name": "plateau", "params": {"patience": 2}}], "seeds": 2}))
    assert experiment(load(tmp_path / "e.yaml")) == experiment(load(tmp_path / "e.json"))


@pytest.mark.parametrize("text, match", [
    ("!!python/object/apply:os.system ['touch pwned']", "not valid YAML"),
    ("a: [1, 2", "not valid YAML"),
    ("- cosine\n- step\n", "the config must be a mapping"),
    ("", "the config must be a mapping"),
])
def test_a_file_never_runs_code_and_bad_files_are_one_line(tmp_path, text, match):
    (tmp_path / "e.yaml").write_text(text)
    with pytest.raises(ValueError, match=match) as e:
        load(tmp_path / "e.yaml")
    assert "\n" not in str(e.value) and str(tmp_path / "e.yaml") in str(e.value)
    assert not (tmp_path / "pwned").exists()
    with pytest.raises(ValueError, match="cannot read the config"):
        load(tmp_path / "missing.json")


@pytest.mark.parametrize("data, message", [
    ({"schedules": ["cosine"], "sedes": 3}, "sedes: unknown key; did you mean 'seeds'?"),
    ({"schedules": [{"name": "step", "params": {"gamma": -1}}]},
     "schedules[0].params.gamma: must be a finite number > 0, got -1"),
    ({"schedules": ["cosine", "cosine", {"name": "step", "params": {"gama": 0.5}}]},
     "schedules: labels must be unique, got cosine more than once"),
    ({"schedules": ["cosine", {"name": "step", "params": {"gama": 0.5}}]},
     "schedules[1].params: unknown parameter 'gama'; did you mean 'gamma'?"),
    ({"schedules": [{"name": "cosin"}]}, "schedules[0]: unknown schedule 'cosin'"),
    ({"schedules": [{"name": "step", "paramz": {}}]}, "schedules[0].paramz: unknown key; did you mean 'params'?"),
    ({"schedules": [{"name": "cosine", "interval": "batch"}]}, "schedules[0].interval: must be one of 'epoch', 'step'"),
    ({"schedules": [{"name": "cosine", "label": "a/b"}]}, "schedules[0].label: must be 1-64 letters"),
    ({"schedules": [7]}, "schedules[0]: must be a schedule name or a mapping"),
    ({"schedules": "cosine"}, "schedules: must be a list"),
    ({"schedules": []}, "schedules: give at least one schedule (or a preset)"),
    ({"preset": "padle"}, "unknown preset 'padle'; did you mean paddle?"),
    ({"schedules": ["cosine"], "seeds": 0}, "seeds: a count must be from 1 to 1000"),
    ({"schedules": ["cosine"], "seeds": [0, 0]}, "seeds: each seed once"),
    ({"schedules": ["cosine"], "seeds": [0, -1]}, "seeds: [1] must be an int >= 0"),
    ({"schedules": ["cosine"], "seeds": [2**63]}, "seeds: [0] must be an int >= 0 and < 2**62"),
    ({"schedules": ["cosine"], "lr": 0}, "lr: must be a finite number > 0, got 0"),
    ({"schedules": ["cosine"], "epochs": 2, "warmup": 2}, "schedules[0]: warmup (2) must be shorter"),
    ({"schedules": ["cosine"], "optimizer": "adam"}, "optimizer: must be one of 'momentum', 'sgd', 'adamw'"),
    ({"schedules": ["cosine"], "task": 3}, "task: must be digits, imagefolder:PATH or csv:PATH"),
    ({"schedules": ["cosine"], "task_options": [1]}, "task_options: must be a mapping"),
    ({"schedules": [{"name": "plateau", "params": {"factor": 2}}]}, "schedules[0].params.factor: must be"),
    ([1, 2], "the config must be a mapping"),
])
def test_each_error_is_one_line_naming_the_key_path(data, message):
    with pytest.raises(ValueError) as e:
        experiment(data)
    assert str(e.value).startswith(message) or message in str(e.value), str(e.value)
    assert "\n" not in str(e.value)
