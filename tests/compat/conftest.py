"""``fuzz_compat.py`` (the seeded differential fuzz and the callables the cases use) made
importable as ``fuzz_compat`` for the tests here (tests are not a package)."""

import importlib.util
import sys
from pathlib import Path

if "fuzz_compat" not in sys.modules:
    _spec = importlib.util.spec_from_file_location("fuzz_compat", Path(__file__).with_name("fuzz_compat.py"))
    _module = importlib.util.module_from_spec(_spec)
    sys.modules["fuzz_compat"] = _module
    _spec.loader.exec_module(_module)
