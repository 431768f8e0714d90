"""Sparse subspace clustering at scale: 100,000 points, never an N x N matrix.

``subclust bench ssc-scale`` writes float32 MoLRG samples (default
100,000 x 128, K=10, d=8, noise 0.05) to a ``.npy`` file, then fits
:class:`subclust.SparseSubspaceClustering` with each method, each in a fresh
process so that its peak resident memory is its own:

- ``omp``: SSC-OMP, ``n_nonzero`` atoms per sample;
- ``elastic_net``: EnSC by the active-set method (``alpha``, ``l1_ratio``);
- with ``--dask``, the same two with their column blocks run as tasks of a
  ``LocalCluster`` (2 workers, 1 thread each, in the same process so that
  its peak RSS counts them).

Both use the ``'symmetric'`` affinity ``|C| + |C|^T`` (sparse, about
``2 n_nonzero`` entries per row) and the sparse LOBPCG eigensolver of
:func:`subclust.cluster.spectral_labels`. It prints, per method, the wall time
of the self-expression and of the spectral step (affinity, embedding,
labels), peak RSS, ACC and NMI, and the self-expression time in units of one
blocked ``X X^T`` pass measured in the same process (OMP needs about
``n_nonzero`` such passes, one per greedy step).
"""

import json
import os
import sys
import time

import numpy as np

from subclust import SparseSubspaceClustering
from subclust.bench._common import molrg_file, peak_rss_mb, run_child
from subclust.utils.tables import Table

METHODS = ("omp", "elastic_net")


def add_arguments(parser):
    parser.add_argument("--n-samples", type=int, default=100_000)
    parser.add_argument("--n-features", type=int, default=128)
    parser.add_argument("--n-clusters", type=int, default=10)
    parser.add_argument("--dim", type=int, default=8)
    parser.add_argument("--noise", type=float, default=0.05)
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--n-nonzero", type=int, default=10, help="OMP atoms per sample")
    parser.add_argument(
        "--alpha", type=float, default=10.0,
        help="elastic-net fit weight (the estimator's default, 50, fits the noise: see the notes)",
    )
    parser.add_argument("--l1-ratio", type=float, default=0.9)
    parser.add_argument(
        "--dask", action="store_true", help="also run each method on a Dask LocalCluster"
    )
    parser.add_argument(
        "--workdir", help="where to write the data (default: a temporary directory)"
    )


class _TimedSSC(SparseSubspaceClustering):
    """SparseSubspaceClustering that notes when each step of ``fit`` starts."""

    def _representation(self, X):
        self._t_representation = time.perf_counter()
        out = super()._representation(X)
        self._t_affinity = time.perf_counter()
        return out

    def _fit_bases(self, X, labels):
        self._t_bases = time.perf_counter()
        super()._fit_bases(X, labels)


def run_method(method, backend, path, n_clusters, params):
    """Fit in this process; return times, peak RSS and scores as a dict."""
    from subclust.utils.parallel import blas_threads, cpu_budget
    from subclust.metrics import clustering_accuracy, normalized_mutual_info_score

    X = np.load(path)
    y = np.load(str(path) + ".labels.npy")
    ssc = _TimedSSC(
        n_clusters=n_clusters, solver=method, affinity="symmetric", backend=backend,
        random_state=0, **params,
    )
    if backend == "dask":
        from distributed import Client, LocalCluster

        # In-process workers, one thread each with one BLAS thread: this process's
        # peak RSS includes them, and one worker per core allowed, without oversubscription.
        with LocalCluster(
            n_workers=cpu_budget(), threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster, Client(cluster), blas_threads(1):
            start = time.perf_counter()
            ssc.fit(X)
            end = time.perf_counter()
    else:
        start = time.perf_counter()
        ssc.fit(X)
        end = time.perf_counter()
    C = ssc.representation_matrix_
    peak_rss = peak_rss_mb()
    # The unit, in the same process and under the same load as the fit.
    unit = gram_pass_seconds(X)
    return {
        "method": method,
        "backend": backend,
        "n_samples": int(X.shape[0]),
        "self_expression_s": ssc._t_affinity - ssc._t_representation,
        "spectral_s": ssc._t_bases - ssc._t_affinity,
        "total_s": end - start,
        "peak_rss_mb": peak_rss,
        "accuracy": clustering_accuracy(y, ssc.labels_),
        "nmi": float(normalized_mutual_info_score(y, ssc.labels_)),
        "nnz_per_row": C.nnz / C.shape[0],
        "n_iter": int(ssc.n_iter_),
        "gram_pass_s": unit,
        "gram_passes": (ssc._t_affinity - ssc._t_representation) / unit,
        "load_1min": os.getloadavg()[0],
    }


def gram_pass_seconds(X, block=1024):
    """Wall time of one blocked ``X X^T`` pass, the unit of the column-block solvers."""
    out = np.empty((block, X.shape[0]), dtype=X.dtype)
    start = time.perf_counter()
    for a in range(0, X.shape[0], block):
        b = min(a + block, X.shape[0])
        np.matmul(X[a:b], X.T, out=out[: b - a])
    return time.perf_counter() - start


def scale_table(workdir, n_samples, n_features, n_clusters, dim, noise, methods,
                n_nonzero=10, alpha=10.0, l1_ratio=0.9, dask=False):
    table = Table(
        title=f"SparseSubspaceClustering on {n_samples} x {n_features} float32 MoLRG points, "
        f"K={n_clusters}, d={dim}, noise {noise}"
    )
    params = {
        "omp": {"n_nonzero": n_nonzero},
        "elastic_net": {"alpha": alpha, "l1_ratio": l1_ratio},
    }
    runs = [(m, "local") for m in methods] + ([(m, "dask") for m in methods] if dask else [])
    with molrg_file(workdir, n_samples, n_features, n_clusters, dim, noise) as path:
        for method, backend in runs:
            table.add_row(**run_child("subclust.bench.ssc_scale", method, backend, path,
                                      n_clusters, json.dumps(params[method])))
    table.notes.append(
        f"omp: n_nonzero={n_nonzero}; elastic_net: alpha={alpha}, l1_ratio={l1_ratio}; both with "
        "the 'symmetric' affinity and the sparse LOBPCG eigensolver. gram_passes: self-expression "
        "time over the time of one blocked X X^T pass (gram_pass_s) measured in the same process "
        "right after the fit (OMP needs about n_nonzero passes, one per greedy step). "
        "load_1min: the machine's load average at the end of the run (timings on a shared "
        "machine). Targets at 100,000 points: peak RSS under 8 GB, "
        "ACC >= 0.95"
    )
    return table


def main(args):
    print(scale_table(
        args.workdir, args.n_samples, args.n_features, args.n_clusters, args.dim, args.noise,
        args.methods, n_nonzero=args.n_nonzero, alpha=args.alpha, l1_ratio=args.l1_ratio,
        dask=args.dask,
    ))


if __name__ == "__main__":
    method, backend, path, n_clusters, params = sys.argv[1:6]
    print(json.dumps(run_method(method, backend, path, int(n_clusters), json.loads(params))))
