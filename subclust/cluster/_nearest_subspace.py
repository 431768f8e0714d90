"""What every subspace clusterer does with its fitted subspaces, in one place.

A fitted clusterer holds one orthonormal basis per cluster in ``bases_``
(and, for affine subspaces, offsets in ``means_``). New samples are then
measured against these subspaces as K-subspaces measures its training data:

- ``transform(X)``: the distance of every sample to every subspace;
- ``predict(X)``: the nearest subspace, ``transform(X).argmin(axis=1)``;
- ``score(X)``: ``-sum_i min_k dist(x_i, S_k)^2``, the opposite of the
  K-subspaces objective, so that larger is better (as ``KMeans.score``) and
  ``GridSearchCV`` or ``Pipeline.score`` work without a ``scoring``.

It also holds the one rule on all-zero samples, shared by every estimator:
an all-zero sample lies on every subspace through the origin and says
nothing about the clusters, so ``fit`` leaves it out of the estimation,
gives it label 0 (the label ``predict`` gives it: its distance to every
subspace is zero, and ties go to the first) and warns, naming its rows
(:func:`warn_zero_samples`). Affine subspaces do not contain the origin: for
them a zero sample is an ordinary sample.
"""

import warnings
from numbers import Integral

import numpy as np
from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin

from subclust.subspace import residuals
from subclust.utils.validation import Interval, check_is_fitted, validate_data, validate_params

__all__ = ["NearestSubspaceMixin", "warn_zero_samples"]

@validate_params(
    {
        "zero": ["array-like"],
        "name": [str],
        "stacklevel": [Interval(Integral, 1, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def warn_zero_samples(zero, name="X", stacklevel=3):
    """Warn about all-zero samples, naming their rows; return their indices.

    Parameters
    ----------
    zero : ndarray of bool of shape (n_samples,)
        Which samples are all zeros.
    name : str, default="X"
        Name of the data in the message.
    stacklevel : int, default=3
        Passed to :func:`warnings.warn` (3 points at the caller of ``fit``
        when called from ``fit``).

    Returns
    -------
    rows : ndarray of int
        Indices of the all-zero samples (empty if none).

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from subclust.cluster._nearest_subspace import warn_zero_samples
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     rows = warn_zero_samples(np.array([False, True, False, True]))
    >>> rows.tolist()
    [1, 3]
    >>> print(caught[0].message)  # doctest: +NORMALIZE_WHITESPACE
    X has 2 all-zero sample(s) (rows [1, 3]); they lie on every subspace, are left out of
    the estimation and get label 0. Remove them to avoid this.
    """
    rows = np.flatnonzero(zero)
    if rows.size:
        shown = rows[:10].tolist()
        more = "..." if rows.size > 10 else ""
        warnings.warn(
            f"{name} has {rows.size} all-zero sample(s) (rows {shown}{more}); they lie on every "
            "subspace, are left out of the estimation and get label 0. Remove them to avoid "
            "this.",
            UserWarning,
            stacklevel=stacklevel,
        )
    return rows


class NearestSubspaceMixin(ClassNamePrefixFeaturesOutMixin, TransformerMixin):
    """``transform``, ``predict`` and ``score`` from the fitted subspaces.

    For estimators that set ``bases_`` (a list of orthonormal bases, or None
    when they were fitted without features) and, optionally, ``means_``
    (offsets of affine subspaces) in ``fit``, and ``_n_features_out`` to the
    number of clusters. ``transform`` outputs keep the input's float dtype.

    Estimators that read samples out of core may override :meth:`_nearest`,
    which ``predict`` and ``score`` use, to stream over chunks of rows.

    Examples
    --------
    >>> from subclust import LeastSquaresSubspaceClustering
    >>> from subclust.datasets import make_molrg
    >>> X, y, _ = make_molrg(n_samples=[30, 30], n_features=10, dims=2, random_state=0)
    >>> lsr = LeastSquaresSubspaceClustering(2, random_state=0).fit(X)
    >>> lsr.transform(X[:3]).shape  # distance of each sample to each cluster's subspace
    (3, 2)
    >>> bool((lsr.predict(X) == lsr.transform(X).argmin(axis=1)).all())
    True
    >>> round(lsr.score(X), 6)  # minus the K-subspaces objective: the samples lie on them
    -0.0
    """

    def _check_subspaces(self):
        check_is_fitted(self)
        if self.bases_ is None:
            raise ValueError(
                f"{type(self).__name__} was fitted with affinity='precomputed' and has no "
                "subspaces; fit it on the samples themselves to predict, transform or score."
            )

    def _squared_distances(self, X):
        """Squared distance of every sample to every subspace, ``(n_samples, n_clusters)``."""
        self._check_subspaces()
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        return residuals(X, self.bases_, getattr(self, "means_", None))

    def _nearest(self, X):
        """Nearest subspace of every sample and the squared distance to it."""
        R = self._squared_distances(X)
        labels = R.argmin(axis=1)
        return labels, R[np.arange(R.shape[0]), labels]

    def transform(self, X):
        """Distance of every sample to every cluster's subspace.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        distances : ndarray of shape (n_samples, n_clusters)
            Euclidean norm of the residual of each sample to each subspace
            (the part of the sample outside the subspace).
        """
        return np.sqrt(self._squared_distances(X))

    def predict(self, X):
        """Cluster of every sample: the one whose subspace is nearest.

        Equal to ``transform(X).argmin(axis=1)``. A linear subspace's residual
        scales with the sample's norm, so normalizing samples changes nothing.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            New samples, in the space the model was fitted in.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Index of the nearest subspace.
        """
        return self._nearest(X)[0]

    def score(self, X, y=None):
        """Opposite of the K-subspaces objective of ``X`` under the fitted subspaces.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored
            Present for API consistency.

        Returns
        -------
        score : float
            ``-sum_i min_k dist(x_i, S_k)^2``; larger is better.
        """
        return -float(np.sum(self._nearest(X)[1], dtype=np.float64))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
