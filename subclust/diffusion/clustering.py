"""Subspace clustering by training the paper's diffusion denoiser.

:class:`DiffusionSubspaceClustering` fits :class:`LowRankMixtureDenoiser` to
the data by denoising score matching (:func:`train_denoiser`) and reads the
clusters off the trained network: the bases are its parameters ``U_k`` and
the label of a point is the component with the largest posterior weight at
low noise. Wang et al. (arXiv:2409.02426) show that this training problem is
K-subspaces, so the result should match :class:`subclust.KSubspaces` (see
:func:`subclust.bridge.equivalence_report`).
"""

import numbers

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.utils import check_random_state

from subclust.cluster import KSubspaces, NearestSubspaceMixin, init_subspaces, warn_zero_samples
from subclust.diffusion._utils import check_device
from subclust.diffusion.networks import LowRankMixtureDenoiser
from subclust.diffusion.schedules import UniformTime, VPLinear
from subclust.diffusion.training import dsm_loss_estimate, train_denoiser
from subclust.subspace import orthonormal_basis
from subclust.utils.parallel import torch_threads
from subclust.utils.validation import (
    Interval,
    StrOptions,
    check_dims,
    check_is_fitted,
    fit_context,
    store_init_params,
    validate_data,
)

__all__ = ["CLUSTERING_NOISE_LEVELS", "DiffusionSubspaceClustering"]


#: The training noise levels: times of the VP-linear schedule uniform on
#: ``[0.001, 0.02]`` (``sigma < 0.08``). Every noise level has the same optimum
#: for one component, and the soft-max weights approach the hard K-subspaces
#: assignment as the noise falls; low levels give the least noisy gradients.
CLUSTERING_NOISE_LEVELS = UniformTime(t_min=1e-3, t_max=0.02)


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

    The noise levels of training are low against data of unit scale, so
    the samples are divided by ``scale_``, the root mean square of their
    entries (diffusion models standardize their data the same way, EDM's
    ``sigma_data``): labels and bases do not depend on the units of ``X``.
    Without it, data a hundred times smaller would be mostly noise to the
    network, and clustered by it little better than by chance. With fewer
    samples than features, training runs in the coordinates of the samples'
    span, where the best bases lie: the same problem, n_features / rank
    times cheaper.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of components ``K``.
    dims : int or list of int, optional
        Dimension of each subspace. By default one for all, estimated from
        the data: the median of the dimensions :class:`subclust.KSubspaces`
        estimates for its clusters of the same samples (optimal hard
        threshold of the singular values of neighbourhoods, which noise does
        not inflate).
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
        the schedule's smallest time.
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
    scale_ : float
        The samples' scale, by which the network sees them divided (also in
        :meth:`predict` and :meth:`training_loss`).
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
    >>> X, y, bases = make_molrg(n_samples=[40, 40], n_features=12, dims=2, random_state=0)
    >>> model = DiffusionSubspaceClustering(2, dims=2, random_state=0).fit(X)
    >>> from subclust.metrics import clustering_accuracy, subspace_recovery_error
    >>> clustering_accuracy(y, model.labels_)
    1.0
    >>> bool(subspace_recovery_error(model.bases_, bases) < 0.1)  # the denoiser's subspaces
    True
    """

    _parameter_constraints = {
        "n_clusters": [Interval(numbers.Integral, 1, None, closed="left")],
        "dims": [Interval(numbers.Integral, 1, None, closed="left"), "array-like", None],
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
        dims=None,
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
        store_init_params(self, locals())

    def _schedule(self):
        return VPLinear() if self.schedule is None else self.schedule

    def make_denoiser(self, bases=None, dtype=torch.float64):
        """The low-rank mixture denoiser with the fitted bases (or ``bases``).

        It acts on samples divided by ``scale_``, as in training.

        Parameters
        ----------
        bases : list of array-like of shape (*batch_shape, n_features, d_k), optional
            Plug other bases into the same network, e.g. those of K-subspaces;
            leading dimensions make a batch of networks (e.g. restarts).
        dtype : torch.dtype, default=torch.float64

        Returns
        -------
        denoiser : LowRankMixtureDenoiser
        """
        bases = self.bases_ if bases is None else bases
        return LowRankMixtureDenoiser(
            np.shape(bases[0])[-2], len(bases), [np.shape(B)[-1] for B in bases],
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
        check_device(self.device)
        zero = warn_zero_samples(np.einsum("ij,ij->i", X, X) == 0)
        X_fit = np.delete(X, zero, axis=0) if zero.size else X
        if X_fit.shape[0] < self.n_clusters:
            raise ValueError(
                f"n_samples={X_fit.shape[0]} should be >= n_clusters={self.n_clusters}: "
                "each cluster needs at least one sample (all-zero samples do not count)."
            )
        rng = check_random_state(self.random_state)
        dims = self.dims
        if dims is None:
            kss = KSubspaces(self.n_clusters, random_state=rng.randint(np.iinfo(np.int32).max))
            dims = int(np.median([U.shape[1] for U in kss.fit(X_fit).bases_]))
        dims = check_dims(dims, self.n_clusters, X.shape[1])
        self.scale_ = float(np.sqrt(np.mean(np.square(X_fit, dtype=np.float64))))
        X_train = X_fit / self.scale_
        # With fewer samples than features, the best bases lie in the samples' span, and
        # the noise outside it never reaches the network's output: the training problem in
        # the span's coordinates is the same, n_features / rank times cheaper.
        span = None
        if isinstance(self.init, str) and X_train.shape[0] < X_train.shape[1]:
            span = orthonormal_basis(X_train.T)
            if max(dims) >= span.shape[1]:
                span = None
        if span is not None:
            X_train = X_train @ span
        runs = self._initial_bases(X_train, dims, rng)
        # The restarts as one batched network: they share minibatches and noise draws
        # and nothing else, so each trains as if alone, at the cost of about one.
        restarts = self.make_denoiser(
            [np.stack([run[k] for run in runs]) for k in range(len(dims))], _torch_dtype(X)
        )
        x = _as_tensor(X_train, self.device)
        history = []
        with torch_threads(self.n_threads):
            train_denoiser(
                restarts, x, steps=self.steps, batch_size=self.batch_size, lr=self.lr,
                lr_schedule="cosine", noise_levels=CLUSTERING_NOISE_LEVELS,
                random_state=int(rng.randint(np.iinfo(np.int32).max)),
                verbose=self.verbose, callback=lambda info: history.append(info["losses"]),
            )
            losses = dsm_loss_estimate(restarts, x, noise_levels=CLUSTERING_NOISE_LEVELS)
        best = _best_run(losses)
        bases = [U[best].cpu().numpy() for U in restarts.bases]
        self.bases_ = [(U if span is None else span @ U).astype(X.dtype) for U in bases]
        if span is None:
            self.training_loss_, feature_share = float(losses[best]), 1.0
        else:  # losses are means over the features, and off the span the error is zero
            self.training_loss_ = self.training_loss(X_fit)
            feature_share = span.shape[1] / X.shape[1]
        steps_per_epoch = max(X_fit.shape[0] // self.batch_size, 1)
        self.loss_history_ = feature_share * _epoch_means(
            torch.stack(history)[:, best].cpu().to(torch.float64).numpy(), steps_per_epoch
        )
        self.labels_ = self.predict(X)
        self._n_features_out = self.n_clusters
        return self

    def _initial_bases(self, X, dims, rng):
        """Initial bases of every restart: a list of ``n_init`` lists of bases."""
        if isinstance(self.init, str):
            starts = init_subspaces(X, len(dims), dims, init=self.init, n_init=self.n_init,
                                    random_state=rng)
            return [bases for bases, _ in starts]
        if len(self.init) != len(dims):
            raise ValueError(f"init has {len(self.init)} bases for n_clusters={len(dims)}.")
        return [[np.asarray(B, dtype=np.float64) for B in self.init]]

    def training_loss(self, X, bases=None):
        """Denoising score matching loss of the network on ``X / scale_``.

        Evaluated over 64 fixed draws of noise levels and noise per sample
        (the same draws for every call, and those that chose among the
        restarts in ``fit``; :func:`~subclust.diffusion.dsm_loss_estimate`),
        so that two sets of bases, e.g. the trained ones and those of
        K-subspaces, are compared on equal terms.

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
            net = self.make_denoiser(bases, _torch_dtype(X))
            loss = dsm_loss_estimate(net, _as_tensor(X / self.scale_, self.device),
                                     noise_levels=CLUSTERING_NOISE_LEVELS)
            return float(loss)

    def predict(self, X):
        """Component with the largest posterior weight at ``label_time`` (low noise).

        With subspaces of equal dimension and the default ``label_time`` this
        is the nearest subspace, ``transform(X).argmin(axis=1)``. An all-zero
        sample gets label 0.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        schedule = self._schedule()
        t = CLUSTERING_NOISE_LEVELS.t_min if self.label_time is None else self.label_time
        s = float(schedule.s_and_g(torch.tensor(t, dtype=torch.float64))[0])
        with torch_threads(self.n_threads), torch.no_grad():
            net = self.make_denoiser(self.bases_, _torch_dtype(X))
            weights = net.responsibilities(s * _as_tensor(X / self.scale_, self.device), t)
        labels = weights.argmax(dim=-1).cpu().numpy()
        labels[np.einsum("ij,ij->i", X, X) == 0] = 0
        return labels


def _torch_dtype(X):
    return torch.float32 if X.dtype == np.float32 else torch.float64


def _as_tensor(data, device):
    """A tensor of ``data``, copied when the array is read-only (torch needs writable memory)."""
    data = np.asarray(data)
    return torch.as_tensor(data if data.flags.writeable else data.copy(), device=device)


def _best_run(losses):
    """The run of lowest loss; runs equal up to rounding keep the earlier one."""
    return int(np.flatnonzero(losses <= losses.min() * (1 + 1e-9))[0])


def _epoch_means(losses, steps_per_epoch):
    n_epochs = max(len(losses) // steps_per_epoch, 1)
    return losses[: n_epochs * steps_per_epoch].reshape(n_epochs, -1).mean(axis=1)
