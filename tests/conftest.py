"""Shared test helpers: the digits task (loaded once), a quarter of it for speed, and the
assertion that a CLI error is one line with exit status 2."""

from dataclasses import replace

import pytest


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
