import numpy as np
import pytest

torch = pytest.importorskip("torch")

from subclust.cli import main  # noqa: E402
from subclust.datasets import random_bases  # noqa: E402
from subclust.diffusion import VPLinear, molrg_denoise, train_denoiser  # noqa: E402
from subclust.utils.parallel import torch_threads  # noqa: E402
from subclust.diffusion.subspace_score import (  # noqa: E402
    SubspaceScoreNetwork,
    exact_subspace_denoiser,
    latent_posterior_mean,
)
from subclust.experiments import SubspaceScoreResult, subspace_score_experiment  # noqa: E402
from subclust.experiments.subspace_score import SMALL  # noqa: E402
from subclust.experiments.wasserstein_rate import draw_latents  # noqa: E402
from subclust.subspace import principal_angles  # noqa: E402

COLUMNS = ["network", "latent", "n_features", "dim", "N", "seed", "n_params", "score_error",
           "angle_deg", "w1", "off_subspace", "w1_floor"]


@pytest.fixture(scope="module")
def small():
    return subspace_score_experiment(**SMALL, random_state=0)


# --------------------------------------------------------------------------- exact score


def test_exact_denoiser_of_gaussian_latents_is_the_molrg_denoiser():
    gen = torch.Generator().manual_seed(0)
    U = torch.as_tensor(random_bases(12, [3], random_state=0)[0])
    x = torch.randn(50, 12, generator=gen, dtype=torch.float64)
    s, g = VPLinear().s_and_g(torch.linspace(0.01, 1.0, 50, dtype=torch.float64))
    exact = exact_subspace_denoiser(x, s, g, U, "gaussian")
    assert torch.allclose(exact, molrg_denoise(x, s, g, [U]), atol=1e-12)


# Observations inside the support, at its ends and far outside it (tails).
_Z = torch.tensor([[-8.0, -2.5, -1.7], [-0.3, 0.0, 0.4], [1.7, 3.0, 20.0]], dtype=torch.float64)


@pytest.mark.parametrize("s, g", [(1.0, 0.05), (0.8, 0.6), (0.3, 0.95),
                                  (0.005, 1.0)])
def test_posterior_mean_of_uniform_latents_matches_quadrature(s, g):
    z = _Z * s
    a = np.linspace(-np.sqrt(3), np.sqrt(3), 400_001)  # the prior's support
    log_lik = -0.5 * ((z.numpy().reshape(-1, 1) - s * a) / g) ** 2
    weights = np.exp(log_lik - log_lik.max(axis=1, keepdims=True))
    weights[:, [0, -1]] *= 0.5  # the trapezoidal rule
    expected = (weights * a).sum(1) / weights.sum(1)
    got = latent_posterior_mean(z, s, g, "uniform").numpy().ravel()
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_posterior_mean_of_uniform_latents_is_accurate_deep_in_the_tails():
    # At g = 1e-3 an observation outside the support lies x = dist / g standard deviations
    # out (x from 770 to 18000); the posterior is a normal tail beyond the nearest end, whose
    # mean lies g (1/x - 2/x^3 + O(x^-5)) inside it (the Mills ratio expansion).
    g, end = 1e-3, np.sqrt(3)
    z = torch.tensor([[-8.0, -2.5, 3.0, 20.0]], dtype=torch.float64)
    x = (z.abs() - end) / g
    expected = torch.sign(z) * (end - g * (1 / x - 2 / x**3))
    got = latent_posterior_mean(z, 1.0, g, "uniform")
    assert torch.allclose(got, expected, rtol=0, atol=1e-14)


def test_uniform_posterior_mean_is_increasing_in_z_and_inside_the_support():
    z = torch.linspace(-30.0, 30.0, 2001, dtype=torch.float64).reshape(-1, 1)
    for s, g in [(1.0, 0.01), (0.7, 0.7), (0.01, 1.0)]:
        mean = latent_posterior_mean(z, s, g, "uniform").ravel()
        assert torch.all(torch.diff(mean) > 0)
        assert mean.abs().max() < np.sqrt(3)
        assert torch.allclose(mean, -mean.flip(0))  # odd in z


@pytest.mark.parametrize("latent", ["gaussian", "uniform"])
def test_error_of_the_exact_denoiser_grows_with_the_noise(latent):
    # The minimum mean square error of a denoiser increases with the noise-to-signal ratio.
    rng = np.random.default_rng(0)
    U = torch.as_tensor(random_bases(10, [3], random_state=1)[0])
    x0 = torch.as_tensor(draw_latents(latent, (20000, 3), rng)) @ U.T
    eps = torch.as_tensor(rng.standard_normal((20000, 10)))
    s, g = VPLinear().s_and_g(torch.linspace(0.02, 1.0, 8, dtype=torch.float64))
    mmse = [float(((exact_subspace_denoiser(si * x0 + gi * eps, si, gi, U, latent) - x0) ** 2)
                   .sum(1).mean()) for si, gi in zip(s, g)]
    assert np.all(np.diff(mmse) > 0)
    assert mmse[-1] < float((x0**2).sum(1).mean())  # below the error of answering 0


# --------------------------------------------------------------------------- network


def test_subspace_network_stays_orthonormal_and_finds_the_subspace():
    U = random_bases(16, [2], random_state=0)[0]
    X = draw_latents("uniform", (400, 2), np.random.default_rng(0)) @ U.T
    net = SubspaceScoreNetwork(16, 2, hidden=32, depth=2, basis_rate=20.0, random_state=0)
    before = np.degrees(principal_angles(net.basis.double().numpy(), U).max())
    with torch_threads(1):  # a small network: more threads only wait on each other
        train_denoiser(net, torch.as_tensor(X, dtype=torch.float32), steps=200, batch_size=64,
                       lr=5e-3, lr_schedule="cosine", random_state=0, verbose=0)
    V = net.basis.double()
    assert torch.allclose(V.T @ V, torch.eye(2, dtype=torch.float64), atol=1e-5)
    after = np.degrees(principal_angles(V.numpy(), U).max())
    assert after < 10 < before
    # Its output lies in the span of V: the part orthogonal to the subspace is -x / g^2.
    x = torch.randn(5, 16, generator=torch.Generator().manual_seed(1))
    out = net(x, torch.full((5,), 0.3)).double()
    assert torch.allclose(out - out @ V @ V.T, torch.zeros_like(out), atol=1e-5)


def test_subspace_network_rejects_bad_parameters():
    with pytest.raises(ValueError, match="dim=4 must be smaller"):
        SubspaceScoreNetwork(4, 4)
    with pytest.raises(ValueError, match="init_basis must be"):
        SubspaceScoreNetwork(6, 2, init_basis=np.ones((6, 3)))
    with pytest.raises(ValueError, match="'latent' parameter of latent_posterior_mean must be"):
        latent_posterior_mean(torch.zeros(1, 2), 1.0, 1.0, "laplace")


# --------------------------------------------------------------------------- experiment


def test_small_configuration_gives_one_row_per_cell(small):
    assert isinstance(small, SubspaceScoreResult)
    pairs = {(8, 2), (32, 2), (8, 1)}
    assert len(small.table.rows) == 2 * 2 * len(pairs) * 2  # networks x latents x (D, d) x N
    assert small.table.columns == COLUMNS
    assert {(r["n_features"], r["dim"]) for r in small.table.rows} == pairs
    for row in small.table.rows:
        assert np.isfinite([row[m] for m in COLUMNS[6:]]).all()
        assert 0 <= row["angle_deg"] <= 90 and 0 <= row["off_subspace"] <= 1
    means = small.means()
    assert len(means.rows) == len(small.table.rows)  # one seed
    slopes = small.slopes()
    assert set(slopes.column("against")) == {"N", "D", "d"}
    assert str(small).count("log-log slopes") == 1


def test_subspace_network_keeps_samples_on_the_subspace(small):
    # Its samples lie in the span of V, which starts at the principal subspace of the
    # (noiseless) training set: far less energy off the true subspace than the generic MLP's.
    for key in {(r["latent"], r["n_features"], r["dim"], r["N"]) for r in small.table.rows}:
        rows = {r["network"]: r for r in small.table.rows
                if (r["latent"], r["n_features"], r["dim"], r["N"]) == key}
        assert rows["subspace"]["off_subspace"] < 0.01
        assert rows["subspace"]["angle_deg"] < 5


def test_same_seed_same_table_and_plot_draws():
    tiny = dict(SMALL, n_features_grid=(8,), dims_grid=(2,), latents=("uniform",),
                sample_sizes=(20, 40), steps=10)
    first = subspace_score_experiment(**tiny, random_state=5)
    again = subspace_score_experiment(**tiny, random_state=5)
    other = subspace_score_experiment(**tiny, random_state=6)
    assert first.table.rows == again.table.rows
    assert first.table.rows != other.table.rows
    assert len(first.plot().axes) == 6


@pytest.mark.parametrize("params, message", [
    (dict(sample_sizes=[100, 50]), "strictly increasing"),
    (dict(sample_sizes=[1, 10]), "sample_sizes must be ints >= 2"),
    (dict(n_features_grid=[4, 16], dims=4), "must exceed dims=4"),
    (dict(dims_grid=[2, 64], n_features=64), "below n_features=64"),
    (dict(latents=["laplace"]), "latents must be among"),
    (dict(networks=["unet"]), "networks must be among"),
    (dict(steps=0), r"'steps' parameter of subspace_score_experiment must be an int in"),
    (dict(basis_init="identity"), "'basis_init' parameter of subspace_score_experiment must be"),
    (dict(lr=-1.0), r"'lr' parameter .* range \(0.0, inf\)"),
    (dict(device="gpu7"), "device .gpu7. cannot be used here"),
])
def test_experiment_rejects_bad_parameters(params, message):
    with pytest.raises(ValueError, match=message):
        subspace_score_experiment(**params)


# --------------------------------------------------------------------------- command line


def test_cli_writes_csv_and_png_and_refuses_to_overwrite(tmp_path, capsys):
    assert main(["subspace-score", "-o", str(tmp_path), "--small", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "log-log slopes" in out and "means over seeds" in out
    header = (tmp_path / "subspace_score.csv").read_text().splitlines()[0]
    assert header.split(",") == COLUMNS
    assert (tmp_path / "subspace_score.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["subspace-score", "-o", str(tmp_path), "--small", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("subclust subspace-score: error:") and "--force" in err
    assert len(err.splitlines()) == 1
