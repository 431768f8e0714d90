"""The spectral step shared by every self-expressive subspace-clustering method.

A self-expressive method writes each sample as a combination of the others,
``X ~ C @ X``, and clusters the graph whose weights come from ``C``. This
module turns a representation matrix into an affinity and the affinity into
labels; the labels themselves come from scikit-learn's
:func:`sklearn.cluster.spectral_clustering`, which is reused rather than
re-implemented. It also holds what every such estimator does after
clustering: fit one subspace per cluster so that new samples can be assigned
to the nearest one (``predict``).

Two affinities are offered:

- ``'symmetric'``: ``W = |C_n| + |C_n|^T`` with every row of ``C`` scaled to
  a maximum of one (Elhamifar & Vidal, TPAMI 2013), optionally sparsified to
  the ``n_neighbors`` largest weights of each row;
- ``'angular'``: the post-processing of low-rank representation (Liu et al.,
  TPAMI 2013): ``C_s = (C + C^T) / 2 = V L V^T`` restricted to its
  ``r = dim_per_cluster * n_clusters + 1`` eigenpairs of largest magnitude,
  ``Z = V |L|^{1/2}`` with unit rows, and ``W_ij = |z_i . z_j|^power``. The
  rank-``r`` truncation keeps the directions shared by the samples of one
  subspace and the power sharpens the contrast between subspaces; it is
  what makes dense representations (least squares) cluster faces well.
"""

import numbers
import warnings

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import eigsh
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import KMeans, spectral_clustering
from sklearn.exceptions import ConvergenceWarning
from sklearn.manifold import spectral_embedding
from sklearn.preprocessing import normalize
from sklearn.utils import check_random_state

from subclust.cluster._nearest_subspace import NearestSubspaceMixin, warn_zero_samples
from subclust.subspace import principal_subspace
from subclust.utils.parallel import blas_threads, openmp_threads
from subclust.utils.validation import (
    Interval,
    StrOptions,
    check_dims,
    fit_context,
    validate_data,
    validate_params,
)

__all__ = [
    "angular_affinity",
    "cluster_bases",
    "estimate_n_clusters",
    "keep_l1_share",
    "laplacian_spectrum",
    "normalize_samples",
    "representation_affinity",
    "spectral_labels",
]

#: Entries of an N x N matrix formed at a time where only its largest are kept (128 MB in
#: float64): the memory of a graph of many samples stays O(N k).
_BLOCK_ENTRIES = 2**24
#: Above this many samples, eigenpairs of a representation come from ARPACK
#: and the angular affinity is kept sparse (``n_neighbors`` per row).
_DENSE_LIMIT = 4000


@validate_params(
    {
        "X": ["array-like"],
        "name": [str],
    },
    prefer_skip_nested_validation=True,
)
def normalize_samples(X, name="X"):
    """Scale every sample (row) to unit Euclidean norm.

    Self-expressive models are scale-dependent: a sample of large norm is
    cheap to use as a dictionary atom. Unit rows make ``alpha``-type
    parameters comparable across data sets.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    name : str, default="X"
        Name of the data in error messages.

    Returns
    -------
    X_normalized : ndarray of shape (n_samples, n_features)
        ``X`` with every row divided by its norm (a new array).

    Raises
    ------
    ValueError
        If a row is all zeros: it cannot be represented nor normalized.

    Examples
    --------
    >>> import numpy as np
    >>> from subclust.cluster import normalize_samples
    >>> normalize_samples(np.array([[3.0, 4.0], [0.0, -2.0]]))
    array([[ 0.6,  0.8],
           [ 0. , -1. ]])
    >>> normalize_samples(np.array([[1.0, 1.0], [0.0, 0.0]]))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ValueError: X has 1 all-zero sample(s) (rows [1]); a zero sample lies on every subspace. ...
    """
    norms = np.linalg.norm(X, axis=1)
    zero = np.flatnonzero(norms == 0)
    if zero.size:
        raise ValueError(
            f"{name} has {zero.size} all-zero sample(s) (rows {zero[:5].tolist()}"
            f"{'...' if zero.size > 5 else ''}); a zero sample lies on every subspace. "
            "Remove these rows before clustering."
        )
    return X / norms[:, None]


def _row_max_normalize(C):
    """Scale each row of a (sparse or dense) matrix to a largest magnitude of 1."""
    if sp.issparse(C):
        C = sp.csr_matrix(C, copy=True)
        C.data = np.abs(C.data)
        peak = C.max(axis=1).toarray().ravel()
        peak[peak == 0] = 1.0
        return sp.diags(1.0 / peak) @ C
    A = np.abs(C)
    peak = A.max(axis=1)
    peak[peak == 0] = 1.0
    return A / peak[:, None]


def _keep_top(W, n_neighbors):
    """Keep the ``n_neighbors`` largest entries of each row of a dense matrix (sparse result)."""
    m, n = W.shape
    k = max(1, min(n_neighbors, n - 1))
    idx = np.argpartition(-W, k - 1, axis=1)[:, :k]
    rows = np.repeat(np.arange(m), k)
    values = np.take_along_axis(W, idx, axis=1).ravel()
    return sp.csr_matrix((values, (rows, idx.ravel())), shape=W.shape)


def _keep_top_sparse(W, n_neighbors):
    W = sp.csr_matrix(W)
    rows, cols, vals = [], [], []
    for i in range(W.shape[0]):
        start, stop = W.indptr[i], W.indptr[i + 1]
        data = W.data[start:stop]
        keep = np.argsort(-data)[:n_neighbors] if data.size > n_neighbors else slice(None)
        cols.append(W.indices[start:stop][keep])
        vals.append(data[keep])
        rows.append(np.full(len(vals[-1]), i))
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=W.shape
    )


@validate_params(
    {
        "C": ["array-like", "sparse matrix"],
        "share": [Interval(numbers.Real, 0, 1, closed="right")],
    },
    prefer_skip_nested_validation=True,
)
def keep_l1_share(C, share):
    """Keep, in each row of ``C``, the largest magnitudes holding ``share`` of its l1 norm.

    Row ``i`` keeps its ``t`` largest entries in magnitude, ``t`` the
    smallest number whose sum reaches ``share * ||c_i||_1``; the others are
    set to zero. This is the thresholding of Elhamifar & Vidal's code
    (TPAMI 2013; their motion segmentation keeps 0.7 of the mass), which
    drops the many small coefficients that noise spreads across subspaces.

    Parameters
    ----------
    C : ndarray or sparse matrix of shape (n_samples, n_samples)
        Row ``i`` holds the coefficients of sample ``i``.
    share : float in (0, 1]
        1 keeps every entry.

    Returns
    -------
    C_kept : sparse matrix (CSR) of shape (n_samples, n_samples)

    Examples
    --------
    >>> import numpy as np
    >>> from subclust.cluster import keep_l1_share
    >>> C = np.array([[0.0, 0.5, -0.3, 0.2], [0.1, 0.0, 0.1, 0.8], [0, 0, 0, 0], [1, 1, 1, 0]])
    >>> keep_l1_share(C, 0.7).toarray()  # row 0: 0.5 < 0.7, 0.5 + 0.3 >= 0.7
    array([[ 0. ,  0.5, -0.3,  0. ],
           [ 0. ,  0. ,  0. ,  0.8],
           [ 0. ,  0. ,  0. ,  0. ],
           [ 1. ,  1. ,  1. ,  0. ]])
    """
    C = sp.csr_matrix(C, dtype=np.float64, copy=True)
    C.eliminate_zeros()
    if share == 1:
        return C
    for i in range(C.shape[0]):
        start, stop = C.indptr[i], C.indptr[i + 1]
        values = np.abs(C.data[start:stop])
        if values.size == 0:
            continue
        order = np.argsort(-values, kind="stable")
        mass = np.cumsum(values[order])
        # Ties at the boundary keep the first in order; the tolerance absorbs rounding.
        n_keep = int(np.searchsorted(mass, share * mass[-1] * (1 - 1e-12))) + 1
        dropped = start + order[n_keep:]
        C.data[dropped] = 0.0
    C.eliminate_zeros()
    return C


@validate_params(
    {
        "C": ["array-like", "sparse matrix"],
        "n_neighbors": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "scale_rows": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def representation_affinity(C, *, n_neighbors=None, scale_rows=True):
    """Symmetric affinity ``W = |C_n| + |C_n|^T`` of a representation matrix.

    Parameters
    ----------
    C : ndarray or sparse matrix of shape (n_samples, n_samples)
        Row ``i`` holds the coefficients of sample ``i`` (``X ~ C @ X``).
    n_neighbors : int, optional
        Keep only the ``n_neighbors`` largest weights of each row before
        symmetrizing (a kNN sparsification); None keeps all.
    scale_rows : bool, default=True
        Scale each row of ``|C|`` to a largest entry of one first, so that
        every sample contributes equally (Elhamifar & Vidal, TPAMI 2013).

    Returns
    -------
    W : sparse matrix (CSR) or ndarray of shape (n_samples, n_samples)
        Symmetric, non-negative, zero diagonal; sparse if ``C`` is sparse or
        ``n_neighbors`` is given.

    Examples
    --------
    >>> import numpy as np
    >>> from subclust.cluster import representation_affinity
    >>> C = np.array([[0.0, 2.0, 0.0], [1.0, 0.0, 0.0], [0.0, -4.0, 0.0]])
    >>> representation_affinity(C)
    array([[0., 2., 0.],
           [2., 0., 1.],
           [0., 1., 0.]])
    """
    if scale_rows:
        A = _row_max_normalize(C)
    else:
        A = abs(C) if sp.issparse(C) else np.abs(C)
    if sp.issparse(A):
        A = A.tolil()
        A.setdiag(0)
        A = A.tocsr()
        A.eliminate_zeros()
        if n_neighbors is not None:
            A = _keep_top_sparse(A, n_neighbors)
        return sp.csr_matrix(A + A.T)
    np.fill_diagonal(A, 0.0)
    if n_neighbors is not None:
        A = _keep_top(A, n_neighbors)
        return sp.csr_matrix(A + A.T)
    return A + A.T


def _top_eigenpairs(C, rank):
    """Eigenpairs of ``(C + C^T) / 2`` of largest magnitude (dense or ARPACK)."""
    n = C.shape[0]
    S = (C + C.T) * 0.5
    if sp.issparse(S) and n > _DENSE_LIMIT:
        S = sp.csr_matrix(S, dtype=np.float64)
        # ARPACK is a loop of BLAS-2 calls on the Krylov basis: see spectral_labels.
        with blas_threads(1):
            values, vectors = eigsh(S, k=rank, which="LM", v0=np.ones(n))
    else:
        S = S.toarray() if sp.issparse(S) else np.asarray(S, dtype=np.float64)
        # One BLAS thread, as for the Gram matrix of least squares: on two cores 1.6 times
        # slower idle (1.5 s against 0.95 s at N = 2000), 8 times faster beside a
        # BLAS-busy process (2.4 s against 20 s).
        with blas_threads(1):
            values, vectors = np.linalg.eigh(S)
    order = np.argsort(-np.abs(values))[:rank]
    return values[order], vectors[:, order]


@validate_params(
    {
        "C": ["array-like", "sparse matrix", None],
        "n_clusters": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "dim_per_cluster": [Interval(numbers.Integral, 1, None, closed="left")],
        "power": [Interval(numbers.Real, 0, None, closed="neither")],
        "n_neighbors": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "eigenpairs": [tuple, list, None],
    },
    prefer_skip_nested_validation=True,
)
def angular_affinity(
    C=None, n_clusters=None, *, dim_per_cluster=10, power=4, n_neighbors=None, eigenpairs=None
):
    """Affinity of the low-rank post-processing of a representation matrix.

    ``C_s = (C + C^T) / 2`` is truncated to its ``r`` eigenpairs ``(l, v)`` of
    largest magnitude, ``r = dim_per_cluster * n_clusters + 1``;
    ``Z = V |L|^{1/2}`` with rows scaled to unit norm, and
    ``W_ij = |z_i . z_j|^power`` (zero diagonal). This is the post-processing
    of low-rank representation (Liu, Lin, Yan, Sun, Yu, Ma, "Robust Recovery
    of Subspace Structures by Low-Rank Representation", TPAMI 35(1), 2013).

    Parameters
    ----------
    C : ndarray or sparse matrix of shape (n_samples, n_samples), optional
        Representation matrix; not needed when ``eigenpairs`` is given.
    n_clusters : int
    dim_per_cluster : int, default=10
        Rank kept per cluster; 10 covers the 9-dimensional illumination cones
        of faces and the low-dimensional manifolds of digits.
    power : float, default=4
        Exponent sharpening the angular similarity.
    n_neighbors : int, optional
        Keep the ``n_neighbors`` largest weights of each row (sparse result,
        memory O(n_samples * n_neighbors)); computed block by block.
    eigenpairs : tuple (values, vectors), optional
        Eigen-decomposition of ``C_s`` already known in closed form (as for
        least-squares regression), eigenvalues of any order.

    Returns
    -------
    W : ndarray or sparse matrix of shape (n_samples, n_samples)

    Examples
    --------
    >>> import numpy as np
    >>> from subclust.cluster import angular_affinity
    >>> C = np.kron(np.eye(2), np.ones((3, 3)))
    >>> W = angular_affinity(C, 2, dim_per_cluster=1)
    >>> np.round(W, 6)[0]
    array([0., 1., 1., 0., 0., 0.])
    """
    if eigenpairs is None:
        n = C.shape[0]
        rank = min(dim_per_cluster * n_clusters + 1, n - 1 if n > _DENSE_LIMIT else n)
        values, vectors = _top_eigenpairs(C, rank)
    else:
        values, vectors = eigenpairs
        rank = min(dim_per_cluster * n_clusters + 1, len(values))
        order = np.argsort(-np.abs(values))[:rank]
        values, vectors = values[order], vectors[:, order]
    Z = vectors * np.sqrt(np.abs(values))
    norms = np.linalg.norm(Z, axis=1)
    norms[norms == 0] = 1.0  # a sample outside every kept direction gets no edges
    Z = Z / norms[:, None]
    n = Z.shape[0]
    if n_neighbors is None:
        W = np.abs(Z @ Z.T) ** power
        np.fill_diagonal(W, 0.0)
        return W
    blocks = []
    step = max(1, _BLOCK_ENTRIES // max(n, 1))
    for start in range(0, n, step):
        block = np.abs(Z[start : start + step] @ Z.T) ** power
        block[np.arange(block.shape[0]), np.arange(start, start + block.shape[0])] = 0.0
        blocks.append(_keep_top(block, n_neighbors))
    W = sp.vstack(blocks).tocsr()
    return sp.csr_matrix(W.maximum(W.T))


@validate_params(
    {
        "affinity": ["array-like", "sparse matrix"],
        "n_clusters": [Interval(numbers.Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "assign_labels": [StrOptions({"cluster_qr", "discretize", "kmeans", "normalized_kmeans"})],
        "eigen_solver": [StrOptions({"auto", "arpack", "lobpcg", "amg"})],
    },
    prefer_skip_nested_validation=True,
)
def spectral_labels(
    affinity, n_clusters, *, random_state=None, assign_labels="cluster_qr", eigen_solver="auto"
):
    """Labels of a precomputed affinity by scikit-learn's spectral clustering.

    A thin, documented call of :func:`sklearn.cluster.spectral_clustering`:
    the eigenvectors of the normalized Laplacian come from ARPACK (or LOBPCG
    for large sparse graphs) and labels are read from them by
    ``assign_labels``; the default ``'cluster_qr'`` (Damle, Minden, Ying,
    2019) is deterministic and needs no k-means restarts.
    ``'normalized_kmeans'`` is Ng, Jordan and Weiss's reading (NeurIPS 2002):
    the rows of the embedding are scaled to unit length before k-means, so
    that samples with few or weak links, which sit near the origin of the
    embedding, are placed by their direction alone. It suits very sparse
    graphs (SSC-OMP: 0.65 -> 0.82 on Extended Yale B, 0.52 -> 0.78 on MNIST).

    Parameters
    ----------
    affinity : ndarray or sparse matrix of shape (n_samples, n_samples)
        Symmetric non-negative weights.
    n_clusters : int
    random_state : int, RandomState instance or None
    assign_labels : {'cluster_qr', 'discretize', 'kmeans', 'normalized_kmeans'}, \
default='cluster_qr'
    eigen_solver : {'auto', 'arpack', 'lobpcg', 'amg'}, default='auto'
        'auto' is 'lobpcg' for a sparse affinity of more than 4000 samples
        (only sparse products: the Laplacian is neither densified nor
        factored, as ARPACK's shift-invert mode would), 'arpack' otherwise.
        'amg' preconditions LOBPCG by algebraic multigrid and needs pyamg;
        on the 100,000-point OMP graph of ``subclust bench ssc-scale`` it
        took 29 s against 4.4 s for plain LOBPCG (same accuracy), so 'auto'
        does not choose it.

    Returns
    -------
    labels : ndarray of shape (n_samples,)

    Examples
    --------
    >>> import numpy as np
    >>> from subclust.cluster import spectral_labels
    >>> W = np.kron(np.eye(2), np.ones((3, 3))) + 0.01
    >>> spectral_labels(W, 2, random_state=0).tolist()
    [0, 0, 0, 1, 1, 1]
    """
    if eigen_solver == "amg":
        try:
            import pyamg  # noqa: F401
        except ImportError as error:
            raise ImportError("eigen_solver='amg' needs pyamg: pip install pyamg.") from error
    n = affinity.shape[0]
    if n_clusters > n:
        raise ValueError(
            f"n_samples={n} should be >= n_clusters={n_clusters}: "
            "each cluster needs at least one sample."
        )
    if n_clusters == 1:
        return np.zeros(n, dtype=np.intp)
    if n_clusters == n:  # the only partition; ARPACK cannot compute all n eigenpairs
        return np.arange(n, dtype=np.intp)
    if eigen_solver == "auto":
        eigen_solver = _graph_eigen_solver(n, sparse=sp.issparse(affinity))
    # The eigensolvers are loops of sparse products and BLAS-2 calls on tall, thin
    # blocks: a BLAS thread pool adds little but synchronization, which a loaded machine
    # makes costly (100,000-point graph of ``subclust bench ssc-scale`` on 2 busy cores:
    # LOBPCG 31-34 s with two BLAS threads, 5-6 s with one, 4 s each on a quiet
    # machine; ARPACK's 101 eigenpairs of EnSC's representation of MNIST beside it:
    # 44-65 s with two BLAS threads, 6-8 s with one). The k-means that follows is a loop of
    # short passes over K-dimensional points: 10,000 points, K = 10, took 0.07 s idle on
    # either count of OpenMP threads, and beside that process 0.1 s on one, 0.2-2 s on two.
    with warnings.catch_warnings(record=True) as caught, blas_threads(1), openmp_threads(1):
        # A graph of exactly n_clusters components is the ideal outcome of
        # self-expression, not a problem: silence scikit-learn's warning about it.
        warnings.filterwarnings("ignore", message="Graph is not fully connected")
        if assign_labels == "normalized_kmeans":
            labels = _normalized_kmeans(affinity, n_clusters, random_state, eigen_solver)
        else:
            labels = spectral_clustering(
                affinity,
                n_clusters=n_clusters,
                eigen_solver=eigen_solver,
                random_state=random_state,
                assign_labels=assign_labels,
            )
    _summarize_lobpcg_warnings(caught, n)
    return labels.astype(np.intp)


def _graph_eigen_solver(n_samples, sparse):
    """The eigensolver of a graph's spectral embedding: LOBPCG for large sparse graphs.

    ARPACK, scikit-learn's default, finds a sparse Laplacian's smallest
    eigenvalues in shift-invert mode, which factors it: the factor of a graph
    without clusters fills in. On the 10-nearest-neighbour graph of 10,000
    noisy 2048-dimensional embeddings, scikit-learn's ``SpectralClustering``
    took 93 s and 1.2 GB with ARPACK; on 20,000 of them 15 s and 0.65 GB with
    LOBPCG. The accuracy is the same (0.823 with either on MNIST's 10,000
    digits).
    """
    return "lobpcg" if sparse and n_samples > _DENSE_LIMIT else "arpack"


def _summarize_lobpcg_warnings(caught, n_samples):
    """Re-issue caught warnings, LOBPCG's early stops as one line.

    SciPy's LOBPCG warns twice when it stops short of its tolerance (sqrt(eps)
    times the number of samples), each time printing every eigenpair's
    residual. On large sparse graphs that is common and mild (residuals of
    1e-4 to 1e-3 on 30,000 embeddings of 20 subspaces, the same labels as
    ARPACK's), so it is said once, briefly.
    """
    stopped = False
    for warning in caught:
        if "not reaching the requested tolerance" in str(warning.message):
            stopped = True
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename,
                                   warning.lineno, source=warning.source)
    if stopped:
        warnings.warn(
            f"LOBPCG stopped short of its tolerance on the spectral embedding of {n_samples} "
            "samples; the labels come from its best eigenvectors (spectral_labels("
            "eigen_solver='arpack') solves to full precision).",
            ConvergenceWarning, stacklevel=2,
        )


@validate_params(
    {
        "affinity": ["array-like", "sparse matrix"],
        "n_values": [Interval(numbers.Integral, 1, None, closed="left")],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def laplacian_spectrum(affinity, n_values, *, tol=0.0):
    """Smallest eigenvalues of the normalized Laplacian ``I - D^(-1/2) W D^(-1/2)``.

    They come from the largest eigenvalues of the normalized affinity: a dense
    eigendecomposition on one BLAS thread for a small graph, ARPACK otherwise
    (the Laplacian is never densified), one connected component at a time.
    An isolated sample contributes 1.

    Parameters
    ----------
    affinity : ndarray or sparse matrix of shape (n_samples, n_samples)
        Symmetric non-negative weights.
    n_values : int
        How many eigenvalues (at most ``n_samples - 1``).
    tol : float, default=0.0
        Relative accuracy asked of ARPACK (0: machine precision); a plot
        needs three digits.

    Returns
    -------
    eigenvalues : ndarray of shape (n_values,)
        Ascending, in [0, 2].

    Examples
    --------
    >>> import numpy as np
    >>> from subclust.cluster import laplacian_spectrum
    >>> W = np.kron(np.eye(2), np.ones((3, 3)))
    >>> laplacian_spectrum(W, 3).round(3).tolist()
    [0.0, 0.0, 1.0]
    """
    n = affinity.shape[0]
    n_values = min(int(n_values), n - 1)
    if n <= _SMALL_GRAPH:
        return _spectrum(affinity, n_values, tol)
    # A Krylov method sees one copy of a repeated eigenvalue per start vector, and a
    # graph has a zero for each of its components: on a 5,000-sample thresholding graph
    # of 19 components ARPACK found 13 zeros. So each component is decomposed apart.
    affinity = sp.csr_matrix(affinity, dtype=np.float64)
    n_components, component = connected_components(affinity, directed=False)
    if n_components == 1:
        return _spectrum(affinity, n_values, tol)
    sizes = np.bincount(component)
    weights = np.bincount(component, weights=np.asarray(affinity.sum(axis=1)).ravel())
    isolated = (sizes == 1) & (weights == 0)
    linked = np.flatnonzero(~isolated)
    if len(linked) >= n_values:  # a zero for each linked component
        return np.zeros(n_values)
    values = [np.ones(int(isolated.sum()))]
    for c in linked:
        members = np.flatnonzero(component == c)
        block = affinity[members][:, members]
        values.append(_spectrum(block, min(n_values, len(members)), tol))
    return np.sort(np.concatenate(values))[:n_values]


def _spectrum(affinity, n_values, tol):
    """:func:`laplacian_spectrum` of one graph: dense when small (all of it), else ARPACK."""
    from scipy.sparse.linalg import ArpackNoConvergence

    n = affinity.shape[0]
    degree = np.asarray(affinity.sum(axis=1), dtype=np.float64).ravel()
    scale = np.zeros_like(degree)
    scale[degree > 0] = 1.0 / np.sqrt(degree[degree > 0])
    if n <= _SMALL_GRAPH:
        W = affinity.toarray() if sp.issparse(affinity) else np.asarray(affinity, np.float64)
        # A small problem: a BLAS thread pool adds only synchronization, which a loaded
        # machine makes costly (a 400 x 400 eigvalsh took 6 s at load 24 with the pool).
        with blas_threads(1):
            values = np.linalg.eigvalsh(scale[:, None] * W * scale[None, :])[::-1][:n_values]
    else:
        D = sp.diags(scale)
        normalized = D @ sp.csr_matrix(affinity, dtype=np.float64) @ D
        try:
            with blas_threads(1):  # see spectral_labels
                values = eigsh(normalized, k=min(n_values, n - 1), which="LA", v0=np.ones(n),
                               tol=tol, return_eigenvectors=False)
        except ArpackNoConvergence as error:
            values = error.eigenvalues
    return np.sort(np.clip(1.0 - np.asarray(values), 0.0, 2.0))


#: Graphs up to this many samples get a dense eigendecomposition of their Laplacian.
_SMALL_GRAPH = 600


@validate_params(
    {
        "affinity": ["array-like", "sparse matrix"],
        "max_clusters": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "diffusion_time": [Interval(numbers.Real, 0, None, closed="neither")],
    },
    prefer_skip_nested_validation=True,
)
def estimate_n_clusters(affinity, *, max_clusters=None, diffusion_time=10.0):
    """Number of clusters of an affinity graph, by the eigengap of its diffusion.

    A graph of ``K`` disconnected components has ``K`` zero eigenvalues
    ``lambda`` of its normalized Laplacian (:func:`laplacian_spectrum`); a
    graph of ``K`` well separated clusters has ``K`` small ones followed by a
    jump. The eigengap rule reads ``K`` at the largest gap (von Luxburg, "A
    tutorial on spectral clustering", Statistics and Computing 17, 2007,
    section 8.3). Here the gap is read on the eigenvalues
    ``exp(-t lambda)`` of the diffusion ``exp(-t L)`` after ``t`` steps
    (Coifman & Lafon, "Diffusion maps", Applied and Computational Harmonic
    Analysis 21, 2006; Nadler, Lafon, Coifman, Kevrekidis, NIPS 2005): the
    estimate is the ``k`` in ``[2, max_clusters]`` that maximizes
    ``exp(-t lambda_k) - exp(-t lambda_(k+1))``. As ``t -> 0`` this is the
    plain gap ``lambda_(k+1) - lambda_k``; a larger ``t`` weighs a gap by how
    close to zero it starts. That matters on the sparse graphs of elastic-net,
    OMP and thresholding representations, where a cluster falls apart into
    weakly linked pieces: their eigenvalues are small but not near zero, and
    the plain gap above them (into the bulk of the spectrum) counts each
    piece as a cluster. The default ``t = 10`` was chosen on noisy unions of
    subspaces and on 5 and 10 subjects of Extended Yale B and scikit-learn's
    8x8 digits; ``subclust bench n-clusters`` also reports sets it was not
    chosen on. ``K = 1`` is never returned (``lambda_1 = 0`` always). A
    spectrum without any gap up to ``max_clusters + 1`` (more equally
    separated clusters than that) gives ``max_clusters``; the estimators
    that read ``K`` this way warn when it is the largest value considered.

    Parameters
    ----------
    affinity : ndarray or sparse matrix of shape (n_samples, n_samples)
        Symmetric non-negative weights.
    max_clusters : int, optional
        Largest number considered (default ``min(n_samples - 2, 50)``).
    diffusion_time : float, default=10.0
        ``t`` above; a small value (``1e-6``) gives the plain eigengap.

    Returns
    -------
    n_clusters : int
    eigenvalues : ndarray of shape (max_clusters + 1,)
        The smallest eigenvalues of the normalized Laplacian, ascending: the
        spectrum the estimate reads, to report beside it.

    Examples
    --------
    >>> import numpy as np
    >>> from subclust.cluster import estimate_n_clusters
    >>> W = np.kron(np.eye(3), np.ones((4, 4))) + 0.01
    >>> n_clusters, eigenvalues = estimate_n_clusters(W, max_clusters=5)
    >>> n_clusters, eigenvalues.round(2).tolist()
    (3, [0.0, 0.03, 0.03, 1.0, 1.0, 1.0])
    """
    n = affinity.shape[0]
    if n < 4:
        raise ValueError(
            f"estimating the number of clusters needs >= 4 samples, got {n}; give n_clusters."
        )
    if max_clusters is None:
        max_clusters = min(n - 2, _MAX_CLUSTERS)
    if not 2 <= max_clusters < n - 1:
        raise ValueError(f"max_clusters must lie in [2, {n - 2}], got {max_clusters}.")
    eigenvalues = laplacian_spectrum(affinity, max_clusters + 1)
    return _diffusion_gap(eigenvalues, diffusion_time), eigenvalues


#: Largest number of clusters estimate_n_clusters considers by default.
_MAX_CLUSTERS = 50


def _warn_if_largest(n_clusters, n_samples):
    """Warn where K was estimated at the largest value considered: the data may hold more."""
    if n_clusters == min(n_samples - 2, _MAX_CLUSTERS):
        warnings.warn(
            f"The number of clusters was estimated at {n_clusters}, the largest value "
            "considered; the data may hold more clusters: give n_clusters.",
            UserWarning, stacklevel=3,
        )  # fmt: skip


def _diffusion_gap(eigenvalues, diffusion_time):
    """The ``k >= 2`` after which ``exp(-t * eigenvalues)`` (ascending eigenvalues) drops most.

    A spectrum without a gap (equal eigenvalues, as of more equally separated
    clusters than were considered) gives the largest ``k`` considered.
    """
    # expm1 keeps the plain gap's resolution when t * lambda is tiny.
    decay = np.expm1(-diffusion_time * np.asarray(eigenvalues[1:], dtype=np.float64))
    gaps = -np.diff(decay)
    if gaps.max() <= np.sqrt(np.finfo(np.float64).eps):  # round-off, not a gap
        return len(eigenvalues) - 1
    return int(np.argmax(gaps) + 2)


def _normalized_kmeans(affinity, n_clusters, random_state, eigen_solver):
    """k-means on the unit-length rows of the spectral embedding (Ng, Jordan, Weiss)."""
    rng = check_random_state(random_state)
    maps = spectral_embedding(affinity, n_components=n_clusters, eigen_solver=eigen_solver,
                              random_state=rng, drop_first=False)
    # The embedding's rows are D^(-1/2) times those of the normalized Laplacian's
    # eigenvectors: the same directions, so either normalizes to the same points.
    maps = normalize(maps)
    return KMeans(n_clusters, n_init=10, random_state=rng).fit(maps).labels_.astype(np.intp)


@validate_params(
    {
        "X": ["array-like"],
        "labels": ["array-like"],
        "n_clusters": [Interval(numbers.Integral, 1, None, closed="left")],
        "dims": [Interval(numbers.Integral, 1, None, closed="left"), "array-like", None],
        "energy": [Interval(numbers.Real, 0, 1, closed="right"), None],
    },
    prefer_skip_nested_validation=True,
)
def cluster_bases(X, labels, n_clusters, *, dims=None, energy=None):
    """An orthonormal basis for the samples of each cluster.

    The basis of cluster ``k`` is the principal subspace of its samples
    (:func:`subclust.subspace.principal_subspace`): the leading left singular
    vectors, ``dims`` of them if given, otherwise as many as an estimate of
    the cluster's dimension that noise does not inflate: the optimal hard
    threshold of its singular values (:func:`subclust.subspace.estimate_rank`),
    or, if ``energy`` is given, the smallest rank holding that share of the
    Frobenius norm (:func:`subclust.subspace.numerical_rank`). Either is
    capped below the number of features. An empty cluster gets a zero basis,
    so that no sample is ever closer to it than to a real subspace.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    labels : ndarray of shape (n_samples,)
    n_clusters : int
    dims : int or list of int, optional
    energy : float in (0, 1], optional
        Share of the Frobenius norm the basis keeps, instead of the threshold
        rule. An energy share also keeps part of the noise: 8-dimensional
        clusters with noise 0.05 in 512 features keep ~230 directions at
        0.997, against 8 by the threshold.

    Returns
    -------
    bases : list of ndarray of shape (n_features, d_k)
        Orthonormal basis of each cluster's subspace, in the dtype of ``X``;
        one zero column for a cluster without samples.

    Examples
    --------
    >>> import numpy as np
    >>> from subclust.cluster import cluster_bases
    >>> from subclust.datasets import make_molrg
    >>> from subclust.subspace import subspace_distance
    >>> X, y, true_bases = make_molrg(n_samples=[30, 30], n_features=10, dims=[2, 3],
    ...                               random_state=0)
    >>> bases = cluster_bases(X, y, n_clusters=2)  # dimensions estimated from the data
    >>> [U.shape for U in bases]
    [(10, 2), (10, 3)]
    >>> all(np.allclose(U.T @ U, np.eye(U.shape[1])) for U in bases)  # orthonormal columns
    True
    >>> [round(subspace_distance(U, V), 6) for U, V in zip(bases, true_bases)]
    [0.0, 0.0]
    >>> [U.shape for U in cluster_bases(X, y, n_clusters=2, dims=1)]  # or fixed dimensions
    [(10, 1), (10, 1)]
    """
    n_features = X.shape[1]
    dims = check_dims(dims, n_clusters, n_features, allow_none=True)
    bases = []
    # Many small decompositions: one BLAS thread avoids waking a pool for each.
    with blas_threads(1):
        for k, dim in enumerate(dims):
            points = X[labels == k]
            if points.shape[0] == 0:
                bases.append(np.zeros((n_features, 1), dtype=X.dtype))
            else:
                bases.append(principal_subspace(points, dim, energy=energy).astype(X.dtype))
    return bases


#: Parameters shared by every spectral subspace-clustering estimator.
_COMMON_CONSTRAINTS = {
    "n_clusters": [Interval(numbers.Integral, 1, None, closed="left"), None],
    "normalize": ["boolean"],
    "n_neighbors": [Interval(numbers.Integral, 1, None, closed="left"), None],
    "dim_per_cluster": [Interval(numbers.Integral, 1, None, closed="left")],
    "power": [Interval(numbers.Real, 0, None, closed="neither")],
    "assign_labels": [StrOptions({"cluster_qr", "discretize", "kmeans", "normalized_kmeans"})],
    "subspace_dims": [Interval(numbers.Integral, 1, None, closed="left"), "array-like", None],
    "subspace_energy": [Interval(numbers.Real, 0, 1, closed="right"), None],
    "random_state": ["random_state"],
}

#: Above this many samples the angular affinity keeps ``_LARGE_N_NEIGHBORS``
#: weights per row unless ``n_neighbors`` is given (memory O(N k), not O(N^2)).
_LARGE_N_NEIGHBORS = 50


class BaseSpectralSubspaceClustering(NearestSubspaceMixin, ClusterMixin, BaseEstimator):
    """Fit = representation, affinity, spectral clustering, one subspace per cluster.

    Subclasses implement ``_representation(X)`` returning the representation
    matrix and, when known in closed form, the eigenpairs of its symmetric
    part (else None); with eigenpairs the matrix may be None (too large to
    form). ``transform``, ``predict`` and ``score`` measure samples against
    the per-cluster subspaces of ``bases_`` (:class:`NearestSubspaceMixin`).

    With ``n_clusters=None`` the number of clusters ``n_clusters_`` is
    :func:`estimate_n_clusters` of the estimator's own affinity, and the
    spectrum it read is kept in ``laplacian_eigenvalues_``. The angular
    affinity keeps ``dim_per_cluster * K + 1`` directions, so it needs ``K``
    to be built: ``K`` is then a fixed point, ``K_(t+1)`` read from the
    affinity built with ``K_t``, from ``K_0 = 50`` (at most ``N - 2``) until
    a value repeats. Readings are stable once the rank exceeds the data's
    and erratic below it, hence the start from above: on 10 faces of
    Extended Yale B with least squares, every ``K_t`` from 6 to 50 reads 10,
    while ``K_t`` = 2, 3, 4 read 4, 5, 5 (a start from 2 can stop at 5).
    """

    def _fit_bases(self, X, labels):
        self.bases_ = cluster_bases(
            X, labels, self.n_clusters_, dims=self.subspace_dims, energy=self.subspace_energy
        )

    def _representation(self, X):  # pragma: no cover - abstract
        raise NotImplementedError

    def _affinity_kind(self):
        """The affinity to build: subclasses may resolve an 'auto' setting."""
        return self.affinity

    def _assign_labels_kind(self):
        """How labels are read from the embedding: subclasses may resolve 'auto'."""
        return self.assign_labels

    def _representation_dtype(self, dtype):
        """The dtype handed to ``_representation`` (subclasses may keep float32)."""
        return np.float64

    def _normalizes(self):
        """Whether samples are scaled to unit norm: subclasses may resolve 'auto'."""
        return self.normalize

    def _affinity_input(self, C):
        """The representation the affinity is built from: subclasses may prune it."""
        return C

    def _affinity_reads_n_clusters(self):
        """Whether the affinity depends on the number of clusters (the angular rank)."""
        return self._affinity_kind() == "angular"

    def _affinity(self, C, eigenpairs, n_clusters):
        n = _n_rows(C, eigenpairs)
        if self._affinity_kind() == "angular":
            n_neighbors = self.n_neighbors
            if n_neighbors is None and n > _DENSE_LIMIT:
                n_neighbors = _LARGE_N_NEIGHBORS
            return angular_affinity(
                None if eigenpairs is not None else C,
                n_clusters,
                dim_per_cluster=self.dim_per_cluster,
                power=self.power,
                n_neighbors=n_neighbors,
                eigenpairs=eigenpairs,
            )
        return representation_affinity(C, n_neighbors=self.n_neighbors, scale_rows=self._scale_rows)

    def _affinity_and_n_clusters(self, C, eigenpairs):
        """The affinity, the number of clusters, and the spectrum read (None if given)."""
        C = self._affinity_input(C)
        if self.n_clusters is not None:
            return self._affinity(C, eigenpairs, self.n_clusters), self.n_clusters, None
        n = _n_rows(C, eigenpairs)
        max_clusters = min(n - 2, _MAX_CLUSTERS)
        if not self._affinity_reads_n_clusters():
            W = self._affinity(C, eigenpairs, None)
            n_clusters, spectrum = estimate_n_clusters(W, max_clusters=max_clusters)
            _warn_if_largest(n_clusters, n)
            return W, n_clusters, spectrum
        if eigenpairs is None:  # once, for every rank the iteration may ask
            rank = self.dim_per_cluster * max_clusters + 1
            eigenpairs = _top_eigenpairs(C, min(rank, n - 1 if n > _DENSE_LIMIT else n))
        readings, k = {}, max_clusters
        while k not in readings:
            W = self._affinity(C, eigenpairs, k)
            readings[k] = (W, *estimate_n_clusters(W, max_clusters=max_clusters))
            k = readings[k][1]
        _warn_if_largest(k, n)
        return readings[k]

    _scale_rows = True

    def _fit_precomputed(self, X, rng):
        X = validate_data(self, X, accept_sparse="csr", dtype=[np.float64, np.float32])
        if X.shape[0] != X.shape[1]:
            raise ValueError(
                f"affinity='precomputed' needs a square affinity matrix, got shape {X.shape}."
            )
        values = X.data if sp.issparse(X) else X
        if np.any(values < 0):
            raise ValueError("A precomputed affinity must be non-negative.")
        _check_enough_samples(X.shape[0], self.n_clusters)
        if self.n_clusters is None:
            n_clusters, spectrum = estimate_n_clusters(X)
            _warn_if_largest(n_clusters, X.shape[0])
        else:
            n_clusters, spectrum = self.n_clusters, None
        self.representation_matrix_ = None
        self.affinity_matrix_ = X
        self.n_clusters_, self.laplacian_eigenvalues_ = n_clusters, spectrum
        self.labels_ = spectral_labels(
            X, n_clusters, random_state=rng, assign_labels=self._assign_labels_kind()
        )
        self.bases_ = None
        self._n_features_out = n_clusters
        return self

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Cluster the samples of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or (n_samples, n_samples)
            Training data; with ``affinity='precomputed'``, a symmetric
            non-negative affinity matrix (dense or sparse).
        y : Ignored
            Present for API consistency.

        Returns
        -------
        self
            The fitted estimator.

        Notes
        -----
        Degenerate samples are handled, not rejected. An all-zero sample lies
        on every subspace, so it is left out of the clustering, gets label 0
        (as from ``predict``) and a ``UserWarning`` names its rows, the rule
        of every subclust estimator; exact duplicates would represent
        each other alone and form isolated pairs in the graph, so each
        distinct sample is clustered once and its copies take its label. In
        both cases ``representation_matrix_`` and ``affinity_matrix_`` keep
        the full size with zero rows and columns for the samples left out.
        NaN or infinite values raise a ``ValueError``, as do fewer samples
        than clusters.
        """
        rng = check_random_state(self.random_state)
        if self.affinity == "precomputed":
            return self._fit_precomputed(X, rng)
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        _check_enough_samples(X.shape[0], self.n_clusters)
        zero = np.linalg.norm(X, axis=1) == 0
        warn_zero_samples(zero)
        keep = ~zero
        # Exact copies would represent each other alone and form isolated pairs in
        # the graph: cluster each distinct sample once, copies take its label.
        first, inverse = _distinct_rows(X)
        keep &= first
        _check_enough_samples(int(keep.sum()), self.n_clusters, n_given=X.shape[0])
        Xk = X[keep] if not keep.all() else X
        Xn = normalize_samples(Xk) if self._normalizes() else Xk
        C, eigenpairs = self._representation(
            Xn.astype(self._representation_dtype(Xn.dtype), copy=False)
        )
        W, self.n_clusters_, self.laplacian_eigenvalues_ = self._affinity_and_n_clusters(
            C, eigenpairs
        )
        labels = spectral_labels(
            W, self.n_clusters_, random_state=rng, assign_labels=self._assign_labels_kind()
        )
        # Bases from the samples as given: scaling each to unit norm makes the
        # noise uneven, which the dimension estimate reads as extra directions.
        self._fit_bases(Xk, labels)
        if keep.all():
            self.representation_matrix_, self.affinity_matrix_, self.labels_ = C, W, labels
        else:
            self.representation_matrix_ = None if C is None else _embed(C, keep)
            self.affinity_matrix_ = _embed(W, keep)
            full = np.zeros(X.shape[0], dtype=np.intp)
            full[keep] = labels
            self.labels_ = full[inverse]  # copies: the label of their first occurrence
            self.labels_[zero] = 0
        self._n_features_out = self.n_clusters_
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.pairwise = self.affinity == "precomputed"
        tags.input_tags.sparse = self.affinity == "precomputed"
        return tags


def _distinct_rows(X):
    """Mask of first occurrences of each distinct row, and the first occurrence of every row.

    Rows are compared by their bytes in a dictionary, 25 times faster than
    sorting them (``np.unique(axis=0)``) on Extended Yale B; adding 0.0 turns
    -0.0 into 0.0, the one pair of equal floats with different bytes.
    """
    rows = np.ascontiguousarray(X) + 0.0
    seen = {}
    first = np.fromiter(
        (seen.setdefault(row.tobytes(), i) for i, row in enumerate(rows)), np.intp, len(rows)
    )
    return first == np.arange(len(rows)), first


def _n_rows(C, eigenpairs):
    """Samples of a representation: ``C`` may be left out when its eigenpairs are known."""
    return eigenpairs[1].shape[0] if C is None else C.shape[0]


def _embed(M, keep):
    """A square matrix on the kept samples, padded with zero rows and columns for the others."""
    index = np.flatnonzero(keep)
    n = keep.size
    if sp.issparse(M):
        M = sp.coo_matrix(M)
        return sp.csr_matrix((M.data, (index[M.row], index[M.col])), shape=(n, n))
    out = np.zeros((n, n), dtype=M.dtype)
    out[np.ix_(index, index)] = M
    return out


def _distinct_nonzero(X):
    """Mask of the samples clustered: the first copy of each distinct non-zero row."""
    return _distinct_rows(X)[0] & (np.linalg.norm(X, axis=1) > 0)


def _check_enough_samples(n_samples, n_clusters, n_given=None):
    """Raise unless ``n_samples`` suffice; ``n_given`` when only they are distinct and non-zero."""
    if n_given is not None and n_samples < n_given:
        needed = 4 if n_clusters is None else max(n_clusters, 2)
        if n_samples < needed:
            raise ValueError(
                f"Only {n_samples} of the {n_given} samples are distinct and non-zero, and "
                f"{'estimating the number of clusters' if n_clusters is None else 'clustering'} "
                f"needs {needed}: the others are copies or zeros; check how the data were made."
            )
        return
    if n_clusters is None:  # to be estimated: two clusters and two more samples at least
        if n_samples < 4:
            raise ValueError(
                f"n_samples={n_samples}: estimating the number of clusters needs at least 4 "
                "samples; give n_clusters."
            )
        return
    if n_samples < max(n_clusters, 2):
        raise ValueError(
            f"n_samples={n_samples} should be >= n_clusters={n_clusters} (and >= 2): "
            "each cluster needs at least one sample, and each sample is represented by others."
        )
