"""K-subspaces at scale: in memory, memory-mapped, and on a Dask cluster.

``subclust bench kss-scale`` writes float32 MoLRG samples (default
1,000,000 x 128, K=10, d=8, noise 0.05) to a ``.npy`` file in chunks, then
fits KSubspaces on them three ways, each in a fresh process so that its peak
resident memory is its own:

- ``memory``: the array loaded whole;
- ``memmap``: the file memory-mapped and read ``chunk_size`` rows at a time;
- ``dask``: a dask array whose blocks are read from the file by the workers
  of a ``LocalCluster`` (2 workers, 1 thread each).

It prints wall time (fit only), peak RSS and clustering accuracy per mode.
"""

import json
import sys
import time

import numpy as np

from subclust.bench._common import molrg_file, peak_rss_mb, run_child
from subclust.utils.tables import Table

MODES = ("memory", "memmap", "dask")


def add_arguments(parser):
    parser.add_argument("--n-samples", type=int, default=1_000_000)
    parser.add_argument("--n-features", type=int, default=128)
    parser.add_argument("--n-clusters", type=int, default=10)
    parser.add_argument("--dim", type=int, default=8)
    parser.add_argument("--noise", type=float, default=0.05)
    parser.add_argument("--n-init", type=int, default=10,
                        help="KSubspaces restarts (its default: 10)")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--workdir",
                        help="where to write the data (default: a temporary directory)")


def _read_rows(path, start, stop):
    return np.asarray(np.load(path, mmap_mode="r")[start:stop])


def _dask_array_from_npy(path, rows_per_block):
    """A dask array whose blocks each read their own rows of a .npy file."""
    import dask
    import dask.array as da

    shape = np.load(path, mmap_mode="r").shape
    blocks = [
        da.from_delayed(
            dask.delayed(_read_rows)(str(path), a, min(a + rows_per_block, shape[0])),
            shape=(min(a + rows_per_block, shape[0]) - a, shape[1]),
            dtype=np.float32,
        )
        for a in range(0, shape[0], rows_per_block)
    ]
    return da.concatenate(blocks, axis=0)


def run_mode(mode, path, n_clusters, dim, n_init):
    """Fit in this process; return wall time, peak RSS and accuracy as a dict."""
    from subclust import KSubspaces
    from subclust.metrics import clustering_accuracy

    y = np.load(str(path) + ".labels.npy")
    baseline = peak_rss_mb()
    kss = KSubspaces(n_clusters, dims=dim, n_init=n_init, random_state=0)
    worker_rss = None
    if mode == "dask":
        from distributed import Client, LocalCluster

        from subclust.utils.parallel import cpu_budget

        # One single-threaded worker process per core allowed (Dask's nannies set one BLAS
        # thread in their workers).
        with LocalCluster(
            n_workers=cpu_budget(), threads_per_worker=1, dashboard_address=None
        ) as cluster:
            with Client(cluster) as client:
                X = _dask_array_from_npy(path, 65536)
                start = time.perf_counter()
                kss.fit(X)
                seconds = time.perf_counter() - start
                worker_rss = max(client.run(peak_rss_mb).values())
    else:
        X = np.load(path, mmap_mode="r" if mode == "memmap" else None)
        start = time.perf_counter()
        kss.fit(X)
        seconds = time.perf_counter() - start
    np.save(f"{path}.{mode}.labels.npy", kss.labels_)
    return {
        "mode": mode,
        "seconds": seconds,
        "baseline_rss_mb": baseline,
        "peak_rss_mb": peak_rss_mb(),
        "worker_peak_rss_mb": worker_rss,
        "accuracy": clustering_accuracy(y, kss.labels_),
        "n_iter": kss.n_iter_,
    }


def scale_table(workdir, n_samples, n_features, n_clusters, dim, noise, n_init, modes):
    data_mb = n_samples * n_features * 4 / 2**20
    table = Table(
        title=f"KSubspaces on {n_samples} x {n_features} float32 MoLRG points ({data_mb:.0f} MB), "
        f"K={n_clusters}, d={dim}, noise {noise}, n_init={n_init}"
    )
    with molrg_file(workdir, n_samples, n_features, n_clusters, dim, noise) as path:
        for mode in modes:
            row = run_child("subclust.bench.kss_scale", mode, path, n_clusters, dim, n_init)
            row["rss_over_data"] = row["peak_rss_mb"] / data_mb
            labels = np.load(f"{path}.{mode}.labels.npy")
            first = np.load(f"{path}.{modes[0]}.labels.npy")
            row["same_labels_as_first"] = bool(np.array_equal(labels, first))
            table.add_row(**row)
    table.notes.append(
        "baseline_rss_mb: the process after imports, before reading data. Targets: memory "
        "under 120 s with peak RSS under 2x the data; memmap peak RSS under 1 GB beyond "
        "the chunk buffers; the same labels in every mode"
    )
    return table


def main(args):
    print(scale_table(args.workdir, args.n_samples, args.n_features, args.n_clusters, args.dim,
                      args.noise, args.n_init, args.modes))


if __name__ == "__main__":
    mode, path, n_clusters, dim, n_init = sys.argv[1:6]
    print(json.dumps(run_mode(mode, path, int(n_clusters), int(dim), int(n_init))))
