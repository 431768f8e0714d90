"""Sparse subspace clustering (SSC): sparse self-representation, then spectral clustering."""

import numbers

import numpy as np

from subclust.cluster._self_representation import _KERNELS, _is_dask_array
from subclust.cluster._spectral import (
    _COMMON_CONSTRAINTS,
    BaseSpectralSubspaceClustering,
    keep_l1_share,
)
from subclust.utils.validation import Interval, StrOptions, store_init_params

__all__ = ["SparseSubspaceClustering"]

_DEFAULT_ALPHA = {"admm": 20.0, "cvxpy": 20.0, "elastic_net": 50.0}


class SparseSubspaceClustering(BaseSpectralSubspaceClustering):
    """Sparse subspace clustering: each sample written sparsely by the others.

    Every (unit-norm) sample is expressed as a sparse combination of the
    other samples, ``X ~ C X`` with ``diag(C) = 0``; nonzero coefficients
    tend to link samples of the same subspace. The affinity built from ``C``
    is clustered by spectral clustering, and one subspace is fitted per
    cluster so that :meth:`predict` assigns new samples to the nearest.

    Parameters
    ----------
    n_clusters : int or None, default=8
        Number of clusters; None estimates it from the spectrum of the
        affinity (:func:`~subclust.cluster.estimate_n_clusters`); with the
        angular affinity, whose rank depends on it, as a fixed point (see
        :class:`~subclust.cluster.BaseSpectralSubspaceClustering`).
    solver : {'elastic_net', 'admm', 'omp', 'cvxpy'}, default='elastic_net'
        - 'elastic_net': EnSC (You, Li, Robinson, Vidal, CVPR 2016) by an
          active-set method; memory linear in the number of samples.
        - 'admm': the Lasso problem of SSC (Elhamifar & Vidal, TPAMI 2013)
          for all samples at once; N x N memory, best below a few thousand.
        - 'omp': SSC-OMP (You, Robinson, Vidal, CVPR 2016); the fastest.
        - 'cvxpy': the Lasso problem through cvxpy, an exact reference for
          a few hundred samples.
        See :func:`subclust.cluster.sparse_self_representation`.
    alpha : float, optional
        Weight of the fit term relative to the smallest weight giving every
        sample a nonzero representation (must be > 1); defaults to 20 for
        the Lasso solvers, 50 for the elastic net. Unused by 'omp'.
    l1_ratio : float in (0, 1], default=0.9
        Elastic-net mixing ('elastic_net' only); 1 is the Lasso.
    n_nonzero : int, default=10
        Largest number of atoms per sample ('omp' only).
    affine : bool, default=False
        Affine constraint ``C 1 = 1`` ('admm', 'cvxpy'), for affine subspaces.
    outlier_penalty : float or 'auto', optional
        Add a sparse outlier term with this weight ('admm', 'cvxpy'); 'auto'
        is Elhamifar & Vidal's ``alpha / max_i ||x_i||_1`` ('admm').
    dense_noise : bool, default=True
        With ``outlier_penalty`` and 'admm': False solves Elhamifar & Vidal's
        program for sparse outlying entries, ``X = C X + E`` as a constraint
        (see :func:`subclust.cluster.self_representation_admm`).
    rho : float, optional
        Fixed penalty of the ADMM ('admm'); Elhamifar & Vidal's code uses
        ``rho = alpha`` for a fixed ``max_iter``. None adapts it (faster
        convergence).
    l1_share : float in (0, 1], default=1.0
        Before the affinity is built, keep in each row of ``C`` the
        largest entries holding this share of its l1 norm
        (:func:`subclust.cluster.keep_l1_share`; 0.7 in Elhamifar & Vidal's
        motion segmentation); 1 keeps every entry.
    normalize : bool or 'auto', default='auto'
        Scale samples to unit norm first. 'auto' does so unless ``affine``:
        rescaling a sample moves it off its affine subspace (on the affine
        subspaces of motion trajectories the error went from 4.9 % to
        14.7 %), so ``normalize=True`` with ``affine=True`` is refused.
        Elhamifar & Vidal's experiments do not normalize.
    affinity : {'auto', 'angular', 'symmetric', 'precomputed'}, default='auto'
        'auto' is 'symmetric' for 'omp' (its few links per sample make a
        poor low-rank embedding: 0.40 against 0.74 on Yale B, 10 subjects)
        and 'angular' for the other solvers. 'angular': the low-rank post-processing of
        :func:`subclust.cluster.angular_affinity` (on Extended Yale B, 10
        subjects, it lifts the elastic net from 0.60 to 0.94 accuracy);
        'symmetric': ``|C_n| + |C_n|^T`` with rows scaled to a maximum of
        one, as in Elhamifar & Vidal; 'precomputed': ``X`` given to ``fit``
        is the affinity itself.
    n_neighbors : int, optional
        Keep the largest ``n_neighbors`` weights of each row of the affinity.
        With 'angular' above 4000 samples, 50 unless given.
    dim_per_cluster : int, default=10
        Rank kept per cluster by the 'angular' affinity.
    power : float, default=4
        Exponent of the 'angular' affinity.
    assign_labels : {'auto', 'cluster_qr', 'discretize', 'kmeans', 'normalized_kmeans'}, \
default='auto'
        How labels are read from the spectral embedding
        (:func:`~subclust.cluster.spectral_labels`). 'auto' is
        'normalized_kmeans' for 'omp', whose few links per sample leave
        weakly linked samples near the origin of the embedding (Extended
        Yale B: 0.82 against 0.65 with 'cluster_qr'; MNIST: 0.78 against
        0.52), and 'cluster_qr' for the other solvers.
    subspace_dims : int or list of int, optional
        Dimension of the subspace fitted to each cluster for ``predict``;
        by default estimated from the cluster's singular values by the
        optimal hard threshold (:func:`subclust.subspace.estimate_rank`),
        which noise does not inflate.
    subspace_energy : float in (0, 1], optional
        Choose each dimension instead as the smallest holding this share of
        the cluster's Frobenius norm (an energy share also keeps noise).
    max_iter : int, optional
        Iterations of 'admm' (default 300).
    tol : float, optional
        Tolerance of the solver (its default if None).
    backend : {'auto', 'local', 'dask'}, default='auto'
        Where 'omp' and 'elastic_net' solve their column blocks of targets:
        'local' threads, or one Dask task per block ('dask'; on the active
        ``dask.distributed`` client if there is one, which receives ``X``
        once). 'auto' is 'dask' when ``X`` is a dask array. Every task holds
        the whole dictionary (``n_samples x n_features``), never an
        ``n_samples^2`` matrix; the result does not depend on the backend.
    random_state : int, RandomState instance or None, default=None
        Seed of the eigensolver's starting vector (and of k-means if used).

    Attributes
    ----------
    representation_matrix_ : sparse matrix of shape (n_samples, n_samples)
        ``C``: row ``i`` represents sample ``i`` (None if precomputed).
    affinity_matrix_ : ndarray or sparse matrix of shape (n_samples, n_samples)
    labels_ : ndarray of shape (n_samples,)
    n_clusters_ : int
        The number of clusters used: ``n_clusters``, or its estimate.
    laplacian_eigenvalues_ : ndarray of shape (n_values,) or None
        The smallest eigenvalues of the affinity's normalized Laplacian that
        the estimate read (None when ``n_clusters`` was given).
    bases_ : list of ndarray of shape (n_features, d_k)
        Orthonormal basis of each cluster's subspace (None if precomputed).
    n_iter_ : int
        Iterations of the solver: ADMM iterations, greedy steps of OMP,
        active-set iterations of the elastic net (1 for cvxpy).
    n_features_in_ : int

    See Also
    --------
    subclust.cluster.presets.make_preset : SSC, EnSC, SSC-OMP as their papers ran them.
    subclust.cluster.LeastSquaresSubspaceClustering : dense closed-form representation.
    subclust.cluster.sparse_self_representation : the representation alone.

    References
    ----------
    E. Elhamifar and R. Vidal, "Sparse Subspace Clustering: Algorithm,
    Theory, and Applications", TPAMI 35(11), 2013. C. You, C.-G. Li,
    D. Robinson, R. Vidal, "Oracle Based Active Set Algorithm for Scalable
    Elastic Net Subspace Clustering", CVPR 2016. C. You, D. Robinson,
    R. Vidal, "Scalable Sparse Subspace Clustering by Orthogonal Matching
    Pursuit", CVPR 2016.

    Examples
    --------
    >>> from subclust import SparseSubspaceClustering
    >>> from subclust.datasets import make_molrg
    >>> from subclust.metrics import clustering_accuracy
    >>> X, y, _ = make_molrg(n_samples=[40, 40, 40], n_features=20, dims=3, random_state=0)
    >>> ssc = SparseSubspaceClustering(n_clusters=3, random_state=0).fit(X)
    >>> clustering_accuracy(y, ssc.labels_)
    1.0
    >>> clustering_accuracy(y[:5], ssc.predict(X[:5]))
    1.0
    """

    _parameter_constraints = {
        **_COMMON_CONSTRAINTS,
        "solver": [StrOptions({"elastic_net", "admm", "omp", "cvxpy"})],
        "alpha": [Interval(numbers.Real, 1, None, closed="neither"), None],
        "l1_ratio": [Interval(numbers.Real, 0, 1, closed="right")],
        "n_nonzero": [Interval(numbers.Integral, 1, None, closed="left")],
        "affine": ["boolean"],
        "outlier_penalty": [
            Interval(numbers.Real, 0, None, closed="neither"), StrOptions({"auto"}), None
        ],
        "dense_noise": ["boolean"],
        "rho": [Interval(numbers.Real, 0, None, closed="neither"), None],
        "l1_share": [Interval(numbers.Real, 0, 1, closed="right")],
        "normalize": ["boolean", StrOptions({"auto"})],
        "affinity": [StrOptions({"auto", "symmetric", "angular", "precomputed"})],
        "assign_labels": [
            StrOptions({"auto", "cluster_qr", "discretize", "kmeans", "normalized_kmeans"})
        ],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "tol": [Interval(numbers.Real, 0, None, closed="left"), None],
        "backend": [StrOptions({"auto", "local", "dask"})],
    }

    def __init__(
        self, n_clusters=8, *, solver="elastic_net", alpha=None, l1_ratio=0.9, n_nonzero=10,
        affine=False, outlier_penalty=None, dense_noise=True, rho=None, l1_share=1.0,
        normalize="auto", affinity="auto", n_neighbors=None, dim_per_cluster=10, power=4,
        assign_labels="auto", subspace_dims=None, subspace_energy=None, max_iter=None, tol=None,
        backend="auto", random_state=None,
    ):  # fmt: skip
        store_init_params(self, locals())

    def fit(self, X, y=None):
        # Validation turns a dask array into an ndarray: note where it came from first.
        self._dask_input = _is_dask_array(X)
        return super().fit(X, y)

    fit.__doc__ = BaseSpectralSubspaceClustering.fit.__doc__

    def _solver_params(self):
        """The keyword arguments of the chosen solver that this estimator sets."""
        solver = self.solver
        if solver == "omp":
            params = {"n_nonzero": self.n_nonzero}
        else:
            alpha = _DEFAULT_ALPHA[solver] if self.alpha is None else self.alpha
            params = {"alpha": alpha}
            if solver == "elastic_net":
                params["l1_ratio"] = self.l1_ratio
            else:
                params.update(affine=self.affine, outlier_penalty=self.outlier_penalty)
            if solver == "admm":
                params.update(dense_noise=self.dense_noise, rho=self.rho)
                if self.max_iter is not None:
                    params["max_iter"] = self.max_iter
            elif self.outlier_penalty == "auto" or not self.dense_noise or self.rho is not None:
                raise ValueError(
                    "outlier_penalty='auto', dense_noise=False and rho need solver='admm', "
                    f"not {solver!r}."
                )
        if self.tol is not None and solver != "cvxpy":
            params["tol"] = self.tol
        if solver in ("omp", "elastic_net"):
            dask = self.backend == "dask" or (
                self.backend == "auto" and getattr(self, "_dask_input", False)
            )
            params["backend"] = "dask" if dask else "local"
        if (self.affine or self.outlier_penalty is not None) and solver in ("omp", "elastic_net"):
            raise ValueError(
                f"affine and outlier_penalty need solver='admm' or 'cvxpy', not {solver!r}."
            )
        return params

    def _normalizes(self):
        if self.normalize == "auto":
            return not self.affine
        if self.normalize and self.affine:
            raise ValueError(
                "normalize=True rescales every sample, which moves it off its affine subspace; "
                "with affine=True use normalize='auto' or False."
            )
        return self.normalize

    def _affinity_input(self, C):
        return keep_l1_share(C, self.l1_share) if self.l1_share < 1 else C

    def _representation_dtype(self, dtype):
        # The column-block solvers keep float32 (their products are the cost);
        # the others work in float64.
        return dtype if self.solver in ("omp", "elastic_net") else np.float64

    def _affinity_kind(self):
        if self.affinity == "auto":
            return "symmetric" if self.solver == "omp" else "angular"
        return self.affinity

    def _assign_labels_kind(self):
        if self.assign_labels == "auto":
            return "normalized_kmeans" if self.solver == "omp" else "cluster_qr"
        return self.assign_labels

    def _representation(self, X):
        # X is validated and free of zero rows (fit): the solver's kernel trusts it.
        params = self._solver_params()
        solve = _KERNELS[self.solver]
        if self.solver == "cvxpy":
            C, self.n_iter_ = solve(X, **params), 1
        else:
            C, self.n_iter_ = solve(X, return_n_iter=True, **params)
        return C, None
