"""Denoising score matching: what training learns, and the training loop's contract."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from subclust.datasets import make_molrg  # noqa: E402
from subclust.diffusion import (  # noqa: E402
    EDM,
    LogNormalSigma,
    LowRankMixtureDenoiser,
    MLPDenoiser,
    NonFiniteLossError,
    Preconditioned,
    UniformTime,
    VPLinear,
    dsm_loss,
    dsm_loss_estimate,
    karras_times,
    load_checkpoint,
    off_subspace_energy,
    sample_heun,
    train_denoiser,
)
from subclust.metrics import clustering_accuracy, subspace_recovery_error  # noqa: E402
from subclust.subspace import residuals, subspace_distance  # noqa: E402


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _top_pca_basis(X, d):
    return np.linalg.svd(X, full_matrices=False)[2][:d].T


@pytest.mark.parametrize("optimizer,lr", [("adam", 1e-2), ("rsgd", 10.0)])
def test_one_component_training_is_pca_of_the_samples(optimizer, lr):
    # K = 1 with N = 2d noisy samples: the minimizer of the loss is the top-d principal
    # subspace of the samples (Wang et al., arXiv:2409.02426), which here is far from the true one.
    n, d = 16, 3
    X, _, true_bases = make_molrg(n_samples=[2 * d], n_features=n, dims=d, noise=0.1,
                                  random_state=0)
    pca = _top_pca_basis(X, d)
    assert subspace_distance(pca, true_bases[0]) > 0.3
    # Every noise level has the same minimizer; low noise levels give the least noisy
    # gradients, so this fast test trains on sigma in [0.01, 0.07].
    net = LowRankMixtureDenoiser(n, 1, d, random_state=0)
    train_denoiser(net, X, steps=1000, batch_size=256, lr=lr, optimizer=optimizer,
                   lr_schedule="cosine", noise_levels=UniformTime(t_max=0.02), random_state=0,
                   verbose=0)
    U = net.bases[0].double().numpy()
    np.testing.assert_allclose(U.T @ U, np.eye(d), atol=1e-5)
    assert subspace_distance(U, pca) < 1e-3


@pytest.mark.slow
def test_one_component_training_is_pca_over_the_whole_noise_range():
    n, d = 16, 3
    X, _, _ = make_molrg(n_samples=[2 * d], n_features=n, dims=d, noise=0.1, random_state=0)
    net = LowRankMixtureDenoiser(n, 1, d, random_state=0, dtype=torch.float64)
    train_denoiser(net, X, steps=20_000, batch_size=256, lr=1e-2, lr_schedule="cosine",
                   noise_levels=LogNormalSigma(), random_state=0, verbose=0)
    assert subspace_distance(net.bases[0].numpy(), _top_pca_basis(X, d)) < 1e-2


def test_mlp_denoiser_samples_lie_near_the_subspaces():
    # Generic MLP on the MoLRG of the sampling tests (n=48, K=3, d=4) with N_k = 50 d.
    d = 4
    X, _, bases = make_molrg(n_samples=[50 * d] * 3, n_features=48, dims=d, random_state=0)
    sigma_data = float(np.sqrt(np.mean(X**2)))
    net = Preconditioned(MLPDenoiser(48, hidden=256, random_state=0), schedule=EDM(),
                         sigma_data=sigma_data)
    train_denoiser(net, X.astype(np.float32), steps=1500, batch_size=256, lr=4e-3,
                   lr_schedule="cosine", noise_levels=LogNormalSigma(), weighting="edm",
                   sigma_data=sigma_data, random_state=0, verbose=0)
    gen = torch.Generator().manual_seed(1)
    noise = torch.randn(2000, 48, generator=gen)
    samples = sample_heun(net, 80.0 * noise, karras_times(EDM(), 18), disable=True)
    assert off_subspace_energy(samples, bases) < 0.1


class _Interrupt(Exception):
    pass


def _run(tmp_path=None, resume=False, stop_at=None):
    X, _, _ = make_molrg(n_samples=100, n_features=8, n_components=2, dims=2, random_state=0)
    net = Preconditioned(MLPDenoiser(8, hidden=16, depth=2, random_state=0))

    def callback(info):
        if info["step"] == stop_at:
            raise _Interrupt

    result = train_denoiser(
        net, X, steps=30, batch_size=16, lr=1e-3, lr_schedule="cosine", random_state=5, verbose=0,
        checkpoint_path=None if tmp_path is None else str(tmp_path / "ckpt.pt"),
        checkpoint_every=None if tmp_path is None else 13, resume=resume, callback=callback,
    )
    return net, result


def test_checkpoint_resume_continues_exactly(tmp_path):
    straight, full = _run()
    with pytest.raises(_Interrupt):
        _run(tmp_path, stop_at=20)  # killed at step 20, after the checkpoint of step 13
    assert torch.load(tmp_path / "ckpt.pt", weights_only=True)["step"] == 13
    resumed, rest = _run(tmp_path, resume=True)
    assert rest.steps == 30 and len(rest.losses) == 30
    np.testing.assert_array_equal(rest.losses, full.losses)
    for p, q in zip(straight.parameters(), resumed.parameters()):
        assert torch.equal(p, q)
    state = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    assert state["step"] == 30 and set(state) >= {"model", "optimizer", "generator"}
    net = Preconditioned(MLPDenoiser(8, hidden=16, depth=2, random_state=1))
    step, losses = load_checkpoint(str(tmp_path / "ckpt.pt"), net)
    assert step == 30 and len(losses) == 30
    for p, q in zip(straight.parameters(), net.parameters()):
        assert torch.equal(p, q)


def test_periodic_checkpoints_and_low_rank_resume(tmp_path):
    X, _, _ = make_molrg(n_samples=60, n_features=10, n_components=2, dims=2, random_state=0)

    def run(steps, resume):  # constant learning rate: stopping early changes nothing
        net = LowRankMixtureDenoiser(10, 2, 2, random_state=0)
        train_denoiser(net, X, steps=steps, batch_size=32, optimizer="rsgd", lr=1.0,
                       momentum=0.5, random_state=0, verbose=0,
                       checkpoint_path=str(tmp_path / "lr.pt"), checkpoint_every=7, resume=resume)
        return net

    full = LowRankMixtureDenoiser(10, 2, 2, random_state=0)
    train_denoiser(full, X, steps=20, batch_size=32, optimizer="rsgd", lr=1.0, momentum=0.5,
                   random_state=0, verbose=0)
    run(14, False)
    assert torch.load(tmp_path / "lr.pt", weights_only=True)["step"] == 14
    resumed = run(20, True)
    for U, V in zip(full.bases, resumed.bases):
        torch.testing.assert_close(U, V, rtol=0, atol=1e-6)


def test_non_finite_loss_raises_a_clear_error():
    class Exploding(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.tensor(1.0))

        def forward(self, x_t, t):
            return x_t * self.scale * 1e30

    X = np.ones((10, 4)) * 1e10
    with pytest.raises(NonFiniteLossError, match="at step 0.*Lower the learning rate"):
        train_denoiser(Exploding(), X, steps=5, random_state=0, verbose=0)


def test_callback_progress_bar_and_global_state(capsys):
    X, _, _ = make_molrg(n_samples=50, n_features=6, n_components=2, dims=2, random_state=0)
    net = LowRankMixtureDenoiser(6, 2, 2, random_state=0)
    seen = []
    state = torch.random.get_rng_state()
    result = train_denoiser(net, X, steps=12, batch_size=8, random_state=0, verbose=0,
                            callback=lambda info: seen.append((info["step"], info["loss"])))
    assert torch.equal(torch.random.get_rng_state(), state)
    assert [s for s, _ in seen] == list(range(1, 13))
    np.testing.assert_array_equal([loss for _, loss in seen], result.losses)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    train_denoiser(net, X, steps=3, batch_size=8, random_state=0, verbose=1)
    assert "training" in capsys.readouterr().err


def test_snr_weighting_is_the_noise_prediction_loss():
    X = torch.as_tensor(make_molrg(n_samples=64, n_features=6, dims=2, random_state=0)[0])
    net = Preconditioned(MLPDenoiser(6, hidden=8, depth=1, random_state=0, dtype=torch.float64))
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(generator=torch.Generator().manual_seed(1))
    schedule = VPLinear()
    loss = dsm_loss(net, X, schedule, weighting="snr", random_state=2)
    gen = torch.Generator().manual_seed(2)
    t = UniformTime().sample_times(schedule, 64, gen)
    eps = torch.randn(X.shape, generator=gen, dtype=X.dtype)
    s, g = (v[:, None] for v in schedule.s_and_g(t))
    x_t = s * X + g * eps
    eps_hat = (x_t - s * net(x_t, t)) / g
    torch.testing.assert_close(loss, ((eps_hat - eps) ** 2).mean())


def test_antithetic_loss_pairs_noise_and_log_normal_times():
    X = torch.as_tensor(make_molrg(n_samples=32, n_features=6, dims=2, random_state=0)[0])
    seen = []

    def denoiser(x_t, t):
        seen.append((x_t.clone(), t.clone()))
        return torch.zeros_like(x_t)

    dsm_loss(denoiser, X, VPLinear(), antithetic=True, random_state=0)
    x_t, t = seen[0]
    assert x_t.shape == (64, 6)
    torch.testing.assert_close(t[:32], t[32:])
    s = VPLinear().s(t[:32])[:, None].to(X.dtype)
    torch.testing.assert_close(x_t[:32] + x_t[32:], 2 * s * X)  # eps and -eps
    seen.clear()
    dsm_loss(denoiser, X, EDM(), LogNormalSigma(), antithetic=True,
             random_state=torch.Generator().manual_seed(0))
    x_t, t = seen[0]
    torch.testing.assert_close(t[:32], t[32:])
    torch.testing.assert_close(x_t[:32] + x_t[32:], 2 * X)


def test_random_state_is_a_seed_a_generator_or_fresh_entropy():
    X = torch.as_tensor(make_molrg(n_samples=32, n_features=6, dims=2, random_state=0)[0])
    net = LowRankMixtureDenoiser(6, 1, 2, random_state=0, dtype=torch.float64)
    # An int seed draws what a generator seeded with it draws.
    assert torch.equal(dsm_loss(net, X, VPLinear(), random_state=3),
                       dsm_loss(net, X, VPLinear(), random_state=torch.Generator().manual_seed(3)))
    # None draws fresh noise, and never from torch's global generator.
    state = torch.random.get_rng_state()
    first, second = (dsm_loss(net, X, VPLinear(), random_state=None) for _ in range(2))
    assert torch.equal(torch.random.get_rng_state(), state)
    assert not torch.equal(first, second)
    # The estimate's draws are fixed by default (common random numbers).
    default = dsm_loss_estimate(net, X, n_draws=4)
    assert default == dsm_loss_estimate(net, X, n_draws=4, random_state=0)
    assert default == dsm_loss_estimate(net, X, n_draws=4,
                                        random_state=torch.Generator().manual_seed(0))
    assert default != dsm_loss_estimate(net, X, n_draws=4, random_state=1)
    trained = []
    for seed in (lambda: 7, lambda: torch.Generator().manual_seed(7)):
        model = LowRankMixtureDenoiser(6, 1, 2, random_state=seed(), dtype=torch.float64)
        train_denoiser(model, X, steps=5, batch_size=8, random_state=seed(), verbose=0)
        trained.append(model.bases[0].detach())
    assert torch.equal(*trained)


def test_bad_training_arguments():
    X = np.ones((5, 4))
    net = LowRankMixtureDenoiser(4, 1, 2, random_state=0)
    cases = [
        (dict(steps=-1), "steps"),
        (dict(batch_size=0), "batch_size"),
        (dict(lr=0.0), "lr"),
        (dict(optimizer="sgd"), "optimizer"),
        (dict(noise_levels="log-normal"), "noise_levels"),
        (dict(weighting="min-snr"), "weighting"),
        (dict(lr_schedule="step"), "lr_schedule"),
        (dict(resume=True), "checkpoint_path"),
        (dict(checkpoint_every=0), "checkpoint_every"),
        (dict(random_state=-1), "random_state"),
        (dict(random_state="seed"), "random_state"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            train_denoiser(net, X, verbose=0, **kwargs)
    with pytest.raises(ValueError, match="NaN"):
        train_denoiser(net, np.full((5, 4), np.nan), verbose=0)
    with pytest.raises(FileNotFoundError, match="No checkpoint"):
        load_checkpoint("/nonexistent/ckpt.pt", net)


def test_several_components_training_recovers_the_subspaces():
    # K > 1 with hard weights is K-subspaces (Wang et al., arXiv:2409.02426); from this
    # seeded random start the global optimum is found (other starts can end in local optima,
    # as K-subspaces).
    X, _, bases = make_molrg(n_samples=[30, 30], n_features=24, dims=3, random_state=0)
    net = LowRankMixtureDenoiser(24, 2, 3, weighting="hard", random_state=0)
    train_denoiser(net, X, steps=1000, lr=1e-2, lr_schedule="cosine",
                   noise_levels=UniformTime(t_max=0.02), random_state=0, verbose=0)
    learned = [U.double().numpy() for U in net.bases]
    assert subspace_recovery_error(learned, bases) < 1e-3
    labels = net.responsibilities(torch.as_tensor(X, dtype=torch.float32), 1e-3).argmax(1)
    truth = np.argmin(residuals(X, bases), axis=1)
    assert clustering_accuracy(truth, labels.numpy()) == 1.0


def test_batched_loss_is_the_loss_of_each_member():
    X, _, _ = make_molrg(n_samples=[10, 10], n_features=8, dims=2, random_state=0)
    data = torch.as_tensor(X).reshape(2, 1, 10, 8)  # two data sets of ten samples
    batch = LowRankMixtureDenoiser(8, 2, 2, batch_shape=(2, 3), random_state=0, dtype=torch.float64)
    weight = torch.rand(2, 1, 10, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    weight /= weight.sum(-1, keepdim=True)
    with torch.no_grad():
        losses = dsm_loss(batch, data, VPLinear(), random_state=torch.Generator().manual_seed(0),
                          sample_dim=2, sample_weight=weight)
    assert losses.shape == (2, 3)
    for j in range(2):
        for i in range(3):
            alone = LowRankMixtureDenoiser(8, 2, 2, init_bases=[U[j, i] for U in batch.bases],
                                           dtype=torch.float64)
            with torch.no_grad():
                loss = dsm_loss(alone, data[j, 0], VPLinear(), sample_weight=weight[j, 0],
                                random_state=torch.Generator().manual_seed(0))
            assert float(losses[j, i]) == pytest.approx(float(loss), rel=1e-12)


def test_restarts_trained_as_one_batch_train_as_if_alone():
    # The loss of a batch is the sum of its members' losses: Adam, the tangent projection
    # and the retraction act per member, so each follows the training it has alone.
    X, _, _ = make_molrg(n_samples=[15, 15], n_features=10, dims=2, random_state=0)
    batch = LowRankMixtureDenoiser(10, 2, 2, batch_shape=(3,), random_state=0, dtype=torch.float64)
    members = [LowRankMixtureDenoiser(10, 2, 2, init_bases=[U[i] for U in batch.bases],
                                      dtype=torch.float64) for i in range(3)]
    kwargs = dict(steps=30, batch_size=16, lr=0.05, lr_schedule="cosine", random_state=0, verbose=0)
    result = train_denoiser(batch, X, **kwargs)
    losses = [train_denoiser(net, X, **kwargs).losses for net in members]
    np.testing.assert_allclose(result.losses, np.sum(losses, axis=0), rtol=1e-10)
    for i, net in enumerate(members):
        for U, V in zip(batch.bases, net.bases):
            torch.testing.assert_close(U[i], V, rtol=0, atol=1e-10)


def test_cosine_learning_rate_follows_the_step():
    X, _, _ = make_molrg(n_samples=[20], n_features=6, dims=2, random_state=0)
    net = LowRankMixtureDenoiser(6, dims=2, random_state=0, dtype=torch.float64)
    rates = []
    train_denoiser(net, X, steps=10, batch_size=8, lr=0.1, lr_schedule="cosine", random_state=0,
                   verbose=0, callback=lambda info: rates.append(
                       info["optimizer"].param_groups[0]["lr"]))
    # After step s the rate is 0.1 (1 + cos(pi s / 10)) / 2: zero at the end.
    expected = [0.05 * (1 + np.cos(np.pi * s / 10)) for s in range(1, 11)]
    np.testing.assert_allclose(rates, expected, atol=1e-15)
