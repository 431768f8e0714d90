"""How well generated samples match a mixture of low-rank Gaussians (numpy, no torch needed).

Samples are assigned to their nearest subspace; then three numbers compare
them with the MoLRG ``x = U_k a``, ``a ~ N(0, I)``, ``k ~ pi``:

- the relative off-subspace energy ``sum_i min_k ||x_i - U_k U_k^T x_i||^2 / sum_i ||x_i||^2``
  (0 when every sample lies on the union of subspaces);
- the frequencies of the components (compare with ``pi``);
- the latent covariance error ``mean_k ||C_k - I||_F / sqrt(d_k)``, with
  ``C_k`` the second-moment matrix of ``U_k^T x`` over the samples of ``k``
  (Monte Carlo floor about ``sqrt((d + 1) / N_k)`` for exact draws).
"""

import numpy as np

from subclust.subspace import residuals

__all__ = [
    "off_subspace_energy",
    "component_frequencies",
    "latent_covariance_error",
    "sample_quality",
]


def _as_numpy(X):
    if hasattr(X, "detach"):
        X = X.detach().cpu().numpy()
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(
            f"samples must be a 2-D array (n_samples, n_features), got shape {X.shape}."
        )
    return X


def _bases(bases):
    return [
        np.asarray(U.detach().cpu() if hasattr(U, "detach") else U, dtype=np.float64)
        for U in bases
    ]


def off_subspace_energy(X, bases):
    """Relative energy of the samples off the union of subspaces.

    Examples
    --------
    >>> import numpy as np
    >>> off_subspace_energy(np.array([[1.0, 0.0], [1.0, 1.0]]), [np.array([[1.0], [0.0]])])
    0.3333333333333333
    """
    X, bases = _as_numpy(X), _bases(bases)
    total = float(np.sum(X**2))
    return float(residuals(X, bases).min(axis=1).sum() / total) if total > 0 else 0.0


def component_frequencies(X, bases):
    """Share of the samples nearest to each subspace, shape ``(K,)``."""
    X, bases = _as_numpy(X), _bases(bases)
    labels = residuals(X, bases).argmin(axis=1)
    return np.bincount(labels, minlength=len(bases)) / max(len(X), 1)


def latent_covariance_error(X, bases, variances=1.0):
    """Mean over components of ``||C_k - Lambda_k||_F / sqrt(d_k)`` (``Lambda_k = variances I``).

    Components without samples count as error 1.
    """
    X, bases = _as_numpy(X), _bases(bases)
    labels = residuals(X, bases).argmin(axis=1)
    errors = []
    for k, U in enumerate(bases):
        A = X[labels == k] @ U
        d = U.shape[1]
        if len(A) == 0:
            errors.append(1.0)
            continue
        C = A.T @ A / len(A)
        errors.append(float(np.linalg.norm(C - variances * np.eye(d)) / np.sqrt(d)))
    return float(np.mean(errors))


def sample_quality(X, bases, weights=None):
    """All three measures as a dict (and the total variation of the frequencies to ``weights``)."""
    freq = component_frequencies(X, bases)
    out = {
        "off_subspace_energy": off_subspace_energy(X, bases),
        "latent_cov_error": latent_covariance_error(X, bases),
        "frequencies": freq,
    }
    if weights is not None:
        out["frequency_tv"] = float(0.5 * np.abs(freq - np.asarray(weights)).sum())
    return out
