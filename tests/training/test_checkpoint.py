"""Checkpoints: torch.save's bytes, a weights-only load, damaged and hostile bytes named."""

import os

import pytest
import torch

from lrlab.training import checkpoint


def _state():
    return {k: None for k in checkpoint.KEYS} | {"model": {"w": torch.arange(3.0)}, "epoch": 2}


def test_round_trip():
    got = checkpoint.loads(checkpoint.dumps(_state()), "here")
    assert got["epoch"] == 2 and torch.equal(got["model"]["w"], torch.arange(3.0))


@pytest.mark.parametrize("content, match", [
    (b"", "not a readable lrlab checkpoint"),
    (b"not a checkpoint", "not a readable lrlab checkpoint"),
    ({"a": 1}, r"not an lrlab checkpoint \(missing \['best_state'"),
    ([1, 2], r"not an lrlab checkpoint \(missing everything\)"),
])
def test_damaged_files_are_named(tmp_path, content, match):
    path = tmp_path / "checkpoint.pt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)
    with pytest.raises(ValueError, match=f"checkpoint.pt: {match}"):
        checkpoint.loads(path.read_bytes(), str(path))


def test_a_checkpoint_never_runs_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    torch.save({"model": Evil()}, tmp_path / "checkpoint.pt")
    path = tmp_path / "checkpoint.pt"
    with pytest.raises(ValueError, match="not a readable lrlab checkpoint"):
        checkpoint.loads(path.read_bytes(), str(path))
    assert not (tmp_path / "pwned").exists()
