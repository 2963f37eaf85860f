"""The ``lrlab`` package: importing it stays light, and no import goes in a circle."""

from __future__ import annotations

import ast
import json
import pathlib
import subprocess
import sys

import lrlab


def fresh(code: str):
    """Run ``code`` in a new interpreter; its stdout parsed as JSON."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_import_loads_no_framework():
    loaded = fresh(
        "import json, sys\n"
        "import lrlab, lrlab.schedules, lrlab.compat, lrlab.control, lrlab.integrations\n"
        "s = lrlab.from_config(lrlab.from_torch('StepLR', 0.1, step_size=2).to_config())\n"
        "p = lrlab.from_paddle('ReduceOnPlateau', learning_rate=0.1)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules}"
        " & {'torch', 'paddle', 'keras', 'tensorflow', 'jax'})))")
    assert loaded == []


def module_imports() -> dict[str, set[str]]:
    """``{module: the lrlab modules it imports}`` for every module of lrlab: at module level
    and inside functions (a lazy import hides a circle; it does not remove it)."""
    root = pathlib.Path(lrlab.__file__).parent
    files = {}
    for f in root.rglob("*.py"):
        parts = list(f.relative_to(root.parent).with_suffix("").parts)
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    graph = {}
    for name, f in files.items():
        package = name if f.name == "__init__.py" else name.rpartition(".")[0]
        found = set()
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = package.split(".")[:len(package.split(".")) - node.level + 1] if node.level else []
                mod = ".".join(base + ([node.module] if node.module else []))
                found |= {f"{mod}.{a.name}" if f"{mod}.{a.name}" in files else mod for a in node.names}
        graph[name] = found & files.keys()
    return graph


def test_no_module_imports_one_that_imports_it_back():
    graph = module_imports()
    assert {"lrlab.compat.base", "lrlab.compat.torch", "lrlab.compat.paddle"} <= graph["lrlab.compat"]
    for start in graph:  # depth-first from each module: it must never reach itself
        seen, todo = set(), list(graph[start])
        while todo:
            m = todo.pop()
            assert m != start, f"{start} imports a module that imports it back"
            if m not in seen:
                seen.add(m)
                todo += graph[m]


def test_every_module_imports_first_in_a_fresh_interpreter():
    """Each module imported first (lrlab's modules dropped between two; the frameworks stay
    loaded): a circle, hidden behind the order the package happens to import in, fails here."""
    names = sorted(m for m in module_imports() if m != "lrlab.__main__")
    failed = fresh(
        "import importlib, json, sys\n"
        f"names = {names!r}\n"
        "failed = []\n"
        "for name in names:\n"
        "    for m in [m for m in sys.modules if m == 'lrlab' or m.startswith('lrlab.')]:\n"
        "        del sys.modules[m]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception as e:\n"
        "        failed.append(f'{name}: {type(e).__name__}: {e}')\n"
        "print(json.dumps(failed))")
    assert len(names) > 60 and failed == []


def test_public_names():
    assert set(lrlab.__all__) >= {"create", "from_config", "names", "describe", "from_torch",
                                  "from_paddle", "Plateau", "EarlyStopping"}
    assert lrlab.create("step", base_lr=1.0, step_size=1, gamma=0.5).curve(3).tolist() == [1.0, 0.5, 0.25]


def test_the_schedules_load_no_experiment_and_compare_loads_when_used():
    loaded = fresh(
        "import json, sys\n"
        "import lrlab.schedules\n"
        "before = sorted(m for m in sys.modules if m == 'sqlite3' or m.startswith("
        "('lrlab.experiments', 'lrlab.training', 'lrlab.report', 'lrlab.stats')))\n"
        "from lrlab import compare\n"
        "print(json.dumps([before, compare.__module__, 'sqlite3' in sys.modules]))")
    assert loaded == [[], "lrlab.experiments.runner", True]
