"""Subspace clustering by training the paper's diffusion denoiser.

:class:`DiffusionSubspaceClustering` fits :class:`LowRankMixtureDenoiser` to
the data by denoising score matching and reads the clusters off the trained
network: the bases are its parameters ``U_k`` and the label of a point is the
component with the largest posterior weight at low noise. Wang et al.
(arXiv:2409.02426) show that this training problem is K-subspaces, so the
result should match :class:`subclust.KSubspaces` (see
:func:`subclust.bridge.equivalence_report`).
"""

import math
import numbers

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions

from subclust.utils.parallel import torch_threads
from subclust.utils.validation import check_dims, check_is_fitted, fit_context, validate_data
from subclust.cluster._k_subspaces import _init_nn, _init_random, _row_norms_sq
from subclust.cluster._nearest_subspace import NearestSubspaceMixin, warn_zero_samples
from subclust.cluster._row_source import as_row_source
from subclust.diffusion.networks import LowRankMixtureDenoiser, orthonormalize, tangent_projection
from subclust.diffusion.schedules import UniformTime, VPLinear
from subclust.diffusion.training import NonFiniteLossError, _BatchStream

__all__ = [
    "DiffusionSubspaceClustering",
    "CLUSTERING_NOISE_LEVELS",
    "fit_low_rank_mixtures",
    "fit_low_rank_mixtures_ragged",
]


#: The training noise levels: times of the VP-linear schedule uniform on
#: ``[0.001, 0.02]`` (``sigma < 0.08``). Every noise level has the same optimum
#: for one component, and the soft-max weights approach the hard K-subspaces
#: assignment as the noise falls; low levels give the least noisy gradients.
CLUSTERING_NOISE_LEVELS = UniformTime(t_min=1e-3, t_max=0.02)


def _seed_generator(rng):
    return torch.Generator().manual_seed(int(rng.randint(np.iinfo(np.int32).max)))


class _StackedMixtures(nn.Module):
    """Low-rank mixture denoisers for ``T`` data sets x ``I`` initializations, at once.

    The paper's network (unit latent variances, no means, no noise: the
    parameterization of :class:`LowRankMixtureDenoiser` with its defaults)
    for ``T x I`` sets of bases stacked in one parameter ``W`` of shape
    ``(T, I, n, D)``, ``D = sum_k d_k``; run ``(j, i)`` is trained on data set
    ``j``. Restarts (and the trials of an experiment) then cost one batched
    GEMM per step instead of many small ones, which is what makes ``n_init``
    restarts and the phase-transition grid affordable. The runs share the
    minibatch positions and the noise draws (common random numbers) and
    nothing else: the loss is their sum, Adam is elementwise, and projection
    and retraction act per run, so each run follows its own training.
    :meth:`keep_runs_` drops runs (successive halving of the restarts).
    """

    def __init__(self, runs, dims, schedule, hard, dtype, device):
        super().__init__()
        W = torch.stack([
            torch.stack([torch.as_tensor(np.hstack(bases)) for bases in data_set_runs])
            for data_set_runs in runs
        ])
        self.W = nn.Parameter(W.to(dtype=dtype, device=device))
        self.dims, self.schedule, self.hard = list(dims), schedule, hard
        component = torch.repeat_interleave(torch.arange(len(dims)), torch.as_tensor(dims))
        self.register_buffer("M", nn.functional.one_hot(component).to(dtype).to(device))
        self.register_buffer("d", torch.as_tensor(dims, dtype=dtype, device=device))
        self.retract_()

    def _blocks(self):
        stops = np.cumsum(self.dims)
        return [slice(int(b - d), int(b)) for b, d in zip(stops, self.dims)]

    def logits(self, x_t, s, g):
        """Posterior logits ``(T, I, B, K)`` of ``x_t`` of shape ``(T, B, n)``.

        ``-(d_k / 2) log((s^2 + g^2) / g^2) + s^2 ||U_k^T x_t||^2 / (2 g^2 (s^2 + g^2))``,
        with ``s, g`` of shape ``(B, 1)``; also returns ``P = U^T x_t`` stacked.
        """
        P = x_t[:, None] @ self.W
        return self._logits_from_projections(P, s, g), P

    def _logits_from_projections(self, P, s, g):
        v = s**2 + g**2
        return -0.5 * self.d * torch.log(v / g**2) + 0.5 * s**2 / (g**2 * v) * ((P * P) @ self.M)

    def _weights(self, logits, dtype):
        if self.hard:
            return nn.functional.one_hot(logits.argmax(-1), len(self.dims)).to(dtype)
        return torch.softmax(logits, dim=-1)

    def forward(self, x_t, s, g):
        """Denoised estimates ``(T, I, B, n)``: ``sum_k w_k c_t U_k U_k^T x_t``."""
        logits, P = self.logits(x_t, s, g)
        w = self._weights(logits, P.dtype)
        c = s / (s**2 + g**2)
        return (w @ self.M.T * c * P) @ self.W.transpose(-1, -2)

    def _project(self, x):
        """``U^T x`` of every run, ``(T, I, B, D)``, for ``x`` of shape ``(T, B, n)`` or ``(B, n)``.

        One GEMM per data set against the bases of all its runs side by side:
        broadcasting ``x[:, None] @ W`` would copy ``x`` once per run, and the
        copies cost more than the products for these small problems.
        """
        T, I, n, D = self.W.shape
        flat = (x @ self.W.transpose(1, 2).reshape(T, n, I * D)).view(T, -1, I, D)
        # Contiguous: strided operands would slow every elementwise op that follows.
        return flat.transpose(1, 2).contiguous()

    def losses(self, x0, t, eps, weights=None):
        """Denoising score matching loss (uniform weighting) of each run, shape ``(T, I)``.

        ``x0`` of shape ``(T, B, n)`` holds the sample of each of the ``B``
        slots of every data set, ``t`` and ``eps`` (shapes ``(B,)``, ``(B, n)``)
        their noise levels and noise, shared by all data sets. ``weights`` of
        shape ``(T, B)``, each row summing to one, weight the slots (default:
        the mean over the slots).

        Computed in the ``D``-dimensional coordinates of the bases rather than
        in ``R^n``: with ``Q = U^T x_0``, ``E = U^T eps``, ``P = U^T x_t = s Q + g E``
        and the denoiser's output ``x0_hat = W a``,
        ``||W a - x_0||^2 = a^T (W^T W) a - 2 Q . a + ||x_0||^2``.
        This is the same loss as ``||forward(x_t) - x_0||^2 / n``, without
        forming ``n``-dimensional outputs for every run.
        """
        s, g = (v.to(x0.dtype)[:, None] for v in self.schedule.s_and_g(t))
        Q, E = self._project(x0), self._project(eps)
        P = s * Q + g * E
        a = self._weights(self._logits_from_projections(P, s, g), P.dtype)
        a = a @ self.M.T * (s / (s**2 + g**2)) * P
        gram = self.W.transpose(-1, -2) @ self.W
        squared = ((a @ gram) * a).sum(-1) - 2 * (Q * a).sum(-1) + (x0 * x0).sum(-1)[:, None]
        if weights is None:
            return squared.mean(dim=-1) / x0.shape[-1]
        return (squared * weights[:, None]).sum(dim=-1) / x0.shape[-1]

    @torch.no_grad()
    def project_gradients_(self):
        for block in self._blocks():
            self.W.grad[..., block] = tangent_projection(self.W[..., block], self.W.grad[..., block])

    @torch.no_grad()
    def retract_(self):
        for block in self._blocks():
            self.W[..., block] = orthonormalize(self.W[..., block])

    @torch.no_grad()
    def keep_runs_(self, order):
        """Keep the runs ``order[j]`` of each data set ``j`` (``order``: a ``(T, I')`` index)."""
        self.W = nn.Parameter(self.W.gather(1, _run_index(order, self.W)))

    def bases(self, data_set, run):
        return [self.W[data_set, run, :, block].detach().cpu().numpy() for block in self._blocks()]


def _run_index(order, tensor):
    """``order`` of shape ``(T, I')`` expanded to gather along dimension 1 of ``tensor``."""
    return order.reshape(order.shape + (1,) * (tensor.ndim - 2)).expand(
        order.shape + tensor.shape[2:]
    )


class _Minibatches:
    """The same rows of every data set (all of one size), from a stream of permutations."""

    def __init__(self, x0, batch_size, generator):
        self.x0, self.batch_size = x0, batch_size
        self.stream = _BatchStream(x0.shape[1], generator)

    def __call__(self, step):
        return self.x0[:, self.stream.next(self.batch_size).to(self.x0.device)], None

    def evaluation(self):
        return self.x0, None


class _AllSamples:
    """Every sample of every data set at every step, for data sets of any sizes.

    Each step has ``slots`` positions per data set, at least as many as the
    largest data set has samples. Data set ``j`` fills them with its
    ``N_j`` samples in turn, starting where the previous step stopped, and
    weighs each slot by ``1 / (N_j * copies of its sample in the step)``: every
    sample counts ``1 / N_j`` at every step whatever its number of noise
    draws, so the loss of each data set is its own, unbiased, and data sets
    of different sizes share one network. With every sample at every step
    the noise draws are the only source of gradient variance, which is what
    limits how closely training settles on the optimum; a small data set
    gets several draws per sample.
    """

    def __init__(self, data_sets, slots, dtype, device):
        sizes = [len(X) for X in data_sets]
        self.slots, largest = max(slots, max(sizes)), max(sizes)
        self.x = torch.zeros((len(data_sets), largest, data_sets[0].shape[1]), dtype=dtype)
        for j, X in enumerate(data_sets):
            self.x[j, : len(X)] = torch.as_tensor(np.asarray(X), dtype=dtype)
        self.x = self.x.to(device)
        self.sizes = torch.as_tensor(sizes)[:, None]

    def __call__(self, step):
        index = (step * self.slots + torch.arange(self.slots)) % self.sizes
        copies = torch.zeros(self.x.shape[:2]).scatter_add_(1, index, torch.ones(index.shape))
        weights = 1.0 / (copies.gather(1, index) * self.sizes)
        x0 = self.x.gather(1, index[..., None].expand(-1, -1, self.x.shape[2]).to(self.x.device))
        return x0, weights.to(dtype=self.x.dtype, device=self.x.device)

    def evaluation(self):
        return self(0)


def _check_prune(prune, steps, n_runs):
    """``prune`` as a dict ``{step: n_keep}``, with a clear error for a schedule that cannot run."""
    prune = [(int(step), int(n_keep)) for step, n_keep in prune]
    previous_step, previous_keep = 0, n_runs
    for step, n_keep in prune:
        if not previous_step < step < steps:
            raise ValueError(
                f"prune steps must increase strictly within (0, steps={steps}), got {prune}."
            )
        if not 1 <= n_keep <= previous_keep:
            raise ValueError(
                f"prune must keep between 1 and the runs left ({previous_keep}), got {prune}."
            )
        previous_step, previous_keep = step, n_keep
    return dict(prune)


def _keep_runs(model, optimizer, history, n_keep, window=10):
    """Successive halving: keep the ``n_keep`` runs of each data set with the lowest recent loss.

    The runs of a data set see the same samples and noise, so their mean
    losses over the last ``window`` steps compare them fairly. The kept runs
    go on with their Adam state; returns the new optimizer and history.
    """
    order = torch.stack(history[-window:]).mean(dim=0).argsort(dim=1)[:, :n_keep]
    state = optimizer.state[model.W]
    model.keep_runs_(order)
    kept = torch.optim.Adam([model.W], lr=optimizer.param_groups[0]["lr"])
    kept.state[model.W] = {
        "step": state["step"],
        **{key: state[key].gather(1, _run_index(order, state[key]))
           for key in ("exp_avg", "exp_avg_sq")},
    }
    return kept, [losses.gather(1, order) for losses in history]


def _train_stacked(model, batches, steps, lr, generator, prune=None, verbose=0):
    """Adam on the Stiefel manifold with a cosine decay; returns the losses ``(steps, T, I)``.

    ``batches(step)`` gives the samples ``(T, B, n)`` of the step and their
    weights (or None); ``prune`` maps a step to the number of runs per data
    set kept from then on (:func:`_keep_runs`); the returned losses are those
    of the runs kept at the end.
    """
    prune = prune or {}
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = []
    for step in tqdm(range(steps), disable=not verbose, desc="training"):
        if step in prune:
            optimizer, history = _keep_runs(model, optimizer, history, prune[step])
        for group in optimizer.param_groups:
            group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / steps))
        x0, weights = batches(step)
        t = CLUSTERING_NOISE_LEVELS.sample_times(model.schedule, x0.shape[1], generator)
        t = t.to(x0.device)
        eps = torch.randn(x0.shape[1:], generator=generator, dtype=x0.dtype).to(x0.device)
        losses = model.losses(x0, t, eps, weights)
        if not bool(torch.isfinite(losses).all()):
            raise NonFiniteLossError(
                f"The training loss became non-finite at step {step}; lower lr={lr} or "
                "check X for huge values."
            )
        optimizer.zero_grad(set_to_none=True)
        losses.sum().backward()
        model.project_gradients_()
        optimizer.step()
        model.retract_()
        history.append(losses.detach())
    return torch.stack(history).cpu().to(torch.float64).numpy()


def _evaluation_losses(model, x0, weights=None, n_draws=64, seed=0):
    """Loss ``(T, I)`` over ``n_draws`` fixed (t, eps) draws per sample: common random numbers."""
    generator = torch.Generator().manual_seed(seed)
    total = torch.zeros(model.W.shape[:2], dtype=torch.float64)
    with torch.no_grad():
        for _ in range(n_draws):
            t = CLUSTERING_NOISE_LEVELS.sample_times(model.schedule, x0.shape[1], generator)
            t = t.to(x0.device)
            eps = torch.randn(x0.shape[1:], generator=generator, dtype=x0.dtype).to(x0.device)
            total += model.losses(x0, t, eps, weights).cpu().to(torch.float64)
    return (total / n_draws).numpy()


def _as_tensor(data, device):
    """A tensor of ``data``, copied when the array is read-only (torch needs writable memory)."""
    data = np.asarray(data)
    return torch.as_tensor(data if data.flags.writeable else data.copy(), device=device)


def _best_runs(losses):
    """Per data set, the run of lowest loss; runs equal up to rounding keep the earlier one."""
    return [int(np.flatnonzero(row <= row.min() * (1 + 1e-9))[0]) for row in losses]


def _labels(model, x0, t):
    """Argmax ``(T, N)`` of the posterior weights at time ``t`` for the noise-free input ``s_t x``."""
    s, g = (v.to(x0.dtype) for v in model.schedule.s_and_g(torch.tensor([t], dtype=torch.float64)))
    with torch.no_grad():
        logits, _ = model.logits(s * x0, s, g)
    return logits[:, 0].argmax(dim=-1).cpu().numpy()


def fit_low_rank_mixtures(
    data_sets, dims, initial_bases, *, weighting="soft", steps=300, batch_size=256, lr=0.01,
    schedule=None, label_time=None, generator=None, device="cpu", verbose=0,
):
    """Train the low-rank mixture denoiser on several data sets of one shape at once.

    The core of :class:`DiffusionSubspaceClustering` (which calls it with one
    data set); experiments that repeat a fit over many trials of the same
    shape call it once for all of them.

    Parameters
    ----------
    data_sets : array-like of shape (T, N, n_features)
    dims : sequence of int
        Dimension of each component.
    initial_bases : list (length T) of lists (length I) of lists of bases
        ``I`` initializations per data set.
    weighting, steps, batch_size, lr, schedule, label_time, device, verbose
        See :class:`DiffusionSubspaceClustering`.
    generator : torch.Generator
        Minibatches, noise levels and noise.

    Returns
    -------
    bases : list (length T) of lists of ndarray of shape (n_features, d_k)
        The bases of the best run of each data set (lowest evaluation loss).
    losses : ndarray of shape (T,)
        Their evaluation losses.
    histories : ndarray of shape (steps, T)
        Their minibatch losses.
    labels : ndarray of shape (T, N)

    Examples
    --------
    One data set (``T = 1``) of two lines in ``R^10``, two random
    initializations (``I = 2``) of two bases each:

    >>> import numpy as np
    >>> import torch
    >>> from subclust.datasets import make_molrg
    >>> from subclust.metrics import clustering_accuracy
    >>> X, y, _ = make_molrg(n_samples=[30, 30], n_features=10, dims=1, random_state=0)
    >>> rng = np.random.default_rng(0)
    >>> runs = [[[np.linalg.qr(rng.standard_normal((10, 1)))[0] for _ in range(2)]
    ...          for _ in range(2)]]
    >>> bases, losses, histories, labels = fit_low_rank_mixtures(
    ...     X[None], [1, 1], runs, steps=30, batch_size=60, lr=0.1,
    ...     generator=torch.Generator().manual_seed(0))
    >>> [B.shape for B in bases[0]], losses.shape, histories.shape, labels.shape
    ([(10, 1), (10, 1)], (1,), (30, 1), (1, 60))
    >>> clustering_accuracy(y, labels[0])
    1.0
    """
    schedule = VPLinear() if schedule is None else schedule
    x0 = _as_tensor(data_sets, device)
    model = _StackedMixtures(initial_bases, dims, schedule, weighting == "hard", x0.dtype, device)
    # Batches larger than a small data set repeat its points with fresh noise:
    # averaging more noise draws is what lets SGD settle on the optimum.
    batches = _Minibatches(x0, batch_size, generator)
    history = _train_stacked(model, batches, steps, lr, generator, verbose=verbose)
    losses = _evaluation_losses(model, x0)
    best = _best_runs(losses)
    bases = [model.bases(j, i) for j, i in enumerate(best)]
    chosen = _StackedMixtures([[b] for b in bases], dims, schedule, False, x0.dtype, device)
    if label_time is None:
        label_time = CLUSTERING_NOISE_LEVELS.t_min
    labels = _labels(chosen, x0, label_time)
    rows = np.arange(len(best))
    return bases, losses[rows, best], history[:, rows, best], labels


def fit_low_rank_mixtures_ragged(
    data_sets, dims, initial_bases, *, weighting="soft", steps=200, lr=0.2, prune=None,
    slots=32, schedule=None, dtype=torch.float32, generator=None, device="cpu", verbose=0,
):
    """Train the low-rank mixture denoiser on several data sets of any sizes at once.

    The same network and loss as :func:`fit_low_rank_mixtures`, trained
    differently: every step uses every sample of every data set
    (:class:`_AllSamples`: ``slots`` noise draws per data set, at least one
    per sample), so data sets of different sizes share one batched network,
    and the restarts can be pruned by successive halving. Experiments that
    sweep the number of samples (:func:`subclust.experiments.phase_transition`)
    train a whole range of sizes in one call.

    Parameters
    ----------
    data_sets : sequence of array-like of shape (N_j, n_features)
    dims : sequence of int
        Dimension of each component.
    initial_bases : list (length T) of lists (length I) of lists of bases
        ``I`` initializations per data set.
    weighting, schedule, device, verbose
        See :class:`DiffusionSubspaceClustering`.
    steps : int, default=200
    lr : float, default=0.2
        Initial learning rate of Adam, decayed to zero by a cosine.
    prune : dict of int to int, optional
        ``{step: n_keep}``: at that step keep the ``n_keep`` runs of each data
        set with the lowest loss over the last 10 steps.
    slots : int, default=32
        Noise draws per data set and step (raised to the largest data set).
    dtype : torch.dtype, default=torch.float32
    generator : torch.Generator
        Noise levels and noise.

    Returns
    -------
    bases : list (length T) of lists of ndarray of shape (n_features, d_k)
        The bases of the best run of each data set (lowest evaluation loss).
    losses : ndarray of shape (T,)
        Their evaluation losses.

    Examples
    --------
    Two data sets of 10 and 40 samples on two lines in ``R^10``, two random
    initializations each, the worse one dropped after 10 steps:

    >>> import numpy as np
    >>> import torch
    >>> from subclust.datasets import make_molrg
    >>> from subclust.metrics import subspace_recovery_error
    >>> draws = [make_molrg(n_samples=[n, n], n_features=10, dims=1, random_state=n)
    ...          for n in (5, 20)]
    >>> rng = np.random.default_rng(0)
    >>> runs = [[[np.linalg.qr(rng.standard_normal((10, 1)))[0] for _ in range(2)]
    ...          for _ in range(2)] for _ in draws]
    >>> bases, losses = fit_low_rank_mixtures_ragged(
    ...     [X for X, _, _ in draws], [1, 1], runs, steps=30, prune={10: 1},
    ...     generator=torch.Generator().manual_seed(0))
    >>> len(bases), losses.shape
    (2, (2,))
    >>> [bool(subspace_recovery_error(b, truth) < 0.1) for b, (_, _, truth) in zip(bases, draws)]
    [True, True]
    """
    schedule = VPLinear() if schedule is None else schedule
    batches = _AllSamples(data_sets, slots, dtype, device)
    model = _StackedMixtures(initial_bases, dims, schedule, weighting == "hard", dtype, device)
    _train_stacked(model, batches, steps, lr, generator, prune, verbose)
    losses = _evaluation_losses(model, *batches.evaluation())
    best = _best_runs(losses)
    bases = [[B.astype(np.float64) for B in model.bases(j, i)] for j, i in enumerate(best)]
    return bases, losses[np.arange(len(best)), best]


class DiffusionSubspaceClustering(NearestSubspaceMixin, ClusterMixin, BaseEstimator):
    """Subspace clustering by training a low-rank mixture diffusion denoiser.

    The network is the MoLRG posterior mean with learnable orthonormal bases
    (Wang et al., arXiv:2409.02426),

        x_theta(x_t, t) = sum_k w_k(x_t) c_t U_k U_k^T x_t,   c_t = s_t / (s_t^2 + g_t^2),

    trained by denoising score matching,
    ``min E_t E_{i, eps} ||x_theta(s_t x_i + g_t eps, t) - x_i||^2``, with Adam
    on the Stiefel manifold (tangent projection, then QR retraction) and a
    cosine learning-rate decay. For one component the optimum is PCA, for
    several it is the K-subspaces objective.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of components ``K``.
    dims : int or list of int, default=1
        Dimension of each subspace.
    weighting : {'soft', 'hard'}, default='soft'
        Soft-max posterior weights (the paper's network) or hard-max.
    init : {'nn', 'random'} or list of ndarray, default='nn'
        Initial bases: the nearest-neighbour seeding of :class:`KSubspaces`
        (a point and its ``d - 1`` nearest neighbours by absolute cosine,
        seeds drawn k-means++-style), uniformly random subspaces, or given bases.
    n_init : int, default=10
        Trainings from different initial bases, run at once as one batched
        network; the one with the lowest training loss (:meth:`training_loss`)
        is kept.
    steps : int, default=300
        Optimizer steps per training.
    batch_size : int, default=256
        Samples per step; a smaller data set is repeated with fresh noise.
    lr : float, default=0.01
        Initial learning rate of Adam, decayed to zero by a cosine.
    schedule : Schedule, optional
        Forward process of the network, default :class:`VPLinear`; training
        draws its times from :data:`CLUSTERING_NOISE_LEVELS` (low noise levels).
    label_time : float, optional
        Time at which labels are read from the posterior weights; default
        the smallest training time.
    n_threads : int or None, default=1
        PyTorch intra-op threads while fitting (restored afterwards), never
        more than the caller allows (``threadpoolctl`` limits, cores); None
        uses all of those. One is fastest for networks this small: more
        threads spend their time synchronizing, worst on a busy machine.
    device : str or torch.device, default='cpu'
    verbose : int, default=0
        Show a progress bar per training.
    random_state : int, RandomState instance or None, default=None

    Attributes
    ----------
    bases_ : list of ndarray of shape (n_features, d_k)
        The trained orthonormal bases.
    labels_ : ndarray of shape (n_samples,)
        Component with the largest posterior weight at low noise.
    loss_history_ : ndarray of shape (n_epochs,)
        Mean training loss of each epoch (pass over the data) of the kept run.
    training_loss_ : float
        :meth:`training_loss` of the kept run on the training data.
    n_features_in_ : int

    Notes
    -----
    ``transform`` and ``score`` measure samples against the trained
    subspaces as :class:`subclust.KSubspaces` does (distances to each
    subspace; the opposite of the K-subspaces objective, which training the
    hard-max network optimizes). ``predict`` reads the posterior weights at
    ``label_time``; at the default, the lowest noise level, and with subspaces
    of equal dimension it is the nearest subspace, ``transform(X).argmin(1)``
    (unequal dimensions add a small ``d_k`` penalty to the weights).
    An all-zero sample lies on every subspace: ``fit`` leaves it out of the
    training, labels it 0 (as ``predict`` does) and warns, naming its rows;
    the rule of every subclust estimator.

    Examples
    --------
    >>> from subclust.datasets import make_molrg
    >>> from subclust.diffusion import DiffusionSubspaceClustering
    >>> from subclust.metrics import clustering_accuracy
    >>> X, y, bases = make_molrg(n_samples=[40, 40], n_features=12, dims=2, random_state=0)
    >>> model = DiffusionSubspaceClustering(2, dims=2, random_state=0).fit(X)
    >>> clustering_accuracy(y, model.labels_)
    1.0
    """

    _parameter_constraints = {
        "n_clusters": [Interval(numbers.Integral, 1, None, closed="left")],
        "dims": [Interval(numbers.Integral, 1, None, closed="left"), "array-like"],
        "weighting": [StrOptions({"soft", "hard"})],
        "init": [StrOptions({"nn", "random"}), list, tuple],
        "n_init": [Interval(numbers.Integral, 1, None, closed="left")],
        "steps": [Interval(numbers.Integral, 1, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "lr": [Interval(numbers.Real, 0, None, closed="neither")],
        "schedule": [None, object],
        "label_time": [None, Interval(numbers.Real, 0, None, closed="neither")],
        "n_threads": [None, Interval(numbers.Integral, 1, None, closed="left")],
        "device": [str, object],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        n_clusters=8,
        *,
        dims=1,
        weighting="soft",
        init="nn",
        n_init=10,
        steps=300,
        batch_size=256,
        lr=0.01,
        schedule=None,
        label_time=None,
        n_threads=1,
        device="cpu",
        verbose=0,
        random_state=None,
    ):
        self.n_clusters = n_clusters
        self.dims = dims
        self.weighting = weighting
        self.init = init
        self.n_init = n_init
        self.steps = steps
        self.batch_size = batch_size
        self.lr = lr
        self.schedule = schedule
        self.label_time = label_time
        self.n_threads = n_threads
        self.device = device
        self.verbose = verbose
        self.random_state = random_state

    def _schedule(self):
        return VPLinear() if self.schedule is None else self.schedule

    def make_denoiser(self, bases=None, dtype=torch.float64):
        """The low-rank mixture denoiser with the fitted bases (or ``bases``).

        Parameters
        ----------
        bases : list of array-like of shape (n_features, d_k), optional
            Plug other bases into the same network, e.g. those of K-subspaces.
        dtype : torch.dtype, default=torch.float64

        Returns
        -------
        denoiser : LowRankMixtureDenoiser
        """
        bases = self.bases_ if bases is None else bases
        return LowRankMixtureDenoiser(
            bases[0].shape[0], len(bases), [B.shape[1] for B in bases],
            schedule=self._schedule(), weighting=self.weighting, init_bases=bases,
            dtype=dtype, device=self.device,
        )

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train the denoiser on ``X`` and read off bases and labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        self : DiffusionSubspaceClustering
        """
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        zero = warn_zero_samples(np.einsum("ij,ij->i", X, X) == 0)
        if zero.size:
            X_all, X = X, np.delete(X, zero, axis=0)
        if X.shape[0] < self.n_clusters:
            raise ValueError(
                f"n_samples={X.shape[0]} should be >= n_clusters={self.n_clusters}: "
                "each cluster needs at least one sample (all-zero samples do not count)."
            )
        dims = check_dims(self.dims, self.n_clusters, X.shape[1])
        rng = check_random_state(self.random_state)
        runs = [self._initial_bases(X, dims, rng) for _ in range(self._n_runs())]
        with torch_threads(self.n_threads):
            bases, losses, histories, labels = fit_low_rank_mixtures(
                X[None], dims, [runs], weighting=self.weighting, steps=self.steps,
                batch_size=self.batch_size, lr=self.lr, schedule=self._schedule(),
                label_time=self.label_time, generator=_seed_generator(rng), device=self.device,
                verbose=self.verbose,
            )
        self.bases_ = [B.astype(X.dtype) for B in bases[0]]
        self.training_loss_ = float(losses[0])
        self.loss_history_ = _epoch_means(histories[:, 0], max(X.shape[0] // self.batch_size, 1))
        self.labels_ = labels[0]
        if zero.size:
            self.labels_ = np.zeros(X_all.shape[0], dtype=self.labels_.dtype)
            self.labels_[np.setdiff1d(np.arange(X_all.shape[0]), zero)] = labels[0]
        self._n_features_out = self.n_clusters
        return self

    def fit_bases_many(self, data_sets, random_states):
        """Bases fitted to each of several data sets of one shape, trained at once.

        Equivalent to ``[clone(self).set_params(random_state=r).fit(X).bases_ ...]``
        up to the shared minibatch and noise draws, at the cost of about one
        fit: the experiments use it to repeat a fit over many trials.

        Parameters
        ----------
        data_sets : sequence of ndarray of shape (N, n_features)
        random_states : sequence of int
            Seed of the initialization of each data set (the first also
            seeds the shared draws).

        Returns
        -------
        bases : list of lists of ndarray
        """
        data_sets, dims, runs, rngs = self._many_runs(data_sets, random_states)
        with torch_threads(self.n_threads):
            bases, *_ = fit_low_rank_mixtures(
                np.stack(data_sets), dims, runs, weighting=self.weighting, steps=self.steps,
                batch_size=self.batch_size, lr=self.lr, schedule=self._schedule(),
                label_time=self.label_time, generator=_seed_generator(rngs[0]),
                device=self.device,
            )
        return bases

    def fit_bases_ragged(self, data_sets, random_states, *, prune=None, slots=32,
                         dtype=torch.float32):
        """Bases fitted to each of several data sets of any sizes, trained at once.

        The training of :func:`fit_low_rank_mixtures_ragged`: every step uses
        every sample (``slots`` noise draws per data set and step) rather
        than minibatches of ``batch_size``, which lets data sets of different
        sizes share one network; ``n_init``, ``steps``, ``lr``, ``init``,
        ``weighting`` and ``schedule`` are the estimator's. The restarts can
        be pruned by successive halving (``prune``), so that many of them cost
        little more than a few.

        Parameters
        ----------
        data_sets : sequence of ndarray of shape (N_j, n_features)
        random_states : sequence of int
            Seed of the initialization of each data set (the first also
            seeds the shared noise draws).
        prune : sequence of (step, n_keep) pairs, optional
            After ``step`` steps keep the ``n_keep`` runs of each data set
            with the lowest loss over the last 10 steps; steps increasing
            within ``(0, steps)``, ``n_keep`` not increasing.
        slots : int, default=32
            Noise draws per data set and step, raised to the largest data set.
        dtype : torch.dtype, default=torch.float32

        Returns
        -------
        bases : list of lists of ndarray

        Examples
        --------
        >>> from subclust.datasets import make_molrg
        >>> from subclust.diffusion import DiffusionSubspaceClustering
        >>> from subclust.metrics import subspace_recovery_error
        >>> draws = [make_molrg(n_samples=[n, n], n_features=12, dims=2, random_state=n)
        ...          for n in (6, 20)]
        >>> model = DiffusionSubspaceClustering(2, dims=2, n_init=8, steps=200, lr=0.2)
        >>> fitted = model.fit_bases_ragged([X for X, _, _ in draws], [0, 1], prune=[(20, 2)])
        >>> [bool(subspace_recovery_error(b, truth) < 0.05)
        ...  for b, (_, _, truth) in zip(fitted, draws)]
        [True, True]
        """
        data_sets, dims, runs, rngs = self._many_runs(data_sets, random_states)
        prune = _check_prune(prune or (), self.steps, self._n_runs())
        with torch_threads(self.n_threads):
            bases, _ = fit_low_rank_mixtures_ragged(
                data_sets, dims, runs, weighting=self.weighting, steps=self.steps, lr=self.lr,
                prune=prune, slots=slots, schedule=self._schedule(), dtype=dtype,
                generator=_seed_generator(rngs[0]), device=self.device, verbose=self.verbose,
            )
        return bases

    def _many_runs(self, data_sets, random_states):
        """Validated data sets, dims, initial bases ``(T, I)`` and generators of a many-set fit."""
        data_sets = [validate_data(self, X, dtype=[np.float64, np.float32]) for X in data_sets]
        if len({X.shape[1] for X in data_sets}) > 1:
            raise ValueError("All data sets should have the same number of features.")
        if len(random_states) != len(data_sets):
            raise ValueError(
                f"Got {len(random_states)} random_states for {len(data_sets)} data sets; "
                "pass one per data set."
            )
        smallest = min(len(X) for X in data_sets)
        if smallest < self.n_clusters:
            raise ValueError(
                f"A data set has n_samples={smallest}, fewer than n_clusters={self.n_clusters}: "
                "each cluster needs at least one sample."
            )
        dims = check_dims(self.dims, self.n_clusters, data_sets[0].shape[1])
        rngs = [check_random_state(r) for r in random_states]
        runs = [[self._initial_bases(X, dims, rng) for _ in range(self._n_runs())]
                for X, rng in zip(data_sets, rngs)]
        return data_sets, dims, runs, rngs

    def _n_runs(self):
        return 1 if not isinstance(self.init, str) else self.n_init

    def _initial_bases(self, X, dims, rng):
        if not isinstance(self.init, str):
            if len(self.init) != len(dims):
                raise ValueError(f"init has {len(self.init)} bases for n_clusters={len(dims)}.")
            return [np.asarray(B, dtype=np.float64) for B in self.init]
        source = as_row_source(X)
        if self.init == "random":
            return _init_random(source, dims, False, rng)[0]
        return _init_nn(source, _row_norms_sq(source), dims, False, rng)[0]

    def _stacked(self, bases, X):
        """The stacked network of one data set and one run with ``bases``."""
        dims = [B.shape[1] for B in bases]
        hard = self.weighting == "hard"
        dtype = torch.float32 if X.dtype == np.float32 else torch.float64
        return _StackedMixtures([[bases]], dims, self._schedule(), hard, dtype, self.device)

    def training_loss(self, X, bases=None):
        """Denoising score matching loss of the network on ``X``.

        Evaluated over 64 fixed draws of noise levels and noise per sample
        (the same draws for every call, and those that chose among the
        restarts in ``fit``), so that two sets of bases, e.g. the trained ones
        and those of K-subspaces, are compared on equal terms.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        bases : list of array-like, optional
            Bases to plug into the network instead of the fitted ones.

        Returns
        -------
        loss : float
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        bases = self.bases_ if bases is None else [np.asarray(B) for B in bases]
        with torch_threads(self.n_threads):
            model = self._stacked(bases, X)
            return float(_evaluation_losses(model, _as_tensor(X[None], self.device))[0, 0])

    def predict(self, X):
        """Component with the largest posterior weight at ``label_time`` (low noise).

        With subspaces of equal dimension and the default ``label_time`` this
        is the nearest subspace, ``transform(X).argmin(axis=1)``. An all-zero
        sample gets label 0, as in ``fit``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        t = CLUSTERING_NOISE_LEVELS.t_min if self.label_time is None else self.label_time
        with torch_threads(self.n_threads):
            model = self._stacked(self.bases_, X)
            labels = _labels(model, _as_tensor(X[None], self.device), t)[0]
        labels[np.einsum("ij,ij->i", X, X) == 0] = 0
        return labels


def _epoch_means(losses, steps_per_epoch):
    n_epochs = max(len(losses) // steps_per_epoch, 1)
    return losses[: n_epochs * steps_per_epoch].reshape(n_epochs, -1).mean(axis=1)
