"""Benchmarks run by ``subclust bench NAME``; each prints a table.

Speed targets are ratios measured in the same run (these machines are noisy),
never absolute timings in unit tests.
"""
