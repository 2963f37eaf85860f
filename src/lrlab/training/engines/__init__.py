"""Engines: turn a population of trial configs into records, through a sink.

``sequential`` is the reference loop (one trial after another)."""

from .sequential import train_population, train_trial

__all__ = ["train_population", "train_trial"]
