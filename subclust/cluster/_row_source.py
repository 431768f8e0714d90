"""Row sources: one interface for in-memory, out-of-core and Dask arrays.

Algorithms that make passes over the rows of ``X`` (K-subspaces, its
initialization) are written once against :class:`RowSource`: a pass is a
map over chunks of rows followed by a reduction. The sources differ only in
how chunks are read and where the map runs:

- :class:`ArraySource`: an in-memory ndarray, chunks mapped by threads;
- :class:`ChunkedSource`: ``np.memmap``, HDF5 (h5py) or zarr arrays, read one
  chunk at a time so that memory stays bounded by the chunk size;
- :class:`DaskSource`: a ``dask.array`` whose row blocks are mapped as Dask
  tasks (on a ``dask.distributed`` cluster if one is active) and reduced
  in a fixed tree, so results are reproducible.
"""

from numbers import Integral

import numpy as np

from subclust.utils.parallel import cpu_budget, thread_map
from subclust.utils.validation import Interval, validate_params

__all__ = ["as_row_source", "is_out_of_core", "ArraySource", "ChunkedSource", "DaskSource"]

DEFAULT_CHUNK_SIZE = 8192


def _is_dask_array(X):
    return type(X).__module__.startswith("dask.array")


@validate_params(
    {
        "X": "no_validation",
    },
    prefer_skip_nested_validation=True,
)
def is_out_of_core(X):
    """Whether ``X`` is read by chunks (memmap, HDF5, zarr) or by Dask blocks.

    Such arrays are validated chunk by chunk while they are read, never
    loaded whole.

    Parameters
    ----------
    X : array-like
        Any two-dimensional data.

    Returns
    -------
    out_of_core : bool

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from subclust.cluster._row_source import is_out_of_core
    >>> is_out_of_core(np.zeros((3, 2)))
    False
    >>> tmp = tempfile.TemporaryDirectory()
    >>> M = np.memmap(os.path.join(tmp.name, "X.dat"), dtype=np.float64, mode="w+", shape=(3, 2))
    >>> is_out_of_core(M)
    True
    >>> del M
    >>> tmp.cleanup()
    """
    module = type(X).__module__
    return isinstance(X, np.memmap) or module.startswith(("dask.array", "h5py", "zarr"))


@validate_params(
    {
        "X": ["array-like"],
        "chunk_size": [Interval(Integral, 1, None, closed="left"), None],
    },
    prefer_skip_nested_validation=True,
)
def as_row_source(X, chunk_size=None):
    """Wrap ``X`` in the row source suited to its type.

    Parameters
    ----------
    X : ndarray, np.memmap, h5py.Dataset, zarr.Array or dask.array.Array
        Two-dimensional data, one sample per row.
    chunk_size : int, optional
        Rows per chunk (ignored for Dask, whose row blocks are the chunks).

    Returns
    -------
    source : RowSource
        An :class:`ArraySource`, :class:`ChunkedSource` or :class:`DaskSource`.

    Examples
    --------
    A pass over the rows: per-row outputs are concatenated, the extras (here
    partial sums) reduced, whatever the kind of array.

    >>> import os, tempfile
    >>> import numpy as np
    >>> from subclust.cluster._row_source import as_row_source
    >>> def squared_norms(chunk):
    ...     sq = np.einsum("ij,ij->i", chunk, chunk)
    ...     return (sq,), sq.sum()
    >>> X = np.arange(12.0).reshape(6, 2)
    >>> source = as_row_source(X, chunk_size=4)
    >>> type(source).__name__, [(s.start, s.stop) for s in source.slices()]
    ('ArraySource', [(0, 4), (4, 6)])
    >>> (norms,), total = source.map_reduce(squared_norms, reduce=lambda a, b: a + b)
    >>> norms.tolist(), float(total)
    ([1.0, 13.0, 41.0, 85.0, 145.0, 221.0], 506.0)

    The same pass over a memory-mapped file, read chunk by chunk:

    >>> tmp = tempfile.TemporaryDirectory()
    >>> M = np.memmap(os.path.join(tmp.name, "X.dat"), dtype=np.float64, mode="w+", shape=(6, 2))
    >>> M[:] = X
    >>> chunked = as_row_source(M, chunk_size=4)
    >>> (norms_mm,), total_mm = chunked.map_reduce(squared_norms, reduce=lambda a, b: a + b)
    >>> type(chunked).__name__, bool(np.array_equal(norms_mm, norms)), float(total_mm)
    ('ChunkedSource', True, 506.0)
    >>> del M, chunked
    >>> tmp.cleanup()
    """
    chunk_size = chunk_size or DEFAULT_CHUNK_SIZE
    if _is_dask_array(X):
        return DaskSource(X)
    if is_out_of_core(X):
        return ChunkedSource(X, chunk_size)
    return ArraySource(X, chunk_size)


def _concat_rows(rows):
    """Concatenate per-chunk row outputs (tuples of arrays), field by field."""
    return tuple(np.concatenate(parts) for parts in zip(*rows))


def _reduce_in_order(values, reduce):
    values = [v for v in values if v is not None]
    if not values:
        return None
    total = values[0]
    for value in values[1:]:
        total = reduce(total, value)
    return total


class RowSource:
    """Rows of a 2-D array read in chunks; see the module docstring.

    Passes map chunks in parallel threads (:func:`subclust.utils.parallel.thread_map`):
    the chunks are split into contiguous blocks, one per thread, each thread
    with its share of the BLAS threads, so that the per-chunk work that is
    not a GEMM (reading, grouping rows, arg-min) runs in parallel too.
    Extras are reduced within a block, then across blocks in a fixed order,
    so results do not depend on scheduling.
    """

    def __init__(self, X, chunk_size):
        if len(X.shape) != 2:
            raise ValueError(f"Expected 2D array, got an array of shape {tuple(X.shape)}.")
        self.X = X
        self.chunk_size = chunk_size
        self.n_samples, self.n_features = (int(s) for s in X.shape)
        floating = X.dtype in (np.float32, np.float64)
        self.dtype = np.dtype(X.dtype) if floating else np.dtype(np.float64)

    def slices(self):
        step = self.chunk_size
        return [slice(a, min(a + step, self.n_samples)) for a in range(0, self.n_samples, step)]

    def read(self, sl):
        """Chunk ``sl`` of rows as a finite float ndarray."""
        chunk = np.asarray(self.X[sl], dtype=self.dtype)
        if not np.all(np.isfinite(chunk)):
            raise ValueError(
                f"Input X contains NaN or infinity (in rows {sl.start} to {sl.stop - 1}); "
                "remove or impute those values first."
            )
        return chunk

    def rows(self, indices):
        """The rows at ``indices`` (any order), as a float ndarray."""
        indices = np.asarray(indices)
        order = np.argsort(indices)
        out = np.empty((len(indices), self.n_features), dtype=self.dtype)
        out[order] = np.asarray(self.X[indices[order]], dtype=self.dtype)
        return out

    def map_reduce(self, func, vectors=(), reduce=None):
        """Apply ``func`` to every chunk; concatenate row outputs, reduce the rest.

        Parameters
        ----------
        func : callable
            ``func(X_chunk, *vector_chunks) -> (row_outputs, extra)`` where
            ``row_outputs`` is a tuple of arrays with one entry per row of the
            chunk and ``extra`` is None or a value to reduce.
        vectors : sequence of ndarray of shape (n_samples, ...)
            Per-row arrays sliced alongside ``X``.
        reduce : callable, optional
            ``reduce(a, b) -> a`` combining two extras (may update ``a``).

        Returns
        -------
        row_outputs : tuple of ndarray
        extra : reduced extras, or None
        """
        slices = self.slices()
        blocks = np.array_split(np.arange(len(slices)), min(cpu_budget(), len(slices)))

        def run(block):
            rows, extra = [], None
            for i in block:
                part = slices[i]
                chunk_rows, chunk_extra = func(self.read(part), *(v[part] for v in vectors))
                rows.append(chunk_rows)
                extra = _reduce_in_order([extra, chunk_extra], reduce)
            return rows, extra

        outputs = thread_map(run, blocks)
        rows = [chunk_rows for block_rows, _ in outputs for chunk_rows in block_rows]
        return _concat_rows(rows), _reduce_in_order([e for _, e in outputs], reduce)


class ArraySource(RowSource):
    """An in-memory array, validated beforehand: chunks are views."""

    def read(self, sl):
        return self.X[sl]

    def rows(self, indices):
        return self.X[np.asarray(indices)]


class ChunkedSource(RowSource):
    """Out-of-core arrays (memmap, HDF5, zarr): each thread holds one chunk at a time.

    Chunks are read into memory, converted to float and checked for NaN and
    infinity as they are read.
    """


class DaskSource(RowSource):
    """A ``dask.array`` (rows split in blocks, columns in one block).

    Each row block is mapped as a Dask task, wherever Dask schedules it (the
    active ``dask.distributed`` client if there is one), and the extras are
    reduced in a fixed binary tree of tasks.
    """

    def __init__(self, X):
        if X.ndim == 2 and X.numblocks[1] != 1:
            X = X.rechunk({1: -1})
        super().__init__(X, chunk_size=None)
        self.X = X.astype(self.dtype)

    def slices(self):
        stops = np.cumsum(self.X.chunks[0])
        return [slice(int(b - n), int(b)) for b, n in zip(stops, self.X.chunks[0])]

    def rows(self, indices):
        indices = np.asarray(indices)
        order = np.argsort(indices)
        out = np.empty((len(indices), self.n_features), dtype=self.dtype)
        out[order] = self.X[indices[order]].compute()
        return out

    def map_reduce(self, func, vectors=(), reduce=None):
        import dask

        blocks = self.X.to_delayed()[:, 0]
        checked = dask.delayed(_checked_chunk)
        tasks = [
            dask.delayed(func, nout=2)(checked(block, sl.start), *(v[sl] for v in vectors))
            for block, sl in zip(blocks, self.slices())
        ]
        extras = [extra for _, extra in tasks]
        while reduce is not None and len(extras) > 1:
            pairs = [extras[i : i + 2] for i in range(0, len(extras), 2)]
            extras = [dask.delayed(_reduce_in_order)(p, reduce) for p in pairs]
        rows, extra = dask.compute([rows for rows, _ in tasks], extras[0] if reduce else None)
        return _concat_rows(rows), extra


def _checked_chunk(chunk, start):
    if not np.all(np.isfinite(chunk)):
        raise ValueError(
            f"Input X contains NaN or infinity (in the block starting at row {start}); "
            "remove or impute those values first."
        )
    return chunk
