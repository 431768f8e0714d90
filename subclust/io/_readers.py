"""Read embeddings and images from files, without ever unpickling anything.

Embeddings are a 2-D float array, one row per sample, read from ``.npy``,
``.npz``, delimited text (``.csv``, ``.tsv``, ``.txt``), ``.parquet``, MATLAB
``.mat``, PyTorch ``.pt`` or HDF5 ``.h5``; a folder of images (PNG,
JPEG, PGM...) becomes scattering-transform features
(:func:`subclust.datasets.scattering_features`). Every reader returns a
:class:`sklearn.utils.Bunch` like the data-set loaders do, and every problem
with the input (missing file, wrong shape, NaN, non-numeric column, pickled
data) is a one-line ``ValueError`` or ``FileNotFoundError`` saying what was
wrong and what to do.
"""

import csv
import functools
import numbers
import os
import pickle
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from subclust.utils.validation import check_choice

__all__ = [
    "EMBEDDING_FORMATS",
    "IMAGE_EXTENSIONS",
    "IMAGE_FEATURES",
    "check_embeddings",
    "image_feature_params",
    "image_features",
    "read_embeddings",
    "read_image_folder",
    "read_images",
    "read_labels",
]

#: File extensions read by :func:`read_embeddings`.
EMBEDDING_FORMATS = (
    ".npy", ".npz", ".csv", ".tsv", ".txt", ".parquet", ".mat", ".pt", ".h5", ".hdf5",
)  # fmt: skip
# Delimited text files (see _text_layout).
_TEXT_FORMATS = (".csv", ".tsv", ".txt")
# Files read by read_labels: all but Parquet.
_LABEL_FORMATS = tuple(suffix for suffix in EMBEDDING_FORMATS if suffix != ".parquet")
#: Image files read by :func:`read_image_folder` (case-insensitive): the formats image
#: data sets ship in that Pillow reads (the AT&T faces are PGM files).
IMAGE_EXTENSIONS = (
    ".png", ".jpg", ".jpeg", ".pgm", ".ppm", ".bmp", ".tif", ".tiff", ".gif", ".webp",
)  # fmt: skip
#: Features of images (:func:`image_feature_params`).
IMAGE_FEATURES = ("scattering", "pixels", "face")
# Images per call of the scattering transform when features are computed with a progress bar.
_FEATURE_CHUNK = 2048
# Keys tried, in order, when a file of named arrays holds several and none is named
# ("fea" names the data in the .mat files of the face and object benchmarks, "x" the
# point tracks of Hopkins 155).
_DATA_KEYS = ("X", "data", "embeddings", "features", "fea", "x")
# Keys tried, in order, for the labels of a file of named arrays that holds several.
_LABEL_KEYS = ("labels", "y", "target", "gnd")

_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK\x03\x04"
_NO_PICKLE = (
    "subclust never unpickles files (it could run arbitrary code): save plain numeric arrays, "
    "e.g. np.save(path, X.astype(np.float32))."
)


def _existing_file(path, what="file"):
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{what.capitalize()} {path} does not exist.")
    if path.is_dir():
        raise ValueError(f"{path} is a directory, expected a {what}.")
    return path


def _magic(path, n=8):
    with open(path, "rb") as f:
        return f.read(n)


def _pickle_error(path):
    return ValueError(f"{path} holds pickled Python objects; {_NO_PICKLE}")


def _load_npy(path):
    head = _magic(path)
    if not head.startswith(_NPY_MAGIC):
        if head[:1] == b"\x80":
            raise _pickle_error(path)
        raise ValueError(f"{path} is not a .npy file (no NumPy header); write it with np.save.")
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as error:
        if "pickle" in str(error) or "Object arrays" in str(error):
            raise _pickle_error(path) from None
        raise ValueError(f"{path} could not be read as .npy: {error}") from None


def _npz_arrays(path, remedy="write it again with np.savez"):
    """The arrays of an .npz archive, opened without pickle; object arrays refused.

    A truncated or corrupted archive (bad CRC, damaged array header) is a
    ``ValueError`` naming the file and ending with ``remedy``.
    """
    if not _magic(path).startswith(_ZIP_MAGIC):
        if _magic(path)[:1] == b"\x80":
            raise _pickle_error(path)
        raise ValueError(f"{path} is not an .npz file (not a zip archive); write it with np.savez.")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except ValueError as error:
        if "pickle" in str(error) or "Object arrays" in str(error):
            raise ValueError(f"{path} holds an object array (pickled data); {_NO_PICKLE}") from None
        raise _damaged(path, error, remedy) from None
    except (zipfile.BadZipFile, zlib.error, EOFError, KeyError) as error:
        raise _damaged(path, error, remedy) from None


def _damaged(path, error, remedy):
    detail = " ".join(str(error).split()) or type(error).__name__
    return ValueError(f"{path} is truncated or corrupted ({detail}); {remedy}.")


def _pick_key(arrays, path, key):
    if key is not None:
        if key not in arrays:
            raise ValueError(f"{path} has no array {key!r}; its arrays are {sorted(arrays)}.")
        return key
    if len(arrays) == 1:
        return next(iter(arrays))
    if not arrays:
        raise ValueError(f"{path} holds no 2-D array of numbers to read.")
    for candidate in _DATA_KEYS:
        if candidate in arrays:
            return candidate
    raise ValueError(
        f"{path} holds several arrays {sorted(arrays)}; name the embeddings with key= "
        f"(--key on the command line), or call the array one of {list(_DATA_KEYS)}."
    )


def _mat_arrays(path):
    """The arrays of numbers and of text of a MATLAB ``.mat`` file, by name, in MATLAB's shape.

    scipy reads MATLAB 4 to 7.2 files; a 7.3 file is an HDF5 file, read with
    h5py. Cells and structures are left out: they hold no embeddings.
    """
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    try:
        contents = loadmat(path)
    except NotImplementedError:  # scipy's answer to a MATLAB 7.3 file
        contents = _hdf5_mat_arrays(path)
    except (MatReadError, ValueError, TypeError, IndexError, OSError, EOFError,
            zlib.error) as error:  # what scipy raises on a damaged or foreign file
        remedy = "save it again with MATLAB's save or scipy.io.savemat"
        raise _damaged(path, error, remedy) from None
    return {
        name: np.ravel(value) if value.ndim == 2 and 1 in value.shape else value
        for name, value in contents.items()
        if not name.startswith("__") and isinstance(value, np.ndarray)
        and value.dtype.kind in "biufU"
    }  # fmt: skip


def _hdf5_mat_arrays(path):
    arrays = _hdf5_arrays(path, "save it again with MATLAB's save(path, ..., '-v7')")
    # HDF5 lists MATLAB's column-major dimensions in reverse: .T restores MATLAB's shape.
    # Variables are at the top; groups hold structures and cells, left out as scipy does.
    return {name: value.T for name, value in arrays.items() if "/" not in name}


def _hdf5_arrays(path, remedy="write it again with h5py"):
    """The numeric and text data sets of an HDF5 file, by their path in it ('group/name')."""
    try:
        import h5py
    except ImportError:
        raise ValueError(
            f"{path} is an HDF5 file: install h5py (the hdf5 extra) to read it, or {remedy}."
        ) from None
    arrays = {}

    def keep(name, item):
        if not isinstance(item, h5py.Dataset):
            return
        if h5py.check_string_dtype(item.dtype) is not None:
            arrays[name] = np.asarray(item.asstr()[()], dtype=str)
        elif item.dtype.kind in "biuf":
            arrays[name] = np.asarray(item)

    try:
        with h5py.File(path, "r") as f:
            f.visititems(keep)
    except OSError as error:  # h5py's answer to a file that is not HDF5, or is damaged
        raise _damaged(path, error, remedy) from None
    return arrays


def _torch_arrays(path):
    """The tensors of a PyTorch file (one tensor, or a dict of them) as arrays, by name.

    Read with ``weights_only=True``: tensors and containers of them, never
    arbitrary objects (the same guarantee as ``allow_pickle=False``).
    """
    remedy = "save a tensor or a dict of tensors with torch.save"
    try:
        import torch
    except ImportError:
        raise ValueError(
            f"{path} is a PyTorch file: install torch (the diffusion extra) to read it, or "
            "save the embeddings with np.save."
        ) from None
    head = _magic(path)
    if not head.startswith(_ZIP_MAGIC) and head[:1] != b"\x80":  # torch.save's two formats
        raise ValueError(f"{path} is not a PyTorch file (no torch.save header); {remedy}.")
    try:
        contents = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise ValueError(
            f"{path} holds Python objects besides tensors, which subclust does not unpickle; "
            f"{remedy}."
        ) from None
    except (RuntimeError, EOFError, ValueError, zipfile.BadZipFile) as error:
        raise _damaged(path, error, remedy) from None
    if isinstance(contents, torch.Tensor):
        contents = {"X": contents}
    if not isinstance(contents, dict):
        raise ValueError(f"{path} holds a {type(contents).__name__}; {remedy}.")
    tensors = {str(name): value.detach() for name, value in contents.items()
               if isinstance(value, torch.Tensor)}  # fmt: skip
    # numpy has no bfloat16: it is read as float32.
    return {name: (value.float() if value.dtype == torch.bfloat16 else value).numpy()
            for name, value in tensors.items()}  # fmt: skip


#: Files of named arrays, and how to read them.
_ARRAY_FILES = {".npz": _npz_arrays, ".pt": _torch_arrays, ".h5": _hdf5_arrays,
                ".hdf5": _hdf5_arrays}  # fmt: skip


def _read_mat(path, key, label_column, id_column):
    """Embeddings, labels and ids of a ``.mat`` file, one sample per row.

    MATLAB code stores samples as columns as often as rows: with labels (or
    ids), the data are oriented so that samples match them. Point tracks
    become one trajectory per row (:func:`_trajectories`).
    """
    arrays = _mat_arrays(path)
    target, ids = (None if name is None else arrays[_pick_key(arrays, path, name)]
                   for name in (label_column, id_column))  # fmt: skip
    if key is None:  # the only matrix, or the first of the usual names
        matrices = {name: value for name, value in arrays.items()
                    if name not in (label_column, id_column)
                    and (value.ndim == 2 or _is_point_tracks(value))}  # fmt: skip
        key = _pick_key(matrices, path, None)
    X = arrays[_pick_key(arrays, path, key)]
    if _is_point_tracks(X):
        X = _trajectories(X)
    per_sample = target if target is not None else ids
    if per_sample is not None:
        if X.ndim == 2 and X.shape[0] != len(per_sample) == X.shape[1]:
            X = X.T
    elif X.ndim == 2 and X.shape[0] != X.shape[1]:
        per_column = [name for name, value in arrays.items()
                      if value.ndim == 1 and len(value) == X.shape[1]]
        if per_column:
            warnings.warn(
                f"{path}: {per_column[0]!r} has one value per column of {key!r} "
                f"({X.shape[0]} x {X.shape[1]}), read as {X.shape[0]} samples; if the samples "
                f"are its columns, name their labels (label_column={per_column[0]!r}, "
                f"--label-column {per_column[0]}).",
                stacklevel=3,
            )
    return X, target, ids


def _is_point_tracks(array):
    """Points tracked over frames in homogeneous image coordinates (3 x points x frames)."""
    return array.ndim == 3 and array.shape[0] == 3 and bool(np.all(array[2] == 1))


def _trajectories(tracks):
    """One row per tracked point: its image coordinates frame after frame (x1, y1, x2, ...).

    The layout of the Hopkins 155 motion-segmentation benchmark (Tron and Vidal,
    CVPR 2007), whose ``*_truth.mat`` files hold the tracks ``x`` and the motion
    of each point ``s``; Elhamifar and Vidal's code forms these 2F-dimensional rows.
    """
    return tracks[:2].transpose(1, 2, 0).reshape(tracks.shape[1], -1)


def _encode_labels(values, source):
    """Labels of any type as ints 0..K-1 plus the original value of each."""
    values = np.asarray(values)
    if values.ndim != 1:
        values = values.reshape(len(values), -1)
        if values.shape[1] != 1:
            raise ValueError(
                f"Labels from {source} have shape {values.shape}; expected one label per sample."
            )
        values = values[:, 0]
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        raise ValueError(
            f"Labels from {source} contain NaN or infinity; every sample needs a label."
        )
    if values.dtype.kind == "O":
        values = values.astype(str)
    names, target = np.unique(values, return_inverse=True)
    return target.astype(np.int64), names


def check_embeddings(X, source="X"):
    """Validate embeddings: a finite, numeric, non-empty 2-D array.

    float32 stays float32 (half the memory of float64, and K-subspaces runs
    its GEMMs in float32); every other numeric dtype becomes float64.

    Parameters
    ----------
    X : array-like
    source : str, default="X"
        What ``X`` is (a file name), for the error messages.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float32 or float64

    Examples
    --------
    >>> import numpy as np
    >>> from subclust.io import check_embeddings
    >>> check_embeddings(np.ones((3, 2), dtype=np.int64)).dtype
    dtype('float64')
    >>> check_embeddings(np.array([[1.0, np.nan]]), source="x.npy")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: x.npy contains 1 NaN or infinite value (the first at row 0, column 1); ...
    """
    X = np.asarray(X)
    if X.dtype.kind not in "biuf":
        raise ValueError(
            f"{source} holds {X.dtype} values; embeddings must be numbers (int or float)."
        )
    if X.ndim != 2:
        hint = (
            "reshape a single feature with X.reshape(-1, 1)"
            if X.ndim < 2
            else "flatten each sample to one row with X.reshape(len(X), -1)"
        )
        raise ValueError(
            f"{source} holds an array of shape {X.shape}; embeddings must be 2-D "
            f"(n_samples, n_features): {hint}."
        )
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{source} holds an empty array of shape {X.shape}.")
    X = X.astype(np.float32 if X.dtype == np.float32 else np.float64, copy=False)
    bad = ~np.isfinite(X)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        n_bad = int(bad.sum())
        raise ValueError(
            f"{source} contains {n_bad} NaN or infinite value{'s' if n_bad > 1 else ''} "
            f"(the first at row {row}, column {col}); remove those samples or impute the values."
        )
    # Norms and inner products square the values: past these bounds they overflow to
    # infinity or underflow to zero in X's precision, and every sample looks alike.
    largest, limits = float(np.abs(X).max()), np.finfo(X.dtype)
    if largest > np.sqrt(limits.max / X.shape[1]) or 0 < largest < np.sqrt(limits.tiny):
        raise ValueError(
            f"{source} holds values of magnitude up to {largest:.3g}, whose squares "
            f"{'overflow' if largest > 1 else 'underflow'} {X.dtype}; rescale the data, e.g. "
            "divide it by its largest magnitude."
        )
    return X


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def _text_layout(path, *, blanks=False):
    """Delimiter (None: runs of blanks), column names and header flag, from the first line.

    Tabs separate the cells of a ``.tsv`` file. Those of a ``.csv`` file are
    separated by commas, or by semicolons if its first line has no comma (as
    spreadsheets write CSV in locales whose decimal mark is a comma). A
    ``.txt`` file is separated by the first of comma, tab and semicolon that
    its first line holds, else (with ``blanks``) by runs of blanks, as
    ``np.savetxt`` and MATLAB's ``save -ascii`` write numbers. A header is a
    first row with a cell that is not a number.
    """
    with open(path, newline="", encoding="utf-8-sig") as f:
        first = next((line for line in f if line.strip()), None)
    if first is None:
        raise ValueError(f"{path} is empty; expected one row per sample.")
    suffix = Path(path).suffix.lower()
    delimiter = "\t" if suffix == ".tsv" else next(
        (d for d in (",;" if suffix == ".csv" else ",\t;") if d in first),
        None if blanks and suffix == ".txt" else ",")  # fmt: skip
    first = first.rstrip("\r\n")
    cells = first.split() if delimiter is None else next(csv.reader([first], delimiter=delimiter))
    has_header = not all(_is_number(cell) for cell in cells)
    names = [cell.strip() for cell in cells] if has_header else [str(j) for j in range(len(cells))]
    return delimiter, names, has_header


def _read_table(path, *, blanks=False):
    """Column names, rows of strings and header flag of a delimited text file (see _text_layout)."""
    delimiter, names, has_header = _text_layout(path, blanks=blanks)
    with open(path, newline="", encoding="utf-8-sig") as f:
        lines = [line for line in f.read().splitlines() if line.strip()]
    rows = ([line.split() for line in lines] if delimiter is None
            else list(csv.reader(lines, delimiter=delimiter)))  # fmt: skip
    body = rows[1:] if has_header else rows
    if not body:
        raise ValueError(f"{path} has a header but no rows of data.")
    for line, row in enumerate(body, start=2 if has_header else 1):
        if len(row) != len(names):
            raise ValueError(
                f"{path} line {line} has {len(row)} fields, expected {len(names)} like the "
                "first row."
            )
    return names, body, has_header


def _column_index(names, column, path, has_header):
    if column in names:
        return names.index(column)
    if isinstance(column, numbers.Integral) and 0 <= column < len(names):
        return int(column)
    if isinstance(column, str) and not has_header and column.isdigit():
        if int(column) < len(names):
            return int(column)
    raise ValueError(f"{path} has no column {column!r}; its columns are {names}.")


# What to do with a column of a table that is not a number.
_REMEDY = ("drop it, or name it as the label column (--label-column) if it holds the labels, or "
           "as the id column (--id-column) if it names the samples.")  # fmt: skip


def _csv_numbers(path, names, body, has_header):
    """Rows of strings to floats; a cell that is not a number names its column."""
    cells = np.array(body, dtype=str)
    try:
        return cells.astype(np.float64)
    except ValueError:
        pass
    for i, row in enumerate(body):
        for j, cell in enumerate(row):
            if not _is_number(cell):
                line = i + 1 + has_header
                what = "an empty cell" if not cell.strip() else repr(cell)
                raise ValueError(
                    f"{path} column {names[j]!r} is not numeric ({what} on line {line}); {_REMEDY}"
                )
    raise AssertionError("unreachable: a cell failed to convert but every cell is a number")


def _taken_columns(names, columns, path, has_header):
    """Indices of the label and id ``columns`` (None where not asked): not features."""
    indices = [None if c is None else _column_index(names, c, path, has_header) for c in columns]
    given = [j for j in indices if j is not None]
    if len(set(given)) < len(given):
        raise ValueError(f"{path}: the labels and the ids are the same column {names[given[0]]!r}.")
    if given and len(given) == len(names):
        what = " and ".join(f"the {role} {names[j]!r}"
                            for role, j in zip(("labels", "ids"), indices) if j is not None)
        raise ValueError(f"{path} has no column besides {what}.")
    return indices


def _label_values(cells):
    """Stripped label cells; numeric labels as numbers, which sort as numbers (2 before 10)."""
    cells = [cell.strip() for cell in cells]
    return np.array(cells, dtype=np.float64) if all(map(_is_number, cells)) else cells


def _read_text(path, label_column, id_column):
    """Numbers, labels and ids (or None) and feature names of a delimited text file.

    NumPy's parser reads a well-formed file in a fraction of the time and
    memory of rows of Python strings (20,000 rows of 512 numbers, 94 MB:
    2.3 s and 0.17 GB against 8 s and 1.4 GB); a file it cannot parse is
    read again row by row, to say which line and column are wrong.
    """
    delimiter, names, has_header = _text_layout(path, blanks=True)
    taken = _taken_columns(names, (label_column, id_column), path, has_header)
    kept = [j for j in range(len(names)) if j not in taken]
    by_rows = functools.partial(_read_text_by_rows, path, label_column, id_column)
    # NumPy ignores the fields past those it is asked for: with a label or id column, the
    # rows' widths are checked first.
    if len(kept) < len(names) and not _same_width(path, delimiter, len(names)):
        return by_rows()
    # Quoted cells as the csv module reads them: R's write.csv quotes every string.
    options = dict(delimiter=delimiter, skiprows=int(has_header), encoding="utf-8-sig",
                   comments=None, ndmin=2,
                   quotechar=None if delimiter is None else '"')  # fmt: skip
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # no rows: said by the row reader
            X = np.loadtxt(path, dtype=np.float64, usecols=kept, **options)
            given = [j for j in taken if j is not None]  # read as strings, in one pass
            strings = iter(np.loadtxt(path, dtype=str, usecols=given, **options).T
                           if given else ())  # fmt: skip
    except ValueError:
        return by_rows()
    if X.shape[0] == 0 or X.shape[1] != len(kept):
        return by_rows()  # it says what is wrong
    target, ids = (None if j is None else next(strings) for j in taken)
    return X, None if target is None else _label_values(target), ids, [names[j] for j in kept]


def _same_width(path, delimiter, width):
    """Whether every non-empty line has ``width`` fields (quoted delimiters count too)."""
    with open(path, encoding="utf-8-sig") as f:
        return all((len(line.split()) if delimiter is None else line.count(delimiter) + 1) == width
                   for line in f if line.strip())  # fmt: skip


def _read_text_by_rows(path, label_column, id_column):
    names, body, has_header = _read_table(path, blanks=True)
    label_index, id_index = _taken_columns(names, (label_column, id_column), path, has_header)
    target = None if label_index is None else _label_values([row[label_index] for row in body])
    ids = None if id_index is None else [row[id_index] for row in body]
    kept = [j for j in range(len(names)) if j not in (label_index, id_index)]
    if len(kept) < len(names):
        body = [[row[j] for j in kept] for row in body]
        names = [names[j] for j in kept]
    return _csv_numbers(path, names, body, has_header), target, ids, names


def _parquet_module():
    try:
        import pyarrow.parquet as pq
    except ImportError as error:
        raise ImportError(
            f"Reading .parquet files needs pyarrow: pip install 'subclust[parquet]' ({error})."
        ) from error
    return pq


def _parquet_column(column, name, path):
    """One Arrow column as an (n_samples, width) float array; list columns expand."""
    import pyarrow as pa

    if column.null_count:
        raise ValueError(
            f"{path} column {name!r} has {column.null_count} missing values; remove those "
            "samples or impute the values."
        )
    kind = column.type
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        rows = column.to_pylist()
        lengths = {len(row) for row in rows}
        if len(lengths) != 1:
            raise ValueError(
                f"{path} column {name!r} holds lists of different lengths {sorted(lengths)[:5]}; "
                "every sample's embedding must have the same length."
            )
        try:
            return np.array(rows, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{path} column {name!r} holds lists of non-numbers.") from None
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
        return column.to_numpy(zero_copy_only=False).reshape(-1, 1)
    raise ValueError(f"{path} column {name!r} is not numeric (type {kind}); {_REMEDY}")


def _read_parquet(path, label_column, id_column):
    pq = _parquet_module()
    try:
        table = pq.read_table(path)
    except Exception as error:  # pyarrow raises its own ArrowInvalid etc.
        raise ValueError(f"{path} could not be read as Parquet: {error}") from None
    names = list(table.column_names)
    taken = _taken_columns(names, (label_column, id_column), path, True)
    for role, index in zip(("label", "id"), taken):
        if index is not None and table.column(index).null_count:
            raise ValueError(f"{path} {role} column {names[index]!r} has missing values.")
    target, ids = (None if index is None else table.column(index).to_numpy(zero_copy_only=False)
                   for index in taken)  # fmt: skip
    names = [name for j, name in enumerate(names) if j not in taken]
    if table.num_rows == 0:
        raise ValueError(f"{path} has no rows; expected one row per sample.")
    blocks, feature_names = [], []
    for name in names:
        block = _parquet_column(table.column(name), name, path)
        blocks.append(block)
        width = block.shape[1]
        feature_names += [name] if width == 1 else [f"{name}_{j}" for j in range(width)]
    dtypes = {b.dtype for b in blocks}
    dtype = np.float32 if dtypes == {np.dtype(np.float32)} else np.float64
    return np.hstack([b.astype(dtype, copy=False) for b in blocks]), target, ids, feature_names


def read_embeddings(path, *, key=None, label_column=None, id_column=None):
    """Read embeddings, one row per sample, from a file (see :data:`EMBEDDING_FORMATS`).

    - ``.npy``: a 2-D numeric array. ``.npz``: the array named ``key``, or
      the only one, or the first of ``X``, ``data``, ``embeddings``,
      ``features``, ``fea``, ``x``. Both are opened with
      ``allow_pickle=False``: a file with pickled objects is refused, never
      unpickled.
    - ``.pt`` (PyTorch, needs torch, the ``diffusion`` extra): a tensor, or
      a dict of tensors read as the arrays of an ``.npz`` file; loaded with
      ``weights_only=True``, so other objects are refused, never unpickled.
    - ``.h5``, ``.hdf5`` (needs h5py, the ``hdf5`` extra): the data sets,
      named by their path in the file (``group/name``), read as the arrays
      of an ``.npz`` file.
    - ``.csv``, ``.tsv``, ``.txt``: numbers separated by commas (or
      semicolons), tabs, or in a ``.txt`` file whose first line has none of
      these, runs of blanks; with or without a header (a first row with a
      cell that is not a number is the header).
    - ``.parquet`` (needs pyarrow, the ``parquet`` extra): numeric columns,
      and list columns that hold one embedding per row.
    - ``.mat`` (MATLAB; a 7.3 file needs h5py, the ``hdf5`` extra): the
      matrix named ``key``, or the only one, or the first of the names
      above. MATLAB code stores samples as columns as often as
      rows: with ``label_column`` (or ``id_column``), the matrix is turned
      so that its samples match them; without, its rows are the samples,
      with a warning when another variable has one value per column. Points tracked over
      F frames in homogeneous image coordinates (an array of 3 x points x
      frames whose third coordinate is 1, as the Hopkins 155 benchmark
      stores them in ``x``, with the motions in ``s``) become one
      trajectory per row: 2F coordinates, x and y frame after frame.

    float32 data stays float32; other numbers become float64.

    Parameters
    ----------
    path : str or path-like
    key : str, optional
        Array of an ``.npz``, ``.mat``, ``.pt`` or HDF5 file holding the
        embeddings.
    label_column : str or int, optional
        Column (text or Parquet; a name, or a position for a text file
        without header) or array (``.npz``, ``.mat``, ``.pt``, HDF5)
        holding ground-truth labels;
        they may be strings. They are taken out of the features.
    id_column : str or int, optional
        Column or array, like ``label_column``, naming each sample (an image
        file name, a database key); taken out of the features and returned
        as ``ids``, so that results can be joined back to the samples.

    Returns
    -------
    bunch : sklearn.utils.Bunch
        ``data`` (n_samples, n_features); ``target`` (n_samples,) labels as
        ints 0..K-1, or None; ``target_names`` the original label of each
        int, or None; ``ids`` (n_samples,) strings, or None;
        ``feature_names``; ``filename``; ``format`` (the extension).

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        Unknown extension, pickled data, wrong shape, NaN or infinity,
        non-numeric column, unreadable file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> from subclust.io import read_embeddings
    >>> tmp = tempfile.TemporaryDirectory()
    >>> path = pathlib.Path(tmp.name) / "emb.csv"
    >>> _ = path.write_text("a,b,species\\n1,2,cat\\n3,4,dog\\n5,6,cat\\n")
    >>> bunch = read_embeddings(path, label_column="species")
    >>> bunch.data
    array([[1., 2.],
           [3., 4.],
           [5., 6.]])
    >>> bunch.target, bunch.target_names
    (array([0, 1, 0]), array(['cat', 'dog'], dtype='<U3'))
    >>> tmp.cleanup()
    """
    path = _existing_file(path, "embedding file")
    suffix = path.suffix.lower()
    target, ids, feature_names = None, None, None
    if key is not None and suffix not in (*_ARRAY_FILES, ".mat"):
        raise ValueError(
            f"{path} holds one table of embeddings: key={key!r} (--key) names an array of an "
            ".npz, .mat, .pt or .h5 file; leave it out."
        )
    if suffix == ".npy":
        if label_column is not None:
            raise ValueError(
                f"{path} is a single array: it has no label column; give the labels in "
                "their own file (--labels) or store both in an .npz."
            )
        if id_column is not None:
            raise ValueError(
                f"{path} is a single array: it has no id column; store the embeddings and "
                "their ids together in an .npz."
            )
        X = _load_npy(path)
    elif suffix in _ARRAY_FILES:
        arrays = _ARRAY_FILES[suffix](path)
        for role, name in (("labels", label_column), ("ids", id_column)):
            if name is not None and name not in arrays:
                raise ValueError(
                    f"{path} has no array {name!r} for the {role}; its arrays are "
                    f"{sorted(arrays)}."
                )
        target, ids = (None if name is None else arrays.pop(name)
                       for name in (label_column, id_column))  # fmt: skip
        X = arrays[_pick_key(arrays, path, key)]
    elif suffix in _TEXT_FORMATS:
        X, target, ids, feature_names = _read_text(path, label_column, id_column)
    elif suffix == ".parquet":
        X, target, ids, feature_names = _read_parquet(path, label_column, id_column)
    elif suffix == ".mat":
        X, target, ids = _read_mat(path, key, label_column, id_column)
    else:
        raise ValueError(
            f"{path} has extension {path.suffix!r}; embeddings are read from "
            f"{', '.join(EMBEDDING_FORMATS)} files (or a folder of images)."
        )
    X = check_embeddings(X, str(path))
    target_names = None
    if target is not None:
        if len(target) != X.shape[0]:
            raise ValueError(f"{path} has {X.shape[0]} samples but {len(target)} labels.")
        target, target_names = _encode_labels(target, f"{path} ({label_column})")
    if ids is not None:
        ids = _id_strings(ids, X.shape[0], f"{path} ({id_column})")
    if feature_names is None:
        feature_names = [str(j) for j in range(X.shape[1])]
    return Bunch(
        data=X,
        target=target,
        target_names=target_names,
        ids=ids,
        feature_names=feature_names,
        filename=str(path),
        format=suffix,
    )


def _id_strings(values, n_samples, source):
    """One id per sample, as stripped strings (MATLAB pads its rows of characters)."""
    values = np.asarray(values)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1 or len(values) != n_samples:
        raise ValueError(
            f"{source} holds {values.shape} values for {n_samples} samples; give one id per sample."
        )
    if values.dtype.kind == "S":
        values = np.char.decode(values, "utf-8")
    elif values.dtype.kind == "f" and np.array_equal(values, np.round(values)):
        values = values.astype(np.int64)  # MATLAB's numbers are doubles: 12, not 12.0
    return np.char.strip(values.astype(str))


def read_labels(path, n_samples=None, *, column=None):
    """Read ground-truth labels, one per sample, from a .npy, text, .npz, .mat, .pt or HDF5 file.

    A text file (``.csv``, ``.tsv``, ``.txt``) holds one label per line (a
    header line is allowed) or, with ``column``, several columns separated
    by commas or tabs, of which one holds the labels. A file of named arrays
    (``.npz``, ``.mat``, ``.pt``, HDF5) holds them in one of its arrays.
    Labels may be numbers or strings.

    Parameters
    ----------
    path : str or path-like
    n_samples : int, optional
        The number of samples the labels are for; a different count is an error.
    column : str or int, optional
        Column of a text file, or array of a file of named arrays
        (default: its only array, the first of ``labels``, ``y``, ``target``,
        ``gnd``, or its only 1-D array).

    Returns
    -------
    target : ndarray of shape (n_samples,)
        Labels as ints 0..K-1.
    target_names : ndarray
        The original label of each int.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from subclust.io import read_labels
    >>> tmp = tempfile.TemporaryDirectory()
    >>> path = pathlib.Path(tmp.name) / "labels.txt"
    >>> _ = path.write_text("label\\n10\\n2\\n10\\n")
    >>> read_labels(path)
    (array([1, 0, 1]), array([ 2., 10.]))
    >>> tmp.cleanup()
    """
    path = _existing_file(path, "label file")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        values = _load_npy(path)
    elif suffix in _ARRAY_FILES or suffix == ".mat":
        arrays = _ARRAY_FILES.get(suffix, _mat_arrays)(path)
        if column is None and len(arrays) > 1:
            vectors = [name for name, value in arrays.items() if value.ndim == 1]
            column = next((k for k in _LABEL_KEYS if k in arrays and arrays[k].ndim == 1),
                          vectors[0] if len(vectors) == 1 else None)  # fmt: skip
            if column is None:
                raise ValueError(
                    f"{path} holds several arrays {sorted(arrays)}; name the labels' array."
                )
        values = arrays[_pick_key(arrays, path, column)]
    elif suffix in _TEXT_FORMATS:
        names, body, has_header = _read_table(path)
        if column is None and len(names) != 1:
            raise ValueError(
                f"{path} has {len(names)} columns {names}; name the column of the labels."
            )
        index = 0 if column is None else _column_index(names, column, path, has_header)
        values = _label_values([row[index] for row in body])
        if has_header and n_samples == len(body) + 1:
            raise ValueError(
                f"{path} has {len(body)} labels after its header line {names[index]!r} but the "
                f"data has {n_samples} samples; if that line is the first label, add a header "
                "line above it (e.g. 'label')."
            )
    else:
        raise ValueError(
            f"{path} has extension {path.suffix!r}; labels are read from "
            f"{', '.join(_LABEL_FORMATS)} files."
        )
    values = np.asarray(values)
    if values.dtype.kind not in "biufUS":
        raise ValueError(f"{path} holds {values.dtype} values; labels must be numbers or strings.")
    if n_samples is not None and len(values) != n_samples:
        raise ValueError(
            f"{path} has {len(values)} labels but the data has {n_samples} samples; "
            "give one label per sample, in the same order."
        )
    return _encode_labels(values, str(path))


def _image_files(folder):
    """Images directly in ``folder`` (no labels) or in its sub-folders (one per class).

    A class's images may sit at any depth below its sub-folder. Hidden files
    and folders (a leading dot, such as .DS_Store or macOS's ._ copies) are
    not images.
    """
    def images_in(directory, recursive=False):
        paths = directory.rglob("*") if recursive else directory.iterdir()
        return sorted(
            p for p in paths
            if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
            and not any(part.startswith(".") for part in p.relative_to(directory).parts)
        )

    classes = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    found = {directory.name: images_in(directory, recursive=True) for directory in classes}
    files = images_in(folder)
    if files:
        nested = sum(map(len, found.values()))
        if nested:
            warnings.warn(
                f"{folder} holds {len(files)} images and sub-folders with {nested} more; only "
                "the images directly in it are read (unlabelled). For one class per "
                "sub-folder, move the loose images into sub-folders.", UserWarning, stacklevel=3,
            )  # fmt: skip
        return files, None, None
    names = [name for name, images in found.items() if images]
    if not names:
        raise ValueError(
            f"{folder} holds no {'/'.join(e[1:].upper() for e in IMAGE_EXTENSIONS)} images, "
            "neither directly nor in sub-folders (one per class)."
        )
    files = [f for name in names for f in found[name]]
    target = np.repeat(np.arange(len(names)), [len(found[name]) for name in names])
    return files, target.astype(np.int64), np.array(names)


# Full scale of the image modes that hold more than 8 bits (Pillow opens a 16-bit PNG as
# "I;16", or as 32-bit "I" in older versions); floating-point images keep their values.
_FULL_SCALE = {"I;16": 65535.0, "I;16B": 65535.0, "I;16L": 65535.0, "I;16N": 65535.0,
               "I": 65535.0, "F": 1.0}  # fmt: skip
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")


def read_images(filenames, shape=None, *, resize=None, max_side=None):
    """Read image files as grey levels in [0, 1]; all must have the same size, or be resized.

    Colour is converted to grey levels. 16-bit images (microscopy, medical
    and astronomical images often are) keep their depth, scaled by 65535
    rather than clipped to 8 bits; floating-point images keep their values.
    Photographs are turned upright by their EXIF orientation tag. Of a
    file with several frames (a TIFF stack, an animated GIF) the first is
    read, with a warning. Transparent pixels are black: grey levels are
    multiplied by the alpha channel, so that what a transparent pixel
    happens to store (often left-over colour) does not count.

    Parameters
    ----------
    filenames : sequence of path-like
        Image files (:data:`IMAGE_EXTENSIONS`, any mode).
    shape : tuple (height, width), optional
        Required size (e.g. that of the images a model was trained on).
    resize : tuple (height, width), optional
        Resize every image to this size first (Lanczos filter, which averages
        when it shrinks), whatever its own size and aspect.
    max_side : int, optional
        Without ``resize``: shrink the images whose longer side exceeds
        ``max_side`` pixels to it, keeping their aspect (Lanczos filter).

    Returns
    -------
    images : ndarray of shape (n_images, height, width), float64

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from PIL import Image
    >>> tmp = tempfile.TemporaryDirectory()
    >>> paths = [f"{tmp.name}/black.png", f"{tmp.name}/white.png"]
    >>> for level, path in zip([0, 255], paths):
    ...     Image.fromarray(np.full((4, 6), level, dtype=np.uint8)).save(path)
    >>> from subclust.io import read_images
    >>> images = read_images(paths, shape=(4, 6))
    >>> images.shape, float(images[0].max()), float(images[1].min())
    ((2, 4, 6), 0.0, 1.0)
    >>> tmp.cleanup()
    """
    try:
        from PIL import Image, ImageChops, ImageOps, UnidentifiedImageError
    except ImportError as error:
        raise ImportError(
            f"Reading images needs Pillow (installed with matplotlib): pip install "
            f"'subclust[plot]' ({error})."
        ) from error
    images, stacks = [], []
    for path in filenames:
        try:
            with Image.open(path) as image:
                if getattr(image, "n_frames", 1) > 1:
                    stacks.append(path)
                # Pillow's conversion to 8-bit grey clips 16-bit and float images: those
                # become 32-bit float images instead, scaled by their full range.
                full_scale = _FULL_SCALE.get(image.mode, 255.0)
                image = ImageOps.exif_transpose(image)
                if image.mode in _ALPHA_MODES or "transparency" in image.info:
                    # A transparent pixel has no colour, whatever RGB it stores (often
                    # left-over garbage): the grey levels are premultiplied by the alpha.
                    grey, alpha = image.convert("LA").split()
                    image = ImageChops.multiply(grey, alpha)
                image = image.convert("L" if full_scale == 255.0 else "F")
                if resize is not None:
                    image = image.resize((int(resize[1]), int(resize[0])), Image.LANCZOS)
                elif max_side is not None and max(image.size) > max_side:
                    scale = max_side / max(image.size)
                    image = image.resize(tuple(max(1, round(n * scale)) for n in image.size),
                                         Image.LANCZOS)  # fmt: skip
                grey = np.asarray(image, dtype=np.float64) / full_scale
        except (UnidentifiedImageError, OSError) as error:
            raise ValueError(f"{path} could not be read as an image: {error}") from None
        expected = shape if shape is not None else (images[0].shape if images else None)
        if expected is not None and grey.shape != tuple(expected):
            raise ValueError(
                f"{path} is {grey.shape[0]}x{grey.shape[1]} pixels but "
                f"{'the model expects' if shape is not None else 'the first image is'} "
                f"{expected[0]}x{expected[1]}; give the images one size (resize=(height, "
                f"width), or --image-shape HxW on the command line)."
            )
        images.append(grey)
    if stacks:
        warnings.warn(
            f"{len(stacks)} of the {len(images)} images hold several frames (a stack or an "
            f"animation, such as {stacks[0]}): only the first frame of each is read; save "
            "the frames as images of their own to cluster them.", UserWarning, stacklevel=2,
        )  # fmt: skip
    return np.stack(images)


def _scattering_grid(shape, J, pad_to):
    """``(J, pad_to)`` for images of ``shape``, resolving the 'auto' settings.

    You et al. use J=3 on MNIST digits padded from 28x28 to 32x32, which
    leaves a 4x4 grid of coefficients per channel. 'auto' keeps that grid on
    small images instead of failing: the padding is the smallest power of two
    holding the images and at least 16 (or exceeding ``2**J`` for a given
    ``J``), and ``J`` is 3, or less on small padded images, so that every
    channel keeps 4x4 coefficients (8x8 digits: J=2 on 16x16; on scikit-learn's
    digits the ``ensc`` accuracy is 0.889 against 0.826 with J=3 on 16x16 and
    0.787 on pixels). Given values are kept.
    """
    if pad_to == "auto":
        smallest = 16 if J == "auto" else 2 ** (int(J) + 1)
        pad_to = max(int(2 ** np.ceil(np.log2(max(shape)))), smallest)
    if J == "auto":
        side = min(shape) if pad_to is None else pad_to
        J = int(np.clip(np.floor(np.log2(side)) - 2, 1, 3))
    return int(J), pad_to


def read_image_folder(
    path, *, features="scattering", n_components=None, J="auto", L=8, pad_to="auto",
    shape=None, resize=None, max_side=None, batch_size=64, n_jobs=None, progress=None,
):
    """Read a folder of images (PNG, JPEG, PGM...) and turn them into feature vectors.

    The images sit directly in ``path`` (no labels), or in one sub-folder per
    class, at any depth below it (the sub-folder names become the labels);
    hidden files are skipped. Files are read in sorted
    order, as grey levels in [0, 1] (:func:`read_images`: 16-bit images keep
    their depth); all images must have the same size, or be resized to one.

    Parameters
    ----------
    path : str or path-like
        The folder.
    features : {'scattering', 'pixels', 'face'}, default='scattering'
        'scattering': the 2-D scattering transform
        (:func:`subclust.datasets.scattering_features`, needs kymatio);
        'pixels': the flattened grey levels; 'face': the embeddings of face
        crops by a pretrained face-recognition network
        (:func:`subclust.datasets.face_embeddings`, needs the ``faces`` extra).
    n_components : int, optional
        Project the features on their top principal components
        (:func:`subclust.datasets.scattering_pca` for scattering features;
        You et al. use 500 for MNIST). None keeps all the features, e.g. to
        fit the PCA in a pipeline (see :func:`subclust.pipeline.make_pipeline`)
        that a saved model then applies to new images.
    J : int or 'auto', default='auto'
        Scales of the scattering transform; 'auto' is 3 (You et al.), less
        for images padded to fewer than 32 pixels a side, so that each
        channel keeps a 4x4 grid (8x8 images: J=2 on 16x16).
    L : int, default=8
        Orientations of the scattering transform.
    pad_to : int, 'auto' or None, default='auto'
        Zero-pad the images to this square size before the scattering
        transform; 'auto' is the smallest power of two holding them and at
        least 16, or larger than ``2**J`` for a given ``J`` (28x28 -> 32, the
        MNIST setting of You et al.; 8x8 -> 16).
    shape : tuple (height, width), optional
        Required image size.
    resize : tuple (height, width), optional
        Resize every image to this size (see :func:`read_images`).
    max_side : int, optional
        Shrink larger images to this many pixels a side (see
        :func:`read_images`).
    batch_size, n_jobs
        See :func:`subclust.datasets.scattering_features`.
    progress : bool or None, default=None
        See :func:`image_features`.

    Returns
    -------
    bunch : sklearn.utils.Bunch
        ``data`` (n_images, n_features); ``images`` (n_images, h, w);
        ``filenames`` (paths relative to ``path``); ``target`` and
        ``target_names`` from the sub-folders, or None; ``filename`` (the
        folder); ``format`` ('images'); ``feature_params`` (a dict that
        reproduces the features of new images with :func:`image_features`).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> from PIL import Image
    >>> from subclust.io import read_image_folder
    >>> tmp = tempfile.TemporaryDirectory()
    >>> folder = pathlib.Path(tmp.name)
    >>> for i in range(3):
    ...     Image.fromarray(np.full((8, 8), 40 * i, dtype=np.uint8)).save(folder / f"{i}.png")
    >>> bunch = read_image_folder(folder, features="pixels")
    >>> bunch.data.shape, bunch.filenames[0]
    ((3, 64), '0.png')
    >>> tmp.cleanup()
    """
    folder = Path(path)
    if not folder.exists():
        raise FileNotFoundError(f"Image folder {folder} does not exist.")
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder of images.")
    files, target, target_names = _image_files(folder)
    images = read_images(files, shape=shape, resize=resize, max_side=max_side)
    params = image_feature_params(images.shape[1:], features, J=J, L=L, pad_to=pad_to)
    data = image_features(
        images, params, batch_size=batch_size, n_jobs=n_jobs, progress=progress
    )
    if n_components is not None:
        data = _pca(data, n_components)
    return Bunch(
        data=data,
        images=images,
        filenames=[os.path.relpath(f, folder) for f in files],
        target=target,
        target_names=target_names,
        filename=str(folder),
        format="images",
        feature_params=params,
    )


def image_feature_params(shape, features="scattering", *, J="auto", L=8, pad_to="auto"):
    """The JSON-serializable recipe turning images of ``shape`` into features.

    Stored in model files, so that :func:`image_features` computes the same
    features for new images.

    Parameters
    ----------
    shape : tuple (height, width)
        Size of the images.
    features : {'scattering', 'pixels', 'face'}, default='scattering'
    J, L, pad_to
        See :func:`read_image_folder`.

    Returns
    -------
    params : dict

    Examples
    --------
    >>> import json
    >>> from subclust.io import image_feature_params
    >>> params = image_feature_params((28, 28))  # MNIST digits are padded to 32 x 32
    >>> params["features"], params["shape"], params["pad_to"], params["J"], params["L"]
    ('scattering', [28, 28], 32, 3, 8)
    >>> params = image_feature_params((8, 8))  # small images: a smaller J keeps a 4x4 grid
    >>> params["pad_to"], params["J"]
    (16, 2)
    >>> params = image_feature_params((8, 8), "pixels")
    >>> params, json.loads(json.dumps(params)) == params
    ({'features': 'pixels', 'shape': [8, 8]}, True)
    """
    check_choice(features, "features", IMAGE_FEATURES)
    params = {"features": features, "shape": [int(s) for s in shape]}
    if features == "scattering":
        J, pad_to = _scattering_grid(shape, J, pad_to)
        params.update(J=J, L=int(L), pad_to=pad_to, normalize="channel")
    return params


def image_features(images, params, *, batch_size=64, n_jobs=None, progress=None):
    """Features of images following a recipe from :func:`image_feature_params`.

    Parameters
    ----------
    images : ndarray of shape (n_images, height, width)
    params : dict
        ``features`` ('scattering', 'pixels' or 'face'), ``shape`` and, for
        scattering, ``J``, ``L``, ``pad_to`` and ``normalize`` (absent in
        recipes saved before it existed: raw coefficients).
    batch_size, n_jobs
        See :func:`subclust.datasets.scattering_features`.
    progress : bool or None, default=None
        Show a progress bar over the images on stderr (None: when stderr is
        a terminal).

    Returns
    -------
    features : ndarray of shape (n_images, n_features)

    Examples
    --------
    >>> import numpy as np
    >>> from subclust.io import image_feature_params, image_features
    >>> images = np.random.default_rng(0).random((2, 8, 8))
    >>> pixels = image_features(images, image_feature_params((8, 8), "pixels"))
    >>> pixels.shape, bool(np.array_equal(pixels[1], images[1].ravel()))
    ((2, 64), True)

    Scattering features (needs kymatio): ``1 + J L`` channels for ``J = 1``,
    each of ``(8 / 2^J)^2`` coefficients scaled to a largest magnitude of one.

    >>> features = image_features(images, image_feature_params((8, 8), J=1, L=2))
    >>> features.shape
    (2, 48)
    >>> np.abs(features.reshape(2, 3, 16)).max(axis=2).round(6).tolist()
    [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    """
    images = np.asarray(images)
    if list(images.shape[1:]) != list(params["shape"]):
        raise ValueError(
            f"Images are {images.shape[1]}x{images.shape[2]} pixels but the features were "
            f"defined for {params['shape'][0]}x{params['shape'][1]}; resize them."
        )
    if params["features"] == "pixels":
        return images.reshape(len(images), -1)
    if params["features"] == "face":
        from subclust.datasets import face_embeddings

        return face_embeddings(images, n_jobs=n_jobs, progress=progress)
    from subclust.utils.progress import progress_bar
    from subclust.datasets import scattering_features

    # In chunks, for the progress bar: every image's features depend on that image alone.
    starts = range(0, len(images), _FEATURE_CHUNK)
    bar = progress_bar(total=len(images), progress=progress, desc="features", unit="image")
    blocks = []
    with bar:
        for start in starts:
            chunk = images[start : start + _FEATURE_CHUNK]
            blocks.append(scattering_features(
                chunk, J=params["J"], L=params["L"], pad_to=params["pad_to"],
                normalize=params.get("normalize"), batch_size=batch_size, n_jobs=n_jobs,
            ))
            bar.update(len(chunk))
    return np.concatenate(blocks)


def _pca(data, n_components):
    """Exact, deterministic uncentred PCA, as :func:`subclust.datasets.scattering_pca` has it."""
    from subclust.preprocessing import UncenteredPCA

    if not isinstance(n_components, numbers.Integral) or not 1 <= n_components <= min(data.shape):
        raise ValueError(
            f"n_components must be an int in [1, {min(data.shape)}] (the fewer of images and "
            f"features), got {n_components!r}."
        )
    return UncenteredPCA(int(n_components)).fit_transform(data)
