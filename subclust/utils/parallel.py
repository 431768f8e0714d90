"""One threading policy for every parallel region of the library.

The library runs work in parallel itself -- chunks of rows of K-subspaces,
its restarts, column blocks of self-expression, per-cluster factorizations,
worker processes (``n_jobs``), torch training -- and every worker calls a
BLAS (or torch) with a thread pool of its own. Nested pools multiply: two
workers each calling a two-thread BLAS put four busy threads on two cores.
Worse, OpenBLAS threads spin while they wait for each other, so on a
machine busy with other work every small BLAS call waits for a thread that
is not running: the eigendecompositions of K-subspaces (LAPACK loops of
small BLAS-2 calls) ran tens of times slower beside a process keeping the
cores busy, and as fast as on an idle machine with one BLAS thread.

The policy, applied by the helpers below:

- the budget (:func:`cpu_budget`) is what the caller allows: the cores this
  process may run on, lowered by the BLAS limit in force
  (``threadpoolctl.threadpool_limits``, ``OPENBLAS_NUM_THREADS``...);
- a region of ``n`` workers (:func:`thread_map`, :func:`process_map`) gives
  each worker ``max(1, budget // n)`` BLAS threads, so workers times BLAS
  threads never exceed the budget; the workers themselves default to the
  budget, or to ``n_jobs`` (:func:`effective_n_jobs`) where a function takes
  one;
- loops of small factorizations run on one BLAS thread
  (``blas_threads(1)``), parallel across their items where that pays, as
  scikit-learn's KMeans runs its iterations with one BLAS thread and
  parallel chunks;
- the k-means of the spectral step (scikit-learn's, on OpenMP threads) runs on
  one thread (:func:`openmp_threads`): its iterations on K-dimensional points
  are short, and every one of them ends at a barrier that waits for threads a
  busy machine has descheduled;
- torch's intra-op threads follow the same budget (:func:`torch_threads`).

Limits hold inside their region only and are restored on leaving it, also
when regions overlap in several threads; a region nested in a worker sees
the worker's share as its budget.
"""

import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import threadpoolctl
from threadpoolctl import ThreadpoolController

__all__ = [
    "blas_threads",
    "cpu_budget",
    "effective_n_jobs",
    "openmp_threads",
    "process_map",
    "thread_map",
    "torch_threads",
]

_lock = threading.Lock()
_controller = None
# BLAS limits of the regions in force, in any thread, and the caller's limits to restore.
_region_limits = []
_caller_limits = None


def _blas():
    """A cached controller of the BLAS libraries (inspecting them anew costs about 1 ms)."""
    global _controller
    if _controller is None:
        _controller = ThreadpoolController().select(user_api="blas")
    return _controller


def _set_blas_limit(limit):
    """Set the BLAS limit from this thread (under ``_lock``); return a limiter that restores.

    threadpoolctl lets one thread at a time set a process-wide OpenBLAS pool
    and silently ignores the others; regions are serialized by ``_lock``, so
    the thread entering one takes control.
    """
    _release_control()
    return _blas().limit(limits=limit)


def _release_control():
    clear = getattr(getattr(threadpoolctl, "OpenBLASController", None),
                    "clear_controlling_thread", None)
    if clear is not None:
        clear(force=True)


def _process_cores():
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def cpu_budget():
    """Threads the caller allows the library: cores, lowered by the BLAS limit in force.

    Inside a region of the library (a worker of :func:`thread_map`, a
    ``blas_threads`` block) this is the region's share.

    Returns
    -------
    budget : int
        At least 1.

    Examples
    --------
    >>> from threadpoolctl import threadpool_limits
    >>> from subclust.utils.parallel import cpu_budget
    >>> with threadpool_limits(1):
    ...     cpu_budget()
    1
    """
    blas = [lib["num_threads"] for lib in _blas().info()]
    return max(1, min([_process_cores(), *blas]))


def effective_n_jobs(n_jobs):
    """Workers for ``n_jobs``: None is 1, -1 the whole budget, -2 all but one...

    Parameters
    ----------
    n_jobs : int or None
        A positive count, or a negative one counted from :func:`cpu_budget`
        as in joblib.

    Returns
    -------
    n_workers : int

    Examples
    --------
    >>> from threadpoolctl import threadpool_limits
    >>> from subclust.utils.parallel import effective_n_jobs
    >>> effective_n_jobs(None), effective_n_jobs(3)
    (1, 3)
    >>> with threadpool_limits(2):
    ...     effective_n_jobs(-1) <= 2
    True
    """
    if n_jobs is None:
        return 1
    if n_jobs == 0:
        raise ValueError("n_jobs == 0 has no meaning; give a positive count or -1 (every core).")
    if n_jobs < 0:
        return max(1, cpu_budget() + 1 + int(n_jobs))
    return int(n_jobs)


@contextlib.contextmanager
def blas_threads(n_threads):
    """Run with at most ``n_threads`` BLAS threads (never more than in force); thread-safe.

    The BLAS thread count is process-wide: while regions overlap in several
    threads the lowest limit holds, and the caller's limits come back when
    the last region ends.

    Parameters
    ----------
    n_threads : int or None
        None leaves the limits as they are.

    Yields
    ------
    limit : int
        The BLAS threads in force inside the region.

    Examples
    --------
    >>> from subclust.utils.parallel import blas_threads, cpu_budget
    >>> before = cpu_budget()
    >>> with blas_threads(1) as limit:
    ...     limit, cpu_budget()
    (1, 1)
    >>> cpu_budget() == before
    True
    """
    global _caller_limits
    if n_threads is None:
        yield cpu_budget()
        return
    with _lock:
        limit = max(1, min(int(n_threads), cpu_budget()))
        if not _region_limits:
            _caller_limits = _set_blas_limit(limit)
        elif limit < min(_region_limits):
            _set_blas_limit(limit)
        _region_limits.append(limit)
    try:
        yield limit
    finally:
        with _lock:
            _region_limits.remove(limit)
            if not _region_limits:
                _release_control()
                _caller_limits.restore_original_limits()
                _caller_limits = None
                _release_control()
            elif limit < min(_region_limits):
                _set_blas_limit(min(_region_limits))


@contextlib.contextmanager
def openmp_threads(n_threads):
    """Run this thread's OpenMP loops with at most ``n_threads`` threads; restore them after.

    OpenMP (scikit-learn's k-means and neighbour searches) keeps its thread
    count per calling thread, so regions in different threads do not interact.

    Parameters
    ----------
    n_threads : int
        Never more than the limit in force.

    Yields
    ------
    limit : int or None
        The OpenMP threads in force inside the region; None where no OpenMP
        library is loaded.

    Examples
    --------
    >>> import sklearn.cluster  # loads scikit-learn's OpenMP runtime
    >>> from subclust.utils.parallel import openmp_threads
    >>> with openmp_threads(1) as limit:
    ...     limit
    1
    """
    openmp = ThreadpoolController().select(user_api="openmp")
    in_force = [lib["num_threads"] for lib in openmp.info()]
    if not in_force:
        yield None
        return
    limit = max(1, min(int(n_threads), *in_force))
    with openmp.limit(limits=limit):
        yield limit


def thread_map(function, items, n_workers=None):
    """``[function(item) for item in items]`` in threads, each with its share of the BLAS.

    Parameters
    ----------
    function : callable
        Should release the GIL for most of its time (NumPy, SciPy, torch).
    items : iterable
    n_workers : int, optional
        Threads; default (and at most useful): :func:`cpu_budget`. Never
        more than the items.

    Returns
    -------
    results : list
        In the order of ``items``.

    Examples
    --------
    >>> from subclust.utils.parallel import cpu_budget, thread_map
    >>> thread_map(lambda x: x * x, range(5), n_workers=2)
    [0, 1, 4, 9, 16]
    >>> shares = thread_map(lambda _: cpu_budget(), range(4))
    >>> all(share * min(cpu_budget(), 4) <= cpu_budget() for share in shares)
    True
    """
    items = list(items)
    budget = cpu_budget()
    n_workers = min(budget if n_workers is None else n_workers, len(items))
    if n_workers <= 1:
        return [function(item) for item in items]
    with blas_threads(budget // n_workers), ThreadPoolExecutor(n_workers) as pool:
        return list(pool.map(function, items))


def _with_blas_share(function, item, n_threads):
    """Run one item in a worker process with ``n_threads`` BLAS threads."""
    with blas_threads(n_threads):
        return function(item)


def process_map(function, items, n_jobs, ordered=True):
    """``function`` over ``items`` in ``n_jobs`` worker processes (joblib), each with its share.

    Parameters
    ----------
    function : callable
        Picklable.
    items : iterable
    n_jobs : int or None
        See :func:`effective_n_jobs`; one worker runs here, in this process.
    ordered : bool, default=True
        False yields results as the workers finish them.

    Returns
    -------
    results : iterator
    """
    n_workers = effective_n_jobs(n_jobs)
    if n_workers == 1:
        return map(function, items)
    from joblib import Parallel, delayed

    share = max(1, cpu_budget() // n_workers)
    return Parallel(n_jobs=n_workers, return_as="generator" if ordered else "generator_unordered")(
        delayed(_with_blas_share)(function, item, share) for item in items
    )


@contextlib.contextmanager
def torch_threads(n_threads=None):
    """Run with torch's intra-op threads set from the budget; restore them after.

    Parameters
    ----------
    n_threads : int, optional
        Wanted threads; default: :func:`cpu_budget`. Never more than the
        budget, nor than the caller's own ``torch.set_num_threads``.

    Yields
    ------
    n_threads : int
        The threads set.

    Examples
    --------
    >>> import torch
    >>> from subclust.utils.parallel import torch_threads
    >>> before = torch.get_num_threads()
    >>> with torch_threads(1):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    import torch

    previous = torch.get_num_threads()
    wanted = cpu_budget() if n_threads is None else int(n_threads)
    threads = max(1, min(wanted, cpu_budget(), previous))
    torch.set_num_threads(threads)
    try:
        yield threads
    finally:
        torch.set_num_threads(previous)
