"""Self-expressive subspace clustering on the real benchmarks, with default parameters.

``subclust bench ssc`` prints

1. one table, data set x method: accuracy (Hungarian), NMI, ARI and seconds
   of ``fit`` on Extended Yale B (38 subjects and the first 10, pixels),
   COIL-20 and the MNIST test set on scattering + PCA features (what
   ``subclust cluster`` computes for images; COIL-20's pixels too), every method with the
   defaults a user gets (only ``n_clusters`` and ``random_state`` are set),
   next to scikit-learn's KMeans and SpectralClustering;
2. the time of the Lasso SSC solved by ADMM against the same problem solved
   by cvxpy at N = 300 (synthetic MoLRG), with their objectives and labels.

Targets: Yale B 38 >= 0.95, Yale B 10 >= 0.97, COIL-20 >= 0.85,
MNIST >= 0.95, each within 5 minutes on 2 cores; ADMM >= 50x faster than
cvxpy at N = 300. Select parts with ``--datasets`` and ``--methods``.
"""

import time

import numpy as np

from subclust.bench._common import add_names_argument, load_dataset, parse_names
from subclust.metrics import adjusted_rand_score, clustering_accuracy, normalized_mutual_info_score
from subclust.utils.tables import Table

#: Data sets of :data:`subclust.bench._common.DATASETS` in the table.
DATASETS = ("yaleb38", "yaleb10", "coil20", "coil20-pixels", "mnist")


#: Methods of :data:`subclust.pipeline.METHODS` compared with the two baselines.
SUBSPACE_METHODS = ("lsr", "tsc", "omp", "ensc", "ssc")
METHODS = ("kmeans", "spectral", *SUBSPACE_METHODS)


def _methods():
    from sklearn.cluster import KMeans, SpectralClustering

    from subclust.pipeline import make_estimator

    methods = {
        "kmeans": lambda k, seed: KMeans(k, random_state=seed),
        # A k-nearest-neighbour graph, as You et al.'s baseline: the default RBF
        # affinity is a dense N x N matrix (more than 15 minutes on MNIST).
        "spectral": lambda k, seed: SpectralClustering(
            k, affinity="nearest_neighbors", random_state=seed
        ),
    }
    for name in SUBSPACE_METHODS:
        methods[name] = lambda k, seed, name=name: make_estimator(name, k, random_state=seed)
    return methods


DEFAULT_METHODS = "kmeans,spectral,lsr,tsc,omp,ensc"


def add_arguments(parser):
    add_names_argument(parser, "--datasets", DATASETS)
    add_names_argument(parser, "--methods", METHODS, DEFAULT_METHODS, note="ssc, the ADMM "
                       "solver, needs N x N memory and is slow on the large sets")  # fmt: skip
    parser.add_argument(
        "--ratio-samples", type=int, default=300,
        help="N of the ADMM / cvxpy timing; 0 skips it",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-home", default=None)


def accuracy_table(datasets=tuple(DATASETS), methods=DEFAULT_METHODS.split(","),
                   random_state=0, data_home=None):  # fmt: skip
    """Fit every method with its defaults on every data set; one row each."""
    factories = _methods()
    table = Table(title="Subspace clustering with default parameters (fit time in seconds)")
    for name in datasets:
        X, y = load_dataset(name, data_home=data_home)
        k = len(np.unique(y))
        for method in methods:
            estimator = factories[method](k, random_state)
            start = time.perf_counter()
            labels = estimator.fit(X).labels_
            seconds = time.perf_counter() - start
            table.add_row(
                dataset=name, method=method, n_samples=len(y),
                accuracy=clustering_accuracy(y, labels),
                nmi=float(normalized_mutual_info_score(y, labels)),
                ari=float(adjusted_rand_score(y, labels)),
                seconds=seconds,
            )  # fmt: skip
            print(f"  {name:8s} {method:9s} done in {seconds:.1f} s", flush=True)
    table.notes.append(
        "targets: yaleb38 >= 0.95, yaleb10 >= 0.97, coil20 >= 0.85, mnist >= 0.95 within 300 s; "
        "reference (ChongYou/subspace-clustering, same machine class): yaleb38 EnSC 0.896 in 29 s."
    )
    return table


def ratio_table(n_samples=300, random_state=0):
    """ADMM against cvxpy on the same Lasso SSC problem (MoLRG, 5 subspaces of dimension 5)."""
    from subclust.cluster import (
        normalize_samples,
        self_representation_admm,
        self_representation_cvxpy,
        self_representation_objective,
    )
    from subclust.cluster import lasso_lambda, representation_affinity, spectral_labels
    from subclust.datasets import make_molrg

    X, y, _ = make_molrg(
        n_samples=n_samples, n_features=50, n_components=5, dims=5, noise=0.01,
        random_state=random_state,
    )
    X = normalize_samples(X)
    lam = lasso_lambda(X, 20.0)
    table = Table(title=f"Lasso SSC at N={n_samples} (MoLRG, 5 subspaces of dim 5 in R^50)")
    results = {}
    for solver, func in (("admm", self_representation_admm), ("cvxpy", self_representation_cvxpy)):
        start = time.perf_counter()
        C = func(X)
        seconds = time.perf_counter() - start
        labels = spectral_labels(representation_affinity(C), 5, random_state=random_state)
        results[solver] = (C, seconds, labels)
    t_cvx = results["cvxpy"][1]
    f_cvx = self_representation_objective(X, results["cvxpy"][0], lam)
    for solver, (C, seconds, labels) in results.items():
        f = self_representation_objective(X, C, lam)
        table.add_row(
            solver=solver, seconds=seconds, speedup_vs_cvxpy=t_cvx / seconds,
            objective_rel_diff=(f - f_cvx) / f_cvx,
            labels_agree=clustering_accuracy(results["cvxpy"][2], labels),
            accuracy=clustering_accuracy(y, labels),
        )  # fmt: skip
    table.notes.append("target: admm speedup_vs_cvxpy >= 50, |objective_rel_diff| <= 1e-4")
    return table


def main(args):
    datasets = parse_names(args.datasets, DATASETS, "--datasets")
    methods = parse_names(args.methods, METHODS, "--methods")
    if datasets and methods:
        print(accuracy_table(datasets, methods, random_state=args.seed, data_home=args.data_home))
    if args.ratio_samples:
        print()
        print(ratio_table(args.ratio_samples, random_state=args.seed))
