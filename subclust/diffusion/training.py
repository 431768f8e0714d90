"""Denoising score matching: the loss, the training loop, checkpoints, Riemannian SGD.

The loss is

    L(theta) = E_t lambda(t) E_{x_0, eps} || D_theta(s(t) x_0 + g(t) eps, t) - x_0 ||^2,

with ``t`` drawn from the *training noise levels* (an object with
``sample_times(schedule, n, generator)``: :class:`~subclust.diffusion.UniformTime`,
``t`` uniform on a range, or :class:`~subclust.diffusion.LogNormalSigma`, EDM's
``log sigma ~ N(-1.2, 1.2^2)``; Karras et al., NeurIPS 2022) and
``lambda(t)`` a *weighting*:

- 'uniform': ``lambda = 1`` (the paper's loss); 'snr':
  ``lambda = s^2 / g^2 = 1 / sigma^2``, which makes the loss the usual noise
  prediction loss ``||eps_hat - eps||^2``; 'edm': ``lambda = (sigma^2 +
  sigma_data^2) / (sigma sigma_data)^2``.

For the low-rank mixture network every choice has the same minimizer on
one component (PCA), since the per-``t`` minimizer does not depend on ``t``.
All randomness (times, noise, minibatches) comes from one explicit
``torch.Generator``, which checkpoints save, so a resumed run continues
exactly where it stopped.
"""

import math
import os
import time
from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np
import torch
from tqdm.auto import tqdm

from subclust.diffusion._utils import _append_dims, as_generator, as_tensor
from subclust.diffusion.networks import _orthonormalize, _tangent_projection
from subclust.diffusion.schedules import _SCHEDULES, Schedule, UniformTime, get_schedule
from subclust.io import write_atomic
from subclust.utils.validation import (
    TORCH_RANDOM_STATE,
    HasMethods,
    Interval,
    StrOptions,
    validate_params,
)

__all__ = [
    "loss_weights",
    "dsm_loss",
    "dsm_loss_estimate",
    "RiemannianSGD",
    "NonFiniteLossError",
    "TrainResult",
    "train_denoiser",
    "save_checkpoint",
    "load_checkpoint",
]

WEIGHTINGS = ("uniform", "snr", "edm")

#: A process given as a Schedule, its name, or None for the model's own (or VP-linear).
_SCHEDULE_CONSTRAINT = [Schedule, StrOptions(set(_SCHEDULES)), None]
#: Training noise levels: an object drawing times, such as UniformTime (the default, None).
_NOISE_LEVELS_CONSTRAINT = [HasMethods(["sample_times"]), None]


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite.

    Raised by :func:`train_denoiser`, which leaves the model at its last
    finite state; a :class:`FloatingPointError`.

    Examples
    --------
    >>> import torch
    >>> from subclust.diffusion import train_denoiser
    >>> class Broken(torch.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.w = torch.nn.Parameter(torch.zeros(()))
    ...     def forward(self, x_t, t):
    ...         return x_t * (self.w / self.w)  # 0 / 0
    >>> train_denoiser(Broken(), torch.ones(4, 2), steps=3, random_state=0, verbose=0)
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    subclust.diffusion.training.NonFiniteLossError: The training loss became nan at step 0. ...
    """


@validate_params(
    {
        "schedule": [HasMethods(["sigma"])],
        "t": [torch.Tensor, "array-like", Real],
        "weighting": [StrOptions(set(WEIGHTINGS))],
        "sigma_data": [Interval(Real, 0, None, closed="neither")],
    },
    prefer_skip_nested_validation=True,
)
def loss_weights(schedule, t, weighting="uniform", sigma_data=0.5):
    """The weights ``lambda(t)`` (float64, shape of ``t``; see the module docstring).

    Parameters
    ----------
    schedule : Schedule
    t : float or tensor
    weighting : {'uniform', 'snr', 'edm'}, default='uniform'
    sigma_data : float, default=0.5
        Data scale of the 'edm' weighting.

    Returns
    -------
    weights : tensor of float64 of the shape of ``t``

    Examples
    --------
    On the EDM schedule ``sigma = t``: 'snr' is ``1 / sigma^2``, and 'edm'
    is ``2 / sigma_data^2`` at ``sigma = sigma_data``.

    >>> import torch
    >>> from subclust.diffusion import EDM
    >>> t = torch.tensor([0.5, 2.0], dtype=torch.float64)
    >>> loss_weights(EDM(), t, "snr").tolist(), loss_weights(EDM(), t, "edm").tolist()
    ([4.0, 0.25], [8.0, 4.25])
    """
    if weighting == "uniform":
        return torch.ones_like(torch.as_tensor(t, dtype=torch.float64))
    sigma = schedule.sigma(t)
    if weighting == "snr":
        return sigma**-2
    return (sigma**2 + sigma_data**2) / (sigma * sigma_data) ** 2  # 'edm'


@validate_params(
    {
        "denoiser": [callable],
        "x0": [torch.Tensor],
        "schedule": _SCHEDULE_CONSTRAINT,
        "noise_levels": _NOISE_LEVELS_CONSTRAINT,
        "weighting": [StrOptions(set(WEIGHTINGS))],
        "random_state": TORCH_RANDOM_STATE,
        "sigma_data": [Interval(Real, 0, None, closed="neither")],
        "antithetic": ["boolean"],
        "sample_dim": [Interval(Integral, 0, None, closed="left")],
        "sample_weight": [torch.Tensor, "array-like", None],
    },
    prefer_skip_nested_validation=True,
)
def dsm_loss(
    denoiser, x0, schedule, noise_levels=None, weighting="uniform", random_state=None,
    sigma_data=0.5, antithetic=False, sample_dim=0, sample_weight=None,
):
    """Denoising score matching loss of one minibatch.

    ``mean_i lambda(t_i) * mean_j (D(s_i x0_i + g_i eps_i, t_i) - x0_i)_j^2``,
    so the value does not grow with the number of features. With
    ``antithetic=True`` every sample is used twice, with ``eps`` and ``-eps``
    at the same ``t``: the same expectation, and the part of the gradient
    noise that is odd in ``eps`` cancels.

    Dimensions of ``x0`` before ``sample_dim`` index data sets (the trials
    of an experiment), each with its own samples; the times and the noise
    are drawn per sample position and shared by the data sets (common random
    numbers). A batched denoiser (leading dimensions in its output, e.g. the
    restarts of :class:`LowRankMixtureDenoiser`) gets one loss per member.

    Parameters
    ----------
    denoiser : callable
        ``denoiser(x_t, t) -> x0_hat``.
    x0 : tensor of shape (*data_sets, batch, ...)
        Clean samples, ``batch`` along ``sample_dim``.
    schedule : Schedule
    noise_levels : UniformTime or LogNormalSigma, default=UniformTime()
        The distribution of the training times.
    weighting, sigma_data
        See :func:`loss_weights`.
    random_state : int, torch.Generator or None, default=None
        Source of the times and the noise: a seed, a generator drawn from
        (advanced by the call), or None for fresh OS entropy.
    antithetic : bool, default=False
    sample_dim : int, default=0
        The dimension of ``x0`` that indexes samples.
    sample_weight : tensor of shape (*data_sets, batch), optional
        Weights of the samples, summing to one over ``batch`` (default: the mean).

    Returns
    -------
    loss : tensor
        A scalar for one denoiser on one data set; else of the broadcast
        shape of the denoiser's batch and ``*data_sets``.

    Examples
    --------
    The denoiser that always answers 0 loses the mean square of the data,
    whatever the noise. The exact denoiser of the data's MoLRG (``d = 2``
    unit-variance directions in ``n = 6`` dimensions) loses
    ``(d / n) E_t[g(t)^2] = 0.24`` in expectation:

    >>> import torch
    >>> from subclust.datasets import make_molrg
    >>> from subclust.diffusion import MoLRGDenoiser, VPLinear
    >>> X, _, bases = make_molrg(n_samples=[200], n_features=6, dims=2, random_state=0)
    >>> X = torch.as_tensor(X)
    >>> gen = torch.Generator().manual_seed(0)
    >>> zero = dsm_loss(lambda x_t, t: torch.zeros_like(x_t), X, VPLinear(), random_state=gen)
    >>> bool(torch.isclose(zero, (X**2).mean()))
    True
    >>> loss = dsm_loss(MoLRGDenoiser(bases), X, VPLinear(), random_state=gen)
    >>> loss.shape, bool(abs(loss - 0.24) < 0.03)
    (torch.Size([]), True)

    Two data sets and three restarts of the low-rank mixture network, one
    loss each:

    >>> from subclust.diffusion import LowRankMixtureDenoiser
    >>> nets = LowRankMixtureDenoiser(6, dims=2, batch_shape=(2, 3), dtype=torch.float64,
    ...                               random_state=0)
    >>> pairs = torch.stack([X[:100], X[100:]])[:, None]  # (data sets, 1, samples, n)
    >>> dsm_loss(nets, pairs, VPLinear(), random_state=gen, sample_dim=2).shape
    torch.Size([2, 3])
    """
    if antithetic:
        x0 = torch.cat([x0, x0], dim=sample_dim)
        if sample_weight is not None:
            sample_weight = 0.5 * torch.cat([sample_weight, sample_weight], dim=-1)
    sample_shape = x0.shape[sample_dim:]
    batch = sample_shape[0] // 2 if antithetic else sample_shape[0]
    generator = as_generator(random_state)
    t = _check_noise_levels(noise_levels).sample_times(schedule, batch, generator).to(x0.device)
    eps = torch.randn((batch,) + sample_shape[1:], generator=generator, dtype=x0.dtype,
                      device=generator.device).to(x0.device)
    if antithetic:
        t, eps = torch.cat([t, t]), torch.cat([eps, -eps])
    s, g = (_append_dims(v.to(x0.dtype), len(sample_shape)) for v in schedule.s_and_g(t))
    x_t = s * x0 + g * eps
    x0_hat = denoiser(x_t, t.to(x0.dtype))
    errors = ((x0_hat - x0) ** 2).flatten(-(len(sample_shape) - 1)).mean(-1)
    errors = loss_weights(schedule, t, weighting, sigma_data).to(x0.dtype) * errors
    if sample_weight is None:
        return errors.mean(-1)
    return (errors * sample_weight).sum(-1)


@validate_params(
    {
        "denoiser": [callable],
        "X": [torch.Tensor, "array-like"],
        "schedule": _SCHEDULE_CONSTRAINT,
        "noise_levels": _NOISE_LEVELS_CONSTRAINT,
        "n_draws": [Interval(Integral, 1, None, closed="left")],
        "random_state": TORCH_RANDOM_STATE,
        "sample_dim": [Interval(Integral, 0, None, closed="left")],
        "sample_weight": [torch.Tensor, "array-like", None],
    },
    prefer_skip_nested_validation=True,
)
def dsm_loss_estimate(denoiser, X, schedule=None, *, noise_levels=None, n_draws=64, random_state=0,
                      sample_dim=0, sample_weight=None):
    """:func:`dsm_loss` of all samples, averaged over ``n_draws`` fixed draws of times and noise.

    With the same int ``random_state`` every call draws the same times and
    noise (common random numbers), so two denoisers, e.g. different
    restarts or the trained bases and those of K-subspaces, are compared on
    equal terms rather than through the noise of their draws.

    Parameters
    ----------
    denoiser : callable
        ``denoiser(x_t, t) -> x0_hat``.
    X : array-like or tensor of shape (*data_sets, N, ...)
    schedule : Schedule or str, optional
        Default: the denoiser's ``schedule``.
    noise_levels : UniformTime or LogNormalSigma, default=UniformTime()
        The distribution of the times (see :func:`dsm_loss`).
    n_draws : int, default=64
    random_state : int, torch.Generator or None, default=0
        Source of the draws: a seed (fixed by default, for the common random
        numbers), a generator drawn from, or None for fresh OS entropy.
    sample_dim, sample_weight
        See :func:`dsm_loss`.

    Returns
    -------
    loss : ndarray of float64
        The shape of :func:`dsm_loss`'s value.

    Examples
    --------
    >>> import torch
    >>> from subclust.datasets import make_molrg
    >>> from subclust.diffusion import LowRankMixtureDenoiser
    >>> X, _, bases = make_molrg(n_samples=[20, 20], n_features=8, dims=2, random_state=0)
    >>> X = torch.as_tensor(X)
    >>> truth = LowRankMixtureDenoiser(8, 2, 2, init_bases=bases, dtype=torch.float64)
    >>> other = LowRankMixtureDenoiser(8, 2, 2, random_state=0, dtype=torch.float64)
    >>> bool(dsm_loss_estimate(truth, X) < dsm_loss_estimate(other, X))
    True
    >>> float(dsm_loss_estimate(truth, X)) == float(dsm_loss_estimate(truth, X))
    True
    """
    schedule = get_schedule(
        schedule if schedule is not None else getattr(denoiser, "schedule", None)
    )
    X = as_tensor(X, name="X")
    generator = as_generator(random_state)
    with torch.no_grad():
        total = sum(
            dsm_loss(denoiser, X, schedule, noise_levels, random_state=generator,
                     sample_dim=sample_dim, sample_weight=sample_weight).cpu().to(torch.float64)
            for _ in range(n_draws)
        )
    return (total / n_draws).numpy()


def _check_noise_levels(noise_levels):
    """``noise_levels``, or :class:`UniformTime` for None."""
    return UniformTime() if noise_levels is None else noise_levels


class RiemannianSGD(torch.optim.Optimizer):
    """SGD on the Stiefel manifold for the parameter groups marked ``stiefel=True``.

    For a basis ``U`` (orthonormal columns) with Euclidean gradient ``G``, the
    Riemannian gradient is the tangent projection ``G - U sym(U^T G)``
    (``sym(A) = (A + A^T)/2``); the step follows it and the QR retraction maps
    the result back to the manifold. Momentum is carried over by projecting
    it onto the new tangent space. Other groups take plain SGD steps.

    Parameters
    ----------
    params : iterable of tensors or of dicts
        Parameter groups; a dict with ``stiefel=True`` holds ``(n, d)`` bases.
    lr : float
    momentum : float, default=0.0

    Examples
    --------
    >>> import torch
    >>> from subclust.diffusion import LowRankMixtureDenoiser, RiemannianSGD
    >>> net = LowRankMixtureDenoiser(6, dims=2, random_state=0)
    >>> opt = RiemannianSGD([{"params": net.stiefel_parameters(), "stiefel": True}], lr=0.1)
    """

    def __init__(self, params, lr=1e-2, momentum=0.0):
        if not lr > 0:
            raise ValueError(f"lr must be positive, got {lr}.")
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must lie in [0, 1), got {momentum}.")
        super().__init__(params, {"lr": lr, "momentum": momentum, "stiefel": False})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                direction = _tangent_projection(p, p.grad) if group["stiefel"] else p.grad
                if group["momentum"] > 0:
                    state = self.state[p]
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = direction.clone()
                    else:
                        if group["stiefel"]:
                            buf = _tangent_projection(p, buf)  # transport by projection
                        buf.mul_(group["momentum"]).add_(direction)
                    state["momentum_buffer"] = buf
                    direction = buf
                p.add_(direction, alpha=-group["lr"])
                if group["stiefel"]:
                    p.copy_(_orthonormalize(p))
        return loss


@dataclass
class TrainResult:
    """What :func:`train_denoiser` did.

    Attributes
    ----------
    losses : ndarray of shape (n_steps,)
        The minibatch loss of every step run (including the steps of a resumed
        run), summed over the members of a batched model.
    steps : int
        Total steps done.
    seconds : float
        Wall time of this call.
    samples_per_second : float
        Training samples processed per second in this call.

    See :func:`train_denoiser` for an example.
    """

    losses: np.ndarray = field(default_factory=lambda: np.empty(0))
    steps: int = 0
    seconds: float = 0.0
    samples_per_second: float = 0.0


class _BatchStream:
    """Minibatches as consecutive slices of a stream of random permutations of the rows.

    Every sample is seen equally often (up to one epoch), unlike sampling
    with replacement, whose random per-batch counts reweight small training
    sets and add gradient noise that no learning-rate decay removes quickly.
    The unread rest of the current permutation is the stream's whole state.
    """

    def __init__(self, n_rows, generator, queue=None):
        self.n_rows, self.generator = n_rows, generator
        self.queue = torch.empty(0, dtype=torch.long) if queue is None else queue

    def next(self, size):
        parts, needed = [], size
        while needed > 0:
            if self.queue.numel() == 0:
                self.queue = torch.randperm(
                    self.n_rows, generator=self.generator, device=self.generator.device
                ).cpu()
            take = self.queue[:needed]
            self.queue = self.queue[needed:]
            parts.append(take)
            needed -= take.numel()
        return torch.cat(parts)


def _make_optimizer(model, optimizer, lr, momentum):
    if isinstance(optimizer, torch.optim.Optimizer):
        return optimizer
    if optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=lr)
    if optimizer == "rsgd":
        stiefel = list(model.stiefel_parameters()) if hasattr(model, "stiefel_parameters") else []
        ids = {id(p) for p in stiefel}
        others = [p for p in model.parameters() if id(p) not in ids]
        groups = [{"params": stiefel, "stiefel": True}] if stiefel else []
        groups += [{"params": others}] if others else []
        return RiemannianSGD(groups, lr=lr, momentum=momentum)
    raise ValueError(
        f"optimizer must be 'adam', 'rsgd' or a torch.optim.Optimizer, got {optimizer!r}."
    )


def _make_lr_scheduler(optimizer, lr_schedule, steps):
    """The learning-rate factor per step: 1 ('constant') or a cosine from 1 to 0 at ``steps``."""
    if lr_schedule == "constant":
        factor = lambda step: 1.0  # noqa: E731
    elif lr_schedule == "cosine":
        factor = lambda step: 0.5 * (1 + math.cos(math.pi * min(step, steps) / steps))  # noqa: E731
    else:
        raise ValueError(f"lr_schedule must be 'constant' or 'cosine', got {lr_schedule!r}.")
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


@validate_params(
    {
        "path": [str, os.PathLike],
        "model": [torch.nn.Module],
        "optimizer": [torch.optim.Optimizer, None],
        "step": [Interval(Integral, 0, None, closed="left")],
        "generator": [torch.Generator, None],
        "losses": ["array-like", None],
        "queue": [torch.Tensor, None],
        "lr_scheduler": [HasMethods(["state_dict", "load_state_dict"]), None],
    },
    prefer_skip_nested_validation=True,
)
def save_checkpoint(path, model, optimizer=None, step=0, generator=None, losses=None, queue=None,
                    lr_scheduler=None):
    """Save the training state: state dicts and tensors, loadable with ``weights_only=True``.

    Written to a temporary file and renamed, so an interrupted save never
    leaves a truncated checkpoint.

    Parameters
    ----------
    path : str or path-like
    model : torch.nn.Module
    optimizer : torch.optim.Optimizer, optional
    step : int, default=0
        Steps done.
    generator : torch.Generator, optional
        Its state is saved, so that a resumed run draws what the run would have.
    losses : array-like, optional
        Loss history.
    queue : tensor of int, optional
        Rows of the current permutation not yet used (training's minibatch stream).
    lr_scheduler : torch.optim.lr_scheduler.LRScheduler, optional

    Examples
    --------
    See :func:`load_checkpoint`.
    """
    state = {
        "model": model.state_dict(),
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        "step": int(step),
        "generator": None if generator is None else generator.get_state(),
        "losses": torch.as_tensor(np.asarray([] if losses is None else losses, dtype=np.float64)),
        "batch_queue": torch.empty(0, dtype=torch.long) if queue is None else queue,
        "lr_scheduler": None if lr_scheduler is None else lr_scheduler.state_dict(),
    }
    write_atomic(path, lambda f: torch.save(state, f), force=True)


@validate_params(
    {
        "path": [str, os.PathLike],
        "model": [torch.nn.Module],
        "optimizer": [torch.optim.Optimizer, None],
        "generator": [torch.Generator, None],
        "map_location": [str, torch.device, dict, callable, None],
    },
    prefer_skip_nested_validation=True,
)
def load_checkpoint(path, model, optimizer=None, generator=None, map_location=None):
    """Restore a checkpoint of :func:`save_checkpoint` into ``model`` (optimizer, generator).

    Loads with ``torch.load(weights_only=True)``: only tensors and plain
    containers are read, never arbitrary pickled objects.

    Returns
    -------
    step : int
        Steps done when the checkpoint was written.
    losses : ndarray
        Loss history up to that step.

    Examples
    --------
    A network, its step, loss history and random stream, saved and restored:

    >>> import os, tempfile
    >>> import torch
    >>> from subclust.diffusion import LowRankMixtureDenoiser, save_checkpoint
    >>> net = LowRankMixtureDenoiser(6, dims=2, random_state=0)
    >>> gen = torch.Generator().manual_seed(0)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "net.pt")
    ...     save_checkpoint(path, net, step=3, generator=gen, losses=[0.5, 0.4, 0.3])
    ...     fresh, fresh_gen = LowRankMixtureDenoiser(6, dims=2, random_state=1), torch.Generator()
    ...     step, losses = load_checkpoint(path, fresh, generator=fresh_gen)
    >>> step, losses.tolist()
    (3, [0.5, 0.4, 0.3])
    >>> bool(torch.equal(fresh.bases[0], net.bases[0]))
    True
    >>> bool(torch.equal(fresh_gen.get_state(), gen.get_state()))
    True
    """
    step, losses, _ = _load(path, model, optimizer, generator, map_location)
    return step, losses


def _load(path, model, optimizer=None, generator=None, map_location=None, lr_scheduler=None):
    if not os.path.exists(path):
        raise FileNotFoundError(f"No checkpoint at {path!r}.")
    state = torch.load(path, map_location=map_location, weights_only=True)
    model.load_state_dict(state["model"])
    if optimizer is not None and state["optimizer"] is not None:
        optimizer.load_state_dict(state["optimizer"])
    if generator is not None and state["generator"] is not None:
        generator.set_state(state["generator"])
    if lr_scheduler is not None and state.get("lr_scheduler") is not None:
        lr_scheduler.load_state_dict(state["lr_scheduler"])
    return int(state["step"]), state["losses"].numpy(), state.get("batch_queue")


@validate_params(
    {
        "model": [torch.nn.Module],
        "X": [torch.Tensor, "array-like", callable],
        "steps": [Interval(Integral, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "optimizer": [StrOptions({"adam", "rsgd"}), torch.optim.Optimizer],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "lr_schedule": [StrOptions({"constant", "cosine"})],
        "noise_levels": _NOISE_LEVELS_CONSTRAINT,
        "weighting": [StrOptions(set(WEIGHTINGS))],
        "sigma_data": [Interval(Real, 0, None, closed="neither")],
        "antithetic": ["boolean"],
        "schedule": _SCHEDULE_CONSTRAINT,
        "random_state": TORCH_RANDOM_STATE,
        "callback": [callable, None],
        "verbose": ["verbose"],
        "checkpoint_path": [str, os.PathLike, None],
        "checkpoint_every": [Interval(Integral, 1, None, closed="left"), None],
        "resume": ["boolean"],
        "sample_dim": [Interval(Integral, 0, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def train_denoiser(
    model,
    X,
    steps=1000,
    batch_size=256,
    lr=1e-3,
    optimizer="adam",
    momentum=0.0,
    lr_schedule="constant",
    noise_levels=None,
    weighting="uniform",
    sigma_data=0.5,
    antithetic=False,
    schedule=None,
    random_state=None,
    callback=None,
    verbose=1,
    checkpoint_path=None,
    checkpoint_every=None,
    resume=False,
    sample_dim=0,
):
    """Train a denoiser ``model(x_t, t) -> x0_hat`` on samples ``X`` by denoising score matching.

    Every step takes the next minibatch of a stream of random permutations
    of the rows (every sample equally often), draws times and noise from
    ``random_state`` and takes one optimizer step on :func:`dsm_loss`. For
    models with orthonormal bases (:class:`LowRankMixtureDenoiser`) the
    gradients of the bases are first projected onto the tangent space
    (``project_gradients_``) and the bases retracted after the step (``retract_``).
    A batched model (several mixtures, one loss each) is trained on the sum
    of its losses, which trains each member as if alone.

    Parameters
    ----------
    model : torch.nn.Module
        A denoiser; its ``schedule`` attribute is used unless ``schedule`` is given.
    X : array-like or tensor of shape (*data_sets, N, ...), or callable
        Training samples along ``sample_dim`` (converted to the dtype of the
        model's parameters); the minibatches take the same positions in
        every data set. Or ``X(step) -> (x0, sample_weight)``, the samples
        of each step and their weights (None: uniform), for other
        schemes than minimatches of rows (``batch_size`` then unused).
    steps : int, default=1000
        Total optimizer steps (a resumed run continues up to this number).
    batch_size : int, default=256
    lr : float, default=1e-3
    optimizer : {'adam', 'rsgd'} or torch.optim.Optimizer, default='adam'
        Adam (on the Riemannian gradients of the bases, with QR retraction
        after each step), Riemannian SGD (:class:`RiemannianSGD`), or an
        optimizer over ``model.parameters()``.
    momentum : float, default=0.0
        Momentum of 'rsgd'.
    lr_schedule : {'constant', 'cosine'}, default='constant'
        'cosine' anneals the learning rate to zero at ``steps``.
    noise_levels : UniformTime or LogNormalSigma, default=UniformTime()
        The distribution of the training times (:mod:`~subclust.diffusion.schedules`).
    weighting : {'uniform', 'snr', 'edm'}, default='uniform'
    sigma_data : float, default=0.5
        Data scale of the 'edm' weighting.
    antithetic : bool, default=False
        Pair every noise draw with its negative (:func:`dsm_loss`); each step
        then uses ``batch_size // 2`` training samples twice.
    schedule : Schedule or str, optional
    random_state : int, torch.Generator or None, default=None
        The only source of randomness (times, noise, minibatches): a seed, a
        generator drawn from, or None for fresh OS entropy.
    callback : callable, optional
        Called after every step with a dict ``{'step', 'loss', 'model', 'optimizer'}``.
    verbose : int, default=1
        Show a tqdm progress bar (0: none).
    checkpoint_path : str, optional
        Where to save the training state every ``checkpoint_every`` steps and at the end.
    checkpoint_every : int, optional
        Default: only at the end.
    resume : bool, default=False
        Start from ``checkpoint_path`` if it exists (model, optimizer, step,
        generator state, loss history).
    sample_dim : int, default=0
        The dimension of ``X`` that indexes samples (see :func:`dsm_loss`).

    Returns
    -------
    result : TrainResult

    Raises
    ------
    NonFiniteLossError
        When a loss is NaN or infinite (the model is left at its last finite state).

    Notes
    -----
    The callback may change the model and the optimizer's state in place,
    e.g. drop restarts of a batched model that fall behind.

    Examples
    --------
    >>> from subclust.datasets import make_molrg
    >>> from subclust.diffusion import LowRankMixtureDenoiser, train_denoiser
    >>> X, _, _ = make_molrg(n_samples=[8], n_features=6, dims=2, random_state=0)
    >>> net = LowRankMixtureDenoiser(6, dims=2, random_state=0)
    >>> result = train_denoiser(net, X, steps=20, random_state=0, verbose=0)
    >>> result.steps, result.losses.shape, bool(result.seconds > 0)
    (20, (20,), True)
    """
    if resume and checkpoint_path is None:
        raise ValueError("resume=True needs checkpoint_path.")
    schedule = get_schedule(schedule if schedule is not None else getattr(model, "schedule", None))
    noise_levels = _check_noise_levels(noise_levels)
    generator = as_generator(random_state)
    if callable(X):
        stream, batches = None, X
    else:
        param = next(model.parameters(), None)
        X = as_tensor(
            X, dtype=None if param is None else param.dtype,
            device=None if param is None else param.device, name="X",
        )
        if X.ndim < sample_dim + 2 or X.shape[sample_dim] == 0:
            raise ValueError(
                f"X must hold at least one sample along dimension sample_dim={sample_dim} and "
                f"features after it, got shape {tuple(X.shape)}."
            )
        stream = _BatchStream(X.shape[sample_dim], generator)
        rows = max(batch_size // 2, 1) if antithetic else batch_size

        def batches(step):
            return X.index_select(sample_dim, stream.next(rows).to(X.device)), None

    opt = _make_optimizer(model, optimizer, lr, momentum)
    lr_scheduler = _make_lr_scheduler(opt, lr_schedule, max(steps, 1))
    project = getattr(model, "project_gradients_", None)
    retract = getattr(model, "retract_", None)

    step, losses, samples = 0, [], 0
    if resume and os.path.exists(checkpoint_path):
        step, previous, queue = _load(checkpoint_path, model, opt, generator,
                                      lr_scheduler=lr_scheduler)
        if stream is not None:
            stream.queue = queue
        losses = previous.tolist()
    start_step, start = step, time.perf_counter()
    model.train()
    with tqdm(total=steps, initial=min(step, steps), disable=verbose == 0, desc="training") as bar:
        while step < steps:
            x0, sample_weight = batches(step)
            loss = dsm_loss(
                model, x0, schedule, noise_levels, weighting, generator, sigma_data, antithetic,
                sample_dim, sample_weight,
            )
            if not bool(torch.isfinite(loss).all()):
                raise NonFiniteLossError(
                    f"The training loss became {float(loss.detach().sum())} at step {step}. "
                    f"Lower the learning rate (lr={lr}), check X for huge values, or raise the "
                    "lowest training noise level (denoisers are ill-conditioned at vanishing "
                    "noise)."
                )
            opt.zero_grad(set_to_none=True)
            loss.sum().backward()
            if project is not None:
                project()
            opt.step()
            lr_scheduler.step()
            if retract is not None:
                retract()
            step += 1
            samples += x0.shape[sample_dim] * (2 if antithetic else 1)
            losses.append(float(loss.detach().sum()))
            bar.update(1)
            if verbose and step % 50 == 0:
                bar.set_postfix(loss=f"{losses[-1]:.4g}")
            if checkpoint_path is not None and checkpoint_every and step % checkpoint_every == 0:
                _save(checkpoint_path, model, opt, step, generator, losses, stream, lr_scheduler)
            if callback is not None:
                callback({"step": step, "loss": losses[-1], "losses": loss.detach(),
                          "model": model, "optimizer": opt})
    if checkpoint_path is not None and step > start_step:
        _save(checkpoint_path, model, opt, step, generator, losses, stream, lr_scheduler)
    model.eval()
    seconds = time.perf_counter() - start
    return TrainResult(
        losses=np.asarray(losses), steps=step, seconds=seconds,
        samples_per_second=samples / seconds if seconds > 0 else float("nan"),
    )


def _save(path, model, optimizer, step, generator, losses, stream, lr_scheduler):
    queue = None if stream is None else stream.queue
    save_checkpoint(path, model, optimizer, step, generator, losses, queue, lr_scheduler)
