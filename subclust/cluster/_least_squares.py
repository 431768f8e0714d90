"""Least-squares regression subspace clustering (LSR), in closed form."""

import numbers

import numpy as np
import scipy.linalg as la

from subclust.cluster._spectral import (
    _COMMON_CONSTRAINTS,
    _DENSE_LIMIT,
    BaseSpectralSubspaceClustering,
)
from subclust.utils.parallel import blas_threads
from subclust.utils.validation import (
    Interval,
    StrOptions,
    check_matrix,
    store_init_params,
    validate_params,
)

__all__ = ["LeastSquaresSubspaceClustering", "least_squares_representation"]


def _top_eigenpairs_of_gram(X, n_pairs):
    """Leading singular values and left singular vectors of ``X`` (n_samples x n_features).

    Through the smaller of the two Gram matrices; only the ``n_pairs``
    leading pairs are returned.
    """
    n, d = X.shape
    gram = X @ X.T if n <= d else X.T @ X
    # One BLAS thread: a second halves this eigh on a quiet machine (0.6 s against 1.2 s
    # for the 2016 x 2016 Gram matrix of Extended Yale B), but beside a BLAS-busy process
    # its BLAS-2 reduction to tridiagonal form waits on descheduled threads (2.9-8.2 s
    # with two threads, 1.7-1.9 s with one). The full divide-and-conquer eigh beats
    # LAPACK's subset solvers here (measured).
    with blas_threads(1):
        values, V = np.linalg.eigh(gram)
    s, V = np.sqrt(np.maximum(values[::-1][:n_pairs], 0.0)), V[:, ::-1][:, :n_pairs]
    if n <= d:
        return s, V
    keep = s > (s[0] * d * np.finfo(np.float64).eps if s.size and s[0] > 0 else 0.0)
    return s[keep], (X @ V[:, keep]) / s[keep]


def _least_squares_eigenpairs(X, regularization):
    """Eigenpairs ``(s^2 / (s^2 + lambda), u)`` of the LSR2 representation, by decreasing value."""
    s, U = _top_eigenpairs_of_gram(X, min(X.shape))
    return s**2 / (s**2 + regularization), U


@validate_params(
    {
        "X": ["array-like"],
        "regularization": [Interval(numbers.Real, 0, None, closed="neither")],
        "zero_diagonal": ["boolean"],
        "return_eigenpairs": ["boolean"],
        "n_eigenpairs": [Interval(numbers.Integral, 1, None, closed="left"), None],
    },
    prefer_skip_nested_validation=True,
)
def least_squares_representation(
    X, regularization=0.1, *, zero_diagonal=False, return_eigenpairs=False, n_eigenpairs=None
):
    """Least-squares self-representation ``min ||X - C X||_F^2 + lambda ||C||_F^2``.

    Without the constraint (LSR2 of Lu et al.) the solution is
    ``C = (X X^T + lambda I)^{-1} X X^T = X (X^T X + lambda I)^{-1} X^T``,
    one Cholesky factorization of the smaller Gram matrix and a product:
    O(N D min(N, D)). Its eigenpairs are ``(s^2 / (s^2 + lambda), u)`` for
    the singular pairs ``(s, u)`` of ``X``, from the eigenpairs of the
    smaller Gram matrix. With ``diag(C) = 0`` (LSR1), row ``i`` solves the
    constrained problem by a Lagrange multiplier, giving
    ``C = I - diag(P)^{-1} P`` with ``P = (X X^T + lambda I)^{-1}``, built
    through the Woodbury identity when N > D (no N x N inverse).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    regularization : float, default=0.1
        ``lambda`` > 0; for unit-norm samples 0.1 is a data-independent
        default (small against the squared singular values of a cluster).
    zero_diagonal : bool, default=False
        Impose ``diag(C) = 0`` (LSR1).
    return_eigenpairs : bool, default=False
        Also return ``(values, vectors)`` of ``C`` (LSR2 only; None for LSR1).
    n_eigenpairs : int, optional
        Only the leading ``n_eigenpairs`` (all by default).

    Returns
    -------
    C : ndarray of shape (n_samples, n_samples)
    eigenpairs : tuple or None
        Only if ``return_eigenpairs``.

    References
    ----------
    C.-Y. Lu, H. Min, Z.-Q. Zhao, L. Zhu, D.-S. Huang, S. Yan, "Robust and
    Efficient Subspace Segmentation via Least Squares Regression", ECCV 2012.

    Examples
    --------
    >>> import numpy as np
    >>> from subclust.cluster import least_squares_representation
    >>> X = np.eye(3)[[0, 0, 1, 1]]
    >>> np.round(least_squares_representation(X, 1.0, zero_diagonal=True), 3) + 0.0
    array([[0. , 0.5, 0. , 0. ],
           [0.5, 0. , 0. , 0. ],
           [0. , 0. , 0. , 0.5],
           [0. , 0. , 0.5, 0. ]])
    """
    X = check_matrix(X).astype(np.float64, copy=False)
    n, d = X.shape
    if zero_diagonal:
        # P = (X X^T + lam I)^{-1} = (I - X (X^T X + lam I)^{-1} X^T) / lam  (Woodbury)
        if n > d:
            M = X.T @ X
            M[np.diag_indices_from(M)] += regularization
            P = -(X @ la.cho_solve(la.cho_factor(M), X.T))
        else:
            G = X @ X.T
            G[np.diag_indices_from(G)] += regularization
            P = la.cho_solve(la.cho_factor(G), np.eye(n)) * regularization - np.eye(n)
        P[np.diag_indices_from(P)] += 1.0
        C = -P / np.diag(P)[:, None]  # the 1/lam factor cancels in this ratio
        np.fill_diagonal(C, 0.0)
        return (C, None) if return_eigenpairs else C
    if return_eigenpairs:
        # One eigendecomposition of the smaller Gram matrix gives C and its eigenpairs.
        w, U = _least_squares_eigenpairs(X, regularization)
        C = (U * w) @ U.T
        k = len(w) if n_eigenpairs is None else n_eigenpairs
        return C, (w[:k], U[:, :k])
    # C = X (X^T X + lam I)^{-1} X^T = (X X^T + lam I)^{-1} X X^T: one Cholesky factorization.
    if n > d:
        M = X.T @ X
        M[np.diag_indices_from(M)] += regularization
        C = X @ la.cho_solve(la.cho_factor(M), X.T)
    else:
        G = X @ X.T
        A = G.copy()
        A[np.diag_indices_from(A)] += regularization
        C = la.cho_solve(la.cho_factor(A), G)
    return 0.5 * (C + C.T)  # symmetric in exact arithmetic


class LeastSquaresSubspaceClustering(BaseSpectralSubspaceClustering):
    """Least-squares regression subspace clustering (LSR), closed form.

    The dense self-representation ``C = (X X^T + lambda I)^{-1} X X^T`` of
    unit-norm samples (:func:`least_squares_representation`) groups samples
    of the same subspace; its low-rank angular post-processing
    (:func:`subclust.cluster.angular_affinity`) then separates subspaces
    sharply, and :func:`sklearn.cluster.spectral_clustering` labels them.
    One SVD of ``X`` gives both ``C`` and its eigenpairs, so the whole fit
    costs O(N D min(N, D)) plus the spectral step: a cheap and strong
    baseline, the most accurate default of this package on faces.

    Parameters
    ----------
    n_clusters : int or None, default=8
        None estimates it; see :class:`subclust.cluster.SparseSubspaceClustering`.
    regularization : float, default=0.1
        ``lambda``; the default suits unit-norm samples (``normalize=True``).
    zero_diagonal : bool, default=False
        Impose ``diag(C) = 0`` (LSR1 of Lu et al.; needs an N x N
        eigendecomposition for the angular affinity).
    normalize : bool, default=True
        Scale samples to unit norm first.
    affinity : {'angular', 'symmetric', 'precomputed'}, default='angular'
        See :class:`subclust.cluster.SparseSubspaceClustering`.
    assign_labels : {'cluster_qr', 'discretize', 'kmeans', 'normalized_kmeans'}, \
default='cluster_qr'
        See :func:`~subclust.cluster.spectral_labels`.
    n_neighbors, dim_per_cluster, power, subspace_dims, subspace_energy, random_state
        See :class:`subclust.cluster.SparseSubspaceClustering`.

    Attributes
    ----------
    representation_matrix_ : ndarray of shape (n_samples, n_samples) or None
        None with the angular affinity above 4,000 samples, where only the
        eigenpairs of ``C`` are formed (``C`` would take 8 N^2 bytes).
    affinity_matrix_ : ndarray or sparse matrix of shape (n_samples, n_samples)
    labels_, n_clusters_, laplacian_eigenvalues_, bases_, n_features_in_
        See :class:`subclust.cluster.SparseSubspaceClustering`.

    References
    ----------
    C.-Y. Lu et al., "Robust and Efficient Subspace Segmentation via Least
    Squares Regression", ECCV 2012. G. Liu et al., "Robust Recovery of
    Subspace Structures by Low-Rank Representation", TPAMI 35(1), 2013 (the
    angular post-processing).

    Examples
    --------
    >>> from subclust import LeastSquaresSubspaceClustering
    >>> from subclust.datasets import make_molrg
    >>> from subclust.metrics import clustering_accuracy
    >>> X, y, _ = make_molrg(n_samples=[40, 40, 40], n_features=20, dims=3, random_state=0)
    >>> lsr = LeastSquaresSubspaceClustering(n_clusters=3, random_state=0).fit(X)
    >>> clustering_accuracy(y, lsr.labels_)
    1.0
    >>> lsr = LeastSquaresSubspaceClustering(n_clusters=None, random_state=0).fit(X)
    >>> lsr.n_clusters_, clustering_accuracy(y, lsr.labels_)  # K estimated from the affinity
    (3, 1.0)
    """

    _parameter_constraints = {
        **_COMMON_CONSTRAINTS,
        "regularization": [Interval(numbers.Real, 0, None, closed="neither")],
        "zero_diagonal": ["boolean"],
        "affinity": [StrOptions({"symmetric", "angular", "precomputed"})],
    }

    def __init__(
        self, n_clusters=8, *, regularization=0.1, zero_diagonal=False, normalize=True,
        affinity="angular", n_neighbors=None, dim_per_cluster=10, power=4,
        assign_labels="cluster_qr", subspace_dims=None, subspace_energy=None, random_state=None,
    ):  # fmt: skip
        store_init_params(self, locals())

    def _representation(self, X):
        if self.affinity != "angular" or self.zero_diagonal:
            C = least_squares_representation(
                X, self.regularization, zero_diagonal=self.zero_diagonal
            )
            return C, None
        # The angular affinity needs only the leading eigenpairs of C (all of them
        # while the number of clusters, which sets how many, is still to be estimated).
        values, vectors = _least_squares_eigenpairs(X, self.regularization)
        # Above _DENSE_LIMIT samples C itself is not formed: its 8 N^2 bytes are 20 GB at
        # N = 50,000, and the affinity is built from the eigenpairs alone.
        C = (vectors * values) @ vectors.T if X.shape[0] <= _DENSE_LIMIT else None
        if self.n_clusters is not None:
            rank = self.dim_per_cluster * self.n_clusters + 1
            values, vectors = values[:rank], vectors[:, :rank]
        return C, (values, vectors)
