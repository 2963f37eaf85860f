"""Pure schedules: ``step -> learning rate``, numpy only (never torch or paddle)."""

from . import compose, cyclic, decay, warmup  # noqa: F401  (register the schedules)
from .base import (REQUIRED, Schedule, create, decode, describe, from_config, lookup, names,
                   register, register_config)

__all__ = ["REQUIRED", "Schedule", "create", "decode", "describe", "from_config", "lookup",
           "names", "register", "register_config"]
