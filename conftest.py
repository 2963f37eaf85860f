import os

# defaults for every test and doctest (a caller's own setting wins); doctests import what they use
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("KERAS_BACKEND", "torch")
