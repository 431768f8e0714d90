"""Where benchmark data live, what they should contain, and checking that they do.

The registry (``registry.json``, installed with the package; its source is
``data/registry.json`` in the repository) lists every file a loader reads:
path relative to the data home, size in bytes, sha256, original URL where
known, and the data set's citations. Loaders ask :func:`fetch_file` for a
path and get back a verified one, or an error that tells the user which file
to put where.
"""

import copy
import functools
import gzip
import hashlib
import json
import os
import threading
from importlib import resources
from pathlib import Path

from subclust.utils.validation import validate_params

__all__ = [
    "ChecksumError",
    "fetch_file",
    "get_cache_dir",
    "get_data_home",
    "load_registry",
]

#: Environment variable naming the data home.
DATA_ENV = "SUBCLUST_DATA"
#: Environment variable naming the feature cache (defaults to ``<data home>/cache``).
CACHE_ENV = "SUBCLUST_CACHE"

_CHUNK = 1 << 20


class ChecksumError(ValueError):
    """A data file exists but its content is not the registered one."""


@validate_params(
    {
        "data_home": [str, os.PathLike, None],
    },
    prefer_skip_nested_validation=True,
)
def get_data_home(data_home=None):
    """Return the directory holding the benchmark data sets.

    Parameters
    ----------
    data_home : str or path-like, optional
        Used as given when not None. Otherwise the environment variable
        ``SUBCLUST_DATA``, else ``~/subclust_data``.

    Returns
    -------
    path : pathlib.Path
        Absolute, with ``~`` expanded. The directory is not created: loaders
        only read from it.

    Examples
    --------
    >>> import pathlib
    >>> from subclust.datasets import get_data_home
    >>> get_data_home("~/my_data") == pathlib.Path.home() / "my_data"
    True
    """
    if data_home is None:
        data_home = os.environ.get(DATA_ENV) or "~/subclust_data"
    # abspath normalises "../shared/data" for messages without resolving symlinks.
    return Path(os.path.abspath(Path(data_home).expanduser()))


@validate_params(
    {
        "cache_dir": [str, os.PathLike, None],
        "data_home": [str, os.PathLike, None],
    },
    prefer_skip_nested_validation=True,
)
def get_cache_dir(cache_dir=None, data_home=None):
    """Return the directory where computed features are cached.

    Parameters
    ----------
    cache_dir : str or path-like, optional
        Used as given when not None. Otherwise the environment variable
        ``SUBCLUST_CACHE``, else ``<data home>/cache`` when the data home is
        writable, else ``$XDG_CACHE_HOME/subclust`` (``~/.cache/subclust``):
        a shared, read-only data home still gets a cache.
    data_home : str or path-like, optional
        See :func:`get_data_home`.

    Returns
    -------
    path : pathlib.Path
        Not created until something is written to it.

    Examples
    --------
    With a writable data home and no ``SUBCLUST_CACHE``, features are cached
    in the data home:

    >>> import os, tempfile
    >>> from pathlib import Path
    >>> from unittest import mock
    >>> from subclust.datasets import get_cache_dir
    >>> with tempfile.TemporaryDirectory() as home, mock.patch.dict(os.environ):
    ...     _ = os.environ.pop("SUBCLUST_CACHE", None)  # ignore the user's setting here
    ...     cache = get_cache_dir(data_home=home)
    ...     explicit = get_cache_dir(Path(home) / "features")
    ...     print(cache == Path(os.path.abspath(home)) / "cache", cache.exists(),
    ...           explicit.name)
    True False features
    """
    if cache_dir is None:
        cache_dir = os.environ.get(CACHE_ENV)
    if cache_dir is not None:
        return Path(os.path.abspath(Path(cache_dir).expanduser()))
    home = get_data_home(data_home)
    in_home = home / "cache"
    if (in_home.is_dir() and os.access(in_home, os.W_OK)) or (
        not in_home.exists() and home.is_dir() and os.access(home, os.W_OK)
    ):
        return in_home
    xdg = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(os.path.abspath(Path(xdg).expanduser())) / "subclust"


@functools.lru_cache(maxsize=1)
def _registry():
    text = resources.files("subclust.datasets").joinpath("registry.json").read_text("utf-8")
    return json.loads(text)


def load_registry():
    """Return the registry of benchmark data sets as a dict (a fresh copy).

    Returns
    -------
    registry : dict
        ``registry["datasets"][name]`` has ``title``, ``loader``,
        ``description``, ``homepage``, ``license`` and ``citation`` (a list of
        str); ``registry["files"][relative_path]`` has ``dataset``, ``bytes``,
        ``sha256``, ``url`` (None where no stable download is known),
        ``contents``; optionally ``payload_md5`` (gzip files: the MD5 of the
        decompressed content, accepted in place of the sha256) and
        ``alternative`` (another file from which the loader derives the same data).

    Examples
    --------
    >>> from subclust.datasets import load_registry
    >>> load_registry()["files"]["coil20/COIL20.mat"]["bytes"]
    3022227
    """
    return copy.deepcopy(_registry())


def _file_entry(name):
    files = _registry()["files"]
    if name not in files:
        raise ValueError(f"{name!r} is not a registered data file; known files: {sorted(files)}.")
    return files[name]


# Digests computed in this process, keyed by (path, size, mtime): each file is
# hashed once however many loaders read it, and a replaced file is hashed again.
_DIGESTS = {}
_DIGESTS_LOCK = threading.Lock()


def _digest(path, algorithm, decompress=False):
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, algorithm, decompress)
    with _DIGESTS_LOCK:
        if key in _DIGESTS:
            return _DIGESTS[key]
    h = hashlib.new(algorithm)
    opener = gzip.open if decompress else open
    with opener(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    with _DIGESTS_LOCK:
        _DIGESTS[key] = h.hexdigest()
    return _DIGESTS[key]


def _where_to_get(name, entry, home):
    dataset = _registry()["datasets"][entry["dataset"]]
    source = entry["url"] or f"no stable download URL is known; see {dataset['homepage']}"
    message = (
        f"Put the file at {home / name} (data home {home}, set by the data_home argument "
        f"or the {DATA_ENV} environment variable). Original source: {source}."
    )
    if entry.get("alternative"):
        other = _file_entry(entry["alternative"])
        message += (
            f" Or put {home / entry['alternative']} there instead, from which the loader "
            f"derives the same data (source: {other['url'] or dataset['homepage']})."
        )
    return message


def check_file(name, data_home=None):
    """Check one registered file; return ``(status, path)`` without raising.

    ``status`` is ``"ok"``, ``"missing"``, ``"wrong size"`` or ``"checksum mismatch"``.
    """
    entry = _file_entry(name)
    path = get_data_home(data_home) / name
    if not path.is_file():
        return "missing", path
    if _matches(path, entry):
        return "ok", path
    if path.stat().st_size != entry["bytes"] and "payload_md5" not in entry:
        return "wrong size", path
    return "checksum mismatch", path


def _matches(path, entry):
    # The size check is free and catches truncated downloads before hashing.
    if path.stat().st_size == entry["bytes"] and _digest(path, "sha256") == entry["sha256"]:
        return True
    # Mirrors recompress gzip files: the payload is what must not change.
    if "payload_md5" in entry:
        try:
            return _digest(path, "md5", decompress=True) == entry["payload_md5"]
        except (OSError, EOFError):
            return False
    return False


@validate_params(
    {
        "name": [str],
        "data_home": [str, os.PathLike, None],
        "verify": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def fetch_file(name, data_home=None, verify=True):
    """Return the path of a registered data file, checked against the registry.

    Parameters
    ----------
    name : str
        Path relative to the data home, as listed in the registry, e.g.
        ``"yaleb/ExtendedYaleB_48x42.mat"``.
    data_home : str or path-like, optional
        See :func:`get_data_home`.
    verify : bool, default=True
        Compare size and sha256 with the registry (once per file and process).

    Returns
    -------
    path : pathlib.Path

    Raises
    ------
    FileNotFoundError
        The file is not in the data home; the message says where to put it
        and where it comes from.
    ChecksumError
        The file is there but its content differs from the registered one.
    """
    entry = _file_entry(name)
    home = get_data_home(data_home)
    path = home / name
    if not path.is_file():
        raise FileNotFoundError(
            f"Data file {name!r} not found at {path}. {_where_to_get(name, entry, home)}"
        )
    if verify:
        status, _ = check_file(name, data_home=home)
        if status != "ok":
            raise ChecksumError(
                f"Data file {path} failed verification ({status}): expected {entry['bytes']} "
                f"bytes with sha256 {entry['sha256']}, found {path.stat().st_size} bytes with "
                f"sha256 {_digest(path, 'sha256')}. The file is corrupted or a different "
                f"version; replace it. {_where_to_get(name, entry, home)} "
                "Pass verify=False to read it anyway."
            )
    return path
