"""K-subspaces clustering.

Alternates two steps that each never increase the objective
``sum_i min_k dist(x_i, S_k)^2``:

- assignment: every point goes to the subspace with the smallest residual
  (one GEMM of ``X`` with all bases stacked);
- update: every subspace becomes the top-``d_k`` principal subspace of its
  points (eigenvectors of a per-cluster scatter matrix).

For linear subspaces the objective equals ``||X||_F^2 - sum_i max_k ||U_k^T x_i||^2``,
so minimizing it is maximizing the objective that training the paper's
hard-max low-rank mixture denoiser optimizes (Wang et al., arXiv:2409.02426).
Both steps read ``X`` in chunks of rows: an iteration is one pass over the
data with only per-cluster ``n x n`` scatter matrices kept.
"""

import numbers
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy import linalg
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    ClusterMixin,
    TransformerMixin,
)
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from threadpoolctl import threadpool_info, threadpool_limits

from subclust._validation import check_dims, check_is_fitted, fit_context, validate_data
from subclust.subspace import residuals_stacked, stack_bases

__all__ = ["KSubspaces", "k_subspaces"]

_DEFAULT_CHUNK = 8192


@dataclass
class _Model:
    """Bases (and means) of a K-subspaces model, with the stacked GEMM operand."""

    bases: list
    means: np.ndarray | None
    dtype: np.dtype

    def __post_init__(self):
        self.dims = [U.shape[1] for U in self.bases]
        self.W, self.offsets = stack_bases(self.bases, self.means, dtype=self.dtype)

    def residuals(self, X, sq_norms):
        return residuals_stacked(X, sq_norms, self.W, self.dims, self.offsets)


def _chunks(n_samples, chunk_size):
    for start in range(0, n_samples, chunk_size):
        yield slice(start, min(start + chunk_size, n_samples))


def _row_norms_sq(X, chunk_size):
    out = np.empty(X.shape[0], dtype=X.dtype)
    for sl in _chunks(X.shape[0], chunk_size):
        out[sl] = np.einsum("ij,ij->i", X[sl], X[sl])
    return out


def _seed_subspace(X, sq_norms, index, dim, affine):
    """Subspace through point ``index`` and its nearest neighbours.

    Linear: the point and its ``dim - 1`` nearest neighbours by absolute
    cosine similarity, which is invariant to the scale and sign of points on
    a subspace through the origin. Affine: the point and its ``dim`` nearest
    neighbours by Euclidean distance, centred.
    """
    x = X[index]
    if affine:
        score = -(sq_norms - 2 * (X @ x))  # -||x_i - x||^2 up to a constant
        n_neighbours = dim + 1
    else:
        norms = np.sqrt(sq_norms)
        with np.errstate(divide="ignore", invalid="ignore"):
            score = np.abs(X @ x) / (norms * max(norms[index], np.finfo(X.dtype).tiny))
        score[~np.isfinite(score)] = 0.0
        n_neighbours = dim
    score[index] = np.inf
    n_neighbours = min(n_neighbours, X.shape[0])
    neighbours = np.argpartition(-score, n_neighbours - 1)[:n_neighbours]
    points = X[neighbours].astype(np.float64)
    mean = points.mean(axis=0) if affine else None
    if affine:
        points = points - mean
    basis = _top_basis(points.T @ points, dim)
    return basis, mean


def _top_basis(scatter, dim):
    """Top-``dim`` eigenvectors of a symmetric matrix, largest first."""
    n = scatter.shape[0]
    _, vectors = linalg.eigh(scatter, subset_by_index=[n - dim, n - 1], driver="evr")
    return vectors[:, ::-1]


def _init_nn(X, sq_norms, dims, affine, rng, chunk_size):
    """Seed subspaces k-means++-style: next seed drawn by residual to the others."""
    n_samples = X.shape[0]
    bases, means = [], []
    min_res = None
    for dim in dims:
        if min_res is None or not np.any(min_res > 0):
            index = rng.randint(n_samples)
        else:
            index = rng.choice(n_samples, p=min_res / min_res.sum())
        basis, mean = _seed_subspace(X, sq_norms, index, dim, affine)
        bases.append(basis)
        means.append(mean)
        model = _Model([basis], np.array([mean]) if affine else None, np.float64)
        _, res, _ = _pass(X, sq_norms, model, chunk_size, accumulate=False)
        min_res = res if min_res is None else np.minimum(min_res, res)
    return bases, (np.array(means) if affine else None)


def _init_random(X, dims, affine, rng):
    """Uniformly random subspaces; affine offsets at random data points."""
    n_features = X.shape[1]
    bases = [np.linalg.qr(rng.standard_normal((n_features, d)))[0] for d in dims]
    means = X[rng.choice(X.shape[0], len(dims), replace=False)].astype(np.float64) if affine else None
    return bases, means


@dataclass
class _Statistics:
    """Sufficient statistics of a labelled data set: counts, sums, scatters."""

    counts: np.ndarray
    sums: np.ndarray
    scatters: np.ndarray

    @classmethod
    def zeros(cls, n_clusters, n_features):
        return cls(
            np.zeros(n_clusters, dtype=np.int64),
            np.zeros((n_clusters, n_features)),
            np.zeros((n_clusters, n_features, n_features)),
        )

    def add(self, X, labels, with_sums=True):
        """Accumulate a chunk: rows grouped by label, one ``X_k^T X_k`` each.

        The products run in the dtype of ``X`` (a float32 GEMM for float32
        data) and are accumulated across chunks in float64.
        """
        grouped = np.take(X, np.argsort(labels, kind="stable"), axis=0)
        counts = np.bincount(labels, minlength=len(self.counts))
        stops = np.cumsum(counts)
        for k in np.flatnonzero(counts):
            rows = grouped[stops[k] - counts[k] : stops[k]]
            self.scatters[k] += rows.T @ rows
            if with_sums:
                self.sums[k] += rows.sum(axis=0, dtype=np.float64)
        self.counts += counts

    def merge(self, other):
        self.counts += other.counts
        self.sums += other.sums
        self.scatters += other.scatters
        return self


def _chunk_pass(Xc, sq_norms, model, stats=None):
    """Assign one chunk of rows to ``model``; accumulate its statistics if asked.

    The map step of every K-subspaces pass (in memory, chunked, or on Dask).
    """
    R = model.residuals(Xc, sq_norms)
    labels = R.argmin(axis=1)
    min_res = R[np.arange(R.shape[0]), labels]
    if stats is not None:
        stats.add(Xc, labels, with_sums=model.offsets is not None)
    return labels, min_res


def _n_threads():
    """Threads for a pass: as many as the BLAS may use (honours ``threadpool_limits``)."""
    blas = [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]
    return max(blas, default=1)


def _pass(X, sq_norms, model, chunk_size, accumulate=True):
    """One pass over ``X``: labels, squared residuals and (optionally) statistics.

    The chunks are split into contiguous blocks, one per thread, each thread
    running single-threaded BLAS on its own chunks: the per-chunk work that
    is not a GEMM (grouping rows, arg-min) then runs in parallel too. The
    blocks are merged in a fixed order, so the result does not depend on
    scheduling.
    """
    n_samples = X.shape[0]
    labels = np.empty(n_samples, dtype=np.intp)
    min_res = np.empty(n_samples, dtype=np.float64)
    chunks = list(_chunks(n_samples, chunk_size))
    n_threads = min(_n_threads(), len(chunks))
    blocks = np.array_split(np.arange(len(chunks)), n_threads)

    def run(block):
        stats = _Statistics.zeros(len(model.dims), X.shape[1]) if accumulate else None
        for i in block:
            sl = chunks[i]
            labels[sl], min_res[sl] = _chunk_pass(X[sl], sq_norms[sl], model, stats)
        return stats

    if n_threads == 1:
        results = [run(blocks[0])]
    else:
        with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(n_threads) as pool:
            results = list(pool.map(run, blocks))
    stats = results[0]
    if accumulate:
        for other in results[1:]:
            stats.merge(other)
    return labels, min_res, stats


def _update(stats, dims, affine, X, sq_norms, min_res):
    """New subspaces from cluster statistics; empty clusters re-seeded.

    An empty cluster is re-seeded at the worst-fit point (largest residual),
    which cannot increase the objective: no point is assigned to it yet.
    """
    bases, means = [], []
    worst = np.argsort(min_res)[::-1]
    n_reseeded = 0
    for k, dim in enumerate(dims):
        count = stats.counts[k]
        if count == 0:
            basis, mean = _seed_subspace(X, sq_norms, worst[n_reseeded], dim, affine)
            n_reseeded += 1
        else:
            scatter = stats.scatters[k]
            mean = stats.sums[k] / count if affine else None
            if affine:
                scatter = scatter - count * np.outer(mean, mean)
            basis = _top_basis(scatter, dim)
        bases.append(basis)
        means.append(mean)
    return bases, (np.array(means) if affine else None)


def _k_subspaces_single(X, sq_norms, dims, bases, means, max_iter, tol, chunk_size, verbose):
    """One run of K-subspaces from given initial subspaces."""
    affine = means is not None
    history = []
    labels = None
    for n_iter in range(1, max_iter + 1):
        model = _Model(bases, means, X.dtype)
        new_labels, min_res, stats = _pass(X, sq_norms, model, chunk_size)
        objective = float(min_res.sum())
        history.append(objective)
        if verbose:
            print(f"K-subspaces iteration {n_iter:3d}: objective {objective:.6g}")
        if labels is not None and np.array_equal(new_labels, labels):
            return bases, means, labels, history, n_iter
        labels = new_labels
        bases, means = _update(stats, dims, affine, X, sq_norms, min_res)
        if len(history) > 1 and history[-2] - objective <= tol * max(history[-2], 1e-300):
            break
    # Make labels and objective consistent with the final subspaces.
    labels, min_res, _ = _pass(
        X, sq_norms, _Model(bases, means, X.dtype), chunk_size, accumulate=False
    )
    history.append(float(min_res.sum()))
    return bases, means, labels, history, n_iter


def _as_initial_subspaces(init, dims, n_features, affine):
    """Validate user-given initial bases (and means for affine subspaces)."""
    if affine:
        if not (isinstance(init, (tuple, list)) and len(init) == 2):
            raise ValueError("For affine=True give init as a pair (bases, means).")
        init_bases, init_means = init
        init_means = np.asarray(init_means, dtype=np.float64)
        if init_means.shape != (len(dims), n_features):
            raise ValueError(
                f"init means must have shape {(len(dims), n_features)}, got {init_means.shape}."
            )
    else:
        init_bases, init_means = init, None
    bases = [np.asarray(U, dtype=np.float64) for U in init_bases]
    if len(bases) != len(dims):
        raise ValueError(f"init has {len(bases)} bases for n_clusters={len(dims)}.")
    for k, (U, dim) in enumerate(zip(bases, dims)):
        if U.shape != (n_features, dim):
            raise ValueError(f"init basis {k} has shape {U.shape}, expected {(n_features, dim)}.")
        if not np.all(np.isfinite(U)):
            raise ValueError(f"init basis {k} contains NaN or infinity.")
    return [np.linalg.qr(U)[0] for U in bases], init_means


def k_subspaces(
    X,
    n_clusters,
    dims,
    *,
    affine=False,
    init="nn",
    n_init=10,
    max_iter=100,
    tol=1e-7,
    chunk_size=None,
    verbose=0,
    random_state=None,
):
    """Cluster the rows of ``X`` into ``n_clusters`` subspaces (K-subspaces).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Validated float data (float32 stays float32). Any array supporting row
        slicing works, so a ``np.memmap`` is read one chunk at a time.
    n_clusters : int
    dims : int or sequence of int
        Dimension of each subspace.
    affine, init, n_init, max_iter, tol, chunk_size, verbose, random_state
        See :class:`KSubspaces`; ``random_state`` may be a RandomState instance.

    Returns
    -------
    bases : list of ndarray of shape (n_features, d_k)
    means : ndarray of shape (n_clusters, n_features) or None
    labels : ndarray of shape (n_samples,)
    objective : float
        Sum of squared residuals of the points to their subspaces.
    n_iter : int
        Iterations of the best run.
    history : list of float
        Objective after each assignment step of the best run (non-increasing).

    Examples
    --------
    >>> from subclust.cluster import k_subspaces
    >>> from subclust.datasets import make_molrg
    >>> X, y, _ = make_molrg(n_samples=[40, 40], n_features=10, dims=2, random_state=0)
    >>> bases, means, labels, objective, n_iter, history = k_subspaces(X, 2, 2, random_state=0)
    >>> objective < 1e-20
    True
    """
    rng = check_random_state(random_state)
    n_samples, n_features = X.shape
    if n_samples < n_clusters:
        raise ValueError(
            f"n_samples={n_samples} should be >= n_clusters={n_clusters}: "
            "each cluster needs at least one sample."
        )
    dims = check_dims(dims, n_clusters, n_features)
    chunk_size = chunk_size or _DEFAULT_CHUNK
    sq_norms = _row_norms_sq(X, chunk_size)

    given = not isinstance(init, str)
    if given:
        fixed_init = _as_initial_subspaces(init, dims, n_features, affine)
    best = None
    for run in range(1 if given else n_init):
        if given:
            bases, means = fixed_init
        elif init == "nn":
            bases, means = _init_nn(X, sq_norms, dims, affine, rng, chunk_size)
        else:
            bases, means = _init_random(X, dims, affine, rng)
        result = _k_subspaces_single(
            X, sq_norms, dims, bases, means, max_iter, tol, chunk_size, verbose
        )
        if verbose:
            print(f"K-subspaces run {run}: objective {result[3][-1]:.6g}")
        # Runs that agree up to rounding keep the earlier one, so that the
        # result does not depend on chunking or threads.
        if best is None or result[3][-1] < best[3][-1] * (1 - 1e-9):
            best = result
    bases, means, labels, history, n_iter = best
    bases = [U.astype(X.dtype) for U in bases]
    means = None if means is None else means.astype(X.dtype)
    return bases, means, labels, history[-1], n_iter, history


class KSubspaces(ClassNamePrefixFeaturesOutMixin, TransformerMixin, ClusterMixin, BaseEstimator):
    """K-subspaces clustering: points are assigned to their nearest subspace.

    Minimizes ``sum_i min_k ||x_i - mu_k - U_k U_k^T (x_i - mu_k)||^2`` over
    orthonormal bases ``U_k`` (and, if ``affine``, offsets ``mu_k``) by
    alternating assignment and per-cluster PCA. For linear subspaces this is
    the objective that training the hard-max low-rank mixture diffusion
    denoiser optimizes (Wang et al., arXiv:2409.02426).

    Parameters
    ----------
    n_clusters : int, default=8
        Number of subspaces.
    dims : int or list of int, default=1
        Dimension of every subspace, or one per cluster; each must be smaller
        than the number of features.
    affine : bool, default=False
        Fit affine subspaces ``mu_k + span(U_k)`` instead of subspaces
        through the origin.
    init : {'nn', 'random'} or list of ndarray, default='nn'
        'nn' seeds each subspace at a data point and its ``d - 1`` nearest
        neighbours by absolute cosine, drawing the seeds k-means++-style with
        probability proportional to the residual to the subspaces already
        chosen; random initialization gets stuck for ``d >= 4``. 'random'
        draws uniformly random subspaces. A list of ``n_clusters`` bases
        (a pair ``(bases, means)`` if ``affine``) starts from them, once.
    n_init : int, default=10
        Runs from different seeds; the run with the lowest objective is kept.
    max_iter : int, default=100
        Maximum iterations of one run.
    tol : float, default=1e-7
        Stop when the objective decreases by less than ``tol`` times its value.
        A run also stops as soon as the labels no longer change.
    chunk_size : int, optional
        Rows processed at once (default 8192); bounds the temporary memory.
    verbose : int, default=0
        Print the objective at each iteration.
    random_state : int, RandomState instance or None, default=None
        Seed of the initialization, for reproducible results.

    Attributes
    ----------
    bases_ : list of ndarray of shape (n_features, d_k)
        Orthonormal basis of each subspace, in the dtype of the data.
    means_ : ndarray of shape (n_clusters, n_features) or None
        Offsets of the affine subspaces (the cluster means), or None.
    labels_ : ndarray of shape (n_samples,)
        Cluster of each training point.
    objective_ : float
        Sum of squared residuals of the training points (lower is better).
    objective_history_ : list of float
        Objective at every iteration of the kept run; never increases.
    n_iter_ : int
        Iterations of the kept run.
    n_features_in_ : int
        Number of features seen during fit.

    See Also
    --------
    subclust.cluster.k_subspaces : The function behind this estimator.

    References
    ----------
    P. S. Bradley and O. L. Mangasarian, "k-Plane Clustering", J. Global
    Optimization 16, 2000. P. Wang et al., "Diffusion Models Learn
    Low-Dimensional Distributions via Subspace Clustering", arXiv:2409.02426.

    Examples
    --------
    >>> from subclust import KSubspaces
    >>> from subclust.datasets import make_molrg
    >>> from subclust.metrics import clustering_accuracy
    >>> X, y, bases = make_molrg(n_samples=[50, 50, 50], n_features=20, dims=3, random_state=0)
    >>> kss = KSubspaces(n_clusters=3, dims=3, random_state=0).fit(X)
    >>> clustering_accuracy(y, kss.labels_)
    1.0
    >>> kss.predict(X[:2]).shape
    (2,)
    """

    _parameter_constraints = {
        "n_clusters": [Interval(numbers.Integral, 1, None, closed="left")],
        "dims": [Interval(numbers.Integral, 1, None, closed="left"), "array-like"],
        "affine": ["boolean"],
        "init": [StrOptions({"nn", "random"}), list, tuple],
        "n_init": [Interval(numbers.Integral, 1, None, closed="left")],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "chunk_size": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        n_clusters=8,
        *,
        dims=1,
        affine=False,
        init="nn",
        n_init=10,
        max_iter=100,
        tol=1e-7,
        chunk_size=None,
        verbose=0,
        random_state=None,
    ):
        self.n_clusters = n_clusters
        self.dims = dims
        self.affine = affine
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.chunk_size = chunk_size
        self.verbose = verbose
        self.random_state = random_state

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the subspaces to ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data; float32 is kept as float32.
        y : Ignored
            Present for API consistency.

        Returns
        -------
        self : KSubspaces
            The fitted estimator.
        """
        X = validate_data(self, X, dtype=[np.float64, np.float32], order="C")
        bases, means, labels, objective, n_iter, history = k_subspaces(
            X,
            self.n_clusters,
            self.dims,
            affine=self.affine,
            init=self.init,
            n_init=self.n_init,
            max_iter=self.max_iter,
            tol=self.tol,
            chunk_size=self.chunk_size,
            verbose=self.verbose,
            random_state=check_random_state(self.random_state),
        )
        self.bases_, self.means_, self.labels_ = bases, means, labels
        self.objective_, self.n_iter_, self.objective_history_ = objective, n_iter, history
        self._n_features_out = self.n_clusters
        return self

    def _residuals(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        model = _Model(self.bases_, self.means_, X.dtype)
        return model.residuals(X, np.einsum("ij,ij->i", X, X))

    def predict(self, X):
        """Index of the nearest subspace of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        return self._residuals(X).argmin(axis=1)

    def transform(self, X):
        """Distance of each sample to each subspace.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        distances : ndarray of shape (n_samples, n_clusters)
            Euclidean norm of the residual of each sample to each subspace.
        """
        return np.sqrt(self._residuals(X))

    def score(self, X, y=None):
        """Opposite of the K-subspaces objective of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        score : float
            ``-sum_i min_k dist(x_i, S_k)^2``; higher is better.
        """
        return -float(self._residuals(X).min(axis=1).sum())

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
