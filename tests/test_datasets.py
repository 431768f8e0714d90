"""Benchmark loaders, the data registry, checksums and scattering features.

Tests on real data read the data home named by SUBCLUST_DATA and are skipped,
with the reason, when it is not set or a file is missing. Corrupted copies
are written under pytest's tmp_path only.
"""

import gzip
import importlib
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

import subclust.datasets as ds
from subclust.datasets import (
    ChecksumError,
    fetch_file,
    get_cache_dir,
    get_data_home,
    list_datasets,
    load_coil20,
    load_fashion_mnist_sprite,
    load_mnist,
    load_registry,
    load_yaleb,
    verify_datasets,
)

REPO = Path(__file__).resolve().parents[1]


def real_data(*names):
    """The data home holding these registered files, or skip the test saying why."""
    if not os.environ.get("SUBCLUST_DATA"):
        pytest.skip("SUBCLUST_DATA is not set: no benchmark data to test the loaders on")
    home = get_data_home()
    missing = [n for n in names if not (home / n).is_file()]
    if missing:
        pytest.skip(f"benchmark files missing from {home}: {missing}")
    return home


def copy_to(tmp_path, home, name):
    target = tmp_path / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(home / name, target)
    return target


def flip_byte(path, offset):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def needs_kymatio():
    return pytest.importorskip(
        "kymatio.scattering2d.frontend.numpy_frontend",
        reason="kymatio (the `features` extra) is not installed",
    )


# --- data home and registry ------------------------------------------------------------


def test_data_home_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("SUBCLUST_DATA", str(tmp_path / "from_env"))
    assert get_data_home(tmp_path / "given") == tmp_path / "given"
    assert get_data_home() == tmp_path / "from_env"
    monkeypatch.delenv("SUBCLUST_DATA")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert get_data_home() == tmp_path / "subclust_data"


def test_cache_dir_falls_back_when_data_home_is_read_only(monkeypatch, tmp_path):
    monkeypatch.delenv("SUBCLUST_CACHE", raising=False)
    assert get_cache_dir(data_home=tmp_path) == tmp_path / "cache"
    assert get_cache_dir(tmp_path / "mine", data_home=tmp_path) == tmp_path / "mine"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    read_only = tmp_path / "shared"
    read_only.mkdir()
    # Root may write anywhere: pretend the shared data home is read-only, as for users.
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda p, mode: False if Path(p) == read_only else real_access(p, mode)
    )
    assert get_cache_dir(data_home=read_only) == tmp_path / "xdg" / "subclust"
    monkeypatch.setenv("SUBCLUST_CACHE", str(tmp_path / "env"))
    assert get_cache_dir(data_home=read_only) == tmp_path / "env"


def test_packaged_registry_is_the_repository_registry():
    packaged = json.loads((REPO / "subclust" / "datasets" / "registry.json").read_text())
    assert packaged == json.loads((REPO / "data" / "registry.json").read_text())
    assert load_registry() == packaged


def test_registry_is_complete_and_loaders_cite_their_sources():
    registry = load_registry()
    for name, entry in registry["files"].items():
        assert entry["dataset"] in registry["datasets"], name
        assert len(entry["sha256"]) == 64 and entry["bytes"] > 0, name
    for key, info in registry["datasets"].items():
        assert info["citation"], f"{key} has no citation"
        loader = getattr(ds, info["loader"])
        for citation in info["citation"]:
            # The first author's surname, e.g. "Georghiades" in "A. S. Georghiades, ...".
            surname = citation.split(":")[-1].split(",")[0].split()[-1]
            assert surname in loader.__doc__, f"{info['loader']} does not cite {surname}"
    assert set(list_datasets().column("file")) == set(registry["files"])


def test_missing_file_message_names_path_and_source(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        load_mnist(data_home=tmp_path)
    message = str(error.value)
    assert str(tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz") in message
    assert "SUBCLUST_DATA" in message
    assert load_registry()["files"]["mnist/t10k-images-idx3-ubyte.gz"]["url"] in message
    # No stable URL known: the message points to the data set's homepage instead.
    with pytest.raises(FileNotFoundError, match="ExtYaleB.html"):
        load_yaleb(data_home=tmp_path)


def test_unknown_file_and_bad_arguments_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="not a registered data file"):
        fetch_file("yaleb/nope.mat", data_home=tmp_path)
    with pytest.raises(ValueError, match="'resolution' parameter of load_yaleb must be a str among"):
        load_yaleb(resolution="64x64", data_home=tmp_path)
    bad_subjects = [(0, r"\[1, 38\]"), ([3, 39], "1..38"), ([2, 2], "repeated"), ([], "empty")]
    for subjects, match in bad_subjects:
        with pytest.raises(ValueError, match=match):
            load_yaleb(subjects=subjects, data_home=tmp_path)


# --- checksums ---------------------------------------------------------------------------


def test_corrupted_copy_is_detected(tmp_path):
    name = "fashion_mnist/fashion_mnist_sprite900.npz"
    home = real_data(name)
    target = copy_to(tmp_path, home, name)
    assert load_fashion_mnist_sprite(data_home=tmp_path).images.shape == (900, 28, 28)
    # Same size, new content and mtime: the per-process digest cache must not hide it.
    flip_byte(target, 1000)
    os.utime(target, ns=(1, 1))
    with pytest.raises(ChecksumError, match="failed verification") as error:
        load_fashion_mnist_sprite(data_home=tmp_path)
    assert str(target) in str(error.value) and "verify=False" in str(error.value)
    assert fetch_file(name, data_home=tmp_path, verify=False) == target


def test_truncated_copy_is_reported_by_verify_datasets(tmp_path):
    names = ["mnist/t10k-labels-idx1-ubyte.gz", "coil20/COIL20.mat"]
    home = real_data(*names)
    copy_to(tmp_path, home, names[0])
    truncated = copy_to(tmp_path, home, names[1])
    truncated.write_bytes(truncated.read_bytes()[:1000])
    status = dict(zip(*(verify_datasets(tmp_path).column(c) for c in ("file", "status"))))
    assert status[names[0]] == "ok"
    assert status[names[1]] == "wrong size"
    assert status["yaleb/ExtendedYaleB_48x42.mat"] == "missing"


def test_recompressed_mirror_file_with_the_canonical_payload_is_accepted(tmp_path):
    name = "mnist/t10k-labels-idx1-ubyte.gz"
    home = real_data(name)
    target = tmp_path / name
    target.parent.mkdir(parents=True)
    with gzip.open(home / name) as f:
        payload = f.read()
    target.write_bytes(gzip.compress(payload, compresslevel=1, mtime=12345))
    assert target.read_bytes() != (home / name).read_bytes()
    assert fetch_file(name, data_home=tmp_path) == target
    target.write_bytes(gzip.compress(payload[:-1] + b"\x00", mtime=12345))
    with pytest.raises(ChecksumError):
        fetch_file(name, data_home=tmp_path)


# --- loaders on the real data -----------------------------------------------------------


def check_bunch(bunch, n, shape, n_classes):
    assert bunch.data.shape == (n, shape[0] * shape[1]) and bunch.data.dtype == np.float64
    assert bunch.images.shape == (n, *shape)
    np.testing.assert_array_equal(bunch.data, bunch.images.reshape(n, -1))
    assert 0.0 <= bunch.data.min() and bunch.data.max() <= 1.0 and bunch.data.max() > 0.9
    assert bunch.target.shape == (n,) and bunch.target.dtype.kind == "i"
    assert set(np.unique(bunch.target)) == set(range(n_classes))
    assert len(bunch.target_names) == n_classes
    assert len(bunch.feature_names) == bunch.data.shape[1]


def band(image, start, stop):
    """Mean brightness of the rows between fractions start and stop of the height."""
    h = image.shape[0]
    return image[int(start * h) : int(stop * h)].mean()


@pytest.mark.parametrize(
    "resolution, shape, name",
    [
        ("48x42", (48, 42), "yaleb/ExtendedYaleB_48x42.mat"),
        ("32x32", (32, 32), "yaleb/YaleB_32x32.mat"),
    ],
)
def test_yaleb(resolution, shape, name):
    home = real_data(name)
    faces = load_yaleb(resolution, data_home=home)
    check_bunch(faces, 2414, shape, 38)
    counts = np.bincount(faces.target)
    assert counts.max() == 64 and counts.min() >= 59 and (counts == 64).sum() == 31
    assert "Georghiades" in faces.DESCR
    # Upright: the eyes of the mean face are darker than its mouth (an upside-down
    # face would have them the other way round).
    mean_face = faces.images.mean(axis=0)
    assert band(mean_face, 0.17, 0.27) < band(mean_face, 0.72, 0.82) - 0.03


def test_yaleb_subject_selection():
    home = real_data("yaleb/YaleB_32x32.mat")
    first = load_yaleb("32x32", subjects=3, data_home=home)
    assert first.data.shape == (3 * 64, 1024)
    np.testing.assert_array_equal(first.subjects, [1, 2, 3])
    picked = load_yaleb("32x32", subjects=[3, 1], data_home=home)
    np.testing.assert_array_equal(np.bincount(picked.target), [64, 64])
    # target k is subject subjects[k], whatever the order asked for.
    for k, subject in enumerate([3, 1]):
        np.testing.assert_array_equal(
            picked.images[picked.target == k], first.images[first.target == subject - 1]
        )


def test_coil20():
    home = real_data("coil20/COIL20.mat")
    coil = load_coil20(data_home=home)
    check_bunch(coil, 1440, (32, 32), 20)
    assert (np.bincount(coil.target) == 72).all()
    # Upright, checked by eye: object 1 is a toy duck whose body fills the lower half
    # of every pose; transposed or upside-down images would not show this.
    duck = coil.images[coil.target == 0].mean(axis=0)
    assert band(duck, 0.5, 1.0) > 1.3 * band(duck, 0.0, 0.5)


def test_mnist():
    home = real_data("mnist/t10k-images-idx3-ubyte.gz", "mnist/t10k-labels-idx1-ubyte.gz")
    digits = load_mnist(data_home=home)
    check_bunch(digits, 10000, (28, 28), 10)
    np.testing.assert_array_equal(
        np.bincount(digits.target), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    )
    # Upright: a 7 has its bar on top; a 1 is taller than it is wide.
    seven = digits.images[digits.target == 7].mean(axis=0)
    assert band(seven, 0.25, 0.4) > 2 * band(seven, 0.7, 0.85)
    one = digits.images[digits.target == 1].mean(axis=0)
    assert (one.mean(axis=1) > 0.05).sum() > 2 * (one.mean(axis=0) > 0.05).sum()

    head = load_mnist(data_home=home, n_samples=50)
    np.testing.assert_array_equal(head.data, digits.data[:50])
    drawn = load_mnist(data_home=home, n_samples=50, random_state=0)
    np.testing.assert_array_equal(drawn.target, digits.target[drawn.indices])
    assert not np.array_equal(drawn.indices, head.indices)
    with pytest.raises(ValueError, match="'n_samples' parameter of load_mnist must be an int"):
        load_mnist(data_home=home, n_samples=0)


def test_fashion_mnist_sprite():
    home = real_data("fashion_mnist/fashion_mnist_sprite900.npz")
    clothes = load_fashion_mnist_sprite(data_home=home)
    check_bunch(clothes, 900, (28, 28), 10)
    assert (np.bincount(clothes.target) == 90).all()
    assert clothes.target_names[9] == "Ankle boot"
    assert "not the test set" in clothes.DESCR
    # Upright: an ankle boot's sole is at the bottom.
    boot = clothes.images[clothes.target == 9].mean(axis=0)
    assert band(boot, 0.6, 0.8) > 2 * band(boot, 0.05, 0.25)


def test_fashion_mnist_sprite_from_the_picture_alone(tmp_path):
    npz = "fashion_mnist/fashion_mnist_sprite900.npz"
    png = "fashion_mnist/fashion-mnist-sprite.png"
    home = real_data(npz, png)
    pytest.importorskip("PIL", reason="Pillow is needed to read the sprite picture")
    with pytest.raises(FileNotFoundError, match="fashion-mnist-sprite.png"):
        load_fashion_mnist_sprite(data_home=tmp_path)  # the message offers the picture
    copy_to(tmp_path, home, png)
    cut = load_fashion_mnist_sprite(data_home=tmp_path)
    archived = load_fashion_mnist_sprite(data_home=home)
    np.testing.assert_array_equal(cut.images, archived.images)
    np.testing.assert_array_equal(cut.target, archived.target)


def test_cli_datasets(tmp_path, capsys):
    from subclust.cli import main

    assert main(["datasets", "path", "--data-home", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path)
    assert main(["datasets", "list"]) == 0
    assert "yaleb/ExtendedYaleB_48x42.mat" in capsys.readouterr().out
    assert main(["datasets", "verify", "--data-home", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    n_files = len(load_registry()["files"])
    assert "missing" in captured.out and f"{n_files} of {n_files} data files" in captured.err


# --- scattering features -----------------------------------------------------------------


def test_scattering_features_shape_and_padding():
    needs_kymatio()
    rng = np.random.default_rng(0)
    images = rng.random((3, 28, 28))
    features = ds.scattering_features(images, J=3, L=8, pad_to=32)
    assert features.shape == (3, 217 * 4 * 4) and features.dtype == np.float64
    # Padding inside equals padding beforehand; batches do not change the result.
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2)))
    np.testing.assert_allclose(ds.scattering_features(padded, pad_to=None), features)
    np.testing.assert_allclose(ds.scattering_features(images, batch_size=1, n_jobs=2), features)
    assert ds.scattering_features(images.astype(np.float32)).dtype == np.float32
    # Raw coefficients are linear in the brightness; per-channel scaling removes it,
    # and leaves every channel of every image with a largest magnitude of one.
    raw = ds.scattering_features(images, normalize=None)
    np.testing.assert_allclose(ds.scattering_features(2 * images, normalize=None), 2 * raw,
                               rtol=1e-6)
    np.testing.assert_allclose(ds.scattering_features(2 * images), features, rtol=1e-6)
    np.testing.assert_allclose(np.abs(features.reshape(3, 217, 16)).max(axis=2), 1.0)
    np.testing.assert_allclose(features.reshape(3, 217, 16) * np.abs(raw.reshape(3, 217, 16))
                               .max(axis=2, keepdims=True), raw.reshape(3, 217, 16), rtol=1e-6)


def test_scattering_features_rejects_bad_input():
    needs_kymatio()
    images = np.zeros((2, 28, 28))
    with pytest.raises(ValueError, match="reshape"):
        ds.scattering_features(images.reshape(2, -1))
    with pytest.raises(ValueError, match="pad_to=16 is smaller"):
        ds.scattering_features(images, pad_to=16)
    with pytest.raises(ValueError, match="too small for J=5"):
        ds.scattering_features(images, J=5)
    with pytest.raises(ValueError, match="'normalize' parameter of scattering_features must be"):
        ds.scattering_features(images, normalize="l2")
    with pytest.raises(ValueError, match="n_components=10 exceeds"):
        ds.scattering_pca(images, n_components=10)


def test_missing_kymatio_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "kymatio.scattering2d.frontend.numpy_frontend", None)
    with pytest.raises(ImportError, match=r"subclust\[features\]"):
        ds.scattering_features(np.zeros((1, 28, 28)))


def test_mnist_scattering_pca_is_cached(tmp_path):
    needs_kymatio()
    home = real_data("mnist/t10k-images-idx3-ubyte.gz", "mnist/t10k-labels-idx1-ubyte.gz")
    kwargs = dict(n_components=5, n_samples=30, data_home=home, cache_dir=tmp_path)
    first = ds.mnist_scattering_pca(**kwargs)
    assert first.data.shape == (30, 5) and first.target.shape == (30,)
    cache = Path(first.cache_path)
    assert cache.parent == tmp_path and cache.is_file()
    assert not list(tmp_path.glob("*.tmp"))
    # Uncentred PCA: coordinates along orthogonal directions of decreasing energy.
    energy = (first.data**2).sum(axis=0)
    assert np.all(np.diff(energy) <= 0)
    gram = first.data.T @ first.data
    np.testing.assert_allclose(gram - np.diag(np.diag(gram)), 0, atol=1e-8 * energy[0])

    cache.write_bytes(b"not an npz file")
    again = ds.mnist_scattering_pca(**kwargs)  # a damaged cache is recomputed and rewritten
    np.testing.assert_allclose(again.data, first.data)
    mtime = cache.stat().st_mtime_ns
    assert np.array_equal(ds.mnist_scattering_pca(**kwargs).data, again.data)
    assert cache.stat().st_mtime_ns == mtime  # read, not rewritten
    other = ds.mnist_scattering_pca(**{**kwargs, "n_components": 4})
    assert other.cache_path != first.cache_path


def test_subpackage_exports():
    module = importlib.import_module("subclust.datasets")
    for name in module.__all__:
        assert hasattr(module, name), name


def test_motion_trajectories_lie_on_one_affine_subspace_per_motion():
    X, y = ds.make_motion_trajectories(3, n_frames=12, noise=0, random_state=1)
    assert X.shape[1] == 24 and np.unique(y).tolist() == [0, 1, 2]
    assert all(40 <= n <= 300 for n in np.bincount(y))
    for k in range(3):  # a 3-dimensional affine subspace: rank 4, rank 3 once centred
        points = X[y == k]
        assert np.linalg.matrix_rank(points, tol=1e-6) == 4
        assert np.linalg.matrix_rank(points - points.mean(0), tol=1e-6) == 3
    assert np.linalg.matrix_rank(X, tol=1e-6) > 4  # the motions differ
    noisy, same = ds.make_motion_trajectories(3, n_frames=12, random_state=1)
    assert (same == y).all() and 0.2 < np.std(noisy - X) < 0.8  # half a pixel of noise
    with pytest.raises(ValueError, match="'n_frames' parameter of make_motion_trajectories"):
        ds.make_motion_trajectories(2, n_frames=1)


def test_motion_trajectories_of_small_objects_seen_in_perspective():
    X, y = ds.make_motion_trajectories(3, noise=0, object_points=(15, 20), random_state=1)
    assert all(15 <= n <= 20 for n in np.bincount(y)[1:])
    near, _ = ds.make_motion_trajectories(3, noise=0, object_points=(15, 20), camera_distance=1e9,
                                          random_state=1)  # fmt: skip
    np.testing.assert_allclose(near, X, atol=1e-4)  # a far pinhole camera is an affine one
    seen, same = ds.make_motion_trajectories(3, noise=0, object_points=(15, 20),
                                             camera_distance=500, random_state=1)  # fmt: skip
    assert (same == y).all()
    for k in range(3):  # near their 4-dimensional subspaces, no longer on them
        values = np.linalg.svd(seen[y == k], compute_uv=False)
        assert values[4] > 1e-6 * values[0] and np.sum(values[4:] ** 2) < 1e-3 * np.sum(values**2)
    for bad in [(20, 15), (0, 5), (3,), (1.5, 4)]:
        with pytest.raises(ValueError, match="object_points must be two integers"):
            ds.make_motion_trajectories(2, object_points=bad)
    with pytest.raises(ValueError, match="behind the camera; give a larger one"):
        ds.make_motion_trajectories(2, camera_distance=10, random_state=0)


def test_make_molrg_rejects_shapes_that_do_not_fit():
    bad = [
        (dict(n_samples=[]), "at least one component"),
        (dict(n_samples=[5, 5], dims=[2, 2, 2]), "dims has 3 entries for 2 components"),
        (dict(n_features=4, dims=4), r"must lie in \[1, n_features=4\)"),
        (dict(n_samples=[5, -1]), "non-negative"),
        (dict(weights=[0.5, 0.5]), "weights must be 3 non-negative numbers"),
    ]
    for params, match in bad:
        with pytest.raises(ValueError, match=match):
            ds.make_molrg(**params, random_state=0)


def test_yaleb_subjects_are_checked_also_when_a_caller_skips_validation(tmp_path):
    # A validated caller (an experiment) turns off the loader's own parameter check.
    import sklearn

    with sklearn.config_context(skip_parameter_validation=True):
        with pytest.raises(ValueError, match="Extended Yale B has 38 subjects"):
            load_yaleb(subjects=39, data_home=tmp_path)
