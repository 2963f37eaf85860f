import os

# defaults for every test and doctest (a caller's own setting wins); doctests import what they use
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("KERAS_BACKEND", "torch")

try:  # no time limit per example: the suite passes on a busy machine (hypothesis' default is 200 ms)
    from hypothesis import settings

    settings.register_profile("lrlab", deadline=None)
    settings.load_profile("lrlab")
except ImportError:  # the test extra is not installed: doctests only
    pass
