"""Loaders of the real benchmark data sets: Extended Yale B, COIL-20, MNIST, Fashion-MNIST.

Every loader reads registered files from the data home (see
:func:`get_data_home`), checks them against the registry, and returns a
:class:`sklearn.utils.Bunch` with the same fields:

- ``data``: ndarray (N, h*w) float64 in [0, 1], the images flattened row by row;
- ``target``: ndarray (N,) int64, labels 0..K-1;
- ``images``: ndarray (N, h, w) float64 in [0, 1], upright;
- ``target_names``: what each label stands for;
- ``feature_names``: ``"pixel_r_c"`` for each column of ``data``;
- ``DESCR``: a description with the citations;
- ``filename``: the file read.
"""

import gzip
import numbers
import os

import numpy as np
from sklearn.utils import Bunch

from subclust.datasets._home import _registry, check_file, fetch_file, get_data_home
from subclust.utils.tables import Table
from subclust.utils.validation import Interval, StrOptions, validate_params

__all__ = [
    "list_datasets",
    "load_coil20",
    "load_fashion_mnist_sprite",
    "load_mnist",
    "load_yaleb",
    "verify_datasets",
]

YALEB_FILES = {
    "48x42": ("yaleb/ExtendedYaleB_48x42.mat", "EYALEB_DATA", "EYALEB_LABEL", (48, 42)),
    "32x32": ("yaleb/YaleB_32x32.mat", "fea", "gnd", (32, 32)),
}
YALEB_N_SUBJECTS = 38

FASHION_MNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip

_DATA_HOME = [str, os.PathLike, None]


def _validate_loader(**constraints):
    """``validate_params`` of a loader: ``data_home``, ``verify`` and its own parameters."""
    return validate_params(
        {"data_home": _DATA_HOME, "verify": ["boolean"], **constraints},
        prefer_skip_nested_validation=True,
    )


def _loadmat(path):
    from scipy.io import loadmat

    return loadmat(path)


def _from_columns(matrix, shape):
    """Images stored one per column, column-major (MATLAB), as an upright (N, h, w) array."""
    h, w = shape
    if matrix.shape[0] != h * w:
        raise ValueError(f"expected {h * w} pixels per image, the file has {matrix.shape[0]}.")
    # A column-major h x w image read row-major is its transpose: read as (w, h), swap back.
    return np.ascontiguousarray(matrix.T.reshape(-1, w, h).transpose(0, 2, 1))


def _describe(dataset, header, filename):
    info = _registry()["datasets"][dataset]
    lines = [info["title"], "=" * len(info["title"]), "", header, "", info["description"], ""]
    lines += [f"File: {filename}", f"Homepage: {info['homepage']}", f"License: {info['license']}"]
    lines += ["", "Citations:"] + [f"- {c}" for c in info["citation"]]
    return "\n".join(lines)


def _bunch(images, target, target_names, dataset, header, filename, **extra):
    images = np.asarray(images, dtype=np.float64)
    n, h, w = images.shape
    return Bunch(
        data=images.reshape(n, h * w),
        target=np.asarray(target, dtype=np.int64),
        images=images,
        target_names=np.asarray(target_names),
        feature_names=[f"pixel_{r}_{c}" for r in range(h) for c in range(w)],
        DESCR=_describe(dataset, header, filename),
        filename=str(filename),
        **extra,
    )


def _check_subjects(subjects):
    """Return the selected Yale B subject ids (1..38) as a list."""
    if subjects is None:
        return list(range(1, YALEB_N_SUBJECTS + 1))
    if isinstance(subjects, numbers.Integral):  # the first n subjects
        if not 1 <= subjects <= YALEB_N_SUBJECTS:
            raise ValueError(f"Extended Yale B has {YALEB_N_SUBJECTS} subjects; subjects must "
                             f"lie in 1..{YALEB_N_SUBJECTS}, got {subjects}.")
        return list(range(1, int(subjects) + 1))
    try:
        ids = [int(s) for s in subjects]
    except (TypeError, ValueError):
        raise ValueError(
            f"subjects must be None, an int or a list of subject ids, got {subjects!r}."
        ) from None
    if not ids:
        raise ValueError("subjects is an empty list; give at least one subject id in "
                         f"1..{YALEB_N_SUBJECTS}.")
    bad = [s for s in ids if not 1 <= s <= YALEB_N_SUBJECTS]
    if bad:
        raise ValueError(f"Subject ids must lie in 1..{YALEB_N_SUBJECTS}, got {bad}.")
    if len(set(ids)) != len(ids):
        raise ValueError(f"subjects has repeated ids: {ids}.")
    return ids


@_validate_loader(
    resolution=[StrOptions(set(YALEB_FILES))],
    subjects=[Interval(numbers.Integral, 1, YALEB_N_SUBJECTS, closed="both"), "array-like", None],
)
def load_yaleb(resolution="48x42", subjects=None, data_home=None, verify=True):
    """Load the Extended Yale B face images (38 subjects, N=2414).

    Cropped frontal faces of 38 subjects under 64 illuminations each (18
    corrupted images dropped). The images of one subject lie near a
    9-dimensional subspace (Lambertian reflectance; Basri & Jacobs, IEEE
    TPAMI 25(2), 2003), which makes this the standard face-clustering
    benchmark for subspace clustering.

    Reads ``yaleb/ExtendedYaleB_48x42.mat`` or ``yaleb/YaleB_32x32.mat``
    from the data home (both hold the same images in the same order).

    Parameters
    ----------
    resolution : {"48x42", "32x32"}, default="48x42"
        Image size (height x width). 48x42 is the crop used by Elhamifar &
        Vidal's SSC experiments.
    subjects : None, int or sequence of int, default=None
        None for all 38 subjects; an int n for subjects 1..n; a list of
        subject ids in 1..38 (the ids stored in the file).
    data_home : str or path-like, optional
        See :func:`get_data_home`.
    verify : bool, default=True
        Check the file's sha256 against the registry (once per process).

    Returns
    -------
    bunch : sklearn.utils.Bunch
        ``data`` (N, h*w) float64 in [0, 1]; ``target`` (N,) int, 0-based:
        ``target == k`` for subject ``subjects[k]``, in the order given;
        ``images`` (N, h, w) upright; ``subjects`` (K,) the subject id of each
        label (also ``target_names``); ``feature_names``; ``DESCR``; ``filename``.
        Samples keep the file's order (grouped by subject id).

    Raises
    ------
    FileNotFoundError
        When the file is missing: the message names the path to put it at.

    References
    ----------
    A. S. Georghiades, P. N. Belhumeur, D. J. Kriegman, "From Few to Many:
    Illumination Cone Models for Face Recognition under Variable Lighting and
    Pose", IEEE TPAMI 23(6), 2001.
    K.-C. Lee, J. Ho, D. J. Kriegman, "Acquiring Linear Subspaces for Face
    Recognition under Variable Lighting", IEEE TPAMI 27(5), 2005.
    Clustering protocol: E. Elhamifar, R. Vidal, "Sparse Subspace
    Clustering: Algorithm, Theory, and Applications", IEEE TPAMI 35(11), 2013.

    Examples
    --------
    >>> from subclust.datasets import load_yaleb
    >>> faces = load_yaleb(subjects=2)  # doctest: +SKIP
    >>> faces.data.shape, faces.images.shape  # doctest: +SKIP
    ((128, 2016), (128, 48, 42))
    """
    ids = _check_subjects(subjects)
    name, data_key, label_key, shape = YALEB_FILES[resolution]
    path = fetch_file(name, data_home=data_home, verify=verify)
    mat = _loadmat(path)
    labels = np.asarray(mat[label_key]).ravel().astype(np.int64)
    position = {s: k for k, s in enumerate(ids)}
    keep = np.isin(labels, ids)
    images = _from_columns(np.asarray(mat[data_key])[:, keep], shape) / 255.0
    target = np.array([position[s] for s in labels[keep]], dtype=np.int64)
    header = (
        f"{len(target)} images of {len(ids)} subjects, {shape[0]}x{shape[1]} pixels; "
        f"target k is subject id subjects[k], subjects = {ids}."
    )
    return _bunch(
        images, target, np.array(ids), "yaleb", header, path, subjects=np.array(ids)
    )


@_validate_loader()
def load_coil20(data_home=None, verify=True):
    """Load COIL-20: 20 objects x 72 poses, 32x32 grey-level images (N=1440).

    Each object turns on a turntable and is photographed every 5 degrees;
    the images of one object lie near a low-dimensional subspace.
    Reads ``coil20/COIL20.mat`` from the data home.

    Parameters
    ----------
    data_home, verify
        As in :func:`load_yaleb`.

    Returns
    -------
    bunch : sklearn.utils.Bunch
        ``data`` (1440, 1024) float64 in [0, 1]; ``target`` (1440,) int in
        0..19 (object id - 1), 72 each, ordered by object; ``images``
        (1440, 32, 32) upright; ``target_names`` the object ids 1..20;
        ``feature_names``; ``DESCR``; ``filename``.

    References
    ----------
    S. A. Nene, S. K. Nayar, H. Murase, "Columbia Object Image Library
    (COIL-20)", Technical Report CUCS-005-96, Columbia University, 1996.

    Examples
    --------
    >>> from subclust.datasets import load_coil20
    >>> coil = load_coil20()  # doctest: +SKIP
    >>> coil.images.shape  # doctest: +SKIP
    (1440, 32, 32)
    """
    path = fetch_file("coil20/COIL20.mat", data_home=data_home, verify=verify)
    mat = _loadmat(path)
    # Rows are images here, each stored column-major: pass them as columns.
    images = _from_columns(np.asarray(mat["fea"], dtype=np.float64).T, (32, 32))
    labels = np.asarray(mat["gnd"]).ravel().astype(np.int64)
    header = "1440 images of 20 objects (72 poses each, 5 degrees apart), 32x32 pixels."
    return _bunch(images, labels - 1, np.arange(1, 21), "coil20", header, path)


def _read_idx(path):
    """Read a gzip-compressed IDX file (the MNIST format) into a uint8 array."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file (bad magic number).")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    payload = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if payload.size != int(np.prod(shape)):
        raise ValueError(f"{path} is truncated: header says {shape}, found {payload.size} values.")
    return payload.reshape(shape)


@_validate_loader(
    n_samples=[Interval(numbers.Integral, 1, None, closed="left"), None],
    random_state=["random_state"],
)
def load_mnist(data_home=None, n_samples=None, random_state=None, verify=True):
    """Load the MNIST test set: 10,000 handwritten digits, 28x28.

    Reads ``mnist/t10k-images-idx3-ubyte.gz`` and
    ``mnist/t10k-labels-idx1-ubyte.gz`` (IDX format) from the data home.

    Parameters
    ----------
    data_home : str or path-like, optional
        See :func:`get_data_home`.
    n_samples : int, optional
        Keep only this many images: the first ones in file order (the file
        mixes the classes), or a random subset when ``random_state`` is given.
    random_state : int, RandomState instance or None, default=None
        Draw the ``n_samples`` images at random (kept in file order).
    verify : bool, default=True
        Check the files against the registry (once per process). A mirror's
        gzip file with the canonical decompressed payload is accepted.

    Returns
    -------
    bunch : sklearn.utils.Bunch
        ``data`` (N, 784) float64 in [0, 1]; ``target`` (N,) int digits 0..9;
        ``images`` (N, 28, 28); ``target_names`` 0..9; ``feature_names``;
        ``DESCR``; ``filename`` (the images file); ``indices`` (N,) the
        positions in the test set.

    References
    ----------
    Y. LeCun, L. Bottou, Y. Bengio, P. Haffner, "Gradient-Based Learning
    Applied to Document Recognition", Proceedings of the IEEE 86(11), 1998.

    Examples
    --------
    >>> from subclust.datasets import load_mnist
    >>> digits = load_mnist(n_samples=100)  # doctest: +SKIP
    >>> digits.images.shape  # doctest: +SKIP
    (100, 28, 28)
    """
    image_path = fetch_file("mnist/t10k-images-idx3-ubyte.gz", data_home, verify)
    label_path = fetch_file("mnist/t10k-labels-idx1-ubyte.gz", data_home, verify)
    images, labels = _read_idx(image_path), _read_idx(label_path)
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{images.shape[0]} MNIST images but {labels.shape[0]} labels.")
    indices = _subset(images.shape[0], n_samples, random_state)
    header = f"{len(indices)} of the 10,000 MNIST test images, 28x28 pixels, digits 0..9."
    return _bunch(
        images[indices] / 255.0, labels[indices], np.arange(10), "mnist", header, image_path,
        indices=indices,
    )


def _subset(n_total, n_samples, random_state):
    if n_samples is None:
        return np.arange(n_total)
    if (
        not isinstance(n_samples, numbers.Integral)
        or isinstance(n_samples, bool)
        or not 1 <= n_samples <= n_total
    ):
        raise ValueError(f"n_samples must be an int in [1, {n_total}], got {n_samples!r}.")
    if random_state is None:
        return np.arange(n_samples)
    from sklearn.utils import check_random_state

    rng = check_random_state(random_state)
    return np.sort(rng.choice(n_total, size=n_samples, replace=False))


@_validate_loader()
def load_fashion_mnist_sprite(data_home=None, verify=True):
    """Load 900 real Fashion-MNIST images (90 per class), 28x28.

    The images were cut from the sprite picture of the Fashion-MNIST
    repository (3 rows of 30 per class). Which split they come from is
    unknown: do not report results on them as test-set results.
    Reads ``fashion_mnist/fashion_mnist_sprite900.npz`` from the data home,
    or, when only the sprite picture ``fashion_mnist/fashion-mnist-sprite.png``
    is there, cuts it (needs Pillow): both give the same arrays.

    Parameters
    ----------
    data_home : str or path-like, optional
        See :func:`get_data_home`.
    verify : bool, default=True
        Check the sprite file against the registry (once per process).

    Returns
    -------
    bunch : sklearn.utils.Bunch
        ``data`` (900, 784) float64 in [0, 1]; ``target`` (900,) int in 0..9,
        90 each, ordered by class; ``images`` (900, 28, 28); ``target_names``
        the class names ("T-shirt/top", ..., "Ankle boot"); ``feature_names``;
        ``DESCR``; ``filename``.

    References
    ----------
    H. Xiao, K. Rasul, R. Vollgraf, "Fashion-MNIST: a Novel Image Dataset for
    Benchmarking Machine Learning Algorithms", arXiv:1708.07747, 2017.

    Examples
    --------
    >>> from subclust.datasets import load_fashion_mnist_sprite
    >>> clothes = load_fashion_mnist_sprite()  # doctest: +SKIP
    >>> clothes.target_names[clothes.target[0]]  # doctest: +SKIP
    'T-shirt/top'
    """
    npz = "fashion_mnist/fashion_mnist_sprite900.npz"
    png = "fashion_mnist/fashion-mnist-sprite.png"
    home = get_data_home(data_home)
    if not (home / npz).is_file() and (home / png).is_file():
        path = fetch_file(png, home, verify)
        images, labels = _cut_sprite(path)
    else:
        path = fetch_file(npz, home, verify)
        with np.load(path) as archive:
            images, labels = archive["images"], archive["labels"]
    header = (
        "900 Fashion-MNIST images (90 per class), 28x28 pixels, cut from the repository's "
        "sprite picture; the split they come from is unknown (not the test set)."
    )
    return _bunch(
        images / 255.0, labels, FASHION_MNIST_CLASSES, "fashion_mnist", header, path
    )


def _cut_sprite(path, side=28, per_row=30, rows_per_class=3):
    """Cut the Fashion-MNIST sprite picture into images and labels (row r: class r // 3)."""
    try:
        from PIL import Image
    except ImportError as error:
        raise ImportError(
            f"Reading {path} needs Pillow (installed with matplotlib: "
            "`pip install 'subclust[plot]'`), or put fashion_mnist_sprite900.npz beside it."
        ) from error
    with Image.open(path) as picture:
        grey = np.asarray(picture.convert("L"))
    n_rows = grey.shape[0] // side
    if grey.shape != (n_rows * side, per_row * side):
        raise ValueError(f"{path} is {grey.shape}, not a grid of {side}x{side} images.")
    tiles = grey.reshape(n_rows, side, per_row, side).transpose(0, 2, 1, 3)
    labels = np.repeat(np.arange(n_rows) // rows_per_class, per_row)
    return tiles.reshape(-1, side, side), labels


def list_datasets():
    """Table of the registered data files: data set, file, size, checksum, source.

    Returns
    -------
    table : subclust.utils.tables.Table
        One row per file, with columns ``dataset``, ``file``, ``bytes``,
        ``sha256`` (first 16 hex digits), ``loader`` and ``url``.

    Examples
    --------
    >>> from subclust.datasets import list_datasets
    >>> "yaleb/ExtendedYaleB_48x42.mat" in list_datasets().column("file")
    True
    """
    registry = _registry()
    table = Table("Benchmark data files (relative to the data home)")
    for name, entry in registry["files"].items():
        table.add_row(
            dataset=entry["dataset"],
            file=name,
            bytes=entry["bytes"],
            sha256=entry["sha256"][:16],
            loader=registry["datasets"][entry["dataset"]]["loader"],
            url=entry["url"] or "-",
        )
    table.notes.append("Citations: load_registry()['datasets'][name]['citation'].")
    return table


@validate_params({"data_home": _DATA_HOME}, prefer_skip_nested_validation=True)
def verify_datasets(data_home=None):
    """Check every registered file in the data home; one row per file.

    Nothing is raised for a missing or corrupted file: the ``status`` column
    says ``ok``, ``missing``, ``wrong size`` or ``checksum mismatch``.

    Parameters
    ----------
    data_home : str or path-like, optional
        See :func:`get_data_home`.

    Returns
    -------
    table : subclust.utils.tables.Table
        Columns ``dataset``, ``file``, ``status`` and ``path``.

    Examples
    --------
    >>> from subclust.datasets import verify_datasets
    >>> set(verify_datasets("/nonexistent").column("status"))
    {'missing'}
    """
    home = get_data_home(data_home)
    table = Table(f"Benchmark data files in {home}")
    for name, entry in _registry()["files"].items():
        status, path = check_file(name, data_home=home)
        table.add_row(dataset=entry["dataset"], file=name, status=status, path=str(path))
    n_ok = table.column("status").count("ok")
    table.notes.append(f"{n_ok} of {len(table.rows)} files ok.")
    return table
