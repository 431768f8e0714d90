"""Ensembles of K-subspaces (EKSS): spectral clustering of a co-association matrix.

Lipor, Hong, Tan, Balzano, "Subspace clustering using ensembles of
K-subspaces", Information and Inference 10(1), 2021 (arXiv:1709.04744):
many cheap K-subspaces runs, each from uniformly random subspaces and for a
few iterations, vote on which samples belong together; the vote
(co-association) matrix, thresholded to its ``q`` largest entries per row and
per column, is clustered spectrally. No single run needs to be right: a pair
of samples on the same subspace shares a cluster more often than a pair
across subspaces.
"""

import numbers
from functools import partial

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.preprocessing import normalize
from sklearn.utils import check_random_state

from subclust.cluster._k_subspaces import k_subspaces
from subclust.cluster._nearest_subspace import NearestSubspaceMixin, warn_zero_samples
from subclust.cluster._spectral import (
    _COMMON_CONSTRAINTS,
    _MAX_CLUSTERS,
    _check_enough_samples,
    _keep_top,
    cluster_bases,
    estimate_n_clusters,
    spectral_labels,
)
from subclust.utils.parallel import blas_threads, effective_n_jobs, process_map
from subclust.utils.validation import (
    Interval,
    check_dims,
    check_matrix,
    fit_context,
    store_init_params,
    validate_data,
    validate_params,
)

__all__ = [
    "EnsembleKSubspaces",
    "coassociation_matrix",
    "ensemble_k_subspaces",
    "threshold_coassociation",
]


@validate_params(
    {
        "label_sets": ["array-like"],
        "n_clusters": [Interval(numbers.Integral, 1, None, closed="left"), None],
    },
    prefer_skip_nested_validation=True,
)
def coassociation_matrix(label_sets, n_clusters=None):
    """Share of the clusterings that put each pair of samples together.

    Parameters
    ----------
    label_sets : array-like of int of shape (n_clusterings, n_samples)
        One clustering per row, labels in ``[0, n_clusters)``.
    n_clusters : int, optional
        Number of labels (the largest label + 1 by default).

    Returns
    -------
    A : ndarray of shape (n_samples, n_samples)
        ``A_ij`` = fraction of the clusterings with ``labels_i == labels_j``;
        zero diagonal.

    Examples
    --------
    >>> from subclust.cluster import coassociation_matrix
    >>> coassociation_matrix([[0, 0, 1], [0, 1, 1]])
    array([[0. , 0.5, 0. ],
           [0.5, 0. , 0.5],
           [0. , 0.5, 0. ]])
    """
    labels = np.asarray(label_sets, dtype=np.intp)
    if labels.ndim != 2 or labels.size == 0:
        raise ValueError(
            f"label_sets must be a non-empty (n_clusterings, n_samples) array, got {labels.shape}."
        )
    if labels.min() < 0:
        raise ValueError("Labels must be non-negative cluster indices.")
    n_runs, n = labels.shape
    k = int(labels.max()) + 1 if n_clusters is None else int(n_clusters)
    # One indicator column per (run, cluster): A = H H^T counts co-memberships.
    columns = (labels + k * np.arange(n_runs)[:, None]).T.ravel()
    H = sp.csr_matrix(
        (np.ones(n * n_runs), (np.repeat(np.arange(n), n_runs), columns)), shape=(n, n_runs * k)
    )
    A = (H @ H.T).toarray() / n_runs
    np.fill_diagonal(A, 0.0)
    return A


@validate_params(
    {
        "A": ["array-like"],
        "n_nearest": [Interval(numbers.Integral, 1, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def threshold_coassociation(A, n_nearest):
    """Keep the ``q`` largest entries of each row and of each column, and average.

    ``(Z_row + Z_col) / 2`` where ``Z_row`` keeps the ``q = n_nearest``
    largest entries of every row of ``A`` and ``Z_col`` those of every column
    (the thresholding of Lipor et al., 2021). For a symmetric ``A``,
    ``Z_col = Z_row^T`` and the result is symmetric.

    Parameters
    ----------
    A : ndarray of shape (n_samples, n_samples)
        Co-association matrix (zero diagonal).
    n_nearest : int
        ``q``, in ``[1, n_samples - 1]``.

    Returns
    -------
    W : sparse matrix (CSR) of shape (n_samples, n_samples)

    Examples
    --------
    Sample 2 joins sample 3 in three clusterings of four and sample 0 in one:
    with ``q = 1`` only its strongest link survives.

    >>> from subclust.cluster import coassociation_matrix, threshold_coassociation
    >>> A = coassociation_matrix([[0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 0, 1]])
    >>> threshold_coassociation(A, 1).toarray()
    array([[0.  , 1.  , 0.  , 0.  ],
           [1.  , 0.  , 0.  , 0.  ],
           [0.  , 0.  , 0.  , 0.75],
           [0.  , 0.  , 0.75, 0.  ]])
    """
    A = check_matrix(A, name="A")
    n = A.shape[0]
    if A.shape != (n, n):
        raise ValueError(f"A must be square, got shape {A.shape}.")
    q = int(n_nearest)
    if not 1 <= q < n:
        raise ValueError(f"n_nearest must lie in [1, n_samples - 1] = [1, {n - 1}], got {q}.")
    A = A.astype(np.float64, copy=True)
    np.fill_diagonal(A, -np.inf)  # never one's own neighbour
    rows = _keep_top(A, q)
    columns = _keep_top(A.T, q).T
    return sp.csr_matrix((rows + columns) * 0.5)


def _run_batch(X, n_clusters, dims, max_iter, seeds):
    """Labels and iterations of K-subspaces runs from random subspaces, one BLAS thread."""
    runs = []
    with blas_threads(1):
        for seed in seeds:
            _, _, labels, _, n_iter, _ = k_subspaces(
                X, n_clusters, dims, init="random", n_init=1, max_iter=max_iter, tol=0.0,
                random_state=np.random.RandomState(seed),
            )  # fmt: skip
            runs.append((labels, n_iter))
    return runs


@validate_params(
    {
        "X": ["array-like"],
        "n_clusters": [Interval(numbers.Integral, 1, None, closed="left")],
        "dims": [Interval(numbers.Integral, 1, None, closed="left"), "array-like"],
        "n_estimators": [Interval(numbers.Integral, 1, None, closed="left")],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_jobs": [numbers.Integral, None],
        "random_state": ["random_state"],
        "return_n_iter": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def ensemble_k_subspaces(
    X,
    n_clusters,
    dims,
    *,
    n_estimators=1000,
    max_iter=3,
    n_jobs=None,
    random_state=None,
    return_n_iter=False,
):
    """Co-association matrix of ``n_estimators`` short K-subspaces runs.

    Every run starts from uniformly random subspaces and takes ``max_iter``
    K-subspaces iterations (:func:`~subclust.cluster.k_subspaces` with
    ``init='random'``); ``A_ij`` is the fraction of runs that put samples
    ``i`` and ``j`` in the same cluster (Lipor et al., 2021).
    Samples are first written in an orthonormal basis of their span when it
    has fewer dimensions than the features: inner products and residuals do
    not change, each iteration gets cheaper.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    n_clusters : int
        ``K`` of every run.
    dims : int or sequence of int
        Candidate subspace dimension(s) ``d`` of every run.
    n_estimators : int, default=1000
        ``B``, the number of runs.
    max_iter : int, default=3
        ``T``, iterations of each run.
    n_jobs : int, optional
        Runs in parallel processes (joblib; -1: all cores), each limited to
        one BLAS thread. The result does not depend on it.
    random_state : int, RandomState instance or None, default=None
        Seeds of the runs.
    return_n_iter : bool, default=False
        Also return the iterations of every run.

    Returns
    -------
    A : ndarray of shape (n_samples, n_samples)
        Co-association matrix, zero diagonal.
    n_iter : ndarray of shape (n_estimators,)
        Only if ``return_n_iter``; a run stops early once its labels settle.

    Examples
    --------
    >>> from subclust.cluster import ensemble_k_subspaces
    >>> from subclust.datasets import make_molrg
    >>> X, y, _ = make_molrg(n_samples=[20, 20], n_features=8, dims=2, random_state=0)
    >>> A = ensemble_k_subspaces(X, 2, 2, n_estimators=20, random_state=0)
    >>> same = y[:, None] == y[None, :]
    >>> bool(A[same].sum() / (same.sum() - 40) > 3 * A[~same].mean())  # same plane: together
    True
    """
    X = check_matrix(X).astype(np.float64, copy=False)
    rng = check_random_state(random_state)
    dims = check_dims(dims, n_clusters, X.shape[1])
    _check_enough_samples(X.shape[0], n_clusters)
    if X.shape[1] > X.shape[0]:
        # Coordinates in the span of the samples: the same geometry in fewer features.
        U, s, _ = np.linalg.svd(X, full_matrices=False)
        if max(dims) < U.shape[1]:
            X = U * s
    seeds = rng.randint(np.iinfo(np.int32).max, size=n_estimators)
    n_batches = min(effective_n_jobs(n_jobs), n_estimators)
    batches = process_map(partial(_run_batch, X, n_clusters, dims, max_iter),
                          np.array_split(seeds, n_batches), n_batches)
    runs = [run for batch in batches for run in batch]
    A = coassociation_matrix([labels for labels, _ in runs], n_clusters)
    return (A, np.array([n_iter for _, n_iter in runs])) if return_n_iter else A


class EnsembleKSubspaces(NearestSubspaceMixin, ClusterMixin, BaseEstimator):
    """Ensembles of K-subspaces (EKSS).

    ``n_estimators`` K-subspaces runs from uniformly random subspaces, of
    ``max_iter`` iterations each, give a co-association matrix
    (:func:`ensemble_k_subspaces`); its ``q`` largest entries per row and
    column are kept (:func:`threshold_coassociation`) and
    :func:`~subclust.cluster.spectral_labels` clusters the result.

    Parameters
    ----------
    n_clusters : int or None, default=8
        None estimates it (:func:`~subclust.cluster.estimate_n_clusters` of
        the affinity). The runs then over-segment: Lipor et al. let the runs
        fit a number of candidate subspaces other than ``K``, and samples of
        one subspace still vote together when it is split. Each run fits
        ``min(50, N // (2 d))`` subspaces (about ``2 d`` samples each); on
        unions of 2 to 8 three-dimensional subspaces, 8 to 32 candidate
        subspaces all gave the true ``K``, 2 always gave 2.
    dims : int or list of int, default=3
        Candidate dimension ``d`` of the subspaces of every run; it need not
        be the true dimension (the paper: a small ``d`` keeps every run cheap
        and random).
    n_estimators : int, default=1000
        ``B``, the number of K-subspaces runs (1000 in the authors' example).
    max_iter : int, default=3
        ``T``, iterations of each run (3 in the authors' example).
    n_nearest : int, optional
        ``q``, entries kept per row and column of the co-association matrix;
        None keeps all (``q = N``, the default of the authors' code). A small
        ``q`` cuts noise between subspaces but, with the many ties of a vote
        count, can split a subspace into several components.
    normalize : bool, default=True
        Scale samples to unit norm first.
    assign_labels : {'cluster_qr', 'discretize', 'kmeans', 'normalized_kmeans'}, \
default='cluster_qr'
        See :func:`~subclust.cluster.spectral_labels`.
    subspace_dims : int or list of int, optional
    subspace_energy : float in (0, 1], optional
        Dimension rule of the per-cluster subspaces used by ``predict``; see
        :class:`subclust.cluster.SparseSubspaceClustering`.
    n_jobs : int, optional
        K-subspaces runs in parallel (joblib processes, one BLAS thread each).
    random_state : int, RandomState instance or None, default=None

    Attributes
    ----------
    coassociation_matrix_ : ndarray of shape (n_samples, n_samples)
    affinity_matrix_ : ndarray or sparse matrix of shape (n_samples, n_samples)
        The co-association matrix, thresholded (sparse) if ``n_nearest`` is given.
    labels_ : ndarray of shape (n_samples,)
    bases_ : list of ndarray of shape (n_features, d_k)
    n_clusters_ : int
        The number of clusters: ``n_clusters``, or its estimate.
    laplacian_eigenvalues_ : ndarray of shape (n_values,) or None
        The smallest eigenvalues of the affinity's normalized Laplacian that
        the estimate read (None when ``n_clusters`` was given).
    n_iter_ : int
        Most iterations of any K-subspaces run (at most ``max_iter``).
    run_iterations_ : ndarray of shape (n_estimators,)
        Iterations of every K-subspaces run.
    n_features_in_ : int

    References
    ----------
    J. Lipor, D. Hong, Y. S. Tan, L. Balzano, "Subspace clustering using
    ensembles of K-subspaces", Information and Inference 10(1), 2021
    (arXiv:1709.04744).

    Examples
    --------
    Three planes in 10 dimensions; 50 runs of K-subspaces with planes vote:

    >>> from subclust.cluster import EnsembleKSubspaces
    >>> from subclust.datasets import make_molrg
    >>> from subclust.metrics import clustering_accuracy
    >>> X, y, _ = make_molrg(n_samples=[30, 30, 30], n_features=10, dims=2, random_state=0)
    >>> ekss = EnsembleKSubspaces(3, dims=2, n_estimators=50, random_state=0).fit(X)
    >>> clustering_accuracy(y, ekss.labels_)
    1.0
    """

    _parameter_constraints = {
        **{
            key: _COMMON_CONSTRAINTS[key]
            for key in ("n_clusters", "normalize", "assign_labels", "subspace_dims",
                        "subspace_energy", "random_state")
        },  # fmt: skip
        "dims": [Interval(numbers.Integral, 1, None, closed="left"), "array-like"],
        "n_estimators": [Interval(numbers.Integral, 1, None, closed="left")],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_nearest": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "n_jobs": [numbers.Integral, None],
    }

    def __init__(
        self, n_clusters=8, *, dims=3, n_estimators=1000, max_iter=3, n_nearest=None,
        normalize=True, assign_labels="cluster_qr", subspace_dims=None, subspace_energy=None,
        n_jobs=None, random_state=None,
    ):  # fmt: skip
        store_init_params(self, locals())

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Cluster ``X`` by the co-association of ``n_estimators`` K-subspaces runs.

        Each run starts from random subspaces; how often two samples share a
        cluster (thresholded to ``n_nearest`` entries per row, if set) is the
        affinity that spectral clustering cuts.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples; float32 stays float32.
        y : Ignored
            Present for API consistency.

        Returns
        -------
        self : EnsembleKSubspaces
            The fitted estimator.
        """
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        rng = check_random_state(self.random_state)
        n = X.shape[0]
        _check_enough_samples(n, self.n_clusters)
        n_runs_clusters = self.n_clusters
        if n_runs_clusters is None:
            if not isinstance(self.dims, numbers.Integral):
                raise ValueError(
                    "dims gives one dimension per cluster, which needs n_clusters; with "
                    "n_clusters=None give one candidate dimension (an int)."
                )
            n_runs_clusters = min(_MAX_CLUSTERS, max(2, n // (2 * self.dims)))
        # A zero sample stays zero: it fits every subspace and only adds an even vote.
        zero = np.linalg.norm(X, axis=1) == 0
        warn_zero_samples(zero)
        Xn = normalize(X) if self.normalize else X
        A, self.run_iterations_ = ensemble_k_subspaces(
            Xn, n_runs_clusters, self.dims, n_estimators=self.n_estimators,
            max_iter=self.max_iter, n_jobs=self.n_jobs, random_state=rng, return_n_iter=True,
        )  # fmt: skip
        if self.n_nearest is None or self.n_nearest >= n - 1:
            W = A
        else:
            W = threshold_coassociation(A, self.n_nearest)
        self.n_iter_ = int(self.run_iterations_.max())
        self.coassociation_matrix_, self.affinity_matrix_ = A, W
        if self.n_clusters is None:
            self.n_clusters_, self.laplacian_eigenvalues_ = estimate_n_clusters(W)
        else:
            self.n_clusters_, self.laplacian_eigenvalues_ = self.n_clusters, None
        self.labels_ = spectral_labels(
            W, self.n_clusters_, random_state=rng, assign_labels=self.assign_labels
        )
        self.labels_[zero] = 0
        self.bases_ = cluster_bases(
            X, self.labels_, self.n_clusters_, dims=self.subspace_dims, energy=self.subspace_energy
        )
        self._n_features_out = self.n_clusters_
        return self
