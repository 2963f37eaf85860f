import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("KERAS_BACKEND", "torch")


@pytest.fixture(autouse=True)
def _doctest_names(doctest_namespace):
    import lrlab

    doctest_namespace["lrlab"] = lrlab
    doctest_namespace["create"] = lrlab.create
    doctest_namespace["from_torch"] = lrlab.from_torch
    doctest_namespace["from_paddle"] = lrlab.from_paddle
    doctest_namespace["Plateau"] = lrlab.Plateau
    doctest_namespace["EarlyStopping"] = lrlab.EarlyStopping
