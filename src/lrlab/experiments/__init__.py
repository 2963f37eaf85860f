"""Experiments: where populations of trials are run and stored (run folders; later the SQLite
store of ``lrlab compare``)."""
