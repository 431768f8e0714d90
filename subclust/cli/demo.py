"""The default job: cluster an MoLRG and report how well the subspaces are recovered."""

import time

from subclust.cluster import KSubspaces
from subclust.datasets import make_molrg
from subclust.metrics import (
    adjusted_rand_score,
    clustering_accuracy,
    subspace_recovery_error,
)
from subclust.utils.tables import Table


def run_demo(n_features=48, n_clusters=3, dim=6, samples_per_cluster=60, noise=0.01,
             random_state=0):
    """Cluster samples of a mixture of low-rank Gaussians with K-subspaces.

    Returns
    -------
    table : subclust.utils.tables.Table
        Accuracy, ARI, subspace recovery error and time, for the default
        ('nn') and the random initialization.

    Examples
    --------
    >>> from subclust.cli.demo import run_demo
    >>> table = run_demo(samples_per_cluster=20)
    >>> table.rows[0]["accuracy"]
    1.0
    """
    X, y, true_bases = make_molrg(
        n_samples=[samples_per_cluster] * n_clusters,
        n_features=n_features,
        dims=dim,
        noise=noise,
        random_state=random_state,
    )
    table = Table(
        title=(
            f"K-subspaces on a mixture of {n_clusters} Gaussians of rank {dim} in R^{n_features} "
            f"({samples_per_cluster} samples each, noise {noise})"
        )
    )
    for init in ("nn", "random"):
        start = time.perf_counter()
        kss = KSubspaces(n_clusters, dims=dim, init=init, random_state=random_state).fit(X)
        seconds = time.perf_counter() - start
        table.add_row(
            init=init,
            accuracy=clustering_accuracy(y, kss.labels_),
            ari=adjusted_rand_score(y, kss.labels_),
            recovery_error=subspace_recovery_error(kss.bases_, true_bases),
            seconds=seconds,
        )
    return table
