"""The paper's low-rank mixture network and the MLP denoiser."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from subclust.datasets import make_molrg  # noqa: E402
from subclust.diffusion import (  # noqa: E402
    EDM,
    LowRankMixtureDenoiser,
    MLPDenoiser,
    MoLRGDenoiser,
    Preconditioned,
    VPLinear,
    orthonormalize,
    tangent_projection,
)
from subclust.subspace import subspace_distance  # noqa: E402


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def molrg():
    return make_molrg(n_features=12, n_components=3, dims=[2, 3, 2], random_state=0)[2]


def test_network_with_true_bases_is_the_exact_denoiser(molrg):
    weights = [0.5, 0.3, 0.2]
    net = LowRankMixtureDenoiser(12, 3, [2, 3, 2], init_bases=molrg, weights=weights,
                                 dtype=torch.float64)
    exact = MoLRGDenoiser(molrg, weights)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(20, 12, generator=gen, dtype=torch.float64)
    t = torch.linspace(0.01, 1.0, 20, dtype=torch.float64)
    torch.testing.assert_close(net(x, t), exact(x, t))
    torch.testing.assert_close(net.responsibilities(x, t), exact.responsibilities(x, t))
    for U, V in zip(net.bases, molrg):
        assert U.shape == V.shape
        np.testing.assert_allclose(np.asarray(U), V, atol=1e-12)


def test_hard_weights_pick_the_largest_projection():
    _, _, bases = make_molrg(n_features=10, n_components=3, dims=2, random_state=1)
    net = LowRankMixtureDenoiser(10, 3, 2, weighting="hard", init_bases=bases, dtype=torch.float64)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(50, 10, generator=gen, dtype=torch.float64)
    energy = torch.stack([((x @ torch.as_tensor(U)) ** 2).sum(1) for U in bases], 1)
    w = net.responsibilities(x, 0.3)
    assert torch.equal(w.argmax(1), energy.argmax(1))
    assert torch.equal(w.sum(1), torch.ones(50, dtype=torch.float64))
    s, g = (float(v) for v in VPLinear().s_and_g(0.3))
    k = energy.argmax(1)
    expected = torch.stack([
        s / (s**2 + g**2) * torch.as_tensor(bases[k[i]] @ bases[k[i]].T) @ x[i] for i in range(50)
    ])
    torch.testing.assert_close(net(x, 0.3), expected)


def test_initial_bases_are_orthonormalized_and_random_init_is_seeded():
    rng = np.random.RandomState(0)
    raw = [rng.randn(9, 3), rng.randn(9, 1)]
    net = LowRankMixtureDenoiser(9, 2, [3, 1], init_bases=raw)
    for U, A in zip(net.bases, raw):
        assert U.dtype == torch.float32
        torch.testing.assert_close(U.T @ U, torch.eye(U.shape[1]), atol=1e-6, rtol=0)
        assert subspace_distance(np.asarray(U, dtype=np.float64), A) < 1e-6
    a = LowRankMixtureDenoiser(9, 2, 2, random_state=3).bases
    b = LowRankMixtureDenoiser(9, 2, 2, random_state=torch.Generator().manual_seed(3)).bases
    c = LowRankMixtureDenoiser(9, 2, 2, random_state=4).bases
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    assert not torch.equal(a[0], c[0])


def test_retraction_is_the_identity_on_the_manifold_and_restores_it():
    net = LowRankMixtureDenoiser(8, 2, 3, random_state=0, dtype=torch.float64)
    before = net.bases
    net.retract_()
    for U, V in zip(before, net.bases):
        torch.testing.assert_close(U, V, rtol=0, atol=1e-14)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for U in net.U:
            U.add_(0.1 * torch.randn(U.shape, generator=gen, dtype=U.dtype))
    perturbed = net.bases
    net.retract_()
    for U, P in zip(net.bases, perturbed):
        torch.testing.assert_close(U.T @ U, torch.eye(3, dtype=torch.float64))
        assert subspace_distance(U.numpy(), P.numpy()) < 1e-12


def test_tangent_projection_is_skew_and_idempotent():
    gen = torch.Generator().manual_seed(0)
    U = orthonormalize(torch.randn(7, 3, generator=gen, dtype=torch.float64))
    G = torch.randn(7, 3, generator=gen, dtype=torch.float64)
    T = tangent_projection(U, G)
    torch.testing.assert_close(U.T @ T + T.T @ U, torch.zeros(3, 3, dtype=torch.float64))
    torch.testing.assert_close(tangent_projection(U, T), T)


def test_learned_weights_and_fixed_parameters():
    net = LowRankMixtureDenoiser(6, 2, 1, weights=[0.25, 0.75], learn_weights=True,
                                 variances=[2.0, 0.5], means=np.ones((2, 6)), noise=0.1,
                                 random_state=0)
    torch.testing.assert_close(net.mixture_weights, torch.tensor([0.25, 0.75]))
    names = {name for name, _ in net.named_parameters()}
    assert names == {"U.0", "U.1", "weight_logits"}
    out = net(torch.ones(3, 6), 0.5).sum()
    out.backward()
    assert net.weight_logits.grad is not None and torch.isfinite(net.weight_logits.grad).all()
    state = net.state_dict()
    assert {"variances", "means"} <= set(state)


def test_constructors_leave_the_global_generator_alone():
    state = torch.random.get_rng_state()
    LowRankMixtureDenoiser(16, 3, 2, random_state=0)
    Preconditioned(MLPDenoiser(16, random_state=0))
    assert torch.equal(torch.random.get_rng_state(), state)


def test_mlp_denoiser_size_determinism_and_initial_function():
    net = Preconditioned(MLPDenoiser(48, random_state=0), sigma_data=0.5)
    assert sum(p.numel() for p in net.parameters()) == 49_584
    other = Preconditioned(MLPDenoiser(48, random_state=0), sigma_data=0.5)
    for p, q in zip(net.parameters(), other.parameters()):
        assert torch.equal(p, q)
    # the last layer starts at zero: D = c_skip x_t, the optimal denoiser of N(0, sigma_data^2 I)
    sigma_data = 0.5
    x = torch.randn(5, 48, generator=torch.Generator().manual_seed(1))
    s, g = (float(v) for v in VPLinear().s_and_g(0.4))
    torch.testing.assert_close(net(x, 0.4), s * sigma_data**2 / (s**2 * sigma_data**2 + g**2) * x)
    t = torch.linspace(0.001, 1.0, 5)
    assert torch.isfinite(net(x, t)).all()


class _Residual(torch.nn.Module):
    """A raw network that returns its input scaled by a learnable factor."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(0.7, dtype=torch.float64))

    def forward(self, x, c_noise):
        return self.scale * x


@pytest.mark.parametrize("schedule", [VPLinear(), EDM()], ids=["vp", "edm"])
def test_preconditioning_is_edms_on_the_rescaled_input(schedule):
    # D(x_t, t) = c_skip x_t + c_out F(c_in x_t) (Karras et al. 2022, Table 1): in sigma = g / s
    # and x~ = x_t / s it is EDM's c_skip = sd^2 / (sigma^2 + sd^2), c_out = sigma sd /
    # sqrt(sigma^2 + sd^2), c_in = 1 / sqrt(sigma^2 + sd^2) on every process.
    sd = 0.8
    net = Preconditioned(_Residual(), schedule=schedule, sigma_data=sd)
    x_t = torch.randn(3, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    t = torch.tensor([0.05, 0.3, 0.9], dtype=torch.float64)
    s, g = (v[:, None] for v in schedule.s_and_g(t))
    sigma, x = g / s, x_t / s
    c_skip = sd**2 / (sigma**2 + sd**2)
    c_out = sigma * sd / (sigma**2 + sd**2) ** 0.5
    c_in = 1 / (sigma**2 + sd**2) ** 0.5
    expected = c_skip * x + c_out * 0.7 * c_in * x
    torch.testing.assert_close(net(x_t, t), expected)
    # the same wrapper serves images: the coefficients broadcast per sample
    images = x_t.reshape(3, 5, 1, 1)
    torch.testing.assert_close(net(images, t).reshape(3, 5), expected)


def test_bad_network_arguments():
    with pytest.raises(ValueError, match="dims"):
        LowRankMixtureDenoiser(5, 2, [2])
    with pytest.raises(ValueError, match="must lie in"):
        LowRankMixtureDenoiser(5, 1, 5)
    with pytest.raises(ValueError, match="'soft' or 'hard'"):
        LowRankMixtureDenoiser(5, 1, 2, weighting="max")
    with pytest.raises(ValueError, match="expected"):
        LowRankMixtureDenoiser(5, 1, 2, init_bases=[np.eye(5)[:, :3]])
    with pytest.raises(ValueError, match="init_bases has 1"):
        LowRankMixtureDenoiser(5, 2, 2, init_bases=[np.eye(5)[:, :2]])
    with pytest.raises(ValueError, match=r"'n_features' parameter must be an int in the range"):
        MLPDenoiser(0)
    with pytest.raises(ValueError, match="even"):
        MLPDenoiser(4, embedding_dim=3)
    with pytest.raises(ValueError, match="n_features=4"):
        Preconditioned(MLPDenoiser(4, random_state=0))(torch.zeros(2, 5), 0.5)
    with pytest.raises(ValueError, match="sigma_data"):
        Preconditioned(MLPDenoiser(4, random_state=0), sigma_data=0.0)
    with pytest.raises(ValueError, match="torch.nn.Module"):
        Preconditioned(lambda x, c_noise: x)
    with pytest.raises(ValueError, match="random_state"):
        MLPDenoiser(4, random_state="seed")


@pytest.mark.parametrize("weighting", ["soft", "hard"])
def test_batched_network_equals_its_members_alone(molrg, weighting):
    # A (data sets, restarts) batch of mixtures is many networks at once: every member,
    # on its data set's input, must compute what the same network alone computes.
    gen = torch.Generator().manual_seed(0)
    bases = [orthonormalize(torch.randn(2, 4, 12, d, generator=gen, dtype=torch.float64))
             for d in (2, 3, 2)]
    batch = LowRankMixtureDenoiser(12, 3, [2, 3, 2], init_bases=bases, weighting=weighting,
                                   dtype=torch.float64)
    assert batch.batch_shape == (2, 4)
    x = torch.randn(2, 1, 5, 12, generator=gen, dtype=torch.float64)
    t = torch.linspace(0.1, 0.9, 5, dtype=torch.float64)
    with torch.no_grad():
        out, weights = batch(x, t), batch.responsibilities(x, t)
        shared = batch(x[0, 0], t)  # one input for every member
    assert out.shape == (2, 4, 5, 12) and weights.shape == (2, 4, 5, 3)
    for j in range(2):
        for i in range(4):
            alone = LowRankMixtureDenoiser(12, 3, [2, 3, 2], init_bases=[U[j, i] for U in bases],
                                           weighting=weighting, dtype=torch.float64)
            with torch.no_grad():
                torch.testing.assert_close(out[j, i], alone(x[j, 0], t), rtol=0, atol=1e-12)
                torch.testing.assert_close(weights[j, i], alone.responsibilities(x[j, 0], t),
                                           rtol=0, atol=1e-12)
                torch.testing.assert_close(shared[j, i], alone(x[0, 0], t), rtol=0, atol=1e-12)


def test_batched_network_retracts_every_member():
    net = LowRankMixtureDenoiser(8, 2, [1, 3], batch_shape=(3,), random_state=0,
                                 dtype=torch.float64)
    with torch.no_grad():
        for U in net.U:
            U.add_(0.1)
    net.retract_()
    for U in net.bases:
        eye = torch.eye(U.shape[-1], dtype=torch.float64).expand(3, -1, -1)
        torch.testing.assert_close(U.transpose(-2, -1) @ U, eye)


def test_batched_init_bases_must_share_the_batch_shape():
    bases = [np.zeros((3, 8, 1)), np.zeros((2, 8, 2))]
    with pytest.raises(ValueError, match=r"init_bases\[1\] has shape \(2, 8, 2\)"):
        LowRankMixtureDenoiser(8, 2, [1, 2], init_bases=bases)
    with pytest.raises(ValueError, match="batch_shape must hold positive integers"):
        LowRankMixtureDenoiser(8, 2, [1, 2], batch_shape=(0,))
