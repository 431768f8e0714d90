"""Cluster embeddings or images end to end: read, fit, write results; predict with a saved model.

The logic behind ``subclust cluster`` and ``subclust predict``, importable
and testable without the command line:

- :func:`load_inputs` reads an embedding file, a folder of images, or a
  benchmark data set (images turned into features), with optional
  ground-truth labels;
- :func:`cluster_inputs` fits the pipeline of :func:`subclust.pipeline.make_pipeline`
  (to each representation of the images, with ``features="auto"``, keeping the
  one clustered best);
- :func:`write_cluster_outputs` writes ``labels.csv``, ``bases.npz``,
  ``model.npz``, ``summary.png``, ``report.json`` (and ``affinity.npz`` on
  request) into an output directory that appears whole or not at all, and
  replaces an earlier one only with ``force``, once the new one is complete;
- :func:`predict_inputs` applies a saved model to new input, repeating the
  feature extraction recorded in the model file.
"""

import csv
import dataclasses
import datetime
import inspect
import io
import json
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from subclust.cluster import AutoSubspaceClustering, cluster_bases, partition_criterion
from subclust.io import (
    IMAGE_FEATURES,
    atomic_directory,
    image_feature_params,
    image_features,
    load_model,
    read_embeddings,
    read_image_folder,
    read_labels,
    save_figure,
    save_model,
    write_atomic,
    write_text,
)
from subclust.pipeline import DEFAULT_METHOD, METHODS, make_pipeline
from subclust.utils.progress import progress_bar
from subclust.utils.validation import check_choice

__all__ = [
    "AFFINITY_FILE",
    "AUTO_FEATURES",
    "ClusterResult",
    "Inputs",
    "OUTPUT_FILES",
    "build_report",
    "check_output_dir",
    "cluster_inputs",
    "clustering_metrics",
    "dataset_names",
    "image_inputs",
    "labels_csv",
    "load_inputs",
    "predict_inputs",
    "write_cluster_outputs",
]

#: Files written by :func:`write_cluster_outputs`, in the order they are written.
OUTPUT_FILES = ("model.npz", "labels.csv", "bases.npz", "summary.png", "report.json")
#: The N x N affinity matrix, written only on request (``save_affinity``): it is
#: what makes a model file grow with the square of the number of samples.
AFFINITY_FILE = "affinity.npz"
# Fitted attributes of N x N size, left out of model.npz: predict needs only the bases.
_SAMPLE_BY_SAMPLE = ("affinity_matrix_", "representation_matrix_")
#: Principal components kept from image features when ``pca="auto"``
#: (the scattering + PCA recipe of You et al., CVPR 2016).
IMAGE_PCA_COMPONENTS = 500
#: The features of images that ``features="auto"`` compares; the first wins ties.
AUTO_FEATURES = ("scattering", "pixels")
#: Images of a folder larger than this many pixels a side are shrunk to it, keeping
#: their aspect, before their scattering or pixel features are computed (not before face
#: detection). The subspace-clustering benchmarks work at 28 to 55 pixels a side (MNIST,
#: COIL-20, ORL, Extended Yale B, AR). 2,000 MNIST digits enlarged to 128x128 take 3.3 GB
#: and 153 s, for an accuracy of 0.65; shrunk to 64x64, 1.3 GB, 82 s and 0.86.
IMAGE_MAX_SIDE = 64


@dataclass
class Inputs:
    """Samples to cluster, with where they came from.

    Attributes
    ----------
    X : ndarray of shape (n_samples, n_features)
        Features (embeddings, or image features).
    y : ndarray of shape (n_samples,) or None
        Ground-truth labels as ints 0..K-1.
    target_names : ndarray or None
        Original label of each int.
    names : list of str or None
        Name of each sample: the file names of images, or the ids of the
        rows of an embedding file (``id_column``).
    images : ndarray of shape (n_samples, h, w) or None
    source : dict
        JSON-serializable description (kind, path, format, feature recipe),
        stored in the report and in the model file.
    seconds : float
        Time spent reading and computing features.
    alternatives : list of Inputs
        Other features of the same images (``features="auto"``), whose
        clustering competes with that of ``X``.
    """

    X: np.ndarray
    y: np.ndarray | None = None
    target_names: np.ndarray | None = None
    names: list | None = None
    images: np.ndarray | None = None
    source: dict = field(default_factory=dict)
    seconds: float = 0.0
    alternatives: list = field(default_factory=list)


def dataset_names():
    """Names accepted by ``load_inputs(dataset=...)``: the loaders of :mod:`subclust.datasets`.

    Examples
    --------
    >>> from subclust.cli.workflow import dataset_names
    >>> "mnist" in dataset_names()
    True
    """
    import subclust.datasets as datasets

    return sorted(
        name[len("load_"):] for name in datasets.__all__
        if name.startswith("load_") and name != "load_registry"
    )


def _load_dataset(name, n_samples, data_home):
    import subclust.datasets as datasets

    if name not in dataset_names():
        raise ValueError(f"Unknown dataset {name!r}; choose one of {dataset_names()}.")
    loader = getattr(datasets, f"load_{name}")
    kwargs = {"data_home": data_home}
    if n_samples is not None:
        if "n_samples" not in inspect.signature(loader).parameters:
            raise ValueError(
                f"Dataset {name!r} cannot be subsampled (its loader has no n_samples)."
            )
        kwargs["n_samples"] = n_samples
    return loader(**kwargs)


def load_inputs(
    path=None, *, dataset=None, key=None, label_column=None, id_column=None, labels=None,
    features="auto", image_shape=None, n_samples=None, data_home=None, n_jobs=None,
    progress=None,
):  # fmt: skip
    """Read the samples to cluster: a file, a folder of images, or a data set.

    Parameters
    ----------
    path : str or path-like, optional
        An embedding file (see :func:`subclust.io.read_embeddings`) or a
        folder of images (see :func:`subclust.io.read_image_folder`;
        sub-folders name the classes).
    dataset : str, optional
        Instead of ``path``: a loader of :mod:`subclust.datasets`
        (:func:`dataset_names`, e.g. 'mnist'), whose images and labels are used.
    key, label_column, id_column
        See :func:`subclust.io.read_embeddings`; the ids become the
        ``names`` of the samples.
    labels : str or path-like, optional
        File of ground-truth labels (see :func:`subclust.io.read_labels`).
    features : {'auto', 'scattering', 'pixels', 'face'}, default='auto'
        Features of images (folder, data set, or file with ``image_shape``);
        see :func:`subclust.io.read_image_folder`. 'auto' computes those of
        :data:`AUTO_FEATURES`: ``X`` holds the first, ``alternatives`` the
        others, and :func:`cluster_inputs` keeps the best clustered.
    image_shape : (int, int), optional
        The ``(height, width)`` of the images. The rows of a file at ``path``
        are images of this shape, flattened as the file's language does it
        (column-major in a ``.mat`` file, as MATLAB does, row-major
        otherwise), and are clustered as images, in the ``features`` asked
        for; the images of a folder are resized to it
        (:func:`subclust.io.read_images`).
    n_samples : int, optional
        Use the first ``n_samples`` images of the data set.
    data_home : str or path-like, optional
        See :func:`subclust.datasets.get_data_home`.
    n_jobs : int or None, default=None
        Workers computing the features of images
        (:func:`subclust.utils.parallel.effective_n_jobs`).
    progress : bool or None, default=None
        Show a progress bar over the feature extraction of images on stderr
        (None: when stderr is a terminal).

    Returns
    -------
    inputs : Inputs

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from subclust.datasets import make_molrg
    >>> from subclust.cli.workflow import load_inputs
    >>> X, y, _ = make_molrg(n_samples=[20, 20], n_features=8, dims=2, random_state=0)
    >>> tmp = tempfile.TemporaryDirectory()
    >>> np.save(Path(tmp.name) / "emb.npy", X)
    >>> np.save(Path(tmp.name) / "labels.npy", y)
    >>> inputs = load_inputs(Path(tmp.name) / "emb.npy", labels=Path(tmp.name) / "labels.npy")
    >>> inputs.X.shape, bool(np.array_equal(inputs.X, X)), bool(np.array_equal(inputs.y, y))
    ((40, 8), True, True)
    >>> inputs.source["kind"], inputs.source["format"], inputs.source["n_features"]
    ('embeddings', '.npy', 8)
    >>> tmp.cleanup()
    """
    if (path is None) == (dataset is None):
        raise ValueError("Give either an INPUT path or --dataset NAME (exactly one of them).")
    if image_shape is not None and dataset is not None:
        raise ValueError(
            "image_shape (--image-shape) applies to a file whose rows are images or to a "
            "folder of images, not to a data set."
        )
    if n_samples is not None and dataset is None:
        raise ValueError("n_samples (--n-samples) only applies to --dataset.")
    check_choice(features, "features", ("auto", *IMAGE_FEATURES))
    start = time.perf_counter()
    if dataset is None and Path(path).is_dir():
        if key is not None or label_column is not None or id_column is not None:
            raise ValueError(
                "--key, --label-column and --id-column apply to embedding files, not image "
                "folders (whose file names are written beside the labels)."
            )
        # Pixels are the images as read: image_inputs computes the features.
        max_side = None if image_shape is not None or features == "face" else IMAGE_MAX_SIDE
        bunch = read_image_folder(path, features="pixels", resize=image_shape, max_side=max_side)
        source = {"path": str(path)}
        if max_side is not None:
            source["max_side"] = max_side
        if image_shape is not None:
            source["resize"] = list(bunch.images.shape[1:])
    elif dataset is None:
        bunch = read_embeddings(path, key=key, label_column=label_column, id_column=id_column)
        source = {"path": str(path), "format": bunch.format}
        if id_column is not None:
            source["id_column"] = id_column
        if image_shape is not None:
            bunch.images = _rows_as_images(bunch, image_shape)
            source["image_shape"] = list(bunch.images.shape[1:])
    else:
        bunch = _load_dataset(dataset, n_samples, data_home)
        source = {"dataset": dataset}
    y, target_names = bunch.target, bunch.target_names
    if labels is not None:
        if y is not None:
            raise ValueError(
                "Labels are given twice (a labels file and a label column or class folders); "
                "keep one."
            )
        y, target_names = read_labels(labels, n_samples=len(bunch.data))
        source["labels"] = str(labels)
    if "images" in bunch:
        inputs = image_inputs(bunch.images, y, target_names=target_names,
                              names=_names(bunch), features=features, source=source,
                              n_jobs=n_jobs, progress=progress)  # fmt: skip
    else:  # embeddings, from a file or a data set
        if features != "auto":
            raise ValueError(
                f"features={features!r} (--features) applies to images: a folder of them, a "
                "data set of images, or a file whose rows are images (with --image-shape); "
                "these samples are embeddings."
            )
        source = {"kind": "embeddings", **source, "n_samples": int(bunch.data.shape[0]),
                  "n_features": int(bunch.data.shape[1])}  # fmt: skip
        inputs = Inputs(bunch.data, y, target_names, _names(bunch), source=source)
    inputs.seconds = time.perf_counter() - start
    return inputs


def _names(bunch):
    """The names of a bunch's samples: its image files, or the ids of its rows."""
    names = bunch.get("filenames", bunch.get("ids"))
    return None if names is None else list(names)


def square_image_side(X, n_rows=1000):
    """The side of the square images the rows of ``X`` look like (grey levels), else None.

    Rows of 16x16 values or more, all in [0, 1] or whole numbers in [0, 255] (read on
    the first ``n_rows``): embeddings of a network are rarely all non-negative.

    Examples
    --------
    >>> import numpy as np
    >>> from subclust.cli.workflow import square_image_side
    >>> rng = np.random.default_rng(0)
    >>> square_image_side(rng.integers(0, 256, (5, 784)).astype(float))  # 28x28 8-bit
    28
    >>> square_image_side(rng.standard_normal((5, 784))) is None  # signed: embeddings
    True
    """
    side = math.isqrt(X.shape[1])
    if side < 16 or side * side != X.shape[1]:
        return None
    head = X[:n_rows]
    low, high = float(head.min()), float(head.max())
    if low < 0 or high > 255 or (high > 1 and not np.array_equal(head, np.round(head))):
        return None
    return side


def _rows_as_images(bunch, image_shape):
    """The rows of a file of embeddings as images of ``image_shape``, in the file's order."""
    height, width = (int(n) for n in image_shape)
    n_samples, n_values = bunch.data.shape
    if height < 1 or width < 1 or height * width != n_values:
        raise ValueError(
            f"--image-shape {height}x{width} has {height * width} pixels but the samples of "
            f"{bunch.filename} have {n_values} values; give the shape of its images."
        )
    order = "F" if bunch.format == ".mat" else "C"  # MATLAB flattens column by column
    return bunch.data.reshape(n_samples, height, width, order=order)


def image_inputs(images, y=None, *, target_names=None, names=None, features="auto", source=None,
                 n_jobs=None, progress=None):  # fmt: skip
    """Inputs of images: their features, or with 'auto' each of :data:`AUTO_FEATURES`.

    Parameters
    ----------
    images : ndarray of shape (n_samples, height, width)
    y, target_names, names
        See :class:`Inputs`.
    features : {'auto', 'scattering', 'pixels', 'face'}, default='auto'
        See :func:`load_inputs`.
    source : dict, optional
        Where the images come from, for the report; ``kind``,
        ``feature_params``, ``n_samples`` and ``n_features`` are added.
    n_jobs, progress
        See :func:`load_inputs`.

    Returns
    -------
    inputs : Inputs
        The first features in ``X``, the others in ``alternatives``. With
        'auto', features whose optional dependency is missing (kymatio for
        the scattering transform) are left out with a warning.

    Examples
    --------
    >>> import numpy as np
    >>> from subclust.cli.workflow import image_inputs
    >>> images = np.random.default_rng(0).random((4, 8, 8))
    >>> inputs = image_inputs(images, features="pixels")
    >>> inputs.X.shape, inputs.source["feature_params"]["features"], inputs.alternatives
    ((4, 64), 'pixels', [])
    """
    start = time.perf_counter()
    compared = AUTO_FEATURES if features == "auto" else (features,)
    representations = []
    for name in compared:
        params = image_feature_params(images.shape[1:], name)
        try:
            X = image_features(images, params, n_jobs=n_jobs, progress=progress)
        except ImportError as error:  # an optional extra: 'auto' compares what is installed
            if features != "auto":
                raise
            warnings.warn(f"features 'auto' leaves out {name}: {error}", stacklevel=2)
            continue
        described = {**(source or {}), "kind": "images", "feature_params": params,
                     "n_samples": int(X.shape[0]), "n_features": int(X.shape[1])}  # fmt: skip
        representations.append(Inputs(X, y, target_names, names, images, described))
    first, *others = representations
    first.alternatives = others
    first.seconds = time.perf_counter() - start
    return first


@dataclass
class ClusterResult:
    """A fitted pipeline and what it found.

    Attributes
    ----------
    pipeline : sklearn.pipeline.Pipeline
    labels : ndarray of shape (n_samples,)
    Z : ndarray of shape (n_samples, n_model_features)
        The features the clustering step saw (after normalization and PCA).
    bases : list of ndarray
        Orthonormal basis of each cluster's subspace, in the space of ``Z``.
    method : str
    metrics : dict or None
        Accuracy, NMI and ARI against the ground truth, when known.
    seconds : float
        Fitting time (of every representation compared).
    inputs : Inputs
        The inputs clustered: with ``features="auto"``, the features chosen.
    features : list of dict or None
        With ``features="auto"``, one dict per representation compared:
        ``features``, ``criterion`` (see :func:`cluster_inputs`),
        ``selected_method`` (the candidate ``auto`` chose, or the method),
        ``n_samples`` (those compared), ``metrics`` (on them), ``seconds``
        and ``selected``; None otherwise.
    """

    pipeline: object
    labels: np.ndarray
    Z: np.ndarray
    bases: list
    method: str
    metrics: dict | None
    seconds: float
    inputs: Inputs
    features: list | None = None

    @property
    def estimator(self):
        return self.pipeline.named_steps["cluster"]


def _resolve_pca(pca, inputs):
    """'auto': 500 components for image features (You et al.), none for embeddings.

    Faces embedded by the face-recognition network are embeddings (128 of them).
    """
    n_samples, n_features = inputs.X.shape
    limit = min(n_samples, n_features) - 1
    if pca == "auto":
        if inputs.source.get("kind") != "images" or (
            inputs.source["feature_params"]["features"] == "face"
        ):
            return None
        return max(1, min(IMAGE_PCA_COMPONENTS, limit))
    if pca is None or pca == 0:
        return None
    if pca > limit:
        raise ValueError(
            f"--pca {pca} exceeds what {n_samples} samples with {n_features} features allow "
            f"({limit}); lower it."
        )
    return pca


def check_estimates_n_clusters(method):
    """Raise unless ``method`` can estimate the number of clusters (``n_clusters=None``)."""
    from subclust.cluster import (
        AutoSubspaceClustering,
        BaseSpectralSubspaceClustering,
        EnsembleKSubspaces,
    )
    from subclust.pipeline import get_estimator_class

    estimators = (AutoSubspaceClustering, BaseSpectralSubspaceClustering, EnsembleKSubspaces)
    if not issubclass(get_estimator_class(method), estimators):
        able = [name for name in METHODS if issubclass(get_estimator_class(name), estimators)]
        raise ValueError(
            f"Give the number of clusters (--n-clusters K): method {method!r} cannot estimate "
            f"it and no labels tell it; the affinity methods ({', '.join(able)}) can."
        )


def _bases_of(estimator, Z, labels, n_clusters, dims):
    """The estimator's ``bases_``, else each cluster's principal subspace."""
    if getattr(estimator, "bases_", None) is not None:
        return [np.asarray(U) for U in estimator.bases_]
    return cluster_bases(Z, labels, n_clusters, dims=dims)


def clustering_metrics(y_true, y_pred):
    """Accuracy (Hungarian), NMI and ARI, as a dict of floats.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        Ground truth and predicted labels; the cluster numbers need not match
        the class numbers.

    Returns
    -------
    metrics : dict
        ``accuracy``, ``nmi`` and ``ari``.

    Examples
    --------
    >>> from subclust.cli.workflow import clustering_metrics
    >>> clustering_metrics([0, 0, 1, 1], [1, 1, 0, 0])  # the same partition, renamed
    {'accuracy': 1.0, 'nmi': 1.0, 'ari': 1.0}
    >>> {k: round(v, 3) for k, v in clustering_metrics([0, 0, 1, 1], [0, 0, 0, 1]).items()}
    {'accuracy': 0.75, 'nmi': 0.344, 'ari': 0.0}
    """
    from subclust.metrics import (
        adjusted_rand_score,
        clustering_accuracy,
        normalized_mutual_info_score,
    )

    return {
        "accuracy": clustering_accuracy(y_true, y_pred),
        "nmi": float(normalized_mutual_info_score(y_true, y_pred)),
        "ari": float(adjusted_rand_score(y_true, y_pred)),
    }


def cluster_inputs(
    inputs, *, method=DEFAULT_METHOD, n_clusters=None, dims=None, pca="auto", center=False,
    normalize=True, random_state=0, params=None, progress=None,
):  # fmt: skip
    """Fit :func:`subclust.pipeline.make_pipeline` to the inputs.

    Images given several features (``load_inputs(features="auto")``) are
    clustered in each, and the features clustered best by ``auto``'s
    label-free criterion are kept: that of the candidate ``auto`` chose
    (:attr:`subclust.cluster.AutoSubspaceClustering.criterion_`), or for
    another method that of its partition in its own graph
    (:func:`subclust.cluster.partition_criterion`). Faces lit from many
    directions stay near a linear subspace per person in pixels, which the
    scattering transform's modulus destroys; objects and digits cluster
    better in scattering features. Features are compared on at most as many
    samples as ``auto`` compares its candidates on (its ``budget``, 2,000 by
    default), drawn with ``random_state``; only the features kept are then
    fitted on all samples.

    Parameters
    ----------
    inputs : Inputs
    method : str, default=DEFAULT_METHOD
        A key of :data:`subclust.pipeline.METHODS`.
    n_clusters : int, optional
        Default: the number of classes of the ground truth, when known;
        else the estimator estimates it (``n_clusters=None``, affinity-based
        methods only).
    dims : int, optional
        Subspace dimension.
    pca : int, 'auto' or None, default='auto'
        Principal directions kept; 'auto' is 500 (at most the data allow)
        for images and none for embeddings (and face features).
    center : bool, default=False
        Centre before projecting (see :func:`subclust.pipeline.make_pipeline`).
    normalize : bool, default=True
        Scale samples to unit norm, in the pipeline and in the estimator
        (see :func:`subclust.pipeline.make_pipeline`).
    random_state : int, default=0
        Seed of every random step: runs are reproducible.
    params : dict, optional
        Further parameters of the clustering estimator; ``normalize`` here
        overrides the argument above, ``verbose`` asks for the estimator's own
        report of its iterations, where it has one.
    progress : bool or None, default=None
        Show a progress bar over the steps of the pipeline on stderr (None:
        when stderr is a terminal).

    Returns
    -------
    result : ClusterResult

    Examples
    --------
    >>> from subclust.datasets import make_molrg
    >>> from subclust.cli.workflow import Inputs, cluster_inputs
    >>> X, y, _ = make_molrg(n_samples=[30, 30, 30], n_features=10, dims=2, random_state=0)
    >>> result = cluster_inputs(Inputs(X, y), method="kss", dims=2)  # 3 clusters, from y
    >>> result.metrics
    {'accuracy': 1.0, 'nmi': 1.0, 'ari': 1.0}
    >>> [U.shape for U in result.bases], result.Z.shape
    ([(10, 2), (10, 2), (10, 2)], (90, 10))
    >>> again = cluster_inputs(Inputs(X, y), method="kss", dims=2)  # seeded: reproducible
    >>> bool((again.labels == result.labels).all())
    True
    """
    if n_clusters is None and inputs.y is not None:
        n_clusters = len(np.unique(inputs.y))
    if n_clusters is None:
        check_estimates_n_clusters(method)
    params = dict(params or {})
    if "normalize" in params:
        # One switch for both the pipeline's normalizer and the estimator's own.
        normalize = params.pop("normalize")
        if not isinstance(normalize, bool):
            raise ValueError(f"normalize must be true or false, got {normalize!r}.")
    options = dict(method=method, n_clusters=n_clusters, dims=dims, pca=pca, center=center,
                   normalize=normalize, random_state=random_state, params=params,
                   progress=progress)  # fmt: skip
    representations = [dataclasses.replace(features, alternatives=[])
                       for features in [inputs, *inputs.alternatives]]  # fmt: skip
    if len(representations) == 1:
        return _fit_pipeline(representations[0], **options)
    # Features are compared on as many samples as auto compares its candidates on; only
    # the features kept are then fitted on all of them.
    n_samples = len(inputs.X)
    budget = AutoSubspaceClustering().budget
    if method == "auto":
        budget = params.get("budget", budget)
    subsample = None
    if budget is not None and n_samples > budget:
        rng = np.random.RandomState(random_state)
        subsample = np.sort(rng.choice(n_samples, budget, replace=False))
    trials = [_fit_pipeline(_subset(features, subsample), **options)
              for features in representations]  # fmt: skip
    scores = [_criterion(trial, normalize) for trial in trials]
    best = int(np.argmax(scores))  # ties go to the first
    result = trials[best] if subsample is None else _fit_pipeline(representations[best], **options)
    compared = [
        {"features": trial.inputs.source["feature_params"]["features"],
         "criterion": float(score),
         "selected_method": getattr(trial.estimator, "selected_", trial.method),
         "n_samples": len(trial.labels), "metrics": trial.metrics, "seconds": trial.seconds,
         "selected": i == best}
        for i, (trial, score) in enumerate(zip(trials, scores))
    ]  # fmt: skip
    seconds = sum(trial.seconds for trial in trials) + (subsample is not None) * result.seconds
    return dataclasses.replace(result, seconds=seconds, features=compared)


def _subset(inputs, index):
    """The inputs of the samples at ``index`` (all of them for None)."""
    if index is None:
        return inputs
    return dataclasses.replace(
        inputs, X=inputs.X[index],
        y=None if inputs.y is None else inputs.y[index],
        names=None if inputs.names is None else [inputs.names[i] for i in index],
        images=None if inputs.images is None else inputs.images[index],
        source={**inputs.source, "n_samples": len(index)},
    )  # fmt: skip


def _criterion(result, normalize):
    """Auto's criterion of a clustering: that of its choice, or of another method's partition."""
    estimator = result.estimator
    if hasattr(estimator, "criterion_"):
        return estimator.criterion_
    graph = getattr(estimator, "affinity_matrix_", None)
    return partition_criterion(result.Z, result.labels, graph, n_clusters=len(result.bases),
                               normalize=normalize)  # fmt: skip


def _fit_pipeline(inputs, *, method, n_clusters, dims, pca, center, normalize, random_state,
                  params, progress):  # fmt: skip
    """The :class:`ClusterResult` of one pipeline fitted to one set of features."""
    n_components = _resolve_pca(pca, inputs)
    pipeline = make_pipeline(
        method, n_clusters, dims=dims, normalize=normalize, pca=n_components, center=center,
        random_state=random_state, **params,
    )
    start = time.perf_counter()
    # Step by step, as Pipeline.fit does it (without caching it fits the steps in place),
    # so that the bar can name the step that runs.
    Xt = inputs.X
    with progress_bar(total=len(pipeline), progress=progress, desc="fit", unit="step") as bar:
        *transforms, (_, estimator) = pipeline.steps
        for name, step in transforms:
            bar.set_postfix_str(name)
            Xt = step.fit_transform(Xt)
            bar.update(1)
        bar.set_postfix_str(method)
        estimator.fit(Xt)
        bar.update(1)
    seconds = time.perf_counter() - start
    labels = np.asarray(estimator.labels_)
    Z = pipeline[:-1].transform(inputs.X) if len(pipeline) > 1 else inputs.X
    bases = _bases_of(estimator, Z, labels, getattr(estimator, "n_clusters_", n_clusters), dims)
    metrics = None if inputs.y is None else clustering_metrics(inputs.y, labels)
    return ClusterResult(pipeline, labels, Z, bases, method, metrics, seconds, inputs)


def _jsonable(value):
    """Parameters as JSON: numpy values as Python numbers, NaN as null, other objects by repr."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, np.ndarray):
        return value.tolist() if value.size <= 100 else f"array of shape {value.shape}"
    if isinstance(value, float) and not np.isfinite(value):
        return None  # JSON has no NaN
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def check_output_dir(outdir, force=False):
    """Refuse an output directory that is a file, or one that may not be replaced.

    An existing non-empty directory is replaced only with ``force``, and only
    if it holds nothing but the files of an earlier ``subclust cluster``
    (the whole directory is replaced: other files would be lost).
    """
    outdir = Path(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise ValueError(f"Output {outdir} is a file; -o names a directory.")
    if not outdir.is_dir() or not any(outdir.iterdir()):
        return outdir
    foreign = _not_our_files(outdir)
    if foreign is not None:
        raise FileExistsError(foreign)
    if not force:
        existing = [name for name in (*OUTPUT_FILES, AFFINITY_FILE) if (outdir / name).exists()]
        raise FileExistsError(
            f"{outdir} already holds {', '.join(existing)}; pass --force to overwrite, "
            "or choose another output directory."
        )
    return outdir


def _not_our_files(outdir):
    """None if ``outdir`` holds only files that write_cluster_outputs writes, else why not."""
    ours = set(OUTPUT_FILES) | {AFFINITY_FILE}
    foreign = sorted(p.name for p in Path(outdir).iterdir() if p.name not in ours)
    if not foreign:
        return None
    return (
        f"{outdir} holds files that subclust cluster does not write ({', '.join(foreign[:3])}"
        f"{', ...' if len(foreign) > 3 else ''}); choose a new or empty output directory."
    )


def _bases_arrays(result):
    arrays = {f"basis_{k}": U for k, U in enumerate(result.bases)}
    arrays["dims"] = np.array([U.shape[1] for U in result.bases])
    means = getattr(result.estimator, "means_", None)
    if means is not None:
        arrays["means"] = np.asarray(means)
    pca = result.pipeline.named_steps.get("pca")
    if pca is not None:
        # The bases live in PCA coordinates: these map them back to the input features.
        arrays["pca_components"] = pca.components_
        if getattr(pca, "mean_", None) is not None:
            arrays["pca_mean"] = pca.mean_
    return arrays


def _summary_figure(result):
    from subclust.cli.summary_figure import clustering_summary_figure

    inputs = result.inputs
    method = result.method
    if getattr(result.estimator, "selected_", None) is not None:
        method += f": {result.estimator.selected_}"
    title = f"{method} on {inputs.source.get('path', inputs.source.get('dataset'))}"
    if result.features is not None:
        title += f" ({inputs.source['feature_params']['features']})"
    if result.metrics:
        title += f": accuracy {result.metrics['accuracy']:.4f}"
    return clustering_summary_figure(
        result.Z, result.labels, bases=result.bases, y_true=inputs.y,
        objective_history=getattr(result.estimator, "objective_history_", None),
        images=inputs.images, affinity=getattr(result.estimator, "affinity_matrix_", None),
        spectrum=getattr(result.estimator, "laplacian_eigenvalues_", None),
        candidates=getattr(result.estimator, "candidates_", None), title=title,
    )


def build_report(result, *, command=None, timings=None, outputs=None, warning_messages=None):
    """The content of ``report.json``: method, parameters, objective, timings, metrics, warnings."""
    estimator = result.estimator
    objective = getattr(estimator, "objective_", None)
    report = {
        "subclust_version": _version(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "input": result.inputs.source,
        "method": result.method,
        "method_description": METHODS[result.method].description,
        "estimator": type(estimator).__name__,
        "parameters": _jsonable(estimator.get_params(deep=False)),
        "pipeline": [
            {"step": name, "estimator": type(step).__name__,
             "parameters": _jsonable(step.get_params(deep=False))}
            for name, step in result.pipeline.steps[:-1]
        ],
        "n_clusters": len(result.bases),
        "n_clusters_estimate": _n_clusters_estimate(estimator),
        "cluster_sizes": np.bincount(result.labels, minlength=len(result.bases)).tolist(),
        "subspace_dims": [int(U.shape[1]) for U in result.bases],
        "objective": None if objective is None else float(objective),
        "metrics": result.metrics,
        "timings": {"seconds_" + k: round(v, 4) for k, v in (timings or {}).items()},
        "outputs": outputs or {},
        "warnings": list(warning_messages or []),
    }
    candidates = getattr(estimator, "candidates_", None)
    if candidates is not None:  # method "auto": what it compared and what it chose
        report["selected"] = estimator.selected_
        report["candidates"] = _jsonable(candidates)
        report["consistency_dims"] = _jsonable(estimator.consistency_dims_)
    if result.features is not None:  # features "auto": the features compared and kept
        report["features_compared"] = _jsonable(result.features)
    return report


def _n_clusters_estimate(estimator):
    """The estimated number of clusters and the spectrum it was read from; None if given."""
    spectrum = getattr(estimator, "laplacian_eigenvalues_", None)
    if spectrum is None:
        return None
    estimate = {
        "n_clusters": int(estimator.n_clusters_),
        "rule": "diffusion eigengap of the normalized Laplacian",
        "laplacian_eigenvalues": [round(float(v), 6) for v in spectrum],
    }
    candidates = getattr(estimator, "n_clusters_estimates_", None)
    if candidates is not None:  # method "auto": its candidates' estimates and how it picked
        estimate["rule"] = ("the candidates' diffusion eigengaps; of the partitions about as "
                            "consistent with subspaces (adjusted for chance) as the most "
                            "consistent, the one with the largest refereed modularity")
        estimate["candidates"] = candidates
        estimate["modularity"] = {name: round(float(score), 6)
                                  for name, score in estimator.n_clusters_scores_.items()}
        estimate["adjusted_consistency"] = _jsonable(
            {name: round(float(value), 6)
             for name, value in estimator.n_clusters_consistency_.items()})  # fmt: skip
        estimate["competes"] = estimator.n_clusters_competing_
    return estimate


def _version():
    from subclust import __version__

    return __version__


def write_cluster_outputs(
    outdir, result, *, force=False, command=None, read_seconds=None,
    save_affinity=False, progress=None, warning_messages=None,
):
    """Write the results of a clustering into ``outdir``, a directory written whole or not at all.

    Files: ``model.npz`` (the fitted pipeline without its N x N matrices,
    :func:`subclust.io.save_model`), ``labels.csv``
    (``index[,file],label[,true_label]``), ``bases.npz`` (``basis_k``,
    ``dims``, and ``means``, ``pca_components``, ``pca_mean`` when they
    exist), ``summary.png``, ``report.json`` and, with ``save_affinity``,
    ``affinity.npz``. They are written into a temporary sibling of
    ``outdir``, renamed to ``outdir`` once all are complete
    (:func:`subclust.io.atomic_directory`): a failure or an interruption
    leaves no output and no temporary file.

    Parameters
    ----------
    outdir : str or path-like
        The directory to create (its parent is created if missing).
    result : ClusterResult
    force : bool, default=False
        Replace an existing output directory (one holding only the files
        above), once the new one is complete; a failure keeps the old one.
    command : list of str, optional
        The command line, recorded in the report.
    read_seconds : float, optional
        Reading time, recorded in the report (default ``result.inputs.seconds``).
    save_affinity : bool, default=False
        Also write the estimator's affinity matrix to ``affinity.npz``: a
        sparse matrix in :func:`scipy.sparse.save_npz` format, a dense one as
        the array ``affinity`` of an ``np.savez`` archive.
    progress : bool or None, default=None
        Show a progress bar over the files on stderr (None: when stderr is a
        terminal).
    warning_messages : list of str, optional
        The warnings given while reading and clustering, recorded in the
        report (``warnings``), for those who read it rather than the terminal.

    Returns
    -------
    report : dict
        The content of ``report.json``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from subclust.datasets import make_molrg
    >>> from subclust.cli.workflow import Inputs, cluster_inputs, write_cluster_outputs
    >>> X, y, _ = make_molrg(n_samples=[20, 20], n_features=6, dims=2, random_state=0)
    >>> result = cluster_inputs(Inputs(X, y), method="lsr")
    >>> tmp = tempfile.TemporaryDirectory()
    >>> report = write_cluster_outputs(Path(tmp.name) / "out", result, save_affinity=True)
    >>> sorted(p.name for p in (Path(tmp.name) / "out").iterdir())
    ['affinity.npz', 'bases.npz', 'labels.csv', 'model.npz', 'report.json', 'summary.png']
    >>> tmp.cleanup()
    """
    outdir = check_output_dir(outdir, force)
    if save_affinity:
        affinity = getattr(result.estimator, "affinity_matrix_", None)
        if affinity is None:
            raise ValueError(
                f"Method {result.method!r} builds no affinity matrix to save; drop "
                "--save-affinity (save_affinity)."
            )
    start = time.perf_counter()
    inputs = result.inputs
    metadata = {"input": inputs.source, "method": result.method}
    files = {
        "model.npz": lambda path: save_model(
            result.pipeline, path, metadata=metadata, exclude=_SAMPLE_BY_SAMPLE
        ),
        "labels.csv": lambda path: write_text(path, labels_csv(result.labels, inputs)),
        "bases.npz": lambda path: write_atomic(
            path, lambda f: np.savez(f, **_bases_arrays(result))
        ),
        "summary.png": lambda path: save_figure(_summary_figure(result), path, dpi=90),
    }
    if save_affinity:
        files[AFFINITY_FILE] = lambda path: write_atomic(path, _affinity_writer(affinity))
    names = list(files) + ["report.json"]
    with progress_bar(total=len(names), progress=progress, desc="write", unit="file") as bar, \
            atomic_directory(outdir, force=force, replaceable=_not_our_files) as building:
        for name, write in files.items():
            bar.set_postfix_str(name)
            write(building / name)
            bar.update(1)
        timings = {
            "read": inputs.seconds if read_seconds is None else read_seconds,
            "fit": result.seconds,
            "write": time.perf_counter() - start,
        }
        timings["total"] = sum(timings.values())
        outputs = {name: str(outdir / name) for name in names}
        report = build_report(result, command=command, timings=timings, outputs=outputs,
                              warning_messages=warning_messages)  # fmt: skip
        bar.set_postfix_str("report.json")
        write_text(building / "report.json", json.dumps(report, indent=2) + "\n")
        bar.update(1)
    return report


def _affinity_writer(affinity):
    import scipy.sparse as sp

    if sp.issparse(affinity):
        return lambda f: sp.save_npz(f, sp.csr_matrix(affinity))
    return lambda f: np.savez(f, affinity=np.asarray(affinity))


def predict_inputs(
    model_path, path, *, key=None, label_column=None, id_column=None, labels=None, n_jobs=None,
    progress=None,
):
    """Cluster labels of new samples under a saved model.

    The model file records how its input was made: for embeddings the
    number of features is checked; for images the same features (those the
    clustering kept, from images of the same size) are computed from the new
    images.

    Parameters
    ----------
    model_path : str or path-like
        A model written by ``subclust cluster`` (``OUTDIR/model.npz``, or
        ``OUTDIR`` itself) or :func:`subclust.io.save_model`.
    path : str or path-like
        Embedding file or image folder, like the model's training input.
    key, label_column, id_column, labels, n_jobs, progress
        See :func:`load_inputs`.

    Returns
    -------
    labels : ndarray of shape (n_samples,)
    inputs : Inputs
    metrics : dict or None
        Against the ground truth, when given.
    """
    if Path(model_path).is_dir() and (Path(model_path) / "model.npz").is_file():
        model_path = Path(model_path) / "model.npz"
    model, metadata = load_model(model_path, return_metadata=True)
    trained = metadata.get("input", {})
    is_folder = Path(path).is_dir()
    if "image_shape" in trained:  # rows of a file, clustered as images
        if is_folder:
            raise ValueError(
                f"The model {model_path} was trained on the rows of {trained['path']} as "
                f"images: give a file like it, not the folder {path}."
            )
        inputs = load_inputs(path, key=key, label_column=label_column, id_column=id_column,
                             labels=labels, features=trained["feature_params"]["features"],
                             image_shape=trained["image_shape"], n_jobs=n_jobs,
                             progress=progress)  # fmt: skip
    elif trained.get("kind") == "images":
        if not is_folder:
            raise ValueError(
                f"The model {model_path} was trained on images: give a folder of images, "
                f"not {path}."
            )
        params = trained["feature_params"]
        bunch = read_image_folder(
            path, features=params["features"], shape=tuple(params["shape"]),
            resize=trained.get("resize"), max_side=trained.get("max_side"),
            J=params.get("J", 3), L=params.get("L", 8),
            pad_to=params.get("pad_to", "auto"), n_jobs=n_jobs, progress=progress,
        )
        inputs = Inputs(bunch.data, bunch.target, bunch.target_names, bunch.filenames,
                        bunch.images, {"kind": "images", "path": str(path)})
        if labels is not None:
            inputs.y, inputs.target_names = read_labels(labels, n_samples=len(bunch.data))
    else:
        if is_folder:
            raise ValueError(
                f"The model {model_path} was trained on embeddings: give an embedding file, "
                f"not the folder {path}."
            )
        inputs = load_inputs(path, key=key, label_column=label_column, id_column=id_column,
                             labels=labels)  # fmt: skip
    expected = getattr(model, "n_features_in_", None)
    if expected is not None and inputs.X.shape[1] != expected:
        raise ValueError(
            f"{path} has {inputs.X.shape[1]} features but the model {model_path} was fitted on "
            f"{expected}; give embeddings made the same way as the training ones."
        )
    if not hasattr(model, "predict"):
        raise ValueError(
            f"The model {model_path} ({type(model).__name__}) cannot label new samples: "
            "its method has no predict."
        )
    predicted = np.asarray(model.predict(inputs.X))
    metrics = None if inputs.y is None else clustering_metrics(inputs.y, predicted)
    return predicted, inputs, metrics


def labels_csv(labels, inputs):
    """``labels.csv`` text for predicted labels of ``inputs``.

    Parameters
    ----------
    labels : array-like of int of shape (n_samples,)
        Predicted clusters.
    inputs : Inputs
        Their names (``names``: a column ``file`` for the files of images,
        ``id`` for the ids of an embedding file) and ground truth (``y``,
        ``target_names``), when known, are added as columns.

    Returns
    -------
    text : str
        A header line, then one line per sample.

    Examples
    --------
    >>> import numpy as np
    >>> from subclust.cli.workflow import Inputs, labels_csv
    >>> inputs = Inputs(np.zeros((3, 2)), y=np.array([0, 1, 1]),
    ...                 target_names=np.array(["cat", "dog"]))
    >>> print(labels_csv(np.array([1, 0, 0]), inputs), end="")
    index,label,true_label
    0,1,cat
    1,0,dog
    2,0,dog
    """
    names, y, target_names = inputs.names, inputs.y, inputs.target_names
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    names_header = "id" if "id_column" in inputs.source else "file"
    header = ["index"] + ([names_header] if names is not None else []) + ["label"]
    header += ["true_label"] if y is not None else []
    writer.writerow(header)
    for i, label in enumerate(labels):
        row = [i] + ([names[i]] if names is not None else []) + [int(label)]
        if y is not None:
            row.append(target_names[y[i]] if target_names is not None else int(y[i]))
        writer.writerow(row)
    return buffer.getvalue()
