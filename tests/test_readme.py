"""The README is a contract: every code block in it runs as written.

Python blocks run in a fresh interpreter each, in an empty folder; bash blocks run line by
line (``\\``-continued lines joined) in one empty folder, in order, except the lines that set
up the environment and run this very suite (venv, pip, pytest): CI runs those itself. The main
job (20 epochs x 45 trials, minutes on two cores and more on a busy machine) runs here as
written but for its length (``REDUCED``): the same command, preset, seeds, store and report.
No wall-clock limit that load could break: ``HANG`` only ends a command that hangs.
"""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```$", re.S | re.M)
SETUP = ("python3 -m venv", "pip install", "python -m pytest")
REDUCED = {"--preset paddle --seeds 3 --epochs 20 --out cmp": "--preset paddle --seeds 3 --epochs 1 --out cmp",
           "--preset paddle --seeds 3 --epochs 20 --backend ray": "--preset paddle --seeds 1 --epochs 1 --backend ray",
           "--preset paddle --trials-per-schedule 8 --seeds 3 --epochs 20 --out tuned":
               "--preset paddle --trials-per-schedule 2 --budget-rungs 1 --seeds 2 --epochs 1 --out tuned"}
HANG = 3600  # seconds: a hang, not a slow machine


def blocks(lang: str) -> list[str]:
    return [body for kind, body in BLOCK.findall(README.read_text()) if kind == lang]


def commands(block: str) -> list[str]:
    """The block's command lines: continuations joined, comments and setup lines dropped."""
    joined = re.sub(r"\s*\\\n\s*", " ", block)
    out = []
    for line in joined.splitlines():
        line = re.sub(r"\s+#.*$", "", line).strip()
        if line and not line.startswith("#") and not line.startswith(SETUP):
            out.append(line)
    return out


def test_every_block_has_a_language_and_there_are_some():
    kinds = [kind for kind, _ in BLOCK.findall(README.read_text())]
    assert kinds and all(kinds), kinds  # a block without a language would be skipped here
    assert {"python", "bash"} >= set(kinds)
    assert len(blocks("python")) >= 4 and len(blocks("bash")) >= 2


@pytest.mark.parametrize("i", range(len(blocks("python"))))
def test_python_block_runs(i, tmp_path, child_env):
    r = subprocess.run([sys.executable, "-c", blocks("python")[i]], cwd=tmp_path, env=child_env,
                       capture_output=True, text=True, timeout=HANG)
    assert r.returncode == 0, r.stderr


def test_bash_blocks_run_in_order(tmp_path, child_env):
    cmds = [c for b in blocks("bash") for c in commands(b)]
    assert sum(full in c for c in cmds for full in REDUCED) == len(REDUCED)  # the main job is there
    for cmd in cmds:
        for full, short in REDUCED.items():
            cmd = cmd.replace(full, short)
        argv = shlex.split(cmd)
        assert argv[0] in ("lrlab", "ray"), cmd  # lrlab's and a Ray cluster's, besides the setup
        r = subprocess.run(argv, cwd=tmp_path, env=child_env, capture_output=True, text=True,
                           timeout=HANG)
        assert r.returncode == 0, (cmd, r.stderr)
    for made in ("cmp/report.html", "cmp/results.sqlite", "tuned/report.html", "cmp-ray/results.sqlite", "lr.png", "cmp.png", "lr_find.png",
                 "pop/plateau-factor0.5-warmup10%-seed1/summary.json"):
        assert (tmp_path / made).is_file(), made


def test_commands_parse_continuations_and_skip_setup():
    block = "python3 -m venv .venv\nlrlab a \\\n    b   # note\n# comment\npython -m pytest\n"
    assert commands(block) == ["lrlab a b"]
