"""Run a comparison: an ``Experiment`` -> its trials trained into the store -> the ranking.

``compare(...)`` (also ``lrlab.compare``) loads the task once, trains every trial that the store
does not hold finished (a killed run continues from its checkpoints), and ranks the schedules
with ``lrlab.report.stats.rank`` over the seeds. The experiment's definition is kept in the
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
from ..training.trial import PLATEAU
from ..training.records import Progress, TrialRecord
from .spec import Experiment, experiment
from .store import Store

_SHARED = ("task", "task_options", "optimizer", "lr", "weight_decay", "batch_size", "epochs",
           "warmup", "early_stop")


@dataclass
class CompareResult:
    """What a comparison produced: the experiment, every trial's record, the ranking (plain
    data, one dict per schedule label; see ``lrlab.report.stats.rank``) and the store's folder."""

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
    """``stats.rank_trials`` over the experiment's schedules (by label) and seeds;
    ``n_test``: the size of the test set."""
    from ..report.stats import rank_trials

    return rank_trials([e.label for e in exp.entries], (
        (cfg.name.rsplit("-seed", 1)[0], cfg.seed, rec.status, rec.test_acc, rec.epochs)
        for cfg, rec in zip(exp.trials(), records)), n_test=n_test)


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


def _same_experiment(store: Store, exp: Experiment) -> None:
    """Refuse other task / run settings than the store's; record the definition."""
    now = exp.to_dict()
    recorded = store.meta("experiment")
    if recorded is not None:
        try:  # resolved again, so a definition written before defaults were recorded compares
            before = experiment(json.loads(recorded)).to_dict()
        except (ValueError, TypeError, RecursionError) as e:
            raise ValueError(f"{store.path}: its recorded experiment is damaged ({e}); choose "
                             f"another --out") from None
        diff = [k for k in _SHARED if before.get(k) != now.get(k)]
        if diff:
            k = diff[0]
            raise ValueError(f"{store.out} holds an experiment with {k}={before.get(k)!r}, not "
                             f"{now.get(k)!r}; only schedules and seeds may change (choose "
                             f"another --out)")
    store.set_meta("experiment", json.dumps(now))


def run_experiment(exp: Experiment, out: str | Path, *, device: str = "cpu",
                   engine: str = "vectorized",
                   on_event: Callable[[Progress], None] | None = None,
                   report: bool = False) -> CompareResult:
    """Train ``exp``'s trials into the store in ``out`` (skipping finished ones) with
    ``engine`` (``lrlab.training.engines.ENGINES``) on ``device``; rank them; with ``report``,
    write ``out/report.html`` before the folder is released (so no other process's report
    can replace the final one). Everything is checked (device, engine, every trial on the
    task) before the folder is touched: a refused run writes nothing."""
    from ..training.engines import ENGINES, train_population
    from ..training.evaluate import device as torch_device
    from ..training.tasks import load_task

    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    torch_device(device)
    trials = exp.trials()
    task = load_task(exp.task, **exp.task_options)
    same: dict[str, str] = {}  # the trial that runs (name aside) -> the label that runs it first
    for cfg in trials:  # every trial can run on this task, before the store is touched
        plan = make_plan(cfg, len(task.train), task.kind)
        label = cfg.name.rsplit("-seed", 1)[0]
        first = same.setdefault(_runs(cfg, plan), label)
        if first != label:
            raise ValueError(f"schedules: {label} runs the same trials as {first} (the same "
                             f"schedule, resolved for the run, and settings); drop one of them")
    with Store(out) as store:
        _same_experiment(store, exp)
        store.set_meta("test_size", str(len(task.test)))  # floors the verdict's noise estimate
        records = train_population(task, trials, store, engine=engine, device=device,
                                   on_event=on_event)
        result = CompareResult(exp, records, ranking(exp, records, len(task.test)), Path(out),
                               n_test=len(task.test))
        if report:
            from ..report import write_report

            result.page = write_report(out, store=store)
    return result


def compare(task: str = "digits", schedules: Sequence[Any] = (), *, out: str | Path,
            preset: str | None = None, seeds: int | Sequence[int] = 3, device: str = "cpu",
            engine: str = "vectorized", on_event: Callable[[Progress], None] | None = None,
            task_options: dict | None = None, report: bool = False,
            **settings: Any) -> CompareResult:
    """Compare ``schedules`` (names, or ``{"name", "params", "label", "interval"}`` dicts)
    and/or a ``preset`` on ``task`` over ``seeds``; ``settings`` are the run settings of
    ``lrlab.experiments.spec`` (``epochs``, ``lr``, ``optimizer``, ``batch_size``, ...);
    ``engine``: ``vectorized`` (every trial at once) or ``sequential``; ``report``: also
    write ``out/report.html``.
    Trials and results go to the store in ``out``; ``on_event`` receives the engine's
    ``Progress`` events (the Python API draws nothing)."""
    if isinstance(schedules, (str, dict)):  # one schedule given alone
        schedules = [schedules]
    data = {"task": task, "task_options": task_options or {},
            "schedules": list(schedules) if hasattr(schedules, "__iter__") else schedules,
            "seeds": list(seeds) if isinstance(seeds, (list, tuple, range)) else seeds, **settings}
    if preset is not None:
        data["preset"] = preset
    return run_experiment(experiment(data), out, device=device, engine=engine,
                          on_event=on_event, report=report)
