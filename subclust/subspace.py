"""Geometry of linear subspaces: bases, projections, angles and distances.

Conventions used throughout subclust:

- samples are rows: ``X`` has shape ``(n_samples, n_features)``;
- a subspace is given by a basis ``U`` of shape ``(n_features, d)`` whose
  columns are orthonormal, so the orthogonal projector is ``P = U U^T``;
- a set of subspaces is a list of such bases, possibly of different ``d``.
"""

from numbers import Integral, Real

import numpy as np
from scipy import linalg
from scipy.optimize import linear_sum_assignment

from subclust.utils.parallel import blas_threads
from subclust.utils.validation import Interval, validate_params

__all__ = [
    "orthonormal_basis",
    "project",
    "residuals",
    "stack_bases",
    "residuals_stacked",
    "principal_angles",
    "subspace_distance",
    "match_subspaces",
    "numerical_rank",
    "estimate_rank",
    "principal_subspace",
    "held_out_residuals",
]

# Eigenvalues of a Gram matrix below this share of the largest are rounding noise of
# the product (singular values below ~1e-5 of the largest): left out, as not resolved.
_GRAM_RTOL = 1e-10


@validate_params(
    {
        "A": ["array-like"],
        "rank": [Interval(Integral, 0, None, closed="left"), None],
        "rtol": [Interval(Real, 0, None, closed="left"), None],
    },
    prefer_skip_nested_validation=True,
)
def orthonormal_basis(A, rank=None, rtol=None):
    """Orthonormal basis of the column space of ``A``.

    Parameters
    ----------
    A : array-like of shape (n_features, m)
        Spanning vectors as columns.
    rank : int, optional
        Keep exactly this many directions (the leading left singular vectors).
    rtol : float, optional
        Relative tolerance used when ``rank`` is None: singular values below
        ``rtol * s_max`` are treated as zero. Defaults to
        ``max(A.shape) * eps`` of the dtype, as in :func:`numpy.linalg.matrix_rank`.

    Returns
    -------
    U : ndarray of shape (n_features, r)
        Orthonormal columns spanning the (numerical) range of ``A``.

    Examples
    --------
    >>> import numpy as np
    >>> from subclust.subspace import orthonormal_basis
    >>> A = np.array([[1.0, 2.0], [0.0, 0.0], [1.0, 2.0]])
    >>> orthonormal_basis(A).shape
    (3, 1)
    """
    A = np.asarray(A)
    if A.ndim == 1:
        A = A[:, None]
    U, s, _ = np.linalg.svd(A, full_matrices=False)
    if rank is None:
        if rtol is None:
            rtol = max(A.shape) * np.finfo(U.dtype).eps
        rank = int(np.sum(s > rtol * s[0])) if s.size and s[0] > 0 else 0
    return U[:, :rank]


@validate_params(
    {
        "X": ["array-like"],
        "U": ["array-like"],
    },
    prefer_skip_nested_validation=True,
)
def project(X, U):
    """Orthogonal projection of the rows of ``X`` onto ``span(U)``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    U : ndarray of shape (n_features, d)
        Orthonormal basis.

    Returns
    -------
    X_proj : ndarray of shape (n_samples, n_features)
        ``X U U^T``.

    Examples
    --------
    >>> import numpy as np
    >>> from subclust.subspace import orthonormal_basis, project
    >>> project(np.array([[1.0, 2.0, 3.0]]), np.eye(3)[:, :2])  # onto the (e1, e2) plane
    array([[1., 2., 0.]])
    >>> U = orthonormal_basis(np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [2.0, 0.0]]))
    >>> X = np.random.default_rng(0).standard_normal((5, 4))
    >>> P = project(X, U)
    >>> bool(np.allclose(project(P, U), P))  # a projection: applying it twice changes nothing
    True
    >>> bool(np.allclose((X - P) @ U, 0))  # what is left is orthogonal to span(U)
    True
    """
    return (X @ U) @ U.T


@validate_params(
    {
        "X": ["array-like"],
        "bases": ["array-like"],
        "means": ["array-like", None],
        "squared": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def residuals(X, bases, means=None, squared=True):
    """Distances of every sample to every subspace, in one GEMM.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    bases : list of ndarray of shape (n_features, d_k)
        Orthonormal bases, one per subspace.
    means : ndarray of shape (n_subspaces, n_features), optional
        Offsets of affine subspaces ``mu_k + span(U_k)``.
    squared : bool, default=True
        Return squared distances.

    Returns
    -------
    R : ndarray of shape (n_samples, n_subspaces)
        ``R[i, k] = ||x_i - mu_k||^2 - ||U_k^T (x_i - mu_k)||^2``, clipped
        at zero against rounding (or its square root).

    Examples
    --------
    >>> import numpy as np
    >>> from subclust.subspace import residuals
    >>> X = np.array([[1.0, 0.0, 0.0], [0.0, 3.0, 4.0]])
    >>> residuals(X, [np.eye(3)[:, :1], np.eye(3)[:, 1:2]])
    array([[ 0.,  1.],
           [25., 16.]])
    """
    W, offsets = stack_bases(bases, means, dtype=X.dtype)
    R = residuals_stacked(X, np.einsum("ij,ij->i", X, X), W, [U.shape[1] for U in bases], offsets)
    return R if squared else np.sqrt(R)


@validate_params(
    {
        "bases": ["array-like"],
        "means": ["array-like", None],
        "dtype": "no_validation",
    },
    prefer_skip_nested_validation=True,
)
def stack_bases(bases, means=None, dtype=np.float64):
    """Stack bases (and affine offsets) into one matrix for a single GEMM.

    An affine subspace ``mu + span(U)`` is stored by its offset orthogonal to
    ``span(U)``, ``m = mu - U U^T mu``; then
    ``||x - mu||^2 - ||U^T (x - mu)||^2 = ||x||^2 - ||U^T x||^2 - 2 x.m + ||m||^2``,
    so one product ``X [U_1 ... U_K m_1 ... m_K]`` gives every residual.

    Parameters
    ----------
    bases : list of ndarray of shape (n_features, d_k)
        Orthonormal bases, one per subspace.
    means : array-like of shape (K, n_features), optional
        Offsets ``mu_k`` of affine subspaces; None for linear subspaces.
    dtype : numpy dtype, default=float64

    Returns
    -------
    W : ndarray of shape (n_features, sum(d_k) [+ K])
    offsets : ndarray of shape (K, n_features) or None
        The orthogonal offsets ``m_k``, or None for linear subspaces.

    Examples
    --------
    >>> import numpy as np
    >>> from subclust.subspace import stack_bases
    >>> E = np.eye(3)
    >>> W, offsets = stack_bases([E[:, :1], E[:, 1:]])  # a line and a plane
    >>> W.shape, offsets
    ((3, 3), None)
    >>> # The affine line (1, 2, 0) + span(e1) is stored by its offset orthogonal to e1.
    >>> W, offsets = stack_bases([E[:, :1]], means=[[1.0, 2.0, 0.0]])
    >>> W.shape, offsets
    ((3, 2), array([[0., 2., 0.]]))
    """
    W = np.hstack([np.asarray(U, dtype=dtype) for U in bases])
    if means is None:
        return W, None
    means = np.asarray(means, dtype=dtype)
    offsets = np.stack([mu - U @ (U.T @ mu) for U, mu in zip(bases, means)])
    return np.hstack([W, offsets.T]), offsets


@validate_params(
    {
        "X": ["array-like"],
        "sq_norms": ["array-like"],
        "W": ["array-like"],
        "dims": ["array-like"],
        "offsets": ["array-like", None],
    },
    prefer_skip_nested_validation=True,
)
def residuals_stacked(X, sq_norms, W, dims, offsets=None):
    """Squared residuals from a matrix built by :func:`stack_bases`.

    The low-level kernel of :func:`residuals` and of the K-subspaces
    iterations: one GEMM ``X W`` and a reduction over the blocks of columns.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    sq_norms : ndarray of shape (n_samples,)
        Squared row norms of ``X``.
    W : ndarray from :func:`stack_bases`
    dims : sequence of int
        Dimension of each subspace (the column blocks of ``W``).
    offsets : ndarray of shape (K, n_features) or None

    Returns
    -------
    R : ndarray of shape (n_samples, K)
        ``R[i, k]`` is the squared distance of ``x_i`` to subspace ``k``.

    Examples
    --------
    >>> import numpy as np
    >>> from subclust.datasets import random_bases
    >>> from subclust.subspace import project, residuals_stacked, stack_bases
    >>> rng = np.random.default_rng(0)
    >>> bases = random_bases(5, [2, 1], random_state=0)
    >>> means = rng.standard_normal((2, 5))  # two affine subspaces
    >>> X = rng.standard_normal((4, 5))
    >>> W, offsets = stack_bases(bases, means)
    >>> R = residuals_stacked(X, np.einsum("ij,ij->i", X, X), W, [2, 1], offsets)
    >>> direct = [((X - mu - project(X - mu, U)) ** 2).sum(axis=1) for U, mu in zip(bases, means)]
    >>> R.shape, bool(np.allclose(R, np.column_stack(direct)))
    ((4, 2), True)
    >>> # points of the first affine subspace are at distance zero from it
    >>> Y = means[0] + rng.standard_normal((3, 2)) @ bases[0].T
    >>> R = residuals_stacked(Y, np.einsum("ij,ij->i", Y, Y), W, [2, 1], offsets)
    >>> bool(np.allclose(R[:, 0], 0, atol=1e-10))
    True
    """
    XW = X @ W
    total = int(np.sum(dims))
    P = XW[:, :total]
    np.square(P, out=P)
    # Summing the squared coordinates of each block is a GEMM with a 0/1 matrix.
    block_sums = np.zeros((total, len(dims)), dtype=P.dtype)
    block_sums[np.arange(total), np.repeat(np.arange(len(dims)), dims)] = 1
    R = sq_norms[:, None] - P @ block_sums
    if offsets is not None:
        R -= 2 * XW[:, total:]
        R += np.einsum("ij,ij->i", offsets, offsets).astype(R.dtype)
    np.maximum(R, 0, out=R)
    return R


def _orthonormal(A):
    """Orthonormalize the columns of a full-column-rank ``A`` (thin QR)."""
    Q, _ = np.linalg.qr(np.asarray(A, dtype=np.result_type(A, np.float64)))
    return Q


@validate_params(
    {
        "A": ["array-like"],
        "B": ["array-like"],
    },
    prefer_skip_nested_validation=True,
)
def principal_angles(A, B):
    """Principal angles between ``span(A)`` and ``span(B)``, in increasing order.

    Uses the method of Knyazev and Argentati (SIAM J. Sci. Comput. 23(6),
    2002): cosines from the SVD of ``Q_A^T Q_B`` for large angles, sines from
    the SVD of ``Q_B - Q_A Q_A^T Q_B`` for small ones, so that angles near
    zero are as accurate as those near pi/2. Note the order: SciPy's
    :func:`scipy.linalg.subspace_angles` returns the same angles largest first.

    Parameters
    ----------
    A : array-like of shape (n_features, p)
    B : array-like of shape (n_features, q)
        Spanning vectors as columns (need not be orthonormal; full column rank).

    Returns
    -------
    theta : ndarray of shape (min(p, q),)
        Angles in radians, in [0, pi/2], smallest first.

    Examples
    --------
    >>> import numpy as np
    >>> from subclust.subspace import principal_angles
    >>> A = np.eye(3)[:, :2]
    >>> B = np.array([[1.0], [1.0], [0.0]])
    >>> principal_angles(A, B)
    array([0.])
    """
    QA, QB = _orthonormal(A), _orthonormal(B)
    if QA.shape[1] < QB.shape[1]:
        QA, QB = QB, QA
    M = QA.T @ QB
    cos = np.linalg.svd(M, compute_uv=False)[::-1]  # ascending cosines -> descending angles
    sin = np.linalg.svd(QB - QA @ M, compute_uv=False)  # descending sines
    theta_large = np.arccos(np.clip(cos, 0.0, 1.0))
    theta_small = np.arcsin(np.clip(sin, 0.0, 1.0))
    theta = np.where(cos**2 < 0.5, theta_large, theta_small)
    return np.sort(theta)


@validate_params(
    {
        "A": ["array-like"],
        "B": ["array-like"],
    },
    prefer_skip_nested_validation=True,
)
def subspace_distance(A, B):
    """Normalized projection distance ``||P_A - P_B||_F / sqrt(d_A + d_B)``.

    For equal dimensions ``d`` this is ``||P_A - P_B||_F / sqrt(2 d)``: 0 for
    the same subspace, 1 for orthogonal ones. It is symmetric and is computed
    from the sines of the principal angles,
    ``||P_A - P_B||_F^2 = |d_A - d_B| + 2 sum_i sin^2(theta_i)``,
    so it is accurate for nearly equal subspaces.

    Parameters
    ----------
    A : array-like of shape (n_features, d_A)
    B : array-like of shape (n_features, d_B)
        Spanning vectors as columns.

    Returns
    -------
    distance : float in [0, 1]

    Examples
    --------
    >>> import numpy as np
    >>> from subclust.subspace import subspace_distance
    >>> subspace_distance(np.eye(4)[:, :2], np.eye(4)[:, 2:])
    1.0
    """
    A, B = np.atleast_2d(np.asarray(A)), np.atleast_2d(np.asarray(B))
    d_a, d_b = A.shape[1], B.shape[1]
    sin = np.sin(principal_angles(A, B))
    sq = abs(d_a - d_b) + 2.0 * float(np.sum(sin**2))
    return float(np.sqrt(sq / (d_a + d_b)))


@validate_params(
    {
        "As": ["array-like"],
        "Bs": ["array-like"],
    },
    prefer_skip_nested_validation=True,
)
def match_subspaces(As, Bs):
    """Match two sets of subspaces by the Hungarian algorithm on their distances.

    Parameters
    ----------
    As, Bs : list of array-like of shape (n_features, d)
        Bases of the two sets (the sizes may differ).

    Returns
    -------
    permutation : ndarray of int of shape (len(As),)
        ``As[i]`` is matched with ``Bs[permutation[i]]``; -1 where no
        partner is left (when ``len(As) > len(Bs)``).
    distances : ndarray of shape (len(As),)
        :func:`subspace_distance` of each matched pair; 1.0 for unmatched.

    Examples
    --------
    >>> import numpy as np
    >>> from subclust.subspace import match_subspaces
    >>> E = np.eye(3)
    >>> perm, dist = match_subspaces([E[:, :1], E[:, 1:2]], [E[:, 1:2], E[:, :1]])
    >>> perm.tolist(), dist.tolist()
    ([1, 0], [0.0, 0.0])
    """
    cost = np.array([[subspace_distance(A, B) for B in Bs] for A in As]).reshape(len(As), len(Bs))
    rows, cols = linear_sum_assignment(cost)
    permutation = np.full(len(As), -1, dtype=int)
    distances = np.ones(len(As))
    permutation[rows] = cols
    distances[rows] = cost[rows, cols]
    return permutation, distances


@validate_params(
    {
        "singular_values": ["array-like"],
        "energy": [Interval(Real, 0, 1, closed="right")],
    },
    prefer_skip_nested_validation=True,
)
def numerical_rank(singular_values, energy=0.99):
    """Smallest ``r`` whose leading singular values hold ``energy`` of the norm.

    The rank is the smallest ``r`` with
    ``sqrt(sum_{i<=r} s_i^2) > energy * sqrt(sum_i s_i^2)``, the definition
    used for the Jacobians of trained denoisers.

    Parameters
    ----------
    singular_values : array-like of shape (m,)
        Non-negative singular values (any order).
    energy : float in (0, 1], default=0.99

    Returns
    -------
    rank : int

    Examples
    --------
    >>> from subclust.subspace import numerical_rank
    >>> numerical_rank([10.0, 3.0, 1e-3])
    2
    """
    s = np.sort(np.abs(np.asarray(singular_values, dtype=np.float64)))[::-1]
    total = np.sqrt(np.sum(s**2))
    if total == 0:
        return 0
    cumulative = np.sqrt(np.cumsum(s**2))
    above = np.nonzero(cumulative > energy * total)[0]
    return int(above[0] + 1) if above.size else s.size


@validate_params(
    {
        "singular_values": ["array-like"],
        "shape": [tuple, list],
    },
    prefer_skip_nested_validation=True,
)
def estimate_rank(singular_values, shape):
    """Rank of a noisy low-rank matrix by the optimal hard threshold.

    Gavish and Donoho's rule for a matrix ``signal + noise`` with white noise
    of unknown level: keep the singular values above
    ``omega(beta) * median(s)``, with ``beta = m / n`` the aspect ratio
    (``m <= n``) and ``omega(beta) ~ 0.56 beta^3 - 0.95 beta^2 + 1.82 beta + 1.43``.
    The median of the spectrum measures the noise, so that a
    ``d``-dimensional subspace sampled with noise is found ``d``-dimensional,
    where an energy share (:func:`numerical_rank`) also keeps part of the
    noise. The rule needs the noise to fill most of the spectrum: fewer
    samples than about twice the rank underestimates it. Values below the
    floating-point noise of the largest never count.

    Parameters
    ----------
    singular_values : array-like of shape (k,)
        Singular values of the matrix (any order); values not given (a
        truncated spectrum, ``k < min(shape)``) count as zero.
    shape : tuple of int
        Shape ``(m, n)`` of the matrix, in either order.

    Returns
    -------
    rank : int

    References
    ----------
    M. Gavish and D. L. Donoho, "The Optimal Hard Threshold for Singular
    Values is 4/sqrt(3)", IEEE Trans. Information Theory 60(8), 2014.

    Examples
    --------
    >>> import numpy as np
    >>> from subclust.subspace import estimate_rank, numerical_rank
    >>> rng = np.random.default_rng(0)
    >>> U = np.linalg.qr(rng.standard_normal((100, 5)))[0]
    >>> X = rng.standard_normal((400, 5)) @ U.T + 0.05 * rng.standard_normal((400, 100))
    >>> s = np.linalg.svd(X, compute_uv=False)
    >>> estimate_rank(s, X.shape), numerical_rank(s, 0.997)
    (5, 73)
    """
    m, n = sorted(int(size) for size in shape)
    s = np.sort(np.abs(np.asarray(singular_values, dtype=np.float64)))[::-1][:m]
    if s.size == 0 or s[0] == 0:
        return 0
    spectrum = np.zeros(m)
    spectrum[: s.size] = s
    beta = m / n
    omega = 0.56 * beta**3 - 0.95 * beta**2 + 1.82 * beta + 1.43
    threshold = max(omega * np.median(spectrum), s[0] * n * np.finfo(np.float64).eps)
    return int(np.count_nonzero(spectrum > threshold))


@validate_params(
    {
        "X": ["array-like"],
        "dim": [Interval(Integral, 1, None, closed="left"), None],
        "energy": [Interval(Real, 0, 1, closed="right"), None],
    },
    prefer_skip_nested_validation=True,
)
def principal_subspace(X, dim=None, *, energy=None):
    """Orthonormal basis of the principal subspace of samples (through the origin).

    The ``d`` leading left singular vectors of ``X^T``: the ``d``-dimensional
    subspace closest to the samples in the least-squares sense (the
    K-subspaces update of one cluster, PCA without centring). With ``d``
    not given, it is estimated from the singular values: by the optimal
    hard threshold (:func:`estimate_rank`), which noise does not inflate,
    or, with ``energy``, as the smallest rank holding that share of the
    Frobenius norm (:func:`numerical_rank`).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        The samples, as rows (centre them first for an affine subspace).
    dim : int, optional
        Dimension of the subspace, from 1 to ``n_features``. Where the
        samples span fewer directions, the basis is completed by directions
        orthogonal to them (any such: the problem does not tell them apart).
    energy : float in (0, 1], optional
        Share of the Frobenius norm to keep when ``dim`` is None, instead of
        the threshold rule (an energy share also keeps part of the noise).

    Returns
    -------
    U : ndarray of shape (n_features, d)
        Orthonormal columns, the leading direction first, in the floating
        dtype of ``X`` (float64 for integers). An estimated ``d`` lies
        between 1 and ``n_features - 1`` (a subspace of full dimension holds
        every sample) and never exceeds the number of directions spanned.

    Examples
    --------
    >>> import numpy as np
    >>> from subclust.subspace import principal_subspace, subspace_distance
    >>> rng = np.random.default_rng(0)
    >>> basis = np.linalg.qr(rng.standard_normal((50, 3)))[0]
    >>> X = rng.standard_normal((40, 3)) @ basis.T + 0.01 * rng.standard_normal((40, 50))
    >>> U = principal_subspace(X)  # dimension estimated: the noise does not count
    >>> U.shape, bool(subspace_distance(U, basis) < 0.02)
    ((50, 3), True)
    >>> principal_subspace(X, 5).shape
    (50, 5)
    >>> principal_subspace(X[:2], 3).shape  # two samples: completed to three directions
    (50, 3)
    """
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(
            f"X must hold at least one sample as a row of a 2D array, got shape {X.shape}."
        )
    n_features = X.shape[1]
    if dim is not None and dim > n_features:
        raise ValueError(f"dim={dim} exceeds n_features={n_features}; lower it.")
    dtype = X.dtype if X.dtype.kind == "f" else np.dtype(np.float64)
    A = X.T.astype(np.float64)
    s, U = _leading_left_singular_pairs(A, dim)
    if dim is None:
        rank = estimate_rank(s, X.shape) if energy is None else numerical_rank(s, energy)
        dim = max(1, min(rank, U.shape[1], n_features - 1))
    if dim > U.shape[1]:
        # Fewer directions spanned than asked for: the full SVD completes them.
        U = np.linalg.svd(A, full_matrices=True)[0]
    return U[:, :dim].astype(dtype, copy=False)


@validate_params(
    {
        "X": ["array-like"],
        "folds": ["array-like"],
        "dim": [Interval(Integral, 1, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def held_out_residuals(X, folds, dim):
    """Squared distance of each sample to the principal subspace of the other folds' samples.

    Cross-validation of a principal subspace: the samples of each fold are
    measured against the ``dim``-dimensional principal subspace (through the
    origin, as :func:`principal_subspace` fits it) of the samples of the
    other folds, which was not fitted to them. The folds share one product
    of the samples, ``X X^T`` where they are fewer than the features (each
    fold's coordinates then come from the eigenpairs of its block, without
    forming a basis) and ``X^T X`` otherwise (less the held samples' share).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    folds : ndarray of int of shape (n_samples,)
        The fold of each sample.
    dim : int
        Dimension of the subspaces; fewer where the other folds' samples
        span fewer directions.

    Returns
    -------
    residuals : ndarray of shape (n_samples,)
        Squared distances. The samples of a fold that holds every sample
        have no subspace to be measured against: their squared norms.

    Examples
    --------
    >>> import numpy as np
    >>> from subclust.subspace import held_out_residuals
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((20, 2)) @ rng.standard_normal((2, 6))  # a plane in R^6
    >>> folds = np.arange(20) % 5
    >>> bool(held_out_residuals(X, folds, dim=2).max() < 1e-9)  # the other folds span it
    True
    >>> bool(held_out_residuals(X, folds, dim=1).min() > 0)  # a line misses every sample
    True
    """
    X = np.asarray(X, dtype=np.float64)
    folds = np.asarray(folds)
    squared = np.einsum("ij,ij->i", X, X)
    distances = squared.copy()
    gram = X.shape[0] <= X.shape[1]
    # Small products and one eigendecomposition per fold, on one BLAS thread: beside
    # other work, threads waiting on each other made them 15 times slower.
    with blas_threads(1):
        product = X @ X.T if gram else X.T @ X
        for fold in np.unique(folds):
            held, kept = folds == fold, folds != fold
            if not kept.any():
                continue
            if gram:  # held x in the kept basis A^T V / sqrt(values): V^T (A x) / sqrt(values)
                values, vectors = np.linalg.eigh(product[np.ix_(kept, kept)])
                cross = product[np.ix_(kept, held)]
            else:
                values, vectors = np.linalg.eigh(product - X[held].T @ X[held])
                cross = X[held].T
            values, vectors = values[::-1][:dim], vectors[:, ::-1][:, :dim]
            resolved = values > max(values[0], 0.0) * _GRAM_RTOL
            coords = vectors[:, resolved].T @ cross
            if gram:
                coords /= np.sqrt(values[resolved])[:, None]
            distances[held] = squared[held] - np.einsum("ij,ij->j", coords, coords)
    return np.maximum(distances, 0.0)


def _gram_singular_values(gram):
    """Singular values of ``A`` (descending) from ``A A^T`` or ``A^T A``, those resolved.

    Squared, they keep about half their digits: those below ``sqrt(_GRAM_RTOL)``
    of the largest are rounding noise of the product and count as zero.
    """
    values = np.linalg.eigvalsh(gram)[::-1]
    resolved = values > max(values[0], 0.0) * _GRAM_RTOL
    return np.where(resolved, np.sqrt(np.where(resolved, values, 0.0)), 0.0)


def _leading_left_singular_pairs(A, n_pairs=None):
    """Singular values (descending) and left singular vectors of ``A``, those resolved.

    With fewer columns than rows (a cluster of fewer samples than features,
    the common case), the eigenpairs of the small ``A^T A`` give them at a
    fraction of the cost of an SVD, down to about 1e-5 of the largest value;
    only the ``n_pairs`` leading ones, if given (a partial eigendecomposition).
    """
    if A.shape[1] >= A.shape[0]:
        U, s, _ = np.linalg.svd(A, full_matrices=False)
        return s, U
    gram, n = A.T @ A, A.shape[1]
    if n_pairs is None or n_pairs >= n:
        values, V = np.linalg.eigh(gram)
    else:
        values, V = linalg.eigh(gram, subset_by_index=[n - n_pairs, n - 1], driver="evr")
    values, V = values[::-1], V[:, ::-1]
    keep = values > values[0] * _GRAM_RTOL if values[0] > 0 else np.zeros(len(values), bool)
    s = np.sqrt(values[keep])
    return s, (A @ V[:, keep]) / s
