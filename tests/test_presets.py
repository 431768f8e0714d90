"""Paper presets and the paper's SSC: parameters, ADMM variants, post-processing, CLI, benchmark."""

import numpy as np
import pytest
import scipy.sparse as sp

from subclust import SparseSubspaceClustering
from subclust.cli import main
from subclust.cluster import keep_l1_share, self_representation_admm
from subclust.cluster._self_representation import lasso_lambda
from subclust.cluster.presets import PRESETS, make_preset
from subclust.datasets import make_molrg
from subclust.metrics import clustering_accuracy


def affine_planes(n=30, n_features=6, offset=3.0, seed=0):
    """Three 2-dimensional affine subspaces of R^6, each through a point far from the origin."""
    rng = np.random.default_rng(seed)
    parts = []
    for _ in range(3):
        U = np.linalg.qr(rng.standard_normal((n_features, 2)))[0]
        parts.append(rng.standard_normal((n, 2)) @ U.T + offset * rng.standard_normal(n_features))
    return np.vstack(parts), np.repeat(np.arange(3), n)


# ----------------------------------------------------------------------------- presets


def test_presets_hold_the_papers_parameters():
    # Elhamifar & Vidal's code: run_SSC_Faces.m (alpha 20, outliers, no thresholding,
    # admmOutlier_mat_func's 150 iterations) and run_SSC_MS.m (alpha 800, affine,
    # rho 0.7, admmLasso_mat_func's 200 iterations); ADMM penalty = alpha in both.
    faces = PRESETS["elhamifar2013-faces"].params
    assert faces == {
        "solver": "admm", "alpha": 20.0, "outlier_penalty": "auto", "dense_noise": False,
        "rho": 20.0, "max_iter": 150, "tol": 2e-4, "affine": False, "l1_share": 1.0,
        "affinity": "symmetric", "assign_labels": "normalized_kmeans", "normalize": False,
    }
    motion = PRESETS["elhamifar2013-motion"].params
    assert motion == {
        "solver": "admm", "alpha": 800.0, "outlier_penalty": None, "rho": 800.0,
        "max_iter": 200, "tol": 2e-4, "affine": True, "l1_share": 0.7,
        "affinity": "symmetric", "assign_labels": "normalized_kmeans", "normalize": False,
    }
    # You et al.'s MNIST script: EnSC gamma=200, tau=0.9; SSC-OMP n_nonzero=5, thr=1e-5.
    assert PRESETS["you2016-ensc"].params["alpha"] == 200.0
    assert PRESETS["you2016-ensc"].params["l1_ratio"] == 0.9
    assert PRESETS["you2016-omp"].params["n_nonzero"] == 5
    assert PRESETS["you2016-omp"].params["tol"] == 1e-5
    for name, preset in PRESETS.items():
        estimator = make_preset(name, n_clusters=4, random_state=0)
        assert estimator.get_params()["n_clusters"] == 4
        assert {k: estimator.get_params()[k] for k in preset.params} == preset.params
        assert preset.reference
        assert make_preset(name, None).n_clusters is None  # K estimated from the affinity


def test_lsr_and_tsc_presets_hold_the_papers_parameters():
    # Lu et al., ECCV 2012, the authors' Experiment_FS.m: LSR1 (diag(C) = 0) with
    # lambda = 0.4 for 5 subjects and 0.004 for 10, unit-norm samples, columns of C scaled
    # to a largest magnitude of one, W = |C| + |C|^T, k-means on D^(-1/2) U (clu_ncut.m).
    lsr = {"zero_diagonal": True, "normalize": True, "affinity": "symmetric",
           "assign_labels": "kmeans"}
    assert PRESETS["lu2012-lsr1-faces5"].params == {"regularization": 0.4, **lsr}
    assert PRESETS["lu2012-lsr1-faces10"].params == {"regularization": 0.004, **lsr}
    # Heckel & Boelcskei, IEEE Trans. Inf. Theory 61(11), 2015, run_TSC_Faces.m and TSC.m:
    # q = 3 on unit-norm samples, W = Z + Z^T, k-means on unit rows of the eigenvectors.
    assert PRESETS["heckel2015-faces"].params == {
        "n_nearest": 3, "normalize": True, "affinity": "symmetric",
        "assign_labels": "normalized_kmeans",
    }
    assert PRESETS["heckel2015-faces"].estimator == "ThresholdedSubspaceClustering"
    assert PRESETS["lu2012-lsr1-faces5"].estimator == "LeastSquaresSubspaceClustering"
    assert "ECCV 2012" in PRESETS["lu2012-lsr1-faces10"].reference
    assert "61(11), 2015" in PRESETS["heckel2015-faces"].reference


def test_make_preset_errors_and_overrides():
    with pytest.raises(ValueError, match="Unknown preset 'ssc'; choose one of"):
        make_preset("ssc")
    assert make_preset("elhamifar2013-faces", 3, max_iter=10).max_iter == 10


# ----------------------------------------------------------------------------- lambda rule


def test_lambda_is_alpha_over_the_smallest_largest_correlation():
    X, _, _ = make_molrg(n_samples=[10, 10], n_features=8, dims=2, random_state=0)
    G = np.abs(X @ X.T)
    np.fill_diagonal(G, -np.inf)
    mu = G.max(axis=1).min()
    assert lasso_lambda(X, 20.0) == pytest.approx(20.0 / mu)
    # Just above alpha = 1 every sample still gets a nonzero representation.
    C = self_representation_admm(X, alpha=1.05, rho=20.0, max_iter=5000, tol=1e-10)
    assert np.all(np.diff(C.indptr) > 0)


# ----------------------------------------------------------------------------- affine


def test_affine_keeps_the_samples_as_they_are_and_clusters_affine_subspaces():
    X, y = affine_planes()
    for estimator in (
        make_preset("elhamifar2013-motion", 3, random_state=0),
        SparseSubspaceClustering(3, solver="admm", affine=True, alpha=800.0, rho=800.0,
                                 max_iter=200, random_state=0),  # normalize='auto'
    ):
        estimator.fit(X)
        assert clustering_accuracy(y, estimator.labels_) == 1.0
        C = estimator.representation_matrix_.toarray()
        # The representation is of the raw samples (no rescaling) and affine.
        assert np.linalg.norm(X - C @ X) / np.linalg.norm(X) < 0.02
        np.testing.assert_allclose(C.sum(axis=1), 1.0, atol=5e-3)
    with pytest.raises(ValueError, match="moves it off its affine subspace"):
        SparseSubspaceClustering(3, solver="admm", affine=True, normalize=True).fit(X)


# ----------------------------------------------------------------------------- thresholding


def test_keep_l1_share_keeps_the_smallest_set_holding_the_share():
    rng = np.random.default_rng(0)
    C = rng.standard_normal((30, 30)) * (rng.random((30, 30)) < 0.5)
    np.fill_diagonal(C, 0.0)
    for share in (0.3, 0.7, 0.95):
        kept = keep_l1_share(C, share)
        assert sp.issparse(kept)
        for i in range(30):
            row, out = np.abs(C[i]), np.abs(kept[[i]].toarray()[0])
            assert np.all((out == 0) | (out == row))  # entries kept unchanged
            assert out.sum() >= share * row.sum() - 1e-12
            if out.any():  # every kept entry is needed: without the smallest, below the share
                assert out.sum() - out[out > 0].min() < share * row.sum()
                assert out[out > 0].min() >= row[out == 0].max(initial=0)  # the largest ones
    np.testing.assert_array_equal(keep_l1_share(C, 1.0).toarray(), C)
    with pytest.raises(ValueError,
                       match=r"'share' parameter of keep_l1_share must be a float in the range"):
        keep_l1_share(C, 0.0)


# ----------------------------------------------------------------------------- outliers


def test_sparse_outlier_admm_meets_the_constraint_and_finds_the_corruption():
    X, y, _ = make_molrg(n_samples=[25, 25], n_features=30, dims=2, random_state=0)
    X = X / np.linalg.norm(X, axis=1, keepdims=True)
    corrupted = X.copy()
    corrupted[3, 7] += 2.0  # one gross error in one sample
    C, E = self_representation_admm(
        corrupted, alpha=20.0, outlier_penalty="auto", dense_noise=False, max_iter=1000,
        return_outliers=True,
    )
    assert np.all(C.diagonal() == 0)
    np.testing.assert_allclose(C @ corrupted + E, corrupted, atol=5e-3)  # X = C X + E
    # E holds the gross error and nothing else; C links samples of one subspace only.
    assert E[3, 7] == pytest.approx(2.0, abs=1e-3)
    assert np.count_nonzero(np.abs(E) > 1e-3) == 1
    rows, cols = C.nonzero()
    assert np.all(y[rows] == y[cols])
    with pytest.raises(ValueError, match="dense_noise=False .* needs outlier_penalty"):
        self_representation_admm(X, dense_noise=False)


# ----------------------------------------------------------------------------- command line


@pytest.fixture
def npy(tmp_path):
    X, y, _ = make_molrg(n_samples=[40, 40, 40], n_features=20, dims=3, random_state=0)
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "y.npy", y)
    return tmp_path / "x.npy", tmp_path / "y.npy"


def _report(path):
    import json

    return json.loads((path / "report.json").read_text())


@pytest.mark.parametrize("flag", [["--param", "normalize=false"], ["--param", "normalize=False"],
                                  ["--no-normalize"]])
def test_normalize_off_reaches_the_estimator(capsys, tmp_path, npy, flag):
    X_path, y_path = npy
    code = main([str(a) for a in ["cluster", X_path, "--labels", y_path, "--method", "ssc",
                                  "-o", tmp_path / "out", *flag]])
    assert code == 0, capsys.readouterr().err
    report = _report(tmp_path / "out")
    assert report["parameters"]["normalize"] is False
    assert report["pipeline"] == []  # no normalizer step either


@pytest.mark.parametrize("param, pattern", [
    ("foo=1", "has no parameter 'foo'"),
    ("alpha=-1", "'alpha' parameter of SparseSubspaceClustering must be"),
    ("l1_share=abc", "'l1_share' parameter"),
    ("normalize=maybe", "normalize must be true or false"),
    ("=3", "--param expects KEY=VALUE"),
])
def test_bad_param_is_one_line_and_exit_2(capsys, tmp_path, npy, param, pattern):
    X_path, y_path = npy
    code = main([str(a) for a in ["cluster", X_path, "--labels", y_path, "--method", "ssc",
                                  "-o", tmp_path / "out", "--param", param]])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("subclust cluster: error: ") and pattern in err, err
    assert not (tmp_path / "out").exists()  # refused before anything was computed


def test_param_parses_numbers_and_booleans(capsys, tmp_path, npy):
    X_path, y_path = npy
    argv = ["cluster", X_path, "--labels", y_path, "--method", "ssc", "-o", tmp_path / "out",
            "--param", "alpha=30", "--param", "l1_share=0.9", "--param", "affinity=symmetric",
            "--param", "dense_noise=True"]
    assert main([str(a) for a in argv]) == 0, capsys.readouterr().err
    parameters = _report(tmp_path / "out")["parameters"]
    assert parameters["alpha"] == 30 and parameters["l1_share"] == 0.9
    assert parameters["dense_noise"] is True and parameters["affinity"] == "symmetric"


# ----------------------------------------------------------------------------- benchmark


def test_reproduce_protocol_and_a_small_run(capsys):
    from subclust.bench.reproduce import face_protocol

    assert [len(face_protocol(n)) for n in (2, 3, 5, 8, 10)] == [163, 416, 812, 136, 3]
    assert all(len({(s - 1) // 10 for s in ids}) == 1 for ids in face_protocol(3))  # one group
    code = main(["bench", "reproduce", "--sizes", "2", "--max-trials", "1"])
    out = capsys.readouterr().out
    assert code == 0
    header = next(line for line in out.splitlines() if line.startswith("subjects"))
    assert "paper_mean" in header and "ours_mean" in header
    row = next(line for line in out.splitlines() if line.split()[:2] == ["2", "1/163"])
    assert "1.8600" in row  # the published mean error for two subjects
    assert "ours_by_group" in header and row.count("/") == 1 + 3  # combos, then four groups
    # The images our copy lacks, counted as misclustered, can only add errors.
    values = dict(zip(header.split(), row.split()))
    assert float(values["missing_wrong_mean"]) >= float(values["ours_mean"])
    assert main(["bench", "reproduce", "--sizes", "11"]) == 2
    assert main(["bench", "reproduce", "--max-trials", "-1"]) == 2
    assert main(["bench", "reproduce", "--n-jobs", "0"]) == 2


def test_reproduce_in_worker_processes_gives_the_same_errors():
    from subclust.bench.reproduce import face_clustering_table

    def errors(n_jobs):
        table = face_clustering_table("heckel2015-faces", sizes=[2, 3], max_combos=3,
                                      n_jobs=n_jobs)  # fmt: skip
        return table.column("ours_mean"), table.column("ours_median")

    assert errors(2) == errors(None)


def test_reproduce_counts_the_images_our_copy_lacks(monkeypatch):
    from subclust.bench import reproduce

    # A clustering without errors: only the 18 images missing from subjects 11-17 count,
    # each subject in 9 of the 163 pairs, over the 128 images a pair holds in the paper.
    monkeypatch.setattr(reproduce, "_face_error", lambda trial: 0.0)
    table = reproduce.face_clustering_table(sizes=[2])
    assert table.column("ours_mean") == [0.0]
    assert table.column("missing_wrong_mean") == [pytest.approx(100 * 9 * 18 / (163 * 128))]
    assert table.column("missing_wrong_median") == [0.0]


def test_face_protocol_is_every_choice_within_each_group():
    from math import comb

    from subclust.bench.reproduce import face_protocol

    for n in (2, 3, 5, 8, 10):
        combos = face_protocol(n)
        # Elhamifar & Vidal's count: C(10, n) in each of the groups 1-10, 11-20, 21-30,
        # C(8, n) in 31-38, no combination twice, each within one group.
        assert len(combos) == 3 * comb(10, n) + comb(8, n) == len(set(combos))
        assert all(len(set(ids)) == n for ids in combos)
        assert all(len({min((s - 1) // 10, 3) for s in ids}) == 1 for ids in combos)
    assert sum(len(face_protocol(n)) for n in (2, 3, 5, 8, 10)) == 1530


def test_reproduce_tsc_and_max_combos(capsys):
    code = main(["bench", "reproduce", "--experiments", "tsc-faces", "--sizes", "2,3",
                 "--max-combos", "2"])
    out = capsys.readouterr().out
    assert code == 0
    assert "preset heckel2015-faces" in out
    rows = [line.split() for line in out.splitlines() if line[:8].strip() in {"2", "3"}]
    assert [row[1] for row in rows] == ["2/163", "2/416"]
    assert all(float(row[3]) < 25.0 for row in rows)  # TSC separates a few faces well
    assert main(["bench", "reproduce", "--max-combos", "-1"]) == 2
    assert main(["bench", "reproduce", "--experiments", "lsr"]) == 2


def test_lsr_faces_table_runs_the_papers_protocol():
    from subclust.bench.reproduce import lsr_faces_table

    table = lsr_faces_table(sizes=[5], n_runs=3)
    (row,) = table.rows
    assert row["preset"] == "lu2012-lsr1-faces5" and row["runs"] == 3
    assert row["ours_best"] <= row["ours_mean"] <= row["ours_worst"]
    assert row["ours_mean"] < 20.0  # most of the 320 faces of 5 subjects grouped right
