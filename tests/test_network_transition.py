import numpy as np
import pytest

pytest.importorskip("torch")

from subclust.cli import main  # noqa: E402
from subclust.experiments import (  # noqa: E402
    NetworkTransitionResult,
    fit_crossing,
    fit_line,
    network_transition,
)
from subclust.experiments.network_transition import SMALL_CONFIG  # noqa: E402
from subclust.utils.tables import Table  # noqa: E402


@pytest.fixture(scope="module")
def small():
    return network_transition(**SMALL_CONFIG, random_state=1)


def _ramp(N, centre, width=2.0):
    """A score linear in log N_k from 0 to 1, equal to 1/2 at ``centre``."""
    return np.clip(0.5 + (np.log(N) - np.log(centre)) / width, 0, 1)


# --------------------------------------------------------------------------- fits


@pytest.mark.parametrize("centre", [2.5, 7.0, 30.0, 80.0])
def test_fit_crossing_recovers_the_crossing_of_a_ramp_in_log_n(centre):
    N = np.array([1, 2, 3, 5, 10, 20, 50, 100])
    assert fit_crossing(N, _ramp(N, centre, 3.0)) == pytest.approx(centre, rel=1e-9)
    # another level: the ramp is 0.25 at log N = log c - width / 4
    assert fit_crossing(N, _ramp(N, centre, 3.0), level=0.25) == pytest.approx(
        centre * np.exp(-0.75), rel=1e-9)


def test_fit_crossing_takes_the_first_upward_crossing_of_a_curve_that_sags():
    # As measured: the score levels off below 1 and sags at the largest N_k.
    N = np.array([7, 14, 35, 70, 140, 350, 700])
    scores = [0.01, 0.06, 0.39, 0.60, 0.59, 0.48, 0.43]
    expected = np.exp(np.log(35) + (0.5 - 0.39) / (0.60 - 0.39) * np.log(2))
    assert fit_crossing(N, scores) == pytest.approx(expected)


def test_fit_crossing_is_nan_outside_the_grid():
    N = [1, 2, 4]
    assert np.isnan(fit_crossing(N, [0.0, 0.1, 0.4]))  # never reaches the level
    assert np.isnan(fit_crossing(N, [0.6, 0.8, 0.9]))  # already above it


@pytest.mark.parametrize("slope, intercept", [(10.0, 0.0), (3.0, -2.0), (60.0, 15.0)])
def test_crossings_of_synthetic_curves_recover_the_line(slope, intercept):
    rng = np.random.default_rng(1)
    dims = np.repeat([3, 4, 5, 6, 7], 3)
    ratios = np.array([1, 2, 5, 10, 20, 50, 100, 200, 500])
    crossings = [
        fit_crossing(ratios * d, _ramp(ratios * d, slope * d + intercept, 2 + rng.random()))
        for d in dims
    ]
    fit = fit_line(dims, crossings)
    assert fit["slope"] == pytest.approx(slope, rel=1e-9)
    assert fit["intercept"] == pytest.approx(intercept, abs=1e-8)
    assert fit["slope_ci"][0] <= fit["slope"] <= fit["slope_ci"][1]
    assert fit["n_points"] == 15 and fit["r2"] == pytest.approx(1.0)


def test_fit_line_interval_covers_the_true_slope_and_narrows_with_more_points():
    rng = np.random.default_rng(2)
    x_few, x_many = np.repeat([3, 5, 7], 2), np.repeat([3, 4, 5, 6, 7], 20)
    few = fit_line(x_few, 10 * x_few + rng.normal(0, 2, x_few.size))
    many = fit_line(x_many, 10 * x_many + rng.normal(0, 2, x_many.size))
    for fit in (few, many):
        assert fit["slope_ci"][0] < 10 < fit["slope_ci"][1]
    assert np.ptp(many["slope_ci"]) < np.ptp(few["slope_ci"])
    # NaN crossings (outside the grid) are dropped
    assert fit_line([3, 4, 5, 6], [30, np.nan, 50, 60])["n_points"] == 3


@pytest.mark.parametrize("args, match", [
    (([1, 2], [0.2]), "same length"),
    (([2, 1], [0.2, 0.8]), "increasing"),
    (([1, 2], [0.2, 1.5]), r"\[0, 1\]"),
])
def test_fit_crossing_rejects_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        fit_crossing(*args)


def test_fit_line_rejects_too_few_points():
    with pytest.raises(ValueError, match="at least 3 finite points"):
        fit_line([3, 3, 3], [1, 2, 3])


# --------------------------------------------------------------------------- experiment


def test_small_run_shapes_columns_and_ranges(small):
    assert isinstance(small, NetworkTransitionResult)
    dims, ratios, seeds = SMALL_CONFIG["dims"], SMALL_CONFIG["ratios"], SMALL_CONFIG["n_seeds"]
    assert isinstance(small.table, Table)
    assert len(small.table.rows) == len(dims) * len(ratios)
    assert len(small.trials.rows) == len(dims) * len(ratios) * seeds
    assert len(small.crossings.rows) == len(dims) * seeds
    assert small.table.columns == ["dim", "ratio", "samples_per_component", "seeds",
                                   "generalized", "generalized_std", "memorized",
                                   "off_subspace"]
    for row in small.trials.rows:
        shares = [row["generalized"], row["memorized"], row["off_subspace"]]
        assert all(0 <= s <= 1 for s in shares)
        assert sum(shares) == pytest.approx(1.0)
    for d in dims:
        N, score, std = small.curve(d)
        assert N.tolist() == [max(round(r * d), 1) for r in ratios]
        assert np.all((score >= 0) & (score <= 1)) and np.all(std >= 0)
    for row in small.crossings.rows:
        assert np.isnan(row["crossing"]) or row["crossing"] > 0


def test_same_seed_same_result(small):
    again = network_transition(**SMALL_CONFIG, random_state=1)
    assert again.trials.rows == small.trials.rows


def test_summary_and_plot(small):
    summary = small.summary()
    assert [r["dim"] for r in summary.rows] == list(SMALL_CONFIG["dims"])
    assert small.line_text() in str(summary)
    fig = small.plot()
    assert len(fig.axes) == 2


@pytest.mark.parametrize("kwargs, match", [
    (dict(dims=[8]), "below n_features"),
    (dict(ratios=[5, 2]), "increasing"),
    (dict(ratios=[1, 1.1]), "distinct"),
    (dict(ratios=[1, 7, 11, 13]), "least common multiple"),
    (dict(steps=0), "'steps' parameter of network_transition must be an int"),
    (dict(sampler="rk4"), "sampler must be one of"),
    (dict(subspace_tolerance=2.0), "subspace_tolerance"),
    (dict(level=1.0), "level"),
    (dict(n_jobs=0), "n_jobs"),
    (dict(device="gpu"), "device 'gpu' cannot be used here"),
])
def test_bad_parameters_are_rejected(kwargs, match):
    params = dict(dims=[2], ratios=[1, 2], n_features=8, n_seeds=1)
    params.update(kwargs)
    with pytest.raises(ValueError, match=match):
        network_transition(**params)


# --------------------------------------------------------------------------- command line


def test_cli_writes_csv_and_png_and_refuses_to_overwrite(tmp_path, capsys):
    assert main(["network-transition", "-o", str(tmp_path), "--small", "--quiet",
                 "--n-jobs", "1"]) == 0
    out = capsys.readouterr().out
    assert "Generalization score crossing" in out and "wrote" in out
    csv = (tmp_path / "network_transition.csv").read_text().splitlines()
    assert csv[0].startswith("dim,ratio,samples_per_component")
    assert len(csv) == 1 + len(SMALL_CONFIG["dims"]) * len(SMALL_CONFIG["ratios"])
    assert (tmp_path / "network_transition.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["network-transition", "-o", str(tmp_path), "--small", "--quiet"]) == 2
    assert "exists; pass --force" in capsys.readouterr().err
