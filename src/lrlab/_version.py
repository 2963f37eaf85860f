"""lrlab's version: a module of its own, so the modules that record it import nothing that
imports them back."""

__version__ = "0.1.0"
