"""Low-rank representation (LRR): the lowest-rank self-representation of the data.

Liu, Lin, Yan, Sun, Yu, Ma, "Robust Recovery of Subspace Structures by
Low-Rank Representation", IEEE TPAMI 35(1), 2013, solve

    min ||Z||_* + lambda ||E||_{2,1}   s.t.   X_c = X_c Z + E

with the samples as the columns of ``X_c``. With samples as rows, as here,
``X = Z^T X + E^T``: the representation matrix of this package is
``C = Z^T`` (row ``i`` holds the coefficients of sample ``i``).

Without noise the problem ``min ||Z||_* s.t. X_c = X_c Z`` has the closed-form
solution ``Z = V V^T`` for the skinny SVD ``X_c = U S V^T``, the shape
interaction matrix (the paper's noiseless analysis); with the ``l_{2,1}``
error term it is solved by the paper's inexact augmented Lagrange multiplier
method, on the orthonormal dictionary of the row space of the data that the
paper recommends for speed, which shrinks ``Z`` to ``r x N``.
"""

import numbers
from dataclasses import dataclass

import numpy as np

from subclust.cluster._spectral import (
    _COMMON_CONSTRAINTS,
    BaseSpectralSubspaceClustering,
    angular_affinity,
    representation_affinity,
)
from subclust.utils.parallel import blas_threads
from subclust.utils.validation import (
    Interval,
    StrOptions,
    check_matrix,
    store_init_params,
    validate_params,
)

__all__ = [
    "LowRankRepresentation",
    "low_rank_affinity",
    "low_rank_representation",
    "shape_interaction_matrix",
]

#: Parameters of the paper's inexact ALM (Liu et al., TPAMI 2013): mu_0, max_mu,
#: rho, epsilon. The authors' code uses the same except max_mu = 1e30.
_ALM_DEFAULTS = {"mu": 1e-6, "max_mu": 1e6, "rho": 1.1, "tol": 1e-8}

#: Largest r x N iterate solved with one BLAS thread.
_ONE_THREAD_SIZE = 2**20

#: Named parameter sets. 'paper': lambda of the authors' face-clustering demo
#: (``lrr_face_seg.m`` of Liu's released code: lambda = 0.18 on the first 10
#: subjects of Extended Yale B, pixels in [0, 1], no normalization) and the
#: post-processing of that code (rank: singular values above 1e-4 of the
#: largest, exponent 4, i.e. 2 alpha with alpha = 2). 'hopkins': lambda = 4, the
#: value public LRR motion-segmentation wrappers use on Hopkins 155 trajectories.
PRESETS = {
    "paper": {"regularization": 0.18, "normalize": False, "affinity": "angular", "power": 4},
    "hopkins": {"regularization": 4.0, "normalize": False, "affinity": "angular", "power": 4},
}


def _rank_of(s, rank_tol):
    """Number of singular values above ``rank_tol`` times the largest."""
    if s.size == 0 or s[0] <= 0:
        return 0
    return int(np.sum(s > rank_tol * s[0]))


@validate_params(
    {
        "X": ["array-like"],
        "rank": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "rank_tol": [Interval(numbers.Real, 0, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def shape_interaction_matrix(X, *, rank=None, rank_tol=1e-8):
    """Noiseless LRR in closed form: ``C = V_r V_r^T`` (the shape interaction matrix).

    ``min ||Z||_* s.t. X = Z^T X`` (samples as rows) is solved by the
    projector onto the row space of the samples' matrix transpose: for the
    skinny SVD ``X = V S U^T`` (``V``: n_samples x r), ``C = V V^T``
    (Liu et al., TPAMI 2013; Costeira and Kanade's shape interaction
    matrix). Exact for data on independent subspaces: then
    ``C_ij = 0`` for samples of different subspaces.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    rank : int, optional
        Keep the ``rank`` leading singular directions (the rank of the data
        if noiseless; a noisy data matrix has full rank).
    rank_tol : float, default=1e-8
        Without ``rank``, keep singular values above ``rank_tol`` times the
        largest.

    Returns
    -------
    C : ndarray of shape (n_samples, n_samples)
        Symmetric projector of rank r.

    Examples
    --------
    >>> import numpy as np
    >>> from subclust.cluster import shape_interaction_matrix
    >>> X = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0]])
    >>> shape_interaction_matrix(X).round(3) + 0.0
    array([[0.2, 0.4, 0. ],
           [0.4, 0.8, 0. ],
           [0. , 0. , 1. ]])
    """
    X = check_matrix(X).astype(np.float64, copy=False)
    V, s, _ = np.linalg.svd(X, full_matrices=False)
    r = _rank_of(s, rank_tol) if rank is None else min(int(rank), s.size)
    V = V[:, :r]
    return V @ V.T


@dataclass
class LowRankResult:
    """Output of :func:`low_rank_representation` with ``return_details=True``.

    Attributes
    ----------
    representation : ndarray of shape (n_samples, n_samples)
        ``C = Z^T``: row ``i`` represents sample ``i``.
    error : ndarray of shape (n_samples, n_features)
        ``E^T``: the column-sparse error, one row per sample.
    n_iter : int
    objective : float
        ``||Z||_* + lambda ||E||_{2,1}`` at the end.
    residual : float
        The stopping quantity: the larger of the largest column norm of
        ``X_c - X_c Z - E`` (a bound on its largest entry, the paper's
        quantity) and the largest entry of ``Z - J``.
    converged : bool
    """

    representation: np.ndarray
    error: np.ndarray
    n_iter: int
    objective: float
    residual: float
    converged: bool


def _shrink_columns(M, threshold):
    """Minimizer of ``threshold ||E||_{2,1} + ||E - M||_F^2 / 2``: columns shrunk in norm."""
    norms = np.linalg.norm(M, axis=0)
    scale = np.zeros_like(norms)
    big = norms > threshold
    scale[big] = 1.0 - threshold / norms[big]
    return M * scale


def _shrink_singular_values(M, threshold):
    """Singular value thresholding: minimizer of ``threshold ||J||_* + ||J - M||_F^2 / 2``."""
    U, s, Vt = np.linalg.svd(M, full_matrices=False)
    keep = s > threshold
    return (U[:, keep] * (s[keep] - threshold)) @ Vt[keep]


@validate_params(
    {
        "X": ["array-like"],
        "regularization": [Interval(numbers.Real, 0, None, closed="neither")],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "tol": [Interval(numbers.Real, 0, None, closed="neither")],
        "mu": [Interval(numbers.Real, 0, None, closed="neither")],
        "max_mu": [Interval(numbers.Real, 0, None, closed="neither")],
        "rho": [Interval(numbers.Real, 1, None, closed="neither")],
        "return_details": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def low_rank_representation(
    X,
    regularization=0.18,
    *,
    max_iter=1000,
    tol=_ALM_DEFAULTS["tol"],
    mu=_ALM_DEFAULTS["mu"],
    max_mu=_ALM_DEFAULTS["max_mu"],
    rho=_ALM_DEFAULTS["rho"],
    return_details=False,
):
    """Low-rank representation by the inexact ALM of Liu et al. (TPAMI 2013).

    Solves ``min ||Z||_* + lambda ||E||_{2,1} s.t. X_c = A Z' + E`` with the
    columns ``X_c = X^T`` as samples and the dictionary ``A = X_c Q`` for an
    orthonormal basis ``Q`` of the row space of ``X_c``; then ``Z = Q Z'``
    solves the problem with the dictionary ``X_c`` (as the paper shows).
    ``Q`` is taken from the SVD ``X_c = U S Q^T``, so that ``A^T A = S^2`` is
    diagonal and the ``Z`` step needs no factorization. Each iteration:

    1. ``J``: singular value thresholding of ``Z + Y_2 / mu`` at ``1 / mu``;
    2. ``Z = (I + A^T A)^{-1} (A^T (X_c - E) + J + (A^T Y_1 - Y_2) / mu)``;
    3. ``E``: column shrinkage of ``X_c - A Z + Y_1 / mu`` at ``lambda / mu``;
    4. ``Y_1 += mu (X_c - A Z - E)``, ``Y_2 += mu (Z - J)``,
       ``mu = min(rho mu, max_mu)``;

    until ``||X_c - A Z - E||_inf < tol`` and ``||Z - J||_inf < tol`` (the
    first through the largest column norm, a bound on the largest entry).
    All iterates stay in the column span of the data, and run on their
    ``r``-dimensional coordinates there: an iteration costs one SVD of an
    ``r x N`` matrix, ``r = rank(X)``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    regularization : float, default=0.18
        ``lambda`` > 0, weight of the ``l_{2,1}`` error; the default is the
        authors' value for Extended Yale B faces with pixels in [0, 1]. Its
        scale follows the norm of the samples. Large values tend to the
        noiseless solution (:func:`shape_interaction_matrix`).
    max_iter : int, default=1000
    tol : float, default=1e-8
        ``epsilon`` of the stopping rule (the paper's value).
    mu, max_mu, rho : float, default=1e-6, 1e6, 1.1
        Initial penalty, its bound and growth factor (the paper's values;
        the authors' code bounds the penalty at 1e30).
    return_details : bool, default=False
        Return a :class:`LowRankResult` (error, iterations, objective,
        residual) instead of the representation alone.

    Returns
    -------
    C : ndarray of shape (n_samples, n_samples) or LowRankResult
        ``C = Z^T``.

    Examples
    --------
    >>> from subclust.cluster import low_rank_representation, shape_interaction_matrix
    >>> from subclust.datasets import make_molrg
    >>> X, y, _ = make_molrg(n_samples=[20, 20], n_features=10, dims=2, random_state=0)
    >>> result = low_rank_representation(X, 100.0, return_details=True)
    >>> result.converged, bool(result.residual < 1e-8)
    (True, True)
    >>> C = shape_interaction_matrix(X)
    >>> bool(abs(result.representation - C).max() < 1e-6)  # noiseless: the closed form
    True
    """
    X = check_matrix(X).astype(np.float64, copy=False)
    # Samples as the columns of Xc = X^T = U S Q^T (skinny SVD, r = rank): the
    # dictionary A = Xc Q = U S. Every iterate of Xc, A Z, E, Y_1 stays in the
    # column span of U (shrinking columns only rescales them), so the ALM runs
    # on coordinates in that basis: Xc -> S Q^T, A -> S, with the same column
    # norms; only the SVD of an r x n matrix per iteration is left.
    Q, s, Ut = np.linalg.svd(X, full_matrices=False)
    r = _rank_of(s, np.finfo(np.float64).eps * max(X.shape))
    Q, s, U = Q[:, :r], s[:r], Ut[:r].T
    n = X.shape[0]
    Xc = s[:, None] * Q.T  # r x n coordinates of the samples
    Z = np.zeros((r, n))
    J = np.zeros((r, n))
    E = np.zeros((r, n))
    Y1 = np.zeros((r, n))
    Y2 = np.zeros((r, n))
    inverse_diag = 1.0 / (1.0 + s**2)  # (I + A^T A)^{-1}, A^T A = S^2
    converged = False
    # Small SVDs gain nothing from a BLAS thread pool but its synchronization, which
    # a loaded machine makes costly (N=128, 30 iterations on 2 busy cores: 61 s with
    # two threads, 1.2 s with one).
    threads = 1 if r * n <= _ONE_THREAD_SIZE else None
    with blas_threads(threads):
        for n_iter in range(1, max_iter + 1):
            J = _shrink_singular_values(Z + Y2 / mu, 1.0 / mu)
            Z = inverse_diag[:, None] * (s[:, None] * (Xc - E + Y1 / mu) + J - Y2 / mu)
            AZ = s[:, None] * Z
            E = _shrink_columns(Xc - AZ + Y1 / mu, regularization / mu)
            residual_x = Xc - AZ - E
            residual_z = Z - J
            # The largest column norm of residual_x bounds the largest entry of
            # U residual_x, the paper's quantity: this rule stops no earlier.
            residual = max(np.linalg.norm(residual_x, axis=0).max(), np.abs(residual_z).max())
            if residual < tol:
                converged = True
                break
            Y1 += mu * residual_x
            Y2 += mu * residual_z
            mu = min(rho * mu, max_mu)
    C = (Q @ Z).T
    if not return_details:
        return C
    error_norms = np.linalg.norm(E, axis=0)
    objective = float(np.linalg.norm(Z, ord="nuc") + regularization * error_norms.sum())
    return LowRankResult(C, (U @ E).T, n_iter, objective, float(residual), converged)


@validate_params(
    {
        "C": ["array-like"],
        "power": [Interval(numbers.Real, 0, None, closed="neither")],
        "rank_tol": [Interval(numbers.Real, 0, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def low_rank_affinity(C, *, power=4, rank_tol=1e-4):
    """Post-processed LRR affinity of Liu et al.'s released code.

    The skinny SVD ``Z = U S V^T`` of the representation, truncated to the
    singular values above ``rank_tol`` times the largest, gives
    ``M = U S^{1/2}`` with unit rows and ``W_ij = (m_i . m_j)^power``
    (the heuristic post-processing of Liu et al., TPAMI 2013,
    ``W_ij = ([M M^T]_ij)^{2 alpha}``; their face-clustering code
    ``lrr_face_seg.m`` uses ``rank_tol = 1e-4`` and ``power = 4``).
    It is :func:`~subclust.cluster.angular_affinity` on the singular pairs of
    ``Z`` (of ``C = Z^T``: the right singular vectors), with this rank rule.

    Parameters
    ----------
    C : ndarray of shape (n_samples, n_samples)
        Representation ``C = Z^T``.
    power : float, default=4
        ``2 alpha``.
    rank_tol : float, default=1e-4

    Returns
    -------
    W : ndarray of shape (n_samples, n_samples)
        Symmetric, non-negative, zero diagonal.

    Examples
    --------
    >>> import numpy as np
    >>> from subclust.cluster import low_rank_affinity
    >>> C = np.kron(np.eye(2), np.ones((2, 2)) / 2)
    >>> low_rank_affinity(C)
    array([[0., 1., 0., 0.],
           [1., 0., 0., 0.],
           [0., 0., 0., 1.],
           [0., 0., 1., 0.]])
    """
    # C = Z^T: the left singular vectors of Z are the right ones of C.
    _, s, Vt = np.linalg.svd(np.asarray(C, dtype=np.float64), full_matrices=False)
    r = max(1, _rank_of(s, rank_tol))
    return angular_affinity(
        n_clusters=1, dim_per_cluster=r, power=power, eigenpairs=(s[:r], Vt[:r].T)
    )


class LowRankRepresentation(BaseSpectralSubspaceClustering):
    """Low-rank representation subspace clustering (LRR).

    The lowest-rank self-representation ``C = Z^T`` with a column-sparse
    error (:func:`low_rank_representation`, the inexact ALM of Liu et al.),
    or its noiseless closed form (:func:`shape_interaction_matrix`); then an
    affinity from ``C`` and :func:`sklearn.cluster.spectral_clustering`.

    Parameters
    ----------
    n_clusters : int or None, default=8
        None estimates it; see :class:`subclust.cluster.SparseSubspaceClustering`.
    regularization : float or None, default=1.0
        ``lambda`` of ``||Z||_* + lambda ||E||_{2,1}``; its scale follows the
        norm of the samples (1.0 suits unit-norm samples). None solves the
        noiseless problem in closed form (the shape interaction matrix of the
        data, of numerical rank ``rank_tol``).
    normalize : bool, default=True
        Scale samples to unit norm first.
    affinity : {'angular', 'symmetric', 'precomputed'}, default='angular'
        'symmetric' is the paper's ``|Z| + |Z^T|``; 'angular' its
        post-processing (:func:`low_rank_affinity`: skinny SVD of ``Z``,
        ``U S^{1/2}`` with unit rows, entries of its Gram matrix to the
        ``power``); 'precomputed' takes an affinity matrix as ``X``.
    power : float, default=4
        ``2 alpha`` of the post-processing (the authors' code uses 4).
    rank_tol : float, default=1e-4
        Post-processing rank: singular values of ``Z`` above ``rank_tol``
        times the largest (the authors' rule).
    max_iter : int, default=1000
        Iterations of the ALM.
    tol : float, default=1e-8
        Stopping tolerance of the ALM (the paper's ``epsilon``).
    assign_labels : {'cluster_qr', 'discretize', 'kmeans', 'normalized_kmeans'}, \
default='cluster_qr'
        See :func:`~subclust.cluster.spectral_labels`; the authors' code runs
        k-means on the normalized embedding ('kmeans').
    subspace_dims, subspace_energy, random_state
        See :class:`subclust.cluster.SparseSubspaceClustering`.

    Attributes
    ----------
    representation_matrix_ : ndarray of shape (n_samples, n_samples)
        ``C = Z^T``.
    affinity_matrix_ : ndarray of shape (n_samples, n_samples)
    n_iter_ : int
        ALM iterations (1 for the closed form).
    labels_, n_clusters_, laplacian_eigenvalues_, bases_, n_features_in_
        See :class:`subclust.cluster.SparseSubspaceClustering`.

    See Also
    --------
    LowRankRepresentation.from_preset : The parameters of the paper's experiments.

    References
    ----------
    G. Liu, Z. Lin, S. Yan, J. Sun, Y. Yu, Y. Ma, "Robust Recovery of
    Subspace Structures by Low-Rank Representation", IEEE TPAMI 35(1), 2013.

    Examples
    --------
    >>> from subclust.cluster import LowRankRepresentation
    >>> from subclust.datasets import make_molrg
    >>> from subclust.metrics import clustering_accuracy
    >>> X, y, _ = make_molrg(n_samples=[30, 30, 30], n_features=20, dims=3, random_state=0)
    >>> for regularization in (1.0, None):  # the ALM, then the noiseless closed form
    ...     lrr = LowRankRepresentation(3, regularization=regularization, random_state=0).fit(X)
    ...     print(clustering_accuracy(y, lrr.labels_), lrr.n_iter_ > 1)
    1.0 True
    1.0 False
    """

    _parameter_constraints = {
        **{
            key: _COMMON_CONSTRAINTS[key]
            for key in ("n_clusters", "normalize", "power", "assign_labels", "subspace_dims",
                        "subspace_energy", "random_state")
        },  # fmt: skip
        "regularization": [Interval(numbers.Real, 0, None, closed="neither"), None],
        "affinity": [StrOptions({"symmetric", "angular", "precomputed"})],
        "rank_tol": [Interval(numbers.Real, 0, 1, closed="neither")],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "tol": [Interval(numbers.Real, 0, None, closed="neither")],
    }

    def __init__(
        self, n_clusters=8, *, regularization=1.0, normalize=True, affinity="angular", power=4,
        rank_tol=1e-4, max_iter=1000, tol=1e-8, assign_labels="cluster_qr", subspace_dims=None,
        subspace_energy=None, random_state=None,
    ):  # fmt: skip
        store_init_params(self, locals())

    @classmethod
    def from_preset(cls, name, **params):
        """An estimator with a named parameter set of :data:`PRESETS`, then ``params``.

        'paper': lambda = 0.18 of the authors' face-clustering code on
        Extended Yale B (pixels in [0, 1], no normalization) with its
        post-processing; 'hopkins': lambda = 4 of their motion segmentation.

        Examples
        --------
        >>> from subclust.cluster import LowRankRepresentation
        >>> lrr = LowRankRepresentation.from_preset("paper", n_clusters=10)
        >>> lrr.regularization, lrr.normalize, lrr.power
        (0.18, False, 4)
        """
        if name not in PRESETS:
            raise ValueError(f"Unknown preset {name!r}; choose one of {sorted(PRESETS)}.")
        return cls(**{**PRESETS[name], **params})

    def _representation(self, X):
        if self.regularization is None:
            self.n_iter_ = 1  # one SVD
            return shape_interaction_matrix(X), None
        result = low_rank_representation(
            X, self.regularization, max_iter=self.max_iter, tol=self.tol, return_details=True
        )
        self.n_iter_ = result.n_iter
        return result.representation, None

    def _affinity(self, C, eigenpairs, n_clusters):
        if self.affinity == "angular":
            return low_rank_affinity(C, power=self.power, rank_tol=self.rank_tol)
        return representation_affinity(C, scale_rows=False)

    def _affinity_reads_n_clusters(self):
        return False  # the rank of the post-processing comes from Z itself
