"""Atomic file writes: a temporary file beside the target, then a rename.

A reader never sees a half-written file, and a crash leaves the old file (or
none) in place, never a truncated one.
"""

import os
import uuid
from pathlib import Path

__all__ = ["write_atomic"]


def write_atomic(path, writer, force=False):
    """Write a file atomically: ``writer`` fills a temporary file, which is then renamed.

    Parameters
    ----------
    path : str or path-like
        The file to create. Its directory must exist.
    writer : callable
        Called once with a binary file object open for writing; it writes the
        content (``np.savez(f, ...)``, ``figure.savefig(f, format="png")``,
        ``f.write(text.encode())``...).
    force : bool, default=False
        Replace ``path`` if it exists. Without it an existing file is never
        touched: the temporary file is hard-linked to ``path``, which fails if
        ``path`` appeared meanwhile, so even a concurrent writer cannot be
        overwritten.

    Returns
    -------
    path : pathlib.Path

    Raises
    ------
    FileExistsError
        ``path`` exists and ``force`` is False.
    FileNotFoundError
        The directory of ``path`` does not exist.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from subclust.io import write_atomic
    >>> tmp = tempfile.TemporaryDirectory()
    >>> target = pathlib.Path(tmp.name) / "hello.txt"
    >>> _ = write_atomic(target, lambda f: f.write(b"hello"))
    >>> target.read_text()
    'hello'
    >>> write_atomic(target, lambda f: f.write(b"again"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    FileExistsError: ... exists; pass force=True to overwrite it.
    >>> tmp.cleanup()
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"Directory {path.parent} does not exist; create it first.")
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory; give a file name.")
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists; pass force=True to overwrite it.")
    # Same directory as the target, so that the rename never crosses file systems.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "xb") as f:
            writer(f)
            f.flush()
            os.fsync(f.fileno())
        if force:
            os.replace(tmp, path)
        else:
            _link_new(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _link_new(tmp, path):
    """Move ``tmp`` to ``path`` only if ``path`` does not exist (atomically where possible)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise FileExistsError(f"{path} exists; pass force=True to overwrite it.") from None
    except OSError:
        # No hard links on this file system (some network or FAT mounts): check, then rename.
        if path.exists():
            raise FileExistsError(f"{path} exists; pass force=True to overwrite it.") from None
        os.replace(tmp, path)
