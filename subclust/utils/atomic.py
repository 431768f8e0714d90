"""Atomic writes of a file or of a whole directory: a temporary sibling, then a rename.

A reader never sees a half-written file or a directory with some of its
files, and a failure or an interruption leaves the old content (or none) in
place, never a mixture. Temporary paths start with a dot and end with
``.tmp``, beside their target (same file system, so the rename is atomic).

Temporary paths being written are registered, so that an interrupted program
can remove them before a hard exit (:func:`discard_temporaries`), which
``subclust`` does on Ctrl-C.
"""

import contextlib
import os
import shutil
import threading
import time
import uuid
from pathlib import Path

__all__ = ["atomic_directory", "discard_temporaries", "save_figure", "write_atomic", "write_text"]

# Documented for tests only: seconds to wait before each atomic file write, which makes
# the writing phase of a command long enough to interrupt it deterministically.
_WRITE_DELAY_VARIABLE = "SUBCLUST_TEST_WRITE_DELAY"

# id -> callable undoing one write in progress (removing its temporary path, putting back
# a directory moved aside); see discard_temporaries.
_pending = {}
_pending_lock = threading.Lock()


def _temporary_sibling(path):
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


@contextlib.contextmanager
def _registered(undo):
    key = object()
    with _pending_lock:
        _pending[key] = undo
    try:
        yield
    finally:
        with _pending_lock:
            _pending.pop(key, None)


def discard_temporaries():
    """Undo every atomic write still in progress: remove its temporary file or directory.

    For a program about to end without unwinding its stack (``os._exit`` on
    Ctrl-C), so that no temporary path is left behind and a directory being
    replaced is put back. Safe to call from another thread than the writer's.

    Examples
    --------
    >>> from subclust.io import discard_temporaries
    >>> discard_temporaries()  # nothing in progress: nothing to do
    """
    with _pending_lock:
        undos = list(_pending.values())
        _pending.clear()
    for undo in undos:
        undo()


def _remove(path):
    """Remove a file or a directory tree; tolerate a writer still adding files to it."""
    for _ in range(10):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        if not os.path.lexists(path):
            return
        time.sleep(0.01)


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
    delay = os.environ.get(_WRITE_DELAY_VARIABLE)
    if delay:
        time.sleep(float(delay))
    tmp = _temporary_sibling(path)
    with _registered(lambda: _remove(tmp)):
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


def write_text(path, text, force=False):
    """Write ``text`` to ``path`` in UTF-8, atomically (:func:`write_atomic`).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from subclust.io import write_text
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = write_text(pathlib.Path(folder) / "notes.txt", "d = 3\\n")
    ...     path.read_text()
    'd = 3\\n'
    """
    return write_atomic(path, lambda f: f.write(text.encode("utf-8")), force=force)


def save_figure(figure, path, *, dpi=110, force=False):
    """Save a matplotlib figure to ``path`` as a PNG image, atomically (:func:`write_atomic`).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from matplotlib.figure import Figure
    >>> from subclust.io import save_figure
    >>> figure = Figure(figsize=(1, 1))
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = save_figure(figure, pathlib.Path(folder) / "plot.png", dpi=20)
    ...     path.read_bytes()[:4]
    b'\\x89PNG'
    """
    return write_atomic(path, lambda f: figure.savefig(f, format="png", dpi=dpi), force=force)


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


@contextlib.contextmanager
def atomic_directory(path, *, force=False, replaceable=None):
    """Build a directory whole in a temporary sibling, then rename it to ``path``.

    The body of the ``with`` block writes its files into the yielded
    temporary directory. If it completes, the directory appears at ``path``
    in one rename; if it raises (or is interrupted), the temporary directory
    is removed and ``path`` is left as it was.

    Parameters
    ----------
    path : str or path-like
        The directory to create. Its parent is created if missing. An
        existing empty directory is replaced.
    force : bool, default=False
        Replace an existing non-empty directory at ``path``, only once the
        new one is complete: the old one is renamed aside, the new one renamed
        in, then the old one removed; if renaming the new one in fails, the
        old one is put back.
    replaceable : callable, optional
        Called with the existing directory's path before anything is
        written, when it is not empty and ``force`` is True; it returns None
        if the directory may be replaced, else the reason why not (a string),
        raised as a ``FileExistsError``. A guard against replacing a
        directory that holds something else than an earlier result.

    Yields
    ------
    tmp : pathlib.Path
        The temporary directory to fill.

    Raises
    ------
    FileExistsError
        ``path`` is a non-empty directory and ``force`` is False, or
        ``replaceable`` refused it; ``path`` is a file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from subclust.io import atomic_directory
    >>> tmp = tempfile.TemporaryDirectory()
    >>> out = pathlib.Path(tmp.name) / "results"
    >>> with atomic_directory(out) as building:
    ...     _ = (building / "a.txt").write_text("a")
    ...     out.exists()  # not yet: the directory appears whole or not at all
    False
    >>> sorted(p.name for p in out.iterdir())
    ['a.txt']
    >>> with atomic_directory(out, force=True) as building:
    ...     _ = (building / "b.txt").write_text("b")
    ...     raise RuntimeError("failed half-way")
    Traceback (most recent call last):
    ...
    RuntimeError: failed half-way
    >>> sorted(p.name for p in pathlib.Path(tmp.name).iterdir())  # old one intact, no leftovers
    ['results']
    >>> sorted(p.name for p in out.iterdir())
    ['a.txt']
    >>> tmp.cleanup()
    """
    path = Path(os.path.abspath(path))  # "." has no name to make a sibling of
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"{path} is a file, not a directory; choose another name.")
    if path.is_dir() and any(path.iterdir()):
        if not force:
            raise FileExistsError(f"{path} exists and is not empty; pass force=True to replace it.")
        reason = replaceable(path) if replaceable is not None else None
        if reason is not None:
            raise FileExistsError(reason)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary_sibling(path)
    aside = _temporary_sibling(path)

    def undo():
        _remove(tmp)
        if os.path.lexists(aside):
            if not os.path.lexists(path):
                os.rename(aside, path)
            else:
                _remove(aside)

    with _registered(undo):
        try:
            tmp.mkdir()
            yield tmp
            _swap_in(tmp, path, aside, force)
        except BaseException:
            undo()
            raise
        _remove(aside)


def _swap_in(tmp, path, aside, force):
    """Rename ``tmp`` to ``path``, moving an existing ``path`` to ``aside`` first."""
    if path.is_dir() and any(path.iterdir()):
        if not force:  # appeared while we were writing
            raise FileExistsError(f"{path} exists and is not empty; pass force=True to replace it.")
        os.rename(path, aside)
    elif path.is_dir():
        path.rmdir()  # an empty directory: nothing to keep
    os.rename(tmp, path)  # on failure, undo() puts the old directory back
