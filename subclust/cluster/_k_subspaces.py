"""K-subspaces clustering.

Alternates two steps that each never increase the objective
``sum_i min_k dist(x_i, S_k)^2``:

- assignment: every point goes to the subspace with the smallest residual
  (one GEMM of ``X`` with all bases stacked);
- update: every subspace becomes the top-``d_k`` principal subspace of its
  points (eigenvectors of a per-cluster scatter matrix; for data in memory
  whose clusters hold fewer points than about two thirds of the features,
  the cheaper SVD of each cluster's points).

For linear subspaces the objective equals ``||X||_F^2 - sum_i max_k ||U_k^T x_i||^2``,
so minimizing it is maximizing the objective that training the paper's
hard-max low-rank mixture denoiser optimizes (Wang et al., arXiv:2409.02426).
Both steps read ``X`` in chunks of rows: an iteration is one pass over the
data with only per-cluster ``n x n`` scatter matrices kept.
"""

import numbers
from dataclasses import dataclass

import numpy as np
from scipy import linalg
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.utils import check_random_state

from subclust.cluster._nearest_subspace import NearestSubspaceMixin, warn_zero_samples
from subclust.cluster._row_source import ArraySource, as_row_source, is_out_of_core
from subclust.subspace import (
    _gram_singular_values,
    estimate_rank,
    principal_subspace,
    residuals_stacked,
    stack_bases,
)
from subclust.utils.parallel import blas_threads, thread_map
from subclust.utils.validation import (
    Interval,
    StrOptions,
    check_array,
    check_dims,
    check_is_fitted,
    fit_context,
    store_init_params,
    validate_data,
    validate_params,
)

__all__ = ["KSubspaces", "k_subspaces", "init_subspaces"]


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


def _row_norms_sq(source):
    (sq_norms,), _ = source.map_reduce(lambda Xc: ((np.einsum("ij,ij->i", Xc, Xc),), None))
    return sq_norms


def _seed_subspace(source, sq_norms, index, dim, affine):
    """Subspace through point ``index`` and its nearest neighbours.

    Linear: the point and its ``dim - 1`` nearest neighbours by absolute
    cosine similarity, which is invariant to the scale and sign of points on
    a subspace through the origin. Affine: the point and its ``dim`` nearest
    neighbours by Euclidean distance, centred.
    """
    x = source.rows([index])[0]
    x_norm = max(np.sqrt(sq_norms[index]), np.finfo(source.dtype).tiny)

    def similarity(Xc, sq_c):
        if affine:
            return (2 * (Xc @ x) - sq_c,), None  # -||x_i - x||^2 up to a constant
        with np.errstate(divide="ignore", invalid="ignore"):
            cosine = np.abs(Xc @ x) / (np.sqrt(sq_c) * x_norm)
        return (np.where(np.isfinite(cosine), cosine, 0.0),), None

    (score,), _ = source.map_reduce(similarity, vectors=(sq_norms,))
    score[index] = np.inf
    n_neighbours = min(dim + 1 if affine else dim, source.n_samples)
    neighbours = np.argpartition(-score, n_neighbours - 1)[:n_neighbours]
    points = source.rows(np.sort(neighbours)).astype(np.float64)
    mean = points.mean(axis=0) if affine else None
    if affine:
        points = points - mean
    # Fewer points than ``dim`` (tiny clusters): the basis is completed arbitrarily.
    return principal_subspace(points, dim), mean


def _top_basis(scatter, dim):
    """Top-``dim`` eigenvectors of a symmetric matrix, largest first."""
    n = scatter.shape[0]
    _, vectors = linalg.eigh(scatter, subset_by_index=[n - dim, n - 1], driver="evr")
    return vectors[:, ::-1]


def _init_nn(source, sq_norms, dims, affine, rng):
    """Seed subspaces k-means++-style: next seed drawn by residual to the others."""
    n_samples = source.n_samples
    # A zero sample lies on every linear subspace: it cannot seed one.
    seeds = np.flatnonzero(sq_norms > 0) if not affine else np.arange(n_samples)
    seeds = seeds if seeds.size else np.arange(n_samples)
    bases, means = [], []
    min_res = None
    for dim in dims:
        if min_res is None or not np.any(min_res > 0):
            index = seeds[rng.randint(len(seeds))]
        else:
            index = rng.choice(n_samples, p=min_res / min_res.sum())
        basis, mean = _seed_subspace(source, sq_norms, index, dim, affine)
        bases.append(basis)
        means.append(mean)
        model = _Model([basis], np.array([mean]) if affine else None, source.dtype)
        _, res, _ = _pass(source, sq_norms, model, accumulate=False)
        min_res = res if min_res is None else np.minimum(min_res, res)
    return bases, (np.array(means) if affine else None)


def _init_random(source, dims, affine, rng):
    """Uniformly random subspaces; affine offsets at random data points."""
    bases = [np.linalg.qr(rng.standard_normal((source.n_features, d)))[0] for d in dims]
    if not affine:
        return bases, None
    indices = rng.choice(source.n_samples, len(dims), replace=False)
    return bases, source.rows(indices).astype(np.float64)



def _initial_subspaces(source, sq_norms, dims, affine, init, n_init, rng):
    """``n_init`` starts ``(bases, means)`` drawn by ``init`` ('nn' or 'random')."""
    if init == "nn":
        return [_init_nn(source, sq_norms, dims, affine, rng) for _ in range(n_init)]
    return [_init_random(source, dims, affine, rng) for _ in range(n_init)]


@validate_params(
    {
        "X": ["array-like"],
        "n_clusters": [Interval(numbers.Integral, 1, None, closed="left")],
        "dims": [Interval(numbers.Integral, 1, None, closed="left"), "array-like"],
        "init": [StrOptions({"nn", "random"})],
        "n_init": [Interval(numbers.Integral, 1, None, closed="left")],
        "affine": ["boolean"],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def init_subspaces(X, n_clusters, dims, *, init="nn", n_init=1, affine=False,
                   random_state=None):
    """Initial subspaces for K-subspaces, as :class:`KSubspaces` draws them.

    'nn' seeds every subspace from one point and its nearest neighbours (by
    absolute cosine for linear subspaces, by distance for affine ones), the
    next seed point drawn with probability proportional to its squared
    residual to the subspaces seeded so far (as k-means++ draws centres);
    'random' draws uniformly random subspaces (affine offsets at random data
    points).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    n_clusters : int
    dims : int or sequence of int
        Dimension of each subspace.
    init : {'nn', 'random'}, default='nn'
    n_init : int, default=1
        Number of independent starts.
    affine : bool, default=False
        Affine subspaces (with offsets) instead of subspaces through the origin.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    starts : list of length n_init of (bases, means)
        ``bases``: list of ndarray of shape (n_features, d_k) (float64,
        orthonormal columns); ``means``: ndarray of shape (n_clusters,
        n_features), or None for linear subspaces.

    Examples
    --------
    >>> from subclust.cluster import init_subspaces
    >>> from subclust.datasets import make_molrg
    >>> X, _, truth = make_molrg(n_samples=[20, 20], n_features=10, dims=2, random_state=0)
    >>> [(bases, means)] = init_subspaces(X, 2, 2, random_state=0)
    >>> [U.shape for U in bases], means is None
    ([(10, 2), (10, 2)], True)
    >>> from subclust.metrics import subspace_recovery_error
    >>> bool(subspace_recovery_error(bases, truth) < 1e-8)  # noiseless: seeds lie on the truth
    True
    """
    X = check_array(X, dtype=[np.float64, np.float32])
    source = as_row_source(X)
    dims = _check_problem(source, n_clusters, dims)
    rng = check_random_state(random_state)
    return _initial_subspaces(source, _row_norms_sq(source), dims, bool(affine), init,
                              int(n_init), rng)


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

    def add(self, X, labels, with_sums=True, sign=1):
        """Accumulate a chunk: rows grouped by label, one ``X_k^T X_k`` each.

        The products run in the dtype of ``X`` (a float32 GEMM for float32
        data) and are accumulated across chunks in float64. ``sign=-1``
        removes rows instead.
        """
        grouped = np.take(X, np.argsort(labels, kind="stable"), axis=0)
        counts = np.bincount(labels, minlength=len(self.counts))
        stops = np.cumsum(counts)
        for k in np.flatnonzero(counts):
            rows = grouped[stops[k] - counts[k] : stops[k]]
            self.scatters[k] += sign * (rows.T @ rows)
            if with_sums:
                self.sums[k] += sign * rows.sum(axis=0, dtype=np.float64)
        self.counts += sign * counts

    def merge(self, other):
        """Add ``other`` into these statistics and return them."""
        self.counts += other.counts
        self.sums += other.sums
        self.scatters += other.scatters
        return self

    def subspace(self, k, dim, affine):
        """Cluster ``k``'s subspace of dimension ``dim`` (through its mean if ``affine``)."""
        scatter = self.scatters[k]
        mean = self.sums[k] / self.counts[k] if affine else None
        if affine:
            scatter = scatter - self.counts[k] * np.outer(mean, mean)
        return _top_basis(scatter, dim), mean


@dataclass
class _Members:
    """A labelled data set in memory: its clusters' subspaces fitted to their samples.

    Each fit is the leading singular vectors of the cluster's samples (from
    their Gram matrix, of the cluster's size) rather than the leading
    eigenvectors of a features x features scatter matrix: on clusters of 64
    faces of 2,016 pixels, milliseconds instead of a second.
    """

    X: np.ndarray
    labels: np.ndarray
    n_clusters: int

    def __post_init__(self):
        self.counts = np.bincount(self.labels, minlength=self.n_clusters)

    def subspace(self, k, dim, affine):
        """Cluster ``k``'s subspace of dimension ``dim`` (through its mean if ``affine``)."""
        rows = self.X[self.labels == k].astype(np.float64)
        mean = rows.mean(axis=0) if affine else None
        return principal_subspace(rows - mean if affine else rows, dim), mean


def _pass(source, sq_norms, model, accumulate=True, previous_labels=None):
    """One pass over the data: labels, squared residuals and (optionally) statistics.

    The map step assigns each chunk of rows to its nearest subspaces and
    accumulates the chunk's per-cluster statistics; the reduce step adds
    them. Given the labels of the previous pass, only the rows that changed
    cluster are touched and the statistics returned are the change (rows
    added to their new cluster, removed from their old one): after the first
    iterations few points move, and the pass costs little more than its GEMM.
    """
    n_clusters, with_sums = len(model.dims), model.offsets is not None
    vectors = (sq_norms,) if previous_labels is None else (sq_norms, previous_labels)

    def assign(Xc, sq_c, previous=None):
        R = model.residuals(Xc, sq_c)
        labels = R.argmin(axis=1)
        min_res = R[np.arange(R.shape[0]), labels].astype(np.float64)
        if not accumulate:
            return (labels, min_res), None
        stats = _Statistics.zeros(n_clusters, Xc.shape[1])
        if previous is None:
            stats.add(Xc, labels, with_sums=with_sums)
        else:
            moved = np.flatnonzero(labels != previous)
            if moved.size:
                rows = Xc[moved]
                stats.add(rows, labels[moved], with_sums=with_sums)
                stats.add(rows, previous[moved], with_sums=with_sums, sign=-1)
        return (labels, min_res), stats

    (labels, min_res), stats = source.map_reduce(assign, vectors=vectors, reduce=_Statistics.merge)
    return labels, min_res, stats


def _refit_pass(source, sq_norms, model, previous_labels=None, previous_stats=None):
    """:func:`_pass` with what the subspaces are refitted from: statistics or members.

    The per-cluster statistics (updated from ``previous_stats`` by the rows
    that moved since ``previous_labels``); or, for data held in memory, the
    clusters' members (:class:`_Members`) where their Gram matrices cost
    fewer operations to form and decompose (``2 m^2 n + 4/3 m^3`` for ``m``
    samples of ``n`` features) than scatter matrices to decompose
    (``4/3 n^3``, the reduction to tridiagonal form), for clusters of the
    mean size: about two thirds of the features or fewer.
    """
    n_clusters = len(model.dims)
    m, n = source.n_samples / n_clusters, source.n_features
    if isinstance(source, ArraySource) and 2 * m**2 * n + 4 / 3 * m**3 < 4 / 3 * n**3:
        labels, min_res, _ = _pass(source, sq_norms, model, accumulate=False)
        return labels, min_res, _Members(source.X, labels, n_clusters)
    labels, min_res, change = _pass(source, sq_norms, model, previous_labels=previous_labels)
    return labels, min_res, change if previous_stats is None else previous_stats.merge(change)


def _update(stats, dims, affine, source, sq_norms, min_res):
    """New subspaces from cluster statistics or members; empty clusters re-seeded.

    An empty cluster is re-seeded at the worst-fit point (largest residual),
    which cannot increase the objective: no point is assigned to it yet.
    The factorizations run in parallel threads, one BLAS thread each:
    LAPACK's reduction to tridiagonal form is a loop of small BLAS calls that
    a BLAS thread pool slows down, most of all on a busy machine.
    """
    worst = np.argsort(min_res)[::-1]
    empty = np.flatnonzero(stats.counts[: len(dims)] == 0)
    reseeds = dict(zip(empty, worst))

    def fit_cluster(k):
        if stats.counts[k] == 0:
            return _seed_subspace(source, sq_norms, reseeds[k], dims[k], affine)
        return stats.subspace(k, dims[k], affine)

    fits = thread_map(fit_cluster, range(len(dims)))
    bases, means = [basis for basis, _ in fits], [mean for _, mean in fits]
    return bases, (np.array(means) if affine else None)


def _k_subspaces_single(source, sq_norms, dims, bases, means, max_iter, tol, verbose):
    """One run of K-subspaces from given initial subspaces."""
    affine = means is not None
    history = []
    labels = stats = None
    for n_iter in range(1, max_iter + 1):
        model = _Model(bases, means, source.dtype)
        new_labels, min_res, stats = _refit_pass(source, sq_norms, model, labels, stats)
        objective = float(min_res.sum())
        history.append(objective)
        if verbose:
            print(f"K-subspaces iteration {n_iter:3d}: objective {objective:.6g}")
        if labels is not None and np.array_equal(new_labels, labels):
            return bases, means, labels, history, n_iter
        labels = new_labels
        bases, means = _update(stats, dims, affine, source, sq_norms, min_res)
        if len(history) > 1 and history[-2] - objective <= tol * max(history[-2], 1e-300):
            break
    # Make labels and objective consistent with the final subspaces.
    model = _Model(bases, means, source.dtype)
    labels, min_res, _ = _pass(source, sq_norms, model, accumulate=False)
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


#: Constraints of the options that :func:`k_subspaces` and :class:`KSubspaces` share.
_OPTION_CONSTRAINTS = {
    "affine": ["boolean"],
    "init": [StrOptions({"nn", "random"}), list, tuple],
    "n_init": [Interval(numbers.Integral, 1, None, closed="left")],
    "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
    "tol": [Interval(numbers.Real, 0, None, closed="left")],
    "chunk_size": [Interval(numbers.Integral, 1, None, closed="left"), None],
    "verbose": ["verbose"],
    "random_state": ["random_state"],
}


@validate_params(
    {
        "X": ["array-like"],
        "n_clusters": [Interval(numbers.Integral, 1, None, closed="left")],
        "dims": [Interval(numbers.Integral, 1, None, closed="left"), "array-like"],
        **_OPTION_CONSTRAINTS,
    },
    prefer_skip_nested_validation=True,
)
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
    X : ndarray, np.memmap, h5py.Dataset, zarr.Array or dask.array.Array
        Float data of shape (n_samples, n_features); float32 stays float32.
        Out-of-core arrays are read one chunk at a time and Dask arrays are
        processed block by block as Dask tasks (see :mod:`subclust.cluster._row_source`).
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
    >>> bool(objective < 1e-10)  # noiseless data: every point on its subspace
    True
    """
    rng = check_random_state(random_state)
    source = as_row_source(X, chunk_size)
    dims = _check_problem(source, n_clusters, dims)
    sq_norms = _row_norms_sq(source)
    if not affine:
        warn_zero_samples(sq_norms == 0)
    if not isinstance(init, str):
        starts = [_as_initial_subspaces(init, dims, source.n_features, affine)]
    else:
        starts = _initial_subspaces(source, sq_norms, dims, affine, init, n_init, rng)

    def run(start):
        return _k_subspaces_single(source, sq_norms, dims, *start, max_iter, tol, verbose)

    # Restarts run in parallel threads when a pass has a single chunk to share out;
    # otherwise the chunks of each pass do (one after the other when printing progress).
    parallel_runs = not verbose and len(source.slices()) == 1
    best = None
    for i, result in enumerate(thread_map(run, starts, None if parallel_runs else 1)):
        if verbose:
            print(f"K-subspaces run {i}: objective {result[3][-1]:.6g}")
        # Runs that agree up to rounding keep the earlier one, so that the
        # result does not depend on chunking or threads.
        if best is None or result[3][-1] < best[3][-1] * (1 - 1e-9):
            best = result
    bases, means, labels, history, n_iter = best
    bases = [U.astype(source.dtype) for U in bases]
    means = None if means is None else means.astype(source.dtype)
    return bases, means, labels, history[-1], n_iter, history


def _check_problem(source, n_clusters, dims):
    """Check the sample count against ``n_clusters``; return the dimensions."""
    if source.n_samples < n_clusters:
        raise ValueError(
            f"n_samples={source.n_samples} should be >= n_clusters={n_clusters}: "
            "each cluster needs at least one sample."
        )
    return check_dims(dims, n_clusters, source.n_features)


#: Samples whose neighbourhoods estimate the local dimension (a random subset of the data).
_PROBE_SAMPLES = 2000


def _local_dimensions(X, n_clusters, dtype, affine=False, n_neighbors=None):
    """Estimated dimension of each sample's neighbourhood on its subspace.

    The neighbours of a sample by absolute cosine lie mostly on its own
    subspace; the optimal hard threshold of their singular values
    (:func:`subclust.subspace.estimate_rank`) is that subspace's dimension,
    and for affine subspaces that of the centred neighbourhood, as the
    subspace is fitted (uncentred, the offset adds a dimension). The
    neighbourhood holds three times the mean dimension (the data's estimated
    rank shared among the clusters), at least 20 samples, so that noise
    fills most of its spectrum, as the threshold needs; or ``n_neighbors``.
    Every spectrum is read from one product of the samples, their Gram
    matrix. Returns the dimensions and the neighbourhoods' size.
    """
    X = X.astype(np.float64)
    n_samples, n_features = X.shape
    gram = X @ X.T
    if n_neighbors is None:
        whole = X.T @ X if n_samples > n_features else gram  # the smaller product
        values = _above_rounding(_gram_singular_values(whole), dtype)
        mean_dim = max(1, estimate_rank(values, X.shape) // n_clusters)
        n_neighbors = max(3 * mean_dim, 20)
    n_neighbors = int(min(n_samples - 1, n_neighbors))
    norms = np.sqrt(np.maximum(np.diag(gram), np.finfo(np.float64).tiny))
    similarity = np.abs(gram) / np.outer(norms, norms)
    np.fill_diagonal(similarity, np.inf)  # each neighbourhood holds its own sample
    neighbourhoods = np.argpartition(-similarity, n_neighbors, axis=1)[:, : n_neighbors + 1]
    dims = np.empty(n_samples, dtype=np.intp)
    with blas_threads(1):  # many small factorizations
        for i, index in enumerate(neighbourhoods):
            block = gram[np.ix_(index, index)]
            if affine:  # the Gram matrix of the centred neighbourhood
                block = block - block.mean(axis=0) - block.mean(axis=1)[:, None] + block.mean()
            values = _above_rounding(_gram_singular_values(block), dtype)
            dims[i] = estimate_rank(values, (index.size - int(affine), n_features))
    return np.clip(dims, 1, max(1, n_features - 1)), n_neighbors


def _above_rounding(singular_values, dtype):
    """Singular values with those below the rounding error of ``dtype`` set to zero."""
    s = np.asarray(singular_values, dtype=np.float64)
    floor = s.max(initial=0.0) * np.sqrt(s.size) * np.finfo(dtype).eps * 10
    return np.where(s > floor, s, 0.0)


def _cluster_dimension(members, n_neighbors, default, dtype, affine):
    """Median local dimension of one cluster's members, their neighbourhoods among them.

    The threshold needs noise to fill most of a spectrum: where the cluster
    holds fewer members than about twice the dimension they read, ``default``.
    """
    if len(members) < 4:
        return default
    local, _ = _local_dimensions(members, 1, dtype, affine, n_neighbors)
    dim = int(np.median(local))
    return dim if len(members) - int(affine) > 2 * dim else default


def _k_subspaces_estimating_dims(X, n_clusters, *, random_state, **kwargs):
    """:func:`k_subspaces` with each dimension estimated from the data.

    Local dimensions are estimated on a random subset of the samples
    (:func:`_local_dimensions`); K-subspaces is fitted with their median as
    every dimension. Then each cluster's dimension is the median local
    dimension of its subset members, their neighbourhoods taken among those
    members alone, and the fit continues from the clusters' principal
    subspaces of those dimensions. Neighbourhoods across the whole data
    reach into other subspaces where clusters hold few samples (four
    clusters of 25 samples on 4-dimensional subspaces read 6); within a
    cluster they do not, and medians keep a few samples of another subspace,
    assigned to the wrong cluster, from inflating its dimension.
    """
    affine = kwargs["affine"]
    source = as_row_source(X, kwargs.get("chunk_size"))
    probes = np.sort(random_state.choice(
        source.n_samples, min(source.n_samples, _PROBE_SAMPLES), replace=False
    ))
    sample = np.asarray(source.rows(probes))
    local, n_neighbors = _local_dimensions(sample, n_clusters, source.dtype, affine)
    dims = [int(np.median(local))] * n_clusters
    bases, means, *rest = k_subspaces(X, n_clusters, dims, random_state=random_state, **kwargs)
    model = _Model(bases, means, source.dtype)
    members = model.residuals(sample, np.einsum("ij,ij->i", sample, sample)).argmin(axis=1)
    new_dims = [_cluster_dimension(sample[members == k], n_neighbors, dim, source.dtype, affine)
                for k, dim in enumerate(dims)]
    if new_dims == dims:
        return (bases, means, *rest)
    # Continue from each cluster's principal subspace of its new dimension.
    sq_norms = _row_norms_sq(source)
    means64 = None if means is None else means.astype(np.float64)
    _, _, stats = _refit_pass(source, sq_norms, _Model(bases, means64, source.dtype))
    start = [stats.subspace(k, dim, kwargs["affine"])[0] if stats.counts[k] else
             np.linalg.qr(random_state.standard_normal((source.n_features, dim)))[0]
             for k, dim in enumerate(new_dims)]  # fmt: skip
    kwargs["init"] = (start, means64) if kwargs["affine"] else start
    return k_subspaces(X, n_clusters, new_dims, random_state=random_state, **kwargs)


class KSubspaces(NearestSubspaceMixin, ClusterMixin, BaseEstimator):
    """K-subspaces clustering: points are assigned to their nearest subspace.

    Minimizes ``sum_i min_k ||x_i - mu_k - U_k U_k^T (x_i - mu_k)||^2`` over
    orthonormal bases ``U_k`` (and, if ``affine``, offsets ``mu_k``) by
    alternating assignment and per-cluster PCA. For linear subspaces this is
    the objective that training the hard-max low-rank mixture diffusion
    denoiser optimizes (Wang et al., arXiv:2409.02426).

    Parameters
    ----------
    n_clusters : int, default=8
        Number of subspaces. It cannot be estimated here (None raises): the
        K-subspaces objective only improves with more subspaces; the
        affinity-based estimators estimate it with ``n_clusters=None``.
    dims : int or list of int, optional
        Dimension of every subspace, or one per cluster; each must be smaller
        than the number of features (or, with ``init`` bases, theirs). By
        default each is estimated from the data: the dimension of a sample's
        neighbourhood (its nearest samples by absolute cosine; centred if
        ``affine``) by the optimal hard threshold of singular values, which
        noise does not inflate (:func:`subclust.subspace.estimate_rank`);
        a first fit uses the median over up to 2,000 samples, then each
        cluster the median over its own, their neighbourhoods among them,
        and the fit continues. The dimensions used are those of ``bases_``.
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

    Notes
    -----
    An all-zero sample lies on every subspace through the origin: ``fit``
    leaves it out of the estimation, labels it 0 (as ``predict`` does: its
    distance to every subspace is zero, ties go to the first) and warns,
    naming its rows; the rule of every subclust estimator. With
    ``affine=True`` it is an ordinary sample.

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
        # None is accepted here only to be refused in fit with what to do instead.
        "n_clusters": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "dims": [Interval(numbers.Integral, 1, None, closed="left"), "array-like", None],
        **_OPTION_CONSTRAINTS,
    }

    def __init__(
        self, n_clusters=8, *, dims=None, affine=False, init="nn", n_init=10, max_iter=100,
        tol=1e-7, chunk_size=None, verbose=0, random_state=None,
    ):  # fmt: skip
        store_init_params(self, locals())

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the subspaces to ``X``.

        Parameters
        ----------
        X : array-like, memmap, HDF5/zarr or dask array of shape (n_samples, n_features)
            Training data; float32 is kept as float32. A ``np.memmap``, an
            HDF5 or zarr array is read ``chunk_size`` rows at a time (memory
            bounded by the chunk, never the data); a ``dask.array`` is
            processed as Dask tasks, on the active ``dask.distributed``
            client if there is one.
        y : Ignored
            Present for API consistency.

        Returns
        -------
        self : KSubspaces
            The fitted estimator.
        """
        X = self._validate_input(X, reset=True)
        bases, means, labels, objective, n_iter, history = self._k_subspaces(
            X, check_random_state(self.random_state)
        )
        self.bases_, self.means_, self.labels_ = bases, means, labels
        self.objective_, self.n_iter_, self.objective_history_ = objective, n_iter, history
        self._n_features_out = self.n_clusters
        self._online_stats = None  # partial_fit after fit starts from these subspaces
        return self

    @fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """Update the subspaces with one batch of samples (online K-subspaces).

        The first call initializes the subspaces from the batch (as ``fit``
        does, with ``n_init`` runs); after ``fit``, the fitted subspaces are
        the start. Every call assigns the batch to the
        current subspaces, adds its per-cluster scatter matrices to those of
        the earlier batches, and refits every subspace to all statistics seen
        so far; memory stays ``n_clusters x n_features^2`` whatever the
        number of batches.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            One batch.
        y : Ignored

        Returns
        -------
        self : KSubspaces
        """
        first = not hasattr(self, "bases_")
        X = self._validate_input(X, reset=first)
        if first:
            self._online_random_state = check_random_state(self.random_state)
            bases, means, *_ = self._k_subspaces(X, self._online_random_state)
            self.bases_, self.means_ = bases, means
        if first or self._online_stats is None:
            self._online_stats = _Statistics.zeros(self.n_clusters, X.shape[1])
            self.n_steps_ = 0
        source = as_row_source(X, self.chunk_size)
        dims = [U.shape[1] for U in self.bases_]
        sq_norms = _row_norms_sq(source)
        if not first and not self.affine:  # the first batch was checked by k_subspaces
            warn_zero_samples(sq_norms == 0)
        model = _Model(self.bases_, self.means_, source.dtype)
        labels, min_res, stats = _pass(source, sq_norms, model)
        self._online_stats.merge(stats)
        bases, means = _update(self._online_stats, dims, self.affine, source, sq_norms, min_res)
        self.bases_ = [U.astype(source.dtype) for U in bases]
        self.means_ = None if means is None else means.astype(source.dtype)
        self.labels_, self.objective_ = labels, float(min_res.sum())
        self.n_steps_ += 1
        self._n_features_out = self.n_clusters
        return self

    def _k_subspaces(self, X, rng):
        """:func:`k_subspaces` with this estimator's parameters, estimating dims if None."""
        kwargs = dict(affine=self.affine, init=self.init, n_init=self.n_init,
                      max_iter=self.max_iter, tol=self.tol, chunk_size=self.chunk_size,
                      verbose=self.verbose, random_state=rng)
        dims = self.dims
        if dims is None and not isinstance(self.init, str):  # the initial bases say
            dims = [U.shape[1] for U in (self.init[0] if self.affine else self.init)]
        if dims is None:
            return _k_subspaces_estimating_dims(X, self.n_clusters, **kwargs)
        return k_subspaces(X, self.n_clusters, dims, **kwargs)

    def _validate_input(self, X, reset):
        """Validate in-memory input at once; out-of-core input while it is read."""
        if self.n_clusters is None:
            raise ValueError(
                "KSubspaces needs n_clusters: give it, or estimate it with an affinity method "
                "(e.g. LeastSquaresSubspaceClustering(n_clusters=None)) and pass its n_clusters_."
            )
        if not is_out_of_core(X):
            return validate_data(self, X, dtype=[np.float64, np.float32], reset=reset)
        if len(X.shape) != 2 or X.shape[0] == 0:
            raise ValueError(
                f"Expected a non-empty 2D array, got shape {tuple(X.shape)} "
                "(0 samples or a wrong number of dimensions)."
            )
        if not np.issubdtype(X.dtype, np.number):
            raise ValueError(f"X must be numeric, got dtype {X.dtype}.")
        if reset:
            self.n_features_in_ = int(X.shape[1])
        elif X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but KSubspaces is expecting "
                f"{self.n_features_in_} features as input."
            )
        return X

    def _nearest(self, X):
        # One streamed pass over chunks of rows: in memory, out of core or Dask, as in fit.
        check_is_fitted(self)
        source = as_row_source(self._validate_input(X, reset=False), self.chunk_size)
        model = _Model(self.bases_, self.means_, source.dtype)
        labels, min_res, _ = _pass(source, _row_norms_sq(source), model, accumulate=False)
        return labels, min_res
