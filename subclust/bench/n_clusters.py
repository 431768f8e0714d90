"""The number of clusters and the subspace dimensions, estimated from the data.

``subclust bench n-clusters`` prints

1. one table, data set x method: the true number of classes and the
   number of clusters each affinity-based estimator finds with
   ``n_clusters=None`` (:func:`subclust.cluster.estimate_n_clusters` of its
   own affinity), every other parameter at its default, and ``auto``'s
   (its candidates' estimates; of the partitions about as consistent with
   subspaces, adjusted for chance, as the most consistent, the one with the
   largest refereed modularity), with ``auto_clusters``: how its clusters
   at that K relate to the classes (:func:`cluster_composition`), which
   tells a split or merged class, or a cluster of the samples the features
   fail on, from a wrong reading. The column ``rule_chosen_on`` says on
   which sets the estimation rule (its diffusion time) was chosen; the
   others measure it. ``auto``'s pick was fixed looking at every set of the
   table; other draws (``--seed``: motion scenes, the faces of
   ``yaleb-few``) measure it;
2. the subspace dimensions estimated on a noisy mixture of low-rank
   Gaussians: :func:`subclust.subspace.estimate_rank` of each true cluster,
   and :class:`subclust.cluster.KSubspaces` with ``dims=None``.

Select parts with ``--datasets``, ``--methods`` and ``--dims-samples``
(0 skips the second table). The large sets (``yaleb38``, ``coil20``) take
minutes per method on two cores.
"""

import time

import numpy as np
from sklearn.metrics.cluster import contingency_matrix

from subclust.bench._common import add_names_argument, load_dataset, parse_names
from subclust.utils.tables import Table

#: Data sets of :data:`subclust.bench._common.DATASETS` in the table.
DATASETS = (
    "molrg", "yaleb3", "yaleb5", "yaleb10", "digits", "yaleb15", "yaleb20", "yaleb38",
    "coil20-pixels", "coil20", "mnist1000", "mnist", "fashion-pixels", "fashion", "groups40",
    "motion2", "motion3", "yaleb10-embed", "yaleb38-embed", "yaleb-few",
)  # fmt: skip

#: The sets the estimation rule was chosen on; the others only measure it.
CHOSEN_ON = ("molrg", "yaleb5", "yaleb10", "digits")

DEFAULT_DATASETS = (
    "molrg,yaleb5,yaleb10,digits,yaleb3,yaleb15,yaleb20,coil20-pixels,mnist1000,fashion-pixels"
)


#: The methods of :data:`subclust.pipeline.METHODS` that estimate K, in the table.
METHODS = ("auto", "lsr", "ensc", "omp", "tsc", "lrr", "ekss")

DEFAULT_METHODS = "auto,lsr,ensc,omp,tsc"

#: Share of one class that makes a cluster pure in ``auto_clusters``.
PURE = 0.9


def cluster_composition(labels_true, labels_pred, *, pure=PURE, most_mixed=3):
    """One line on how a partition relates to the classes, to read an estimate of K.

    Parameters
    ----------
    labels_true, labels_pred : array-like of shape (n_samples,)
        The classes and the clusters.
    pure : float, default=0.9
        Share of one class that makes a cluster pure.
    most_mixed : int, default=3
        How many of the other clusters to describe, largest first.

    Returns
    -------
    text : str
        The number of pure clusters and of the classes they cover, then the
        size of each other cluster and the number of classes it mixes.

    Examples
    --------
    >>> cluster_composition([0, 0, 0, 0, 1, 1, 2, 2], [0, 0, 1, 1, 2, 2, 2, 2])
    '2 pure, covering 1 of 3 classes; 4 mixing 2'
    """
    counts = contingency_matrix(labels_pred, labels_true)  # clusters x classes
    sizes = counts.sum(axis=1)
    is_pure = counts.max(axis=1) >= pure * sizes
    covered = np.unique(counts[is_pure].argmax(axis=1)).size
    text = f"{is_pure.sum()} pure, covering {covered} of {counts.shape[1]} classes"
    mixed = sorted(zip(sizes[~is_pure].tolist(), (counts[~is_pure] > 0).sum(axis=1).tolist()),
                   reverse=True)  # fmt: skip
    if mixed:
        text += "; " + ", ".join(f"{size} mixing {n}" for size, n in mixed[:most_mixed])
        text += ", ..." if len(mixed) > most_mixed else ""
    return text


def add_arguments(parser):
    add_names_argument(parser, "--datasets", DATASETS, DEFAULT_DATASETS)
    add_names_argument(parser, "--methods", METHODS, DEFAULT_METHODS,
                       note="lrr and ekss are slow past a few hundred samples")  # fmt: skip
    parser.add_argument(
        "--dims-samples", type=int, default=100,
        help="samples per cluster of the dimension table; 0 skips it",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-home", default=None)


def n_clusters_table(datasets=DEFAULT_DATASETS.split(","), methods=DEFAULT_METHODS.split(","),
                     random_state=0, data_home=None):  # fmt: skip
    """True number of classes against each method's estimate; one row per data set."""
    from subclust.pipeline import make_estimator

    table = Table(title="Number of clusters estimated with n_clusters=None (true K vs found)")
    found = dict.fromkeys(methods, 0)
    for name in datasets:
        X, y = load_dataset(name, random_state=random_state, data_home=data_home)
        k = len(np.unique(y))
        row = {"dataset": name, "rule_chosen_on": "yes" if name in CHOSEN_ON else "no",
               "n_samples": len(y), "true_k": k}  # fmt: skip
        for method in methods:
            start = time.perf_counter()
            estimator = make_estimator(method, None, random_state=random_state)
            estimate = estimator.fit(X).n_clusters_
            row[method] = int(estimate)
            found[method] += estimate == k
            if method == "auto":
                row["auto_clusters"] = cluster_composition(y, estimator.labels_)
            print(f"  {name:13s} {method:5s} K={estimate:3d} (true {k}) in "
                  f"{time.perf_counter() - start:.1f} s", flush=True)  # fmt: skip
        table.add_row(**row)
    table.notes.append(
        "sets with the true K: " + ", ".join(f"{m} {found[m]}/{len(datasets)}" for m in methods)
    )
    table.notes.append(
        "rule: the k in [2, 50] maximizing exp(-10 lambda_k) - exp(-10 lambda_(k+1)) over the "
        "normalized Laplacian's eigenvalues (subclust.cluster.estimate_n_clusters)"
    )
    if "auto" in methods:
        table.notes.append(
            "auto: of the candidates' partitions about as consistent with subspaces (adjusted "
            "for chance) as the most consistent, the one with the largest refereed modularity; "
            "fixed on every set of this table, measured on other draws (--seed)"
        )
        table.notes.append(
            "auto_clusters: auto's clusters against the classes: how many are pure (at least "
            f"{PURE:.0%} one class) and how many classes those cover; the size of each other "
            "cluster and how many classes it mixes. More pure clusters than classes: classes "
            "split; one cluster mixing every class beside pure ones: often the samples the "
            "features fail on"
        )
    return table


def dims_table(n_per_cluster=100, n_clusters=4, dim=8, n_features=256, noise=0.05,
               random_state=0):
    """Subspace dimensions estimated on a noisy MoLRG: per true cluster and by KSubspaces."""
    from subclust.cluster import KSubspaces
    from subclust.datasets import make_molrg
    from subclust.metrics import clustering_accuracy
    from subclust.subspace import estimate_rank

    X, y, _ = make_molrg(n_samples=[n_per_cluster] * n_clusters, n_features=n_features,
                         dims=dim, noise=noise, random_state=random_state)  # fmt: skip
    table = Table(
        title=f"Subspace dimensions estimated: K={n_clusters}, d={dim}, n={n_features}, "
        f"noise {noise}, {n_per_cluster} samples per cluster"
    )
    per_cluster = [
        estimate_rank(np.linalg.svd(X[y == k], compute_uv=False), X[y == k].shape)
        for k in range(n_clusters)
    ]
    table.add_row(estimator="estimate_rank of each true cluster", true_dim=dim,
                  estimated_dims=" ".join(map(str, per_cluster)), accuracy="")  # fmt: skip
    kss = KSubspaces(n_clusters, dims=None, random_state=random_state).fit(X)
    table.add_row(estimator="KSubspaces(dims=None)", true_dim=dim,
                  estimated_dims=" ".join(str(U.shape[1]) for U in kss.bases_),
                  accuracy=round(clustering_accuracy(y, kss.labels_), 4))  # fmt: skip
    return table


def main(args):
    datasets = parse_names(args.datasets, DATASETS, "--datasets")
    methods = parse_names(args.methods, METHODS, "--methods")
    tables = []
    if datasets and methods:
        tables.append(n_clusters_table(datasets, methods, random_state=args.seed,
                                       data_home=args.data_home))  # fmt: skip
    if args.dims_samples:
        tables.append(dims_table(args.dims_samples, random_state=args.seed))
    print("\n\n".join(map(str, tables)))
