"""An experiment's definition: from a config file (YAML through a safe loader, or JSON) or from
plain data, validated before anything trains, into one ``TrialConfig`` per schedule and seed.

Keys (all optional but ``schedules`` or ``preset``)::

    task: digits                 # or imagefolder:PATH, csv:PATH
    task_options: {split_seed: 0}
    model: default               # or cnn, mlp, resnet (your function: --model FILE.py:FN)
    preset: paddle               # paddle | torch | modern | all (lrlab.schedules.presets)
    schedules:                   # added after the preset's entries
      - cosine                   # a name of `lrlab list`, or plateau
      - {name: step, params: {gamma: 0.5, step_size: "25%"}, label: step-half}
      - {name: cosine, lr: 0.1, label: cosine-hot}   # its own reference LR (lrlab tune's)
    seeds: 3                     # a count (seeds 0..n-1) or a list [0, 1, 2]
    optimizer: momentum          # momentum | sgd | adamw
    lr: 0.05                     # the reference LR every schedule starts from / peaks at
    weight_decay: 0.0
    batch_size: 64
    epochs: 20
    warmup: null                 # steps of a schedule's interval or "5%"
    early_stop: null             # EarlyStopping arguments plus monitor
    metric: test_acc             # what ranks: test_acc, or val_acc (of the last epoch)

A trainer's experiment (``trainer``: the identity of a user's function, given on the command
line or to ``lrlab.compare``, never in a file) has ``steps_per_epoch`` instead of ``task``,
``task_options``, ``model``, ``optimizer``, ``weight_decay``, ``batch_size`` and
``early_stop``, which are the trainer's own.

Each error is one ``ValueError`` line naming the key path and the value
(``schedules[1].params.gamma: must be a finite number > 0, got -1``); unknown keys are reported
together, each with the nearest known one. Nothing in a file runs as code (a file naming a
trainer or a model function is refused: code is named on the command line), and a file cannot
make lrlab work without bound: a config file is at most ``MAX_FILE_BYTES``, its YAML expands to
at most ``MAX_NODES`` values (aliases counted as often as they are used, so an alias bomb is
refused before it is built), and an experiment has at most ``MAX_SCHEDULES`` schedules. Two
entries that define the same trials (the same schedule, parameters and interval under two
labels) are refused: they would be one trial stored under two names.

    >>> spec = experiment({"schedules": ["cosine", {"name": "step", "label": "s"}], "seeds": 2})
    >>> [t.name for t in spec.trials]
    ['cosine-seed0', 'cosine-seed1', 's-seed0', 's-seed1']
    >>> experiment({"schedules": [{"name": "step", "params": {"gamma": -1}}]})
    Traceback (most recent call last):
    ...
    ValueError: schedules[0].params.gamma: must be a finite number > 0, got -1
"""

from __future__ import annotations

import difflib
import json
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..schedules import params as P
from ..schedules.presets import Entry, preset
from ..training.plan import make_plan
from ..training.trial import PLATEAU, TrialConfig

logger = logging.getLogger(__name__)

_RUN_KEYS = ("optimizer", "lr", "weight_decay", "batch_size", "epochs", "warmup", "early_stop",
             "steps_per_epoch")
KEYS = ("task", "task_options", "model", "trainer", "preset", "schedules", "seeds", *_RUN_KEYS,
        "metric")
_TRAINERS_OWN = ("task", "task_options", "model", "optimizer", "weight_decay", "batch_size",
                 "early_stop")  # what a trainer chooses itself
MODELS = ("default", "cnn", "mlp", "resnet")  # lrlab.training.tasks.models.MODELS, by name
METRICS = ("test_acc", "val_acc")  # what can rank the schedules: the final test accuracy, or
# the validation accuracy of the last epoch
_ENTRY_KEYS = ("name", "params", "label", "interval", "lr")
_PARAM_ERROR = re.compile(r"^(?:[\w.]+: )?(\w+) must be (.*)$", re.S)
MAX_SEEDS = 1000
MAX_SCHEDULES = 1000
MAX_FILE_BYTES = 1 << 20   # 1 MiB: a config is a few hundred bytes
MAX_NODES = 100_000        # YAML values after expanding aliases


@dataclass(frozen=True)
class Experiment:
    """A validated experiment: the task, the schedules (``Entry``), the seeds and the run
    settings every trial shares."""

    task: str | None = "digits"
    task_options: dict = field(default_factory=dict)
    entries: tuple[Entry, ...] = ()
    seeds: tuple[int, ...] = (0, 1, 2)
    run: dict = field(default_factory=dict)  # TrialConfig arguments shared by every trial
    model: str | dict = "default"   # a name of MODELS, or the identity of the user's function
    trainer: dict | None = None     # the identity of the user's trainer (then task is None)
    metric: str = "test_acc"        # what ranks the schedules (METRICS)
    trials: tuple[TrialConfig, ...] = field(default=(), compare=False, repr=False)
    # one per entry and seed, named ``<label>-seed<N>``, in that order: built (and checked)
    # once, by ``experiment()``

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON) that ``experiment()`` reads back into an equal experiment; the
        run settings resolved (defaults filled in), so a stored definition compares by value."""
        own = {"trainer": self.trainer} if self.trainer else {
            "task": self.task, "task_options": dict(self.task_options), "model": self.model}
        run = {k: v for k, v in self.run.items() if v is not None or not self.trainer}
        return {**own, "schedules": [{"name": e.schedule, "params": e.params, "label": e.label,
                                      "interval": e.interval,
                                      **({"lr": e.lr} if e.lr != self.run["lr"] else {})}
                                     for e in self.entries],
                "seeds": list(self.seeds), **run, "metric": self.metric}


TUNING_NAME = re.compile(r"(?P<label>.+)-t(?P<draw>\d+)-e(?P<epochs>\d+)-seed(?P<seed>\d+)")
"""A tuning trial's name (``lrlab tune``): ``<label>-t<draw>-e<epochs>-seed<seed>``."""


def tuning_name(label: str, draw: int, epochs: int, seed: int) -> str:
    """The name of draw ``draw`` of schedule ``label`` trained ``epochs`` on ``seed``.

        >>> TUNING_NAME.fullmatch(tuning_name("StepDecay / StepLR", 3, 7, 1000))["label"]
        'StepDecay / StepLR'
    """
    return f"{label}-t{draw}-e{epochs}-seed{seed}"


def load(path: str | Path) -> dict[str, Any]:
    """The plain data of a config file: ``.json`` as JSON, anything else as YAML (safe loader:
    no tags, no objects). A file that cannot be read or parsed, or that is too large, is one
    line naming it (and, for a syntax error, the line and column)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ValueError(f"{path}: {size} bytes; a config file is at most {MAX_FILE_BYTES} "
                             f"bytes") from None
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: cannot read the config ({type(e).__name__}: {e})") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text, object_pairs_hook=_unique_keys)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}:{e.lineno}:{e.colno}: not valid JSON ({e.msg})") from None
        except ValueError as e:  # a repeated key
            raise ValueError(f"{path}: not valid here ({e})") from None
        except RecursionError:
            raise ValueError(f"{path}: nested too deeply") from None
    else:
        data = _yaml(path, text)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the config must be a mapping of keys (task, schedules, "
                         f"seeds, ...), got {type(data).__name__}")
    if data.get("trainer") is not None:
        raise ValueError(f"{path}: trainer: a config file names no code; give it on the command "
                         f"line (--trainer FILE.py:FUNCTION)")
    if data.get("model") is not None and data["model"] not in MODELS:
        raise ValueError(f"{path}: model: a config file names a built-in model ("
                         f"{', '.join(MODELS)}), got {P.show(data['model'])}; give your own on "
                         f"the command line (--model FILE.py:FUNCTION)")
    return data


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are unique (a repeated key would silently win)."""
    twice = _first_repeat(k for k, _ in pairs)
    if twice is not None:
        raise ValueError(f"the key {twice!r} is given twice in one object")
    return dict(pairs)


def _first_repeat(keys) -> Any:
    """The first key seen before (None when all are unique), in one pass."""
    seen = set()
    for k in keys:
        if k in seen:
            return k
        seen.add(k)
    return None


def _yaml(path: Path, text: str) -> Any:
    """``text`` through YAML's safe loader, after checking on its node graph (cheap: aliases
    are shared there) that it expands to at most ``MAX_NODES`` values."""
    import yaml

    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            sizes: dict[int, int] = {}

            def size(n) -> int:  # values once every alias is expanded, memoised per node
                if id(n) not in sizes:
                    sizes[id(n)] = 0  # a recursive alias: refused by the constructor below
                    if isinstance(n, yaml.MappingNode):  # a repeated key would silently win
                        twice = _first_repeat(k.value for k, _ in n.value
                                              if isinstance(k, yaml.ScalarNode))
                        if twice is not None:
                            m = n.start_mark
                            raise ValueError(f"{path}:{m.line + 1}:{m.column + 1}: the key "
                                             f"{twice!r} is given twice in one mapping")
                    kids = (n.value if isinstance(n, yaml.SequenceNode) else
                            [x for kv in n.value for x in kv] if isinstance(n, yaml.MappingNode)
                            else [])
                    sizes[id(n)] = min(1 + sum(size(k) for k in kids), MAX_NODES + 1)
                return sizes[id(n)]

            if size(node) > MAX_NODES:
                raise ValueError(f"{path}: expands to more than {MAX_NODES} values (YAML "
                                 f"aliases); a config is a few dozen")
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        what = " ".join(x for x in (e.context, e.problem) if x) or type(e).__name__
        raise ValueError(f"{path}{where}: not valid YAML ({what})") from None
    except yaml.YAMLError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"{path}: not valid YAML ({first})") from None
    except RecursionError:
        raise ValueError(f"{path}: nested too deeply") from None


def _unknown(path: str, keys, known) -> ValueError:
    """One line for every unknown key at once, each with the nearest known key."""
    parts = []
    for key in keys:
        close = difflib.get_close_matches(str(key), list(known), n=1)
        parts.append(f"{path}{'.' if path else ''}{P.show(key) if not isinstance(key, str) else key}"
                     f": unknown key" + (f"; did you mean {close[0]!r}?" if close else ""))
    if not any("did you mean" in x for x in parts):
        parts[-1] += f"; known: {', '.join(known)}"
    return ValueError("; ".join(parts))


def _check_keys(path: str, given: dict, known) -> None:
    unknown = [k for k in given if k not in known]
    if unknown:
        raise _unknown(path, unknown[:10], known)


def _seeds(value: Any) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        if not 1 <= value <= MAX_SEEDS:
            P.fail("seeds", "a count", f"from 1 to {MAX_SEEDS} or a list of seeds", value)
        return tuple(range(value))
    if not isinstance(value, list) or not value:
        raise ValueError(f"seeds: must be a count or a non-empty list of seeds, got {P.show(value)}")
    if len(value) > MAX_SEEDS:
        raise ValueError(f"seeds: at most {MAX_SEEDS}, got a list of {len(value)}")
    for i, s in enumerate(value):
        P.integer(0)("seeds", f"[{i}]", s)
    if len(set(value)) != len(value):
        raise ValueError(f"seeds: each seed once, got {P.show(value)}")
    return tuple(value)


def _entry(i: int, item: Any, lr: float) -> Entry:
    path = f"schedules[{i}]"
    if isinstance(item, str):
        item = {"name": item}
    if not isinstance(item, dict):
        raise ValueError(f"{path}: must be a schedule name or a mapping with name, params, "
                         f"label, interval; got {P.show(item)}")
    _check_keys(path, item, _ENTRY_KEYS)
    if not isinstance(item.get("name"), str):
        raise ValueError(f"{path}.name: must be a schedule name, got {P.show(item.get('name'))}")
    params = item.get("params") or {}
    if not isinstance(params, dict):
        raise ValueError(f"{path}.params: must be a mapping, got {P.show(params)}")
    label = item.get("label")
    if label is not None and not (isinstance(label, str) and len(label) <= 200 and re.fullmatch(
            r"[\w.%+-]{1,64}(?: / [\w.%+-]{1,64})*", label)):
        raise ValueError(f"{path}.label: must be 1-64 letters, digits or ._%+- (preset 'all' "
                         f"joins labels with ' / '), got {P.show(label)}")
    if item.get("lr") is not None:
        lr = P.real(0.0)(path, "lr", item["lr"])
    return Entry(label or item["name"], item["name"], params, item.get("interval"), lr)


def entries_at(data: dict[str, Any], lr: float, trainer: bool = False) -> list[Entry]:
    """The schedules of plain data ``data`` (its preset's entries, then its own) for the
    reference LR ``lr``: a preset's LR-derived values (a warmup's target, CLR's floor) follow
    ``lr``. A trainer's experiment leaves out the plateau entries of a preset."""
    if data.get("preset") is not None and not isinstance(data["preset"], str):
        raise ValueError(f"preset: must be a preset name, got {P.show(data['preset'])}")
    out = list(preset(data["preset"], lr)) if data.get("preset") is not None else []
    if trainer and any(e.schedule == PLATEAU for e in out):
        left = [e.label for e in out if e.schedule == PLATEAU]
        out = [e for e in out if e.schedule != PLATEAU]
        logger.warning("preset %s: %s left out: a trainer's schedule is a function of the step "
                       "(a plateau belongs inside its loop: lrlab.Plateau)", data["preset"],
                       ", ".join(left))
    schedules = data.get("schedules") or []
    if not isinstance(schedules, list):
        raise ValueError(f"schedules: must be a list, got {P.show(schedules)}")
    if len(out) + len(schedules) > MAX_SCHEDULES:
        raise ValueError(f"schedules: at most {MAX_SCHEDULES} in one experiment, got "
                         f"{len(out) + len(schedules)}")
    return out + [_entry(i, item, lr) for i, item in enumerate(schedules)]


def experiment(data: dict[str, Any]) -> Experiment:
    """Validate plain data (see the module docstring) into an ``Experiment``."""
    if not isinstance(data, dict):
        raise ValueError(f"the config must be a mapping, got {P.show(data)}")
    _check_keys("", data, KEYS)
    trainer = _code("trainer", data.get("trainer"))
    if trainer is not None:
        own = [k for k in _TRAINERS_OWN if data.get(k) not in (None, {})]
        if own:
            raise ValueError(f"{own[0]}: the trainer chooses its own {own[0]}; lrlab gives a "
                             f"trainer only the schedule (drop {own[0]})")
        if data.get("steps_per_epoch") is None:
            raise ValueError("steps_per_epoch: a trainer's schedule needs it (the optimizer steps "
                             "in one of its epochs)")
        task, options, model = None, {}, "default"
    else:
        task = data.get("task", "digits")
        if not isinstance(task, str):
            raise ValueError(f"task: must be digits, imagefolder:PATH or csv:PATH, got {P.show(task)}")
        options = data.get("task_options") or {}
        if not isinstance(options, dict):
            raise ValueError(f"task_options: must be a mapping, got {P.show(options)}")
        if data.get("steps_per_epoch") is not None:
            raise ValueError("steps_per_epoch: only for a trainer; a task's epoch is its data "
                             "over batch_size")
        model = data.get("model") or "default"
        if not (model in MODELS or isinstance(model, dict)):
            raise ValueError(f"model: must be one of {', '.join(MODELS)} (or your function: "
                             f"--model FILE.py:FUNCTION), got {P.show(model)}")
        if isinstance(model, dict):
            model = _code("model", model)
    metric = data.get("metric") or "test_acc"
    if metric not in METRICS:
        raise ValueError(f"metric: must be one of {', '.join(METRICS)}, got {P.show(metric)}")
    given = {k: data[k] for k in _RUN_KEYS if data.get(k) is not None}
    if trainer is not None:
        given.update(optimizer=None, weight_decay=None, batch_size=None)
    try:  # the shared settings alone, so an error names its key rather than a schedule
        shared = TrialConfig(**given)
    except ValueError as e:
        raise ValueError(re.sub(r"^trial: (\w+) ", r"\1: ", str(e))) from None
    run = {k: getattr(shared, k) for k in _RUN_KEYS}  # resolved: defaults filled in
    entries = entries_at(data, run["lr"], trainer is not None)
    if not entries:
        raise ValueError("schedules: give at least one schedule (or a preset)")
    counts = Counter(e.label for e in entries)
    twice = sorted(x for x, n in counts.items() if n > 1)
    if twice:
        raise ValueError(f"schedules: labels must be unique, got {', '.join(twice[:10])} more "
                         f"than once (give a label)")
    seeds = _seeds(data.get("seeds", 3))
    first = len(entries) - len(data.get("schedules") or [])  # where the file's own start
    where = lambda i: (f"schedules[{i - first}]" if i >= first  # noqa: E731
                       else f"preset {data['preset']}: {entries[i].label}")
    seen: dict[str, int] = {}  # a trial's configuration (name aside) -> the entry that has it
    trials: list[TrialConfig] = []
    for i, e in enumerate(entries):
        trials += _trials(e, run, seeds, where(i))
        same = json.dumps({**trials[-len(seeds)].to_dict(), "name": None}, sort_keys=True)
        if same in seen:
            j = seen[same]
            raise ValueError(f"{where(i)}: {e.label} is the same configuration as {where(j)} "
                             f"({entries[j].label}): one trial cannot be stored under two labels; "
                             f"drop one or change its params")
        seen[same] = i
    return Experiment(task, options, tuple(entries), seeds, run, model, trainer, metric,
                      tuple(trials))


def _code(key: str, value: Any) -> dict | None:
    """The identity of the user's function (``lrlab.usercode.identity``): ``{"ref", "sha256"}``;
    a bare string is a ref with no digest."""
    if value is None:
        return None
    if isinstance(value, str):
        value = {"ref": value, "sha256": None}
    if not (isinstance(value, dict) and set(value) == {"ref", "sha256"}
            and isinstance(value["ref"], str) and value["ref"]
            and (value["sha256"] is None or (isinstance(value["sha256"], str)
                                             and re.fullmatch(r"[0-9a-f]{64}", value["sha256"])))):
        raise ValueError(f"{key}: must name a function (FILE.py:FUNCTION), got {P.show(value)}")
    return dict(value)


def _trials(entry: Entry, run: dict, seeds: tuple[int, ...], path: str) -> list[TrialConfig]:
    """The entry's trials, one per seed; the first planned on a nominal data size (the task is
    not loaded yet): errors name the key path."""
    try:
        cfgs = [TrialConfig(**{**run, **entry.trial_args()}, seed=s, name=f"{entry.label}-seed{s}")
                for s in seeds]
        make_plan(cfgs[0], n_train=cfgs[0].batch_size or 1)
        return cfgs
    except (ValueError, TypeError) as e:
        msg = re.sub(rf"^(?:{re.escape(entry.label)}-seed\d+|trial): ", "", str(e))
        m = _PARAM_ERROR.match(msg)
        if m and m.group(1) in entry.params:
            raise ValueError(f"{path}.params.{m.group(1)}: must be {m.group(2)}") from None
        if m and m.group(1) == "interval":
            raise ValueError(f"{path}.interval: must be {m.group(2)}") from None
        unknown = re.match(r"^(?:[\w.]+: )?(unknown parameter .*)$", msg, re.S)
        if unknown:
            raise ValueError(f"{path}.params: {unknown.group(1)}") from None
        raise ValueError(f"{path}: {msg}") from None
