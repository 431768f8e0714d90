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


def _flank_denoiser():
    """A denoiser that keeps only the part of ``x_t`` along ``v``, the columns flanking a stroke.

    Its Jacobian is ``v v^T``: sv1 = +-v thickens the stroke, every other direction
    (random ones have a component ~ 1/28 along v) barely moves the output.
    """
    torch = pytest.importorskip("torch")
    base = torch.as_tensor((2 * _bar(width=4) - 1).ravel())  # in [-1, 1]
    flank = np.zeros((28, 28))
    flank[4:24, 11] = flank[4:24, 16] = 1.0
    v = torch.as_tensor(flank.ravel() / np.linalg.norm(flank))

    def denoiser(z, t):
        return base + (z @ v)[:, None] * v - 2.0 * v  # flanks at -1 when z . v = 0

    return denoiser


def test_correspondence_finds_the_thickening_direction():
    from subclust.bridge import attribute_correspondence

    denoiser = _flank_denoiser()
    X_t = np.zeros((3, 784))
    result = attribute_correspondence(denoiser, X_t, 0.5, rank=2, n_random=3, n_edits=40,
                                      amplitude=12.0, random_state=0)
    assert result.directions == ["sv1", "sv2", "rand1", "rand2", "rand3"]
    assert result.steps.shape == (3, 40, 5)
    assert result.measures.shape == (3, 40, len(ATTRIBUTES))
    np.testing.assert_allclose(result.baseline[:, ATTRIBUTES.index("thickness")], 4.0, atol=0.3)
    r = result.correlations()
    assert r.shape == (3, 5, len(ATTRIBUTES))
    j = ATTRIBUTES.index("thickness")
    assert np.all(np.abs(r[:, 0, j]) > 0.7)  # sv1 drives the thickness at every digit
    assert result.best_singular("thickness") > 0.7
    assert result.random_control("thickness") < 0.2
    assert result.best_random("thickness") < 0.4
    assert result.singular_values[:, 0] == pytest.approx(1.0, abs=1e-6)
    table = result.table()
    assert [row["direction"] for row in table.rows] == result.directions + ["best sv",
                                                                             "best rand"]
    assert table.rows[-2]["thickness"] == pytest.approx(result.best_singular("thickness"))
    again = attribute_correspondence(denoiser, X_t, 0.5, rank=2, n_random=3, n_edits=40,
                                     amplitude=12.0, random_state=0)
    np.testing.assert_array_equal(again.measures, result.measures)  # same seed, same result


def test_correspondence_is_a_share_not_a_smoothness():
    """A small but perfectly regular effect is drowned by a large one moved at the same time."""
    torch = pytest.importorskip("torch")
    from subclust.bridge import attribute_correspondence

    base = torch.as_tensor((2 * _bar(width=4) - 1).ravel())
    # Two columns beside the stroke, each row at its own margin from the ink threshold
    # (0, midway between background and stroke): a step along a column's unit vector inks
    # the rows whose margin it overcomes. Over the steps, the gain of a (0.3) moves 18 rows
    # across the threshold, that of b (0.015) one.
    columns = []
    for col in (16, 11):
        m = np.zeros((28, 28))
        m[4:24, col] = 1.0
        columns.append(torch.as_tensor(m.ravel() / np.linalg.norm(m)))
    a, b = columns
    offset = torch.zeros(784, dtype=torch.float64)
    for col in (16, 11):
        offset.view(28, 28)[4:24, col] = 1 + torch.linspace(-0.4, 0.36, 20, dtype=torch.float64)

    def denoiser(z, t):  # Jacobian 0.3 a a^T + 0.015 b b^T
        return base + offset + 0.3 * (z @ a)[:, None] * a + 0.015 * (z @ b)[:, None] * b

    result = attribute_correspondence(denoiser, np.zeros((2, 784)), 0.5, rank=2, n_random=0,
                                      n_edits=64, amplitude=6.0, random_state=1)
    r = np.abs(result.correlations()[:, :, ATTRIBUTES.index("area")])
    assert np.all(r[:, 0] > 0.9) and np.all(r[:, 1] < 0.3)
    assert np.isnan(result.random_control("area"))  # no random direction, no control
    assert [row["direction"] for row in result.table().rows] == ["sv1", "sv2", "best sv"]


def test_correspondence_rejects_bad_input():
    from subclust.bridge import attribute_correspondence

    denoiser = _flank_denoiser()
    X_t = np.zeros((2, 784))
    with pytest.raises(ValueError, match="n_edits"):
        attribute_correspondence(denoiser, X_t, 0.5, n_edits=2)
    with pytest.raises(ValueError, match="amplitude"):
        attribute_correspondence(denoiser, X_t, 0.5, amplitude=0)
    with pytest.raises(ValueError, match="n_random"):
        attribute_correspondence(denoiser, X_t, 0.5, n_random=-1)
    with pytest.raises(ValueError, match="rank"):
        attribute_correspondence(denoiser, X_t, 0.5, rank=0)
    with pytest.raises(ValueError, match="NaN"):
        attribute_correspondence(denoiser, np.full((1, 784), np.nan), 0.5)
