import numpy as np
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
