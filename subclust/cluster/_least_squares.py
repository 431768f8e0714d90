"""Least-squares regression subspace clustering (LSR), in closed form."""

import numbers

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from subclust._validation import check_matrix
from subclust.cluster._spectral import _COMMON_CONSTRAINTS, _SpectralSubspaceClustering

__all__ = ["LeastSquaresSubspaceClustering", "least_squares_representation"]


def _thin_svd(X):
    """Left singular vectors and singular values of ``X`` (n_samples x n_features)."""
    if X.shape[0] <= X.shape[1]:
        U, s, _ = np.linalg.svd(X, full_matrices=False)
        return U, s
    # More samples than features: the small D x D Gram matrix is cheaper than the SVD.
    values, V = np.linalg.eigh(X.T @ X)
    order = np.argsort(values)[::-1]
    values, V = np.maximum(values[order], 0.0), V[:, order]
    s = np.sqrt(values)
    keep = s > s[0] * X.shape[1] * np.finfo(np.float64).eps if s.size and s[0] > 0 else s > 0
    U = (X @ V[:, keep]) / s[keep]
    return U, s[keep]


def least_squares_representation(
    X, regularization=0.1, *, zero_diagonal=False, return_eigenpairs=False
):
    """Least-squares self-representation ``min ||X - C X||_F^2 + lambda ||C||_F^2``.

    Without the constraint (LSR2 of Lu et al.) the solution is
    ``C = (X X^T + lambda I)^{-1} X X^T = U diag(s^2 / (s^2 + lambda)) U^T``
    from the thin SVD ``X = U S V^T``: a cost of O(N D min(N, D)), and the
    eigenpairs of ``C`` come for free. With ``diag(C) = 0`` (LSR1), row ``i``
    solves the constrained problem by a Lagrange multiplier, giving
    ``C = I - diag(P)^{-1} P`` with ``P = (X X^T + lambda I)^{-1}``
    (built from the same SVD, no N x N inverse).

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
    if not regularization > 0:
        raise ValueError(f"regularization must be positive, got {regularization}.")
    U, s = _thin_svd(X)
    s2 = s**2
    if not zero_diagonal:
        w = s2 / (s2 + regularization)
        C = (U * w) @ U.T
        return (C, (w, U)) if return_eigenpairs else C
    # P = U diag(1/(s^2+lam)) U^T + (I - U U^T) / lam
    inv = 1.0 / (s2 + regularization) - 1.0 / regularization
    P = (U * inv) @ U.T
    P[np.diag_indices_from(P)] += 1.0 / regularization
    C = -P / np.diag(P)[:, None]
    np.fill_diagonal(C, 0.0)
    return (C, None) if return_eigenpairs else C


class LeastSquaresSubspaceClustering(_SpectralSubspaceClustering):
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
    n_clusters : int, default=8
    regularization : float, default=0.1
        ``lambda``; the default suits unit-norm samples (``normalize=True``).
    zero_diagonal : bool, default=False
        Impose ``diag(C) = 0`` (LSR1 of Lu et al.; needs an N x N
        eigendecomposition for the angular affinity).
    normalize : bool, default=True
        Scale samples to unit norm first.
    affinity : {'angular', 'symmetric', 'precomputed'}, default='angular'
        See :class:`subclust.cluster.SparseSubspaceClustering`.
    n_neighbors : int, optional
        Keep the largest ``n_neighbors`` weights per row of the affinity;
        with 'angular' above 4000 samples, 50 unless given.
    dim_per_cluster : int, default=10
        Rank per cluster kept by the angular affinity.
    power : float, default=4
        Exponent of the angular affinity.
    assign_labels : {'cluster_qr', 'discretize', 'kmeans'}, default='cluster_qr'
    subspace_dims : int or list of int, optional
    subspace_energy : float in (0, 1], default=0.997
        Dimension rule of the per-cluster subspaces used by ``predict``.
    random_state : int, RandomState instance or None, default=None

    Attributes
    ----------
    representation_matrix_ : ndarray of shape (n_samples, n_samples)
    affinity_matrix_ : ndarray or sparse matrix of shape (n_samples, n_samples)
    labels_ : ndarray of shape (n_samples,)
    bases_ : list of ndarray of shape (n_features, d_k)
    n_features_in_ : int

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
    """

    _parameter_constraints = {
        **_COMMON_CONSTRAINTS,
        "regularization": [Interval(numbers.Real, 0, None, closed="neither")],
        "zero_diagonal": ["boolean"],
        "affinity": [StrOptions({"symmetric", "angular", "precomputed"})],
    }

    def __init__(
        self,
        n_clusters=8,
        *,
        regularization=0.1,
        zero_diagonal=False,
        normalize=True,
        affinity="angular",
        n_neighbors=None,
        dim_per_cluster=10,
        power=4,
        assign_labels="cluster_qr",
        subspace_dims=None,
        subspace_energy=0.997,
        random_state=None,
    ):
        self.n_clusters = n_clusters
        self.regularization = regularization
        self.zero_diagonal = zero_diagonal
        self.normalize = normalize
        self.affinity = affinity
        self.n_neighbors = n_neighbors
        self.dim_per_cluster = dim_per_cluster
        self.power = power
        self.assign_labels = assign_labels
        self.subspace_dims = subspace_dims
        self.subspace_energy = subspace_energy
        self.random_state = random_state

    def _representation(self, X):
        return least_squares_representation(
            X, self.regularization, zero_diagonal=self.zero_diagonal, return_eigenpairs=True
        )
