"""The ``lrlab`` command line: list the schedules, print a curve, plot curves to a PNG.

    lrlab list
    lrlab show cosine -p base_lr=0.1 -p total_steps=100 --steps 100
    lrlab plot cosine one_cycle -p base_lr=0.1 -p max_lr=0.1 -p total_steps=100% --steps 1000 -o lr.png
    lrlab plot cosine --torch CosineAnnealingLR -p cosine.base_lr=0.1 -p T_max=100 --steps 100 -o c.png

Parameters are given as ``-p KEY=VALUE`` (or ``NAME.KEY=VALUE`` to target one curve). Values
are parsed, never evaluated: see :func:`parse_value`. Every bad input exits with status 2 and
one ``lrlab: error: ...`` line on stderr.
"""

from __future__ import annotations

import inspect
import json
import re
import sys
from typing import Any

import click
import numpy as np

import lrlab
from lrlab.schedules import REQUIRED, Schedule, lookup
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
    """One requested curve: an lrlab schedule name, or a torch / paddle class name."""

    def __init__(self, kind: str, name: str):
        self.kind, self.name = kind, name
        if kind == "lrlab":
            self.canonical = lookup(name).name  # unknown name: ValueError with suggestions
            self.accepts = [p for p, _, _ in lrlab.describe(name)]
        else:
            table = _framework_tables()[kind]
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
        if self.kind == "torch":
            s = lrlab.from_torch(self.name, 0.1 if lr is None else lr, **params)
        elif self.kind == "paddle":
            s = lrlab.from_paddle(self.name, **params)
        else:
            for p, rule, default in lrlab.describe(self.name):
                if rule == _CALLABLE and (default is REQUIRED or p in params):
                    raise ValueError(f"{self.canonical}: {p} is a Python callable; callables are "
                                     f"Python-API only (lrlab.create({self.canonical!r}, {p}=...))")
                if rule in _LISTS and p in params and not isinstance(params[p], list):
                    params = {**params, p: [params[p]]}
            s = lrlab.from_config({"name": self.name, **params})
        if not isinstance(s, Schedule):
            raise ValueError(f"{self.name} is metric-driven (it follows a validation metric), "
                             f"so it has no fixed curve to show")
        return s.bind(steps)


def _framework_tables() -> dict[str, dict]:
    from lrlab.compat import paddle as _p, torch as _t  # noqa: F401  (numpy only: fill the tables)
    from lrlab.compat.base import PADDLE, TORCH

    return {"torch": TORCH, "paddle": PADDLE}


def build_curves(names, torch_classes, paddle_classes, assignments, lr, steps):
    """``[(label, values)]`` for every requested curve, with the parameters distributed.

    An unscoped ``KEY=VALUE`` goes to every curve that has a parameter KEY (to the only curve,
    whatever KEY, when there is one); ``NAME.KEY=VALUE`` goes to the curve NAME only.
    """
    curves = ([_Curve("lrlab", n) for n in names] + [_Curve("torch", c) for c in torch_classes]
              + [_Curve("paddle", c) for c in paddle_classes])
    if not curves:
        raise click.UsageError("give a schedule NAME, --torch CLASS or --paddle CLASS")
    if lr is not None and not torch_classes:
        raise click.UsageError("--lr is the optimizer's LR of a --torch class; give the lrlab "
                               "schedule's base_lr / max_lr, or paddle's learning_rate, as --param")
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
        except (click.ClickException, ValueError, TypeError) as e:
            msg = e.format_message() if isinstance(e, click.ClickException) else str(e)
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
    """lrlab: learning-rate schedules — list them, print a curve, plot curves."""


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
    try:
        fig.savefig(output, dpi=120)
    except OSError as e:
        raise click.ClickException(f"cannot write {output!r}: {e.strerror or e}") from None
    click.echo(f"wrote {output}")


def main(args=None) -> None:
    """The ``lrlab`` console script."""
    cli.main(args, prog_name="lrlab")
