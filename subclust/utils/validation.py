"""Input validation shared by every estimator and public function.

The one place that imports scikit-learn's validation helpers, so that a
change in their location or behaviour is absorbed here.
"""

import functools
import numbers

import numpy as np
from sklearn.base import _fit_context
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from subclust.utils import parallel

__all__ = [
    "check_array",
    "check_is_fitted",
    "check_dims",
    "check_matrix",
    "check_params",
    "fit_context",
    "validate_data",
]


def fit_context(prefer_skip_nested_validation):
    """Decorator of every ``fit``: scikit-learn's fit context, on the cores free now.

    Parameters are validated and scikit-learn's configuration applied as by
    scikit-learn's own estimators; the fit's BLAS threads are limited to
    :func:`~subclust.utils.parallel.free_cores`, so that a fit started on a
    busy machine does not oversubscribe it.

    Parameters
    ----------
    prefer_skip_nested_validation : bool
        Skip validating the parameters of estimators called inside ``fit``.
    """
    def decorator(fit):
        validated_fit = _fit_context(
            prefer_skip_nested_validation=prefer_skip_nested_validation
        )(fit)

        @functools.wraps(fit)
        def wrapper(estimator, *args, **kwargs):
            with parallel.blas_threads(parallel.free_cores()):
                return validated_fit(estimator, *args, **kwargs)

        return wrapper

    return decorator


def check_params(estimator):
    """Check an estimator's parameters against its constraints now, not at ``fit``.

    Raises scikit-learn's ``InvalidParameterError`` (a ``ValueError``) naming
    the parameter, its value and what it accepts. Estimators without
    ``_parameter_constraints`` are left alone.
    """
    if getattr(estimator, "_parameter_constraints", None):
        estimator._validate_params()


def check_matrix(X, name="X", dtype=(np.float64, np.float32), **kwargs):
    """Validate a 2-D, finite, non-empty float array, keeping float32 as float32."""
    return check_array(
        X, dtype=dtype, ensure_2d=True, ensure_all_finite=True, input_name=name, **kwargs
    )


def check_dims(dims, n_clusters, n_features):
    """Return subspace dimensions as a tuple of ``n_clusters`` positive ints.

    Parameters
    ----------
    dims : int or sequence of int
        One dimension for all clusters, or one per cluster.
    n_clusters : int
        Number of clusters.
    n_features : int
        Ambient dimension; every subspace must be a proper subspace.

    Returns
    -------
    dims : tuple of int
    """
    if isinstance(dims, numbers.Integral):
        dims = (int(dims),) * n_clusters
    else:
        dims = tuple(int(d) for d in dims)
        if len(dims) != n_clusters:
            raise ValueError(
                f"dims has {len(dims)} entries but n_clusters={n_clusters}; "
                "give one dimension per cluster or a single int."
            )
    if min(dims) < 1:
        raise ValueError(f"Every subspace dimension must be >= 1, got dims={dims}.")
    if max(dims) >= n_features:
        raise ValueError(
            f"Subspace dimension {max(dims)} must be smaller than n_features={n_features}: "
            "a subspace of the full dimension fits every point. Lower dims or add features."
        )
    return dims
