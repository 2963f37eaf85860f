"""``lrlab list``, ``lrlab show``, ``lrlab plot``: the schedules, one curve as text, curves as
an image.

    lrlab show step -p base_lr=1 -p step_size=2 -p gamma=0.5 --steps 10
    lrlab show cosine --lr 0.1 --steps 100            # train's defaults: base_lr=0.1 over the run
    lrlab plot cosine one_cycle --lr 0.1 --steps 1000 -o lr.png
"""

from __future__ import annotations

import inspect
from typing import Any

import click
import numpy as np

import lrlab
from lrlab.schedules import REQUIRED, lookup

from .params import CALLABLE, LR_HELP, _param_option, _with, build_curves, framework_tables

_BARS = "▁▂▃▄▅▆▇█"


# ---- text output ---------------------------------------------------------------------------
def sparkline(values: np.ndarray, width: int = 60) -> str:
    """The curve as one line of ▁..█, averaged into at most ``width`` characters.

    >>> sparkline([1.0, 0.5, 0.0])
    '█▅▁'
    """
    values = np.asarray(values, dtype=float)
    if values.size > width:
        values = np.array([chunk.mean() for chunk in np.array_split(values, width)])
    lo, hi = values.min(), values.max()
    if hi - lo <= 1e-12 * max(abs(hi), 1e-300):
        return _BARS[-1 if hi > 0 else 0] * values.size
    idx = np.rint((values - lo) / (hi - lo) * (len(_BARS) - 1)).astype(int)
    return "".join(_BARS[i] for i in idx)


def table_steps(n: int, rows: int = 10) -> list[int]:
    """About ``rows`` evenly spaced steps of ``range(n)``, first and last included.

    >>> table_steps(5)
    [0, 1, 2, 3, 4]
    """
    return sorted({int(round(x)) for x in np.linspace(0, n - 1, min(n, rows))})


def _show_default(v: Any) -> str:
    """A default the way it is typed on the command line."""
    if isinstance(v, bool):
        return str(v).lower()
    if v is None:
        return "none"
    if isinstance(v, tuple):
        return ",".join(map(_show_default, v)) if v else "[]"
    return str(v)


# ---- options -------------------------------------------------------------------------------
MAX_STEPS = 10 ** 8  # a curve of that many steps is 800 MB of float64
_curve_options = [
    click.option("--torch", "torch_classes", multiple=True, metavar="CLASS",
                 help="A torch.optim.lr_scheduler class; its own kwargs as --param."),
    click.option("--paddle", "paddle_classes", multiple=True, metavar="CLASS",
                 help="A paddle.optimizer.lr class; learning_rate and its kwargs as --param."),
    click.option("--lr", type=float, default=None,
                 help=LR_HELP + "  [default: none: give every required parameter as --param; "
                                "0.1 for --torch classes]"),
]


# ---- commands ------------------------------------------------------------------------------
@click.command("list")
def list_cmd():
    """List the schedules with their aliases and parameters, and the --torch/--paddle classes."""
    for name in lrlab.names():
        aliases = lookup(name).aliases
        click.echo(name + (f"  (aliases: {', '.join(aliases)})" if aliases else ""))
        rows = lrlab.describe(name)
        w = max(len(p) for p, _, _ in rows)
        for p, rule, default in rows:
            shown = "REQUIRED" if default is REQUIRED else _show_default(default)
            note = "  [Python API only]" if rule == CALLABLE else ""
            click.echo(f"    {p:<{w}}  {shown:<10}  {rule}{note}")
    click.echo("plateau  (lrlab train only: reduce on plateau, stepped on the validation metric)")
    for p, param in inspect.signature(lrlab.Plateau).parameters.items():
        if p not in ("lr", "mode", "semantics"):  # lr is --lr; mode follows monitor
            click.echo(f"    {p:<14}  {_show_default(param.default)}")
    click.echo("    monitor         val_loss  (or val_acc; sets mode)")
    tables = framework_tables()
    click.echo("")
    click.echo(f"--torch classes:  {', '.join(sorted(tables['torch']))}")
    click.echo(f"--paddle classes: {', '.join(sorted(tables['paddle']))}")
    click.echo("Parameters taking schedules accept a JSON config, e.g. "
               "-p 'schedule={\"name\": \"cosine\", \"base_lr\": 0.1, \"total_steps\": \"100%\"}'.")


@click.command()
@click.argument("name", required=False)
@_param_option
@_with(_curve_options)
@click.option("--steps", "-n", type=click.IntRange(min=1, max=MAX_STEPS), default=None,
              help="Number of steps to evaluate (binds lengths like '50%'); at most 10**8 "
                   "(required but with --space).")
@click.option("--width", type=click.IntRange(min=1), default=60, show_default=True,
              help="Sparkline width in characters.")
@click.option("--space", is_flag=True,
              help="What `lrlab tune` searches for NAME (its LR and parameters), not the curve.")
def show(name, params, torch_classes, paddle_classes, lr, steps, width, space):
    """Print one curve: a sparkline, the LR at ~10 steps, its min and max.

    NAME is an lrlab schedule (see `lrlab list`); or give one --torch / --paddle CLASS instead.
    With --lr, a schedule NAME gets the defaults `lrlab train` gives it for a run of --steps
    steps (-p overrides them); without it, give every required parameter as -p.

    \b
    lrlab show step -p base_lr=1 -p step_size=2 -p gamma=0.5 --steps 10
    lrlab show one_cycle --lr 0.1 --steps 100
    lrlab show --torch OneCycleLR -p max_lr=0.1 -p total_steps=100 --steps 100
    lrlab show wsd --space
    """
    if space:
        _space(name)
        return
    if steps is None:
        raise click.UsageError("Missing option '--steps' / '-n'.")
    if len([name] if name else []) + len(torch_classes) + len(paddle_classes) != 1:
        raise click.UsageError("show takes exactly one curve: NAME, --torch CLASS or --paddle CLASS")
    [(label, values)] = build_curves([name] if name else [], torch_classes, paddle_classes,
                                     params, lr, steps)
    click.echo(f"{label}, {steps} steps")
    click.echo(sparkline(values, width))
    click.echo(f"{'step':>8}  lr")
    for k in table_steps(steps):
        click.echo(f"{k:>8}  {values[k]:.6g}")
    lo, hi = int(values.argmin()), int(values.argmax())
    click.echo(f"min {values[lo]:.6g} at step {lo}, max {values[hi]:.6g} at step {hi}")


def _space(name: str | None) -> None:
    """``lrlab show NAME --space``: the LR range and the parameters ``lrlab tune`` searches."""
    from lrlab.schedules.spaces import LR_RANGE, space

    if not name:
        raise click.UsageError("--space takes a schedule NAME (or plateau)")
    dims = space(name)
    lo, hi = LR_RANGE
    click.echo(f"{name}: lrlab tune searches")
    click.echo(f"  {'lr':<14} log-uniform  lr x {lo:.4g} .. lr x {hi:g}  (--lr-range)")
    for key, d in dims.items():
        unit = "%" if d.kind == "percent" else ""
        click.echo(f"  {key:<14} {d.kind:<12} {d.low:g}{unit} .. {d.high:g}{unit}")
    if not dims:
        click.echo("  (no parameter of its own: only the LR)")
    click.echo("A parameter a preset entry fixes stays fixed; a config's space: narrows a range.")


@click.command()
@click.argument("names", nargs=-1)
@_param_option
@_with(_curve_options)
@click.option("--steps", "-n", type=click.IntRange(min=1, max=MAX_STEPS), default=None,
              help="Number of steps to evaluate (binds lengths like '50%'); required with NAMES, "
                   "--torch, --paddle.")
@click.option("--run", "run_folder", type=click.Path(file_okay=False), default=None,
              help="Plot a run folder (lrlab train --out) or a compare folder (lrlab compare "
                   "--out) instead: every trial's LR per step, train/val loss and val accuracy "
                   "per epoch.")
@click.option("--log", is_flag=True,
              help="Log-scale y axis for learning rates (and losses with --run); an LR of 0 is "
                   "not drawn.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Image file to write (.png; other matplotlib formats by extension).")
def plot(names, params, torch_classes, paddle_classes, lr, steps, run_folder, log, output):
    """Plot one or several curves on one figure, or a run folder's records.

    NAMES are lrlab schedules; --torch / --paddle (repeatable) add framework classes.
    An unscoped -p KEY=VALUE goes to every curve that has KEY; -p NAME.KEY=VALUE to one.
    With --lr, schedule NAMES get the defaults `lrlab train` gives them for a run of --steps
    steps (-p overrides them); without it, give every required parameter as -p.

    --run DIR plots what `lrlab train --out DIR` (or `lrlab compare --out DIR`: its store)
    recorded, trial by trial (a folder of one trial works too); an unfinished trial (still
    training, or killed) is drawn as far as it got and labelled "(unfinished)". The legend
    sits below the plots.

    \b
    lrlab plot cosine linear -p base_lr=0.1 -p total_steps=100% --steps 500 -o lr.png
    lrlab plot cosine one_cycle step --lr 0.1 --steps 1000 -o presets.png
    lrlab plot noam cosine --lr 0.1 --steps 1000 --log -o log.png
    lrlab plot cosine --torch CosineAnnealingLR -p cosine.base_lr=0.1 -p total_steps=100 \\
        -p T_max=100 --steps 100 -o cmp.png
    lrlab plot --run runs --log -o runs.png
    """
    from lrlab import plots  # lazy: matplotlib keeps `lrlab list` fast

    if run_folder is not None:
        extra = [flag for flag, given in [("schedule NAMES", names), ("--torch", torch_classes),
                                          ("--paddle", paddle_classes), ("-p", params),
                                          ("--lr", lr is not None), ("--steps", steps is not None)]
                 if given]
        if extra:
            raise click.UsageError(f"--run plots a run folder's records; drop {', '.join(extra)}")
        plots.check_output(output)
        trials = run_records(run_folder)
        plots.run(trials, output, log=log, title=f"{run_folder}: {len(trials)} trial"
                  + ("s" if len(trials) != 1 else ""))
    else:
        if steps is None and (names or torch_classes or paddle_classes):
            raise click.UsageError("Missing option '--steps' / '-n' (the number of steps to plot)")
        plots.check_output(output)
        curves = build_curves(names, torch_classes, paddle_classes, params, lr, steps or 1)
        plots.curves(curves, steps, output, log=log)
    click.echo(f"wrote {output}")


def run_records(folder) -> list:
    """The records of every trial of a run folder, or of a compare folder's store, for
    ``plots.run``, named with their status when it is not ``finished`` (an unfinished trial as
    far as it got)."""
    from dataclasses import replace
    from pathlib import Path

    from lrlab.experiments.runfolder import read_trials
    from lrlab.experiments.store import STORE, read_records

    said = {"finished": "", "running": " (unfinished)"}
    records = read_records(folder) if (Path(folder) / STORE).is_file() else read_trials(folder)
    return [replace(r, name=r.name + said.get(r.status, f" ({r.status})")) for r in records]
