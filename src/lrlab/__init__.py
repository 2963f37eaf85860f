"""lrlab: which learning-rate schedule works best for my model and data, and how do I use it.

    >>> import lrlab
    >>> s = lrlab.create("cosine", base_lr=0.1, total_steps=100)
    >>> round(s(50), 6)
    0.05

``import lrlab`` imports neither torch nor paddle, nor the experiments (``lrlab.compare`` and
``lrlab.tune`` load them when first used); the adapters live in
``lrlab.integrations.torch`` / ``.paddle`` / ``.keras``.
"""

from ._version import __version__
from .compat import from_paddle, from_torch
from .control import EarlyStopping, Improvement, Plateau
from .schedules import Schedule, create, describe, from_config, names

__all__ = ["EarlyStopping", "Improvement", "Plateau", "Schedule", "__version__", "compare",
           "create", "describe", "from_config", "from_paddle", "from_torch", "names", "tune"]


def __getattr__(name: str):
    """``lrlab.compare`` and ``lrlab.tune``, imported when first used: the schedules alone
    never load the experiments (SQLite, the store, the runner)."""
    if name == "compare":
        from .experiments.runner import compare

        return compare
    if name == "tune":
        from .experiments.tune import tune

        return tune
    raise AttributeError(f"module 'lrlab' has no attribute {name!r}")
