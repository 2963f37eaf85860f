"""The user's own code, where the user named it as code: ``--trainer file.py:train``,
``--model module:make``. Never from a config file (a config is data; ``spec.load`` refuses a
code reference in one).

``load_function("path/to/file.py:fn")`` runs the file as a module (its folder first on
``sys.path``, as ``python file.py`` would) and returns ``fn``; ``load_function("pkg.mod:fn")``
imports ``pkg.mod``. Anything wrong is one ``ValueError`` line: no such file or module, an
exception while running it (its last line), no such function, not callable.
``identity(fn)`` is what a store records of it: ``{"ref": "file.py:fn", "sha256": digest of
the file}`` (a function with no file: its module and name, digest None).

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "m.py")
    >>> _ = open(path, "w").write("def double(x):\\n    return 2 * x\\n")
    >>> load_function(f"{path}:double")(21)
    42
    >>> load_function(f"{path}:triple")
    Traceback (most recent call last):
    ...
    ValueError: ...m.py has no function 'triple' (it defines: double)
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import inspect
import sys
import traceback
from collections.abc import Callable
from pathlib import Path


USER_ERRORS = (Exception, SystemExit)  # what the user's code may raise that lrlab reports (a
# KeyboardInterrupt is the user stopping lrlab: it goes through)


def last_line(e: BaseException, limit: int = 500) -> str:
    """An exception's last line as Python prints it (``ZeroDivisionError: division by zero``),
    on one line, at most ``limit`` characters, any text encodable (a lone surrogate from a
    file name is escaped).

        >>> last_line(ValueError("bad\\nvalue"))
        'ValueError: bad value'
    """
    return clean(traceback.format_exception_only(type(e), e)[-1], limit)


def clean(text: str, limit: int = 500) -> str:
    """``text`` on one line of at most ``limit`` characters, encodable as UTF-8."""
    text = " ".join(str(text).split()).encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= limit else text[:limit - 3] + "..."


def load_function(ref: str, what: str = "function") -> Callable:
    """The function ``ref`` names: ``FILE.py:NAME`` or ``MODULE:NAME`` (see the module
    docstring); ``what`` names the option in errors (``--trainer``)."""
    where, sep, name = str(ref).rpartition(":")
    if not sep or not where or not name.isidentifier():
        raise ValueError(f"{what}: give FILE.py:FUNCTION or MODULE:FUNCTION, got {ref!r}")
    if where.endswith(".py") or "/" in where or "\\" in where:
        path = Path(where).expanduser()
        if not path.is_file():
            raise ValueError(f"{what}: {where}: no such file")
        module_name = f"lrlab_user_{_digest(path)[:16]}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise ValueError(f"{what}: {where}: not a Python file")
        module = sys.modules.get(module_name)
        if module is None:
            module = importlib.util.module_from_spec(spec)
            folder = str(path.resolve().parent)
            if folder not in sys.path:
                sys.path.insert(0, folder)
            sys.modules[module_name] = module
            try:
                spec.loader.exec_module(module)
            except USER_ERRORS as e:
                del sys.modules[module_name]
                raise ValueError(f"{what}: running {where} raised {last_line(e)}") from None
    else:
        try:
            module = importlib.import_module(where)
        except ModuleNotFoundError as e:
            if e.name and where.startswith(e.name):
                raise ValueError(f"{what}: no module named {where!r} (a file needs its .py)") from None
            raise ValueError(f"{what}: importing {where} raised {last_line(e)}") from None
        except USER_ERRORS as e:
            raise ValueError(f"{what}: importing {where} raised {last_line(e)}") from None
    fn = getattr(module, name, None)
    if fn is None:
        defined = sorted(k for k, v in vars(module).items()
                         if inspect.isfunction(v) and v.__module__ == module.__name__)
        raise ValueError(f"{what}: {where} has no function {name!r} (it defines: "
                         f"{', '.join(defined) or 'no functions'})")
    if not callable(fn):
        raise ValueError(f"{what}: {where}:{name} is a {type(fn).__name__}, not a function")
    return fn


def _digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def identity(fn: Callable, ref: str | None = None) -> dict:
    """What a store records of the user's function ``fn``: ``ref`` (as the user named it, else
    ``module:qualname``) and the sha256 of the file that defines it (None without one)."""
    target = fn
    while isinstance(target, functools.partial):  # a partial: the function it calls
        target = target.func
    if not (inspect.isfunction(target) or inspect.ismethod(target) or inspect.isbuiltin(target)):
        target = type(target)  # a callable object: its class
    if ref is None:
        ref = f"{getattr(target, '__module__', '?')}:{getattr(target, '__qualname__', '?')}"
    try:
        source = inspect.getsourcefile(target)
    except TypeError:
        source = None
    return {"ref": str(ref), "sha256": _digest(Path(source)) if source and Path(source).is_file()
            else None}
