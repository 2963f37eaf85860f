"""Thin adapters that drive a framework's optimizer from an lrlab schedule.

Each adapter lives in its own module and imports its framework there, so ``import lrlab``
(and this package) stays free of torch, paddle and keras:

- ``lrlab.integrations.torch``: ``LRLabScheduler`` and ``PlateauScheduler`` (torch ``LRScheduler``\\s)
- ``lrlab.integrations.paddle``: ``LRLabScheduler`` and ``PlateauScheduler`` (paddle ``LRScheduler``\\s)
- ``lrlab.integrations.keras``: ``LRLabSchedule`` (a Keras 3 ``LearningRateSchedule``)
"""
