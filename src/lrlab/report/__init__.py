"""The comparison report: reads only the store.

``lrlab.report.tables`` reads the store (through its ``Reader``) into the report's data and
ranks it with ``lrlab.stats`` (the statistics, shared with ``lrlab compare``),
``lrlab.report.figures`` draws it (matplotlib), ``lrlab.report.html`` writes the page:
:func:`write_report` (imported lazily).
"""

from __future__ import annotations

from pathlib import Path


def write_report(out: str | Path, store=None) -> Path:
    """Write ``out/report.html`` and ``out/report/*.png`` from the store ``out/results.sqlite``
    alone; returns the page's path (see :mod:`lrlab.report.html`: ``store`` is the caller's
    open ``Store`` of ``out``, when it holds the folder)."""
    from .html import write_report as _write

    return _write(out, store)
