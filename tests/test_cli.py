"""The `subclust cluster` and `subclust predict` commands: end to end, and every error path.

Errors must be one line on stderr, ``subclust COMMAND: error: ...``, with exit
code 2 and no traceback.
"""

import csv
import json
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import subclust
from subclust.cli import main
from subclust.cli.workflow import IMAGE_MAX_SIDE
from subclust.datasets import make_molrg
from subclust.metrics import subspace_recovery_error
from subclust.pipeline import METHODS, available_methods
from test_io import corrupt_crc, edit_basis, truncate, with_nan


@pytest.fixture(scope="module")
def molrg():
    """Three 3-dimensional subspaces of R^20, 40 noiseless samples each."""
    return make_molrg(n_samples=[40, 40, 40], n_features=20, dims=3, random_state=0)


@pytest.fixture
def npy(tmp_path, molrg):
    X, y, _ = molrg
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "y.npy", y)
    return tmp_path / "x.npy", tmp_path / "y.npy"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_error(capsys, argv, pattern):
    code, out, err = run(capsys, *argv)
    assert code == 2, (out, err)
    assert "Traceback" not in err
    assert err.endswith("\n") and err.count("\n") == 1, err  # one line
    assert err.startswith(f"subclust {argv[0]}: error: "), err
    assert re.search(pattern, err), err
    return err


def read_labels_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# ----------------------------------------------------------------------------- end to end


def test_cluster_npy_end_to_end(capsys, tmp_path, npy, molrg):
    X_path, y_path = npy
    out = tmp_path / "out"
    code, stdout, _ = run(
        capsys, "cluster", X_path, "--method", "kss", "--n-clusters", 3, "--dims", 3, "-o", out,
        "--labels", y_path,
    )  # fmt: skip
    assert code == 0
    assert "accuracy" in stdout
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["bases.npz", "labels.csv", "model.npz", "report.json", "summary.png"]
    )
    report = json.loads((out / "report.json").read_text())
    assert report["method"] == "kss" and report["estimator"] == "KSubspaces"
    assert report["parameters"]["dims"] == 3 and report["parameters"]["n_clusters"] == 3
    assert report["metrics"]["accuracy"] == 1.0
    assert report["objective"] < 1e-10
    timings = {"seconds_read", "seconds_fit", "seconds_write", "seconds_total"}
    assert timings <= set(report["timings"])
    assert report["cluster_sizes"] == [40, 40, 40]
    rows = read_labels_csv(out / "labels.csv")
    assert len(rows) == 120 and set(rows[0]) == {"index", "label", "true_label"}
    # Bases are those of the normalized samples: the same subspaces as the true ones.
    with np.load(out / "bases.npz", allow_pickle=False) as bases:
        learned = [bases[f"basis_{k}"] for k in range(3)]
        assert bases["dims"].tolist() == [3, 3, 3]
    assert subspace_recovery_error(learned, molrg[2]) < 1e-6
    assert (out / "summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # predict with the saved model gives the labels of the fit.
    code, stdout, _ = run(capsys, "predict", out / "model.npz", X_path)
    assert code == 0
    predicted = [int(line.split(",")[1]) for line in stdout.splitlines()[1:]]
    assert predicted == [int(r["label"]) for r in rows]
    code, stdout, _ = run(capsys, "predict", out / "model.npz", X_path, "-o", tmp_path / "p.csv",
                          "--labels", y_path)
    assert code == 0 and "accuracy 1.0000" in stdout
    assert [r["label"] for r in read_labels_csv(tmp_path / "p.csv")] == [r["label"] for r in rows]
    # the output directory names its model as well
    code, stdout, _ = run(capsys, "predict", out, X_path)
    assert code == 0 and [int(line.split(",")[1]) for line in stdout.splitlines()[1:]] == predicted


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_by_name(capsys, tmp_path, npy, method):
    if method not in available_methods():
        pytest.skip(f"{METHODS[method].estimator} is not available")
    out = tmp_path / "out"
    X_path, y_path = npy
    code, _, err = run(capsys, "cluster", X_path, "--labels", y_path, "--method", method,
                       "--dims", 3, "-o", out)
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    assert report["method"] == method and report["estimator"] == METHODS[method].estimator
    assert report["metrics"]["accuracy"] == 1.0
    code, stdout, _ = run(capsys, "predict", out / "model.npz", X_path)
    assert code == 0
    predicted = [line.split(",")[1] for line in stdout.splitlines()[1:]]
    assert predicted == [r["label"] for r in read_labels_csv(out / "labels.csv")]


def test_outputs_are_never_overwritten_without_force(capsys, tmp_path, npy):
    out = tmp_path / "out"
    argv = ["cluster", npy[0], "--method", "kss", "--n-clusters", 3, "--dims", 3, "-o", out]
    assert run(capsys, *argv)[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert_error(capsys, argv + ["--dims", 2], r"out already holds model.npz, .*pass --force")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert run(capsys, *argv, "--dims", 2, "--force")[0] == 0
    assert json.loads((out / "report.json").read_text())["parameters"]["dims"] == 2
    assert sorted(p.name for p in out.iterdir()) == sorted(before)  # no temporary files left
    # predict -o is protected the same way.
    (tmp_path / "p.csv").write_text("keep")
    assert_error(capsys, ["predict", out / "model.npz", npy[0], "-o", tmp_path / "p.csv"],
                 "p.csv exists; pass --force")
    assert (tmp_path / "p.csv").read_text() == "keep"


def test_cluster_csv_with_label_column(capsys, tmp_path, molrg):
    X, y, _ = molrg
    path = tmp_path / "x.csv"
    with open(path, "w") as f:
        f.write(",".join([f"f{j}" for j in range(X.shape[1])] + ["kind"]) + "\n")
        for row, label in zip(X, y):
            f.write(",".join(f"{v:.17g}" for v in row) + f",class{label}\n")
    code, _, _ = run(capsys, "cluster", path, "--label-column", "kind", "--dims", 3, "-o",
                     tmp_path / "out")
    assert code == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["n_clusters"] == 3  # from the labels
    assert report["metrics"]["accuracy"] == 1.0
    rows = read_labels_csv(tmp_path / "out" / "labels.csv")
    assert rows[0]["true_label"] == f"class{y[0]}"


def test_cluster_parquet(capsys, tmp_path, molrg):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    X, y, _ = molrg
    pq.write_table(pa.table({"embedding": list(X), "y": y}), tmp_path / "x.parquet")
    code, _, _ = run(capsys, "cluster", tmp_path / "x.parquet", "--label-column", "y",
                     "--method", "kss", "--dims", 3, "-o", tmp_path / "out", "--param", "n_init=3")
    assert code == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["metrics"]["accuracy"] == 1.0
    assert report["parameters"]["n_init"] == 3
    assert report["input"]["format"] == ".parquet"


@pytest.mark.parametrize("name", ["x.pt", "x.txt"])
def test_cluster_torch_and_text_files(capsys, tmp_path, molrg, name):
    X, y, _ = molrg
    if name.endswith(".pt"):
        torch = pytest.importorskip("torch")
        torch.save({"embeddings": torch.from_numpy(X), "y": torch.from_numpy(y)}, tmp_path / name)
        labels = ["--label-column", "y"]
    else:
        np.savetxt(tmp_path / name, X)
        np.savetxt(tmp_path / "y.txt", y, fmt="%d")
        labels = ["--labels", tmp_path / "y.txt"]
    code, _, _ = run(capsys, "cluster", tmp_path / name, *labels, "--method", "kss", "--dims", 3,
                     "-o", tmp_path / "out")  # fmt: skip
    assert code == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["metrics"]["accuracy"] == 1.0
    assert report["input"]["format"] == name[1:]


def test_report_keeps_the_warnings_shown(capsys, tmp_path, npy):
    np.save(tmp_path / "noise.npy", np.random.default_rng(0).standard_normal((100, 10)))
    code, _, err = run(capsys, "cluster", tmp_path / "noise.npy", "-o", tmp_path / "out")
    assert code == 0 and "warning: The number of clusters was estimated" in err
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    [message] = report["warnings"]
    assert message.startswith("The number of clusters was estimated at") and message in err
    code, _, err = run(capsys, "cluster", npy[0], "--method", "kss", "--n-clusters", 3,
                       "--dims", 3, "-o", tmp_path / "clean")  # fmt: skip
    assert code == 0 and "warning" not in err
    assert json.loads((tmp_path / "clean" / "report.json").read_text())["warnings"] == []


def test_ids_of_an_embedding_file_go_beside_its_labels(capsys, tmp_path, molrg):
    X, y, _ = molrg
    rows = [f"photos/{i:03d}.jpg," + ",".join(f"{v:.17g}" for v in x) + f",class {k}"
            for i, (x, k) in enumerate(zip(X, y))]  # fmt: skip
    header = "path," + ",".join(f"f{j}" for j in range(X.shape[1])) + ",kind"
    (tmp_path / "emb.csv").write_text("\n".join([header, *rows]) + "\n")
    argv = [tmp_path / "emb.csv", "--id-column", "path", "--label-column", "kind"]
    code, _, _ = run(capsys, "cluster", *argv, "--method", "kss", "--dims", 3,
                     "-o", tmp_path / "out")  # fmt: skip
    assert code == 0
    rows = read_labels_csv(tmp_path / "out" / "labels.csv")
    assert list(rows[0]) == ["index", "id", "label", "true_label"]
    assert [row["id"] for row in rows] == [f"photos/{i:03d}.jpg" for i in range(len(X))]
    code, out, _ = run(capsys, "predict", tmp_path / "out" / "model.npz", *argv)
    assert code == 0 and out.splitlines()[1].startswith("0,photos/000.jpg,")
    assert_error(capsys, ["cluster", tmp_path / "emb.csv", "-o", tmp_path / "o2"],
                 r"column 'path' is not numeric .*--id-column")  # fmt: skip


@pytest.fixture(scope="module")
def digit_folder(tmp_path_factory, data_home):
    """15 MNIST zeros and 15 ones as PNG files, one sub-folder per digit."""
    from PIL import Image

    from subclust.datasets import load_mnist

    digits = load_mnist(n_samples=200)
    folder = tmp_path_factory.mktemp("digits")
    for digit in (0, 1):
        (folder / str(digit)).mkdir()
        for i in np.flatnonzero(digits.target == digit)[:15]:
            pixels = np.round(digits.images[i] * 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / str(digit) / f"{i:04d}.png")
    return folder


def test_cluster_folder_of_pngs_then_predict(capsys, tmp_path, digit_folder):
    pytest.importorskip("kymatio")
    out = tmp_path / "out"
    code, _, _ = run(capsys, "cluster", digit_folder, "--method", "kss", "--dims", 2,
                     "--features", "scattering", "-o", out)
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    assert report["input"]["kind"] == "images"
    assert report["input"]["feature_params"]["pad_to"] == 32
    assert report["pipeline"][1]["estimator"] == "UncenteredPCA"
    assert report["metrics"]["accuracy"] == 1.0  # zeros and ones, from the sub-folders
    rows = read_labels_csv(out / "labels.csv")
    assert rows[0]["file"] == "0/" + sorted(p.name for p in (digit_folder / "0").iterdir())[0]

    # The model repeats the scattering transform on new images.
    code, stdout, _ = run(capsys, "predict", out / "model.npz", digit_folder)
    assert code == 0
    assert [line.split(",")[2] for line in stdout.splitlines()[1:]] == [r["label"] for r in rows]

    # Images of another size, or embeddings, are refused with the reason.
    from PIL import Image

    other = tmp_path / "other"
    other.mkdir()
    Image.fromarray(np.zeros((20, 20), dtype=np.uint8)).save(other / "a.png")
    assert_error(capsys, ["predict", out / "model.npz", other],
                 r"20x20 pixels but the model expects 28x28")
    np.save(tmp_path / "x.npy", np.ones((3, 4)))
    assert_error(capsys, ["predict", out / "model.npz", tmp_path / "x.npy"],
                 "trained on images: give a folder of images")


def test_large_images_are_shrunk_before_their_features(capsys, tmp_path, digit_folder):
    from PIL import Image

    large = tmp_path / "large"
    for path in sorted(digit_folder.rglob("*.png")):
        (large / path.parent.name).mkdir(parents=True, exist_ok=True)
        resized = Image.open(path).resize((112, 112), Image.BICUBIC)
        resized.save(large / path.parent.name / path.name)
    out = tmp_path / "out"
    code, _, _ = run(capsys, "cluster", large, "--method", "kss", "--dims", 2,
                     "--features", "pixels", "-o", out)  # fmt: skip
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    assert report["input"]["max_side"] == IMAGE_MAX_SIDE == 64
    assert report["input"]["feature_params"]["shape"] == [64, 64]
    assert report["metrics"]["accuracy"] == 1.0
    # New images are shrunk the same way; with --image-shape the size is the user's.
    code, stdout, _ = run(capsys, "predict", out / "model.npz", large)
    assert code == 0 and len(stdout.splitlines()) == 31
    code, _, _ = run(capsys, "cluster", large, "--method", "kss", "--dims", 2, "--features",
                     "pixels", "--image-shape", "96x96", "-o", tmp_path / "o96")  # fmt: skip
    report = json.loads((tmp_path / "o96" / "report.json").read_text())
    assert code == 0 and report["input"]["feature_params"]["shape"] == [96, 96]
    assert "max_side" not in report["input"]


def test_features_auto_compares_scattering_and_pixels(capsys, tmp_path, digit_folder):
    pytest.importorskip("kymatio")
    from subclust.cli.workflow import load_inputs

    inputs = load_inputs(digit_folder)  # features="auto"
    assert inputs.source["feature_params"]["features"] == "scattering"
    [pixels] = inputs.alternatives
    assert pixels.source["feature_params"] == {"features": "pixels", "shape": [28, 28]}
    np.testing.assert_array_equal(pixels.X, inputs.images.reshape(30, -1))
    np.testing.assert_array_equal(pixels.y, inputs.y)
    assert load_inputs(digit_folder, features="pixels").alternatives == []

    out = tmp_path / "out"
    code, stdout, _ = run(capsys, "cluster", digit_folder, "-o", out)
    assert code == 0
    assert "features compared by auto's criterion" in stdout
    report = json.loads((out / "report.json").read_text())
    compared = report["features_compared"]
    assert [c["features"] for c in compared] == ["scattering", "pixels"]
    kept = max(compared, key=lambda c: c["criterion"])
    assert [c["selected"] for c in compared] == [c is kept for c in compared]
    # What was written is the clustering of the features kept, and predict repeats them.
    assert report["input"]["feature_params"]["features"] == kept["features"]
    assert report["selected"] == kept["selected_method"]
    assert report["metrics"] == kept["metrics"]
    code, stdout, _ = run(capsys, "predict", out / "model.npz", digit_folder)
    assert code == 0 and len(stdout.splitlines()) == 31

    # Another method's partitions are compared by the criterion of each in its own graph.
    code, _, _ = run(capsys, "cluster", digit_folder, "--method", "kss", "--dims", 2, "-o",
                     tmp_path / "kss")
    report = json.loads((tmp_path / "kss" / "report.json").read_text())
    compared = report["features_compared"]
    assert [c["selected_method"] for c in compared] == ["kss", "kss"]
    kept = max(compared, key=lambda c: c["criterion"])
    assert report["input"]["feature_params"]["features"] == kept["features"]
    # Beyond auto's budget the features are compared on a sample; the kept ones fit all.
    code, stdout, _ = run(capsys, "cluster", digit_folder, "--param", "budget=20", "-o",
                          tmp_path / "budget")  # fmt: skip
    assert code == 0 and "features compared by auto's criterion on 20 of the samples" in stdout
    report = json.loads((tmp_path / "budget" / "report.json").read_text())
    assert [c["n_samples"] for c in report["features_compared"]] == [20, 20]
    assert report["input"]["n_samples"] == 30 and len(report["cluster_sizes"]) == 2
    assert len(read_labels_csv(tmp_path / "budget" / "labels.csv")) == 30
    kept = max(report["features_compared"], key=lambda c: c["criterion"])
    assert report["input"]["feature_params"]["features"] == kept["features"]
    # Features named: no comparison.
    code, _, _ = run(capsys, "cluster", digit_folder, "--features", "pixels", "-o",
                     tmp_path / "pixels")
    report = json.loads((tmp_path / "pixels" / "report.json").read_text())
    assert "features_compared" not in report
    assert report["input"]["feature_params"]["features"] == "pixels"
    with pytest.raises(ValueError, match="features must be 'auto'"):
        load_inputs(digit_folder, features="hog")


def test_rows_of_a_mat_file_clustered_as_images_then_predicted(capsys, tmp_path, digit_folder):
    from scipy.io import savemat

    from subclust.cli.workflow import load_inputs
    from subclust.io import read_image_folder

    bunch = read_image_folder(digit_folder, features="pixels")
    # As MATLAB writes them: one image per row, flattened column by column; 8-bit.
    rows = np.round(bunch.images * 255).astype(np.uint8).reshape(30, -1, order="F")
    savemat(tmp_path / "digits.mat", {"fea": rows, "gnd": bunch.target[:, None] + 1})
    inputs = load_inputs(tmp_path / "digits.mat", label_column="gnd", features="pixels",
                         image_shape=(28, 28))  # fmt: skip
    np.testing.assert_array_equal(inputs.images, np.round(bunch.images * 255))  # upright
    assert inputs.source["kind"] == "images" and inputs.source["image_shape"] == [28, 28]

    out = tmp_path / "out"
    code, stdout, _ = run(capsys, "cluster", tmp_path / "digits.mat", "--label-column", "gnd",
                          "--image-shape", "28x28", "--method", "lsr", "-o", out)
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    assert report["input"]["image_shape"] == [28, 28]
    assert report["metrics"]["accuracy"] == 1.0  # zeros and ones
    kept = report["input"]["feature_params"]["features"]
    assert [c["features"] for c in report["features_compared"] if c["selected"]] == [kept]
    # The model repeats the reshaping and the features kept on a file of the same images.
    code, stdout, _ = run(capsys, "predict", out / "model.npz", tmp_path / "digits.mat")
    assert code == 0
    labels = [row["label"] for row in read_labels_csv(out / "labels.csv")]
    assert [line.split(",")[1] for line in stdout.splitlines()[1:]] == labels
    assert_error(capsys, ["predict", out / "model.npz", digit_folder],
                 "trained on the rows of .*digits.mat as images: give a file like it")

    # Without --image-shape the rows are embeddings, and the command says they look like images.
    code, _, err = run(capsys, "cluster", tmp_path / "digits.mat", "--label-column", "gnd",
                       "--method", "lsr", "-o", tmp_path / "rows")  # fmt: skip
    assert code == 0 and "look like 28x28 images" in err and "--image-shape 28x28" in err
    base = ["cluster", tmp_path / "digits.mat", "-o", tmp_path / "bad"]
    assert_error(capsys, base + ["--image-shape", "28x27"],
                 "--image-shape 28x27 has 756 pixels but the samples of .* have 784 values")
    assert_error(capsys, ["cluster", "--dataset", "mnist", "--image-shape", "28x28", "-o",
                          tmp_path / "b"], "applies to a file .* or to a folder of images, not")
    with pytest.raises(SystemExit):
        main([str(a) for a in base + ["--image-shape", "28"]])
    assert "expected HEIGHTxWIDTH such as 32x32, got '28'" in capsys.readouterr().err


def test_a_folder_of_images_of_many_sizes_is_resized_to_the_image_shape(capsys, tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for name, channel in (("red", 0), ("blue", 2)):  # colour photos of assorted sizes
        (tmp_path / "photos" / name).mkdir(parents=True)
        for i in range(6):
            height, width = rng.integers(30, 70, size=2)
            pixels = rng.integers(0, 60, size=(height, width, 3))
            pixels[..., channel] += 180 if i % 2 else 120  # two kinds of grey within a class
            Image.fromarray(pixels.astype(np.uint8)).save(tmp_path / "photos" / name / f"{i}.png")
    photos, out = tmp_path / "photos", tmp_path / "out"
    assert_error(capsys, ["cluster", photos, "-o", out],
                 r"pixels but the first image is .*--image-shape HxW on the command line")
    code, _, _ = run(capsys, "cluster", photos, "--image-shape", "24x20", "--features",
                     "pixels", "--method", "kss", "--dims", 1, "-o", out)  # fmt: skip
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    assert report["input"]["resize"] == [24, 20] and report["input"]["n_features"] == 480
    # New photos of other sizes are resized as the training ones were.
    code, stdout, _ = run(capsys, "predict", out / "model.npz", photos)
    labels = [row["label"] for row in read_labels_csv(out / "labels.csv")]
    assert code == 0 and [line.split(",")[2] for line in stdout.splitlines()[1:]] == labels


def test_features_auto_without_kymatio_uses_the_pixels(monkeypatch):
    import subclust.datasets._features as features_module
    from subclust.cli.workflow import image_inputs

    def missing():
        raise ImportError("Scattering features need kymatio (>= 0.3)")

    monkeypatch.setattr(features_module, "_scattering_class", missing)
    images = np.random.default_rng(0).random((6, 8, 8))
    with pytest.warns(UserWarning, match="features 'auto' leaves out scattering: .*kymatio"):
        inputs = image_inputs(images)
    assert inputs.source["feature_params"]["features"] == "pixels"
    assert inputs.alternatives == []
    with pytest.raises(ImportError, match="kymatio"):
        image_inputs(images, features="scattering")


def test_warnings_are_one_line(capsys, tmp_path, monkeypatch):
    import subclust.datasets._features as features_module
    from PIL import Image

    def missing():
        raise ImportError("Scattering features need kymatio (>= 0.3)")

    monkeypatch.setattr(features_module, "_scattering_class", missing)
    pixels = np.random.default_rng(0).integers(1, 256, size=(12, 8, 8), dtype=np.uint8)
    for i, image in enumerate(pixels):
        Image.fromarray(image).save(tmp_path / f"{i}.png")
    code, _, stderr = run(capsys, "cluster", tmp_path, "--n-clusters", 2, "-o", tmp_path / "out")
    assert code == 0
    assert stderr.splitlines() == [
        "subclust cluster: warning: features 'auto' leaves out scattering: Scattering features "
        "need kymatio (>= 0.3)"
    ]


def test_features_auto_keeps_pixels_for_faces_under_many_lights(data_home):
    """Lambertian faces lie near a subspace per person in pixels, not in scattering features."""
    pytest.importorskip("kymatio")
    from subclust.bench._common import load_images
    from subclust.cli.workflow import cluster_inputs, image_inputs

    images, y = load_images("yaleb-few", random_state=0)  # 10 faces of each of 38 persons
    result = cluster_inputs(image_inputs(images, y), random_state=0)
    scattering, pixels = result.features
    assert pixels["selected"] and pixels["criterion"] > scattering["criterion"]
    assert result.inputs.source["feature_params"]["features"] == "pixels"
    assert result.metrics == pixels["metrics"]
    assert result.metrics["accuracy"] > 0.7 > 0.4 > scattering["metrics"]["accuracy"]
    # The same for one method, by the criterion of its partition in its own graph.
    lsr = cluster_inputs(image_inputs(images, y), method="lsr", random_state=0)
    assert lsr.inputs.source["feature_params"]["features"] == "pixels"
    assert lsr.metrics["accuracy"] > 0.7 > 0.4 > lsr.features[0]["metrics"]["accuracy"]


def test_bench_features_row_reports_both_features(data_home):
    pytest.importorskip("kymatio")
    from subclust.bench._common import load_images
    from subclust.bench.features import features_row

    images, y = load_images("mnist200", random_state=0)
    keep = np.isin(y, [0, 1])
    row = features_row("mnist", images[keep], y[keep])
    assert row["seen"] == "no" and row["n_samples"] == keep.sum()
    kept = row["kept"]
    other = {"scattering": "pixels", "pixels": "scattering"}[kept]
    assert row[f"criterion_{kept}"] >= row[f"criterion_{other}"]
    assert row["acc_kept"] == row[f"acc_{kept}"]
    assert row["most_accurate"] in ("scattering", "pixels")


def test_a_data_set_of_embeddings_is_read_as_embeddings(monkeypatch, molrg):
    from sklearn.utils import Bunch

    import subclust.cli.workflow as workflow

    X, y, _ = molrg
    names = np.array([5, 6, 7])
    monkeypatch.setattr(workflow, "_load_dataset",
                        lambda *args: Bunch(data=X, target=y, target_names=names))  # fmt: skip
    inputs = workflow.load_inputs(dataset="yaleb_embeddings")  # a loader without images
    assert inputs.source == {"kind": "embeddings", "dataset": "yaleb_embeddings",
                             "n_samples": 120, "n_features": 20}  # fmt: skip
    assert inputs.X is X and inputs.target_names is names and inputs.alternatives == []


def test_cluster_dataset_by_name(capsys, tmp_path, data_home):
    pytest.importorskip("kymatio")
    code, _, _ = run(capsys, "cluster", "--dataset", "mnist", "--n-samples", 60, "--method", "kss",
                     "--dims", 2, "--param", "n_init=2", "-o", tmp_path / "out")
    assert code == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["input"]["dataset"] == "mnist" and report["input"]["n_samples"] == 60
    from subclust.datasets import load_mnist

    assert report["n_clusters"] == len(np.unique(load_mnist(n_samples=60).target))
    assert set(report["metrics"]) == {"accuracy", "nmi", "ari"}


def test_console_script(tmp_path, npy):
    exe = shutil.which("subclust")
    command = [exe] if exe else [sys.executable, "-m", "subclust.cli"]
    result = subprocess.run(
        command + ["cluster", str(tmp_path / "missing.npy"), "--n-clusters", "2", "-o",
                   str(tmp_path / "out")],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr == (
        f"subclust cluster: error: Embedding file {tmp_path / 'missing.npy'} does not exist.\n"
    )
    result = subprocess.run(
        command + ["cluster", str(npy[0]), "--n-clusters", "3", "--dims", "3", "-o",
                   str(tmp_path / "out")],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "report.json").exists()


# ----------------------------------------------------------------------------- error paths


def _save(path, array):
    np.save(path, array)
    return path


@pytest.mark.parametrize(
    "make, pattern",
    [
        (lambda d: d / "missing.npy", r"Embedding file .*missing.npy does not exist\."),
        (lambda d: _save(d / "x.npy", np.ones(10)), r"shape \(10,\); embeddings must be 2-D"),
        (lambda d: _save(d / "x.npy", np.ones((4, 3, 2))),
         r"shape \(4, 3, 2\); embeddings must be 2-D"),
        (lambda d: _save(d / "x.npy", np.array([[1.0, 2.0], [np.nan, 1.0]])),
         r"contains 1 NaN or infinite value \(the first at row 1, column 0\)"),
        (lambda d: _save(d / "x.npy", np.array([[{"a": 1}]], dtype=object)),
         "pickled Python objects"),
        (lambda d: (d / "x.csv").write_text("a,b\n1,2\n3,oops\n") and d / "x.csv",
         r"column 'b' is not numeric \('oops' on line 3\)"),
        (lambda d: (d / "x.xls").write_text("1\t2\n") and d / "x.xls", "extension '.xls'"),
        (lambda d: d, r"holds no PNG/JPG/JPEG/PGM/\S* images"),
    ],
    ids=["missing", "1-d", "3-d", "nan", "object-array", "non-numeric-csv", "extension",
         "empty-folder"],
)
def test_bad_input(capsys, tmp_path, make, pattern):
    path = make(tmp_path)
    assert_error(capsys, ["cluster", path, "--n-clusters", 2, "-o", tmp_path / "out"], pattern)
    assert not (tmp_path / "out").exists()  # nothing written


def test_pickle_files_are_refused(capsys, tmp_path):
    with open(tmp_path / "x.npy", "wb") as f:
        pickle.dump(np.ones((5, 2)), f)
    np.savez(tmp_path / "x.npz", X=np.array([1, None], dtype=object))
    for name in ("x.npy", "x.npz"):
        assert_error(capsys, ["cluster", tmp_path / name, "--n-clusters", 2, "-o", tmp_path / "o"],
                     "pickled.*never unpickles")


def test_label_errors(capsys, tmp_path, npy):
    X_path, _ = npy
    base = ["cluster", X_path, "--dims", 3, "-o", tmp_path / "out"]
    np.save(tmp_path / "short.npy", np.zeros(5))
    assert_error(capsys, base + ["--labels", tmp_path / "short.npy"],
                 "has 5 labels but the data has 120 samples")
    assert_error(capsys, base + ["--labels", tmp_path / "nope.npy"],
                 r"Label file .*nope.npy does not exist")
    assert_error(capsys, base + ["--method", "kss"],
                 r"Give the number of clusters \(--n-clusters K\): method 'kss' cannot")
    assert_error(capsys, base + ["--label-column", "y"], "no label column")


def test_argument_errors(capsys, tmp_path, npy):
    X_path, _ = npy
    out = ["-o", tmp_path / "out"]
    assert_error(capsys, ["cluster", "--n-clusters", 2] + out,
                 "Give either an INPUT path or --dataset")
    assert_error(capsys, ["cluster", X_path, "--dataset", "mnist", "--n-clusters", 2] + out,
                 "exactly one of them")
    assert_error(capsys, ["cluster", "--dataset", "imagenet", "--n-clusters", 2] + out,
                 r"Unknown dataset 'imagenet'; choose one of \[.*'mnist'")
    assert_error(capsys, ["cluster", X_path, "--method", "kss", "--n-clusters", 3, "--param",
                          "alpha=2"] + out, r"KSubspaces \(method 'kss'\) has no parameter 'alpha'")
    assert_error(capsys, ["cluster", X_path, "--n-clusters", 3, "--param", "alpha"] + out,
                 "--param expects KEY=VALUE")
    for key, option in [("n_clusters", "--n-clusters"), ("dims", "--dims"),
                        ("random_state", "--random-state")]:
        assert_error(capsys, ["cluster", X_path, "--method", "kss", "--n-clusters", 3, "--dims",
                              2, "--param", f"{key}=4"] + out,
                     f"--param {key}: give it with {option} instead")
    assert_error(capsys, ["cluster", X_path, "--method", "kss", "--n-clusters", 3, "--dims", 20]
                 + out,
                 "Subspace dimension 20 must be smaller than n_features=20")
    assert_error(capsys, ["cluster", X_path, "--n-clusters", 0] + out, "n_clusters")
    assert_error(capsys, ["cluster", X_path, "--n-clusters", 3, "--pca", 50] + out,
                 r"--pca 50 exceeds what 120 samples with 20 features allow \(19\)")
    (tmp_path / "file").write_text("")
    assert_error(capsys, ["cluster", X_path, "--n-clusters", 3, "-o", tmp_path / "file"],
                 "is a file; -o names a directory")
    assert_error(capsys, ["cluster", X_path, "--n-jobs", 0] + out,
                 "--n-jobs must be a positive number of workers, or -1 for every core")
    # Options of other inputs are refused rather than ignored.
    assert_error(capsys, ["cluster", X_path, "--n-clusters", 3, "--features", "face"] + out,
                 r"features='face' \(--features\) applies to images.*these samples are embeddings")
    assert_error(capsys, ["cluster", X_path, "--n-clusters", 3, "--key", "X"] + out,
                 r"holds one table of embeddings: key='X' \(--key\) names an array of an .npz")


def test_unavailable_method_is_a_clear_error(capsys, tmp_path, npy, monkeypatch):
    from subclust.pipeline import METHODS, Method

    monkeypatch.setitem(METHODS, "future", Method("FutureClustering", "not written yet"))
    assert_error(capsys, ["cluster", npy[0], "--method", "future", "--n-clusters", 3, "-o",
                          tmp_path / "out"],
                 "needs subclust.FutureClustering, which this version of subclust does not provide")


def test_predict_errors(capsys, tmp_path, npy):
    X_path, _ = npy
    out = tmp_path / "out"
    assert run(capsys, "cluster", X_path, "--n-clusters", 3, "--dims", 3, "-o", out)[0] == 0
    model = out / "model.npz"
    assert_error(capsys, ["predict", tmp_path / "none.npz", X_path],
                 r"Model file .*none.npz does not exist")
    assert_error(capsys, ["predict", out / "bases.npz", X_path], "not a subclust model file")
    assert_error(capsys, ["predict", X_path, X_path], "not a subclust model file")
    np.save(tmp_path / "narrow.npy", np.ones((5, 19)))
    assert_error(capsys, ["predict", model, tmp_path / "narrow.npy"],
                 "has 19 features but the model .* was fitted on 20")
    assert_error(capsys, ["predict", model, tmp_path],
                 "trained on embeddings: give an embedding file")
    np.save(tmp_path / "nan.npy", np.full((2, 20), np.nan))
    assert_error(capsys, ["predict", model, tmp_path / "nan.npy"], "NaN")
    assert_error(capsys, ["predict", model, X_path, "-o", tmp_path / "labels.npy"],
                 "the labels are written as CSV text; name the file .csv")
    assert not (tmp_path / "labels.npy").exists()


@pytest.mark.parametrize("damage", [truncate, corrupt_crc], ids=["truncated", "bad-crc"])
def test_damaged_npz_input_and_model(capsys, tmp_path, npy, molrg, damage):
    out = tmp_path / "out"
    assert run(capsys, "cluster", npy[0], "--method", "kss", "--n-clusters", 3, "--dims", 3,
               "-o", out)[0] == 0
    np.savez(tmp_path / "emb.npz", X=molrg[0])
    damage(tmp_path / "emb.npz")
    for argv in (["cluster", tmp_path / "emb.npz", "--n-clusters", 3, "-o", tmp_path / "o2"],
                 ["predict", out / "model.npz", tmp_path / "emb.npz"]):
        assert_error(capsys, argv, r"emb.npz is truncated or corrupted \(.*\); write it again")
    damage(out / "model.npz")
    assert_error(capsys, ["predict", out / "model.npz", npy[0]],
                 r"model.npz is truncated or corrupted \(.*\); re-create it with `subclust "
                 "cluster`")


@pytest.mark.parametrize(
    "edit, message",
    [
        (with_nan, r"KSubspaces \(step 'cluster'\).bases_ holds NaN or infinity"),
        (lambda U: U[:-2],
         r"KSubspaces \(step 'cluster'\).bases_\[0\] has shape \(18, 3\), expected \(20, d\)"),
    ],
    ids=["nan", "shape"],
)
def test_damaged_model_is_refused_before_predicting(capsys, tmp_path, npy, edit, message):
    out = tmp_path / "out"
    assert run(capsys, "cluster", npy[0], "--method", "kss", "--n-clusters", 3, "--dims", 3,
               "-o", out)[0] == 0
    edit_basis(out / "model.npz", edit)
    assert_error(capsys, ["predict", out / "model.npz", npy[0]],
                 f"model.npz is damaged: {message}; re-create it")


def test_model_holds_no_affinity_unless_asked(capsys, tmp_path, npy):
    import scipy.sparse as sp

    from subclust.io import load_model

    for method in ("omp", "lsr"):  # a sparse affinity, a dense one
        out = tmp_path / method
        assert run(capsys, "cluster", npy[0], "--method", method, "--n-clusters", 3, "-o", out,
                   "--save-affinity")[0] == 0
        cluster = load_model(out / "model.npz")[-1]
        assert cluster.affinity_matrix_ is None and cluster.representation_matrix_ is None
        if method == "omp":  # stored sparse
            affinity = sp.load_npz(out / "affinity.npz")
            assert affinity.nnz < 120 * 120 / 2
        else:
            with np.load(out / "affinity.npz", allow_pickle=False) as archive:
                affinity = archive["affinity"]
        assert affinity.shape == (120, 120)
        report = json.loads((out / "report.json").read_text())
        assert "affinity.npz" in report["outputs"]
    assert_error(capsys, ["cluster", npy[0], "--method", "kss", "--n-clusters", 3, "-o",
                          tmp_path / "kss", "--save-affinity"],
                 "Method 'kss' builds no affinity matrix; drop --save-affinity")
    assert not (tmp_path / "kss").exists()


def test_force_replaces_the_old_directory_only_when_the_new_one_is_complete(
    capsys, tmp_path, npy, monkeypatch
):
    out = tmp_path / "out"
    argv = ["cluster", npy[0], "--method", "kss", "--n-clusters", 3, "--dims", 3, "-o", out]
    assert run(capsys, *argv)[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def full_disk(*args):
        raise OSError("No space left on device")

    monkeypatch.setattr("subclust.cli.workflow._summary_figure", full_disk)
    assert_error(capsys, argv + ["--dims", 2, "--force"], "No space left on device")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "x.npy", "y.npy"]

    # A directory holding other files is never replaced, even with --force.
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("keep")
    assert_error(capsys, argv[:-1] + [tmp_path / "notes", "--force"],
                 r"notes holds files that subclust cluster does not write \(todo.txt\)")
    assert (tmp_path / "notes" / "todo.txt").read_text() == "keep"


# ----------------------------------------------------------------------------- progress


def test_progress_only_when_asked(capsys, tmp_path, npy):
    argv = ["cluster", npy[0], "--method", "kss", "--n-clusters", 3, "--dims", 3]
    code, _, err = run(capsys, *argv, "-o", tmp_path / "a")
    assert code == 0 and err == ""  # stderr is not a terminal
    code, _, err = run(capsys, *argv, "-o", tmp_path / "b", "--progress")
    assert code == 0
    assert "cluster" in err and "fit" in err and "write" in err and "stage" in err
    code, _, err = run(capsys, "predict", tmp_path / "a" / "model.npz", npy[0], "--progress")
    assert code == 0 and "predict" in err


def _command():
    """The CLI of this checkout, in a fresh interpreter."""
    root = str(Path(subclust.__file__).resolve().parents[1])
    path = os.environ.get("PYTHONPATH")
    env = {**os.environ, "PYTHONPATH": root + (os.pathsep + path if path else "")}
    return [sys.executable, "-m", "subclust.cli"], env


def test_progress_on_a_terminal(tmp_path, npy):
    import fcntl
    import pty
    import struct
    import termios

    command, env = _command()
    argv = ["cluster", str(npy[0]), "--method", "kss", "--n-clusters", "3", "--dims", "3"]
    for extra, shown in (([], True), (["--quiet"], False)):
        leader, follower = pty.openpty()
        # A terminal of 24 x 80 characters (a new pseudo-terminal has 0 columns: no room for bars).
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        process = subprocess.Popen(
            command + argv + ["-o", str(tmp_path / f"out{len(extra)}")] + extra,
            stdout=subprocess.DEVNULL, stderr=follower, env=env,
        )
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal closed with the process
                break
            if not chunk:
                break
            chunks.append(chunk)
        os.close(leader)
        assert process.wait(timeout=120) == 0
        err = b"".join(chunks).decode(errors="replace")
        assert (("fit" in err) and ("write" in err)) == shown, err


# ----------------------------------------------------------------------------- Ctrl-C


def _interrupt_cluster(tmp_path, argv, stage, ready=lambda: True, env=()):
    """Start ``subclust cluster``, send SIGINT once it reached ``stage`` and ``ready()``."""
    command, environment = _command()
    log = tmp_path / "stages.log"
    environment.update({"SUBCLUST_TEST_STAGE_LOG": str(log), **dict(env)})
    process = subprocess.Popen(
        command + ["cluster"] + [str(a) for a in argv], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, env=environment, text=True,
        # A suite started in the background inherits an ignored SIGINT; a user's shell
        # delivers it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 300
    while not (log.exists() and stage in log.read_text().split() and ready()):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{stage} not reached"
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    log.unlink()
    return process.returncode, stdout, stderr


@pytest.fixture
def larger(tmp_path):
    """Enough samples for an elastic-net fit of several seconds."""
    X, y, _ = make_molrg(n_samples=[300] * 3, n_features=30, dims=4, random_state=0)
    np.save(tmp_path / "x.npy", X)
    return tmp_path / "x.npy"


def test_ctrl_c_during_the_fit(tmp_path, larger):
    out = tmp_path / "out"
    code, stdout, stderr = _interrupt_cluster(
        tmp_path, [larger, "--method", "ensc", "--n-clusters", 3, "-o", out], "fit",
    )
    assert code == 130
    assert stderr == "subclust cluster: interrupted (Ctrl-C).\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy"]  # no output, no temporaries


def test_ctrl_c_during_the_writing(tmp_path, npy):
    out = tmp_path / "out"

    def first_file_written():
        return any(
            p.name.startswith(".out.") and any(p.iterdir()) for p in tmp_path.iterdir()
        )

    # Each file waits a second before it is written: long enough to interrupt in between.
    code, _, stderr = _interrupt_cluster(
        tmp_path, [npy[0], "--method", "kss", "--n-clusters", 3, "--dims", 3, "-o", out],
        "write", first_file_written, env={"SUBCLUST_TEST_WRITE_DELAY": "1"},
    )
    assert code == 130
    assert stderr == "subclust cluster: interrupted (Ctrl-C).\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy", "y.npy"]

    # With --force, the old results stay as they were.
    assert subprocess.run(_command()[0] + ["cluster", str(npy[0]), "--method", "kss",
                                           "--n-clusters", "3", "-o", str(out)],
                          env=_command()[1], capture_output=True).returncode == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    code, _, stderr = _interrupt_cluster(
        tmp_path, [npy[0], "--method", "kss", "--n-clusters", 3, "--dims", 2, "-o", out,
                   "--force"],
        "write", first_file_written, env={"SUBCLUST_TEST_WRITE_DELAY": "1"},
    )
    assert code == 130 and stderr.count("\n") == 1
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "x.npy", "y.npy"]
