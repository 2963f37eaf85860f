"""Exact reproductions of PyTorch's and PaddlePaddle's own schedulers (numpy only)."""

from .base import from_paddle, from_torch

__all__ = ["from_paddle", "from_torch"]
