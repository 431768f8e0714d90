"""Morpho-MNIST measures on drawn strokes; the edit-attribute correspondence on a known denoiser."""

import numpy as np
import pytest

pytest.importorskip("skimage")

from subclust.bridge import ATTRIBUTES, measure_digit, measure_digits  # noqa: E402


def _bar(width=4, lean=0.0, top=4, bottom=24, centre=14):
    """A stroke from row ``top`` to ``bottom``, shifted right by ``lean`` pixels per row upwards."""
    image = np.zeros((28, 28))
    for row in range(top, bottom):
        c = centre + lean * (centre - row)
        image[row, int(round(c - width / 2)): int(round(c + width / 2))] = 1.0
    return image


def test_upright_bar_measures():
    m = measure_digit(_bar(width=4))
    assert m["thickness"] == pytest.approx(4.0, abs=0.3)
    assert m["width"] == pytest.approx(4.0, abs=0.3)
    assert m["height"] == pytest.approx(20.0, abs=0.3)
    assert m["slant"] == pytest.approx(0.0, abs=1e-9)
    assert m["area"] == pytest.approx(80.0, rel=0.05)
    assert 14 <= m["length"] <= 20  # the skeleton stops about half a stroke width from the ends


def test_slant_sign_and_the_sheared_box():
    right = measure_digit(_bar(width=4, lean=0.4))
    left = measure_digit(np.fliplr(_bar(width=4, lean=0.4)))
    assert right["slant"] > 0.3 and left["slant"] == pytest.approx(-right["slant"])
    # Sheared upright, the leaning bar is as narrow as the upright one.
    assert right["width"] == pytest.approx(4.0, abs=1.0)
    assert right["height"] == pytest.approx(20.0, abs=0.3)


def test_measures_follow_the_drawing():
    thin, thick = measure_digits(np.stack([_bar(width=3), _bar(width=7)]))
    col = dict(zip(ATTRIBUTES, range(len(ATTRIBUTES))))
    assert thick[col["thickness"]] > thin[col["thickness"]] + 3
    assert thick[col["area"]] > thin[col["area"]]
    short = measure_digit(_bar(top=10, bottom=20))
    assert short["height"] == pytest.approx(10.0, abs=0.3)
    # Only the range matters: [0, 255] grey levels and a shifted background give the same.
    np.testing.assert_allclose(measure_digits(255 * _bar()[None]), measure_digits(_bar()[None]))
    np.testing.assert_allclose(measure_digits(2 * _bar()[None] - 1), measure_digits(_bar()[None]))
    flat = measure_digits(_bar().reshape(1, 784))
    np.testing.assert_allclose(flat, measure_digits(_bar()[None]))


def test_blank_image_and_bad_input():
    assert all(np.isnan(v) for v in measure_digit(np.zeros((28, 28))).values())
    with pytest.raises(ValueError, match="2-D"):
        measure_digit(np.zeros(28))
    with pytest.raises(ValueError, match="square images"):
        measure_digits(np.zeros((2, 10)))
    with pytest.raises(ValueError, match="scale"):
        measure_digit(np.zeros((28, 28)), scale=0)
    with pytest.raises(ValueError, match="threshold"):
        measure_digit(np.zeros((28, 28)), threshold=1.5)
    with pytest.raises(ValueError, match="NaN"):
        measure_digits(np.full((1, 28, 28), np.nan))


def test_correspondence_finds_the_thickening_direction():
    torch = pytest.importorskip("torch")
    from subclust.bridge import attribute_correspondence

    base = 2 * _bar(width=4) - 1  # in [-1, 1]
    # The denoiser keeps only the component of x_t along v, the two columns flanking the
    # stroke: its Jacobian is v v^T, so sv1 = +-v thickens the stroke; random directions
    # have a component ~ 1/28 along v and barely move the output.
    flank = np.zeros((28, 28))
    flank[4:24, 11] = flank[4:24, 16] = 1.0
    v = flank.ravel() / np.linalg.norm(flank)
    base_t, v_t = torch.as_tensor(base.ravel()), torch.as_tensor(v)

    def denoiser(z, t):
        return base_t + (z @ v_t)[:, None] * v_t - 2.0 * v_t  # flanks at -1 when z . v = 0

    X_t = np.zeros((3, 784))
    result = attribute_correspondence(denoiser, X_t, 0.5, rank=2, n_random=3, steps=7,
                                      amplitude=12.0, generator=0)
    assert result.directions == ["sv1", "sv2", "rand1", "rand2", "rand3"]
    assert result.deltas.shape == (3, 5, 7, len(ATTRIBUTES))
    np.testing.assert_allclose(result.deltas[:, :, 3], 0.0)  # the middle step is unedited
    best, value = result.best_singular("thickness")
    assert best == "sv1" and value > 0.8  # monotone, flat where the flanks are already dark
    assert result.random_control("thickness") < 0.2
    assert result.output_norms[:, 0].mean() > 10 * result.output_norms[:, 2:].mean()
    table = result.table()
    assert [row["direction"] for row in table.rows] == result.directions
    assert any("thickness: best sv1" in note for note in table.notes)
    with pytest.raises(ValueError, match="odd integer"):
        attribute_correspondence(denoiser, X_t, 0.5, steps=4)
    with pytest.raises(ValueError, match="amplitude"):
        attribute_correspondence(denoiser, X_t, 0.5, amplitude=0)
