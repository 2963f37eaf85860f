import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def _doctest_names(doctest_namespace):
    import lrlab

    doctest_namespace["lrlab"] = lrlab
    doctest_namespace["create"] = lrlab.create
