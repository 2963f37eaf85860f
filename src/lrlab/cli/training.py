"""``lrlab train``, ``lrlab test``, ``lrlab find-lr``: train trials, test trained ones, run the
LR range test.

    lrlab train --task digits --schedule cosine --schedule step --seed 0,1 --epochs 20 --out runs
    lrlab test runs
    lrlab find-lr --task digits -o lr_find.png

torch and lrlab.training are imported inside the commands: ``import lrlab.cli`` stays light.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from .params import (_Curve, _early_stop, _json_option, _param_option, _seeds, _with, distribute,
                     parse_value)

_TASK_OPTIONS = {  # CLI option -> (the task kind it applies to, or None for all; loader argument)
    "image_size": ("imagefolder", "size"), "split_seed": (None, "split_seed"),
    "label": ("csv", "label"), "target": ("csv", "target")}
_task_options = [
    click.option("--task", "task_spec", default="digits", show_default=True, metavar="SPEC",
                 help="digits, imagefolder:PATH (a class-per-folder image set) or csv:PATH."),
    click.option("--image-size", type=click.IntRange(min=1), default=None, metavar="SIZE",
                 help="imagefolder: images are resized to SIZE x SIZE  [default: 32]"),
    click.option("--split-seed", type=click.IntRange(min=0), default=None, metavar="SEED",
                 help="Seed of the train/val/test split  [default: 0]"),
    click.option("--label", default=None, metavar="COLUMN", help="csv: the class column."),
    click.option("--target", default=None, metavar="COLUMN", help="csv: the regression column."),
]


def task_options(spec: str, **given) -> dict[str, Any]:
    """The loader arguments of the task options given (None: not given) for task ``spec``."""
    kind = spec.partition(":")[0]
    out = {}
    for key, value in given.items():
        only, arg = _TASK_OPTIONS[key]
        if value is None:
            continue
        if only is not None and only != kind:
            raise click.UsageError(f"--{key.replace('_', '-')} applies to {only}:PATH tasks only")
        out[arg] = value
    return out


def _load_task(spec: str, options: dict):
    from lrlab.training.tasks import load_task

    return load_task(spec, **options)


def _row(summary: dict, folder) -> dict[str, Any]:
    """One trial's result as train and test report it."""
    keys = ("test_acc", "test_loss", "best_epoch", "status", "seconds", "name")
    return {**{k: summary[k] for k in keys}, "out": str(folder)}


def _names(values) -> tuple[str, ...]:
    """``--schedule`` values, each a name or a comma-separated list of names."""
    out = tuple(n.strip() for v in values for n in v.split(","))
    if not all(out):
        raise click.BadParameter(f"{','.join(values)!r} has an empty name", param_hint="'--schedule'")
    return out


def _report(rows: list[dict], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"trials": rows}))  # one shape, whatever the number of trials
        return
    fmt = lambda x, spec: "n/a" if x is None else format(x, spec)  # noqa: E731
    w = max(len(r["name"]) for r in rows)
    for r in rows:
        click.echo(f"{r['name']:<{w}}  {r['status']:<13}  test acc {fmt(r['test_acc'], '.4f')}  "
                   f"test loss {fmt(r['test_loss'], '.4f')}  best epoch {fmt(r['best_epoch'], 'd')}  "
                   f"trained {r['seconds']:.1f}s  {r['out']}")


_device_option = click.option(
    "--device", default="cpu", show_default=True, metavar="DEVICE",
    help="Where to train: cpu, cuda, cuda:1, mps (torch device names).")
ENGINES = ("vectorized", "sequential")  # lrlab.training.engines.ENGINES (not imported: torch)
_engine_option = click.option(
    "--engine", type=click.Choice(ENGINES), default="vectorized", show_default=True,
    help="vectorized: every trial at once (a model it cannot stack trains sequentially, with "
         "one line saying why); sequential: one trial after another. Same results up to "
         "floating-point rounding.")
_optimizer_options = [
    click.option("--optimizer", default="momentum", show_default=True,
                 help="momentum (SGD, momentum 0.9), sgd or adamw."),
    click.option("--weight-decay", type=float, default=0.0, show_default=True),
]


@click.command()
@_with(_task_options)
@click.option("--schedule", "schedules", multiple=True, required=True, metavar="NAME",
              callback=lambda c, p, v: _names(v),
              help="A schedule of `lrlab list`, or plateau (repeatable: one trial per schedule "
                   "and seed).")
@_param_option
@_with(_optimizer_options)
@click.option("--lr", type=float, default=0.05, show_default=True,
              help="Reference LR: what the schedule defaults start from / peak at.")
@click.option("--epochs", type=int, default=20, show_default=True)
@click.option("--batch-size", type=int, default=64, show_default=True)
@click.option("--interval", type=click.Choice(["epoch", "step"]), default=None,
              help="What one schedule step is  [default: step for one_cycle and cyclic, "
                   "else epoch]")
@click.option("--warmup", default=None, callback=lambda c, p, v: None if v is None else parse_value(v),
              metavar="N|P%", help="Linear warmup: N schedule steps or a percentage of the run.")
@click.option("--early-stop", default=None, callback=_early_stop, metavar="K=V,...",
              help="Early stopping, e.g. patience=5,min_delta=0.001,monitor=val_acc,"
                   "restore_best=true (keys: EarlyStopping's arguments and monitor).")
@click.option("--seed", "seeds", default="0", show_default=True, callback=_seeds, metavar="SEEDS",
              help="A seed or a list like 0,1,2 (one trial per schedule and seed).")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Run folder; each trial goes to OUT/<schedule>-seed<N>/.")
@click.option("--resume", is_flag=True, help="Continue the trials' checkpoints (finished trials "
                                              "are reported, not trained again).")
@click.option("--tensorboard", is_flag=True, help="Also write TensorBoard events to <trial>/tb/.")
@_device_option
@_engine_option
@click.option("--quiet", is_flag=True, help="No progress bar (on stderr).")
@_json_option
def train(task_spec, image_size, split_seed, label, target, schedules, params, optimizer, lr,
          weight_decay, epochs, batch_size, interval, warmup, early_stop, seeds, out, resume,
          tensorboard, device, engine, quiet, as_json):
    """Train trials (every schedule x every seed) on a task; report their test accuracy.

    Schedules named without parameters get defaults relative to the run (see `lrlab list` for
    the parameters); -p KEY=VALUE overrides them, -p NAME.KEY=VALUE for one schedule only.
    plateau takes Plateau's arguments (factor, patience, ...).

    \b
    lrlab train --schedule cosine --epochs 20 --out runs
    lrlab train --schedule one_cycle --schedule plateau -p plateau.factor=0.5 \\
        --seed 0,1,2 --early-stop patience=5,monitor=val_acc --out runs
    """
    options = task_options(task_spec, image_size=image_size, split_seed=split_seed,
                           label=label, target=target)
    curves = [_Curve.trial(n) for n in schedules]
    from lrlab.experiments.runfolder import RunFolder
    from lrlab.training.engines import train_population
    from lrlab.training.trial import TrialConfig

    configs = [TrialConfig(schedule=c.canonical, params=c.fix(p, complete=False), optimizer=optimizer,
                           lr=lr, weight_decay=weight_decay, batch_size=batch_size, epochs=epochs,
                           interval=interval, warmup=warmup, early_stop=early_stop, seed=seed)
               for c, p in zip(curves, distribute(curves, params)) for seed in seeds]
    sink = RunFolder(out, tensorboard=tensorboard)
    task = _load_task(task_spec, options)
    with sink, _progress(quiet, [c.name for c in configs]) as show:
        records = train_population(task, configs, sink, engine=engine, resume=resume,
                                   device=device, on_event=show)
    _report([_row(r.summary(), sink.folder(r.name)) for r in records], as_json)


def _progress(quiet: bool, names):
    """The progress display of a population on stderr (or none)."""
    from contextlib import nullcontext

    from .progress import TrainingProgress

    return nullcontext(None) if quiet else TrainingProgress(names)


def _test_trial(folder: Path, given: dict, tasks: dict, data: str | None) -> dict[str, Any]:
    from lrlab.experiments.runfolder import read_trial, test_weights

    config, summary = read_trial(folder)
    if summary is None or not (folder / "model.pt").is_file():
        raise click.ClickException(f"{folder}: the trial has not finished (no summary.json or "
                                   f"model.pt; continue it with lrlab train ... --resume)")
    try:
        spec, trained = config["task"], dict(config.get("task_options") or {})
        row = _row(summary, folder)
    except (KeyError, TypeError, AttributeError) as e:
        raise click.ClickException(f"{folder}: not a readable lrlab trial ({type(e).__name__}: {e})") from None
    if data is not None:  # the data moved: same kind of task, another path
        kind = spec.partition(":")[0]
        if not spec.partition(":")[2]:
            raise click.UsageError(f"--data: {folder} was trained on {spec}, which has no path")
        spec = f"{kind}:{Path(data).expanduser().absolute()}"
    from lrlab.training.tasks import task_defaults

    options = dict(trained)
    for key, value in task_options(spec, **given).items():
        was = trained.get(key, task_defaults(spec).get(key))
        if value != was:
            flag = next(k for k, (_, arg) in _TASK_OPTIONS.items() if arg == key).replace("_", "-")
            raise click.UsageError(f"{folder} was trained with --{flag} {was}; testing it with "
                                   f"{value} would measure another task")
        options[key] = value
    if summary["status"] == "diverged":  # the engine tests no diverged weights; neither do we
        return {**row, "test_acc": None, "test_loss": None}
    key = (spec, json.dumps(options, sort_keys=True))
    if key not in tasks:
        tasks[key] = _load_task(spec, options)
    loss, acc = test_weights(folder, tasks[key])
    return {**row, "test_acc": acc, "test_loss": loss}


@click.command("test")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--data", default=None, metavar="PATH",
              help="Where the trials' image folder or CSV file is now, if it moved.")
@_with(_task_options[1:])
@_json_option
def evaluate_cmd(folder, data, image_size, split_seed, label, target, as_json):
    """Evaluate trained trials on their task's test split.

    FOLDER is a trial folder (OUT/<trial>/) or a run folder (OUT/) holding trial folders. The
    task is reloaded as the trial stored it (its data path is absolute, so this works from
    any folder; --data points at data that moved). Task options given here must match those
    the trial was trained with: other ones would measure another task.
    """
    from lrlab.experiments.runfolder import trial_folders

    given = dict(image_size=image_size, split_seed=split_seed, label=label, target=target)
    tasks: dict = {}
    _report([_test_trial(f, given, tasks, data) for f in trial_folders(folder)], as_json)


@click.command("find-lr")
@_with(_task_options)
@_with(_optimizer_options)
@click.option("--start-lr", type=float, default=1e-7, show_default=True)
@click.option("--end-lr", type=float, default=10.0, show_default=True)
@click.option("--steps", type=click.IntRange(min=5), default=100, show_default=True,
              help="Minibatches of the sweep (the LR grows geometrically).")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Also plot loss against LR to this image (.png).")
@_device_option
@_json_option
@click.option("--quiet", is_flag=True, help="No progress spinner (on stderr).")
def find_lr(task_spec, image_size, split_seed, label, target, optimizer, weight_decay, start_lr,
            end_lr, steps, batch_size, seed, output, device, as_json, quiet):
    """The LR range test: suggest a learning rate for a task.

    Trains while the LR grows geometrically from --start-lr to --end-lr. The suggestion is a
    tenth of the LR at the lowest smoothed loss (fastai's "minimum" rule: it trains the
    built-in tasks within a point of the best LR of a grid); the steepest descent and the
    valley are printed for comparison.

    \b
    lrlab find-lr --task digits -o lr_find.png
    """
    options = task_options(task_spec, image_size=image_size, split_seed=split_seed,
                           label=label, target=target)
    from contextlib import nullcontext

    from lrlab import plots
    from lrlab.training.lr_finder import find_lr as run_find_lr

    if output is not None:
        plots.check_output(output)
    task = _load_task(task_spec, options)
    if quiet:
        spinner = nullcontext()
    else:
        from rich.console import Console

        spinner = Console(stderr=True).status(f"LR range test on {task.spec}, {steps} steps ...")
    with spinner:
        r = run_find_lr(task, start_lr=start_lr, end_lr=end_lr, num_steps=steps,
                        batch_size=batch_size, optimizer=optimizer, weight_decay=weight_decay,
                        seed=seed, device=device)
    if as_json:
        click.echo(json.dumps({k: getattr(r, k) for k in
                               ("suggested_lr", "rule", "minimum", "steepest", "valley",
                                "stopped_early")}))
    else:
        fmt = lambda x: "none" if x is None else f"{x:.3g}"  # noqa: E731
        rule = (f"{r.rule}: a tenth of {fmt(r.minimum)}, the LR of the lowest smoothed loss"
                if r.minimum is not None else f"{r.rule}: the smoothed loss never fell")
        click.echo(f"suggested lr {fmt(r.suggested_lr)}  ({rule}; steepest {fmt(r.steepest)}, "
                   f"valley {fmt(r.valley)}; {len(r.lrs)} steps"
                   + (", stopped early: the loss diverged)" if r.stopped_early else ")"))
    if output is not None:
        r.plot(output)
        if not as_json:
            click.echo(f"wrote {output}")
