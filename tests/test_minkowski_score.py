"""Sets of known Minkowski dimension, box counting, and the W1-vs-N experiment (small sizes)."""

import importlib

import numpy as np
import pytest
from scipy.spatial.distance import pdist

pytest.importorskip("torch")

from subclust.cli import main  # noqa: E402
from subclust.experiments.minkowski_score import (  # noqa: E402
    MINKOWSKI_DIMENSIONS,
    SETS,
    SMALL_CONFIG,
    box_counting_dimension,
    embed_isometric,
    minkowski_score,
    sample_set,
)

# The module, not the function of the same name that subclust.experiments exports.
module = importlib.import_module("subclust.experiments.minkowski_score")

TINY = dict(sets=["clusters", "sierpinski"], n_features=[4], sample_sizes=[16, 32], n_trials=1,
            steps=10, hidden=16, depth=1, sampler_steps=4, n_box_samples=2000)


@pytest.fixture(scope="module")
def small():
    return minkowski_score(**SMALL_CONFIG, random_state=0)


# --------------------------------------------------------------------------- sets


def test_samples_lie_on_their_sets():
    segments = sample_set("segments", 2000, random_state=0)
    # On one of the three segments of the "N": |x| = 1, or on the diagonal y = -x.
    on_side = np.isclose(np.abs(segments[:, 0]), 1)
    assert np.allclose(segments[~on_side, 1], -segments[~on_side, 0])
    assert np.all(np.abs(segments) <= 1 + 1e-12) and 0.2 < on_side.mean() < 0.6

    atoms = sample_set("clusters", 2000, random_state=0)
    assert len(np.unique(atoms.round(12), axis=0)) == 8
    assert np.allclose(np.linalg.norm(atoms, axis=1), 1)

    # Barycentric coordinates of the Sierpinski triangle: the open middle triangle, where all
    # three are below 1/2, is empty (so is every smaller copy of it).
    X = sample_set("sierpinski", 2000, random_state=0)
    corners = module._TRIANGLE
    weights = np.linalg.solve(np.vstack([corners.T, np.ones(3)]), np.vstack([X.T, np.ones(2000)]))
    assert weights.min() > -1e-9 and not np.any(np.all(weights < 0.5 - 1e-9, axis=0))

    cantor = sample_set("cantor", 2000, random_state=0)
    assert np.all(np.abs(cantor) >= 1 / 3 - 1e-9) and np.all(np.abs(cantor) <= 1 + 1e-12)
    assert sample_set("sierpinski-product", 10, random_state=0).shape == (10, 4)


def test_same_seed_same_samples():
    for name in SETS:
        assert np.array_equal(sample_set(name, 50, 3), sample_set(name, 50, 3))
        assert not np.array_equal(sample_set(name, 50, 3), sample_set(name, 50, 4))


def test_isometric_embedding_keeps_distances():
    X = sample_set("sierpinski-product", 200, random_state=0)
    for n_features in (4, 16, 64):
        Y, Q = embed_isometric(X, n_features, random_state=1)
        assert Y.shape == (200, n_features) and Q.shape == (n_features, 4)
        assert np.allclose(Q.T @ Q, np.eye(4))
        assert np.allclose(pdist(Y), pdist(X))
    with pytest.raises(ValueError, match="n_features must be an int >= the dimension"):
        embed_isometric(X, 3)


# --------------------------------------------------------------------------- box counting


def test_box_counting_on_sets_of_known_dimension():
    rng = np.random.default_rng(0)
    segment = np.outer(rng.uniform(size=20000), [3.0, -1.0, 2.0])
    square = rng.uniform(size=(20000, 2))
    assert box_counting_dimension(segment) == pytest.approx(1, abs=0.1)
    assert box_counting_dimension(square) == pytest.approx(2, abs=0.1)
    # Coarse scales bias the polyline up (its corners); the ternary Cantor dust on a dyadic grid
    # oscillates between scales (lacunarity), so 20,000 samples pin it down less tightly.
    for name, tolerance in [("segments", 0.15), ("clusters", 0.05), ("sierpinski", 0.1),
                            ("cantor", 0.2)]:
        X = sample_set(name, 20000, random_state=0)
        estimate = box_counting_dimension(X)
        assert estimate == pytest.approx(MINKOWSKI_DIMENSIONS[name], abs=tolerance), name
    # The grid follows the sample's principal axes: an embedding in R^64 changes nothing.
    X = sample_set("sierpinski", 20000, random_state=0)
    Y, _ = embed_isometric(X, 64, random_state=0)
    assert box_counting_dimension(Y) == pytest.approx(box_counting_dimension(X), abs=0.05)
    dimension, scales, counts = box_counting_dimension(X, return_counts=True)
    assert np.all(np.diff(scales) < 0) and np.all(np.diff(counts) >= 0)
    assert counts.max() <= 0.1 * len(X)


def test_box_counting_rejects_what_it_cannot_measure():
    with pytest.raises(ValueError, match="give more samples"):
        box_counting_dimension(np.random.default_rng(0).uniform(size=(10, 3)))
    with pytest.raises(ValueError, match="single point"):
        box_counting_dimension(np.ones((5, 2)))
    with pytest.raises(ValueError, match="max_fill"):
        box_counting_dimension(np.eye(3), max_fill=0)
    with pytest.raises(ValueError, match="positive box sides"):
        box_counting_dimension(np.eye(3), scales=[1.0, -1.0])


# --------------------------------------------------------------------------- experiment


def test_small_configuration_shapes_and_slopes(small):
    n_sets, n_dims, n_sizes = len(SETS), len(SMALL_CONFIG["n_features"]), 3
    assert len(small.raw.rows) == n_sets * n_dims * n_sizes
    assert small.raw.columns == ["set", "n_features", "N", "trial", "w1_generated", "w1_floor"]
    w1 = np.array(small.raw.column("w1_generated") + small.raw.column("w1_floor"))
    assert np.all(np.isfinite(w1)) and np.all(w1 > 0)
    assert len(small.mean_table().rows) == n_sets * n_dims * n_sizes
    assert len(small.dimensions.rows) == n_sets * n_dims
    slopes = small.slopes()
    assert len(slopes.rows) == n_sets * n_dims * 2
    for row in slopes.rows:
        assert row["ci_low"] <= row["slope"] <= row["ci_high"]
        assert row["expected"] == pytest.approx(-1 / max(MINKOWSKI_DIMENSIONS[row["set"]], 2))
    # Two independent empirical sets come closer as N grows, whatever the set.
    floor = [row["slope"] for row in slopes.rows if row["curve"] == "floor"]
    assert np.mean(floor) < -0.2
    figure = small.plot()
    assert len(figure.axes) == n_sets
    text = str(small)
    assert "Box-counting dimension" in text and "ci_low" in text


def test_same_seed_same_result_and_seeds_matter():
    first, again = minkowski_score(**TINY, random_state=5), minkowski_score(**TINY, random_state=5)
    assert first.raw.rows == again.raw.rows
    assert first.dimensions.rows == again.dimensions.rows
    other = minkowski_score(**TINY, random_state=6)
    assert other.raw.column("w1_floor") != first.raw.column("w1_floor")
    in_two_processes = minkowski_score(**TINY, random_state=5, n_jobs=2)
    assert in_two_processes.raw.rows == first.raw.rows


@pytest.mark.parametrize("change, message", [
    (dict(sets=["torus"]), "sets must be a non-empty selection"),
    (dict(sets=[]), "sets must be a non-empty selection"),
    (dict(sets=["sierpinski-product"], n_features=[3]), "at least 4"),
    (dict(sample_sizes=[32]), "strictly increasing, at least 2"),
    (dict(sample_sizes=[32, 16]), "strictly increasing, at least 2"),
    (dict(n_trials=0), "'n_trials' parameter of minkowski_score must be an int"),
    (dict(steps=2.5), "'steps' parameter of minkowski_score must be an int"),
    (dict(lr=0), "'lr' parameter of minkowski_score must be a float"),
    (dict(sampler="rk4"), "sampler must be one of"),
    (dict(random_state=None), "'random_state' parameter of minkowski_score must be an int"),
    (dict(n_jobs=0), "'n_jobs' parameter of minkowski_score must be an int in the range"),
])
def test_bad_parameters_are_rejected(change, message):
    with pytest.raises(ValueError, match=message):
        minkowski_score(**{**TINY, **change})


def test_sample_set_rejects_unknown_names_and_sizes():
    with pytest.raises(ValueError, match="'name' parameter of sample_set must be a str among"):
        sample_set("torus", 10)
    with pytest.raises(ValueError, match="'n_samples' parameter of sample_set must be an int"):
        sample_set("cantor", 0)


def test_cli_writes_csv_and_plot_and_never_overwrites(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(module, "SMALL_CONFIG", TINY)
    argv = ["minkowski-score", "-o", str(tmp_path), "--small", "--quiet"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "Slope of log W1 vs log N" in out and "Box-counting dimension" in out
    header = (tmp_path / "minkowski_score.csv").read_text().splitlines()[0]
    assert header == "set,n_features,N,trial,w1_generated,w1_floor"
    assert (tmp_path / "minkowski_score.png").stat().st_size > 0
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--force" in err
    assert main(argv + ["--force", "--random-state", "1"]) == 0
