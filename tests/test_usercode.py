"""The user's code named as code (``lrlab.usercode``): files, modules, one-line errors."""

import hashlib
import sys

import pytest

from lrlab.usercode import identity, load_function


def test_a_file_and_a_module(tmp_path):
    (tmp_path / "helper.py").write_text("K = 3\n")
    f = tmp_path / "loop.py"
    f.write_text("from helper import K\n\ndef train(x):\n    return x * K\n")
    fn = load_function(f"{f}:train", "--trainer")
    assert fn(2) == 6  # its folder is on sys.path, as `python loop.py` would have it
    assert identity(fn, f"{f}:train") == {"ref": f"{f}:train",
                                          "sha256": hashlib.sha256(f.read_bytes()).hexdigest()}
    assert load_function(f"{f}:train") is fn  # one module per file content
    assert load_function("json:dumps")([1]) == "[1]"
    assert identity(load_function("json:dumps"))["ref"] == "json:dumps"


@pytest.mark.parametrize("ref, message", [
    ("train", "give FILE.py:FUNCTION or MODULE:FUNCTION, got 'train'"),
    ("nowhere.py:train", "--trainer: nowhere.py: no such file"),
    ("no_such_module_x:train", "no module named 'no_such_module_x'"),
    ("{dir}/bad.py:train", "running {dir}/bad.py raised SyntaxError"),
    ("{dir}/boom.py:train", "raised ZeroDivisionError: division by zero"),
    ("{dir}/ok.py:missing", "has no function 'missing' (it defines: train)"),
    ("{dir}/ok.py:VALUE", "ok.py:VALUE is a int, not a function"),
    ("{dir}/ok.py:1x", "give FILE.py:FUNCTION"),
])
def test_bad_references_are_one_line(tmp_path, ref, message):
    (tmp_path / "bad.py").write_text("def train(:\n")
    (tmp_path / "boom.py").write_text("1 / 0\n")
    (tmp_path / "ok.py").write_text("VALUE = 1\n\ndef train(t):\n    pass\n")
    with pytest.raises(ValueError) as e:
        load_function(ref.format(dir=tmp_path), "--trainer")
    assert message.format(dir=tmp_path) in str(e.value) and "\n" not in str(e.value)
    assert not any(m.startswith("lrlab_user_") and getattr(sys.modules[m], "__file__", "").endswith(
        ("bad.py", "boom.py")) for m in list(sys.modules))


def test_the_identity_of_callable_objects_and_partials_is_stable():
    import functools

    class Loop:
        def __call__(self, trial):
            return None

    def train(trial, lr=1):
        return None

    a, b = identity(Loop()), identity(Loop())
    assert a == b and a["ref"].endswith("Loop") and "0x" not in a["ref"]
    assert identity(functools.partial(train, lr=2))["ref"] == identity(train)["ref"]
    assert identity(train)["sha256"] == hashlib.sha256(open(__file__, "rb").read()).hexdigest()


def test_a_file_that_exits_on_import_is_one_line(tmp_path):
    (tmp_path / "quits.py").write_text("import sys\nsys.exit(0)\n")
    with pytest.raises(ValueError, match="running .*quits.py raised SystemExit: 0"):
        load_function(f"{tmp_path / 'quits.py'}:train", "--trainer")
