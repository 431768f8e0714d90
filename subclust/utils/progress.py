"""One progress convention for long steps: tqdm bars on stderr, shown only when asked.

``progress=None`` means "on when stderr is a terminal": a pipe, a log file or a
test never gets bars; ``True`` forces them, ``False`` (``--quiet``) silences them.
Estimators do not use this module: they report through their ``verbose``
parameter, as scikit-learn's do.

For tests only, the environment variable ``SUBCLUST_TEST_STAGE_LOG`` names a
file to which :class:`Stages` appends the name of each stage as it begins, so
that a test can tell which phase a running command has reached.
"""

import os
import sys

__all__ = ["Stages", "progress_bar", "progress_enabled"]

_STAGE_LOG_VARIABLE = "SUBCLUST_TEST_STAGE_LOG"


def progress_enabled(progress=None):
    """Whether to show progress: ``progress`` itself, or None for "stderr is a terminal".

    Examples
    --------
    >>> from subclust.utils.progress import progress_enabled
    >>> progress_enabled(True), progress_enabled(False)
    (True, False)
    """
    if progress is None:
        stream = sys.stderr
        return stream is not None and hasattr(stream, "isatty") and stream.isatty()
    return bool(progress)


def progress_bar(iterable=None, *, progress=None, total=None, desc=None, unit="it"):
    """A tqdm bar on stderr over ``iterable`` (or updated by hand), off unless enabled.

    Parameters
    ----------
    iterable : iterable, optional
    progress : bool or None, default=None
        See :func:`progress_enabled`.
    total : int, optional
        Number of items, when ``iterable`` has no length.
    desc, unit : str
        Label of the bar and of its items.

    Returns
    -------
    bar : tqdm.tqdm
        Iterate over it, or call ``update`` and ``close``.

    Examples
    --------
    >>> from subclust.utils.progress import progress_bar
    >>> sum(progress_bar(range(4), progress=False, desc="adding"))
    6
    """
    from tqdm.auto import tqdm

    return tqdm(
        iterable, total=total, desc=desc, unit=unit, file=sys.stderr, leave=False,
        disable=not progress_enabled(progress), dynamic_ncols=True,
    )


class Stages:
    """A bar over the named stages of a command, advanced by :meth:`begin`.

    Parameters
    ----------
    names : sequence of str
        The stages, in order.
    progress : bool or None, default=None
        See :func:`progress_enabled`.
    desc : str, optional
        Prefix of the bar.

    Examples
    --------
    >>> from subclust.utils.progress import Stages
    >>> with Stages(["read", "fit"], progress=False) as stages:
    ...     stages.begin("read")
    ...     stages.begin("fit")
    >>> stages.done
    ['read', 'fit']
    """

    def __init__(self, names, *, progress=None, desc=None):
        self.names = list(names)
        self.progress = progress
        self.desc = desc
        self.done = []
        self._bar = None

    def __enter__(self):
        self._bar = progress_bar(
            total=len(self.names), progress=self.progress, desc=self.desc, unit="stage"
        )
        return self

    def begin(self, name):
        """Mark the start of stage ``name`` (the previous one is then complete)."""
        if self.done:
            self._bar.update(1)
        self.done.append(name)
        self._bar.set_postfix_str(name)
        log = os.environ.get(_STAGE_LOG_VARIABLE)
        if log:
            with open(log, "a") as f:
                f.write(name + "\n")

    def __exit__(self, *exc_info):
        self._bar.close()
        return False
