"""atomic_write: all or nothing."""

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

    with pytest.raises(RuntimeError):
        atomic_write(target, boom)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


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
