"""Crash-safe files: a write either completes or leaves the old file untouched.

``atomic_write`` writes through a temporary file that is renamed over the target; the file
gets the mode the umask gives a new file (``0o666 & ~umask``), like any ``open(path, "w")``.
A process killed in the middle leaves its temporary behind: ``remove_temporaries(folder)``
deletes them (call it only while no other process writes there, e.g. holding the folder's lock).

    >>> from lrlab.fileio import atomic_write
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> atomic_write(p, "hello"); p.read_text()
    'hello'
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


TMP_SUFFIX = ".lrlab-tmp"


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def remove_temporaries(folder: Path, name: str = "") -> list[Path]:
    """Delete the temporaries that killed ``atomic_write`` calls left in ``folder`` (only those
    of the file ``name`` when given: a folder the user shares keeps their other files)."""
    pattern = f"{name}.*{TMP_SUFFIX}" if name else f"*{TMP_SUFFIX}"
    found = sorted(Path(folder).glob(pattern)) if Path(folder).is_dir() else []
    for p in found:
        p.unlink(missing_ok=True)
    return found


def atomic_write(path: Path, data: str | bytes | Callable[[BinaryIO], None]) -> None:
    """Write ``data`` (text, bytes, or a function writing to a binary file) to ``path``
    through a temporary file in the same folder, fsync'd, then renamed over ``path``.

    A write that fails (a full disk, a file size limit; also when a writer such as
    ``torch.save`` reports it as a ``RuntimeError``) leaves the old file and no temporary, and
    raises one ``OSError`` line naming ``path``."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=TMP_SUFFIX)
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            if callable(data):
                data(f)
            else:
                f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(e, (OSError, RuntimeError)):
            raise OSError(f"{path}: cannot write ({_why(e, path.parent)})") from None
        raise


def _why(e: BaseException, folder: Path) -> str:
    """Why a write failed, in a few words (the disk's free space when the error does not say)."""
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return type(e).__name__
    return f"{type(e).__name__}; {free // 2**20} MiB free on its disk"
