"""Image features that need no downloaded weights: the scattering transform, then PCA.

No pretrained network can be downloaded on the machines this project runs on;
the subspace-clustering literature clusters MNIST on scattering-transform
features instead (You, Robinson, Vidal, CVPR 2016: ``Scattering2D(J=3, L=8)``
on images zero-padded to 32x32, 217 x 4 x 4 = 3472 coefficients, each channel
scaled to a largest magnitude of one, then an uncentred PCA to 500).
kymatio is an optional dependency (the ``features`` extra), imported on first use.
"""

import hashlib
import json
import numbers
import os
import warnings
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from subclust.datasets._home import _digest, get_cache_dir
from subclust.datasets._loaders import load_mnist
from subclust.utils.atomic import write_atomic
from subclust.utils.parallel import effective_n_jobs, thread_map
from subclust.utils.validation import Interval, StrOptions, validate_params

__all__ = ["mnist_scattering_pca", "scattering_features", "scattering_pca"]

# Bump when the computation changes, so stale cache files are not reused.
_CACHE_VERSION = 2

#: Parameters of the scattering transform, shared by every function that computes it.
_SCATTERING_CONSTRAINTS = {
    "J": [Interval(numbers.Integral, 1, None, closed="left")],
    "L": [Interval(numbers.Integral, 1, None, closed="left")],
    "pad_to": [Interval(numbers.Integral, 1, None, closed="left"), None],
    "normalize": [StrOptions({"channel"}), None],
    "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
    "n_jobs": [numbers.Integral, None],
}


def _scattering_class():
    # kymatio.numpy imports the 3-D frontend, which imports scipy.special.sph_harm,
    # removed in scipy 1.17: import the 2-D numpy frontend directly.
    try:
        from kymatio.scattering2d.frontend.numpy_frontend import ScatteringNumPy2D
    except ImportError as error:
        raise ImportError(
            "Scattering features need kymatio (>= 0.3), an optional dependency: install it "
            f"with `pip install 'subclust[features]'`. The import failed with: {error}"
        ) from error
    return ScatteringNumPy2D


def _pad(images, pad_to):
    """Zero-pad (N, h, w) images symmetrically to (N, pad_to, pad_to)."""
    _, h, w = images.shape
    if pad_to is None:
        return images
    if pad_to < max(h, w):
        raise ValueError(
            f"pad_to={pad_to} is smaller than the images ({h}x{w}); give pad_to >= {max(h, w)} "
            "or pad_to=None to keep their size."
        )
    top, left = (pad_to - h) // 2, (pad_to - w) // 2
    widths = ((0, 0), (top, pad_to - h - top), (left, pad_to - w - left))
    return np.pad(images, widths)


@validate_params(
    {
        "images": ["array-like"],
        **_SCATTERING_CONSTRAINTS,
    },
    prefer_skip_nested_validation=True,
)
def scattering_features(
    images, J=3, L=8, pad_to=32, normalize="channel", batch_size=64, n_jobs=None
):
    """2-D scattering transform of grey-level images, flattened to feature vectors.

    Each image is zero-padded to ``pad_to x pad_to`` and transformed by a
    Morlet-wavelet scattering network of order 2 (Bruna & Mallat, 2013) with
    ``J`` scales and ``L`` orientations: ``1 + J L + L^2 J (J - 1) / 2``
    channels, each sub-sampled by ``2^J`` in both directions. With J=3, L=8
    and 32x32 images that is 217 x 4 x 4 = 3472 features, the MNIST features
    of You et al. (CVPR 2016).

    Parameters
    ----------
    images : array-like of shape (n_images, height, width)
        Grey-level images (e.g. the ``images`` field of a loader's Bunch).
    J : int, default=3
        Number of scales; the padded images must be larger than ``2**J``.
    L : int, default=8
        Number of orientations.
    pad_to : int or None, default=32
        Zero-pad the images to this square size (centred); None keeps them.
    normalize : {'channel', None}, default='channel'
        'channel' divides each channel of each image (its ``(h / 2^J) x
        (w / 2^J)`` coefficients) by its largest magnitude, as You et al.
        do: the second-order channels, small but the most discriminative,
        then weigh as much as the first-order ones (on MNIST the nearest
        neighbour's label is right for 98.4 % of the digits against 97.6 %
        without). None keeps the raw coefficients (linear in the image).
    batch_size : int, default=64
        Images transformed at once: bounds memory (about 20 complex copies of
        a batch) without slowing the transform.
    n_jobs : int or None, default=None
        Threads transforming batches in parallel (None means 1, -1 every
        core the caller allows; see :mod:`subclust.utils.parallel`). FFTs and
        elementwise numpy operations release the GIL, but on 2 busy cores
        threads gained nothing in our measurements.

    Returns
    -------
    features : ndarray of shape (n_images, n_features)
        float32 for float32 images, else float64.

    Raises
    ------
    ImportError
        kymatio is not installed (``pip install 'subclust[features]'``).

    References
    ----------
    J. Bruna, S. Mallat, "Invariant Scattering Convolution Networks", IEEE
    TPAMI 35(8), 2013. C. You, D. Robinson, R. Vidal, "Scalable Sparse
    Subspace Clustering by Orthogonal Matching Pursuit", CVPR 2016.

    Examples
    --------
    >>> import numpy as np
    >>> from subclust.datasets import scattering_features
    >>> images = np.random.default_rng(0).random((2, 28, 28))
    >>> scattering_features(images).shape  # doctest: +SKIP
    (2, 3472)
    """
    images = np.asarray(images)
    if images.ndim != 3 or min(images.shape) == 0:
        raise ValueError(
            f"images must be a non-empty array of shape (n_images, height, width), got shape "
            f"{images.shape}; reshape flattened images first, e.g. X.reshape(-1, 28, 28)."
        )
    dtype = np.float32 if images.dtype == np.float32 else np.float64
    images = images.astype(dtype, copy=False)
    if not np.isfinite(images).all():
        raise ValueError("images contain NaN or infinity.")
    images = _pad(images, pad_to)
    shape = images.shape[1:]
    if min(shape) <= 2**J:
        raise ValueError(
            f"Images of size {shape[0]}x{shape[1]} are too small for J={J}: both sides must "
            f"exceed 2**J={2**J}. Lower J or raise pad_to."
        )
    scattering = _scattering_class()(J=J, shape=shape, L=L)
    batches = [images[i : i + batch_size] for i in range(0, len(images), batch_size)]
    blocks = thread_map(scattering, batches, effective_n_jobs(n_jobs))
    features = np.concatenate(blocks).astype(dtype, copy=False)
    if normalize == "channel":
        channels = features.reshape(len(features), features.shape[1], -1)
        largest = np.abs(channels).max(axis=2, keepdims=True)
        np.divide(channels, largest, out=channels, where=largest > 0)
    return features.reshape(len(features), -1)


@validate_params(
    {
        "images": ["array-like"],
        "n_components": [Interval(numbers.Integral, 1, None, closed="left")],
        **_SCATTERING_CONSTRAINTS,
    },
    prefer_skip_nested_validation=True,
)
def scattering_pca(
    images, n_components=500, J=3, L=8, pad_to=32, normalize="channel", batch_size=64,
    n_jobs=None,
):
    """Scattering features of images projected on their top principal components.

    The MNIST pipeline of You et al. (CVPR 2016): :func:`scattering_features`
    (J=3, L=8, 32x32: 3472 features, each channel scaled to a largest
    magnitude of one), then the projection on the top 500 right singular
    vectors, without centring (:class:`subclust.pipeline.UncenteredPCA`):
    centring would turn the subspaces through the origin into affine ones.
    Exact and deterministic, so no random state is needed.

    Parameters
    ----------
    images : array-like of shape (n_images, height, width)
    n_components : int, default=500
        Must not exceed the number of images nor of scattering features.
    J, L, pad_to, normalize, batch_size, n_jobs
        See :func:`scattering_features`.

    Returns
    -------
    features : ndarray of shape (n_images, n_components)
        Coordinates along the top right singular vectors.

    Examples
    --------
    >>> import numpy as np
    >>> from subclust.datasets import scattering_pca
    >>> images = np.random.default_rng(0).random((20, 28, 28))
    >>> scattering_pca(images, n_components=5).shape  # doctest: +SKIP
    (20, 5)
    """
    from subclust.preprocessing import UncenteredPCA

    features = scattering_features(
        images, J=J, L=L, pad_to=pad_to, normalize=normalize, batch_size=batch_size,
        n_jobs=n_jobs,
    )  # fmt: skip
    if n_components > min(features.shape):
        raise ValueError(
            f"n_components={n_components} exceeds min(n_images, n_features)="
            f"{min(features.shape)} for {features.shape[0]} images with {features.shape[1]} "
            "scattering features; lower n_components."
        )
    return UncenteredPCA(n_components).fit_transform(features)


def _cache_path(cache_dir, kind, params):
    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:20]
    return Path(cache_dir) / f"{kind}-{key}.npz"


def _read_cache(path, params):
    """Arrays of a cache file written with these parameters, or None."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            if json.loads(str(archive["params"])) != params:
                return None
            return {name: archive[name] for name in archive.files if name != "params"}
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, json.JSONDecodeError):
        # A truncated or foreign file: recompute and overwrite it.
        return None


def _cached(kind, params, shape, compute, *, cache_dir=None, data_home=None, use_cache=True):
    """``compute()``, or the array it returned before with these parameters, read from disk.

    Returns ``(features, path)``: ``path`` is the cache file, None when
    nothing was cached. A cached array of another ``shape`` is recomputed.
    """
    path = _cache_path(get_cache_dir(cache_dir, data_home), kind, params)
    cached = (_read_cache(path, params) or {}) if use_cache else {}
    if cached.get("features") is not None and cached["features"].shape == shape:
        return cached["features"], path
    features = compute()
    return features, (_write_cache(path, params, features=features) if use_cache else None)


def _write_cache(path, params, **arrays):
    """Write atomically: a temporary file in the same directory, then a rename."""
    header = np.array(json.dumps(params, sort_keys=True))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, lambda f: np.savez(f, params=header, **arrays), force=True)
    except OSError as error:
        warnings.warn(
            f"Could not cache features at {path} ({error}); they will be recomputed next "
            "time. Set SUBCLUST_CACHE or pass cache_dir to a writable directory.",
            RuntimeWarning,
            stacklevel=3,
        )
        return None
    return path


@validate_params(
    {
        "n_components": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_samples": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "data_home": [str, os.PathLike, None],
        "cache_dir": [str, os.PathLike, None],
        "use_cache": ["boolean"],
        "verify": ["boolean"],
        **_SCATTERING_CONSTRAINTS,
    },
    prefer_skip_nested_validation=True,
)
def mnist_scattering_pca(
    n_components=500, n_samples=None, J=3, L=8, pad_to=32, normalize="channel", data_home=None,
    cache_dir=None, use_cache=True, verify=True, batch_size=64, n_jobs=None,
):  # fmt: skip
    """Scattering + PCA features of the MNIST test set, cached on disk.

    The features of You et al. (CVPR 2016) for subspace clustering of
    MNIST: :func:`scattering_pca` of :func:`load_mnist` images (J=3, L=8,
    images zero-padded to 32x32, 3472 features scaled per channel, uncentred
    PCA to 500). Computing them
    for the 10,000 images takes about 30 s on 2 cores, so the result is
    cached in ``cache_dir`` (see :func:`get_cache_dir`), keyed by the
    parameters and the sha256 of the source files, and written atomically.

    Parameters
    ----------
    n_components : int, default=500
    n_samples : int, optional
        Use the first ``n_samples`` test images (PCA is fitted on them).
    J, L, pad_to, normalize
        See :func:`scattering_features`.
    data_home : str or path-like, optional
        See :func:`get_data_home`.
    cache_dir : str or path-like, optional
        See :func:`get_cache_dir`.
    use_cache : bool, default=True
        Read and write the cache; False always recomputes and writes nothing.
    verify : bool, default=True
        Check the MNIST files against the registry.
    batch_size, n_jobs
        See :func:`scattering_features`.

    Returns
    -------
    bunch : sklearn.utils.Bunch
        ``data`` (N, n_components) float64 features; ``target`` (N,) digits;
        ``indices`` (N,) positions in the test set; ``target_names``;
        ``DESCR``; ``cache_path`` (None when nothing was cached).

    References
    ----------
    C. You, D. Robinson, R. Vidal, "Scalable Sparse Subspace Clustering by
    Orthogonal Matching Pursuit", CVPR 2016. Y. LeCun, L. Bottou, Y. Bengio,
    P. Haffner, Proceedings of the IEEE 86(11), 1998 (MNIST).

    Examples
    --------
    >>> from subclust.datasets import mnist_scattering_pca
    >>> features = mnist_scattering_pca()  # doctest: +SKIP
    >>> features.data.shape  # doctest: +SKIP
    (10000, 500)
    """
    mnist = load_mnist(data_home=data_home, n_samples=n_samples, verify=verify)
    sources = [
        _digest(Path(mnist.filename), "sha256"),
        _digest(Path(mnist.filename).with_name("t10k-labels-idx1-ubyte.gz"), "sha256"),
    ]
    params = {
        "version": _CACHE_VERSION,
        "n_components": int(n_components),
        "n_samples": len(mnist.target),
        "J": int(J),
        "L": int(L),
        "pad_to": None if pad_to is None else int(pad_to),
        "normalize": normalize,
        "sources": sources,
    }
    features, path = _cached(
        "mnist_scattering_pca", params, (len(mnist.target), n_components),
        lambda: scattering_pca(mnist.images, n_components, J=J, L=L, pad_to=pad_to,
                               normalize=normalize, batch_size=batch_size, n_jobs=n_jobs),
        cache_dir=cache_dir, data_home=data_home, use_cache=use_cache,
    )  # fmt: skip
    descr = (
        f"Scattering (J={J}, L={L}, padded to {pad_to}, normalize={normalize}) + uncentred "
        f"PCA ({n_components}) features of "
        f"{len(mnist.target)} MNIST test images, after You et al. (CVPR 2016).\n\n" + mnist.DESCR
    )
    return Bunch(
        data=np.asarray(features, dtype=np.float64),
        target=mnist.target,
        indices=mnist.indices,
        target_names=mnist.target_names,
        DESCR=descr,
        cache_path=None if path is None else str(path),
    )
