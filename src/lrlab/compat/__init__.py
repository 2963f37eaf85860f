"""Exact reproductions of PyTorch's and PaddlePaddle's own schedulers (numpy only).

Importing this package fills both class tables (``base.TORCH`` and ``base.PADDLE``), so a saved
``from_torch`` / ``from_paddle`` config rebuilds with ``lrlab.from_config`` in any process.
Neither torch nor paddle is imported: ``compat.torch`` and ``compat.paddle`` are numpy only,
and so are what they share: ``compat.quirks`` (the cosine recursion both frameworks step,
warm restarts and cyclic LRs with their looser ranges, the steps where they raise) and
``compat.torch_steps`` (torch's schedulers transcribed, stepped on one param group, for the
``ChainedScheduler`` / ``SequentialLR`` combinations that have no closed form).
"""

from . import paddle, torch  # noqa: F401  (each registers its builders in base.PADDLE / base.TORCH)
from .base import from_paddle, from_torch

__all__ = ["from_paddle", "from_torch"]
