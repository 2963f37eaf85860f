"""Run a comparison: an ``Experiment`` -> its trials trained into the store -> the ranking.
The trials run in lrlab's engines (on a task by spec or a ``Task`` of your data, with the
task's model, a built-in one or your model function) or in your own trainer, in any framework
(``lrlab.experiments.trainers``).

``compare(...)`` (also ``lrlab.compare``) loads the task once, trains every trial that the store
does not hold finished (a killed run continues from its checkpoints), and ranks the schedules
with ``lrlab.stats.rank`` over the seeds. The experiment's definition is kept in the
store: running it again with other task or run settings (epochs, lr, optimizer, ...) is refused
with one line naming the key; other schedules or seeds extend it (the trials already there
stay and count again when they are part of the definition).

    >>> import tempfile
    >>> result = compare("digits", ["cosine", "step"], seeds=2, epochs=2, out=tempfile.mkdtemp())
    >>> sorted(row["name"] for row in result.ranking), result.to_json()["trials_finished"]
    (['cosine', 'step'], 4)
    >>> result.ranking[0]["test_acc_mean"] >= result.ranking[1]["test_acc_mean"]
    True
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..training.plan import make_plan
from ..training.trial import PLATEAU, TrialConfig
from ..training.records import Progress, TrialRecord
from .spec import Experiment, experiment
from .store import Store

_SHARED = ("task", "task_options", "model", "trainer", "optimizer", "lr", "weight_decay",
           "batch_size", "epochs", "warmup", "early_stop", "steps_per_epoch")


@dataclass
class CompareResult:
    """What a comparison produced: the experiment, every trial's record, the ranking (plain
    data, one dict per schedule label; see ``lrlab.stats.rank``) and the store's folder."""

    experiment: Experiment
    records: list[TrialRecord]
    ranking: list[dict[str, Any]]
    out: Path
    page: Path | None = None  # the report, when one was written
    n_test: int | None = None  # the size of the test set the ranking used

    def row(self, label: str) -> dict[str, Any]:
        return next(r for r in self.ranking if r["name"] == label)

    def to_json(self) -> dict[str, Any]:
        done = sum(r.status != "running" for r in self.records)
        return {"schedules": self.ranking, "trials_total": len(self.records),
                "trials_finished": done}


def ranking(exp: Experiment, records: Sequence[TrialRecord],
            n_test: int | None = None) -> list[dict[str, Any]]:
    """``stats.rank_trials`` over the experiment's schedules (by label) and seeds, on its
    ``metric``; ``n_test``: the size of the test set."""
    from ..stats import rank_trials

    return rank_trials([e.label for e in exp.entries], (
        (cfg.name.rsplit("-seed", 1)[0], cfg.seed, rec.status, metric_value(exp.metric, rec),
         rec.epochs) for cfg, rec in zip(exp.trials, records)), n_test=n_test)


def metric_value(metric: str, rec) -> float | None:
    """A trial's value of ``metric`` (``spec.METRICS``): its final test accuracy, or the
    validation accuracy of its last epoch."""
    if metric == "test_acc":
        return rec.test_acc
    return rec.epochs[-1].get("val_acc") if rec.epochs else None


def _runs(cfg, plan) -> str:
    """What a trial runs, whatever its name, label or spelling (an alias, a default given
    explicitly, 2 for 2.0): its settings and its schedule resolved for the run. Two different
    schedules that happen to give the same LR table on a short run are not the same trial (the
    report names them: "same curve as")."""
    try:
        schedule = plan.schedule.to_config() if plan.schedule is not None else None
    except TypeError:  # a Python callable: its repr names it
        schedule = repr(plan.schedule)
    return json.dumps({**cfg.to_dict(), "name": None, "schedule": schedule, "params": None,
                       "plateau": cfg.plateau().to_config() if cfg.schedule == PLATEAU else None},
                      sort_keys=True)


def _shared(d: dict, key: str) -> Any:
    """What of ``key`` must stay equal: a function by its name and file digest (the path it
    was named by may differ); a trainer by its name alone (fixing its code keeps the trials
    it finished)."""
    value = d.get(key)
    if isinstance(value, dict) and "ref" in value:
        name = value["ref"].rpartition(":")[2]
        return name if key == "trainer" else (name, value["sha256"])
    return value


def _same_experiment(store: Store, exp: Experiment, record: bool = True,
                     tuned: bool = False) -> None:
    """Refuse other task / run settings than the store's, and a folder of the other kind: a
    comparison (``tuned`` False) and a tuning (``lrlab tune``) never share one, their trials of
    one name being different trials; record the definition (unless ``record`` is False: a
    check before anything is written)."""
    now = exp.to_dict()
    recorded = store.meta("experiment")
    if recorded is not None:
        try:  # resolved again, so a definition written before defaults were recorded compares
            before = experiment(json.loads(recorded)).to_dict()
        except (ValueError, TypeError, RecursionError) as e:
            raise ValueError(f"{store.path}: its recorded experiment is damaged ({e}); choose "
                             f"another --out") from None
        diff = [k for k in _SHARED if _shared(before, k) != _shared(now, k)]
        if diff:
            k = diff[0]
            was, new = (d.get(k)["ref"] if isinstance(d.get(k), dict) and "ref" in d[k]
                        else d.get(k) for d in (before, now))
            if was == new:  # a function of the same name whose file changed
                was, new = (f"{x} (sha256 {d[k]['sha256']})" for x, d in ((was, before), (new, now)))
            raise ValueError(f"{store.out} holds an experiment with {k}={was!r}, not {new!r}; "
                             f"only schedules and seeds may change (choose another --out)")
    if tuned != (store.meta("tune") is not None) and (recorded is not None or not tuned):
        raise ValueError(f"{store.out} holds a tuning (lrlab tune): run that tune again, or "
                         f"compare in another --out" if not tuned else
                         f"{store.out} holds a comparison (lrlab compare) that was not tuned; "
                         f"tune in another --out")
    if record:
        store.set_meta("experiment", json.dumps(now))


def run_experiment(exp: Experiment, out: str | Path, *, device: str = "cpu",
                   engine: str = "vectorized",
                   on_event: Callable[[Progress], None] | None = None,
                   report: bool = False, task: Any = None, model: Callable | None = None,
                   trainer: Callable | None = None, backend: str = "local",
                   per_trial: str | dict | None = None, address: str | None = None,
                   workers: int | None = None) -> CompareResult:
    """Train ``exp``'s trials into the store in ``out`` (skipping finished ones) with
    ``engine`` (``lrlab.training.engines.ENGINES``) on ``device``, or with the user's
    ``trainer`` (``exp.trainer`` names it; ``lrlab.experiments.trainers``), on ``backend``
    (``lrlab.experiments.backends``: ``local``, or ``ray`` at ``address``; ``per_trial``: what
    a unit of work needs, ``cpu=1,gpu=0.25``; ``workers``: local worker processes, by default
    as many as the cores hold units on a CPU); rank them; with ``report``, write
    ``out/report.html`` before the folder is released (so no other process's report can
    replace the final one). ``task``: a ``Task`` object to use instead of loading
    ``exp.task``; ``model``: the function ``exp.model`` names when it is the user's.
    Everything is checked (device, engine, model, backend, every trial on the task) before the
    folder is touched: a refused run writes nothing."""
    from .backends import run_backend

    trials = exp.trials
    jobs, n_test = planner(exp, task, model, trainer, engine, device)
    job = jobs(trials)
    run = run_backend(job, backend, per_trial, address, workers)  # checked: nothing written yet
    distinct(trials, job.plans)
    with Store(out) as store:
        _same_experiment(store, exp)
        if exp.trainer is None:
            store.set_meta("test_size", str(n_test))  # floors the verdict's noise estimate
        run(store, on_event)
        return finish(exp, store, n_test, report)


def planner(exp: Experiment, task: Any, model: Callable | None, trainer: Callable | None,
            engine: str, device: str) -> tuple[Callable[[Sequence[TrialConfig]], Any], int | None]:
    """``(jobs, n_test)``: ``jobs(trials)`` plans trials of ``exp`` (on its task, loaded and
    checked once here, or for its trainer) into a ``backends.Job``; ``n_test``: the size of
    the task's test split (None for a trainer)."""
    from .backends import Job

    if exp.trainer is not None:
        from .trainers import TrainerTask

        if not callable(trainer):
            raise ValueError(f"trainer: {exp.trainer['ref']} is not given as a function")
        trainer_task = TrainerTask(exp.trainer["ref"])
        return (lambda trials: Job([make_plan(cfg, 0) for cfg in trials], trainer_task, None,
                                   "cpu", trainer)), None
    task = _task(exp, task, model, engine, device)
    _batches_normalise(task, {exp.run["batch_size"]})

    def jobs(trials: Sequence[TrialConfig]):
        return Job([make_plan(cfg, len(task.train), task.kind) for cfg in trials], task, engine,
                   device)

    return jobs, len(task.test)


def distinct(trials: Sequence[TrialConfig], plans: Sequence) -> None:
    """Refuse two labels that run the same trials (the same schedule, resolved for the run,
    and settings)."""
    same: dict[str, str] = {}  # the trial that runs (name aside) -> the label that runs it first
    for cfg, plan in zip(trials, plans):
        label = cfg.name.rsplit("-seed", 1)[0]
        first = same.setdefault(_runs(cfg, plan), label)
        if first != label:
            raise ValueError(f"schedules: {label} runs the same trials as {first} (the same "
                             f"schedule, resolved for the run, and settings); drop one of them")


def finish(exp: Experiment, store: Store, n_test: int | None, report: bool) -> CompareResult:
    """``exp``'s records read back from ``store``, ranked; with ``report``, the page written
    (before the folder is released)."""
    records = store.records([cfg.name for cfg in exp.trials])
    result = CompareResult(exp, records, ranking(exp, records, n_test), store.out, n_test=n_test)
    if report:
        from ..report import write_report

        result.page = write_report(store.out, store=store)
    return result


def _task(exp: Experiment, task: Any, model: Callable | None, engine: str, device: str):
    """The task the engines train (``task`` given, or ``exp.task`` loaded), with the model
    ``exp.model`` names, checked."""
    from ..training.engines import ENGINES
    from ..training.evaluate import device as torch_device
    from ..training.tasks import Task, load_task, model_factory

    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    torch_device(device)
    if task is None:
        task = load_task(exp.task, **exp.task_options)
    elif not isinstance(task, Task):
        raise ValueError(f"task: must be a Task or a task spec, got a {type(task).__name__}")
    if isinstance(exp.model, dict):
        if not callable(model):
            raise ValueError(f"model: {exp.model['ref']} is not given as a function")
        return task.with_model(model, exp.model["ref"])
    if exp.model != "default":
        return task.with_model(model_factory(exp.model), exp.model)
    return task.checked()


def _batches_normalise(task, sizes: set[int]) -> None:
    """Refuse a batch size that leaves a last batch of one example for a model with BatchNorm
    (which cannot normalise one example: the run would stop there)."""
    from torch import nn

    n = len(task.train)
    bad = sorted(b for b in sizes if n % b == 1)
    if bad and any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in task.build_model().modules()):
        raise ValueError(f"batch_size: {bad[0]} leaves a last batch of 1 of the {n} training "
                         f"examples, which the model's BatchNorm cannot normalise; choose another "
                         f"batch size")


def data_digest(task) -> str:
    """The sha256 of a task's tensors (every split's inputs and targets, with their shapes and
    types): what tells two ``Task`` objects of one name but other data apart."""
    import hashlib

    import torch

    h = hashlib.sha256()
    for name in ("train", "val", "test"):
        for t in (getattr(task, name).x, getattr(task, name).y):
            t = t.detach().cpu().contiguous()
            h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
            h.update(t.view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def compare(task: Any = None, schedules: Sequence[Any] = (), *, out: str | Path,
            preset: str | None = None, seeds: int | Sequence[int] = 3, device: str = "cpu",
            engine: str = "vectorized", on_event: Callable[[Progress], None] | None = None,
            task_options: dict | None = None, report: bool = False,
            model: str | Callable | None = None, trainer: Callable | None = None,
            metric: str = "test_acc", backend: str = "local", per_trial: str | dict | None = None,
            address: str | None = None, workers: int | None = None,
            **settings: Any) -> CompareResult:
    """Compare ``schedules`` (names, or ``{"name", "params", "label", "interval"}`` dicts)
    and/or a ``preset`` over ``seeds``, on ``task`` (a spec: ``digits``, ``imagefolder:PATH``,
    ``csv:PATH``; or a ``Task`` of your data) trained by lrlab's ``engine`` (``vectorized``:
    every trial at once, or ``sequential``) with ``model`` (a built-in name, ``cnn``, ``mlp``,
    ``resnet``, or your function ``fn(task_info) -> nn.Module``), or by your own ``trainer``
    (``fn(trial)``, any framework: ``lrlab.experiments.trainers``; give ``steps_per_epoch``).
    ``settings`` are the run settings of ``lrlab.experiments.spec`` (``epochs``, ``lr``,
    ``optimizer``, ``batch_size``, ...); ``metric``: what ranks (``test_acc``, or ``val_acc``
    of the last epoch); ``report``: also write ``out/report.html``. ``backend``: where the
    units of work run (``local``: this machine, in ``workers`` processes, by default one per
    core when the engine trains on a CPU; ``ray``: a Ray cluster at ``address``, ``auto`` or
    ``HOST:PORT``, or a local one), ``per_trial``: what one unit needs (``cpu=1,gpu=0.25``).
    Trials and results go to the store in ``out``; ``on_event`` receives ``Progress`` events
    (the Python API draws nothing)."""
    data, task_object, model_fn = request(task, schedules, preset, seeds, metric, task_options,
                                          model, trainer, device, engine, settings)
    return run_experiment(experiment(data), out, device=device, engine=engine,
                          on_event=on_event, report=report, task=task_object,
                          model=model_fn, trainer=trainer,
                          backend=backend, per_trial=per_trial, address=address, workers=workers)


def request(task: Any, schedules: Any, preset: str | None, seeds: Any, metric: str,
            task_options: dict | None, model: Any, trainer: Callable | None, device: str,
            engine: str, settings: dict) -> tuple[dict[str, Any], Any, Callable | None]:
    """The plain data of ``compare``'s (and ``tune``'s) arguments (``spec.experiment`` validates
    it), the ``Task`` object given (or None) and the model function given (or None)."""
    from ..usercode import identity

    if isinstance(schedules, (str, dict)):  # one schedule given alone
        schedules = [schedules]
    data: dict[str, Any] = {
        "schedules": list(schedules) if hasattr(schedules, "__iter__") else schedules,
        "seeds": list(seeds) if isinstance(seeds, (list, tuple, range)) else seeds,
        "metric": metric, **settings}
    task_object = None
    if trainer is not None:
        if not callable(trainer):
            raise ValueError(f"trainer: must be a function fn(trial), got {type(trainer).__name__}")
        if task is not None or task_options or model is not None:
            raise ValueError("task: a trainer loads its own data and builds its own model; give "
                             "task, task_options and model only without a trainer")
        if device != "cpu" or engine != "vectorized":
            raise ValueError(f"{'device' if device != 'cpu' else 'engine'}: a trainer chooses "
                             f"its own; device and engine are lrlab's engine's")
        data["trainer"] = identity(trainer)
    else:
        if task is None or isinstance(task, str):
            data["task"], data["task_options"] = task or "digits", task_options or {}
        else:
            from ..training.tasks import Task

            if not isinstance(task, Task):
                raise ValueError(f"task: must be a Task or a spec (digits, imagefolder:PATH, "
                                 f"csv:PATH), got a {type(task).__name__}")
            if task_options:
                raise ValueError("task_options: they load a task from its spec; a Task object "
                                 "is loaded already")
            task_object, data["task"] = task, task.spec
            data["task_options"] = {"data_sha256": data_digest(task)}  # its data, not its name
        if callable(model):
            data["model"] = identity(model)
        elif model is not None:
            data["model"] = model
    if preset is not None:
        data["preset"] = preset
    return data, task_object, (model if callable(model) else None)
