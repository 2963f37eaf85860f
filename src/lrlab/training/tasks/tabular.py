"""CSV tasks: a table with a header row, numeric feature columns and one label or target.

Which column is predicted:

- ``label=NAME`` (CLI ``--label NAME``): classification; values are class names (strings are
  fine), classes sorted. When every value is a number, a class is a number: ``1``, ``1.0``
  and ``1e0`` are one class, named ``1``, and classes sort numerically (``2`` before ``10``);
- ``target=NAME`` (CLI ``--target NAME``): regression on a numeric column;
- neither: a column named ``label`` (classification), else one named ``target``
  (regression), else the last column as a label (classification), unless it holds numbers
  that are not all whole or more than 20 distinct ones: that looks like a regression target,
  and rather than guess, a ``ValueError`` asks for ``--target``/``--label``.

A class needs at least 3 rows (the stratified split draws twice); fewer is a ``ValueError``
naming the classes. Every other column is a feature and must be numeric, finite and within
float32's range (±3.4e38; models compute in float32, and values like ±1e308 are usually
sentinels): anything else raises ``ValueError`` naming the line and column. Empty cells and
``NA``, ``N/A``, ``NaN``, ``null``, ``None``, ``?`` (any case) are missing values and raise
``ValueError`` naming the line and column. The delimiter is sniffed among ``,``, ``;`` and
tab (``,`` when unsure); blank lines are skipped; a field longer than ``csv``'s limit
(131,072 characters: no number or class name is that long; an unclosed quote is) is a
``ValueError`` naming the line where it starts.

Encoding: a byte-order mark selects UTF-8, UTF-16 or UTF-32; NUL bytes laid out as in UTF-16
text without a mark select UTF-16 LE/BE (other NUL bytes: refused, not a text table); else
UTF-8, falling back to Windows-1252 and then Latin-1 when the file is not valid UTF-8 (each
decodes a byte to one character, so labels never merge or split; only their spelling can
differ). ``info["encoding"]`` says which was used. A file that is not valid in the encoding its
mark declares is a ``ValueError`` naming the file and the encoding.

Features are standardised with the train split's mean and std (in float64; a column whose
result is not finite in float32 is refused by name). For regression the target is
standardised too (train statistics, kept in ``info["target_mean"]``/``["target_std"]``), so
**the loss reported for a regression task (train, val and test) is the MSE of the
standardised target**, in units of the target's variance, and a learning rate means the same
on every table; multiply by ``info["loss_scale"]`` (``target_std**2``) for MSE in the
target's own units. ``info["loss"]`` says this in words. Splits are 65/15/20
train/val/test, stratified for classification, reproducible from ``split_seed``.

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
import io
import shlex
from decimal import Decimal, InvalidOperation
from pathlib import Path

import numpy as np
import torch

from .base import MIN_PER_CLASS, Split, Task, small_classes, split_indices, standardize
from .models import MLP

MISSING = frozenset({"", "na", "n/a", "nan", "null", "none", "?"})
FLOAT32_MAX = float(np.finfo(np.float32).max)
MAX_GUESSED_CLASSES = 20  # a default (unnamed) last column with more distinct numbers is refused
_BOMS = ((b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"),
         (b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))


def _utf16_without_bom(sample: bytes) -> str | None:
    """``utf-16-le``/``-be`` when NUL bytes sit at the odd/even offsets of ``sample`` as they
    do in mostly-ASCII UTF-16 text, else None."""
    even, odd = sample[0::2], sample[1::2]
    if len(odd) < 2:
        return None
    if odd.count(0) >= 0.5 * len(odd) and even.count(0) <= 0.05 * len(even):
        return "utf-16-le"
    if even.count(0) >= 0.5 * len(even) and odd.count(0) <= 0.05 * len(odd):
        return "utf-16-be"
    return None


def read_text(path) -> tuple[str, str]:
    """The text of ``path`` and the encoding it was read with (see the module doc)."""
    path = Path(path)
    data = path.read_bytes()
    encoding = next((enc for bom, enc in _BOMS if data.startswith(bom)), None)
    if encoding is None and b"\x00" in data:
        encoding = _utf16_without_bom(data[:4096])
        if encoding is None:
            raise ValueError(f"csv: {path} contains NUL bytes: it is not a text table (or is in "
                             f"an encoding lrlab does not recognise); save it as UTF-8")
    if encoding is not None:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError as e:
            raise ValueError(f"csv: {path} looks like {encoding.upper()} but is not valid "
                             f"{encoding.upper()} (byte {e.start}: {e.reason}); save it as UTF-8"
                             ) from None
    for encoding in ("utf-8", "cp1252", "latin-1"):  # latin-1 decodes any byte: never fails
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise AssertionError("unreachable: latin-1 decodes every byte")


def read_csv(path) -> tuple[list[str], list[list[str]], list[int], str]:
    """Header, rows (stripped strings), the file line number of each row and the encoding."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"csv: {path} does not exist or is not a file")
    text, encoding = read_text(path)
    try:
        dialect = csv.Sniffer().sniff(text[:65536], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    header, rows, lines = None, [], []
    while True:
        start = reader.line_num + 1  # where the record begins (a quoted field may span lines)
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            if "field larger than field limit" in str(e):
                raise ValueError(
                    f"csv: {path} line {start}: a field is longer than {csv.field_size_limit():,} "
                    f"characters; no number or class name is, so a quote (\") is probably left "
                    f"open there") from None
            raise ValueError(f"csv: {path} line {start}: {e}") from None
        if header is None:
            if not any(h.strip() for h in row):
                break
            header = [h.strip() for h in row]
            continue
        if not any(v.strip() for v in row):
            continue
        if len(row) != len(header):
            raise ValueError(f"csv: {path} line {start} has {len(row)} fields, "
                             f"the header has {len(header)}")
        rows.append([v.strip() for v in row])
        lines.append(start)
    if header is None:
        raise ValueError(f"csv: {path} is empty")
    if not rows:
        raise ValueError(f"csv: {path} has a header but no rows")
    return header, rows, lines, encoding


def _numeric(path, header, rows, lines, j: int, what: str) -> np.ndarray:
    out = np.empty(len(rows))
    for i, row in enumerate(rows):
        v = row[j]
        if v.lower() in MISSING:
            raise ValueError(f"csv: {path} line {lines[i]}, column {header[j]!r}: missing value {v!r}")
        try:
            out[i] = float(v)
        except ValueError:
            raise ValueError(f"csv: {what} column {header[j]!r} must be numeric; "
                             f"line {lines[i]} of {path} has {v!r}") from None
        if not abs(out[i]) <= FLOAT32_MAX:
            raise ValueError(f"csv: {what} column {header[j]!r} of {path}: line {lines[i]} has {v!r}, "
                             f"outside float32's range (±3.4e38) in which models compute; "
                             f"fix the value or rescale the column")
    return out


def _hint(column: str, option: str) -> str:
    """How to name ``column`` as a label or target, for the CLI and for Python."""
    arg = option.lstrip("-")
    return f"pass {option} {shlex.quote(column)} ({arg}={column!r} in Python)"


def _pick_column(header, label, target) -> tuple[str, str, bool]:
    """The predicted column, the task kind and whether the column was named by the caller
    or by its name (False: the last column, by default)."""
    if label is not None and target is not None:
        raise ValueError(f"csv: give label or target, not both (got label={label!r}, target={target!r})")
    name = label if label is not None else target
    if name is not None:
        if name not in header:
            raise ValueError(f"csv: no column {name!r}; the columns are {header}")
        return name, "classification" if label is not None else "regression", True
    if "label" in header:
        return "label", "classification", True
    if "target" in header:
        return "target", "regression", True
    return header[-1], "classification", False


def _as_number(v: str) -> Decimal | None:
    try:
        d = Decimal(v)
    except InvalidOperation:
        return None
    return d if d.is_finite() else None


def _number_name(d: Decimal) -> str:
    """One name per numeric value: ``1``, ``1.0`` and ``1e0`` are all ``1``; ``0.50`` is ``0.5``."""
    if d == d.to_integral_value() and d.adjusted() < 30:
        return str(int(d))
    d = d.normalize()
    return format(d, "f") if -10 < d.adjusted() < 30 else str(d)


def _class_values(values: list[str]) -> tuple[list[str], tuple[str, ...], bool]:
    """Class name per row, the classes sorted, and whether the labels are all numbers.

    Numeric labels are named by their value (so ``1`` and ``1.0`` are one class) and sorted
    numerically; any other labels are kept as written and sorted as strings."""
    numbers = [_as_number(v) for v in values]
    if all(d is not None for d in numbers):
        names = [_number_name(d) for d in numbers]
        return names, tuple(sorted(set(names), key=Decimal)), True
    return values, tuple(sorted(set(values))), False


def _refuse_guess(path, column: str, values: list[str]) -> None:
    """Refuse a default (unnamed) last column that looks like a regression target."""
    numbers = [_as_number(v) for v in values]
    if not all(d is not None for d in numbers):
        return
    distinct = len(set(numbers))
    fractional = any(d != d.to_integral_value() for d in numbers)
    if fractional or distinct > MAX_GUESSED_CLASSES:
        raise ValueError(
            f"csv: which column of {path} should be predicted? None is named 'label' or 'target', "
            f"and the last one, {column!r}, holds {distinct} distinct "
            f"{'numbers, not all whole' if fractional else 'whole numbers'}: a regression target? "
            f"For regression {_hint(column, '--target')}; for classes {_hint(column, '--label')}.")


def _finite_float32(path, t: torch.Tensor, names: list[str], what: str) -> torch.Tensor:
    """``t`` (float64, one column per name) as float32, refusing any non-finite column."""
    out = t.float()
    bad = ~torch.isfinite(out.reshape(len(out), -1)).all(dim=0)
    if bad.any():
        col = names[int(bad.nonzero()[0])]
        raise ValueError(f"csv: {what} column {col!r} of {path} does not standardise to finite "
                         f"float32 values; check its scale")
    return out


def csv_task(path, label: str | None = None, target: str | None = None, split_seed: int = 0) -> Task:
    """A classification (``label``) or regression (``target``) task from a CSV file with a
    header row; an ``MLP``. See the module doc for the column rules and scaling."""
    header, rows, lines, encoding = read_csv(path)
    if len(set(header)) != len(header):
        raise ValueError(f"csv: {path} has duplicate column names: {header}")
    column, kind, named = _pick_column(header, label, target)
    j = header.index(column)
    features = [h for h in header if h != column]
    if not features:
        raise ValueError(f"csv: {path} has no feature columns besides {column!r}")
    x = torch.tensor(np.stack([_numeric(path, header, rows, lines, header.index(h), "feature")
                               for h in features], axis=1))

    info: dict = {"column": column, "features": features, "encoding": encoding}
    if kind == "classification":
        values = [row[j] for row in rows]
        for v, line in zip(values, lines):
            if v.lower() in MISSING:
                raise ValueError(f"csv: {path} line {line}, column {column!r}: missing value {v!r}")
        if not named:
            _refuse_guess(path, column, values)
        names, classes, numeric = _class_values(values)
        hint = f"; if it is a regression target, {_hint(column, '--target')}" if numeric else ""
        if len(classes) < 2:
            raise ValueError(f"csv: label column {column!r} of {path} needs at least 2 classes, "
                             f"got {list(classes)}")
        index = {c: i for i, c in enumerate(classes)}
        y_np = np.array([index[v] for v in names])
        counts = np.bincount(y_np, minlength=len(classes))
        small = small_classes(counts)
        if small:
            shown = ", ".join(f"{classes[i]!r} ({counts[i]})" for i in small[:5])
            more = f" and {len(small) - 5} more" if len(small) > 5 else ""
            raise ValueError(f"csv: label column {column!r} of {path}: too few rows for class(es) "
                             f"{shown}{more}; a stratified train/val/test split needs at least "
                             f"{MIN_PER_CLASS} per class{hint}")
        try:
            parts = split_indices(y_np, len(rows), split_seed)
        except ValueError as e:  # too few rows overall for one per class in every split
            raise ValueError(f"csv: cannot split the {len(rows)} rows of {path} stratified by "
                             f"{column!r} ({len(classes)} classes): {e}{hint}") from None
        y = torch.tensor(y_np, dtype=torch.long)
        ys = [y[p] for p in parts]
        out = len(classes)
        info["loss"] = "cross-entropy"
    else:
        y_np = _numeric(path, header, rows, lines, j, "target")
        parts = split_indices(None, len(rows), split_seed)
        y = torch.tensor(y_np)
        mean, std = y[parts[0]].mean(), y[parts[0]].std().clamp_min(1e-6)
        ys = [_finite_float32(path, (y[p] - mean) / std, [column], "target") for p in parts]
        info.update(target_mean=float(mean), target_std=float(std),
                    loss="MSE of the target standardised with the train split's mean and std "
                         "(multiply by loss_scale = target_std**2 for the target's units)",
                    loss_scale=float(std) ** 2)
        classes, out = (), 1

    xs = [_finite_float32(path, t, features, "feature")
          for t in standardize(*(x[p] for p in parts), dims=(0,))]
    info.update(n_train=len(parts[0]), n_val=len(parts[1]), n_test=len(parts[2]))
    n_features = len(features)
    return Task(f"csv:{path}", *(Split(a, b) for a, b in zip(xs, ys)),
                build_model=lambda: MLP(n_features, out), kind=kind, classes=classes, info=info)
