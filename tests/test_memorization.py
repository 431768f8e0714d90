import numpy as np
import pytest

pytest.importorskip("torch")

from subclust.cli import main  # noqa: E402
from subclust.datasets import make_molrg  # noqa: E402
from subclust.experiments import (  # noqa: E402
    MemorizationResult,
    classify_samples,
    memorization_shares,
    memorization_sweep,
)
from subclust.utils.tables import Table  # noqa: E402

TINY = dict(ratios=[1, 4], n_features=6, n_components=2, dims=2, n_trials=1, n_generated=40,
            steps=30, batch_size=32, hidden=16, depth=1, sampler_steps=6)


@pytest.fixture(scope="module")
def tiny():
    return memorization_sweep(**TINY, random_state=3)


def _molrg(n_per_component=30, n=10, d=2, seed=0):
    return make_molrg(n_samples=[n_per_component] * 2, n_features=n, dims=d, random_state=seed)


# --------------------------------------------------------------------------- measures


def test_copies_are_memorized_fresh_points_generalized_random_points_off():
    X, _, bases = _molrg()
    rng = np.random.default_rng(1)
    copies = X[:5] + 1e-6 * rng.standard_normal((5, X.shape[1]))
    # A new point on the first subspace, far (in units of the training gap) from every sample.
    fresh = 3.0 * bases[0] @ rng.standard_normal(2)
    random = rng.standard_normal((5, X.shape[1]))
    labels, ratio, relative = classify_samples(np.vstack([copies, fresh, random]), X, bases,
                                               return_details=True)
    assert labels[:5].tolist() == ["memorized"] * 5
    assert ratio[:5].max() < 1e-4
    assert labels[5] == "generalized" and relative[5] < 1e-12 and ratio[5] > 1 / 3
    assert labels[6:].tolist() == ["off-subspace"] * 5
    assert relative[6:].min() > 0.5  # about sqrt(1 - d / n) = 0.9


def test_a_copy_is_memorized_even_off_the_subspaces_and_the_origin_is_on_them():
    # Memorization is decided first: copies of noisy training points stay memorized.
    X, _, bases = make_molrg(n_samples=[20, 20], n_features=10, dims=2, noise=0.3,
                             random_state=0)
    assert classify_samples(X[:3], X, bases).tolist() == ["memorized"] * 3
    X_clean, _, bases = _molrg()
    assert classify_samples(np.zeros((1, 10)), X_clean, bases).tolist() == ["generalized"]


def test_thresholds_move_the_boundaries():
    X, _, bases = _molrg()
    rng = np.random.default_rng(2)
    tilted = bases[0] @ rng.standard_normal(2)
    tilted = 5 * tilted / np.linalg.norm(tilted)
    normal = rng.standard_normal(10)
    normal -= bases[0] @ (bases[0].T @ normal)
    x = tilted + 0.2 * np.linalg.norm(tilted) * normal / np.linalg.norm(normal)  # rel ~ 0.196
    assert classify_samples([x], X, bases[:1]).tolist() == ["off-subspace"]
    assert classify_samples([x], X, bases[:1], subspace_tolerance=0.3).tolist() == ["generalized"]
    near = X[0] + 0.5 * np.median(np.sort(np.linalg.norm(X[:, None] - X, axis=2), 1)[:, 1]) * (
        bases[0] @ np.array([1.0, 0.0])
    )
    assert classify_samples([near], X, bases, memorization_ratio=1 / 3)[0] != "memorized"
    assert classify_samples([near], X, bases, memorization_ratio=0.9)[0] == "memorized"


def test_fresh_draws_of_the_molrg_generalize_and_shares_sum_to_one():
    X, _, bases = _molrg(n_per_component=60, n=16, d=3, seed=4)
    fresh, _, _ = make_molrg(n_samples=400, bases=bases, random_state=5)
    shares = memorization_shares(fresh, X, bases)
    assert set(shares) == {"generalized", "memorized", "off-subspace"}
    assert sum(shares.values()) == pytest.approx(1.0)
    assert shares["off-subspace"] == 0.0
    # Chance floor of the memorized share: about 1 - 2^(-(1/3)^d) = 2.5% for d = 3.
    assert shares["memorized"] < 0.08 and shares["generalized"] > 0.92


def test_bad_input_to_the_measures():
    X, _, bases = _molrg()
    with pytest.raises(ValueError, match="share the number of features"):
        classify_samples(np.zeros((2, 9)), X, bases)
    with pytest.raises(ValueError, match="at least 2 samples"):
        classify_samples(X[:2], X[:1], bases)
    with pytest.raises(ValueError, match="duplicates"):
        classify_samples(X[:2], np.repeat(X[:1], 5, axis=0), bases)
    with pytest.raises(ValueError, match="subspace_tolerance"):
        classify_samples(X[:2], X, bases, subspace_tolerance=1.5)
    with pytest.raises(ValueError, match="memorization_ratio"):
        classify_samples(X[:2], X, bases, memorization_ratio=0)
    with pytest.raises(ValueError, match="NaN"):
        classify_samples(np.full((1, 10), np.nan), X, bases)
    with pytest.raises(ValueError, match="2-D"):
        classify_samples(X[0], X, bases)


# --------------------------------------------------------------------------- sweep


def test_sweep_tables_have_one_row_per_model_and_ratio(tiny):
    assert tiny.models == ["mlp", "empirical", "fresh"]
    assert tiny.table.columns == [
        "model", "ratio", "samples_per_component", "n_train", "trials", "generalized",
        "memorized", "off_subspace", "generalized_std",
    ]
    assert len(tiny.table.rows) == 3 * 2 and len(tiny.trials.rows) == 3 * 2 * 1
    assert tiny.table.column("samples_per_component")[:2] == [2, 8]
    assert tiny.table.column("n_train")[:2] == [4, 16]
    for row in tiny.table.rows:
        total = row["generalized"] + row["memorized"] + row["off_subspace"]
        assert total == pytest.approx(1.0)
    ratios, shares = tiny.shares("mlp")
    assert ratios.tolist() == [1.0, 4.0] and shares["generalized"].shape == (2,)
    assert "mlp" in str(tiny.summary())


def test_same_seed_same_tables(tiny):
    again = memorization_sweep(**TINY, random_state=3)
    assert again.table.rows == tiny.table.rows
    assert again.trials.rows == tiny.trials.rows


def test_the_empirical_denoiser_memorizes_and_fresh_draws_do_not(tiny):
    _, empirical = tiny.shares("empirical")
    assert empirical["memorized"].min() >= 0.95
    _, fresh = tiny.shares("fresh")
    assert fresh["memorized"].max() < 0.25  # d = 2: chance floor about 7%, 40 samples


def test_trained_mlp_copies_at_n_equals_d_and_generalizes_at_50_d():
    result = memorization_sweep(ratios=[1, 50], models=["mlp"], n_features=8, dims=2,
                                n_trials=1, n_generated=200, steps=1500, hidden=64,
                                random_state=0)
    _, mlp = result.shares("mlp")
    assert mlp["memorized"][0] > 0.8
    assert mlp["generalized"][1] > 0.5 and mlp["memorized"][1] < 0.1
    assert 1 < result.crossing("mlp") < 50


@pytest.mark.slow
def test_default_sweep_generalized_share_rises_through_one_half():
    # The acceptance run (about 4 minutes on 2 cores): `subclust memorization -o DIR`.
    result = memorization_sweep()
    ratios, mlp = result.shares("mlp")
    assert mlp["generalized"][0] < 0.1 and mlp["memorized"][0] > 0.9
    assert np.all(np.diff(mlp["generalized"]) > -0.05)  # rises, up to trial noise
    assert mlp["generalized"][-1] > 0.7 and mlp["memorized"][-1] < 0.05
    assert 2 < result.crossing("mlp") < 20
    _, empirical = result.shares("empirical")
    assert empirical["memorized"].min() > 0.99


def _result(shares, ratios=(1, 2, 8, 32)):
    table = Table()
    for r, g in zip(ratios, shares):
        table.add_row(model="mlp", ratio=float(r), samples_per_component=int(r), n_train=2 * r,
                      trials=1, generalized=g, memorized=1 - g, off_subspace=0.0,
                      generalized_std=0.0)
    return MemorizationResult(table=table, trials=Table(), memorization_ratio=1 / 3,
                              subspace_tolerance=0.1)


def test_crossing_is_interpolated_in_log_ratio():
    assert _result([0.0, 0.25, 0.75, 0.9]).crossing() == pytest.approx(4.0)  # sqrt(2 * 8)
    assert _result([0.0, 0.5, 0.4, 0.9]).crossing() == pytest.approx(2.0)  # first crossing
    assert _result([0.1, 0.2, 0.3, 0.4]).crossing() is None
    assert _result([0.6, 0.7, 0.8, 0.9]).crossing() is None
    summary = _result([0.1, 0.2, 0.3, 0.4]).summary()
    assert summary.rows[0]["crossing_ratio"] == "> 32 (not reached)"
    assert _result([0.6, 0.7, 0.8, 0.9]).summary().rows[0]["crossing_ratio"] == "<= 1"
    with pytest.raises(ValueError, match="No rows for model"):
        _result([0.1, 0.2, 0.3, 0.4]).shares("unet")


def test_plot_shows_both_shares_on_a_log_axis(tiny):
    pytest.importorskip("matplotlib")
    fig = _result([0.0, 0.25, 0.75, 0.9]).plot()
    titled = [ax for ax in fig.axes if ax.get_title()]
    assert len(titled) == 2 and all(ax.get_xscale() == "log" for ax in titled)
    assert len(tiny.plot().axes) == 2


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(ratios=[2, 1]), "strictly increasing"),
        (dict(ratios=[0, 1]), "positive"),
        (dict(ratios=[1, 1.1], dims=2), "repeated samples per component"),
        (dict(models=["unet"]), "Unknown models"),
        (dict(dims=6, n_features=6), "smaller than n_features"),
        (dict(sampler="rk4"), "sampler must be one of"),
        (dict(n_trials=0), "'n_trials' parameter of memorization_sweep must be an int"),
        (dict(ratios=[1, 2], dims=1, n_components=1), "at least 2 samples"),
        (dict(subspace_tolerance=0.0), "subspace_tolerance"),
    ],
)
def test_bad_sweep_parameters_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        memorization_sweep(**kwargs)


# --------------------------------------------------------------------------- command line


def test_cli_writes_tables_and_plot_and_never_overwrites(tmp_path, capsys):
    argv = ["memorization", "--ratios", "1", "3", "--n-features", "6", "--dim", "2",
            "--trials", "1", "--generated", "30", "--steps", "10", "--hidden", "8",
            "--depth", "1", "-o", str(tmp_path), "--quiet"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "crossing_ratio" in out
    for name in ("memorization.csv", "memorization_trials.csv", "memorization.png"):
        assert (tmp_path / name).stat().st_size > 0
    header = (tmp_path / "memorization.csv").read_text().splitlines()[0]
    assert header.startswith("model,ratio,samples_per_component")
    assert main(argv) == 2
    assert "--force" in capsys.readouterr().err
    assert main(argv + ["--force", "--models", "fresh"]) == 0
