"""Input validation shared by every estimator and public function.

The one place that imports scikit-learn's validation helpers, private ones
included, so that a change in their location or behaviour is absorbed here.
Public functions declare their parameters' constraints with
:func:`validate_params` and estimators with ``_parameter_constraints``; a bad
parameter then raises :class:`InvalidParameterError` (a ``ValueError`` and a
``TypeError``) naming the parameter, what it accepts and what it got. The few
checks that such constraints cannot express (the subspace dimensions against
the number of clusters and features, a grid of values) live here too.

Examples
--------
>>> from numbers import Integral
>>> from subclust.utils.validation import Interval, validate_params
>>> @validate_params({"n": [Interval(Integral, 1, None, closed="left")]},
...                  prefer_skip_nested_validation=True)
... def double(n):
...     return 2 * n
>>> double(3)
6
>>> double(0)
Traceback (most recent call last):
...
sklearn.utils._param_validation.InvalidParameterError: The 'n' parameter of double must be \
an int in the range [1, inf). Got 0 instead.
"""

import numbers

import numpy as np
from sklearn.base import _fit_context as fit_context
from sklearn.utils._param_validation import (
    HasMethods,
    Hidden,
    Interval,
    InvalidParameterError,
    Options,
    RealNotInt,
    StrOptions,
    validate_params,
)
from sklearn.utils.validation import check_array, check_is_fitted, validate_data


__all__ = [
    "TORCH_RANDOM_STATE",
    "HasMethods",
    "Hidden",
    "Interval",
    "InvalidParameterError",
    "Options",
    "RealNotInt",
    "StrOptions",
    "check_array",
    "check_dims",
    "check_grid",
    "check_is_fitted",
    "check_matrix",
    "check_params",
    "check_positive_int",
    "fit_context",
    "store_init_params",
    "validate_data",
    "validate_params",
]

#: Constraints of the ``random_state`` of functions whose randomness is torch's: an int
#: seed, a ``torch.Generator`` (used as it is) or None (fresh entropy).
TORCH_RANDOM_STATE = [
    Interval(numbers.Integral, 0, None, closed="left"),
    HasMethods(["manual_seed", "initial_seed"]),
    None,
]


def store_init_params(estimator, arguments):
    """Store every argument of the estimator's ``__init__`` as the attribute of its name.

    scikit-learn reads an estimator's parameters from the signature of its own
    ``__init__``, which must store each of them unchanged; this is that body,
    written once. Call it as ``store_init_params(self, locals())``, before
    ``__init__`` makes any local variable of its own.

    Parameters
    ----------
    estimator : object
        The estimator being constructed.
    arguments : dict
        The local variables of its ``__init__``: ``self`` and one entry per
        parameter.

    Examples
    --------
    >>> from sklearn.base import BaseEstimator
    >>> from subclust.utils.validation import store_init_params
    >>> class Scaler(BaseEstimator):
    ...     def __init__(self, factor=2.0, *, copy=True):
    ...         store_init_params(self, locals())
    >>> Scaler(factor=3.0).get_params()
    {'copy': True, 'factor': 3.0}
    """
    for name, value in arguments.items():
        if name not in ("self", "__class__"):  # __class__: there when __init__ calls super()
            setattr(estimator, name, value)


def check_params(estimator):
    """Check an estimator's parameters against its constraints now, not at ``fit``.

    Raises :class:`InvalidParameterError` naming the parameter, its value and
    what it accepts. Estimators without ``_parameter_constraints`` are left
    alone.
    """
    if getattr(estimator, "_parameter_constraints", None):
        estimator._validate_params()


def check_matrix(X, name="X", dtype=(np.float64, np.float32), **kwargs):
    """Validate a 2-D, finite, non-empty float array, keeping float32 as float32."""
    return check_array(
        X, dtype=dtype, ensure_2d=True, ensure_all_finite=True, input_name=name, **kwargs
    )


def check_dims(dims, n_clusters, n_features, *, allow_none=False):
    """Return subspace dimensions as a tuple of ``n_clusters`` entries.

    Parameters
    ----------
    dims : int, None or sequence of int
        One dimension for all clusters, or one per cluster.
    n_clusters : int
        Number of clusters.
    n_features : int
        Ambient dimension; every subspace must be a proper subspace.
    allow_none : bool, default=False
        Whether ``None`` (for all clusters, or as an entry) may stand for a
        dimension left to estimate from the data; it is kept as ``None``.

    Returns
    -------
    dims : tuple of int (or None where allowed)

    Examples
    --------
    >>> check_dims(2, n_clusters=3, n_features=5)
    (2, 2, 2)
    >>> check_dims([1, None], n_clusters=2, n_features=5, allow_none=True)
    (1, None)
    >>> check_dims([2, 5], n_clusters=2, n_features=5)
    Traceback (most recent call last):
    ...
    ValueError: Subspace dimension 5 must be smaller than n_features=5: a subspace of the \
full dimension fits every point. Lower dims or add features.
    """
    if dims is None or isinstance(dims, numbers.Integral):
        dims = (dims,) * n_clusters
    else:
        dims = tuple(dims)
        if len(dims) != n_clusters:
            raise ValueError(
                f"dims has {len(dims)} entries but n_clusters={n_clusters}; "
                "give one dimension per cluster or a single int."
            )
    known = []
    for d in dims:
        if d is None and allow_none:
            continue
        if isinstance(d, bool) or not isinstance(d, numbers.Integral):
            raise ValueError(f"Every subspace dimension must be an int, got dims={dims}.")
        known.append(int(d))
    dims = tuple(None if d is None else int(d) for d in dims)
    if known and min(known) < 1:
        raise ValueError(f"Every subspace dimension must be >= 1, got dims={dims}.")
    if known and max(known) >= n_features:
        raise ValueError(
            f"Subspace dimension {max(known)} must be smaller than n_features={n_features}: "
            "a subspace of the full dimension fits every point. Lower dims or add features."
        )
    return dims


def check_choice(value, name, choices):
    """Raise a one-line ``ValueError`` unless ``value`` is one of ``choices``.

    For the edges that check a word once, before any work (the command line's
    workflow and the readers it calls), with the same wording everywhere.

    Examples
    --------
    >>> check_choice("pixels", "features", ("scattering", "pixels"))
    >>> check_choice("hog", "features", ("auto", "scattering", "pixels"))
    Traceback (most recent call last):
    ...
    ValueError: features must be 'auto', 'scattering' or 'pixels', got 'hog'.
    """
    if value not in choices:
        named = ", ".join(repr(choice) for choice in choices[:-1])
        raise ValueError(f"{name} must be {named} or {choices[-1]!r}, got {value!r}.")


def check_positive_int(value, name):
    """Return ``value`` as an int after checking that it is one, at least 1.

    For the few places that cannot declare parameter constraints (the
    constructors of PyTorch modules); the error reads as scikit-learn's.

    Examples
    --------
    >>> check_positive_int(3, "depth")
    3
    >>> check_positive_int(0, "depth")
    Traceback (most recent call last):
    ...
    sklearn.utils._param_validation.InvalidParameterError: The 'depth' parameter must be an \
int in the range [1, inf). Got 0 instead.
    """
    constraint = Interval(numbers.Integral, 1, None, closed="left")
    if not constraint.is_satisfied_by(value):
        raise InvalidParameterError(f"The {name!r} parameter must be {constraint}. "
                                    f"Got {value!r} instead.")
    return int(value)


def check_grid(values, name, *, minimum=1, integer=True, min_length=1, increasing=True):
    """Return a grid of values (a sweep's axis) as a list, after checking it.

    Parameters
    ----------
    values : iterable of numbers
        The grid.
    name : str
        Its parameter name, for the error message.
    minimum : float, default=1
        Smallest allowed value (inclusive), or ``0`` with ``integer=False`` for
        values that must merely be positive.
    integer : bool, default=True
        Whether the values must be ints.
    min_length : int, default=1
        Fewest values the grid must hold.
    increasing : bool, default=True
        Whether the values must be strictly increasing.

    Returns
    -------
    values : list of int or float

    Examples
    --------
    >>> check_grid(range(2, 5), "dims")
    [2, 3, 4]
    >>> check_grid([2, 1], "dims")
    Traceback (most recent call last):
    ...
    ValueError: dims must be ints >= 1, strictly increasing, at least 1 of them; got [2, 1].
    """
    values = list(values)
    kind = numbers.Integral if integer else numbers.Real
    valid = (
        len(values) >= min_length
        and all(isinstance(v, kind) and not isinstance(v, bool) for v in values)
        and all(np.isfinite(v) for v in values)
        and (min(values) >= minimum if integer or minimum > 0 else min(values) > 0)
        and not (increasing and any(b <= a for a, b in zip(values, values[1:])))
    )
    if not valid:
        what = f"ints >= {minimum}" if integer else (
            f"numbers >= {minimum}" if minimum > 0 else "positive numbers")
        order = ", strictly increasing" if increasing else ""
        raise ValueError(f"{name} must be {what}{order}, at least {min_length} of them; "
                         f"got {values!r}.")
    return [int(v) if integer else float(v) for v in values]
