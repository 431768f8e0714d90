"""Small images (8x8 digits) through ``subclust cluster``: scattering parameters from the size."""

import json

import numpy as np
import pytest

from subclust.cli import main
from subclust.io import image_feature_params


@pytest.mark.parametrize(
    ("shape", "expected"),
    [((8, 8), (2, 16)), ((16, 16), (2, 16)), ((28, 28), (3, 32)), ((20, 30), (3, 32)),
     ((64, 64), (3, 64))],
)
def test_auto_scattering_grid_keeps_four_by_four_per_channel(shape, expected):
    params = image_feature_params(shape)
    assert (params["J"], params["pad_to"]) == expected
    assert params["pad_to"] // 2 ** params["J"] >= 4


def test_a_given_J_gets_a_padding_it_fits():
    params = image_feature_params((8, 8), J=3)
    assert (params["J"], params["pad_to"]) == (3, 16)  # both sides must exceed 2**J
    params = image_feature_params((8, 8), pad_to=None)
    assert (params["J"], params["pad_to"]) == (1, None)  # unpadded: 4x4 per channel


@pytest.fixture(scope="module")
def digits_folder(tmp_path_factory):
    """scikit-learn's 8x8 digits 0, 1 and 4 (25 each) as PNG files, one sub-folder per digit."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    folder = tmp_path_factory.mktemp("digits8")
    for digit in (0, 1, 4):
        (folder / str(digit)).mkdir()
        for i in np.flatnonzero(digits.target == digit)[:25]:
            pixels = np.round(digits.images[i] * 255 / 16).astype(np.uint8)
            Image.fromarray(pixels).save(folder / str(digit) / f"{i:04d}.png")
    return folder


def test_cluster_and_predict_8x8_images(capsys, tmp_path, digits_folder):
    pytest.importorskip("kymatio")
    out = tmp_path / "out"
    code = main(["cluster", str(digits_folder), "--n-clusters", "3", "-o", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    report = json.loads((out / "report.json").read_text())
    params = report["input"]["feature_params"]
    assert (params["shape"], params["J"], params["pad_to"]) == ([8, 8], 2, 16)
    assert report["metrics"]["accuracy"] >= 0.9
    # The model repeats the same scattering transform on new 8x8 images.
    code = main(["predict", str(out / "model.npz"), str(digits_folder)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    predicted = [line.split(",")[2] for line in captured.out.splitlines()[1:]]
    labels = [line.split(",")[2] for line in (out / "labels.csv").read_text().splitlines()[1:]]
    assert np.mean(np.array(predicted) == np.array(labels)) >= 0.9
