"""The number of clusters and the subspace dimensions, estimated from the data.

``subclust bench n-clusters`` prints

1. one table, data set x method: the true number of classes and the
   number of clusters each affinity-based estimator finds with
   ``n_clusters=None`` (:func:`subclust.cluster.estimate_n_clusters` of its
   own affinity), every other parameter at its default. The column
   ``rule_chosen_on`` says on which sets the estimation rule (its
   diffusion time) was chosen; the others measure it;
2. the subspace dimensions estimated on a noisy mixture of low-rank
   Gaussians: :func:`subclust.subspace.estimate_rank` of each true cluster,
   and :class:`subclust.cluster.KSubspaces` with ``dims=None``.

Select parts with ``--datasets``, ``--methods`` and ``--dims-samples``
(0 skips the second table). The large sets (``yaleb38``, ``coil20``) take
minutes per method on two cores.
"""

import time

import numpy as np

from subclust.bench._common import parse_names
from subclust.utils.tables import Table

DATASETS = {
    "molrg": "6 subspaces of dimension 4 in R^40, 50 samples each, noise 0.05",
    "yaleb3": "Extended Yale B, subjects 1-3 (N=192, 48x42 pixels)",
    "yaleb5": "Extended Yale B, subjects 1-5 (N=320)",
    "yaleb10": "Extended Yale B, subjects 1-10 (N=640)",
    "digits": "scikit-learn's 8x8 digits (N=1797, pixels)",
    "yaleb15": "Extended Yale B, subjects 1-15 (N=944)",
    "yaleb20": "Extended Yale B, subjects 1-20 (N=1262)",
    "yaleb38": "Extended Yale B, 38 subjects (N=2414)",
    "coil20-pixels": "COIL-20 (N=1440, 32x32 pixels)",
    "coil20": "COIL-20, scattering + PCA 500",
    "mnist1000": "1000 MNIST test images drawn at random, scattering + PCA 500",
    "fashion": "the 900 Fashion-MNIST images of the sprite, pixels",
}

#: The sets the estimation rule was chosen on; the others only measure it.
CHOSEN_ON = ("molrg", "yaleb5", "yaleb10", "digits")

DEFAULT_DATASETS = (
    "molrg,yaleb5,yaleb10,digits,yaleb3,yaleb15,yaleb20,coil20-pixels,mnist1000,fashion"
)


def _methods():
    from subclust.cluster import (
        EnsembleKSubspaces,
        LeastSquaresSubspaceClustering,
        LowRankRepresentation,
        SparseSubspaceClustering,
        ThresholdedSubspaceClustering,
    )

    return {
        "lsr": lambda seed: LeastSquaresSubspaceClustering(None, random_state=seed),
        "ensc": lambda seed: SparseSubspaceClustering(None, random_state=seed),
        "omp": lambda seed: SparseSubspaceClustering(None, solver="omp", random_state=seed),
        "tsc": lambda seed: ThresholdedSubspaceClustering(None, random_state=seed),
        "lrr": lambda seed: LowRankRepresentation(None, random_state=seed),
        "ekss": lambda seed: EnsembleKSubspaces(None, random_state=seed),
    }


DEFAULT_METHODS = "lsr,ensc,omp,tsc"


def add_arguments(parser):
    parser.add_argument(
        "--datasets", default=DEFAULT_DATASETS,
        help=f"comma-separated subset of {','.join(DATASETS)}",
    )  # fmt: skip
    parser.add_argument(
        "--methods", default=DEFAULT_METHODS,
        help="comma-separated subset of lsr,ensc,omp,tsc,lrr,ekss (lrr and ekss are slow "
        "past a few hundred samples)",
    )  # fmt: skip
    parser.add_argument(
        "--dims-samples", type=int, default=100,
        help="samples per cluster of the dimension table; 0 skips it",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-home", default=None)


def load(name, random_state=0, data_home=None):
    """Data matrix and labels of a set of :data:`DATASETS`."""
    from subclust import datasets

    if name == "molrg":
        X, y, _ = datasets.make_molrg(
            n_samples=[50] * 6, n_features=40, dims=4, noise=0.05, random_state=random_state
        )
        return X, y
    if name.startswith("yaleb"):
        subjects = int(name[len("yaleb"):])
        bunch = datasets.load_yaleb(subjects=None if subjects == 38 else subjects,
                                    data_home=data_home)  # fmt: skip
    elif name == "digits":
        from sklearn.datasets import load_digits

        bunch = load_digits()
    elif name == "coil20-pixels":
        bunch = datasets.load_coil20(data_home=data_home)
    elif name == "coil20":
        bunch = datasets.load_coil20(data_home=data_home)
        return datasets.scattering_pca(bunch.images, 500), bunch.target
    elif name == "mnist1000":
        bunch = datasets.mnist_scattering_pca(data_home=data_home)
        index = np.random.default_rng(random_state).choice(len(bunch.target), 1000, replace=False)
        return bunch.data[np.sort(index)], bunch.target[np.sort(index)]
    elif name == "fashion":
        bunch = datasets.load_fashion_mnist_sprite(data_home=data_home)
    else:
        raise ValueError(f"unknown data set {name!r}; choose among {', '.join(DATASETS)}.")
    return np.asarray(bunch.data, dtype=np.float64), bunch.target


def n_clusters_table(datasets=DEFAULT_DATASETS.split(","), methods=DEFAULT_METHODS.split(","),
                     random_state=0, data_home=None):  # fmt: skip
    """True number of classes against each method's estimate; one row per data set."""
    factories = _methods()
    table = Table(title="Number of clusters estimated with n_clusters=None (true K vs found)")
    found = dict.fromkeys(methods, 0)
    for name in datasets:
        X, y = load(name, random_state, data_home)
        k = len(np.unique(y))
        row = {"dataset": name, "rule_chosen_on": "yes" if name in CHOSEN_ON else "no",
               "n_samples": len(y), "true_k": k}  # fmt: skip
        for method in methods:
            start = time.perf_counter()
            estimate = factories[method](random_state).fit(X).n_clusters_
            row[method] = int(estimate)
            found[method] += estimate == k
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
    methods = parse_names(args.methods, _methods(), "--methods")
    if datasets and methods:
        print(n_clusters_table(datasets, methods, random_state=args.seed, data_home=args.data_home))
    if args.dims_samples:
        print()
        print(dims_table(args.dims_samples, random_state=args.seed))
