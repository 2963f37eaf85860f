"""What every command shares: ``-p KEY=VALUE`` parsing, building the requested curves, the
shared click options.

Values are parsed, never evaluated (:func:`parse_value`). ``-p KEY=VALUE`` goes to every curve
that has a parameter KEY (to the only curve, whatever KEY); ``-p NAME.KEY=VALUE`` to the curve
NAME only (:func:`distribute`). ``--lr`` is the reference LR everywhere: the optimizer LR of a
``--torch`` class, paddle's ``learning_rate``, and for an lrlab schedule name the LR its
run-relative defaults start from / peak at (``lrlab.schedules.presets``); given ``-p`` parameters
override what ``--lr`` fills in.
"""

from __future__ import annotations

import inspect
import json
import re
from typing import Any

import click

import lrlab
from lrlab.schedules import REQUIRED, Schedule, decode, lookup
from lrlab.schedules import params as _params
from lrlab.schedules.presets import defaults
from lrlab.training.trial import METRIC_SCHEDULES

CALLABLE = _params.function().doc  # the rule text of parameters that take a Python callable
_LISTS = (_params.milestones().doc, _params.lrs().doc)  # a single value there means [value]
_INT = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_KEY = re.compile(r"^(?:([\w-]+)\.)?([A-Za-z_]\w*)$")
TORCH_LR = 0.1  # the optimizer LR of a --torch class when --lr is not given


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
    """One requested curve: an lrlab schedule name (kind ``lrlab``), a torch / paddle class
    name, or (training only) a schedule that follows a metric (``METRIC_SCHEDULES``)."""

    @classmethod
    def trial(cls, name: str) -> _Curve:
        """The schedule of a trial: metric-driven or an lrlab schedule."""
        return cls("metric" if name in METRIC_SCHEDULES else "lrlab", name)

    def __init__(self, kind: str, name: str):
        self.kind, self.name = kind, name
        if kind == "lrlab":
            self.canonical = lookup(name).name  # unknown name: ValueError with suggestions
            self.accepts = [p for p, _, _ in lrlab.describe(name)]
        else:
            table = METRIC_SCHEDULES if kind == "metric" else framework_tables()[kind]
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
        """The curve's schedule, bound to ``steps``; ``lr`` (the reference LR, or None) fills
        what the given ``params`` leave out (see the module docstring)."""
        if self.kind in ("torch", "paddle"):  # nested {"name": ...} configs become schedules
            params = {k: decode(v) for k, v in params.items()}
        if self.kind == "torch":
            s = lrlab.from_torch(self.name, TORCH_LR if lr is None else lr, **params)
        elif self.kind == "paddle":
            if lr is not None and "learning_rate" in self.accepts:
                params = {"learning_rate": lr, **params}
            s = lrlab.from_paddle(self.name, **params)
        else:
            params = self.fix(params, complete=lr is None)
            if lr is not None:
                params = {**defaults(self.name, lr, steps), **params}
            s = lrlab.from_config({"name": self.name, **params})
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
            if rule == CALLABLE and (p in params or (complete and default is REQUIRED)):
                raise ValueError(f"{self.canonical}: {p} is a Python callable; callables are "
                                 f"Python-API only (lrlab.create({self.canonical!r}, {p}=...))")
            if rule in _LISTS and p in params and not isinstance(params[p], list):
                params = {**params, p: [params[p]]}
        return params


def framework_tables() -> dict[str, dict]:
    """``{"torch": {class name: builder}, "paddle": {...}}`` (numpy only)."""
    from lrlab.compat.base import PADDLE, TORCH  # filled when lrlab.compat is imported

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
    """``[(label, values)]`` for every requested curve, with the parameters distributed and
    ``lr`` (the reference LR, or None) filling what they leave out."""
    curves = ([_Curve("lrlab", n) for n in names] + [_Curve("torch", c) for c in torch_classes]
              + [_Curve("paddle", c) for c in paddle_classes])
    if not curves:
        raise click.UsageError("give a schedule NAME, --torch CLASS or --paddle CLASS")
    per_curve = distribute(curves, assignments)
    out = []
    for curve, params in zip(curves, per_curve):
        s = curve.build(params, lr, steps)
        out.append((repr(s), s.curve(steps)))
    return out


# ---- shared click options and callbacks ----------------------------------------------------
def _with(options):
    """Apply a list of click options, in the order listed."""
    def deco(fn):
        for opt in reversed(options):
            fn = opt(fn)
        return fn
    return deco


LR_HELP = ("Reference LR: the optimizer LR of --torch classes, paddle's learning_rate, and "
           "what lrlab schedule defaults start from / peak at; -p parameters override it.")
_param_option = click.option(
    "-p", "--param", "params", multiple=True, metavar="KEY=VALUE",
    help="A schedule parameter (repeatable); NAME.KEY=VALUE targets one curve. VALUE: "
         "int, float, true/false, none, [1,2] or 1,2, 30% (relative length), a JSON "
         "config {\"name\": ...} for a nested schedule, else a string.")
_json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")


def _seeds(ctx, param, value: str) -> list[int]:
    """``--seed``: one integer >= 0 or a list like ``0,1,2``."""
    seeds = parse_value(value)
    seeds = seeds if isinstance(seeds, list) else [seeds]
    if not seeds or not all(type(s) is int and s >= 0 for s in seeds):
        raise click.BadParameter(f"{value!r}: expected an integer >= 0 or a list like 0,1,2")
    return seeds


def _early_stop(ctx, param, value: str | None) -> dict | None:
    """``--early-stop KEY=VALUE[,KEY=VALUE...]`` -> a dict (None when not given)."""
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
