"""Thresholding-based subspace clustering (TSC)."""

import numbers

import numpy as np
import scipy.sparse as sp

from subclust.cluster._spectral import (
    _BLOCK_ENTRIES,
    _COMMON_CONSTRAINTS,
    BaseSpectralSubspaceClustering,
)
from subclust.utils.validation import (
    Interval,
    StrOptions,
    check_matrix,
    store_init_params,
    validate_params,
)

__all__ = ["ThresholdedSubspaceClustering", "thresholded_representation"]


@validate_params(
    {
        "X": ["array-like"],
        "n_neighbors": [Interval(numbers.Integral, 1, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def thresholded_representation(X, n_neighbors):
    """Each sample linked to its ``q`` most correlated samples (TSC).

    ``C[i, j] = exp(-2 arccos |x_i . x_j|)`` for the ``q = n_neighbors``
    samples ``j`` of largest absolute cosine with ``x_i``, zero elsewhere
    (Heckel & Boelcskei, "Robust Subspace Clustering via Thresholding",
    IEEE Trans. Inf. Theory 61(11), 2015). Rows of ``X`` must have unit norm.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Unit-norm samples.
    n_neighbors : int
        ``q``, smaller than ``n_samples``.

    Returns
    -------
    C : sparse matrix (CSR) of shape (n_samples, n_samples)

    Examples
    --------
    >>> import numpy as np
    >>> from subclust.cluster import thresholded_representation
    >>> X = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    >>> thresholded_representation(X, 1).toarray().round(3)
    array([[0.   , 0.157, 0.   ],
           [0.   , 0.   , 0.276],
           [0.   , 0.276, 0.   ]])
    """
    X = check_matrix(X)
    n = X.shape[0]
    q = int(n_neighbors)
    if not 1 <= q < n:
        raise ValueError(f"n_neighbors must lie in [1, n_samples - 1] = [1, {n - 1}], got {q}.")
    rows, cols, vals = [], [], []
    step = max(1, _BLOCK_ENTRIES // n)  # rows of similarities at a time: bounded memory
    for start in range(0, n, step):
        stop = min(start + step, n)
        S = np.abs(X[start:stop] @ X.T).astype(np.float64)
        S[np.arange(stop - start), np.arange(start, stop)] = -1.0  # never one's own neighbour
        idx = np.argpartition(-S, q - 1, axis=1)[:, :q]
        cos = np.clip(np.take_along_axis(S, idx, axis=1), 0.0, 1.0)
        rows.append(np.repeat(np.arange(start, stop), q))
        cols.append(idx.ravel())
        vals.append(np.exp(-2.0 * np.arccos(cos)).ravel())
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    )


class ThresholdedSubspaceClustering(BaseSpectralSubspaceClustering):
    """Thresholding-based subspace clustering (TSC).

    Links every unit-norm sample to its ``q`` nearest samples by absolute
    cosine, with weights ``exp(-2 arccos |cos|)``
    (:func:`thresholded_representation`), and clusters the symmetrized graph
    ``W = C + C^T`` spectrally. Cheap (one pass of inner products) and
    provably correct for well-separated subspaces.

    Parameters
    ----------
    n_clusters : int or None, default=8
        None estimates it; see :class:`subclust.cluster.SparseSubspaceClustering`.
    n_nearest : int, default=5
        ``q``, the neighbours kept per sample (capped at ``n_samples - 1``).
        A small fixed ``q`` keeps the graph within the subspaces; larger
        values connect subspaces near their intersections.
    normalize : bool, default=True
        Scale samples to unit norm first (the method assumes it).
    affinity : {'symmetric', 'angular', 'precomputed'}, default='symmetric'
        'symmetric' is ``C + C^T`` (unscaled, as in the paper).
    n_neighbors, dim_per_cluster, power, subspace_dims, subspace_energy, random_state
        See :class:`subclust.cluster.SparseSubspaceClustering`.
    assign_labels : {'cluster_qr', 'discretize', 'kmeans', 'normalized_kmeans'}, \
default='cluster_qr'
        See :func:`~subclust.cluster.spectral_labels`.

    Attributes
    ----------
    representation_matrix_ : sparse matrix of shape (n_samples, n_samples)
    affinity_matrix_ : sparse matrix of shape (n_samples, n_samples)
    labels_, n_clusters_, laplacian_eigenvalues_, bases_, n_features_in_
        See :class:`subclust.cluster.SparseSubspaceClustering`.

    References
    ----------
    R. Heckel and H. Boelcskei, "Robust Subspace Clustering via
    Thresholding", IEEE Trans. Information Theory 61(11), 2015.

    Examples
    --------
    >>> from subclust import ThresholdedSubspaceClustering
    >>> from subclust.datasets import make_molrg
    >>> from subclust.metrics import clustering_accuracy
    >>> X, y, _ = make_molrg(n_samples=[40, 40, 40], n_features=20, dims=3, random_state=0)
    >>> tsc = ThresholdedSubspaceClustering(n_clusters=3, random_state=0).fit(X)
    >>> clustering_accuracy(y, tsc.labels_)
    1.0
    """

    _parameter_constraints = {
        **_COMMON_CONSTRAINTS,
        "n_nearest": [Interval(numbers.Integral, 1, None, closed="left")],
        "affinity": [StrOptions({"symmetric", "angular", "precomputed"})],
    }

    _scale_rows = False

    def __init__(
        self, n_clusters=8, *, n_nearest=5, normalize=True, affinity="symmetric", n_neighbors=None,
        dim_per_cluster=10, power=4, assign_labels="cluster_qr", subspace_dims=None,
        subspace_energy=None, random_state=None,
    ):  # fmt: skip
        store_init_params(self, locals())

    def _representation(self, X):
        return thresholded_representation(X, min(self.n_nearest, X.shape[0] - 1)), None
