"""Readers of embeddings and images, atomic writes, and saved models (subclust.io)."""

import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone

from subclust import KSubspaces
from subclust.datasets import make_molrg, scattering_features
from subclust.io import (
    FORMAT_VERSION,
    atomic_directory,
    check_embeddings,
    discard_temporaries,
    image_features,
    load_model,
    model_classes,
    read_embeddings,
    read_image_folder,
    read_labels,
    save_model,
    write_atomic,
)
from subclust.io._models import _HEADER, _Decoder, _Encoder
from subclust.cluster import SparseSubspaceClustering
from subclust.pipeline import make_pipeline
from test_common import ESTIMATORS


@pytest.fixture(scope="module")
def molrg():
    X, y, _ = make_molrg(n_samples=[30, 30, 30], n_features=12, dims=2, random_state=0)
    return X, y


# ----------------------------------------------------------------------------- readers


def test_read_npy_keeps_float32(tmp_path, molrg):
    X = molrg[0].astype(np.float32)
    np.save(tmp_path / "x.npy", X)
    bunch = read_embeddings(tmp_path / "x.npy")
    assert bunch.data.dtype == np.float32
    np.testing.assert_array_equal(bunch.data, X)
    assert bunch.target is None


def test_read_npz_key_and_labels(tmp_path, molrg):
    X, y = molrg
    np.savez(tmp_path / "x.npz", embeddings=X, labels=y, other=np.arange(3))
    bunch = read_embeddings(tmp_path / "x.npz", label_column="labels")
    np.testing.assert_array_equal(bunch.data, X)
    np.testing.assert_array_equal(bunch.target, y)
    with pytest.raises(ValueError, match=r"no array 'nope'.*\['embeddings', 'labels', 'other'\]"):
        read_embeddings(tmp_path / "x.npz", key="nope")


def test_read_npz_with_several_unnamed_arrays_asks_for_key(tmp_path, molrg):
    np.savez(tmp_path / "x.npz", a=molrg[0], b=molrg[0])
    with pytest.raises(ValueError, match="several arrays.*key="):
        read_embeddings(tmp_path / "x.npz")


def _save_mat_73(path, **arrays):
    """A MATLAB 7.3 file: MATLAB's 128-byte header in the user block of an HDF5 file."""
    import struct

    h5py = pytest.importorskip("h5py")
    with h5py.File(path, "w", userblock_size=512) as f:
        for name, array in arrays.items():
            f[name] = np.asarray(array).T  # HDF5 lists MATLAB's dimensions in reverse
    header = b"MATLAB 7.3 MAT-file, HDF5 schema 1.00 .".ljust(116) + bytes(8)
    with open(path, "r+b") as f:
        f.write(header + struct.pack("<H", 0x0200) + b"IM")


@pytest.mark.parametrize("version", ["5", "7.3"])
def test_read_mat_orients_samples_by_their_labels(tmp_path, molrg, version):
    from scipy.io import savemat

    X, y = molrg
    save = (lambda path, **a: savemat(path, a)) if version == "5" else _save_mat_73
    # Rows as samples (as in the face and object benchmark files), labels 1..K in a column.
    save(tmp_path / "rows.mat", fea=X, gnd=(y + 1)[:, None])
    # Columns as samples (as in Extended Yale B's file), labels in a row; 8-bit data.
    save(tmp_path / "cols.mat", DATA=X.T.round().astype(np.uint8), LABEL=(y + 1)[None, :])
    bunch = read_embeddings(tmp_path / "rows.mat", label_column="gnd")
    np.testing.assert_array_equal(bunch.data, X)
    np.testing.assert_array_equal(bunch.target, y)
    assert bunch.format == ".mat"
    bunch = read_embeddings(tmp_path / "cols.mat", label_column="LABEL")
    np.testing.assert_array_equal(bunch.data, X.round().astype(np.uint8))
    np.testing.assert_array_equal(bunch.target, y)
    # Without labels rows are samples, and a vector with one value per column is pointed out.
    assert read_embeddings(tmp_path / "rows.mat").data.shape == X.shape
    with pytest.warns(UserWarning, match="one value per column.*--label-column LABEL"):
        assert read_embeddings(tmp_path / "cols.mat").data.shape == X.T.shape
    # Labels from a .mat file: the usual name, or the only vector.
    np.testing.assert_array_equal(read_labels(tmp_path / "rows.mat")[0], y)
    np.testing.assert_array_equal(read_labels(tmp_path / "cols.mat")[0], y)


def test_read_mat_point_tracks_as_trajectories(tmp_path):
    """Hopkins 155's layout: tracks x (3 x points x frames, homogeneous), motions s."""
    from scipy.io import savemat

    from subclust.datasets import make_motion_trajectories

    X, y = make_motion_trajectories(2, n_frames=5, random_state=0)  # x of all frames, then y
    P, F = X.shape[0], 5
    tracks = np.stack([X[:, :F], X[:, F:], np.ones((P, F))])
    savemat(tmp_path / "seq_truth.mat", {"x": tracks, "y": tracks / 2 + [[[0]], [[0]], [[0.5]]],
                                         "s": y[:, None] + 1.0, "frames": float(F)})  # fmt: skip
    bunch = read_embeddings(tmp_path / "seq_truth.mat", label_column="s")
    assert bunch.data.shape == (P, 2 * F)
    np.testing.assert_array_equal(bunch.data[:, 0::2], X[:, :F])  # x1, y1, x2, y2, ...
    np.testing.assert_array_equal(bunch.data[:, 1::2], X[:, F:])
    np.testing.assert_array_equal(bunch.target, y)
    # Labels alone: the normalized tracks y are no labels; s is read once named.
    with pytest.raises(ValueError, match="several arrays.*name the labels"):
        read_labels(tmp_path / "seq_truth.mat")
    np.testing.assert_array_equal(read_labels(tmp_path / "seq_truth.mat", column="s")[0], y)


def test_read_mat_errors(tmp_path, molrg):
    from scipy.io import savemat

    savemat(tmp_path / "two.mat", {"a": molrg[0], "b": molrg[0], "note": "two matrices"})
    with pytest.raises(ValueError, match=r"several arrays \['a', 'b'\].*--key"):
        read_embeddings(tmp_path / "two.mat")
    with pytest.raises(ValueError, match=r"no array 'c'; its arrays are \['a', 'b', 'note'\]"):
        read_embeddings(tmp_path / "two.mat", key="c")
    savemat(tmp_path / "none.mat", {"note": "no numbers", "v": np.arange(3)})
    with pytest.raises(ValueError, match="holds no 2-D array of numbers"):
        read_embeddings(tmp_path / "none.mat")
    data = (tmp_path / "two.mat").read_bytes()
    (tmp_path / "cut.mat").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.mat").write_text("not a MATLAB file at all, only some text")
    for name in ("cut.mat", "text.mat"):
        with pytest.raises(ValueError, match="truncated or corrupted.*savemat"):
            read_embeddings(tmp_path / name)


def test_read_delimited_text(tmp_path, molrg):
    X = molrg[0]
    np.savetxt(tmp_path / "blanks.txt", X, fmt="%.17g")  # np.savetxt's and MATLAB's layout
    np.savetxt(tmp_path / "tabs.tsv", X, fmt="%.17g", delimiter="\t",
               header="\t".join(f"f{j}" for j in range(X.shape[1])), comments="")  # fmt: skip
    np.savetxt(tmp_path / "commas.txt", X, fmt="%.17g", delimiter=",")
    np.savetxt(tmp_path / "semicolons.csv", X, fmt="%.17g", delimiter=";")
    for name in ("blanks.txt", "tabs.tsv", "commas.txt", "semicolons.csv"):
        np.testing.assert_array_equal(read_embeddings(tmp_path / name).data, X, err_msg=name)
    assert read_embeddings(tmp_path / "tabs.tsv").feature_names[:2] == ["f0", "f1"]
    (tmp_path / "ragged.txt").write_text("1 2 3\n4   5\n")
    with pytest.raises(ValueError, match="line 2 has 2 fields, expected 3"):
        read_embeddings(tmp_path / "ragged.txt")
    (tmp_path / "y.tsv").write_text("name\tkind\nx\ttabby cat\ny\tdog\n")
    assert read_labels(tmp_path / "y.tsv", column="kind")[1].tolist() == ["dog", "tabby cat"]


def test_read_torch_tensors_without_unpickling_objects(tmp_path, molrg):
    torch = pytest.importorskip("torch")
    X, y = molrg
    torch.save(torch.from_numpy(X), tmp_path / "x.pt")
    np.testing.assert_array_equal(read_embeddings(tmp_path / "x.pt").data, X)
    # A dict of tensors reads as an .npz archive; bfloat16, which numpy lacks, as float32.
    torch.save({"embeddings": torch.from_numpy(X).bfloat16(), "labels": torch.from_numpy(y)},
               tmp_path / "dict.pt")  # fmt: skip
    bunch = read_embeddings(tmp_path / "dict.pt", label_column="labels")
    assert bunch.data.dtype == np.float32 and bunch.format == ".pt"
    np.testing.assert_allclose(bunch.data, X, rtol=1e-2)
    np.testing.assert_array_equal(bunch.target, y)
    np.testing.assert_array_equal(read_labels(tmp_path / "dict.pt")[0], y)
    torch.save({"X": X}, tmp_path / "numpy.pt")  # a numpy array is a pickled object
    with pytest.raises(ValueError, match="objects besides tensors, which subclust does not"):
        read_embeddings(tmp_path / "numpy.pt")
    torch.save([torch.from_numpy(X)], tmp_path / "list.pt")
    with pytest.raises(ValueError, match="holds a list; save a tensor or a dict of tensors"):
        read_embeddings(tmp_path / "list.pt")
    (tmp_path / "text.pt").write_text("not a tensor")
    with pytest.raises(ValueError, match="not a PyTorch file"):
        read_embeddings(tmp_path / "text.pt")


def test_read_hdf5_data_sets_by_path(tmp_path, molrg):
    h5py = pytest.importorskip("h5py")
    X, y = molrg
    names = np.array(["cat", "dog", "owl"])[y]
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f["model/embeddings"] = X
        f["species"] = names.astype("S")  # fixed-length bytes
        f.create_dataset("kind", data=list(names), dtype=h5py.string_dtype())
    bunch = read_embeddings(tmp_path / "x.h5", key="model/embeddings", label_column="species")
    np.testing.assert_array_equal(bunch.data, X)
    assert bunch.target_names.tolist() == ["cat", "dog", "owl"]
    np.testing.assert_array_equal(bunch.target, y)
    np.testing.assert_array_equal(read_labels(tmp_path / "x.h5", column="kind")[0], y)
    with pytest.raises(ValueError, match=r"several arrays \['kind', 'model/embeddings'"):
        read_embeddings(tmp_path / "x.h5")
    (tmp_path / "text.hdf5").write_text("not HDF5")
    with pytest.raises(ValueError, match="truncated or corrupted.*h5py"):
        read_embeddings(tmp_path / "text.hdf5")


def test_read_csv_with_header_and_string_labels(tmp_path):
    (tmp_path / "x.csv").write_text("a,b,kind\n1,2,dog\n3,4,cat\n5,6.5,dog\n")
    bunch = read_embeddings(tmp_path / "x.csv", label_column="kind")
    np.testing.assert_array_equal(bunch.data, [[1, 2], [3, 4], [5, 6.5]])
    assert bunch.feature_names == ["a", "b"]
    assert bunch.target.tolist() == [1, 0, 1]
    assert bunch.target_names.tolist() == ["cat", "dog"]


def test_read_csv_with_quoted_strings_as_r_writes_them(tmp_path):
    (tmp_path / "x.csv").write_text('"a","b","kind"\n1,2,"dog"\n3,4,"cat"\n5,6.5,"hot, dog"\n')
    bunch = read_embeddings(tmp_path / "x.csv", label_column="kind")
    np.testing.assert_array_equal(bunch.data, [[1, 2], [3, 4], [5, 6.5]])
    assert bunch.target_names.tolist() == ["cat", "dog", "hot, dog"]
    (tmp_path / "y.csv").write_text('"a","b","kind"\n1,2,"dog"\n3,4,"cat"\n')  # NumPy's parser
    assert read_embeddings(tmp_path / "y.csv", label_column="kind").target_names.tolist() == [
        "cat", "dog"]


def test_read_csv_without_header(tmp_path, molrg):
    X = molrg[0]
    np.savetxt(tmp_path / "x.csv", X, delimiter=",", fmt="%.17g")
    np.testing.assert_array_equal(read_embeddings(tmp_path / "x.csv").data, X)


def test_numeric_labels_sort_as_numbers(tmp_path):
    (tmp_path / "x.csv").write_text("f,y\n1,10\n2,2\n3,10\n")
    assert read_embeddings(tmp_path / "x.csv", label_column="y").target.tolist() == [1, 0, 1]


def test_read_parquet_numeric_and_list_columns(tmp_path, molrg):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    X, y = molrg
    table = pa.table({**{f"f{j}": X[:, j] for j in range(X.shape[1])}, "y": y})
    pq.write_table(table, tmp_path / "cols.parquet")
    bunch = read_embeddings(tmp_path / "cols.parquet", label_column="y")
    np.testing.assert_array_equal(bunch.data, X)
    np.testing.assert_array_equal(bunch.target, y)
    pq.write_table(pa.table({"embedding": list(X)}), tmp_path / "list.parquet")
    np.testing.assert_array_equal(read_embeddings(tmp_path / "list.parquet").data, X)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: {"a": [1.0, None], "b": [1.0, 2.0]}, "column 'a' has 1 missing values"),
        (lambda: {"a": ["x", "y"], "b": [1.0, 2.0]}, "column 'a' is not numeric"),
        (lambda: {"a": [[1.0], [1.0, 2.0]]}, "lists of different lengths"),
    ],
)
def test_read_parquet_bad_columns(tmp_path, make, message):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pq.write_table(pa.table(make()), tmp_path / "bad.parquet")
    with pytest.raises(ValueError, match=message):
        read_embeddings(tmp_path / "bad.parquet")


@pytest.mark.parametrize(
    "content, message",
    [
        ("a,b\n1,x\n", r"column 'b' is not numeric \('x' on line 2\)"),
        ("a,b\n1,\n", r"column 'b' is not numeric \(an empty cell on line 2\)"),
        ("a,b\n1,2\n3\n", "line 3 has 1 fields, expected 2"),
        ("a,b\n", "has a header but no rows"),
        ("", "is empty"),
        ("a,b\n1,nan\n", "contains 1 NaN or infinite value"),
    ],
)
def test_read_csv_errors(tmp_path, content, message):
    (tmp_path / "x.csv").write_text(content)
    with pytest.raises(ValueError, match=message):
        read_embeddings(tmp_path / "x.csv")


@pytest.mark.parametrize(
    "content, message",
    [("a,b,y\n1,2,c\n3,4,5,d\n", "line 3 has 4 fields, expected 3"),  # NumPy would drop 5
     ("a,b,y\n1,2,c\n3,4\n", "line 3 has 2 fields, expected 3"),
     ("y\nc\n", "no column besides the labels")],
)
def test_read_csv_with_labels_errors(tmp_path, content, message):
    (tmp_path / "x.csv").write_text(content)
    with pytest.raises(ValueError, match=message):
        read_embeddings(tmp_path / "x.csv", label_column="y")


@pytest.mark.parametrize("content", [
    "file,a,b,y\nimg 1.png,1,2,dog\nimg 2.png,3,4,cat\nimg 3.png,5,6.5,dog\n",
    'file,a,b,y\n"img 1.png",1,2,dog\n"img 2.png",3,4,cat\n"img 3.png",5,6.5,dog\n',  # row reader
])  # fmt: skip
def test_read_ids_of_a_table_beside_its_labels(tmp_path, content):
    (tmp_path / "x.csv").write_text(content)
    bunch = read_embeddings(tmp_path / "x.csv", label_column="y", id_column="file")
    np.testing.assert_array_equal(bunch.data, [[1, 2], [3, 4], [5, 6.5]])
    assert bunch.ids.tolist() == ["img 1.png", "img 2.png", "img 3.png"]
    assert bunch.target.tolist() == [1, 0, 1] and bunch.feature_names == ["a", "b"]
    with pytest.raises(ValueError, match=r"column 'file' is not numeric.*id column \(--id-col"):
        read_embeddings(tmp_path / "x.csv", label_column="y")
    with pytest.raises(ValueError, match="the labels and the ids are the same column 'y'"):
        read_embeddings(tmp_path / "x.csv", label_column="y", id_column="y")
    (tmp_path / "x.csv").write_text("file,y\na.png,dog\n")
    with pytest.raises(ValueError, match="no column besides the labels 'y' and the ids 'file'"):
        read_embeddings(tmp_path / "x.csv", label_column="y", id_column="file")


def test_read_ids_of_named_arrays(tmp_path, molrg):
    X, y = molrg
    names = np.array([f"sample-{i}" for i in range(len(X))])
    np.savez(tmp_path / "x.npz", embeddings=X, paths=names)
    bunch = read_embeddings(tmp_path / "x.npz", id_column="paths")
    np.testing.assert_array_equal(bunch.data, X)
    assert bunch.ids.tolist() == names.tolist()
    with pytest.raises(ValueError, match=r"no array 'nope' for the ids"):
        read_embeddings(tmp_path / "x.npz", id_column="nope")
    np.savez(tmp_path / "short.npz", embeddings=X, paths=names[:-1])
    with pytest.raises(ValueError, match=r"holds \(89,\) values for 90 samples"):
        read_embeddings(tmp_path / "short.npz", id_column="paths")
    # MATLAB pads the rows of a character matrix to the longest.
    savemat = pytest.importorskip("scipy.io").savemat
    savemat(tmp_path / "x.mat", {"X": X, "names": np.array(["a", "bb", "c"] * 30)})
    ids = read_embeddings(tmp_path / "x.mat", id_column="names").ids
    assert ids[:3].tolist() == ["a", "bb", "c"]
    savemat(tmp_path / "columns.mat", {"X": X.T, "names": np.array(["a", "bb", "c"] * 30)})
    np.testing.assert_array_equal(read_embeddings(tmp_path / "columns.mat", id_column="names").data,
                                  X)  # samples as columns, turned to match the ids
    np.save(tmp_path / "x.npy", X)
    with pytest.raises(ValueError, match="single array: it has no id column"):
        read_embeddings(tmp_path / "x.npy", id_column="paths")


def test_read_ids_of_a_parquet_table(tmp_path, molrg):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    X, y = molrg
    names = [f"sample-{i}" for i in range(len(X))]
    pq.write_table(pa.table({"name": names, "embedding": list(X), "y": y}), tmp_path / "x.parquet")
    bunch = read_embeddings(tmp_path / "x.parquet", label_column="y", id_column="name")
    np.testing.assert_array_equal(bunch.data, X)
    assert bunch.ids.tolist() == names and bunch.target.tolist() == y.tolist()


def test_pickled_data_is_refused_never_loaded(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with open(tmp_path / "pickle.npy", "wb") as f:
        pickle.dump(np.ones((3, 2)), f)
    np.savez(tmp_path / "obj.npz", X=np.array([None, 1], dtype=object))
    for name in ("obj.npy", "pickle.npy", "obj.npz"):
        with pytest.raises(ValueError, match="pickled"):
            read_embeddings(tmp_path / name)


@pytest.mark.parametrize(
    "array, message",
    [
        (np.ones(5), r"shape \(5,\); embeddings must be 2-D.*reshape\(-1, 1\)"),
        (np.ones((2, 3, 4)), r"shape \(2, 3, 4\).*reshape\(len\(X\), -1\)"),
        (np.ones((0, 3)), "empty array"),
        (np.array([[1.0, np.inf], [np.nan, 0]]),
         r"2 NaN or infinite values \(the first at row 0, column 1\)"),
        (np.array([["a", "b"]]), "<U1 values; embeddings must be numbers"),
        (np.ones((2, 2), dtype=complex), "complex128 values"),
        (np.ones((2, 2)) * 1e200, "magnitude up to 1e\\+200, whose squares overflow float64"),
        (np.ones((2, 2)) * 1e-200, "squares underflow float64; rescale the data"),
        (np.ones((2, 2), dtype=np.float32) * 1e20, "squares overflow float32"),
    ],
)
def test_bad_arrays(tmp_path, array, message):
    np.save(tmp_path / "x.npy", array)
    with pytest.raises(ValueError, match=message):
        read_embeddings(tmp_path / "x.npy")


def test_missing_file_and_unknown_extension(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_embeddings(tmp_path / "nope.npy")
    (tmp_path / "x.xlsx").write_text("1,2\n")
    with pytest.raises(ValueError, match=r"'.xlsx'.*\.npy, \.npz, \.csv, .*\.mat, \.pt, \.h5"):
        read_embeddings(tmp_path / "x.xlsx")
    (tmp_path / "fake.npy").write_text("hello")
    with pytest.raises(ValueError, match="not a .npy file"):
        read_embeddings(tmp_path / "fake.npy")


def test_read_labels(tmp_path):
    (tmp_path / "y.txt").write_text("label\nb\na\nb\n")
    target, names = read_labels(tmp_path / "y.txt", n_samples=3)
    assert target.tolist() == [1, 0, 1] and names.tolist() == ["a", "b"]
    with pytest.raises(ValueError, match="has 3 labels but the data has 5 samples"):
        read_labels(tmp_path / "y.txt", n_samples=5)
    # One short: the header line may be a label that looks like one.
    with pytest.raises(ValueError, match="3 labels after its header line 'label'.*add a header"):
        read_labels(tmp_path / "y.txt", n_samples=4)
    np.save(tmp_path / "y.npy", np.array([2, 2, 5]))
    assert read_labels(tmp_path / "y.npy")[0].tolist() == [0, 0, 1]
    np.save(tmp_path / "nan.npy", np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="NaN"):
        read_labels(tmp_path / "nan.npy")


def test_check_embeddings_converts_ints():
    assert check_embeddings(np.ones((2, 2), dtype=np.int32)).dtype == np.float64


def _write_png(path, array):
    from PIL import Image

    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(path)


def test_read_image_folder_classes_from_subfolders(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("cats", "dogs"):
        (tmp_path / name).mkdir()
        for i in range(3):
            _write_png(tmp_path / name / f"{i}.png", rng.integers(0, 256, (6, 5)))
    (tmp_path / "cats" / "notes.txt").write_text("not an image")
    bunch = read_image_folder(tmp_path, features="pixels")
    assert bunch.data.shape == (6, 30) and bunch.images.shape == (6, 6, 5)
    assert bunch.target.tolist() == [0, 0, 0, 1, 1, 1]
    assert bunch.target_names.tolist() == ["cats", "dogs"]
    assert bunch.filenames[0] == "cats/0.png"
    assert 0 <= bunch.data.min() and bunch.data.max() <= 1


def test_read_image_folder_finds_a_class_at_any_depth_and_skips_hidden_files(tmp_path):
    rng = np.random.default_rng(0)
    for path in ("cats/0.png", "cats/indoor/1.png", "cats/indoor/night/2.png", "dogs/0.png",
                 "dogs/._0.png", "dogs/.cache/3.png", "birds/.thumbs/0.png"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        _write_png(tmp_path / path, rng.integers(0, 256, (6, 5)))
    (tmp_path / "dogs" / ".DS_Store").write_bytes(b"\0\1")
    bunch = read_image_folder(tmp_path, features="pixels")
    assert bunch.filenames == ["cats/0.png", "cats/indoor/1.png", "cats/indoor/night/2.png",
                               "dogs/0.png"]
    assert bunch.target.tolist() == [0, 0, 0, 1] and bunch.target_names.tolist() == ["cats", "dogs"]


def test_read_image_folder_says_which_images_it_leaves_out(tmp_path):
    rng = np.random.default_rng(0)
    for path in ("0.png", "1.png", "rejected/2.png"):
        (tmp_path / path).parent.mkdir(exist_ok=True)
        _write_png(tmp_path / path, rng.integers(0, 256, (6, 5)))
    with pytest.warns(UserWarning, match="holds 2 images and sub-folders with 1 more"):
        bunch = read_image_folder(tmp_path, features="pixels")
    assert bunch.filenames == ["0.png", "1.png"] and bunch.target is None


def test_read_image_folder_scattering_features(tmp_path):
    pytest.importorskip("kymatio")
    rng = np.random.default_rng(0)
    for i in range(4):
        _write_png(tmp_path / f"{i}.png", rng.integers(0, 256, (28, 28)))
    bunch = read_image_folder(tmp_path)
    assert bunch.data.shape == (4, 3472)  # 217 channels x 4 x 4 after padding to 32
    assert bunch.feature_params == {"features": "scattering", "shape": [28, 28], "J": 3, "L": 8,
                                    "pad_to": 32, "normalize": "channel"}
    # A recipe saved before per-channel scaling existed still means raw coefficients.
    old = {k: v for k, v in bunch.feature_params.items() if k != "normalize"}
    np.testing.assert_allclose(
        image_features(bunch.images, old), scattering_features(bunch.images, normalize=None)
    )
    assert bunch.target is None
    assert read_image_folder(tmp_path, n_components=3).data.shape == (4, 3)


def test_read_image_folder_reads_the_formats_face_sets_ship_in(tmp_path):
    """The AT&T faces are PGM files in one folder per person."""
    from PIL import Image

    rng = np.random.default_rng(0)
    written = []
    for person, suffix in enumerate([".pgm", ".bmp", ".tif"]):
        (tmp_path / f"s{person + 1}").mkdir()
        for i in range(2):
            written.append(rng.integers(0, 256, (6, 5), dtype=np.uint8))
            Image.fromarray(written[-1]).save(tmp_path / f"s{person + 1}" / f"{i + 1}{suffix}")
    bunch = read_image_folder(tmp_path, features="pixels")
    assert bunch.target.tolist() == [0, 0, 1, 1, 2, 2]
    assert bunch.filenames[0] == os.path.join("s1", "1.pgm")
    np.testing.assert_allclose(bunch.data, np.array(written).reshape(6, 30) / 255.0)


def test_read_images_keeps_the_depth_of_16_bit_and_float_images(tmp_path):
    from PIL import Image

    from subclust.io import read_images

    levels = np.linspace(0, 1, 30).reshape(6, 5)
    Image.fromarray((levels * 65535).round().astype(np.uint16)).save(tmp_path / "deep.png")
    Image.fromarray(levels.astype(np.float32)).save(tmp_path / "float.tif")
    Image.fromarray((levels * 255).round().astype(np.uint8)).save(tmp_path / "grey.png")
    images = read_images([tmp_path / name for name in ("deep.png", "float.tif", "grey.png")])
    np.testing.assert_allclose(images, np.stack([levels] * 3), atol=0.5 / 255)
    assert len(np.unique(images[0])) == 30  # not clipped to 8 bits


def test_read_images_turns_photographs_upright(tmp_path):
    from PIL import Image

    from subclust.io import read_images

    pixels = np.zeros((6, 4), dtype=np.uint8)
    pixels[0, 0] = 255
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 6  # EXIF orientation: the camera was turned by 90 degrees
    image.save(tmp_path / "photo.png", exif=exif)
    upright = read_images([tmp_path / "photo.png"])[0]
    assert upright.shape == (4, 6) and upright[0, -1] == 1.0

def test_read_images_shrinks_large_images_to_a_largest_side(tmp_path):
    from PIL import Image

    from subclust.io import read_images

    wide = np.zeros((100, 200), dtype=np.uint8)
    wide[:, 100:] = 255  # right half white
    Image.fromarray(wide).save(tmp_path / "wide.png")
    Image.fromarray(np.full((20, 30), 255, dtype=np.uint8)).save(tmp_path / "small.png")
    [shrunk] = read_images([tmp_path / "wide.png"], max_side=64)
    assert shrunk.shape == (32, 64)  # the aspect kept
    np.testing.assert_allclose(shrunk[:, :30], 0.0, atol=0.01)
    np.testing.assert_allclose(shrunk[:, 34:], 1.0, atol=0.01)
    assert read_images([tmp_path / "small.png"], max_side=64).shape == (1, 20, 30)  # untouched
    assert read_images([tmp_path / "wide.png"], resize=(10, 10), max_side=64).shape == (1, 10, 10)


def test_read_images_says_it_reads_the_first_frame_of_a_stack(tmp_path):
    from PIL import Image

    from subclust.io import read_images

    frames = [Image.fromarray(np.full((4, 4), level, dtype=np.uint8)) for level in (0, 128, 255)]
    frames[0].save(tmp_path / "stack.tif", save_all=True, append_images=frames[1:])
    frames[2].save(tmp_path / "single.tif")
    with pytest.warns(UserWarning, match=r"1 of the 2 images hold several frames .*stack\.tif"):
        images = read_images([tmp_path / "stack.tif", tmp_path / "single.tif"])
    assert images[:, 0, 0].tolist() == [0.0, 1.0]


def test_read_images_ignores_what_transparent_pixels_store(tmp_path):
    from PIL import Image

    from subclust.io import read_images

    # Left-over white under a transparent half, as background removal leaves it.
    rgba = np.full((4, 6, 4), 255, dtype=np.uint8)
    rgba[:, :3, 3] = 0
    rgba[:, 3:, 3] = 128
    Image.fromarray(rgba, "RGBA").save(tmp_path / "cutout.png")
    palette = Image.fromarray(np.tile([0, 1], (4, 3)).astype(np.uint8), "P")
    palette.putpalette([255, 255, 255, 255, 255, 255] + [0] * 762)
    palette.save(tmp_path / "icon.png", transparency=0)  # index 0 transparent
    cutout, icon = read_images([tmp_path / "cutout.png", tmp_path / "icon.png"], shape=(4, 6))
    np.testing.assert_allclose(cutout[:, :3], 0.0)
    np.testing.assert_allclose(cutout[:, 3:], 128 / 255, atol=1 / 255)
    assert icon[:, ::2].max() == 0.0 and icon[:, 1::2].min() == 1.0



def test_read_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_image_folder(tmp_path / "nope")
    with pytest.raises(ValueError, match=r"holds no PNG/JPG/JPEG/PGM/\S* images"):
        read_image_folder(tmp_path)
    _write_png(tmp_path / "a.png", np.zeros((4, 4)))
    _write_png(tmp_path / "b.png", np.zeros((5, 4)))
    with pytest.raises(ValueError, match=r"b.png is 5x4 pixels but the first image is 4x4"):
        read_image_folder(tmp_path, features="pixels")
    (tmp_path / "b.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(ValueError, match="b.png could not be read as an image"):
        read_image_folder(tmp_path, features="pixels")


# ----------------------------------------------------------------------------- atomic writes


def test_write_atomic_never_overwrites_without_force(tmp_path):
    target = tmp_path / "out.txt"
    write_atomic(target, lambda f: f.write(b"first"))
    with pytest.raises(FileExistsError, match="pass force=True"):
        write_atomic(target, lambda f: f.write(b"second"))
    assert target.read_bytes() == b"first"
    write_atomic(target, lambda f: f.write(b"second"), force=True)
    assert target.read_bytes() == b"second"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]  # no temporary file left


def test_write_atomic_failure_leaves_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.txt"
    target.write_bytes(b"old")

    def failing(f):
        f.write(b"partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_atomic(target, failing, force=True)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_atomic(tmp_path / "missing" / "x", lambda f: None)


def test_writers_of_the_package_go_through_write_atomic(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    from subclust.io import save_figure, write_text
    from subclust.utils import atomic
    from subclust.utils.tables import Table

    table = Table("t")
    table.add_row(a=1, b=2.5)
    table.to_csv(tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_text() == "a,b\n1,2.5\n"
    with pytest.raises(FileExistsError, match="pass force=True"):
        table.to_csv(tmp_path / "t.csv")
    table.add_row(a=3, b=4.0)
    table.to_csv(tmp_path / "t.csv", force=True)
    assert (tmp_path / "t.csv").read_text().count("\n") == 3
    write_text(tmp_path / "notes.txt", "d = 3\n")
    save_figure(Figure(figsize=(1, 1)), tmp_path / "plot.png", dpi=20)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "plot.png", "t.csv"]

    # An interrupted writer leaves the old file and no temporary one.
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic.os, "fsync", interrupted)
    for write in (lambda: table.to_csv(tmp_path / "t.csv", force=True),
                  lambda: write_text(tmp_path / "notes.txt", "lost", force=True)):
        with pytest.raises(KeyboardInterrupt):
            write()
    assert (tmp_path / "notes.txt").read_text() == "d = 3\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "plot.png", "t.csv"]


# ----------------------------------------------------------------------------- saved models


def _assert_same(a, b, where="estimator"):
    """Equal values of equal types, arrays bit for bit (dtype included)."""
    assert type(a) is type(b), f"{where}: {type(a)} != {type(b)}"
    if isinstance(a, np.ndarray) or isinstance(a, np.generic):
        assert a.dtype == b.dtype, where
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif sp.issparse(a):
        assert a.format == b.format and a.dtype == b.dtype and a.shape == b.shape, where
        assert (a != b).nnz == 0, where
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for k in a:
            _assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif hasattr(a, "get_params"):
        _assert_same(a.get_params(deep=False), b.get_params(deep=False), f"{where} params")
        for name, value in vars(a).items():
            if name.endswith("_") and not name.startswith("_"):
                _assert_same(value, getattr(b, name), f"{where}.{name}")
    elif isinstance(a, np.random.RandomState):
        _assert_same(list(a.get_state()), list(b.get_state()), where)
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b), where
    else:
        assert a == b, where


def _fit_any(estimator, X):
    estimator = clone(estimator)
    params = estimator.get_params()
    settings = {"n_clusters": 3} if "n_clusters" in params else {}
    for name in ("dims", "subspace_dims"):
        if name in params:
            settings[name] = 2
    if "random_state" in params:
        settings["random_state"] = 0
    return estimator.set_params(**settings).fit(X)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda est: type(est).__name__)
def test_round_trip_of_every_estimator(tmp_path, molrg, estimator):
    X, _ = molrg
    fitted = _fit_any(estimator, X)
    loaded = load_model(save_model(fitted, tmp_path / "model.npz"))
    _assert_same(fitted, loaded)
    for method in ("predict", "transform", "score"):
        if hasattr(fitted, method):
            _assert_same(getattr(fitted, method)(X), getattr(loaded, method)(X), method)


def test_round_trip_keeps_float32_and_affine_means(tmp_path, molrg):
    X = molrg[0].astype(np.float32)
    fitted = KSubspaces(n_clusters=3, dims=2, affine=True, random_state=0).fit(X)
    loaded = load_model(save_model(fitted, tmp_path / "model.npz"))
    assert loaded.bases_[0].dtype == np.float32 and loaded.means_.dtype == np.float32
    np.testing.assert_array_equal(loaded.predict(X), fitted.predict(X))
    np.testing.assert_array_equal(loaded.transform(X), fitted.transform(X))


def test_partial_fit_state_is_dropped_and_learning_resumes(tmp_path, molrg):
    X, y = molrg
    kss = KSubspaces(n_clusters=3, dims=2, random_state=np.random.RandomState(0))
    kss.partial_fit(X[::2]).partial_fit(X[1::2])
    loaded = load_model(save_model(kss, tmp_path / "model.npz"))
    np.testing.assert_array_equal(loaded.predict(X), kss.predict(X))
    assert isinstance(loaded.random_state, np.random.RandomState)
    assert loaded._online_stats is None  # the online statistics are not saved...
    loaded.partial_fit(X)  # ...so learning resumes from the saved subspaces
    assert loaded.n_steps_ == 1


@pytest.mark.parametrize("center", [False, True])
def test_round_trip_of_a_pipeline_with_pca(tmp_path, molrg, center):
    X, _ = molrg
    pipe = make_pipeline("kss", 3, dims=2, pca=6, center=center, random_state=0).fit(X)
    loaded, metadata = load_model(
        save_model(pipe, tmp_path / "pipe.npz", metadata={"note": [1, "a"]}), return_metadata=True
    )
    assert [name for name, _ in loaded.steps] == ["normalize", "pca", "renormalize", "cluster"]
    np.testing.assert_array_equal(loaded.predict(X), pipe.predict(X))
    np.testing.assert_array_equal(loaded.named_steps["pca"].components_,
                                  pipe.named_steps["pca"].components_)
    assert metadata == {"note": [1, "a"]}


@pytest.mark.parametrize(
    "value",
    [
        None, True, 3, -2.5, float("inf"), "text", (1, "a"), [1.0, None], {"a": 1, 2: [3]},
        np.float32(1.5), np.int64(7), np.bool_(True),
        np.arange(6, dtype=np.int32).reshape(2, 3), np.array(["x", "yz"]),
        np.array(["a", "b"], dtype=object),
        [np.ones((3, 2), dtype=np.float32), np.zeros((3, 1))],
        sp.random(5, 4, density=0.4, format="csr", random_state=0),
        sp.random(5, 4, density=0.4, format="csc", random_state=0),
        sp.random(5, 4, density=0.4, format="coo", random_state=0),
        sp.random(5, 4, density=0.4, format="lil", random_state=0),
        sp.csr_array(np.eye(3)),
        np.random.RandomState(3),
    ],
    ids=lambda v: type(v).__name__,
)
def test_typed_encoding_round_trips(value):
    encoder = _Encoder()
    node = json.loads(json.dumps(encoder(value, "value")))
    _assert_same(value, _Decoder(encoder.arrays, "test")(node), "value")


def test_generator_round_trip_continues_the_stream():
    rng = np.random.default_rng(5)
    rng.random(3)
    encoder = _Encoder()
    copy = _Decoder(encoder.arrays, "t")(json.loads(json.dumps(encoder(rng, "rng"))))
    np.testing.assert_array_equal(copy.random(4), rng.random(4))


def test_subclust_dataclasses_and_torch_devices_round_trip():
    torch = pytest.importorskip("torch")
    from subclust.diffusion import VPCosine

    value = {"schedule": VPCosine(offset=0.01), "device": torch.device("cpu")}
    encoder = _Encoder()
    node = json.loads(json.dumps(encoder(value, "value")))
    assert node["items"][0][1]["t"] == "dataclass"
    copy = _Decoder(encoder.arrays, "t")(node)
    assert copy == value and type(copy["schedule"]) is VPCosine


def test_foreign_dataclasses_are_refused():
    import dataclasses

    @dataclasses.dataclass
    class Point:
        x: float = 0.0

    with pytest.raises(ValueError, match="a dataclass that subclust does not export"):
        _Encoder()(Point(), "value")


def test_unsavable_values_are_refused_with_their_name():
    with pytest.raises(ValueError, match=r"value\[0\] is an array of Python objects"):
        _Encoder()([np.array([{"a": 1}], dtype=object)], "value")
    with pytest.raises(ValueError, match=r"value is a builtins.function.*cannot be saved"):
        _Encoder()(lambda x: x, "value")


def test_save_refuses_unfitted_and_foreign_estimators(tmp_path, molrg):
    from sklearn.cluster import KMeans
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        save_model(KSubspaces(), tmp_path / "m.npz")
    kmeans = KMeans(2, n_init=1, random_state=0).fit(molrg[0])
    with pytest.raises(ValueError, match="not one of the estimators a model file may hold"):
        save_model(kmeans, tmp_path / "m.npz")

    class MyKSS(KSubspaces):
        pass

    with pytest.raises(ValueError, match="not one of the estimators"):
        save_model(MyKSS(n_clusters=2, dims=1).fit(molrg[0]), tmp_path / "m.npz")


def test_save_model_does_not_overwrite_without_force(tmp_path, molrg):
    kss = KSubspaces(n_clusters=3, dims=2, random_state=0).fit(molrg[0])
    save_model(kss, tmp_path / "m.npz")
    with pytest.raises(FileExistsError, match="force=True"):
        save_model(kss, tmp_path / "m.npz")
    save_model(kss, tmp_path / "m.npz", force=True)


def _rewrite_header(path, edit):
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    header = json.loads(str(arrays[_HEADER]))
    edit(header)
    arrays[_HEADER] = np.array(json.dumps(header))
    np.savez(path, **arrays)


@pytest.fixture
def saved_kss(tmp_path, molrg):
    kss = KSubspaces(n_clusters=3, dims=2, random_state=0).fit(molrg[0])
    return save_model(kss, tmp_path / "m.npz")


def test_newer_format_version_gives_a_clear_error(saved_kss):
    _rewrite_header(saved_kss, lambda h: h.update(format_version=FORMAT_VERSION + 1))
    with pytest.raises(ValueError, match=f"format version {FORMAT_VERSION + 1}.*reads version "
                                         f"{FORMAT_VERSION} only"):
        load_model(saved_kss)


def test_class_outside_the_whitelist_is_refused(saved_kss):
    def edit(header):
        header["estimator"]["class"] = "Popen"

    _rewrite_header(saved_kss, edit)
    with pytest.raises(ValueError, match="class 'Popen', which is not a subclust estimator"):
        load_model(saved_kss)


def test_not_a_model_file(tmp_path, molrg):
    np.savez(tmp_path / "plain.npz", X=molrg[0])
    with pytest.raises(ValueError, match="not a subclust model file"):
        load_model(tmp_path / "plain.npz")
    np.save(tmp_path / "array.npy", molrg[0])
    with pytest.raises(ValueError, match="not a subclust model file"):
        load_model(tmp_path / "array.npy")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_model(tmp_path / "missing.npz")


def test_whitelist_lists_subclust_estimators_and_pipeline_parts():
    classes = model_classes(include_diffusion=False)
    assert {"KSubspaces", "Pipeline", "Normalizer", "PCA"} <= set(classes)
    assert all(
        cls.__module__.startswith(("subclust.", "sklearn.")) for cls in classes.values()
    )


def test_save_model_can_leave_out_the_affinity(tmp_path, molrg):
    X, _ = molrg
    ssc = SparseSubspaceClustering(n_clusters=3, solver="elastic_net", random_state=0).fit(X)
    pipe = make_pipeline("lsr", 3, pca=6, random_state=0).fit(X)
    big = ("affinity_matrix_", "representation_matrix_")
    for fitted, cluster in ((ssc, ssc), (pipe, pipe.named_steps["cluster"])):
        full = save_model(fitted, tmp_path / "full.npz", force=True)
        small = save_model(fitted, tmp_path / "small.npz", exclude=big, force=True)
        assert small.stat().st_size < full.stat().st_size
        loaded = load_model(small)
        loaded_cluster = loaded[-1] if hasattr(loaded, "steps") else loaded
        assert loaded_cluster.affinity_matrix_ is None
        assert loaded_cluster.representation_matrix_ is None
        np.testing.assert_array_equal(loaded_cluster.labels_, cluster.labels_)
        np.testing.assert_array_equal(loaded.predict(X), fitted.predict(X))


# ----------------------------------------------------------------------------- damaged files


def truncate(path):
    """Keep the first half of a file, as an interrupted copy does."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def corrupt_crc(path):
    """Flip one byte of the first member's data: the archive opens, the CRC check fails."""
    data = bytearray(path.read_bytes())
    data[120] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def edit_model_arrays(path, edit):
    """Rewrite a model file (a valid archive) after ``edit(header, arrays)``."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    header = json.loads(str(arrays.pop(_HEADER)))
    edit(header, arrays)
    np.savez(path, **{_HEADER: np.array(json.dumps(header))}, **arrays)
    return path


def _attribute_node(node, attribute):
    """The first encoded ``attribute`` of an estimator anywhere in a model header."""
    if isinstance(node, dict):
        if node.get("t") == "estimator" and attribute in node.get("attributes", {}):
            return node["attributes"][attribute]
        children = node.values()
    elif isinstance(node, list):
        children = node
    else:
        return None
    for child in children:
        found = _attribute_node(child, attribute)
        if found is not None:
            return found
    return None


def edit_basis(path, edit, k=0):
    """Replace basis ``k`` of the model's clustering step by ``edit(basis)``."""
    def apply(header, arrays):
        key = _attribute_node(header["estimator"], "bases_")["items"][k]["key"]
        arrays[key] = edit(arrays[key].copy())

    return edit_model_arrays(path, apply)


def with_nan(U):
    U[0, 0] = np.nan
    return U


@pytest.mark.parametrize("damage", [truncate, corrupt_crc], ids=["truncated", "bad-crc"])
def test_damaged_archives_are_one_clear_error(tmp_path, molrg, saved_kss, damage):
    np.savez(tmp_path / "emb.npz", X=molrg[0])
    damage(tmp_path / "emb.npz")
    with pytest.raises(ValueError, match=r"emb.npz is truncated or corrupted \(.*\); write it "
                                         "again with np.savez"):
        read_embeddings(tmp_path / "emb.npz")
    damage(saved_kss)
    with pytest.raises(ValueError, match=r"m.npz is truncated or corrupted \(.*\); re-create it"):
        load_model(saved_kss)


@pytest.mark.parametrize(
    "edit, message",
    [
        (with_nan, r"KSubspaces.bases_ holds NaN or infinity"),
        (lambda U: U * 2, r"KSubspaces.bases_\[0\] is not orthonormal"),
        (lambda U: U[:-1], r"KSubspaces.bases_\[0\] has shape \(11, 2\), expected \(12, d\)"),
        (lambda U: U.astype(np.float32), r"KSubspaces.bases_ mix dtypes"),
        (lambda U: U.astype(np.int64), r"KSubspaces.bases_\[0\] has dtype int64"),
    ],
    ids=["nan", "not-orthonormal", "shape", "mixed-dtypes", "int"],
)
def test_loaded_models_are_validated(saved_kss, edit, message):
    edit_basis(saved_kss, edit)
    with pytest.raises(ValueError, match=f"m.npz is damaged: {message}.*; re-create it with "
                                         "`subclust cluster`"):
        load_model(saved_kss)


def test_pipeline_steps_must_agree(tmp_path, molrg):
    path = save_model(make_pipeline("kss", 3, dims=2, pca=6, random_state=0).fit(molrg[0]),
                      tmp_path / "pipe.npz")
    edit_basis(path, lambda U: np.linalg.qr(np.vstack([U, np.zeros((1, 2))]))[0])
    with pytest.raises(ValueError, match=r"pipe.npz is damaged: KSubspaces \(step 'cluster'\)"
                                         r".bases_\[0\] has shape \(7, 2\), expected \(6, d\)"):
        load_model(path)

    def more_components(header, arrays):
        key = _attribute_node(header["estimator"], "components_")["key"]
        arrays[key] = np.vstack([arrays[key], arrays[key][:1]])

    path = save_model(make_pipeline("kss", 3, dims=2, pca=6, random_state=0).fit(molrg[0]),
                      tmp_path / "pipe.npz", force=True)
    edit_model_arrays(path, more_components)
    with pytest.raises(ValueError, match=r"Normalizer \(step 'renormalize'\) takes 6 features "
                                         "but the step before gives 7"):
        load_model(path)


# ----------------------------------------------------------------------------- atomic directories


def test_atomic_directory_appears_whole(tmp_path):
    out = tmp_path / "out"
    with atomic_directory(out) as building:
        (building / "a").write_text("a")
        assert not out.exists() and building.parent == tmp_path
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    with pytest.raises(FileExistsError, match="out exists and is not empty; pass force=True"):
        with atomic_directory(out):
            pass
    (tmp_path / "empty").mkdir()
    with atomic_directory(tmp_path / "empty") as building:  # an empty directory is replaced
        (building / "b").write_text("b")
    assert (tmp_path / "empty" / "b").read_text() == "b"


def test_atomic_directory_failures_keep_the_old_directory(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old").write_text("old")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_directory(out, force=True) as building:
            (building / "new").write_text("new")
            raise RuntimeError("disk full")
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert [p.name for p in out.iterdir()] == ["old"]

    # The final rename fails after the old directory was moved aside: it is put back.
    real_rename = os.rename
    building = None

    def failing_rename(src, dst):
        if str(src) == str(building):
            raise OSError("rename failed")
        return real_rename(src, dst)

    monkeypatch.setattr(os, "rename", failing_rename)
    with pytest.raises(OSError, match="rename failed"):
        with atomic_directory(out, force=True) as building:
            (building / "new").write_text("new")
    assert not building.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert [p.name for p in out.iterdir()] == ["old"]

    with pytest.raises(FileExistsError, match="not ours"):
        with atomic_directory(out, force=True, replaceable=lambda path: "not ours"):
            pass


def test_discard_temporaries_undoes_writes_in_progress(tmp_path):
    def interrupted(f):
        f.write(b"partial")
        discard_temporaries()  # what Ctrl-C does (from the main thread) at this point
        assert list(tmp_path.iterdir()) == []

    with pytest.raises(FileNotFoundError):  # the writer finds its directory gone
        with atomic_directory(tmp_path / "out") as building:
            (building / "a").write_text("a")
            write_atomic(building / "b", interrupted)
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- networks


def test_network_round_trip_is_bit_for_bit(tmp_path):
    torch = pytest.importorskip("torch")
    from subclust.diffusion import UNetDenoiser

    net = UNetDenoiser(channels=8, random_state=0).eval()
    path = save_model(net, tmp_path / "unet.npz", metadata={"steps": 3})
    loaded, metadata = load_model(path, return_metadata=True)
    assert type(loaded) is UNetDenoiser and metadata == {"steps": 3}
    assert not loaded.training and loaded.channels == 8
    for name, tensor in net.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
    x = torch.randn(2, 784, generator=torch.Generator().manual_seed(1))
    c_noise = torch.full((2,), 0.4)
    assert torch.equal(loaded(x, c_noise), net(x, c_noise))


def test_network_that_cannot_be_rebuilt_is_refused_at_save(tmp_path):
    pytest.importorskip("torch")
    from subclust.diffusion import UNetDenoiser

    net = UNetDenoiser(channels=8, random_state=0)
    del net.blocks  # a constructor parameter no longer readable from the network
    with pytest.raises(ValueError, match="parameter 'blocks' is not kept as an attribute"):
        save_model(net, tmp_path / "unet.npz")
    assert not (tmp_path / "unet.npz").exists()


def test_network_with_damaged_weights_is_one_clear_error(tmp_path):
    pytest.importorskip("torch")
    from subclust.diffusion import UNetDenoiser

    path = save_model(UNetDenoiser(channels=8, random_state=0), tmp_path / "unet.npz")

    def poison_first_weight(header, arrays):
        key = header["estimator"]["state"]["items"][0][1]["key"]
        arrays[key] = np.full_like(arrays[key], np.nan)

    edit_model_arrays(path, poison_first_weight)
    with pytest.raises(ValueError, match="damaged: UNetDenoiser weight .* NaN or infinity"):
        load_model(path)

    def drop_a_weight(header, arrays):
        header["estimator"]["state"]["items"].pop()

    edit_model_arrays(path, drop_a_weight)
    with pytest.raises(ValueError, match="does not accept the saved weights"):
        load_model(path)


def test_solver_models_load_without_importing_pytorch(saved_kss):
    # Finding the classes imports the layers they come from, never the whole package.
    script = (
        "import sys; from subclust.io import load_model, model_classes; "
        f"load_model({str(saved_kss)!r}); model_classes(include_diffusion=False); "
        "print(sorted(m for m in ('torch', 'subclust.diffusion', 'subclust.bridge') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
