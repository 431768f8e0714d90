"""The benchmark commands that no other test runs, end to end on small inputs.

Each runs as a user runs it (``subclust bench ...``) and is checked for what
its table claims to measure; the full-size runs are the benchmarks
themselves.
"""

import pytest

from subclust.cli import main


def test_auto_benchmark_scores_auto_against_its_candidates_and_baselines(capsys):
    from subclust.bench.auto import auto_table

    (row,) = auto_table(["digits"], budget=300, ensc=False).rows
    assert 0 < row["acc_choice"] <= row["acc_best"] <= 1
    # The benchmark's target on a held-out set: never below k-means or kNN spectral clustering.
    assert row["acc_auto"] >= max(row["acc_kmeans"], row["acc_spectral"])
    assert row["seconds_auto"] >= row["seconds_select"] > 0
    assert main(["bench", "auto", "--datasets", "digits", "--budget", "300", "--skip-ensc"]) == 0
    assert "digits" in capsys.readouterr().out


def test_ssc_benchmark_measures_default_methods_and_admm_against_cvxpy(data_home, capsys):
    pytest.importorskip("cvxpy")
    from subclust.bench.ssc import accuracy_table, ratio_table

    rows = {row["method"]: row for row in accuracy_table(["yaleb10"], ["lsr", "kmeans"]).rows}
    assert rows["lsr"]["accuracy"] >= 0.97 > rows["kmeans"]["accuracy"]  # its documented target
    admm, cvxpy = ratio_table(60).rows
    assert abs(admm["objective_rel_diff"]) <= 1e-4 and admm["labels_agree"] == 1.0
    assert cvxpy["speedup_vs_cvxpy"] == 1.0
    assert main(["bench", "ssc", "--datasets", "yaleb10", "--methods", "lsr",
                 "--ratio-samples", "0"]) == 0
    assert "Lasso SSC" not in capsys.readouterr().out


def test_scale_benchmarks_fit_in_child_processes_and_agree_across_modes(tmp_path):
    from subclust.bench import kss_scale, ssc_scale

    table = kss_scale.scale_table(tmp_path, 2000, 32, 3, 3, 0.05, 1, ["memory", "memmap"])
    assert [row["mode"] for row in table.rows] == ["memory", "memmap"]
    for row in table.rows:
        assert row["accuracy"] > 0.99 and row["same_labels_as_first"]
        assert row["peak_rss_mb"] >= row["baseline_rss_mb"] > 0
    (row,) = ssc_scale.scale_table(tmp_path, 600, 32, 3, 3, 0.05, ["elastic_net"]).rows
    assert row["accuracy"] > 0.95 and row["total_s"] >= row["self_expression_s"] > 0
    assert not list(tmp_path.iterdir())  # the data files are removed


def test_features_benchmark_keeps_the_features_of_larger_criterion():
    from subclust.bench.features import features_table

    (row,) = features_table(["digits"], method="lsr").rows
    larger = max(("scattering", "pixels"), key=lambda f: row[f"criterion_{f}"])
    assert row["kept"] == larger and row["acc_kept"] == row[f"acc_{larger}"]
