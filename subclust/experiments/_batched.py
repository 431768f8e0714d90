"""Many fits of the low-rank mixture denoiser at once: the trials of an experiment.

An experiment that repeats a fit over many data sets (the trials and sample
sizes of :func:`subclust.experiments.phase_transition`) trains all of them,
with all their restarts, as one :class:`~subclust.diffusion.LowRankMixtureDenoiser`
of batch shape ``(data sets, restarts)`` by
:func:`~subclust.diffusion.train_denoiser`: one batched GEMM per step instead
of many small ones. The members share the noise draws (common random
numbers) and nothing else: the loss is their sum, Adam is elementwise, and
the projection and retraction act per member, so each follows its own
training. Restarts that fall behind are dropped on the way (successive
halving), which makes many restarts cost little more than a few.
"""

import numpy as np
import torch

from subclust.diffusion import LowRankMixtureDenoiser, dsm_loss_estimate, train_denoiser
from subclust.diffusion import CLUSTERING_NOISE_LEVELS, VPLinear
from subclust.utils.parallel import torch_threads
from subclust.utils.validation import check_array

__all__ = []


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

    Calling it with a step gives the samples ``(T, 1, slots, n)`` (the
    singleton broadcasts over the restarts) and their weights ``(T, 1, slots)``.
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
        return x0[:, None], weights[:, None].to(dtype=self.x.dtype, device=self.x.device)


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


class _SuccessiveHalving:
    """A :func:`train_denoiser` callback that keeps the best restarts of each data set.

    After ``step`` steps (a key of ``prune``) it keeps the ``prune[step]``
    restarts with the lowest mean loss over the last ``window`` steps: the
    restarts of a data set see the same samples and noise, so these means
    compare them fairly. The kept restarts go on with their Adam state.
    """

    def __init__(self, prune, window=10):
        self.prune, self.window, self.history = prune, window, []

    def __call__(self, info):
        self.history.append(info["losses"])
        n_keep = self.prune.get(info["step"])
        if n_keep is None:
            return
        recent = torch.stack(self.history[-self.window:]).mean(dim=0)
        order = recent.argsort(dim=1)[:, :n_keep]
        model, optimizer = info["model"], info["optimizer"]
        for k, U in enumerate(list(model.U)):
            # A new, smaller parameter takes the place of the old one in the model
            # and in the optimizer, with the kept part of its Adam state.
            kept = torch.nn.Parameter(_take_runs(U.detach(), order))
            state = optimizer.state.pop(U)
            optimizer.state[kept] = {
                key: _take_runs(value, order) if key in ("exp_avg", "exp_avg_sq") else value
                for key, value in state.items()
            }
            for group in optimizer.param_groups:
                group["params"] = [kept if p is U else p for p in group["params"]]
            model.U[k] = kept
        self.history = [losses.gather(1, order) for losses in self.history]


def _take_runs(tensor, order):
    """The runs ``order[j]`` (``order``: ``(T, I')``) of each data set ``j`` of ``(T, I, ...)``."""
    index = order.reshape(order.shape + (1,) * (tensor.ndim - 2))
    return tensor.gather(1, index.expand(order.shape + tensor.shape[2:]).to(tensor.device))


def fit_mixtures(data_sets, initial_bases, *, steps=200, lr=0.2, prune=(), slots=32,
                 weighting="soft", schedule=None, dtype=torch.float32, device="cpu",
                 random_state=None, n_threads=1):
    """Bases of the low-rank mixture denoiser trained on each data set, all at once.

    The training of :class:`~subclust.diffusion.DiffusionSubspaceClustering`
    (Adam on the Stiefel manifold, cosine learning-rate decay, the lowest
    :func:`~subclust.diffusion.dsm_loss_estimate` among the restarts kept),
    except that every step uses every sample (``slots`` noise draws per data
    set and step; :class:`_AllSamples`) rather than minibatches, which lets
    data sets of different sizes share one network.

    Parameters
    ----------
    data_sets : sequence of array-like of shape (N_j, n_features)
    initial_bases : list (one per data set) of lists (one per restart) of lists of bases
        E.g. from :func:`~subclust.cluster.init_subspaces`; every data set
        the same number of restarts and every restart the same dimensions.
    steps : int, default=200
    lr : float, default=0.2
    prune : sequence of (step, n_keep) pairs, default=()
        After ``step`` steps keep the ``n_keep`` restarts of each data set
        with the lowest loss over the last 10 steps; steps increasing within
        ``(0, steps)``, ``n_keep`` not increasing.
    slots : int, default=32
        Noise draws per data set and step, raised to the largest data set.
    weighting, schedule, device, n_threads
        As in :class:`~subclust.diffusion.DiffusionSubspaceClustering`.
    dtype : torch.dtype, default=torch.float32
    random_state : int, torch.Generator or None, default=None
        Source of the noise levels and noise, shared by the data sets: a
        seed, a generator drawn from, or None for fresh OS entropy.

    Returns
    -------
    bases : list of lists of ndarray of shape (n_features, d_k)
        The bases of the kept restart of each data set, float64.
    losses : ndarray of shape (len(data_sets),)
        Their losses.
    """
    data_sets = [check_array(X, dtype=[np.float64, np.float32]) for X in data_sets]
    if len({X.shape[1] for X in data_sets}) > 1:
        raise ValueError("All data sets should have the same number of features.")
    if len(initial_bases) != len(data_sets):
        raise ValueError(
            f"Got initial bases for {len(initial_bases)} data sets, not {len(data_sets)}; "
            "pass one list of restarts per data set."
        )
    dims = [np.shape(B)[1] for B in initial_bases[0][0]]
    smallest = min(len(X) for X in data_sets)
    if smallest < len(dims):
        raise ValueError(
            f"A data set has n_samples={smallest}, fewer than n_clusters={len(dims)}: "
            "each cluster needs at least one sample."
        )
    prune = _check_prune(prune, steps, len(initial_bases[0]))
    net = LowRankMixtureDenoiser(
        data_sets[0].shape[1], len(dims), dims,
        init_bases=[np.array([[run[k] for run in runs] for runs in initial_bases])
                    for k in range(len(dims))],
        schedule=VPLinear() if schedule is None else schedule,
        weighting=weighting, dtype=dtype, device=device,
    )
    batches = _AllSamples(data_sets, slots, dtype, device)
    with torch_threads(n_threads):
        train_denoiser(net, batches, steps=steps, lr=lr, lr_schedule="cosine", sample_dim=2,
                       noise_levels=CLUSTERING_NOISE_LEVELS, random_state=random_state,
                       verbose=0, callback=_SuccessiveHalving(prune))
        x0, weights = batches(0)
        losses = dsm_loss_estimate(net, x0, noise_levels=CLUSTERING_NOISE_LEVELS, sample_dim=2,
                                   sample_weight=weights)
    best = losses.argmin(axis=1)
    bases = [[U[j, i].cpu().numpy().astype(np.float64) for U in net.bases]
             for j, i in enumerate(best)]
    return bases, losses[np.arange(len(best)), best]
