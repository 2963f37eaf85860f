"""The comparison report: reads only the store.

``lrlab.report.stats`` holds the statistics of a schedule comparison as pure functions over
plain data (numpy and scipy; no torch, no sqlite): the report reads the store and hands them
lists and dicts.
"""
