"""The diffusion layer: schedules, exact and trainable denoisers, training and samplers (PyTorch).

Needs the ``diffusion`` extra (``pip install "subclust[diffusion]"``: PyTorch
and tqdm); ``import subclust`` itself never imports torch.

A *denoiser* is a callable ``denoiser(x_t, t) -> x0_hat``: ``x_t`` a batch of
noisy samples ``s(t) x_0 + g(t) eps`` (vectors or images), ``t`` the
continuous time of its ``schedule`` (a
:class:`~subclust.diffusion.schedules.Schedule`, the forward process) as a
tensor of shape ``(batch,)`` (or a scalar), ``x0_hat`` an estimate of ``x_0``.

- :mod:`~subclust.diffusion.schedules`: the forward processes (VP linear and
  cosine, VE, EDM), the training noise levels and the sampling grids.
- :mod:`~subclust.diffusion.exact`: the exact posterior-mean denoisers and
  scores of an MoLRG and of a Gaussian mixture, and the memorizing denoiser.
- :mod:`~subclust.diffusion.networks`: the paper's
  :class:`LowRankMixtureDenoiser`, EDM's preconditioning :class:`Preconditioned`
  and a generic raw network for it, :class:`MLPDenoiser`.
- :mod:`~subclust.diffusion.unet`: :class:`UNetDenoiser`, a small U-Net for
  one-channel images (MNIST) that trains on CPU (a raw network too).
- :mod:`~subclust.diffusion.training`: denoising score matching, checkpoints.
- :mod:`~subclust.diffusion.sampling`: DDPM, DDIM, Euler and Heun samplers.
- :mod:`~subclust.diffusion.clustering`: :class:`DiffusionSubspaceClustering`,
  subspace clustering by training the low-rank mixture denoiser.
- :mod:`~subclust.diffusion.quality`: how close samples are to an MoLRG.
- :mod:`~subclust.diffusion.from_clustering`: denoisers built in closed form
  from any fitted clusterer (:meth:`LowRankMixtureDenoiser.from_clustering`).
"""

try:
    import torch  # noqa: F401
    import tqdm  # noqa: F401
except ImportError as error:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        f"subclust.diffusion needs PyTorch and tqdm ({error}). Install the extra: "
        'pip install "subclust[diffusion]"'
    ) from error

from subclust.diffusion._utils import append_dims, as_generator, check_device
from subclust.diffusion.exact import (
    EmpiricalDenoiser,
    GMMDenoiser,
    MoLRGDenoiser,
    empirical_denoise,
    gmm_denoise,
    gmm_log_density,
    gmm_responsibilities,
    gmm_score,
    molrg_denoise,
    molrg_log_density,
    molrg_responsibilities,
    molrg_score,
    score_from_denoised,
)
from subclust.diffusion.networks import (
    LowRankMixtureDenoiser,
    MLPDenoiser,
    Preconditioned,
    orthonormalize,
    tangent_projection,
)
from subclust.diffusion.quality import (
    component_frequencies,
    latent_covariance_error,
    off_subspace_energy,
    sample_quality,
)
from subclust.diffusion.sampling import (
    SAMPLERS,
    sample,
    sample_ddim,
    sample_ddpm,
    sample_euler,
    sample_heun,
)
from subclust.diffusion.schedules import (
    EDM,
    VE,
    LogNormalSigma,
    Schedule,
    UniformTime,
    VPCosine,
    VPLinear,
    edm,
    get_schedule,
    karras_sigmas,
    karras_times,
    uniform_times,
    ve,
    vp_cosine,
    vp_linear,
)
from subclust.diffusion.training import (
    NonFiniteLossError,
    RiemannianSGD,
    TrainResult,
    dsm_loss,
    dsm_loss_estimate,
    load_checkpoint,
    loss_weights,
    save_checkpoint,
    train_denoiser,
)
from subclust.diffusion.clustering import CLUSTERING_NOISE_LEVELS, DiffusionSubspaceClustering
from subclust.diffusion.unet import UNetDenoiser
from subclust.diffusion.from_clustering import (
    MixtureEstimate,
    SubspaceKDEDenoiser,
    estimate_mixture,
    mixture_from_clustering,
)
from subclust.diffusion.quality import (
    copy_statistics,
    nearest_neighbour_distances,
    sliced_wasserstein1,
    wasserstein1,
)

__all__ = [
    "CLUSTERING_NOISE_LEVELS",
    "DiffusionSubspaceClustering",
    "append_dims",
    "as_generator",
    "check_device",
    # schedules
    "Schedule", "VPLinear", "VPCosine", "VE", "EDM", "get_schedule",
    "vp_linear", "vp_cosine", "ve", "edm",
    # training noise levels and sampling grids
    "UniformTime", "LogNormalSigma", "karras_sigmas", "karras_times", "uniform_times",
    # exact denoisers
    "MoLRGDenoiser", "GMMDenoiser", "EmpiricalDenoiser",
    "molrg_denoise", "molrg_score", "molrg_log_density", "molrg_responsibilities",
    "gmm_denoise", "gmm_score", "gmm_log_density", "gmm_responsibilities",
    "empirical_denoise", "score_from_denoised",
    # networks
    "LowRankMixtureDenoiser", "Preconditioned", "MLPDenoiser", "orthonormalize",
    "tangent_projection",
    "UNetDenoiser",
    # training
    "dsm_loss", "dsm_loss_estimate", "loss_weights", "train_denoiser", "TrainResult",
    "RiemannianSGD", "NonFiniteLossError", "save_checkpoint", "load_checkpoint",
    # sampling
    "sample_ddpm", "sample_ddim", "sample_euler", "sample_heun", "sample", "SAMPLERS",
    # sample quality
    "off_subspace_energy", "component_frequencies", "latent_covariance_error", "sample_quality",
    "wasserstein1", "sliced_wasserstein1", "nearest_neighbour_distances", "copy_statistics",
    # denoisers built from a fitted clustering
    "MixtureEstimate", "estimate_mixture", "mixture_from_clustering", "SubspaceKDEDenoiser",
]
