"""Timing helpers shared by the benchmarks."""

import time

import numpy as np


def best_time(func, repeats=5):
    """Best wall time of ``repeats`` calls of ``func`` (seconds), after one warm-up call."""
    func()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return float(np.min(times))
