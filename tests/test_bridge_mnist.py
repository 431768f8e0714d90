"""The U-Net denoiser, saving and loading it, and the MNIST story in its small configuration."""

import os
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skimage")

from subclust.bridge import jacobian_basis  # noqa: E402
from subclust.experiments.mnist_story import (  # noqa: E402
    StoryConfig,
    class_bases,
    load_denoiser,
    save_denoiser,
    train_mnist_denoiser,
)
from subclust.diffusion import Preconditioned  # noqa: E402
from subclust.diffusion.unet import UNetDenoiser  # noqa: E402
from subclust.subspace import subspace_distance  # noqa: E402

MNIST = ["mnist/t10k-images-idx3-ubyte.gz", "mnist/t10k-labels-idx1-ubyte.gz"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _mnist_available():
    home = os.environ.get("SUBCLUST_DATA")
    return bool(home) and all((Path(home) / f).exists() for f in MNIST)


def test_untrained_unet_is_the_gaussian_denoiser_and_takes_both_shapes():
    net = Preconditioned(UNetDenoiser(channels=8, random_state=0), sigma_data=0.5)
    assert sum(p.numel() for p in net.parameters()) < 2_000_000
    x = torch.randn(3, 784, generator=torch.Generator().manual_seed(0))
    t = torch.tensor([0.1, 0.3, 0.6])
    s, g = (v.float()[:, None] for v in net.schedule.s_and_g(t.double()))
    # The last layer starts at zero: D(x) = c_skip x, the optimum for N(0, sigma_data^2 I) data.
    expected = s * 0.25 / (g**2 + 0.25 * s**2) * x
    torch.testing.assert_close(net(x, t), expected)
    images = x.reshape(3, 1, 28, 28)
    torch.testing.assert_close(net(images, t).reshape(3, 784), net(x, t))


def test_unet_weights_come_from_the_generator_only():
    a, b = UNetDenoiser(channels=8, random_state=5), UNetDenoiser(channels=8, random_state=5)
    c = UNetDenoiser(channels=8, random_state=6)
    b_state = b.state_dict()
    for name, tensor in a.state_dict().items():  # parameters and buffers alike
        assert torch.equal(tensor, b_state[name]), name
    assert any(not torch.equal(p, r) for p, r in zip(a.parameters(), c.parameters()))
    # The noise-level embedding: 32 frequencies from 1 to 64 in geometric steps, whatever
    # the memory the network was built in held before.
    torch.testing.assert_close(
        a.frequencies, torch.logspace(0, 6, 32, base=2.0, dtype=torch.float32)
    )


def test_unet_bad_input():
    with pytest.raises(ValueError, match="divisible by 4"):
        UNetDenoiser(image_size=30)
    with pytest.raises(ValueError, match="channels"):
        UNetDenoiser(channels=0)
    with pytest.raises(ValueError, match="x must have shape"):
        Preconditioned(UNetDenoiser(channels=8, random_state=0))(torch.zeros(2, 100), 0.5)


def test_training_saving_and_loading(tmp_path):
    rng = np.random.default_rng(0)
    images = np.clip(rng.random((64, 28, 28)) ** 4, 0, 1)
    net, result = train_mnist_denoiser(images, steps=3, batch_size=16, channels=8, random_state=0)
    assert result.steps == 3 and np.all(np.isfinite(result.losses))
    path = tmp_path / "unet.npz"
    save_denoiser(path, net, steps=3)
    with pytest.raises(FileExistsError, match="force"):
        save_denoiser(path, net)
    loaded = load_denoiser(path)
    x = torch.randn(2, 784, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(loaded(x, 0.4), net(x, 0.4).detach())
    # Its Jacobian is a Jacobian of the same function.
    a = jacobian_basis(net, x[0], 0.4, rank=3, method="randomized", random_state=0)
    b = jacobian_basis(loaded, x[0], 0.4, rank=3, method="randomized", random_state=0)
    np.testing.assert_allclose(a.singular_values, b.singular_values, rtol=1e-4)
    torch.save({"model": {}}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a denoiser saved by"):
        load_denoiser(tmp_path / "other.pt")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        train_mnist_denoiser(images * 255, steps=1)


def test_class_bases_are_the_one_cluster_k_subspaces_solution():
    from subclust import KSubspaces

    rng = np.random.default_rng(0)
    X = rng.random((60, 20))
    labels = np.repeat([0, 1, 2], 20)
    classes, bases = class_bases(X, labels, 3)
    assert classes.tolist() == [0, 1, 2]
    for c, B in zip(classes, bases):
        kss = KSubspaces(n_clusters=1, dims=3, n_init=1, random_state=0).fit(X[labels == c])
        assert subspace_distance(B, kss.bases_[0]) < 1e-8
    with pytest.raises(ValueError, match="fewer than class_dim"):
        class_bases(X, labels, 25)


def test_cli_refuses_bad_arguments_before_any_work(tmp_path, capsys):
    from subclust.cli import main

    outdir = tmp_path / "out"
    outdir.mkdir()
    (outdir / "summary.txt").write_text("keep me")
    assert main(["bridge-mnist", "-o", str(outdir), "--small"]) == 2
    assert "exists; pass --force" in capsys.readouterr().err
    assert (outdir / "summary.txt").read_text() == "keep me"
    assert main(["bridge-mnist", "-o", str(tmp_path / "x"), "--small", "--steps", "0"]) == 2
    assert "--steps must be a positive integer" in capsys.readouterr().err
    missing = str(tmp_path / "no.pt")
    assert main(["bridge-mnist", "-o", str(tmp_path / "x"), "--model", missing]) == 2
    assert "No saved denoiser" in capsys.readouterr().err


@pytest.mark.skipif(not _mnist_available(), reason="SUBCLUST_DATA with MNIST is needed")
def test_small_story_runs_and_the_cli_writes_every_output(tmp_path, capsys):
    from subclust.cli import main

    outdir = tmp_path / "out"
    assert main(["bridge-mnist", "-o", str(outdir), "--small", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "Jacobian basis closest to own class" in printed
    names = {p.name for p in outdir.iterdir()}
    assert {"summary.txt", "rank_profile.csv", "attributes.csv", "rank_profile.png",
            "angle_heatmap.png", "edit_strips.png", "basis_images.png",
            "attribute_correlations.png", "unet_mnist.npz"} <= names
    summary = (outdir / "summary.txt").read_text()
    assert "Numerical rank (0.99 energy)" in summary and "rand1" in summary
    assert "attributes edited" in printed
    assert "best sv" in (outdir / "attributes.csv").read_text()
    # Never overwrite without --force; a saved model skips the training.
    assert main(["bridge-mnist", "-o", str(outdir), "--small", "--quiet"]) == 2
    assert "exists; pass --force" in capsys.readouterr().err
    again = tmp_path / "again"
    assert main(["bridge-mnist", "-o", str(again), "--small", "--quiet",
                 "--model", str(outdir / "unet_mnist.npz")]) == 0
    assert not (again / "unet_mnist.npz").exists()
    assert (again / "summary.txt").exists()


def test_small_configuration_is_small():
    small, full = StoryConfig.small(), StoryConfig()
    assert small.steps < full.steps and small.n_compare < full.n_compare
    assert full.n_compare == 500 and full.n_train is None
    assert StoryConfig.small(steps=5).steps == 5


@pytest.mark.slow  # the full story: 12 minutes on two cores, training included
@pytest.mark.skipif(not _mnist_available(), reason="SUBCLUST_DATA with MNIST is needed")
def test_full_story_meets_its_claims():
    from subclust.experiments.mnist_story import run_mnist_story

    story = run_mnist_story()
    assert story.profile.is_u_shaped
    assert story.comparison.own_class_closest >= 0.80
    assert story.attributes_edited() >= 3
    assert story.seconds["total"] < 30 * 60
