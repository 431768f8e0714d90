"""Helpers shared by the benchmarks: timing, peak memory, fresh processes, lists of names."""

import json
import os
import resource
import subprocess
import sys
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


def peak_rss_mb():
    """Peak resident memory of this process (VmHWM: unlike ru_maxrss, not
    inherited from the parent across fork and exec)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(module, *args):
    """Run ``python -m module args...`` in a fresh process; the dict its last line prints.

    A fresh process measures what a fit costs alone (its peak memory, a cold
    start); the child ends with ``print(json.dumps(row))``.
    """
    out = subprocess.run(
        [sys.executable, "-m", module, *map(str, args)], check=True, capture_output=True,
        text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def parse_names(text, choices, option):
    """The names of a comma-separated option, each one of ``choices``."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in choices]
    if unknown:
        raise ValueError(f"{option}: unknown {unknown}; choose among {', '.join(choices)}.")
    return names
