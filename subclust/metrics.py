"""Scores for clusterings and for recovered subspaces."""

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix

from subclust.subspace import match_subspaces
from subclust.utils.validation import validate_params

__all__ = [
    "clustering_accuracy",
    "subspace_recovery_error",
    "normalized_mutual_info_score",
    "adjusted_rand_score",
]


@validate_params(
    {
        "y_true": ["array-like"],
        "y_pred": ["array-like"],
    },
    prefer_skip_nested_validation=True,
)
def clustering_accuracy(y_true, y_pred):
    """Accuracy of a clustering under the best matching of labels.

    Clusters are matched to classes one-to-one by the Hungarian algorithm on
    the contingency table. When the numbers of clusters and classes differ,
    the surplus clusters (or classes) stay unmatched and their points count
    as errors.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
    y_pred : array-like of shape (n_samples,)

    Returns
    -------
    accuracy : float in [0, 1]

    Examples
    --------
    >>> from subclust.metrics import clustering_accuracy
    >>> clustering_accuracy([0, 0, 1, 1], [1, 1, 0, 0])
    1.0
    >>> clustering_accuracy([0, 0, 1, 1], [0, 1, 2, 2])
    0.75
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(
            f"y_true and y_pred must be 1-D of the same length, got shapes "
            f"{y_true.shape} and {y_pred.shape}."
        )
    if y_true.size == 0:
        raise ValueError("clustering_accuracy needs at least one sample.")
    table = contingency_matrix(y_true, y_pred)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / y_true.size)


@validate_params(
    {
        "learned_bases": ["array-like"],
        "true_bases": ["array-like"],
    },
    prefer_skip_nested_validation=True,
)
def subspace_recovery_error(learned_bases, true_bases):
    """Largest distance between matched learned and true subspaces.

    The two sets are matched by :func:`subclust.subspace.match_subspaces`
    (Hungarian algorithm on :func:`subclust.subspace.subspace_distance`); the
    error is the worst matched distance, so a value below a threshold means
    *every* subspace was recovered. A true subspace left without a learned
    partner counts as distance 1.

    Parameters
    ----------
    learned_bases, true_bases : list of ndarray of shape (n_features, d_k)

    Returns
    -------
    error : float in [0, 1]

    Examples
    --------
    >>> import numpy as np
    >>> from subclust.metrics import subspace_recovery_error
    >>> E = np.eye(4)
    >>> subspace_recovery_error([E[:, 2:], E[:, :2]], [E[:, :2], E[:, 2:]])
    0.0
    """
    _, distances = match_subspaces(list(true_bases), list(learned_bases))
    return float(distances.max())
