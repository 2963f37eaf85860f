"""``lrlab compare``: many schedules over several seeds, fairly, into a SQLite store; the ranking.

    lrlab compare --task digits --preset paddle --seeds 3 --epochs 20 --out cmp
    lrlab compare --schedule cosine,one_cycle --schedule step -p step.gamma=0.5 --seed 0,1 --out cmp
    lrlab compare --config experiment.yaml --out cmp --json
    lrlab compare --task digits --model resnet --schedule cosine,step --out cmp
    lrlab compare --trainer my_loop.py:train --steps-per-epoch 22 --schedule cosine,step --out cmp
    lrlab report cmp                 # rebuild cmp/report.html from cmp/results.sqlite alone

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


@click.command()
@_with(_task_options)
@click.option("--model", "model_ref", default=None, metavar="NAME|FILE.py:FN",
              help="A built-in model (cnn, mlp, resnet) or your function fn(task_info) -> "
                   "torch.nn.Module  [default: the task's own]")
@click.option("--trainer", "trainer_ref", default=None, metavar="FILE.py:FN",
              help="Your training loop, any framework: fn(trial), called once per trial "
                   "(instead of --task and lrlab's engine).")
@click.option("--steps-per-epoch", type=int, default=None, metavar="N",
              help="With --trainer: the optimizer steps in one of its epochs.")
@click.option("--metric", type=click.Choice(["test_acc", "val_acc"]), default=None,
              help="What ranks the schedules: the final test accuracy, or the validation "
                   "accuracy of the last epoch  [default: test_acc]")
@click.option("--preset", default=None, metavar="NAME",
              help="A named set of schedules: paddle, torch, modern or all.")
@click.option("--schedule", "--schedules", "schedules", multiple=True,
              callback=lambda c, p, v: _names(v), metavar="NAME",
              help="A schedule of `lrlab list`, or plateau (repeatable; lists like a,b).")
@_param_option
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              metavar="FILE", help="An experiment in YAML or JSON; flags override its keys.")
@click.option("--seeds", type=click.IntRange(1, 1000), default=None, metavar="N",
              help="Seeds 0..N-1  [default: 3]")
@click.option("--seed", "seed_list", default=None, metavar="SEEDS",
              help="Explicit seeds, e.g. 0,1,2 (instead of --seeds).")
@_with(_optimizer_options)
@click.option("--lr", type=float, default=None, help="Reference LR  [default: 0.05]")
@click.option("--epochs", type=int, default=None, help="[default: 20]")
@click.option("--batch-size", type=int, default=None, help="[default: 64]")
@click.option("--warmup", default=None, callback=lambda c, p, v: None if v is None else parse_value(v),
              metavar="N|P%", help="Linear warmup before every schedule.")
@click.option("--early-stop", default=None, callback=_early_stop, metavar="K=V,...",
              help="Early stopping for every trial, e.g. patience=5.")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="The experiment's folder (results.sqlite, checkpoints, models).")
@click.option("--resume", is_flag=True,
              help="Accepted, changes nothing: running the same command again always continues "
                   "(finished trials kept, unfinished ones from their checkpoints).")
@_device_option
@_engine_option
@click.option("--backend", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="Where the trials run: this machine, or a Ray cluster (pip install "
                   "'lrlab[ray]'); the store stays with this process either way.")
@click.option("--address", default=None, metavar="auto|HOST:PORT",
              help="The Ray cluster to join (auto: the one `ray start` runs here); without it "
                   "a Ray of this machine alone.")
@click.option("--per-trial", default=None, metavar="cpu=N,gpu=F",
              help="What one unit of work (a population or a trial) needs, e.g. cpu=1,gpu=0.25  "
                   "[default: cpu=1]")
@click.option("--workers", type=click.IntRange(1, 4096), default=None, metavar="N",
              help="Local worker processes  [default: one per core on a CPU, else 1]")
@click.option("--quiet", is_flag=True, help="No progress (on stderr).")
@_json_option
def compare(task_spec, image_size, split_seed, label, target, model_ref, trainer_ref,
            steps_per_epoch, metric, preset, schedules, params,
            config_file, seeds, seed_list, optimizer, weight_decay, lr, epochs, batch_size,
            warmup, early_stop, out, resume, device, engine, backend, address, per_trial,
            workers, quiet, as_json):
    """Compare schedules over seeds on one task; print the ranking.

    Every trial of a seed starts from the same weights and sees the same batches; the peak LR
    is --lr for all unless a schedule's definition says otherwise.
    """
    with _stdout_to_stderr(as_json):  # with --json, what the user's code prints: stderr
        result = _compare(config_file, task_spec, image_size, split_seed, label, target,
                          model_ref, trainer_ref, steps_per_epoch, metric, preset, schedules,
                          params, seeds, seed_list, device, engine, quiet, out)
    page = result.page
    if as_json:
        click.echo(json.dumps(result.to_json()))
        click.echo(f"report: {page}", err=True)  # stdout stays one JSON object
    else:
        _table(result)
        click.echo(f"report: {page}")


def _compare(config_file, task_spec, image_size, split_seed, label, target, model_ref,
             trainer_ref, steps_per_epoch, metric, preset, schedules, params, seeds, seed_list,
             device, engine, quiet, out):
    """The experiment the options define, run: its ``CompareResult``."""
    from lrlab.experiments.runner import run_experiment
    from lrlab.experiments.spec import MODELS, experiment, load
    from lrlab.usercode import identity, load_function

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
    exp = experiment(data)
    trials = exp.trials
    with _progress(quiet, [t.name for t in trials]) as show:
        result = run_experiment(exp, out, device=device, engine=engine, on_event=show,
                                report=True, model=model, trainer=trainer,
                                **{k: ctx.params[k] for k in ("backend", "address", "per_trial",
                                                               "workers")})
    return result


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
