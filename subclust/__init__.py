"""subclust: subspace clustering and the diffusion models that learn it.

Training a diffusion denoiser on samples of a mixture of low-rank Gaussians
is subspace clustering of those samples: PCA for one component, K-subspaces
for several (Wang et al., arXiv:2409.02426). subclust provides

- a solver layer of subspace-clustering estimators with the scikit-learn API
  (:class:`KSubspaces` and relatives in :mod:`subclust.cluster`);
- a diffusion layer in PyTorch (:mod:`subclust.diffusion`, optional extra);
- a bridge comparing the bases that each learns (:mod:`subclust.bridge`);
- the experiments reproducing the paper's claims (:mod:`subclust.experiments`).
"""

__version__ = "0.1.0"

from subclust.cluster import KSubspaces, k_subspaces
from subclust.cluster import EnsembleKSubspaces, LowRankRepresentation
from subclust.cluster import AutoSubspaceClustering
from subclust.cluster import (
    LeastSquaresSubspaceClustering,
    SparseSubspaceClustering,
    ThresholdedSubspaceClustering,
    sparse_self_representation,
)

__all__ = ["KSubspaces", "k_subspaces", "DiffusionSubspaceClustering", "__version__"]
__all__ += [
    "LeastSquaresSubspaceClustering",
    "SparseSubspaceClustering",
    "ThresholdedSubspaceClustering",
    "sparse_self_representation",
]
__all__ += ["EnsembleKSubspaces", "LowRankRepresentation"]
__all__ += ["AutoSubspaceClustering"]


def __getattr__(name):
    # The diffusion estimator needs PyTorch: import it on first use only, so
    # that ``import subclust`` stays light and works without the extra.
    if name == "DiffusionSubspaceClustering":
        from subclust.diffusion import DiffusionSubspaceClustering

        return DiffusionSubspaceClustering
    raise AttributeError(f"module 'subclust' has no attribute {name!r}")
