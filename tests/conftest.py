"""Shared test helpers: the digits task (loaded once), a quarter of it for speed, the
environment of commands the tests start, and the assertion that a CLI error is one line with
exit status 2."""

import os
import sys
from dataclasses import replace
from pathlib import Path

import pytest

_ENV = dict(os.environ)  # before a test imports paddle, which sets OMP_NUM_THREADS=1 for the process


@pytest.fixture(scope="session")
def child_env():
    """The environment of commands a test starts: the session's as it was before paddle's
    import set ``OMP_NUM_THREADS=1`` (children use every core), this interpreter's ``bin``
    first on ``PATH``, matplotlib headless."""
    env = dict(_ENV, MPLBACKEND="Agg", KERAS_BACKEND="torch")
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


@pytest.fixture(scope="session")
def digits():
    from lrlab.training.tasks import load_task

    return load_task("digits")


@pytest.fixture(scope="session")
def small(digits):
    """A quarter of digits' train and val splits, for speed."""
    from lrlab.training.tasks import Split

    cut = lambda s: Split(s.x[: len(s) // 4], s.y[: len(s) // 4])  # noqa: E731
    return replace(digits, train=cut(digits.train), val=cut(digits.val))


@pytest.fixture(scope="session")
def tiny_csv(tmp_path_factory):
    """A two-class CSV of 80 rows (features a, b; column label): trials on it take a fraction
    of a second."""
    path = tmp_path_factory.mktemp("csv") / "t.csv"
    rows = [f"{(i * 37) % 100 / 100},{(i * 11) % 50 / 50},{'yes' if (i * 37) % 100 > 50 else 'no'}"
            for i in range(80)]
    path.write_text("a,b,label\n" + "\n".join(rows) + "\n")
    return path


def _assert_one_line_error(result, expected: str) -> None:
    err = result.stderr
    assert result.exit_code == 2, (result.exit_code, result.output, err)
    assert err.count("\n") == 1 and err.startswith("lrlab: error: "), err
    assert expected in err and "Traceback" not in err, err
    assert result.stdout == "", result.stdout


@pytest.fixture(scope="session")
def one_line_error():
    """``one_line_error(result, expected)``: a click ``CliRunner`` result that failed the lrlab
    way: exit 2, one ``lrlab: error: ...`` line on stderr containing ``expected``, no
    traceback, nothing on stdout."""
    return _assert_one_line_error
