"""CSV tasks: a table with a header row, numeric feature columns and one label or target.

Which column is predicted:

- ``label=NAME``: classification; values are class names (strings are fine), classes sorted
  (numerically when every value is a number, so ``2`` comes before ``10``);
- ``target=NAME``: regression on a numeric column;
- neither: a column named ``label`` (classification), else one named ``target``
  (regression), else the last column as a label (classification).

Every other column is a feature and must be numeric and finite. Empty cells and ``NA``,
``N/A``, ``NaN``, ``null``, ``None``, ``?`` (any case) are missing values and raise
``ValueError`` naming the line and column; so does a non-numeric feature value. The
delimiter is sniffed among ``,``, ``;`` and tab (``,`` when unsure); blank lines are skipped.

Features are standardised with the train split's mean and std. For regression the target is
standardised too (train statistics, kept in ``info["target_mean"]``/``["target_std"]``), so
the MSE the engine reports is in units of the target's std and a learning rate means the
same on every table; multiply by ``target_std**2`` for MSE in the original units. Splits are
65/15/20 train/val/test, stratified for classification, reproducible from ``split_seed``.

    >>> import tempfile, pathlib
    >>> tmp = tempfile.TemporaryDirectory()
    >>> f = pathlib.Path(tmp.name, "flowers.csv")
    >>> _ = f.write_text("petal,sepal,label\\n" + "".join(
    ...     f"{i % 7},{i % 5},{'big' if i % 2 else 'small'}\\n" for i in range(40)))
    >>> t = csv_task(f)
    >>> t.kind, t.classes, tuple(t.train.x.shape), len(t.val), len(t.test)
    ('classification', ('big', 'small'), (26, 2), 6, 8)
    >>> tmp.cleanup()
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import torch

from .base import Split, Task, split_indices, standardize
from .models import MLP

MISSING = frozenset({"", "na", "n/a", "nan", "null", "none", "?"})


def read_csv(path) -> tuple[list[str], list[list[str]], list[int]]:
    """Header, rows (stripped strings) and the file line number of each row."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"csv: {path} does not exist or is not a file")
    with open(path, newline="", encoding="utf-8-sig") as f:
        sample = f.read(65536)
        f.seek(0)
        try:
            dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
        except csv.Error:
            dialect = csv.excel
        reader = csv.reader(f, dialect)
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise ValueError(f"csv: {path} is empty")
        header = [h.strip() for h in header]
        rows, lines = [], []
        for row in reader:
            if not any(v.strip() for v in row):
                continue
            if len(row) != len(header):
                raise ValueError(f"csv: {path} line {reader.line_num} has {len(row)} fields, "
                                 f"the header has {len(header)}")
            rows.append([v.strip() for v in row])
            lines.append(reader.line_num)
    if not rows:
        raise ValueError(f"csv: {path} has a header but no rows")
    return header, rows, lines


def _numeric(path, header, rows, lines, j: int, what: str) -> np.ndarray:
    out = np.empty(len(rows))
    for i, row in enumerate(rows):
        v = row[j]
        if v.lower() in MISSING:
            raise ValueError(f"csv: {path} line {lines[i]}, column {header[j]!r}: missing value {v!r}")
        try:
            out[i] = float(v)
        except ValueError:
            out[i] = math.nan
        if not math.isfinite(out[i]):
            raise ValueError(f"csv: {what} column {header[j]!r} must be numeric; "
                             f"line {lines[i]} of {path} has {v!r}")
    return out


def _pick_column(header, label, target) -> tuple[str, str]:
    if label is not None and target is not None:
        raise ValueError(f"csv: give label or target, not both (got label={label!r}, target={target!r})")
    name = label if label is not None else target
    if name is not None:
        if name not in header:
            raise ValueError(f"csv: no column {name!r}; the columns are {header}")
        return name, "classification" if label is not None else "regression"
    if "label" in header:
        return "label", "classification"
    if "target" in header:
        return "target", "regression"
    return header[-1], "classification"


def csv_task(path, label: str | None = None, target: str | None = None, split_seed: int = 0) -> Task:
    """A classification (``label``) or regression (``target``) task from a CSV file with a
    header row; an ``MLP``. See the module doc for the column rules and scaling."""
    header, rows, lines = read_csv(path)
    if len(set(header)) != len(header):
        raise ValueError(f"csv: {path} has duplicate column names: {header}")
    column, kind = _pick_column(header, label, target)
    j = header.index(column)
    features = [h for h in header if h != column]
    if not features:
        raise ValueError(f"csv: {path} has no feature columns besides {column!r}")
    x = torch.tensor(np.stack([_numeric(path, header, rows, lines, header.index(h), "feature")
                               for h in features], axis=1))

    info: dict = {"column": column, "features": features}
    if kind == "classification":
        values = [row[j] for row in rows]
        for v, line in zip(values, lines):
            if v.lower() in MISSING:
                raise ValueError(f"csv: {path} line {line}, column {column!r}: missing value {v!r}")
        try:
            classes = tuple(sorted(set(values), key=float))
        except ValueError:
            classes = tuple(sorted(set(values)))
        if len(classes) < 2:
            raise ValueError(f"csv: label column {column!r} of {path} needs at least 2 classes, "
                             f"got {list(classes)}")
        index = {c: i for i, c in enumerate(classes)}
        y_np = np.array([index[v] for v in values])
        try:
            parts = split_indices(y_np, len(rows), split_seed)
        except ValueError as e:  # e.g. a numeric column taken as the label by default
            raise ValueError(f"csv: cannot split {path} stratified by {column!r} ({len(classes)} classes "
                             f"in {len(rows)} rows): {e} If {column!r} is a regression target, "
                             f"pass target={column!r}.") from e
        y = torch.tensor(y_np, dtype=torch.long)
        ys = [y[p] for p in parts]
        out = len(classes)
    else:
        y_np = _numeric(path, header, rows, lines, j, "target")
        parts = split_indices(None, len(rows), split_seed)
        y = torch.tensor(y_np)
        mean, std = y[parts[0]].mean(), y[parts[0]].std().clamp_min(1e-6)
        ys = [((y[p] - mean) / std).float() for p in parts]
        info.update(target_mean=float(mean), target_std=float(std))
        classes, out = (), 1

    xs = [t.float() for t in standardize(*(x[p] for p in parts), dims=(0,))]
    info.update(n_train=len(parts[0]), n_val=len(parts[1]), n_test=len(parts[2]))
    n_features = len(features)
    return Task(f"csv:{path}", *(Split(a, b) for a, b in zip(xs, ys)),
                build_model=lambda: MLP(n_features, out), kind=kind, classes=classes, info=info)
