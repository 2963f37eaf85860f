"""One process at a time per output folder: an OS-level lock (``filelock``) on
``<folder>/.lrlab.lock``, which a killed process releases.

    >>> import tempfile
    >>> d = OutputFolder(tempfile.mkdtemp())
    >>> with d:
    ...     d.claim(); d.claim()   # taken once, kept until close()
"""

from __future__ import annotations

from pathlib import Path

LOCK_NAME = ".lrlab.lock"


class OutputFolder:
    """A folder that one process at a time may write; ``claim()`` takes its lock (refused with
    one ``ValueError`` line while another process holds it), ``close()`` or the end of a
    ``with`` block releases it."""

    def __init__(self, out: str | Path):
        self.out = Path(out)
        self._lock = None

    def claim(self) -> None:
        if self._lock is not None:
            return
        from filelock import FileLock, Timeout

        self.out.mkdir(parents=True, exist_ok=True)
        lock = FileLock(self.out / LOCK_NAME)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise ValueError(f"{self.out} is in use by another lrlab process; wait for it to end "
                             f"or choose another --out") from None
        self._lock = lock

    def close(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
