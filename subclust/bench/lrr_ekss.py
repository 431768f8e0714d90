"""Low-rank representation and ensembles of K-subspaces on Extended Yale B faces.

``subclust bench lrr-ekss`` follows each paper's face-clustering protocol
and prints one table per method:

1. LRR (Liu et al., TPAMI 2013) on the first 10 subjects (N = 640, 48 x 42
   pixels in [0, 1], no normalization), ``lambda = 0.18`` of the authors'
   face-clustering code, solved by the inexact ALM of the paper; clustered
   from the paper's affinity ``|Z| + |Z^T|`` and from the post-processed
   one of the authors' code, each with the authors' spectral step (k-means
   on the normalized embedding) and with this package's default
   (``cluster_qr``);
2. EKSS (Lipor et al., Information and Inference 2021) on the first n
   subjects, unit-norm samples, ``B`` K-subspaces runs of ``T`` iterations
   from random subspaces of candidate dimension ``d``, co-association
   thresholded to ``q`` per row and column; with ``--pca P`` the samples are
   first projected on their ``P`` leading (uncentered) principal directions,
   which bounds the cost of each of the ``B`` runs.

Each row carries the paper's number where one is known here (``paper``) and
the time of ``fit``. Select parts with ``--parts``.
"""

import time

import numpy as np

from subclust.bench._common import parse_names
from subclust.cluster import (
    EnsembleKSubspaces,
    KSubspaces,
    ThresholdedSubspaceClustering,
    low_rank_affinity,
    low_rank_representation,
    normalize_samples,
    representation_affinity,
    spectral_labels,
)
from subclust.datasets import load_yaleb
from subclust.metrics import clustering_accuracy, normalized_mutual_info_score
from subclust.preprocessing import UncenteredPCA
from subclust.utils.parallel import blas_threads
from subclust.utils.tables import Table

PARTS = ("lrr", "ekss")


def add_arguments(parser):
    parser.add_argument("--parts", default=",".join(PARTS), help="comma-separated: lrr,ekss")
    parser.add_argument("--subjects", type=int, default=10, help="first n subjects of Yale B")
    parser.add_argument("--lrr-lambda", type=float, default=0.18, help="lambda of LRR")
    parser.add_argument("--estimators", type=int, default=1000, help="B, EKSS runs")
    parser.add_argument("--iterations", type=int, default=3, help="T, iterations of a run")
    parser.add_argument("--dim", type=int, default=6, help="d, candidate dimension of EKSS")
    parser.add_argument("--q", type=int, default=8, help="EKSS threshold q (0: none)")
    parser.add_argument("--pca", type=int, default=100, help="EKSS: project on P directions "
                        "first (0: none)")  # fmt: skip
    parser.add_argument("--n-jobs", type=int, default=None, help="EKSS runs in parallel")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None,
                        help="at most this many BLAS threads (default: the library's policy)")
    parser.add_argument("--data-home", default=None)


def _load(subjects, data_home):
    bunch = load_yaleb(subjects=subjects, data_home=data_home)
    return bunch.data, bunch.target


def lrr_table(subjects=10, regularization=0.18, random_state=0, data_home=None):
    """LRR on the first ``subjects`` subjects: one ALM solve, two affinities, two spectral steps."""
    X, y = _load(subjects, data_home)
    k = len(np.unique(y))
    start = time.perf_counter()
    result = low_rank_representation(X, regularization, return_details=True)
    solve_seconds = time.perf_counter() - start
    C = result.representation
    affinities = {
        "|Z|+|Z^T| (paper)": lambda: representation_affinity(C, scale_rows=False),
        "post-processed (authors' code)": lambda: low_rank_affinity(C),
    }
    table = Table(
        title=f"LRR on Extended Yale B, {k} subjects (N={len(y)}, pixels in [0, 1]), "
        f"lambda={regularization}: ALM {result.n_iter} iterations, residual "
        f"{result.residual:.1e}, {solve_seconds:.1f} s"
    )
    for name, build in affinities.items():
        W = build()
        for assign in ("kmeans", "cluster_qr"):
            start = time.perf_counter()
            labels = spectral_labels(W, k, random_state=random_state, assign_labels=assign)
            table.add_row(
                affinity=name, spectral=assign, accuracy=clustering_accuracy(y, labels),
                nmi=float(normalized_mutual_info_score(y, labels)),
                seconds=solve_seconds + time.perf_counter() - start,
            )  # fmt: skip
    table.notes.append(
        "protocol: Liu et al., TPAMI 35(1), 2013 (Extended Yale B, first 10 subjects); lambda, "
        "post-processing (rank 1e-4, power 4) and k-means spectral step from the authors' code "
        "lrr_face_seg.m."
    )
    return table


def ekss_table(subjects=10, n_estimators=1000, max_iter=3, dim=3, n_nearest=None, pca=100,
               n_jobs=None, random_state=0, data_home=None):  # fmt: skip
    """EKSS on the first ``subjects`` subjects, next to the best of B K-subspaces runs and TSC."""
    X, y = _load(subjects, data_home)
    k = len(np.unique(y))
    X = normalize_samples(X)
    if pca:
        X = UncenteredPCA(n_components=pca).fit_transform(X)
    table = Table(
        title=f"EKSS on Extended Yale B, {k} subjects (N={len(y)}, unit-norm samples"
        f"{f', {pca} principal directions' if pca else ''}): B={n_estimators}, T={max_iter}, "
        f"d={dim}, q={n_nearest or 'N (none)'}"
    )
    estimators = {
        "EKSS": EnsembleKSubspaces(
            k, dims=dim, n_estimators=n_estimators, max_iter=max_iter, n_nearest=n_nearest,
            normalize=False, n_jobs=n_jobs, random_state=random_state,
        ),
        "K-subspaces, random init, best of B": KSubspaces(
            k, dims=dim, init="random", n_init=n_estimators, max_iter=max_iter,
            random_state=random_state,
        ),
        # EKSS without iterations recovers what TSC recovers (Lipor et al.): its reference.
        "TSC (defaults)": ThresholdedSubspaceClustering(
            k, normalize=False, random_state=random_state
        ),
    }  # fmt: skip
    for name, estimator in estimators.items():
        start = time.perf_counter()
        labels = estimator.fit(X).labels_
        table.add_row(
            method=name, accuracy=clustering_accuracy(y, labels),
            nmi=float(normalized_mutual_info_score(y, labels)),
            seconds=time.perf_counter() - start,
        )  # fmt: skip
    table.notes.append(
        "EKSS: Lipor, Hong, Tan, Balzano, Information and Inference 10(1), 2021 "
        "(arXiv:1709.04744); B = 1000 runs of T = 3 iterations as in the authors' example; "
        "d and q chosen here on a grid (d in 3, 6, 9; q in 8, 16, 32, N)."
    )
    return table


def main(args):
    parts = parse_names(args.parts, PARTS, "--parts")
    with blas_threads(args.threads):
        if "lrr" in parts:
            print(lrr_table(args.subjects, args.lrr_lambda, random_state=args.seed,
                            data_home=args.data_home), flush=True)
        if "ekss" in parts:
            print()
            print(ekss_table(args.subjects, args.estimators, args.iterations, args.dim,
                             args.q or None, args.pca, args.n_jobs, random_state=args.seed,
                             data_home=args.data_home))  # fmt: skip
