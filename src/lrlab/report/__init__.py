"""The comparison report: reads only the store.

``lrlab.report.stats`` holds the statistics of a schedule comparison as pure functions over
plain data (numpy and scipy; no torch, no sqlite): the report reads the store and hands them
lists and dicts. ``lrlab.report.tables`` reads the store (read-only ``sqlite3``) into the
report's data, ``lrlab.report.figures`` draws it (matplotlib), ``lrlab.report.html`` writes
the page: :func:`write_report` (imported lazily, so ``lrlab.report.stats`` stays light).
"""

from __future__ import annotations

from pathlib import Path


def write_report(out: str | Path, store=None) -> Path:
    """Write ``out/report.html`` and ``out/report/*.png`` from the store ``out/results.sqlite``
    alone; returns the page's path (see :mod:`lrlab.report.html`: ``store`` is the caller's
    open ``Store`` of ``out``, when it holds the folder)."""
    from .html import write_report as _write

    return _write(out, store)
