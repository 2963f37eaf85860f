"""Tasks by spec string, from one loader table.

- ``digits``: scikit-learn's 8x8 digits, embedded (``tasks/digits.py``);
- ``imagefolder:PATH``: a class-per-folder image set (``tasks/imagefolder.py``);
- ``csv:PATH``: a table with a label or target column (``tasks/tabular.py``).

A new task is one module with a loader function plus one row of ``LOADERS``: the spec's kind,
the module, the function, and whether the spec takes ``:PATH``. Anything else: build a
``Task`` yourself from tensors and a model factory.

    >>> t = load_task("digits")
    >>> t.spec, t.kind, t.num_classes, t.options
    ('digits', 'classification', 10, {})
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from pathlib import Path

from .base import Split, Task, TaskInfo, split_indices, standardize
from .models import MLP, MODELS, ResNet, SmallCNN, model_factory

# kind -> (module in this package, loader function, takes a PATH argument)
LOADERS: dict[str, tuple[str, str, bool]] = {
    "digits": ("digits", "digits", False),
    "imagefolder": ("imagefolder", "imagefolder_task", True),
    "csv": ("tabular", "csv_task", True),
}


def _loader(spec: str):
    """``(loader function, its PATH argument or None)`` of a spec."""
    kind, colon, arg = spec.partition(":")
    row = LOADERS.get(kind)
    if row is None or row[2] != bool(arg) or (colon and not arg):
        forms = [k + (":PATH" if path else "") for k, (_, _, path) in LOADERS.items()]
        raise ValueError(f"unknown task {spec!r}; use {', '.join(forms[:-1])} or {forms[-1]}")
    module, fn, takes_path = row
    return getattr(importlib.import_module(f"{__name__}.{module}"), fn), arg if takes_path else None


def load_task(spec: str, **options) -> Task:
    """A task from its spec string (``digits``, ``imagefolder:PATH``, ``csv:PATH``); the
    ``options`` go to its loader and are remembered in ``task.options``, so
    ``load_task(task.spec, **task.options)`` rebuilds it (from any folder: a PATH is made
    absolute in ``task.spec``); an option the loader does not take is one line naming it."""
    loader, path = _loader(spec)
    known = list(inspect.signature(loader).parameters)[1 if path is not None else 0:]
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(f"task_options: {spec.partition(':')[0]} takes {', '.join(known) or 'none'}, "
                         f"not {', '.join(unknown)}")
    if path is None:
        return dataclasses.replace(loader(**options), options=dict(options))
    path = str(Path(path).expanduser().absolute())
    task = loader(path, **options)
    return dataclasses.replace(task, spec=f"{spec.partition(':')[0]}:{path}", options=dict(options))


def task_defaults(spec: str) -> dict:
    """The options a task of ``spec`` is loaded with when none are given.

    >>> task_defaults("digits")
    {'split_seed': 0}
    """
    loader, path = _loader(spec)
    params = list(inspect.signature(loader).parameters.values())[1 if path is not None else 0:]
    return {p.name: p.default for p in params if p.default is not inspect.Parameter.empty}


__all__ = ["LOADERS", "MLP", "MODELS", "ResNet", "SmallCNN", "Split", "Task", "TaskInfo", "load_task",
           "model_factory", "split_indices", "standardize", "task_defaults"]
