"""``lrlab compare``: many schedules over several seeds, fairly, into a SQLite store; the ranking.
``lrlab tune``: every schedule tuned with the same budget first (``lrlab.experiments.tune``).

    lrlab compare --task digits --preset paddle --seeds 3 --epochs 20 --out cmp
    lrlab compare --schedule cosine,one_cycle --schedule step -p step.gamma=0.5 --seed 0,1 --out cmp
    lrlab compare --config experiment.yaml --out cmp --json
    lrlab compare --task digits --model resnet --schedule cosine,step --out cmp
    lrlab compare --trainer my_loop.py:train --steps-per-epoch 22 --schedule cosine,step --out cmp
    lrlab report cmp                 # rebuild cmp/report.html from cmp/results.sqlite alone
    lrlab tune --preset paddle --trials-per-schedule 8 --out tuned   # compare's options too

A config file (YAML or JSON, see ``lrlab.experiments.spec``) gives any key; flags given on the
command line override it (``--schedule`` adds to its schedules). Running the same command
again continues: finished trials are not trained again, unfinished ones continue from their
checkpoints (``--resume`` is accepted and changes nothing: the store always continues).
Everything is checked before the folder is touched: a refused command writes nothing.

``--model`` and ``--trainer`` name code (``FILE.py:FUNCTION`` or ``MODULE:FUNCTION``): it runs
because it is named here; a config file cannot name code.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys

import click

from .params import _Curve, _early_stop, _json_option, _param_option, _with, distribute, parse_value
from .training import _device_option, _engine_option, _names, _optimizer_options, _progress, _task_options, task_options


_EXPERIMENT_OPTIONS = [
    _with(_task_options),
    click.option("--model", "model_ref", default=None, metavar="NAME|FILE.py:FN",
                 help="A built-in model (cnn, mlp, resnet) or your function fn(task_info) -> "
                      "torch.nn.Module  [default: the task's own]"),
    click.option("--trainer", "trainer_ref", default=None, metavar="FILE.py:FN",
                 help="Your training loop, any framework: fn(trial), called once per trial "
                      "(instead of --task and lrlab's engine)."),
    click.option("--steps-per-epoch", type=int, default=None, metavar="N",
                 help="With --trainer: the optimizer steps in one of its epochs."),
    click.option("--metric", type=click.Choice(["test_acc", "val_acc"]), default=None,
                 help="What ranks the schedules: the final test accuracy, or the validation "
                      "accuracy of the last epoch  [default: test_acc]"),
    click.option("--preset", default=None, metavar="NAME",
                 help="A named set of schedules: paddle, torch, modern or all."),
    click.option("--schedule", "--schedules", "schedules", multiple=True,
                 callback=lambda c, p, v: _names(v), metavar="NAME",
                 help="A schedule of `lrlab list`, or plateau (repeatable; lists like a,b)."),
    _param_option,
    click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
                 metavar="FILE", help="An experiment in YAML or JSON; flags override its keys."),
    click.option("--seeds", type=click.IntRange(1, 1000), default=None, metavar="N",
                 help="Seeds 0..N-1  [default: 3]"),
    click.option("--seed", "seed_list", default=None, metavar="SEEDS",
                 help="Explicit seeds, e.g. 0,1,2 (instead of --seeds)."),
    _with(_optimizer_options),
    click.option("--lr", type=float, default=None, help="Reference LR  [default: 0.05]"),
    click.option("--epochs", type=int, default=None, help="[default: 20]"),
    click.option("--batch-size", type=int, default=None, help="[default: 64]"),
    click.option("--warmup", default=None, callback=lambda c, p, v: None if v is None else parse_value(v),
                 metavar="N|P%", help="Linear warmup before every schedule."),
    click.option("--early-stop", default=None, callback=_early_stop, metavar="K=V,...",
                 help="Early stopping for every trial, e.g. patience=5."),
    click.option("--out", required=True, type=click.Path(file_okay=False),
                 help="The experiment's folder (results.sqlite, checkpoints, models)."),
    click.option("--resume", is_flag=True,
                 help="Accepted, changes nothing: running the same command again always continues "
                      "(finished trials kept, unfinished ones from their checkpoints)."),
    _device_option,
    _engine_option,
    click.option("--backend", type=click.Choice(["local", "ray"]), default="local", show_default=True,
                 help="Where the trials run: this machine, or a Ray cluster (pip install "
                      "'lrlab[ray]'); the store stays with this process either way."),
    click.option("--address", default=None, metavar="auto|HOST:PORT",
                 help="The Ray cluster to join (auto: the one `ray start` runs here); without it "
                      "a Ray of this machine alone."),
    click.option("--per-trial", default=None, metavar="cpu=N,gpu=F",
                 help="What one unit of work (a population or a trial) needs, e.g. cpu=1,gpu=0.25  "
                      "[default: cpu=1]"),
    click.option("--workers", type=click.IntRange(1, 4096), default=None, metavar="N",
                 help="Local worker processes  [default: one per core on a CPU, else 1]"),
    click.option("--quiet", is_flag=True, help="No progress (on stderr)."),
    _json_option,
]


@click.command()
@_with(_EXPERIMENT_OPTIONS)
def compare(**kw):
    """Compare schedules over seeds on one task; print the ranking.

    Every trial of a seed starts from the same weights and sees the same batches; the peak LR
    is --lr for all unless a schedule's definition says otherwise.
    """
    from lrlab.experiments.runner import run_experiment
    from lrlab.experiments.spec import experiment

    with _stdout_to_stderr(kw["as_json"]):  # with --json, what the user's code prints: stderr
        data, model, trainer = _request(kw)
        exp = experiment(data)
        with _progress(kw["quiet"], [t.name for t in exp.trials]) as show:
            result = run_experiment(exp, kw["out"], device=kw["device"], engine=kw["engine"],
                                    on_event=show, report=True, model=model, trainer=trainer,
                                    **_where(kw))
    _show(result, kw["as_json"])


@click.command()
@_with(_EXPERIMENT_OPTIONS)
@click.option("--trials-per-schedule", type=click.IntRange(1, 1000), default=None, metavar="N",
              help="Configurations drawn for every schedule (the same number for each)  "
                   "[default: 8]")
@click.option("--budget-rungs", type=click.IntRange(1, 10), default=None, metavar="R",
              help="Successive-halving rungs, each a complete run ETA times shorter than the "
                   "next (the last: --epochs); 1 prunes nothing  [default: 3]")
@click.option("--eta", type=click.IntRange(2, 10), default=None, metavar="ETA",
              help="1/ETA of a rung's configurations go on to the next  [default: 3]")
@click.option("--lr-range", default=None, metavar="LOW,HIGH",
              help="The peak LR's range, as factors of --lr (log-uniform)  [default: 0.03333,30]")
@click.option("--sampler-seed", type=click.IntRange(0), default=None, metavar="N",
              help="The QMC sampler's seed  [default: 0]")
def tune(trials_per_schedule, budget_rungs, eta, lr_range, sampler_seed, **kw):
    """Tune every schedule with the same budget, choose on validation, compare the choices.

    Each schedule gets --trials-per-schedule configurations of its peak LR and its own
    parameters (`lrlab show NAME --space`), drawn by a seeded QMC sampler and pruned by budget
    rungs (complete shorter runs); the best of each, chosen on validation accuracy on a tuning
    seed, then runs over the evaluation seeds and is ranked as `lrlab compare` ranks. Test data
    never chooses anything.

    \b
    lrlab tune --task digits --preset paddle --trials-per-schedule 8 --epochs 20 --out tuned
    lrlab tune --schedule cosine,wsd,step --trials-per-schedule 12 --budget-rungs 1 --out t
    """
    from lrlab.experiments.tune import run_tuning, tuning

    with _stdout_to_stderr(kw["as_json"]):
        data, model, trainer = _request(kw)
        for key, value in (("trials_per_schedule", trials_per_schedule),
                           ("budget_rungs", budget_rungs), ("eta", eta),
                           ("sampler_seed", sampler_seed)):
            if value is not None:
                data[key] = value
        if lr_range is not None:
            value = parse_value(lr_range)
            data["lr_range"] = value if isinstance(value, list) else [value]
        t = tuning(data)
        stack = contextlib.ExitStack()
        rungs = len(t.budgets)

        def on_rung(r: int, names: list[str]):
            stack.close()
            if not kw["quiet"]:
                what = (f"rung {r + 1}/{rungs}: {len(names)} trials x {t.budgets[r]} epochs"
                        if r < rungs else f"evaluation: {len(names)} trials")
                click.echo(what, err=True)
            return stack.enter_context(_progress(kw["quiet"], names))

        with stack:
            result = run_tuning(t, kw["out"], device=kw["device"], engine=kw["engine"],
                                on_rung=on_rung, report=True, model=model, trainer=trainer,
                                **_where(kw))
    if not kw["as_json"]:
        _tuned(result)
    _show(result.evaluation, kw["as_json"], {k: v for k, v in result.to_json().items()
                                              if k != "schedules"})


def _tuned(result) -> None:
    """What tuning chose for each schedule, on stdout."""
    from rich.console import Console
    from rich.table import Table

    from lrlab.experiments.tune import in_words

    t = result.tuning
    table = Table(title=f"tuned: {t.trials_per_schedule} configurations per schedule, epochs "
                        f"per rung {', '.join(map(str, t.budgets))}, chosen on validation "
                        f"(seed {t.seed})")
    for col in ("schedule", "lr", "parameters", "val acc", "by rung", "epochs trained"):
        table.add_column(col)
    shown = lambda v, spec: ("-" if v is None else format(v, spec) if v >= 0  # noqa: E731
                             else "loss " + format(-v, spec))  # a regression: chosen on val_loss
    for label, c in result.chosen.items():
        rungs = " ".join(shown(v, ".3f") for v in result.rungs[label])
        table.add_row(label, f"{c['lr']:.4g}", in_words(c["params"]) or "-",
                      shown(c["val"], ".4f"), rungs,
                      str(result.budget[label]))
    Console(width=120).print(table)


def _where(kw: dict) -> dict:
    return {k: kw[k] for k in ("backend", "address", "per_trial", "workers")}


def _show(result, as_json: bool, extra: dict | None = None) -> None:
    """The result on stdout: one JSON object, or the ranking table; then the report's path."""
    if as_json:
        click.echo(json.dumps({**result.to_json(), **(extra or {})}))
        click.echo(f"report: {result.page}", err=True)  # stdout stays one JSON object
    else:
        _table(result)
        click.echo(f"report: {result.page}")


def _request(kw: dict):
    """``(data, model, trainer)``: the experiment's plain data the options (and a config file)
    give, and the user's model and trainer functions (or None)."""
    from lrlab.experiments.spec import MODELS, load
    from lrlab.usercode import identity, load_function

    (config_file, task_spec, image_size, split_seed, label, target, model_ref, trainer_ref,
     steps_per_epoch, metric, preset, schedules, params, seeds, seed_list) = (kw[k] for k in (
        "config_file", "task_spec", "image_size", "split_seed", "label", "target", "model_ref",
        "trainer_ref", "steps_per_epoch", "metric", "preset", "schedules", "params", "seeds",
        "seed_list"))
    data = load(config_file) if config_file else {}
    ctx = click.get_current_context()
    typed = {n for n in ctx.params  # options given on the command line, not their defaults
             if ctx.get_parameter_source(n) == click.core.ParameterSource.COMMANDLINE}
    if "task_spec" in typed:
        data["task"] = task_spec
    trainer = model = None
    if trainer_ref is not None:
        trainer = load_function(trainer_ref, "--trainer")
        data["trainer"] = identity(trainer, trainer_ref)
    else:
        data.setdefault("task", "digits")
    opts = task_options(data["task"] if isinstance(data.get("task"), str) else "",
                        image_size=image_size, split_seed=split_seed, label=label, target=target)
    if opts and trainer is not None:
        flag = "--" + next(k for k, v in (("image-size", image_size), ("split-seed", split_seed),
                                          ("label", label), ("target", target)) if v is not None)
        raise click.UsageError(f"{flag} applies to lrlab's tasks; a trainer loads its own data")
    if opts:
        data["task_options"] = {**(data.get("task_options") or {}), **opts}
    if model_ref in MODELS:
        data["model"] = model_ref
    elif model_ref is not None:
        if ":" not in model_ref:
            raise click.UsageError(f"--model: must be one of {', '.join(MODELS)} or your "
                                   f"FILE.py:FUNCTION, got {model_ref!r}")
        model = load_function(model_ref, "--model")
        data["model"] = identity(model, model_ref)
    for key, value in (("steps_per_epoch", steps_per_epoch), ("metric", metric)):
        if value is not None:
            data[key] = value
    if preset is not None:
        data["preset"] = preset
    if schedules:
        curves = [_Curve.trial(n) for n in schedules]
        entries = [{"name": c.canonical, "params": c.fix(p, complete=False)}
                   for c, p in zip(curves, distribute(curves, params))]
        data["schedules"] = list(data.get("schedules") or []) + entries
    elif params:
        raise click.UsageError("-p applies to --schedule names (the config's schedules take params)")
    if seeds is not None and seed_list is not None:
        raise click.UsageError("give --seeds N or --seed LIST, not both")
    if seed_list is not None:
        value = parse_value(seed_list)
        data["seeds"] = value if isinstance(value, list) else [value]
    elif seeds is not None:
        data["seeds"] = seeds
    for key in ("optimizer", "weight_decay", "lr", "epochs", "batch_size", "warmup", "early_stop"):
        if key in typed:
            data[key] = ctx.params[key]
    if trainer is not None:
        given = [k for k in ("device", "engine") if k in typed]
        if given:
            raise click.UsageError(f"--{given[0]} applies to lrlab's engine; a trainer chooses "
                                   f"its own {given[0]}")
    return data, model, trainer


@contextlib.contextmanager
def _stdout_to_stderr(active: bool):
    """With ``--json``: what the user's code prints while it runs (a trainer, Keras, Lightning,
    a framework's C++ log) goes to stderr, at the Python and the file-descriptor level, so
    stdout stays one JSON object."""
    if not active:
        yield
        return
    sys.stdout.flush()
    saved = None
    try:
        saved = os.dup(1)
        os.dup2(2, 1)
    except OSError:  # no real descriptors (an embedding host): Python's level only
        saved = None
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        if saved is not None:
            os.dup2(saved, 1)
            os.close(saved)


@click.command()
@click.argument("folder", metavar="DIR", type=click.Path(file_okay=False))
@click.option("--open", "open_", is_flag=True, help="Open the page in the web browser.")
def report(folder, open_):
    """Rebuild DIR/report.html (and DIR/report/*.png) from the store DIR/results.sqlite alone.

    Works on a partial store too (a compare still running or killed): what has not finished
    is marked. The page is self-contained and opens offline.
    """
    from lrlab.report import write_report

    page = write_report(folder)
    click.echo(str(page))
    if open_:
        import webbrowser

        webbrowser.open(page.resolve().as_uri())


def _table(result) -> None:
    """The ranking as a rich table on stdout, then the verdict in words (the report's)."""
    from rich.console import Console
    from rich.table import Table

    from lrlab.report.html import words
    from lrlab.stats import accuracies, resolution

    fmt = lambda x, spec=".4f": "-" if x is None else format(x, spec)  # noqa: E731
    n, k = len(result.ranking), len(result.experiment.seeds)
    t = Table(title=f"{n} schedule{'s' * (n != 1)} x {k} seed{'s' * (k != 1)} ({result.out})",
              caption="gap: to the best, points, Tukey simultaneous 95% interval; best group: "
                      "not told apart from the best (which is not 'equally good')")
    for col in ("#", "schedule", "test acc", "95% CI", "seeds", "diverged", "gap [interval]",
                "verdict"):
        t.add_column(col)
    for r in result.ranking:
        ci = f"{fmt(r['ci_low'])}..{fmt(r['ci_high'])}" if r.get("ci_low") is not None else "-"
        gap = "-" if r["is_best"] or r["diff_mean"] is None else f"{100 * r['diff_mean']:+.2f}"
        if r.get("diff_ci_low") is not None and not r["is_best"]:
            gap += f" [{100 * r['diff_ci_low']:+.2f}, {100 * r['diff_ci_high']:+.2f}]"
        verdict = ("best" if r["is_best"] else "-" if r["test_acc_mean"] is None else
                   "worse" if not r["tied_with_best"] else
                   "best group" if r["comparable"] else "no verdict")
        t.add_row(str(r["rank"]), r["name"], fmt(r.get("test_acc_mean")), ci, str(r["n_seeds"]),
                  str(r["diverged"]), gap, verdict)
    console = Console(width=120)
    console.print(t)
    ranked = [r for r in result.ranking if r["test_acc_mean"] is not None]
    if not ranked and result.records and all(r.status not in ("running", "failed")
                                              for r in result.records):
        metric = result.experiment.metric
        console.print(f"Nothing to rank: no trial has a {metric} (a regression or a loss-only "
                      f"trainer; ranking by a loss is not there yet"
                      f"{'; a trainer may return test_acc or rank with --metric val_acc' if result.experiment.trainer else ''}).",
                      markup=False, highlight=False)
    if ranked:
        res = resolution(accuracies(result.ranking), n_test=result.n_test)
        for line in words(ranked, res):
            console.print(line, markup=False, highlight=False)
