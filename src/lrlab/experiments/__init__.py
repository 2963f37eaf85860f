"""Experiments: where populations of trials are defined (``spec``), run (``runner``: ``lrlab
compare``; ``tune``: ``lrlab tune``; ``backends``: worker processes and Ray; ``trainers``: your
own loop) and stored (``store``: the SQLite store, its one writer and reader; ``runfolder``:
one folder per trial, ``lrlab train``)."""
