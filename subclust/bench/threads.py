"""Threads under load: the everyday jobs idle and beside a process busy with BLAS.

``subclust bench threads`` runs each job in a fresh Python process, twice:
with the machine as it is ("idle"), then beside a competitor, a process
that keeps every core busy with multi-threaded BLAS (a NumPy matmul loop,
started before the job and stopped after it). It prints one row per job:
seconds of ``fit`` idle and loaded, their ratio, the CPU seconds of the
loaded fit (threads that spin instead of computing show there), and the
one-minute load average when each started. A library whose own threads and BLAS threads
oversubscribe the cores, or whose BLAS threads spin waiting for each other,
slows down far more than the share of the machine it lost: the target is a
loaded/idle ratio of at most 2.5 for every job.

``--baseline PATH`` also runs every job with the ``subclust`` package found
under ``PATH`` (a checkout of another version), alternating with this one,
so that both are measured under the same load, and says whether its labels
equal this version's (same seeds). ``--small`` shrinks every job to seconds;
``--jobs`` picks them.
"""

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from subclust.utils.tables import Table

#: Jobs of the benchmark: name -> (description, small description).
JOBS = {
    "kss-embeddings": (
        "KSubspaces(10, dims=8) on 3,000 x 512 float32 MoLRG embeddings",
        "KSubspaces(10, dims=8) on 600 x 128 float32",
    ),
    "kss-large": (
        "KSubspaces(10, dims=8) on 200,000 x 128 float32 MoLRG",
        "KSubspaces(10, dims=8) on 20,000 x 32 float32, chunks of 8192",
    ),
    "ensc-mnist": (
        "SparseSubspaceClustering (elastic net) on MNIST scattering + PCA 500 (N=10,000)",
        "SparseSubspaceClustering on the first 500 MNIST images, scattering + PCA 50",
    ),
    "lsr-yaleb": (
        "LeastSquaresSubspaceClustering on Extended Yale B, 38 subjects (N=2,414)",
        "LeastSquaresSubspaceClustering on Extended Yale B, 3 subjects",
    ),
    "diffusion-molrg": (
        "DiffusionSubspaceClustering(3, dims=4) on an MoLRG of 3 x 500 points in 32-D",
        "DiffusionSubspaceClustering(3, dims=4, steps=50, n_init=2) on 3 x 60 points",
    ),
    "auto-mnist": (
        "AutoSubspaceClustering(10), the default method, on 2,000 MNIST images, scattering "
        "+ PCA 500",
        "AutoSubspaceClustering(10) on the first 500 MNIST images, scattering + PCA 50",
    ),
}

_COMPETITOR = """
import numpy as np
a = np.random.default_rng(0).standard_normal((1000, 1000))
while True:
    a @ a
"""

# The child process loads this file by path, so that the jobs run unchanged against any
# version of the package found first on its PYTHONPATH.
_CHILD = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("_subclust_bench_threads", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
module._child(sys.argv[2:])
"""


def add_arguments(parser):
    parser.add_argument(
        "--jobs", default=",".join(JOBS), help=f"comma-separated subset of {','.join(JOBS)}"
    )
    parser.add_argument("--small", action="store_true", help="small sizes: seconds per job")
    parser.add_argument("--repeats", type=int, default=1, help="best of this many runs")
    parser.add_argument(
        "--baseline", default=None, metavar="PATH",
        help="a directory holding another version of the subclust package, measured too",
    )  # fmt: skip
    parser.add_argument("--data-home", default=None)


def _data(name, small, data_home):
    """Data of a job, built with the public API that every version has."""
    from subclust import datasets

    if name.startswith("kss"):
        if name == "kss-embeddings":
            n, n_features = (600, 128) if small else (3000, 512)
        else:
            n, n_features = (20_000, 32) if small else (200_000, 128)
        X, _, _ = datasets.make_molrg(
            n_samples=n, n_components=10, n_features=n_features, dims=8, noise=0.05,
            dtype=np.float32, random_state=0,
        )  # fmt: skip
        return X
    if name in ("ensc-mnist", "auto-mnist"):
        if small:
            kwargs = dict(n_samples=500, n_components=50)
        elif name == "auto-mnist":
            kwargs = dict(n_samples=2000)
        else:
            kwargs = {}
        return datasets.mnist_scattering_pca(data_home=data_home, **kwargs).data
    if name == "lsr-yaleb":
        return datasets.load_yaleb(subjects=3 if small else None, data_home=data_home).data
    X, _, _ = datasets.make_molrg(
        n_samples=[60 if small else 500] * 3, n_features=32, dims=4, noise=0.05, random_state=0
    )
    return X


def _estimator(name, small):
    import subclust

    if name.startswith("kss"):
        return subclust.KSubspaces(10, dims=8, random_state=0)
    if name == "ensc-mnist":
        return subclust.SparseSubspaceClustering(10, random_state=0)
    if name == "lsr-yaleb":
        return subclust.LeastSquaresSubspaceClustering(3 if small else 38, random_state=0)
    if name == "auto-mnist":
        return subclust.AutoSubspaceClustering(10, random_state=0)
    from subclust.diffusion import DiffusionSubspaceClustering

    params = dict(steps=50, n_init=2) if small else {}
    return DiffusionSubspaceClustering(3, dims=4, random_state=0, **params)


def _child(argv):
    """In the child process: fit one job, print its seconds and a digest of its labels."""
    name, small, data_home, repeats = argv[0], argv[1] == "small", argv[2] or None, int(argv[3])
    X = _data(name, small, data_home)
    times = []
    for _ in range(repeats):
        estimator = _estimator(name, small)
        start, start_cpu = time.perf_counter(), time.process_time()
        estimator.fit(X)
        times.append((time.perf_counter() - start, time.process_time() - start_cpu))
    labels = np.ascontiguousarray(estimator.labels_, dtype=np.int64)
    digest = hashlib.sha256(labels.tobytes()).hexdigest()[:16]
    seconds, cpu_seconds = min(times)
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "labels": digest}))


def _package_root(path=None):
    """The directory to put on PYTHONPATH for the package at ``path`` (default: this one)."""
    if path is None:
        return str(Path(__file__).resolve().parents[2])
    root = Path(path).resolve()
    if not (root / "subclust" / "__init__.py").is_file():
        raise ValueError(f"--baseline {path}: no subclust package there (expected "
                         f"{root / 'subclust' / '__init__.py'}); give a checkout's root.")
    return str(root)


def _run_child(root, name, small, data_home, repeats):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [root, *filter(None, [os.environ.get("PYTHONPATH")])]
    ))  # fmt: skip
    args = [name, "small" if small else "full", data_home or "", str(repeats)]
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(Path(__file__).resolve()), *args],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"job {name} failed with the package at {root}: {last}")
    return json.loads(done.stdout.strip().splitlines()[-1])


class _Competitor:
    """A process keeping every core busy with BLAS while the context is open."""

    def __enter__(self):
        env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
        self.process = subprocess.Popen([sys.executable, "-c", _COMPETITOR], env=env)
        time.sleep(1.0)  # its BLAS threads started and busy
        return self

    def __exit__(self, *exc):
        self.process.terminate()
        self.process.wait()


def threads_table(jobs=tuple(JOBS), small=False, repeats=1, baseline=None, data_home=None):
    """Seconds of each job idle and beside a BLAS-busy process; one row per job and version.

    Parameters
    ----------
    jobs : sequence of str
        Names among :data:`JOBS`.
    small : bool, default=False
        Small sizes, for a check in seconds.
    repeats : int, default=1
        Each measurement is the best of this many fits.
    baseline : str, optional
        Root of a checkout of another version, measured in the same run.
    data_home : str, optional
        Data home of the real data sets.

    Returns
    -------
    table : Table
    """
    unknown = [j for j in jobs if j not in JOBS]
    if unknown:
        raise ValueError(f"unknown jobs {unknown}; choose among {', '.join(JOBS)}.")
    versions = {"this": _package_root()}
    if baseline is not None:
        versions["baseline"] = _package_root(baseline)
    table = Table(
        title=f"Fit seconds idle and beside a process busy with BLAS on every core "
        f"({os.cpu_count()} CPUs{', small sizes' if small else ''})"
    )
    for job in jobs:
        results = {}
        for loaded in (False, True):
            for version, root in versions.items():
                load = os.getloadavg()[0]
                if loaded:
                    with _Competitor():
                        out = _run_child(root, job, small, data_home, repeats)
                else:
                    out = _run_child(root, job, small, data_home, repeats)
                results[version, loaded] = (out, load)
        for version in versions:
            (idle, load_idle), (busy, load_busy) = results[version, False], results[version, True]
            row = dict(
                job=job, version=version, idle_s=idle["seconds"], loaded_s=busy["seconds"],
                ratio=busy["seconds"] / idle["seconds"], loaded_cpu_s=busy["cpu_seconds"],
                load_idle=load_idle, load_loaded=load_busy,
            )  # fmt: skip
            if baseline is not None:
                row["same_labels"] = idle["labels"] == results["this", False][0]["labels"]
            table.add_row(**row)
    for job in jobs:
        table.notes.append(f"{job}: {JOBS[job][1 if small else 0]}")
    table.notes.append(
        "target: ratio <= 2.5 for every job; load_* is the 1-minute load average at the start"
    )
    return table


def main(args):
    jobs = [j.strip() for j in args.jobs.split(",") if j.strip()]
    print(threads_table(jobs, args.small, args.repeats, args.baseline, args.data_home))
