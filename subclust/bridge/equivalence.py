"""The equivalence of training the diffusion denoiser and K-subspaces, measured.

Wang et al. (arXiv:2409.02426) show that training the low-rank mixture
denoiser by denoising score matching on samples of a mixture of low-rank
Gaussians is the K-subspaces problem. :func:`equivalence_report` fits both on
the same samples and reports how far apart the two solutions are: principal
angles between matched bases, agreement of the labels, the training loss of
the network at both sets of bases, and the K-subspaces objective of both.
"""

from dataclasses import dataclass, field
from numbers import Integral

import numpy as np

from subclust.cluster import KSubspaces
from subclust.metrics import adjusted_rand_score
from subclust.subspace import match_subspaces, principal_angles, residuals
from subclust.utils.tables import Table
from subclust.utils.validation import Interval, validate_params

__all__ = ["EquivalenceReport", "equivalence_report"]


@dataclass
class EquivalenceReport:
    """K-subspaces against the trained diffusion denoiser, on the same samples.

    Attributes
    ----------
    principal_angles : list of ndarray
        Principal angles (radians, increasing) between each K-subspaces basis
        and its matched trained basis.
    subspace_distances : ndarray of shape (K,)
        Normalized projection distance of each matched pair.
    ari : float
        Adjusted Rand index between the two labelings.
    trained_loss : float
        Training loss of the network at its trained bases.
    kss_loss : float
        Training loss of the same network with the K-subspaces bases plugged in
        (the same noise draws).
    kss_objective : float
        K-subspaces objective (sum of squared residuals) of the K-subspaces bases.
    trained_objective : float
        K-subspaces objective of the trained bases.
    kss, diffusion : fitted estimators
    """

    principal_angles: list
    subspace_distances: np.ndarray
    ari: float
    trained_loss: float
    kss_loss: float
    kss_objective: float
    trained_objective: float
    kss: object = field(repr=False)
    diffusion: object = field(repr=False)

    @property
    def max_principal_angle(self):
        """Largest principal angle over all matched pairs (radians)."""
        return float(max(theta.max() for theta in self.principal_angles))

    @property
    def relative_loss_gap(self):
        """``(kss_loss - trained_loss) / trained_loss``: negative when K-subspaces does better."""
        return (self.kss_loss - self.trained_loss) / self.trained_loss

    def table(self):
        """The report as a two-column table of quantities and values."""
        table = Table(title="K-subspaces vs the trained low-rank mixture denoiser")
        rows = [
            ("largest principal angle (rad)", self.max_principal_angle),
            ("largest subspace distance", float(self.subspace_distances.max())),
            ("ARI between labelings", self.ari),
            ("training loss, trained bases", self.trained_loss),
            ("training loss, K-subspaces bases", self.kss_loss),
            ("relative loss gap", self.relative_loss_gap),
            ("K-subspaces objective, K-subspaces bases", self.kss_objective),
            ("K-subspaces objective, trained bases", self.trained_objective),
        ]
        for name, value in rows:
            table.add_row(quantity=name, value=float(value))
        return table

    def __str__(self):
        return str(self.table())

    def plot(self):
        """Principal angles of each matched pair, and the two losses.

        Returns
        -------
        figure : matplotlib.figure.Figure
        """
        from matplotlib.figure import Figure

        fig = Figure(figsize=(9, 3.2), layout="constrained")
        ax_angles, ax_loss = fig.subplots(1, 2, width_ratios=[2, 1])
        for k, theta in enumerate(self.principal_angles):
            ax_angles.plot(np.arange(1, len(theta) + 1), theta, "o-", label=f"subspace {k}")
        ax_angles.set(xlabel="index of principal angle", ylabel="angle (rad)",
                      title="K-subspaces vs trained bases")
        ax_angles.legend(fontsize="small")
        ax_loss.bar(["trained", "K-subspaces"], [self.trained_loss, self.kss_loss])
        ax_loss.set(title="training loss of the network", ylabel="DSM loss")
        return fig


@validate_params(
    {
        "X": ["array-like"],
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "dims": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "random_state": ["random_state"],
        "kss_params": [dict, None],
        "diffusion_params": [dict, None],
    },
    prefer_skip_nested_validation=False,
)
def equivalence_report(X, n_clusters, dims, *, random_state=0, kss_params=None,
                       diffusion_params=None):
    """Fit K-subspaces and the diffusion denoiser on ``X`` and compare them.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    n_clusters : int
    dims : int or list of int
    random_state : int, default=0
        Seed of both fits.
    kss_params, diffusion_params : dict, optional
        Further parameters of :class:`subclust.KSubspaces` and
        :class:`subclust.DiffusionSubspaceClustering`.

    Returns
    -------
    report : EquivalenceReport

    Examples
    --------
    >>> from subclust.bridge import equivalence_report
    >>> from subclust.datasets import make_molrg
    >>> X, y, _ = make_molrg(n_samples=[30, 30], n_features=12, dims=2, noise=0.01,
    ...                      random_state=0)
    >>> report = equivalence_report(X, 2, 2)
    >>> report.ari, report.max_principal_angle < 0.05
    (1.0, True)
    """
    from subclust.diffusion import DiffusionSubspaceClustering

    X = np.asarray(X)
    kss = KSubspaces(n_clusters, dims=dims, random_state=random_state, **(kss_params or {})).fit(X)
    diffusion = DiffusionSubspaceClustering(
        n_clusters, dims=dims, random_state=random_state, **(diffusion_params or {})
    ).fit(X)
    permutation, distances = match_subspaces(kss.bases_, diffusion.bases_)
    angles = [
        principal_angles(kss.bases_[k], diffusion.bases_[j]) for k, j in enumerate(permutation)
    ]
    return EquivalenceReport(
        principal_angles=angles,
        subspace_distances=distances,
        ari=float(adjusted_rand_score(kss.labels_, diffusion.labels_)),
        trained_loss=diffusion.training_loss_,
        kss_loss=diffusion.training_loss(X, kss.bases_),
        kss_objective=float(residuals(X, kss.bases_).min(axis=1).sum()),
        trained_objective=float(residuals(X, diffusion.bases_).min(axis=1).sum()),
        kss=kss,
        diffusion=diffusion,
    )
