import pytest

from subclust.experiments import phase_transition


def test_pca_jumps_exactly_at_n_equals_d():
    dims = [2, 4, 6]
    result = phase_transition(
        methods=["pca"], dims=dims, samples_per_component=range(1, 9), n_components=[1],
        n_trials=10, random_state=1,
    )
    for d, first in result.first_success("pca", 1, level=0.95).items():
        assert first == d
    _, samples, values = result.grid("pca", 1)
    for i, d in enumerate(dims):
        assert values[i, samples == d - 1].item() == 0.0


def test_kss_transition_lies_between_d_and_d_plus_3():
    result = phase_transition(
        methods=["kss"], dims=[3, 5], samples_per_component=range(2, 10), n_components=[2],
        n_trials=10, random_state=2,
    )
    for d, first in result.first_success("kss", 2).items():
        assert d <= first <= d + 3


def test_same_seed_same_table_and_tidy_columns():
    kwargs = dict(methods=["pca", "kss"], dims=[2], samples_per_component=[1, 3],
                  n_components=[1, 2], n_trials=3, random_state=5)
    a, b = phase_transition(**kwargs), phase_transition(**kwargs)
    assert a.table.rows == b.table.rows
    assert a.table.columns == [
        "method", "n_components", "dim", "samples_per_component", "trials",
        "success_rate", "mean_error",
    ]
    # pca is skipped for K > 1
    assert {(r["method"], r["n_components"]) for r in a.table.rows} == {
        ("kss", 1), ("kss", 2), ("pca", 1)
    }
    assert "d=2" in str(a.summary())


def test_plot_has_one_panel_per_method_and_k():
    pytest.importorskip("matplotlib")
    result = phase_transition(methods=["pca", "kss"], dims=[2, 3], samples_per_component=[1, 2, 3],
                              n_components=[1], n_trials=2)
    fig = result.plot()
    assert len([ax for ax in fig.axes if ax.get_title()]) == 2


def test_unknown_method_is_rejected():
    with pytest.raises(ValueError, match="Unknown methods"):
        phase_transition(methods=["lasso"])


def test_diffusion_jumps_at_n_equals_d_for_one_component_and_near_d_for_two():
    # A slice of the acceptance grid (the full one: `subclust phase-transition`).
    kwargs = dict(methods=["diffusion"], dims=[3], n_trials=10, random_state=0)
    one = phase_transition(samples_per_component=[2, 5], n_components=[1], **kwargs)
    _, samples, values = one.grid("diffusion", 1)
    assert values[0, samples == 2].item() == 0.0  # N = d - 1: a d-dim subspace is out of reach
    assert values[0, samples == 5].item() >= 0.9  # N = d + 2
    two = phase_transition(samples_per_component=range(3, 7), n_components=[2], **kwargs)
    assert 3 <= two.first_success("diffusion", 2)[3] <= 6


def test_n_jobs_gives_the_same_table():
    pytest.importorskip("joblib")
    kwargs = dict(methods=["pca", "kss", "diffusion"], dims=[2], samples_per_component=[2, 3, 5],
                  n_components=[1, 2], n_trials=2, random_state=3)
    serial, parallel = phase_transition(**kwargs), phase_transition(n_jobs=2, **kwargs)
    assert len(serial.table.rows) == len(parallel.table.rows) == 15
    for a, b in zip(serial.table.rows, parallel.table.rows):
        assert {k: v for k, v in a.items() if k != "mean_error"} == {
            k: v for k, v in b.items() if k != "mean_error"
        }
        # BLAS may use other threads in a worker: the same fits up to rounding
        assert a["mean_error"] == pytest.approx(b["mean_error"], rel=1e-6, abs=1e-9)


def test_bad_n_jobs_is_rejected():
    with pytest.raises(ValueError, match="'n_jobs' parameter of phase_transition must be an int"):
        phase_transition(methods=["pca"], n_jobs=0)


def test_acceptance_checks_each_dimension():
    from subclust.experiments.phase_transition import PhaseTransitionResult
    from subclust.utils.tables import Table

    table = Table()
    rates = {  # (method, K, d) -> success rate at N_k = 1..6
        ("pca", 1, 2): [0, 1, 1, 1, 1, 1],
        ("pca", 1, 3): [0, 0.1, 1, 1, 1, 1],        # success at d - 1: fails
        ("kss", 2, 2): [0, 0.2, 0.4, 0.5, 1, 1],    # first at d + 2
        ("kss", 2, 3): [0, 0, 0, 0.2, 0.3, 0.45],   # not reached by d + 3
    }
    for (method, K, d), row in rates.items():
        for N, rate in enumerate(row, start=1):
            table.add_row(method=method, n_components=K, dim=d, samples_per_component=N,
                          trials=20, success_rate=rate, mean_error=0.0)
    checks = PhaseTransitionResult(table, 0.1).acceptance()
    by_key = {(r["method"], r["dim"]): r for r in checks.rows}
    assert by_key["pca", 2]["passed"] is True
    assert by_key["pca", 3]["passed"] is False and by_key["pca", 3]["success_d_minus_1"] == 0.1
    assert by_key["kss", 2]["first"] == 4 and by_key["kss", 2]["first_minus_d"] == 2
    assert by_key["kss", 2]["passed"] is True
    assert by_key["kss", 3]["first"] is None and by_key["kss", 3]["passed"] is False


def test_command_writes_table_and_heatmaps_and_prints_the_checks(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    from subclust.cli import main

    argv = ["phase-transition", "--methods", "pca", "--dims", "2", "3", "--samples", "1", "5",
            "--components", "1", "--trials", "3", "--quiet", "-o", str(tmp_path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "Phase-transition checks" in out and "passed" in out
    assert (tmp_path / "phase_transition.csv").read_text().startswith("method,n_components,dim")
    assert (tmp_path / "phase_transition.png").stat().st_size > 0
    assert main(argv + ["--n-jobs", "0"]) == 2  # refused before any work: outputs exist
    assert "exists" in capsys.readouterr().err


def test_dimensions_of_the_whole_space_are_rejected():
    with pytest.raises(ValueError, match="dims must be smaller than n_features=6"):
        phase_transition(methods=["pca"], dims=[2, 6], n_features=6, n_trials=1)
