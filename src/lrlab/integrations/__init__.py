"""Thin adapters that drive a framework's optimizer from an lrlab schedule.

Each adapter lives in its own module and imports its framework there, so ``import lrlab``
(and this package) stays free of torch, paddle and keras:

- ``lrlab.integrations.torch``: ``LRLabScheduler`` and ``PlateauScheduler`` (torch ``LRScheduler``\\s)
- ``lrlab.integrations.paddle``: ``LRLabScheduler`` and ``PlateauScheduler`` (paddle ``LRScheduler``\\s)
- ``lrlab.integrations.keras``: ``LRLabSchedule`` (a Keras 3 ``LearningRateSchedule``)
"""


def schedule_config(schedule):
    """The schedule's config, or None when it holds a Python callable (a lambda schedule),
    which then cannot be checked when a saved state is loaded."""
    try:
        return schedule.to_config()
    except TypeError:
        return None
