"""Samples of a mixture of low-rank Gaussians (MoLRG)."""

import numbers

import numpy as np
from sklearn.utils import check_random_state

from subclust.utils.validation import Interval, validate_params

__all__ = ["make_molrg", "random_bases"]


@validate_params(
    {
        "n_features": [Interval(numbers.Integral, 1, None, closed="left")],
        "dims": ["array-like"],
        "orthogonal": ["boolean"],
        "random_state": ["random_state"],
        "dtype": "no_validation",
    },
    prefer_skip_nested_validation=True,
)
def random_bases(n_features, dims, orthogonal=False, random_state=None, dtype=np.float64):
    """Orthonormal bases of random subspaces.

    Parameters
    ----------
    n_features : int
        Ambient dimension.
    dims : sequence of int
        Dimension of each subspace.
    orthogonal : bool, default=False
        Make the subspaces mutually orthogonal (needs ``sum(dims) <= n_features``).
        Otherwise each is drawn independently, uniformly on the Grassmannian.
    random_state : int, RandomState instance or None
    dtype : numpy dtype, default=float64

    Returns
    -------
    bases : list of ndarray of shape (n_features, d_k)

    Examples
    --------
    >>> import numpy as np
    >>> from subclust.datasets import random_bases
    >>> bases = random_bases(6, [2, 3], orthogonal=True, random_state=0)
    >>> [U.shape for U in bases]
    [(6, 2), (6, 3)]
    >>> bool(np.allclose(bases[1].T @ bases[1], np.eye(3)))  # orthonormal columns
    True
    >>> bool(np.allclose(bases[0].T @ bases[1], 0))  # mutually orthogonal subspaces
    True
    >>> again = random_bases(6, [2, 3], orthogonal=True, random_state=0)
    >>> all(np.array_equal(U, V) for U, V in zip(bases, again))  # the seed fixes them
    True
    """
    rng = check_random_state(random_state)
    dims = [int(d) for d in dims]
    if orthogonal:
        if sum(dims) > n_features:
            raise ValueError(
                f"orthogonal subspaces need sum(dims)={sum(dims)} <= n_features={n_features}."
            )
        Q, _ = np.linalg.qr(rng.standard_normal((n_features, sum(dims))))
        splits = np.cumsum(dims)[:-1]
        return [B.astype(dtype) for B in np.split(Q, splits, axis=1)]
    return [np.linalg.qr(rng.standard_normal((n_features, d)))[0].astype(dtype) for d in dims]


@validate_params(
    {
        "n_samples": [Interval(numbers.Integral, 0, None, closed="left"), "array-like"],
        "n_features": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_components": [Interval(numbers.Integral, 1, None, closed="left")],
        "dims": [Interval(numbers.Integral, 1, None, closed="left"), "array-like"],
        "weights": ["array-like", None],
        "noise": [Interval(numbers.Real, 0, None, closed="left")],
        "orthogonal": ["boolean"],
        "shuffle": ["boolean"],
        "dtype": "no_validation",
        "bases": ["array-like", None],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_molrg(
    n_samples=300, n_features=48, n_components=3, dims=6, weights=None, noise=0.0, orthogonal=False,
    shuffle=True, dtype=np.float64, bases=None, random_state=None,
):  # fmt: skip
    """Draw samples from a mixture of low-rank Gaussians.

    With probability ``pi_k`` a sample is ``x = U_k a + noise * e`` with
    ``a ~ N(0, I_{d_k})``, ``e ~ N(0, I_n)`` and ``U_k`` an orthonormal
    ``n_features x d_k`` basis: the data model of Wang et al. (arXiv:2409.02426).

    Parameters
    ----------
    n_samples : int or sequence of int, default=300
        Total number of samples (split among components by ``weights``, drawn
        multinomially), or the exact number of samples of each component.
    n_features : int, default=48
        Ambient dimension ``n``.
    n_components : int, default=3
        Number of components ``K`` (ignored when ``n_samples`` or ``dims`` is a sequence).
    dims : int or sequence of int, default=6
        Intrinsic dimension of each component.
    weights : sequence of float, optional
        Mixture weights ``pi_k``; uniform by default.
    noise : float, default=0.0
        Standard deviation of the isotropic off-subspace noise.
    orthogonal : bool, default=False
        Draw mutually orthogonal subspaces instead of independent random ones.
    shuffle : bool, default=True
        Shuffle the samples; otherwise they come ordered by component.
    dtype : numpy dtype, default=float64
    bases : list of ndarray of shape (n_features, d_k), optional
        Sample from these orthonormal bases instead of drawing new ones
        (``n_components`` and ``dims`` then follow from them), e.g. to write
        a large data set in chunks from one mixture.
    random_state : int, RandomState instance or None
        Seed for reproducible output.

    Returns
    -------
    X : ndarray of shape (N, n_features)
    y : ndarray of int of shape (N,)
        Component of each sample.
    bases : list of ndarray of shape (n_features, d_k)
        The true orthonormal bases ``U_k``.

    Examples
    --------
    >>> from subclust.datasets import make_molrg
    >>> X, y, bases = make_molrg(n_samples=[10, 20], n_features=8, dims=2, random_state=0)
    >>> X.shape, bases[0].shape
    ((30, 8), (8, 2))
    """
    rng = check_random_state(random_state)
    if bases is not None:
        bases = [np.asarray(U, dtype=np.float64) for U in bases]
        n_features, n_components, dims = bases[0].shape[0], len(bases), [U.shape[1] for U in bases]
    counts_given = not isinstance(n_samples, numbers.Integral)
    if counts_given:
        n_components = len(n_samples)
    elif not isinstance(dims, numbers.Integral):
        n_components = len(dims)
    if n_components < 1:
        raise ValueError("A mixture needs at least one component; n_samples, dims and bases "
                         "must not be empty.")
    dims = [int(dims)] * n_components if isinstance(dims, numbers.Integral) else list(dims)
    if len(dims) != n_components:
        raise ValueError(f"dims has {len(dims)} entries for {n_components} components.")
    if max(dims) >= n_features or min(dims) < 1:
        raise ValueError(f"Each of dims={dims} must lie in [1, n_features={n_features}).")

    if counts_given:
        counts = np.asarray(n_samples, dtype=int)
        if counts.min() < 0:
            raise ValueError(f"Sample counts must be non-negative, got {counts.tolist()}.")
    else:
        pi = np.full(n_components, 1.0 / n_components) if weights is None else np.asarray(weights)
        if pi.shape != (n_components,) or pi.min() < 0 or not np.isclose(pi.sum(), 1.0):
            raise ValueError(f"weights must be {n_components} non-negative numbers summing to 1.")
        counts = rng.multinomial(int(n_samples), pi)

    if bases is None:
        bases = random_bases(n_features, dims, orthogonal=orthogonal, random_state=rng)
    X = np.vstack(
        [rng.standard_normal((c, d)) @ U.T for c, d, U in zip(counts, dims, bases)]
        or [np.empty((0, n_features))]
    )
    if noise > 0:
        X += noise * rng.standard_normal(X.shape)
    y = np.repeat(np.arange(n_components), counts)
    if shuffle:
        order = rng.permutation(len(y))
        X, y = X[order], y[order]
    return X.astype(dtype, copy=False), y, [U.astype(dtype) for U in bases]
