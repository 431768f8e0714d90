"""Clustering methods by name, and the usual pipeline: normalize, optional PCA, cluster.

:data:`METHODS` is the one table mapping a method name (as given to
``subclust cluster --method``) to an estimator class and its default
parameters; :data:`DEFAULT_METHOD` is the method used when none is named.
A method whose class is not yet importable is listed but refused with a
clear message, so estimators plug in by being exported from subclust.

Examples
--------
>>> from subclust.pipeline import METHODS, make_estimator
>>> {"kss", "lsr", "ssc"} <= set(METHODS)
True
>>> make_estimator("lsr", n_clusters=3, dims=2)  # dims set where the estimator keeps them
LeastSquaresSubspaceClustering(n_clusters=3, subspace_dims=2)

:func:`make_pipeline` puts the estimator behind the usual preprocessing.
"""

import importlib
from dataclasses import dataclass, field

from subclust.preprocessing import UncenteredPCA
from subclust.utils.validation import check_params

__all__ = [
    "DEFAULT_METHOD",
    "METHODS",
    "Method",
    "available_methods",
    "get_estimator_class",
    "make_estimator",
    "make_pipeline",
]


@dataclass(frozen=True)
class Method:
    """A clustering method: an estimator class (by name) and its default parameters.

    Parameters
    ----------
    estimator : str
        Class name, looked up in ``module``.
    description : str
        One line for ``--help`` and reports.
    params : dict
        Defaults that differ from the class's own.
    module : str, default="subclust"
        Module exporting the class.

    Examples
    --------
    >>> from subclust.pipeline import METHODS, Method, make_estimator
    >>> METHODS["omp"].estimator, METHODS["omp"].params
    ('SparseSubspaceClustering', {'solver': 'omp'})

    Registering a method makes it known to :func:`make_estimator`,
    :func:`make_pipeline` and the command line:

    >>> try:
    ...     METHODS["ssc50"] = Method("SparseSubspaceClustering", "SSC, tighter fit",
    ...                               {"solver": "admm", "alpha": 50.0})
    ...     estimator = make_estimator("ssc50", n_clusters=3)
    ... finally:
    ...     del METHODS["ssc50"]
    >>> estimator.solver, estimator.alpha, estimator.n_clusters
    ('admm', 50.0, 3)
    """

    estimator: str
    description: str
    params: dict = field(default_factory=dict)
    module: str = "subclust"


#: Method name -> estimator class and default parameters: the one place to
#: register a method for the CLI, :func:`make_pipeline` and reports.
METHODS = {
    "auto": Method(
        "AutoSubspaceClustering",
        "choose the method and its parameter on the data alone (among the candidates whose "
        "clusters are about as consistent with subspaces as the best's, the one whose clusters "
        "cut least weight of its own graph and of a referee's), then fit it on all samples",
    ),
    "kss": Method(
        "KSubspaces", "K-subspaces: nearest-subspace assignment alternated with per-cluster PCA"
    ),
    "ssc": Method(
        "SparseSubspaceClustering",
        "sparse subspace clustering, lasso self-expression solved by ADMM",
        {"solver": "admm"},
    ),
    "ensc": Method(
        "SparseSubspaceClustering",
        "elastic-net subspace clustering (active-set solver, sparse affinity)",
        {"solver": "elastic_net"},
    ),
    "omp": Method(
        "SparseSubspaceClustering",
        "SSC by orthogonal matching pursuit (sparse affinity, scales to many samples)",
        {"solver": "omp"},
    ),
    "lsr": Method(
        "LeastSquaresSubspaceClustering", "least-squares regression self-expression"
    ),
    "tsc": Method(
        "ThresholdedSubspaceClustering", "thresholded subspace clustering (top |cosine| neighbours)"
    ),
    "lrr": Method(
        "LowRankRepresentation", "low-rank representation (inexact ALM) with its post-processing"
    ),
    "ekss": Method(
        "EnsembleKSubspaces", "ensemble of random K-subspaces runs, thresholded co-association"
    ),
    "diffusion": Method(
        "DiffusionSubspaceClustering",
        "train the low-rank mixture diffusion denoiser; its subspaces are the clusters",
        module="subclust.diffusion",
    ),
}

#: The method used when none is named: no single method wins on every kind of
#: data (faces, digits, objects), so the default chooses one on the data alone.
DEFAULT_METHOD = "auto"

# Names under which estimators take the subspace dimension(s), tried in order.
_DIMS_PARAMS = ("dims", "subspace_dims")


def _method(name):
    if name not in METHODS:
        raise ValueError(f"Unknown method {name!r}; choose one of {sorted(METHODS)}.")
    return METHODS[name]


def _find_class(spec):
    """The class of a method, or None; also found if exported by subclust itself."""
    module = importlib.import_module(spec.module)
    return getattr(module, spec.estimator, None) or getattr(
        importlib.import_module("subclust"), spec.estimator, None
    )


def get_estimator_class(method):
    """The estimator class of a method.

    Parameters
    ----------
    method : str
        A key of :data:`METHODS`.

    Returns
    -------
    cls : type

    Raises
    ------
    ValueError
        Unknown method, or its class is not provided by this installation yet.
    ImportError
        The class needs an optional dependency that is not installed.

    Examples
    --------
    >>> from subclust import KSubspaces
    >>> from subclust.pipeline import get_estimator_class
    >>> get_estimator_class("kss") is KSubspaces
    True
    >>> get_estimator_class("omp").__name__  # methods may share a class
    'SparseSubspaceClustering'
    >>> get_estimator_class("k-means")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ValueError: Unknown method 'k-means'; choose one of [...].
    """
    spec = _method(method)
    try:
        cls = _find_class(spec)
    except ImportError as error:
        raise ImportError(
            f"Method {method!r} needs {spec.module}, which failed to import: {error}"
        ) from error
    if cls is None:
        raise ValueError(
            f"Method {method!r} needs {spec.module}.{spec.estimator}, which this version of "
            f"subclust does not provide yet; available methods: {available_methods()}."
        )
    return cls


def available_methods():
    """Names of the methods whose estimator can be imported now.

    Examples
    --------
    >>> from subclust.pipeline import available_methods
    >>> "kss" in available_methods()
    True
    """
    names = []
    for name, spec in METHODS.items():
        try:
            if _find_class(spec) is not None:
                names.append(name)
        except ImportError:
            pass
    return names


def make_estimator(method=DEFAULT_METHOD, n_clusters=8, *, dims=None, random_state=None, **params):
    """The estimator of a method, with its defaults from :data:`METHODS`.

    Parameters
    ----------
    method : str, default=DEFAULT_METHOD
        A key of :data:`METHODS`.
    n_clusters : int, default=8
    dims : int or list of int, optional
        Subspace dimension(s); set on the estimator's ``dims`` or
        ``subspace_dims`` parameter. None keeps the estimator's default.
    random_state : int, RandomState instance or None, default=None
        Set if the estimator takes one.
    **params
        Further parameters, overriding the method's defaults.

    Returns
    -------
    estimator : estimator

    Raises
    ------
    ValueError
        Unknown method or parameter (the message lists the valid ones).

    Examples
    --------
    >>> from subclust.pipeline import make_estimator
    >>> make_estimator("kss", 3, dims=2, random_state=0)
    KSubspaces(dims=2, n_clusters=3, random_state=0)
    """
    cls = get_estimator_class(method)
    valid = cls().get_params(deep=False)
    settings = {**_method(method).params, "n_clusters": n_clusters}
    if dims is not None:
        name = next((p for p in _DIMS_PARAMS if p in valid), None)
        if name is None:
            raise ValueError(
                f"Method {method!r} ({cls.__name__}) has no subspace-dimension parameter; "
                "leave dims unset."
            )
        settings[name] = dims
    if random_state is not None and "random_state" in valid:
        settings["random_state"] = random_state
    settings.update(params)
    unknown = sorted(set(settings) - set(valid))
    if unknown:
        raise ValueError(
            f"{cls.__name__} (method {method!r}) has no parameter {', '.join(map(repr, unknown))}; "
            f"its parameters are {sorted(valid)}."
        )
    estimator = cls(**settings)
    check_params(estimator)  # a bad value fails here, before any data is read
    return estimator


def make_pipeline(
    method=DEFAULT_METHOD,
    n_clusters=8,
    *,
    dims=None,
    normalize=True,
    pca=None,
    center=False,
    random_state=None,
    **params,
):
    """The usual scikit-learn pipeline: normalize, optional PCA, cluster.

    Steps (named so that ``pipe.named_steps`` finds them):

    1. ``normalize``: scale every sample to unit Euclidean norm. Points of a
       linear subspace stay on it, and samples of very different norms
       (image contrast, embedding magnitudes) weigh the same.
    2. ``pca``: project on the top ``pca`` principal directions (the
       scattering + PCA recipe of You et al., CVPR 2016), then
       ``renormalize`` the projected samples. By default the projection is
       *uncentred* (:class:`UncenteredPCA`): centring
       moves subspaces through the origin off it, turning them into affine
       subspaces that linear methods then miss. On 30 MNIST zeros and ones
       (scattering features, K-subspaces with d = 1, 2, 3) the centred PCA
       gave accuracies 0.63 to 0.90 and the uncentred projection 1.0.
    3. ``cluster``: the method's estimator (:func:`make_estimator`).

    Parameters
    ----------
    method, n_clusters, dims
        As in :func:`make_estimator`.
    normalize : bool, default=True
        Include the ``normalize`` (and ``renormalize``) steps; False also
        turns off the estimator's own ``normalize`` unless ``params`` sets
        it. They are left out for an estimator with ``affine=True``:
        rescaling a sample moves it off its affine subspace. Without
        ``pca``, ``method="auto"`` is left to normalize on its own: it
        scales the samples of every candidate but its affine SSC.
    pca : int, optional
        Number of principal directions kept; None skips the projection.
    center : bool, default=False
        Centre the data before projecting (:class:`sklearn.decomposition.PCA`)
        instead of the uncentred projection; right for affine subspaces.
    random_state : int or None, default=None
        Seed of the clustering estimator (and of the centred PCA's solver):
        with an int the pipeline is deterministic.
    **params
        Parameters of the clustering estimator.

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        Save and load it with :func:`subclust.io.save_model` /
        :func:`subclust.io.load_model`; ``predict`` applies every step.

    Examples
    --------
    >>> from subclust.datasets import make_molrg
    >>> from subclust.metrics import clustering_accuracy
    >>> from subclust.pipeline import make_pipeline
    >>> X, y, _ = make_molrg(n_samples=[30, 30], n_features=20, dims=2, random_state=0)
    >>> pipe = make_pipeline("kss", n_clusters=2, dims=2, pca=6, random_state=0)
    >>> [name for name, _ in pipe.steps]
    ['normalize', 'pca', 'renormalize', 'cluster']
    >>> labels = pipe.fit_predict(X)
    >>> clustering_accuracy(y, labels)
    1.0
    >>> pipe.named_steps["cluster"].bases_[0].shape  # bases in the 6 projected coordinates
    (6, 2)
    >>> bool((pipe.predict(X) == labels).all())  # predict runs every step again
    True
    """
    from sklearn.decomposition import PCA
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import Normalizer

    estimator = make_estimator(method, n_clusters, dims=dims, random_state=random_state, **params)
    settings = estimator.get_params(deep=False)
    if not normalize and "normalize" in settings and "normalize" not in params:
        estimator.set_params(normalize=False)
    if settings.get("affine") is True or (method == "auto" and pca is None):
        normalize = False
    steps = []
    if normalize:
        steps.append(("normalize", Normalizer()))
    if pca is not None:
        if isinstance(pca, bool) or not isinstance(pca, int) or pca < 1:
            raise ValueError(
                f"pca must be a positive int (number of components) or None, got {pca!r}."
            )
        projection = PCA(pca, random_state=random_state) if center else UncenteredPCA(pca)
        steps.append(("pca", projection))
        if normalize:
            steps.append(("renormalize", Normalizer()))
    steps.append(("cluster", estimator))
    return Pipeline(steps)
