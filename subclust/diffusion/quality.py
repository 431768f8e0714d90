"""How well generated samples match a mixture of low-rank Gaussians (numpy, no torch needed).

Samples are assigned to their nearest subspace; then three numbers compare
them with the MoLRG ``x = U_k a``, ``a ~ N(0, I)``, ``k ~ pi``:

- the relative off-subspace energy ``sum_i min_k ||x_i - U_k U_k^T x_i||^2 / sum_i ||x_i||^2``
  (0 when every sample lies on the union of subspaces);
- the frequencies of the components (compare with ``pi``);
- the latent covariance error ``mean_k ||C_k - I||_F / sqrt(d_k)``, with
  ``C_k`` the second-moment matrix of ``U_k^T x`` over the samples of ``k``
  (Monte Carlo floor about ``sqrt((d + 1) / N_k)`` for exact draws).

Two more compare generated samples with data, whatever its model:

- :func:`wasserstein1`, the 1-Wasserstein distance between two samples of
  equal size (exact optimal transport: an assignment problem), and
  :func:`sliced_wasserstein1` for large samples;
- :func:`nearest_neighbour_distances` and :func:`copy_statistics`: are
  generated samples closer to the training data than new real data is
  (copies), or as far as held-out samples (new samples)?
"""

from numbers import Integral, Real

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from subclust.subspace import residuals
from subclust.utils.validation import Interval, check_array, validate_params

__all__ = [
    "off_subspace_energy",
    "component_frequencies",
    "latent_covariance_error",
    "sample_quality",
    "wasserstein1",
    "sliced_wasserstein1",
    "nearest_neighbour_distances",
    "copy_statistics",
]


def _as_numpy(X, name):
    """Samples as a 2-D float64 array; non-finite samples (a diverged sampler's) are measured."""
    if hasattr(X, "detach"):  # a tensor, possibly on the GPU or requiring grad
        X = X.detach().cpu().numpy()
    return check_array(X, dtype=np.float64, ensure_all_finite=False, input_name=name)


def _bases(bases):
    return [
        np.asarray(U.detach().cpu() if hasattr(U, "detach") else U, dtype=np.float64)
        for U in bases
    ]


@validate_params(
    {
        "X": ["array-like"],
        "bases": ["array-like"],
    },
    prefer_skip_nested_validation=True,
)
def off_subspace_energy(X, bases):
    """Relative energy of the samples off the union of subspaces.

    Examples
    --------
    >>> import numpy as np
    >>> off_subspace_energy(np.array([[1.0, 0.0], [1.0, 1.0]]), [np.array([[1.0], [0.0]])])
    0.3333333333333333
    """
    X, bases = _as_numpy(X, "X"), _bases(bases)
    total = float(np.sum(X**2))
    return float(residuals(X, bases).min(axis=1).sum() / total) if total > 0 else 0.0


@validate_params(
    {
        "X": ["array-like"],
        "bases": ["array-like"],
    },
    prefer_skip_nested_validation=True,
)
def component_frequencies(X, bases):
    """Share of the samples nearest to each subspace, shape ``(K,)``.

    Examples
    --------
    Exact draws lie on their own subspace:

    >>> from subclust.datasets import make_molrg
    >>> X, _, bases = make_molrg(n_samples=[10, 30], n_features=8, dims=2, random_state=0)
    >>> component_frequencies(X, bases).tolist()
    [0.25, 0.75]
    """
    X, bases = _as_numpy(X, "X"), _bases(bases)
    labels = residuals(X, bases).argmin(axis=1)
    return np.bincount(labels, minlength=len(bases)) / max(len(X), 1)


@validate_params(
    {
        "X": ["array-like"],
        "bases": ["array-like"],
        "variances": [Real, "array-like"],
    },
    prefer_skip_nested_validation=True,
)
def latent_covariance_error(X, bases, variances=1.0):
    """Mean over components of ``||C_k - Lambda_k||_F / sqrt(d_k)`` (``Lambda_k = variances I``).

    Components without samples count as error 1.

    Examples
    --------
    Exact draws reach the Monte Carlo floor ``sqrt((d + 1) / N_k)``, about
    0.08 here; scaled by 2 they have latent variance 4:

    >>> from subclust.datasets import make_molrg
    >>> X, _, bases = make_molrg(n_samples=[500, 500], n_features=8, dims=2, random_state=0)
    >>> error = latent_covariance_error(X, bases)
    >>> bool(error < 0.15), bool(latent_covariance_error(2 * X, bases) > 2.5)
    (True, True)
    >>> bool(abs(latent_covariance_error(2 * X, bases, variances=4.0) - 4 * error) < 1e-12)
    True
    """
    X, bases = _as_numpy(X, "X"), _bases(bases)
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


@validate_params(
    {
        "X": ["array-like"],
        "bases": ["array-like"],
        "weights": ["array-like", None],
    },
    prefer_skip_nested_validation=True,
)
def sample_quality(X, bases, weights=None):
    """All three measures as a dict (and the total variation of the frequencies to ``weights``).

    Parameters
    ----------
    X : array-like or tensor of shape (n_samples, n_features)
    bases : list of array-like of shape (n_features, d_k)
    weights : array-like of shape (K,), optional
        Mixture weights to compare the frequencies with.

    Returns
    -------
    quality : dict
        ``off_subspace_energy``, ``latent_cov_error`` (floats), ``frequencies``
        (ndarray of shape (K,)) and, with ``weights``, ``frequency_tv``.

    Examples
    --------
    >>> from subclust.datasets import make_molrg
    >>> X, _, bases = make_molrg(n_samples=[100, 300], n_features=8, dims=2, random_state=0)
    >>> quality = sample_quality(X, bases, weights=[0.5, 0.5])
    >>> sorted(quality)
    ['frequencies', 'frequency_tv', 'latent_cov_error', 'off_subspace_energy']
    >>> bool(quality["off_subspace_energy"] < 1e-12), round(quality["frequency_tv"], 6)
    (True, 0.25)
    """
    freq = component_frequencies(X, bases)
    out = {
        "off_subspace_energy": off_subspace_energy(X, bases),
        "latent_cov_error": latent_covariance_error(X, bases),
        "frequencies": freq,
    }
    if weights is not None:
        out["frequency_tv"] = float(0.5 * np.abs(freq - np.asarray(weights)).sum())
    return out


@validate_params(
    {
        "X": ["array-like"],
        "Y": ["array-like"],
    },
    prefer_skip_nested_validation=True,
)
def wasserstein1(X, Y):
    """Exact 1-Wasserstein distance between two equal-size samples (Euclidean cost).

    Between uniform measures on ``m`` points each, an optimal transport plan
    is a permutation (Birkhoff's theorem), so W1 is the mean cost of the
    optimal assignment (scipy's ``linear_sum_assignment``). ``O(m^3)`` time
    and ``O(m^2)`` memory: a few seconds at ``m = 2000``; use
    :func:`sliced_wasserstein1` beyond.

    Examples
    --------
    >>> import numpy as np
    >>> wasserstein1(np.array([[0.0], [1.0]]), np.array([[1.0], [2.0]]))
    1.0
    """
    X, Y = _as_numpy(X, "X"), _as_numpy(Y, "Y")
    if X.shape != Y.shape:
        raise ValueError(
            f"wasserstein1 needs two samples of the same shape, got {X.shape} and {Y.shape}; "
            "subsample the larger one."
        )
    cost = cdist(X, Y)
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].mean())


@validate_params(
    {
        "X": ["array-like"],
        "Y": ["array-like"],
        "n_projections": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def sliced_wasserstein1(X, Y, n_projections=200, random_state=None):
    """Sliced 1-Wasserstein distance: the mean W1 of projections on random unit directions.

    In one dimension W1 between equal-size samples is the mean gap between
    sorted values. The sliced distance is a lower bound on W1 (up to a
    factor depending on the dimension); its sampling error decays like
    ``m^{-1/2}`` whatever the dimension, so it cannot show the slower rates
    of the full W1.

    Examples
    --------
    Projections do not lengthen distances, so the sliced distance never
    exceeds W1; in one dimension they are equal:

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X, Y = rng.standard_normal((50, 3)), rng.standard_normal((50, 3)) + 1.0
    >>> sliced_wasserstein1(X, Y, random_state=0) <= wasserstein1(X, Y)
    True
    >>> line = np.array([[0.0], [1.0], [3.0]])
    >>> round(sliced_wasserstein1(line, line + 0.5, random_state=0), 12)
    0.5
    """
    X, Y = _as_numpy(X, "X"), _as_numpy(Y, "Y")
    if X.shape != Y.shape:
        raise ValueError(
            f"sliced_wasserstein1 needs two samples of the same shape, got {X.shape} and {Y.shape}."
        )
    rng = np.random.default_rng(random_state)
    directions = rng.standard_normal((X.shape[1], n_projections))
    directions /= np.linalg.norm(directions, axis=0)
    gaps = np.sort(X @ directions, axis=0) - np.sort(Y @ directions, axis=0)
    return float(np.abs(gaps).mean())


@validate_params(
    {
        "X": ["array-like"],
        "reference": ["array-like"],
        "chunk_size": [Interval(Integral, 1, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def nearest_neighbour_distances(X, reference, chunk_size=1024):
    """Euclidean distance from each row of ``X`` to its nearest row of ``reference``.

    Computed in chunks of rows (memory ``chunk_size x len(reference)``).

    Examples
    --------
    >>> import numpy as np
    >>> reference = np.array([[0.0, 0.0], [3.0, 4.0]])
    >>> nearest_neighbour_distances(np.array([[0.0, 1.0], [3.0, 4.0], [6.0, 8.0]]), reference)
    array([1., 0., 5.])
    """
    X, reference = _as_numpy(X, "X"), _as_numpy(reference, "reference")
    if X.shape[1] != reference.shape[1]:
        raise ValueError(
            f"X has {X.shape[1]} features and reference {reference.shape[1]}; they must match."
        )
    ref_sq = np.einsum("ij,ij->i", reference, reference)
    out = np.empty(X.shape[0])
    for start in range(0, X.shape[0], chunk_size):
        block = X[start:start + chunk_size]
        d2 = np.einsum("ij,ij->i", block, block)[:, None] - 2 * block @ reference.T + ref_sq
        out[start:start + chunk_size] = np.sqrt(np.maximum(d2.min(axis=1), 0.0))
    return out


@validate_params(
    {
        "generated": ["array-like"],
        "train": ["array-like"],
        "heldout": ["array-like"],
    },
    prefer_skip_nested_validation=True,
)
def copy_statistics(generated, train, heldout):
    """Are generated samples new, or copies of training samples?

    Compares the distance from each generated sample to its nearest
    training sample with the same distance for held-out real samples
    (which are new by construction).

    Returns
    -------
    stats : dict
        ``generated_median``, ``heldout_median``: median nearest-training
        distances; ``ratio``: their quotient (about 1 for new samples, 0 for
        copies); ``copy_share``: the share of generated samples closer to a
        training sample than any held-out sample is; ``generated``,
        ``heldout``: the distances themselves.

    Examples
    --------
    Copies of training samples against new draws of the same mixture:

    >>> from subclust.datasets import make_molrg
    >>> X, _, bases = make_molrg(n_samples=[150, 150], n_features=8, dims=2, random_state=0)
    >>> train, heldout, new = X[:100], X[100:200], X[200:]
    >>> copies = copy_statistics(train[:50], train, heldout)
    >>> round(copies["ratio"], 6), copies["copy_share"]
    (0.0, 1.0)
    >>> fresh = copy_statistics(new, train, heldout)
    >>> bool(0.5 < fresh["ratio"] < 2.0), bool(fresh["copy_share"] < 0.1)
    (True, True)
    """
    gen = nearest_neighbour_distances(generated, train)
    held = nearest_neighbour_distances(heldout, train)
    return {
        "generated_median": float(np.median(gen)),
        "heldout_median": float(np.median(held)),
        "ratio": float(np.median(gen) / np.median(held)) if np.median(held) > 0 else float("nan"),
        "copy_share": float(np.mean(gen < held.min())),
        "generated": gen,
        "heldout": held,
    }
