"""atomic_write: all or nothing."""

import re
import subprocess
import sys

import pytest

from lrlab.fileio import atomic_write


def test_text_bytes_and_writer(tmp_path):
    atomic_write(tmp_path / "a" / "t.txt", "héllo")
    atomic_write(tmp_path / "b.bin", b"\x00\x01")
    atomic_write(tmp_path / "c.bin", lambda f: f.write(b"xyz"))
    assert (tmp_path / "a" / "t.txt").read_text() == "héllo"
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "c.bin").read_bytes() == b"xyz"


def test_a_failing_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "keep.txt"
    atomic_write(target, "old")

    def boom(f):
        f.write(b"half")
        raise RuntimeError("crash")

    with pytest.raises(OSError, match=rf"^{re.escape(str(target))}: cannot write \(RuntimeError; "
                                      rf"\d+ MiB free on its disk\)$"):
        atomic_write(target, boom)  # torch.save reports a full disk as a RuntimeError
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_a_write_past_the_disk_or_file_size_limit_is_one_line_naming_the_file(tmp_path):
    """A real failing write: a file size limit (RLIMIT_FSIZE) in a child process."""
    code = f"""
import resource, signal
from lrlab.fileio import atomic_write
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
atomic_write({str(tmp_path / "small.bin")!r}, b"x" * 100)
try:
    atomic_write({str(tmp_path / "big.bin")!r}, b"x" * 10000)
except OSError as e:
    print(e)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{tmp_path / 'big.bin'}: cannot write (File too large)\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small.bin"]  # no temporary left


def test_files_get_the_mode_the_umask_gives(tmp_path):
    import os

    old = os.umask(0o027)
    try:
        atomic_write(tmp_path / "m.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "m.txt").stat().st_mode & 0o777 == 0o640


def test_temporaries_of_killed_writes_are_removed(tmp_path):
    from lrlab.fileio import TMP_SUFFIX, remove_temporaries

    (tmp_path / f"checkpoint.pt.abc123{TMP_SUFFIX}").write_bytes(b"half")
    (tmp_path / "keep.tmp").write_text("not ours")
    assert [p.name for p in remove_temporaries(tmp_path)] == [f"checkpoint.pt.abc123{TMP_SUFFIX}"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.tmp"]
    assert remove_temporaries(tmp_path / "missing") == []
