"""``lrlab tune``: every schedule tuned with the same budget, chosen on validation, then compared.

A ranking of schedules that all run at one shared LR with preset parameters measures the
presets (the source experiment's StepDecay at 53 % said its parameters failed, not the idea).
The peak LR is a nuisance parameter each schedule needs tuned for itself, with the same budget
as every other; the reference for doing that fairly is MLCommons AlgoPerf's external tuning:
the same number of trials per method from one fixed search space, selection on validation.

For each schedule of the experiment (a preset's entries and your own), ``trials_per_schedule``
configurations are drawn by Optuna's ``QMCSampler`` (scrambled Sobol, seeded): the peak LR,
log-uniform over ``lr * lr_range`` (default ``lr/30 .. lr*30``, one range for all), and the
parameters ``lrlab.schedules.spaces`` declares for the schedule (those the entry leaves to the
defaults; a value an entry fixes is its definition). QMC, not TPE: the draws do not depend on
results, so every schedule gets the same even coverage of its space for any number of trials
(TPE's first ten are random, and it adapts to noise on budgets this small), all trials of a
rung can run at once (on Ray too), and a resumed study draws exactly the same configurations.
The draws are recorded in the store (meta ``tune``); a rerun takes them from there.

Budget rungs (successive halving over complete runs): rung ``r`` trains its configurations for
``budgets[r]`` epochs (``epochs / eta ** (rungs - 1 - r)``), each a complete run with the
schedule bound to that budget (lengths are relative, so ``'30%'`` of 2 epochs and of 20 are one
shape), so every number compared is an end-of-schedule number: no late-decaying schedule (WSD,
linear to zero) is judged before its cooldown. The best ``1/eta`` by validation go on; the last
rung is the full ``epochs``. ``rungs=1`` prunes nothing.

Selection reads validation only: a trial's score is its last epoch's ``val_acc`` (``-val_loss``
where there is no accuracy); a diverged or failed trial scores lowest; a tie goes to the lower
last validation loss, then to the earlier draw. Tuning trials train on seed ``TUNING_SEED`` (never an evaluation seed). The best
configuration of each schedule (at the last rung) then runs over the evaluation seeds and is
ranked by the verdict as in ``compare``, in the same store and report. Every schedule gets the
same number of trials at the same budgets: equal training, read back from the store.

    >>> budgets(20, 3, 3)
    [2, 7, 20]
    >>> [kept(9, r, 3) for r in range(3)]
    [9, 3, 1]
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..schedules import params as P
from ..schedules.presets import Entry
from ..schedules.spaces import LR_RANGE, Dim, space
from ..training.records import Progress, TrialRecord
from ..training.trial import TrialConfig
from .runner import CompareResult, _same_experiment, distinct, finish, planner
from .spec import (KEYS, TUNING_NAME, Experiment, _check_keys, entries_at, experiment,
                   tuning_name)
from .store import Store

TUNING_SEED = 1000  # tuning trials' seed; evaluation seeds are 0, 1, 2, ...
TUNE_KEYS = ("trials_per_schedule", "budget_rungs", "eta", "lr_range", "space", "sampler_seed")
MAX_TRIALS = 1000


@dataclass(frozen=True)
class Tuning:
    """A validated tuning: the experiment (its schedules, evaluation seeds and run settings;
    ``epochs`` is the full budget) and how each schedule is searched."""

    exp: Experiment
    data: dict                      # the experiment's plain data (entries at other LRs)
    trials_per_schedule: int = 8
    rungs: int = 3
    eta: int = 3
    lr_range: tuple[float, float] = LR_RANGE
    space: dict = field(default_factory=dict)  # label or schedule name -> {param: [low, high]}
    sampler_seed: int = 0

    @property
    def budgets(self) -> list[int]:
        return budgets(self.exp.run["epochs"], self.rungs, self.eta)

    @property
    def seed(self) -> int:
        """The tuning trials' seed: ``TUNING_SEED``, or the next one no evaluation uses."""
        return next(s for s in range(TUNING_SEED, TUNING_SEED + MAX_TRIALS + 1000)
                    if s not in self.exp.seeds)

    def dims(self, entry: Entry) -> dict[str, Dim]:
        """What is searched for ``entry`` besides the LR."""
        own = {k: d for k, d in space(entry.schedule).items() if k not in entry.params}
        for key in (entry.schedule, entry.label):
            for name, (low, high) in self.space.get(key, {}).items():
                if name in own:  # a value the entry fixes stays (a label's is refused)
                    own[name] = own[name].within(low, high)
        return dict(sorted(own.items()))

    def to_dict(self) -> dict[str, Any]:
        return {"experiment": self.exp.to_dict(), "trials_per_schedule": self.trials_per_schedule,
                "budget_rungs": self.rungs, "eta": self.eta, "lr_range": list(self.lr_range),
                "space": self.space, "sampler_seed": self.sampler_seed}


def budgets(epochs: int, rungs: int, eta: int) -> list[int]:
    """The epochs of each rung: ``epochs / eta ** (rungs - 1 - r)``, rounded, at least 1."""
    return [max(1, round(epochs / eta ** (rungs - 1 - r))) for r in range(rungs)]


def kept(n: int, rung: int, eta: int) -> int:
    """How many of ``n`` configurations train at rung ``rung``: ``n // eta ** rung``, >= 1."""
    return max(1, n // eta ** rung)


def tuning(data: dict[str, Any]) -> Tuning:
    """Validate plain data (an experiment's keys, ``lrlab.experiments.spec``, plus
    ``TUNE_KEYS``) into a ``Tuning``; one ``ValueError`` line naming the key."""
    if not isinstance(data, dict):
        raise ValueError(f"the config must be a mapping, got {P.show(data)}")
    _check_keys("", data, (*KEYS, *TUNE_KEYS))
    own = {k: data[k] for k in TUNE_KEYS if data.get(k) is not None}
    rest = {k: v for k, v in data.items() if k not in TUNE_KEYS}
    n = _whole(own, "trials_per_schedule", 8, 1, MAX_TRIALS)
    rungs = _whole(own, "budget_rungs", 3, 1, 10)
    eta = _whole(own, "eta", 3, 2, 10)
    seed = _whole(own, "sampler_seed", 0, 0, 2**32 - 1)
    lr_range = own.get("lr_range", list(LR_RANGE))
    if not (isinstance(lr_range, (list, tuple)) and len(lr_range) == 2
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
                    and x > 0 for x in lr_range) and lr_range[0] < lr_range[1]):
        raise ValueError(f"lr_range: must be [low, high], factors of lr with 0 < low < high, "
                         f"got {P.show(lr_range)}")
    exp = experiment(rest)
    if exp.metric != "test_acc":
        raise ValueError(f"metric: tune chooses on validation, so it ranks on the held-out "
                         f"test_acc; got {P.show(exp.metric)} (the split that chose would rank)")
    spaces = own.get("space", {})
    if not isinstance(spaces, dict):
        raise ValueError(f"space: must be a mapping of schedules to {{param: [low, high]}}, "
                         f"got {P.show(spaces)}")
    known = {e.label: e.schedule for e in exp.entries} | {e.schedule: e.schedule for e in exp.entries}
    for key, ranges in spaces.items():
        if key not in known:
            raise ValueError(f"space.{key}: not a schedule of this experiment (its labels and "
                             f"names: {', '.join(sorted(known))})")
        declared = space(known[key])
        if not isinstance(ranges, dict):
            raise ValueError(f"space.{key}: must be a mapping {{param: [low, high]}}, got "
                             f"{P.show(ranges)}")
        for name, value in ranges.items():
            if name not in declared:
                raise ValueError(f"space.{key}.{name}: {known[key]} searches "
                                 f"{', '.join(declared) or 'only the LR (lr_range)'}")
            fixed = next((e for e in exp.entries if e.label == key and name in e.params), None)
            if fixed is not None:
                raise ValueError(f"space.{key}.{name}: {key} fixes {name} "
                                 f"({P.show(fixed.params[name])}); it is not searched")
            d = declared[name]
            if not (isinstance(value, (list, tuple)) and len(value) == 2
                    and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in value)
                    and d.low <= value[0] < value[1] <= d.high):
                raise ValueError(f"space.{key}.{name}: must be [low, high] within {d.low:g} .. "
                                 f"{d.high:g}, got {P.show(value)}")
    t = Tuning(exp, rest, n, rungs, eta, (float(lr_range[0]), float(lr_range[1])),
               {k: {p: [float(v[0]), float(v[1])] for p, v in r.items()} for k, r in spaces.items()},
               seed)
    _searches_the_lr(t)
    b = t.budgets
    if len(set(b)) != len(b):
        raise ValueError(f"budget_rungs: {rungs} rungs, each {eta}x longer, are "
                         f"{', '.join(map(str, b))} epochs at epochs={exp.run['epochs']}: two "
                         f"the same; give fewer rungs or more epochs")
    return t


def _whole(given: dict, key: str, default: int, low: int, high: int) -> int:
    """``given[key]`` (or ``default``): a whole number from ``low`` to ``high``, else one line."""
    value = given.get(key, default)
    if type(value) is not int or not low <= value <= high:
        raise ValueError(f"{key}: must be a whole number from {low} to {high}, got {P.show(value)}")
    return value


def _searches_the_lr(t: Tuning) -> None:
    """Refuse an entry whose own parameters fix its LR (a ``base_lr`` given): its LR table
    would not move with the drawn LR, which the report would then show as chosen."""
    from ..training.plan import make_plan

    for i, entry in enumerate(t.exp.entries):
        if entry.schedule == "plateau":
            continue  # its LR is the trial's lr itself
        tables = []
        for factor in t.lr_range:
            at = entries_at(t.data, entry.lr * factor, t.exp.trainer is not None)[i]
            cfg = TrialConfig(**{**t.exp.run, **at.trial_args(), "lr": entry.lr * factor})
            tables.append(make_plan(cfg, n_train=cfg.batch_size or 1).table)
        if tables[0] == tables[1]:
            raise ValueError(f"schedules: {entry.label}'s parameters fix its LR (the same LR "
                             f"table at lr x {t.lr_range[0]:g} and x {t.lr_range[1]:g}); leave "
                             f"base_lr / max_lr to lr, which tune searches")


def draw(t: Tuning) -> dict[str, list[dict[str, Any]]]:
    """Each schedule's configurations: ``{label: [{"lr", "params"}, ...]}``, drawn by a QMC
    sampler seeded with ``t.sampler_seed`` (the same sequence for every schedule)."""
    import optuna

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    out = {}
    try:
        for entry in t.exp.entries:
            dims = t.dims(entry)
            dists = {"lr": optuna.distributions.FloatDistribution(
                entry.lr * t.lr_range[0], entry.lr * t.lr_range[1], log=True),
                **{k: d.distribution() for k, d in dims.items()}}
            with warnings.catch_warnings():  # QMCSampler is "experimental" since optuna 3
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                study = optuna.create_study(sampler=optuna.samplers.QMCSampler(
                    qmc_type="sobol", scramble=True, seed=t.sampler_seed))
                first = study.ask(dists)  # Optuna draws a QMC study's first trial at random:
                study.tell(first, 0.0)     # not a point of the Sobol sequence, left out
                drawn = []
                for _ in range(t.trials_per_schedule):
                    trial = study.ask(dists)
                    study.tell(trial, 0.0)  # QMC reads no values
                    drawn.append({"lr": trial.params["lr"],
                                  "params": {k: d.param(trial.params[k]) for k, d in dims.items()}})
            out[entry.label] = drawn
    finally:
        optuna.logging.set_verbosity(verbosity)
    return out


def configs(t: Tuning, drawn: dict[str, list[dict]], label: str, which: Sequence[int],
            epochs: int) -> list[TrialConfig]:
    """The tuning trials of draws ``which`` of ``label`` at ``epochs``:
    ``<label>-t<k>-e<epochs>-seed<seed>``."""
    out = []
    index = [e.label for e in t.exp.entries].index(label)
    for k in which:
        d = drawn[label][k]
        entry = entries_at(t.data, d["lr"], t.exp.trainer is not None)[index]
        out.append(TrialConfig(**{**t.exp.run, **entry.trial_args(), "epochs": epochs,
                                  "lr": d["lr"], "params": {**entry.params, **d["params"]}},
                               seed=t.seed, name=tuning_name(label, k, epochs, t.seed)))
    return out


def score(rec: TrialRecord) -> float:
    """A tuning trial's validation score (``lrlab.stats.validation_score``)."""
    from ..stats import validation_score

    return validation_score(rec.status, rec.epochs)


def _rank(k: int, rec: TrialRecord) -> tuple:
    """The order of a rung's trials, best first: the validation score, then the last
    validation loss (accuracies on a small validation set tie often), then the draw."""
    loss = rec.epochs[-1].get("val_loss") if rec.epochs else None
    return (-score(rec), loss if loss is not None and math.isfinite(loss) else math.inf, k)


@dataclass
class TuneResult:
    """What a tuning produced: the evaluation (a ``CompareResult`` of each schedule's chosen
    configuration over the evaluation seeds), the choice per schedule (``{label: {"draw",
    "lr", "params", "val"}}``), the best validation score per rung and schedule, and each
    schedule's training budget (epochs summed over its tuning trials, as stored)."""

    tuning: Tuning
    evaluation: CompareResult
    chosen: dict[str, dict[str, Any]]
    rungs: dict[str, list[float | None]]
    budget: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return {**self.evaluation.to_json(), "tuned": self.chosen, "rung_best": self.rungs,
                "budgets": self.tuning.budgets, "tuning_epochs": self.budget,
                "trials_per_schedule": self.tuning.trials_per_schedule,
                "tuning_seed": self.tuning.seed, "selected_on": "validation"}


def run_tuning(t: Tuning, out: str | Path, *, device: str = "cpu", engine: str = "vectorized",
               on_event: Callable[[Progress], None] | None = None,
               on_rung: Callable[[int, list[str]], Callable | None] | None = None,
               report: bool = False, task: Any = None, model: Callable | None = None,
               trainer: Callable | None = None, backend: str = "local",
               per_trial: str | dict | None = None, address: str | None = None,
               workers: int | None = None) -> TuneResult:
    """Tune ``t``'s schedules into the store in ``out``, then evaluate each one's choice (see
    the module docstring). Everything is checked (the task, every configuration at every
    budget, the backend) before the folder is touched; running it again continues: finished
    trials are read back, the draws come from the store. ``on_rung(r, names)``, when given,
    returns the ``on_event`` of rung ``r`` (the evaluation is rung ``len(budgets)``)."""
    from .backends import run_backend, session

    jobs, n_test = planner(t.exp, task, model, trainer, engine, device)
    drawn = draw(t)
    labels = [e.label for e in t.exp.entries]
    for label in labels:  # every configuration at every budget plans: refused before anything
        for b in t.budgets:  # is written, naming the draw
            for k, cfg in enumerate(configs(t, drawn, label, range(t.trials_per_schedule), b)):
                try:
                    jobs([cfg])
                except ValueError as e:
                    d = drawn[label][k]
                    raise ValueError(f"tune: {label}'s draw {k} "
                                     f"({in_words({'lr': d['lr'], **d['params']})}) at {b} "
                                     f"epochs: {str(e).partition(': ')[2] or e}") from None
    untuned = jobs(t.exp.trials)
    distinct(t.exp.trials, untuned.plans)  # what compare refuses, tune refuses
    run_backend(untuned, backend, per_trial, address, workers)
    with Store(out) as store, session(backend, address):
        _same_experiment(store, t.exp, record=False, tuned=True)
        drawn = _same_tuning(store, t, drawn)
        if t.exp.trainer is None:
            store.set_meta("test_size", str(n_test))
        alive = {label: list(range(t.trials_per_schedule)) for label in labels}
        best: dict[str, list[float | None]] = {label: [] for label in labels}
        for r, epochs in enumerate(t.budgets):
            trials = {label: configs(t, drawn, label, alive[label], epochs) for label in labels}
            flat = [c for label in labels for c in trials[label]]
            emit = on_rung(r, [c.name for c in flat]) if on_rung else on_event
            run_backend(jobs(flat), backend, per_trial, address, workers)(store, emit)
            for label in labels:
                recs = store.records([c.name for c in trials[label]])
                ranked = sorted(zip(alive[label], recs), key=lambda kr: _rank(*kr))
                top = score(ranked[0][1])
                best[label].append(None if top == -math.inf else top)
                alive[label] = sorted(k for k, _ in ranked[:kept(t.trials_per_schedule, r + 1,
                                                                 t.eta)])
                if r == len(t.budgets) - 1:
                    alive[label] = [ranked[0][0]]
            if all(v[-1] is None for v in best.values()):
                raise ValueError("tune: no tuning trial reported a finite validation metric "
                                 "(val_acc or val_loss): nothing to choose on")
        chosen = {label: {"draw": alive[label][0], **drawn[label][alive[label][0]],
                          "val": best[label][-1]} for label in labels}
        final = _evaluation(t, chosen)
        plans = jobs(final.trials)
        distinct(final.trials, plans.plans)
        _same_experiment(store, final, tuned=True)
        emit = on_rung(len(t.budgets), [c.name for c in final.trials]) if on_rung else on_event
        run_backend(plans, backend, per_trial, address, workers)(store, emit)
        evaluation = finish(final, store, n_test, report)
        budget = _budgets(store, t, labels)
    return TuneResult(t, evaluation, chosen, best, budget)


def in_words(values: dict) -> str:
    """Drawn values in words, floats to 4 digits: ``lr=0.0123, gamma=0.3``."""
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in values.items())


def _evaluation(t: Tuning, chosen: dict[str, dict]) -> Experiment:
    """The experiment that evaluates each schedule's chosen configuration over the seeds."""
    schedules = []
    for i, entry in enumerate(t.exp.entries):
        c = chosen[entry.label]
        e = entries_at(t.data, c["lr"], t.exp.trainer is not None)[i]
        schedules.append({"name": e.schedule, "params": {**e.params, **c["params"]},
                          "label": e.label, "interval": e.interval, "lr": c["lr"]})
    data = {k: v for k, v in t.data.items() if k not in ("preset", "schedules")}
    return experiment({**data, "schedules": schedules})


def _same_tuning(store: Store, t: Tuning, drawn: dict) -> dict:
    """Refuse another tuning than the store's; record this one and its draws. The draws the
    store holds win (a rerun trains what was drawn first)."""
    now = t.to_dict()
    recorded = store.meta("tune")
    if recorded is not None:
        try:
            before = json.loads(recorded)
            then, then_drawn = before["definition"], before["drawn"]
        except (ValueError, TypeError, KeyError) as e:
            raise ValueError(f"{store.path}: its recorded tuning is damaged ({e}); choose "
                             f"another --out") from None
        diff = [k for k in now if then.get(k) != now[k]]
        if diff:
            k, was = diff[0], then.get(diff[0])
            if k == "experiment" and isinstance(was, dict):  # name the setting inside it
                k = next(x for x in sorted(set(was) | set(now[k])) if was.get(x) != now[k].get(x))
                was = was.get(k)
            raise ValueError(f"{store.out} holds a tuning with another {k} ({P.show(was)}); tune "
                             f"again in another --out")
        if not (isinstance(then_drawn, dict) and set(then_drawn) == set(drawn)
                and all(isinstance(v, list) and len(v) == t.trials_per_schedule
                        and all(_fits(d, new) for d, new in zip(v, drawn[label]))
                        for label, v in then_drawn.items())):
            raise ValueError(f"{store.path}: its recorded draws do not fit the tuning; choose "
                             f"another --out")
        return then_drawn
    store.set_meta("tune", json.dumps({"definition": now, "drawn": drawn, "seed": t.seed}))
    return drawn


def _fits(d: Any, new: dict) -> bool:
    """Whether a recorded draw has the shape of a fresh one: a finite LR > 0 and the same
    parameters."""
    return (isinstance(d, dict) and set(d) == {"lr", "params"} and isinstance(d["lr"], float)
            and math.isfinite(d["lr"]) and d["lr"] > 0 and isinstance(d["params"], dict)
            and set(d["params"]) == set(new["params"]))


def _budgets(store: Store, t: Tuning, labels: list[str]) -> dict[str, int]:
    """Each schedule's tuning training as stored: epochs summed over its tuning trials."""
    out = dict.fromkeys(labels, 0)
    with store.reader() as r:
        for row in r.trials():
            m = TUNING_NAME.fullmatch(row.name)
            if m and m["label"] in out and row.config.get("seed") == t.seed:
                out[m["label"]] += row.config["epochs"]
    return out


def tune(task: Any = None, schedules: Sequence[Any] = (), *, out: str | Path,
         preset: str | None = None, trials_per_schedule: int = 8, seeds: int | Sequence[int] = 3,
         budget_rungs: int = 3, eta: int = 3, lr_range: Sequence[float] = LR_RANGE,
         space: dict | None = None, sampler_seed: int = 0, metric: str = "test_acc",
         device: str = "cpu",
         engine: str = "vectorized", on_event: Callable[[Progress], None] | None = None,
         task_options: dict | None = None, report: bool = False,
         model: str | Callable | None = None, trainer: Callable | None = None,
         backend: str = "local", per_trial: str | dict | None = None,
         address: str | None = None, workers: int | None = None, **settings: Any) -> TuneResult:
    """Tune every schedule of ``schedules`` / ``preset`` with the same budget
    (``trials_per_schedule`` draws, ``budget_rungs`` rungs), choose on validation, evaluate the
    choices over ``seeds`` and rank them on ``metric`` (the held-out test accuracy by default;
    the choice itself never reads it); the arguments otherwise are ``lrlab.compare``'s.

        >>> import tempfile
        >>> r = tune("digits", ["cosine", "step"], trials_per_schedule=3, budget_rungs=2,
        ...          epochs=3, seeds=2, out=tempfile.mkdtemp())
        >>> sorted(r.chosen), r.tuning.budgets, r.budget == {"cosine": 6, "step": 6}
        (['cosine', 'step'], [1, 3], True)
    """
    from .runner import request

    data, task_object, model_fn = request(task, schedules, preset, seeds, metric, task_options,
                                          model, trainer, device, engine, settings)
    data.update(trials_per_schedule=trials_per_schedule, budget_rungs=budget_rungs, eta=eta,
                lr_range=list(lr_range), space=space or {}, sampler_seed=sampler_seed)
    return run_tuning(tuning(data), out, device=device, engine=engine, on_event=on_event,
                      report=report, task=task_object, model=model_fn, trainer=trainer,
                      backend=backend, per_trial=per_trial, address=address, workers=workers)
