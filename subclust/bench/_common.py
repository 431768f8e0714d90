"""Helpers shared by the benchmarks: timing, peak memory, fresh processes, data files,
lists of names."""

import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from subclust.datasets import make_molrg, random_bases


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


def write_molrg(path, n_samples, n_features, n_clusters, dim, noise, block=100_000, random_state=0):
    """Write float32 MoLRG samples to ``path`` (.npy), labels to ``path``.labels.npy, in blocks."""
    bases = random_bases(n_features, [dim] * n_clusters, random_state=random_state)
    X = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n_samples, n_features))
    labels = np.empty(n_samples, dtype=np.int16)
    for i, start in enumerate(range(0, n_samples, block)):
        stop = min(start + block, n_samples)
        Xb, yb, _ = make_molrg(
            n_samples=stop - start, bases=bases, noise=noise, dtype=np.float32,
            random_state=random_state + 1 + i,
        )
        X[start:stop], labels[start:stop] = Xb, yb
    X.flush()
    del X
    np.save(str(path) + ".labels.npy", labels)


@contextlib.contextmanager
def molrg_file(workdir, n_samples, n_features, n_clusters, dim, noise):
    """A :func:`write_molrg` file in a temporary folder under ``workdir``, removed after.

    ``workdir`` None: the system's temporary directory.
    """
    with tempfile.TemporaryDirectory(dir=workdir) as folder:
        path = Path(folder) / f"molrg_{n_samples}x{n_features}.npy"
        write_molrg(path, n_samples, n_features, n_clusters, dim, noise)
        yield path
