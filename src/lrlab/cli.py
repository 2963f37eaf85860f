"""The ``lrlab`` command line: list the schedules, print a curve, plot curves to a PNG; train
trials, test trained ones, run the LR range test.

    lrlab list
    lrlab show cosine -p base_lr=0.1 -p total_steps=100 --steps 100
    lrlab plot cosine one_cycle -p base_lr=0.1 -p max_lr=0.1 -p total_steps=100% --steps 1000 -o lr.png
    lrlab plot cosine --torch CosineAnnealingLR -p cosine.base_lr=0.1 -p T_max=100 --steps 100 -o c.png
    lrlab train --task digits --schedule cosine --schedule step --seed 0,1 --epochs 20 --out runs
    lrlab test runs
    lrlab find-lr --task digits -o lr_find.png

The training commands import torch only when they run, so ``lrlab list`` stays fast.

Parameters are given as ``-p KEY=VALUE`` (or ``NAME.KEY=VALUE`` to target one curve). Values
are parsed, never evaluated: see :func:`parse_value`. Every bad input exits with status 2 and
one ``lrlab: error: ...`` line on stderr.
"""

from __future__ import annotations

import inspect
import json
import re
import sys
from pathlib import Path
from typing import Any

import click
import numpy as np

import lrlab
from lrlab.control import Plateau
from lrlab.schedules import REQUIRED, Schedule, decode, lookup
from lrlab.schedules import params as _params

_CALLABLE = _params.function().doc  # the rule text of parameters that take a Python callable
_LISTS = (_params.milestones().doc, _params.lrs().doc)  # a single value there means [value]
_INT = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_KEY = re.compile(r"^(?:([\w-]+)\.)?([A-Za-z_]\w*)$")
_BARS = "▁▂▃▄▅▆▇█"


# ---- parameter parsing --------------------------------------------------------------------
def parse_value(text: str) -> Any:
    """The value of a ``KEY=VALUE`` parameter, parsed without ever evaluating code.

    >>> [parse_value(t) for t in ["3", "1e-3", "true", "none", "[10,20]", "10,20", "30%", "cos"]]
    [3, 0.001, True, None, [10, 20], [10, 20], '30%', 'cos']
    """
    text = text.strip()
    if text[:1] in ('[', '{', '"'):  # JSON: lists, nested schedule configs, quoted strings
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise click.BadParameter(f"{text!r} is not valid JSON ({e.msg})") from None
    if "," in text:
        items = [t.strip() for t in text.split(",")]
        if not all(items):
            raise click.BadParameter(f"{text!r} has an empty item")
        return [parse_value(t) for t in items]
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
        return float(text)
    return text  # strings, including percentages like '10%'


def parse_assignment(text: str) -> tuple[str | None, str, Any]:
    """``'NAME.KEY=VALUE'`` -> ``(NAME or None, KEY, parsed VALUE)``.

    >>> parse_assignment("cosine.min_lr=0.01")
    ('cosine', 'min_lr', 0.01)
    """
    key, eq, value = text.partition("=")
    m = _KEY.match(key.strip())
    if not eq or not m:
        raise click.BadParameter(f"{text!r}: expected KEY=VALUE or NAME.KEY=VALUE", param_hint="'--param'")
    try:
        return m.group(1), m.group(2), parse_value(value)
    except click.BadParameter as e:
        raise click.BadParameter(f"{m.group(2)}: {e.message}", param_hint="'--param'") from None


# ---- building the curves -------------------------------------------------------------------
class _Curve:
    """One requested curve: an lrlab schedule name, a torch / paddle class name, or (kind
    ``metric``, for training only) ``plateau``."""

    def __init__(self, kind: str, name: str):
        self.kind, self.name = kind, name
        if kind == "lrlab":
            self.canonical = lookup(name).name  # unknown name: ValueError with suggestions
            self.accepts = [p for p, _, _ in lrlab.describe(name)]
        else:
            table = {"plateau": Plateau} if kind == "metric" else _framework_tables()[kind]
            fn = table.get(name)
            self.canonical = name
            self.accepts = [p for p in inspect.signature(fn).parameters if p != "lr"] if fn else []

    def matches(self, scope: str) -> bool:
        """Whether ``scope`` names this curve: as written, or (lrlab) by any alias."""
        if scope == self.name or self.kind != "lrlab":
            return scope == self.name
        try:
            return lookup(scope).name == self.canonical
        except ValueError:
            return False

    def build(self, params: dict, lr: float | None, steps: int) -> Schedule:
        if self.kind in ("torch", "paddle"):  # nested {"name": ...} configs become schedules
            params = {k: decode(v) for k, v in params.items()}
        if self.kind == "torch":
            s = lrlab.from_torch(self.name, 0.1 if lr is None else lr, **params)
        elif self.kind == "paddle":
            s = lrlab.from_paddle(self.name, **params)
        else:
            s = lrlab.from_config({"name": self.name, **self.fix(params)})
        if not isinstance(s, Schedule):
            raise ValueError(f"{self.name} is metric-driven (it follows a validation metric), "
                             f"so it has no fixed curve to show")
        return s.bind(steps)

    def fix(self, params: dict, complete: bool = True) -> dict:
        """``params`` as an lrlab schedule takes them: a single value of a list parameter
        becomes a list; callables are refused (given ones, and with ``complete`` required ones)."""
        if self.kind != "lrlab":
            return params
        for p, rule, default in lrlab.describe(self.name):
            if rule == _CALLABLE and (p in params or (complete and default is REQUIRED)):
                raise ValueError(f"{self.canonical}: {p} is a Python callable; callables are "
                                 f"Python-API only (lrlab.create({self.canonical!r}, {p}=...))")
            if rule in _LISTS and p in params and not isinstance(params[p], list):
                params = {**params, p: [params[p]]}
        return params


def _framework_tables() -> dict[str, dict]:
    from lrlab.compat import paddle as _p, torch as _t  # noqa: F401  (numpy only: fill the tables)
    from lrlab.compat.base import PADDLE, TORCH

    return {"torch": TORCH, "paddle": PADDLE}


def distribute(curves: list[_Curve], assignments) -> list[dict]:
    """The parameters of every curve from ``-p`` assignments.

    An unscoped ``KEY=VALUE`` goes to every curve that has a parameter KEY (to the only curve,
    whatever KEY, when there is one); ``NAME.KEY=VALUE`` goes to the curve NAME only.
    """
    per_curve: list[dict] = [{} for _ in curves]
    parsed = [parse_assignment(a) for a in assignments]
    for scope, key, value in sorted(parsed, key=lambda t: t[0] is not None):  # scoped ones win
        if scope:  # a name as written wins over an alias ('StepLR' vs the alias 'steplr')
            targets = ([i for i, c in enumerate(curves) if c.name == scope]
                       or [i for i, c in enumerate(curves) if c.matches(scope)])
        else:
            targets = [i for i, c in enumerate(curves) if len(curves) == 1 or key in c.accepts]
        if not targets:
            where = f"no curve named {scope!r}" if scope else f"no schedule given takes {key!r}"
            raise click.UsageError(f"--param {(scope + '.') if scope else ''}{key}: {where}")
        for i in targets:
            per_curve[i][key] = value
    return per_curve


def build_curves(names, torch_classes, paddle_classes, assignments, lr, steps):
    """``[(label, values)]`` for every requested curve, with the parameters distributed."""
    curves = ([_Curve("lrlab", n) for n in names] + [_Curve("torch", c) for c in torch_classes]
              + [_Curve("paddle", c) for c in paddle_classes])
    if not curves:
        raise click.UsageError("give a schedule NAME, --torch CLASS or --paddle CLASS")
    if lr is not None and not torch_classes:
        raise click.UsageError("--lr is the optimizer's LR of a --torch class; give the lrlab "
                               "schedule's base_lr / max_lr, or paddle's learning_rate, as --param")
    per_curve = distribute(curves, assignments)
    out = []
    for curve, params in zip(curves, per_curve):
        s = curve.build(params, lr, steps)
        out.append((repr(s), s.curve(steps)))
    return out


# ---- text output ---------------------------------------------------------------------------
def sparkline(values: np.ndarray, width: int = 60) -> str:
    """The curve as one line of ▁..█, averaged into at most ``width`` characters."""
    values = np.asarray(values, dtype=float)
    if values.size > width:
        values = np.array([chunk.mean() for chunk in np.array_split(values, width)])
    lo, hi = values.min(), values.max()
    if hi - lo <= 1e-12 * max(abs(hi), 1e-300):
        return _BARS[-1 if hi > 0 else 0] * values.size
    idx = np.rint((values - lo) / (hi - lo) * (len(_BARS) - 1)).astype(int)
    return "".join(_BARS[i] for i in idx)


def table_steps(n: int, rows: int = 10) -> list[int]:
    """About ``rows`` evenly spaced steps of ``range(n)``, first and last included."""
    return sorted({int(round(x)) for x in np.linspace(0, n - 1, min(n, rows))})


# ---- commands ------------------------------------------------------------------------------
class _Cli(click.Group):
    """A group whose errors are one ``lrlab: error: ...`` line and exit status 2."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, False, **extra)
        except click.exceptions.NoArgsIsHelpError as e:  # plain `lrlab`: show the help
            click.echo(e.ctx.get_help(), err=True)
            sys.exit(2)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        except (click.ClickException, ValueError, TypeError, OSError, MemoryError, RecursionError) as e:
            msg = e.format_message() if isinstance(e, click.ClickException) else str(e)
            if isinstance(e, (MemoryError, RecursionError)):
                msg = f"the input is too large ({type(e).__name__})"
            msg = " ".join(line.strip() for line in msg.splitlines() if line.strip())
            if isinstance(e, click.UsageError) and e.ctx is not None:
                msg += f" (see '{e.ctx.command_path} --help')"
            click.echo(f"lrlab: error: {msg}", err=True)
            sys.exit(2)
        sys.exit(rv if isinstance(rv, int) else 0)


_param_option = click.option(
    "-p", "--param", "params", multiple=True, metavar="KEY=VALUE",
    help="A schedule parameter (repeatable); NAME.KEY=VALUE targets one curve. VALUE: "
         "int, float, true/false, none, [1,2] or 1,2, 30% (relative length), a JSON "
         "config {\"name\": ...} for a nested schedule, else a string.")
_steps_option = click.option("--steps", "-n", type=click.IntRange(min=1), required=True,
                             help="Number of steps to evaluate (binds lengths like '50%').")
_framework_options = [
    click.option("--torch", "torch_classes", multiple=True, metavar="CLASS",
                 help="A torch.optim.lr_scheduler class; its own kwargs as --param."),
    click.option("--paddle", "paddle_classes", multiple=True, metavar="CLASS",
                 help="A paddle.optimizer.lr class; learning_rate and its kwargs as --param."),
    click.option("--lr", type=float, default=None,
                 help="The optimizer's LR for --torch classes  [default: 0.1]"),
]


def _with(options):
    def deco(fn):
        for opt in reversed(options):
            fn = opt(fn)
        return fn
    return deco


@click.group(cls=_Cli, no_args_is_help=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(lrlab.__version__, "-V", "--version", prog_name="lrlab")
def cli():
    """lrlab: learning-rate schedules — list, show and plot them; train, test, find an LR."""


@cli.command("list")
def list_cmd():
    """List the schedules with their aliases and parameters, and the --torch/--paddle classes."""
    for name in lrlab.names():
        aliases = lookup(name).aliases
        click.echo(name + (f"  (aliases: {', '.join(aliases)})" if aliases else ""))
        rows = lrlab.describe(name)
        w = max(len(p) for p, _, _ in rows)
        for p, rule, default in rows:
            shown = "REQUIRED" if default is REQUIRED else _show_default(default)
            note = "  [Python API only]" if rule == _CALLABLE else ""
            click.echo(f"    {p:<{w}}  {shown:<10}  {rule}{note}")
    click.echo("plateau  (lrlab train only: reduce on plateau, stepped on the validation metric)")
    for p, param in inspect.signature(lrlab.Plateau).parameters.items():
        if p not in ("lr", "mode", "semantics"):  # lr is --lr; mode follows monitor
            click.echo(f"    {p:<14}  {_show_default(param.default)}")
    click.echo("    monitor         val_loss  (or val_acc; sets mode)")
    tables = _framework_tables()
    click.echo("")
    click.echo(f"--torch classes:  {', '.join(sorted(tables['torch']))}")
    click.echo(f"--paddle classes: {', '.join(sorted(tables['paddle']))}")
    click.echo("Parameters taking schedules accept a JSON config, e.g. "
               "-p 'schedule={\"name\": \"cosine\", \"base_lr\": 0.1, \"total_steps\": \"100%\"}'.")


def _show_default(v: Any) -> str:
    """A default the way it is typed on the command line."""
    if isinstance(v, bool):
        return str(v).lower()
    if v is None:
        return "none"
    if isinstance(v, tuple):
        return ",".join(map(_show_default, v)) if v else "[]"
    return str(v)


@cli.command()
@click.argument("name", required=False)
@_param_option
@_with(_framework_options)
@_steps_option
@click.option("--width", type=click.IntRange(min=1), default=60, show_default=True,
              help="Sparkline width in characters.")
def show(name, params, torch_classes, paddle_classes, lr, steps, width):
    """Print one curve: a sparkline, the LR at ~10 steps, its min and max.

    NAME is an lrlab schedule (see `lrlab list`); or give one --torch / --paddle CLASS instead.

    \b
    lrlab show step -p base_lr=1 -p step_size=2 -p gamma=0.5 --steps 10
    lrlab show --torch OneCycleLR -p max_lr=0.1 -p total_steps=100 --steps 100
    """
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


@cli.command()
@click.argument("names", nargs=-1)
@_param_option
@_with(_framework_options)
@_steps_option
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Image file to write (.png; other matplotlib formats by extension).")
def plot(names, params, torch_classes, paddle_classes, lr, steps, output):
    """Plot one or several curves on one figure.

    NAMES are lrlab schedules; --torch / --paddle (repeatable) add framework classes.
    An unscoped -p KEY=VALUE goes to every curve that has KEY; -p NAME.KEY=VALUE to one.

    \b
    lrlab plot cosine linear -p base_lr=0.1 -p total_steps=100% --steps 500 -o lr.png
    lrlab plot cosine --torch CosineAnnealingLR -p cosine.base_lr=0.1 -p total_steps=100 \\
        -p T_max=100 --steps 100 -o cmp.png
    """
    curves = build_curves(names, torch_classes, paddle_classes, params, lr, steps)
    from matplotlib.figure import Figure  # lazy: keeps `lrlab list` fast; no pyplot, no GUI

    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.subplots()
    x = np.arange(steps)
    for label, values in curves:
        ax.plot(x, values, label=label, drawstyle="steps-post")  # the LR holds for a whole step
    ax.set_xlabel("step")
    ax.set_ylabel("learning rate")
    ax.set_title(curves[0][0] if len(curves) == 1 else f"learning-rate schedules, {steps} steps")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    _write(lambda: fig.savefig(output, dpi=120), output)


def _writable(output: str) -> None:
    """Refuse, before any work, an output whose folder is missing or whose format is unknown."""
    from matplotlib.figure import Figure

    folder = Path(output).resolve().parent
    if not folder.is_dir():
        raise click.ClickException(f"cannot write {output!r}: no folder {str(folder)!r}")
    fmt = Path(output).suffix.lstrip(".").lower()
    if fmt not in Figure().canvas.get_supported_filetypes():
        raise click.ClickException(f"cannot write {output!r}: unknown image format {fmt!r} "
                                   f"(use .png, .svg or .pdf)")


def _write(save, output, announce: bool = True) -> None:
    """Run ``save()`` (which writes ``output``); an OS error becomes one 'cannot write' line."""
    try:
        save()
    except OSError as e:
        raise click.ClickException(f"cannot write {output!r}: {e.strerror or e}") from None
    if announce:
        click.echo(f"wrote {output}")


# ---- training: train, test, find-lr ------------------------------------------------------
# (torch and lrlab.training are imported inside the commands: `import lrlab.cli` stays light)
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


def _seeds(ctx, param, value: str) -> list[int]:
    seeds = parse_value(value)
    seeds = seeds if isinstance(seeds, list) else [seeds]
    if not seeds or not all(type(s) is int and s >= 0 for s in seeds):
        raise click.BadParameter(f"{value!r}: expected an integer >= 0 or a list like 0,1,2")
    return seeds


def _early_stop(ctx, param, value: str | None) -> dict | None:
    if value is None:
        return None
    out = {}
    for item in value.split(","):
        key, eq, v = item.partition("=")
        if not eq or not key.strip().isidentifier():
            raise click.BadParameter(f"{item.strip()!r}: expected KEY=VALUE[,KEY=VALUE...], "
                                     f"e.g. patience=5,monitor=val_acc")
        out[key.strip()] = parse_value(v)
    return out


def _row(summary: dict, folder) -> dict[str, Any]:
    """One trial's result as train and test report it."""
    keys = ("test_acc", "test_loss", "best_epoch", "status", "seconds", "name")
    return {**{k: summary[k] for k in keys}, "out": str(folder)}


def _report(rows: list[dict], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(rows[0] if len(rows) == 1 else {"trials": rows}))
        return
    fmt = lambda x, spec: "n/a" if x is None else format(x, spec)  # noqa: E731
    w = max(len(r["name"]) for r in rows)
    for r in rows:
        click.echo(f"{r['name']:<{w}}  {r['status']:<13}  test acc {fmt(r['test_acc'], '.4f')}  "
                   f"test loss {fmt(r['test_loss'], '.4f')}  best epoch {fmt(r['best_epoch'], 'd')}  "
                   f"{r['seconds']:.1f}s  {r['out']}")


_json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
_optimizer_options = [
    click.option("--optimizer", default="momentum", show_default=True,
                 help="momentum (SGD, momentum 0.9), sgd or adamw."),
    click.option("--weight-decay", type=float, default=0.0, show_default=True),
]


@cli.command()
@_with(_task_options)
@click.option("--schedule", "schedules", multiple=True, required=True, metavar="NAME",
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
@click.option("--quiet", is_flag=True, help="No progress bar (on stderr).")
@_json_option
def train(task_spec, image_size, split_seed, label, target, schedules, params, optimizer, lr,
          weight_decay, epochs, batch_size, interval, warmup, early_stop, seeds, out, resume,
          tensorboard, quiet, as_json):
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
    curves = [_Curve("metric" if n == "plateau" else "lrlab", n) for n in schedules]
    from lrlab.training.engine import train_population
    from lrlab.training.trial import TrialConfig

    configs = [TrialConfig(schedule=c.canonical, params=c.fix(p, complete=False), optimizer=optimizer,
                           lr=lr, weight_decay=weight_decay, batch_size=batch_size, epochs=epochs,
                           interval=interval, warmup=warmup, early_stop=early_stop, seed=seed)
               for c, p in zip(curves, distribute(curves, params)) for seed in seeds]
    task = _load_task(task_spec, options)
    records = train_population(task, configs, out, resume=resume, tensorboard=tensorboard, quiet=quiet)
    _report([_row(r.summary(), Path(out) / r.name) for r in records], as_json)


def _trial_folders(folder: Path) -> list[Path]:
    """``folder`` itself when it is a trial folder, else the trial folders in it."""
    if (folder / "config.json").is_file():
        return [folder]
    found = sorted(p.parent for p in folder.glob("*/config.json")) if folder.is_dir() else []
    if not found:
        raise click.ClickException(f"{str(folder)!r} is not a run: no config.json in it or in "
                                   f"its subfolders (give a folder written by lrlab train --out)")
    return found


def _test_trial(folder: Path, given: dict, tasks: dict) -> dict[str, Any]:
    import torch

    from lrlab.training.engine import evaluate

    missing = [f for f in ("summary.json", "model.pt") if not (folder / f).is_file()]
    if missing:
        raise click.ClickException(f"{folder}: no {' or '.join(missing)}: the trial has not "
                                   f"finished (continue it with lrlab train ... --resume)")
    try:
        config = json.loads((folder / "config.json").read_text())
        summary = json.loads((folder / "summary.json").read_text())
        spec = config["task"]
        options = {**config.get("task_options", {}), **task_options(spec, **given)}
        row = _row(summary, folder)
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as e:
        raise click.ClickException(f"{folder}: not a readable lrlab trial ({type(e).__name__}: {e})") from None
    key = (spec, json.dumps(options, sort_keys=True))
    if key not in tasks:
        tasks[key] = _load_task(spec, options)
    task = tasks[key]
    if summary["status"] == "diverged":  # the engine tests no diverged weights; neither do we
        return {**row, "test_acc": None, "test_loss": None}
    model = task.build_model()
    try:
        model.load_state_dict(torch.load(folder / "model.pt", weights_only=True))
    except Exception as e:  # unpickling, missing or mismatched weights: one line
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise click.ClickException(f"cannot load {folder / 'model.pt'} into the task's model: {first}") from None
    loss, acc = evaluate(model, task, task.test)
    return {**row, "test_acc": acc, "test_loss": loss}


@cli.command("test")
@click.argument("folder", type=click.Path(path_type=Path))
@_with(_task_options[1:])
@_json_option
def evaluate_cmd(folder, image_size, split_seed, label, target, as_json):
    """Evaluate trained trials on their task's test split.

    FOLDER is a trial folder (OUT/<trial>/) or a run folder (OUT/) holding trial folders. The
    task is reloaded from the trial's config.json; task options given here override the
    stored ones (give the ones used for training when the run did not store them).
    """
    given = dict(image_size=image_size, split_seed=split_seed, label=label, target=target)
    tasks: dict = {}
    _report([_test_trial(f, given, tasks) for f in _trial_folders(folder)], as_json)


@cli.command("find-lr")
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
@_json_option
@click.option("--quiet", is_flag=True, help="No progress spinner (on stderr).")
def find_lr(task_spec, image_size, split_seed, label, target, optimizer, weight_decay, start_lr,
            end_lr, steps, batch_size, seed, output, as_json, quiet):
    """The LR range test: suggest a learning rate for a task.

    Trains while the LR grows geometrically from --start-lr to --end-lr. The suggestion is
    the middle of the longest descent of the smoothed loss (valley), else the LR of its
    steepest descent.

    \b
    lrlab find-lr --task digits -o lr_find.png
    """
    options = task_options(task_spec, image_size=image_size, split_seed=split_seed,
                           label=label, target=target)
    from contextlib import nullcontext

    from lrlab.training.lr_finder import find_lr as run_find_lr

    if output is not None:
        _writable(output)
    task = _load_task(task_spec, options)
    if quiet:
        spinner = nullcontext()
    else:
        from rich.console import Console

        spinner = Console(stderr=True).status(f"LR range test on {task.spec}, {steps} steps ...")
    with spinner:
        r = run_find_lr(task, start_lr=start_lr, end_lr=end_lr, num_steps=steps,
                        batch_size=batch_size, optimizer=optimizer, weight_decay=weight_decay,
                        seed=seed)
    if as_json:
        click.echo(json.dumps({k: getattr(r, k) for k in
                               ("suggested_lr", "steepest", "valley", "stopped_early")}))
    else:
        fmt = lambda x: "none" if x is None else f"{x:.3g}"  # noqa: E731
        click.echo(f"suggested lr {fmt(r.suggested_lr)}  (valley {fmt(r.valley)}, steepest "
                   f"{fmt(r.steepest)}; {len(r.lrs)} steps"
                   + (", stopped early: the loss diverged)" if r.stopped_early else ")"))
    if output is not None:
        _write(lambda: r.plot(output), output, announce=not as_json)


def main(args=None) -> None:
    """The ``lrlab`` console script."""
    cli.main(args, prog_name="lrlab")
