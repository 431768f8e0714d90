"""Named presets: each method with the parameters of the paper that introduced it.

The defaults of the estimators are chosen to work across data sets; a
preset instead reproduces one paper's experiment, parameter for parameter,
so that its published numbers can be checked (``subclust bench reproduce``).
:data:`PRESETS` is the one place where these parameters live, each with the
source it was read from.

Examples
--------
>>> from subclust.cluster.presets import PRESETS, make_preset
>>> sorted(PRESETS)  # doctest: +NORMALIZE_WHITESPACE
['elhamifar2013-faces', 'elhamifar2013-motion', 'heckel2015-faces', 'lu2012-lsr1-faces10',
 'lu2012-lsr1-faces5', 'you2016-ensc', 'you2016-omp']
>>> ssc = make_preset("elhamifar2013-motion", n_clusters=3)
>>> ssc.alpha, ssc.rho, ssc.max_iter, ssc.affine, ssc.l1_share, ssc.normalize
(800.0, 800.0, 200, True, 0.7, False)
"""

from dataclasses import dataclass, field
from numbers import Integral

from subclust.utils.validation import Interval, validate_params

__all__ = ["PRESETS", "Preset", "make_preset"]

_ELHAMIFAR_VIDAL = (
    "E. Elhamifar, R. Vidal, 'Sparse Subspace Clustering: Algorithm, Theory, and "
    "Applications', IEEE TPAMI 35(11), 2013, and the authors' code SSC_ADMM_v1.1 "
    "(run_SSC_Faces.m, run_SSC_MS.m, admmLasso_mat_func.m, admmOutlier_mat_func.m)"
)
_YOU_ENSC = (
    "C. You, C.-G. Li, D. Robinson, R. Vidal, 'Oracle Based Active Set Algorithm for "
    "Scalable Elastic Net Subspace Clustering', CVPR 2016; parameters of the authors' "
    "MNIST script (github.com/ChongYou/subspace-clustering, run_mnist.py: gamma=200, tau=0.9)"
)
_YOU_OMP = (
    "C. You, D. Robinson, R. Vidal, 'Scalable Sparse Subspace Clustering by Orthogonal "
    "Matching Pursuit', CVPR 2016; parameters of the authors' MNIST script "
    "(github.com/ChongYou/subspace-clustering, run_mnist.py: n_nonzero=5, thr=1e-5)"
)
_LU_LSR = (
    "C.-Y. Lu, H. Min, Z.-Q. Zhao, L. Zhu, D.-S. Huang, S. Yan, 'Robust and Efficient "
    "Subspace Segmentation via Least Squares Regression', ECCV 2012, and the authors' code "
    "(Experiment_FS.m: LSR1 with lambda 0.4 for 5 subjects and 0.004 for 10; LSR1.m; "
    "SubspaceSegmentation.m; clu_ncut.m)"
)
_HECKEL_BOELCSKEI = (
    "R. Heckel, H. Boelcskei, 'Robust Subspace Clustering via Thresholding', IEEE Trans. "
    "Inf. Theory 61(11), 2015, and the authors' code (run_TSC_Faces.m: q = 3 on unit-norm "
    "48x42 faces; TSC.m)"
)

# The spectral step of Elhamifar & Vidal's code: |C| with every sample's coefficients
# scaled to a largest magnitude of one, symmetrized; the normalized Laplacian's
# eigenvectors with unit rows; k-means.
_ELHAMIFAR_SPECTRAL = {
    "affinity": "symmetric",
    "assign_labels": "normalized_kmeans",
    "normalize": False,  # their code never rescales the samples
}

_LU_SPECTRAL = {
    "zero_diagonal": True,  # LSR1
    "normalize": True,
    "affinity": "symmetric",
    "assign_labels": "kmeans",
}


@dataclass(frozen=True)
class Preset:
    """A method as one paper ran it.

    Parameters
    ----------
    estimator : str
        Class name, exported by :mod:`subclust.cluster`.
    params : dict
        Every parameter the paper fixes (``n_clusters`` and ``random_state``
        are left to the caller).
    reference : str
        Where the parameters come from.
    description : str
        One line: the experiment they belong to.
    """

    estimator: str
    params: dict = field(default_factory=dict)
    reference: str = ""
    description: str = ""


#: Preset name -> :class:`Preset`.
PRESETS = {
    "elhamifar2013-faces": Preset(
        "SparseSubspaceClustering",
        {
            "solver": "admm",
            "alpha": 20.0,  # lambda_z = alpha / mu_z, and lambda_e = alpha / max_i ||x_i||_1
            "outlier_penalty": "auto",
            "dense_noise": False,  # X = C X + E, E sparse outlying entries
            "rho": 20.0,  # the code's fixed ADMM penalty equals alpha
            "max_iter": 150,
            "tol": 2e-4,
            "affine": False,
            "l1_share": 1.0,  # no thresholding of C for faces
            **_ELHAMIFAR_SPECTRAL,
        },
        _ELHAMIFAR_VIDAL,
        "face clustering on Extended Yale B (48x42 pixels, no projection)",
    ),
    "elhamifar2013-motion": Preset(
        "SparseSubspaceClustering",
        {
            "solver": "admm",
            "alpha": 800.0,
            "outlier_penalty": None,
            "rho": 800.0,
            "max_iter": 200,
            "tol": 2e-4,
            "affine": True,  # trajectories of an affine camera lie on affine subspaces
            "l1_share": 0.7,  # keep the largest coefficients holding 70 % of each row's l1 mass
            **_ELHAMIFAR_SPECTRAL,
        },
        _ELHAMIFAR_VIDAL,
        "motion segmentation on Hopkins 155 (trajectories, no projection)",
    ),
    # Lu et al.'s face script: unit-norm samples (after a PCA the protocol applies), LSR1
    # (diag(C) = 0), every sample's coefficients scaled to a largest magnitude of one,
    # W = |C| + |C|^T, and k-means on D^(-1/2) times the normalized affinity's leading
    # eigenvectors (clu_ncut.m): scikit-learn's assign_labels='kmeans'.
    "lu2012-lsr1-faces5": Preset(
        "LeastSquaresSubspaceClustering",
        {"regularization": 0.4, **_LU_SPECTRAL},
        _LU_LSR,
        "face clustering on the first 5 subjects of Extended Yale B (32x32, PCA to 30)",
    ),
    "lu2012-lsr1-faces10": Preset(
        "LeastSquaresSubspaceClustering",
        {"regularization": 0.004, **_LU_SPECTRAL},
        _LU_LSR,
        "face clustering on the first 10 subjects of Extended Yale B (32x32, PCA to 60)",
    ),
    # Heckel & Boelcskei's face script: each unit-norm sample linked to its q = 3 most
    # correlated samples with weight exp(-2 arccos |cos|), W = Z + Z^T unscaled, and
    # k-means on the unit rows of the normalized Laplacian's eigenvectors (TSC.m).
    "heckel2015-faces": Preset(
        "ThresholdedSubspaceClustering",
        {
            "n_nearest": 3,
            "normalize": True,
            "affinity": "symmetric",
            "assign_labels": "normalized_kmeans",
        },
        _HECKEL_BOELCSKEI,
        "face clustering on Extended Yale B (48x42 pixels, the protocol of Elhamifar & Vidal)",
    ),
    "you2016-ensc": Preset(
        "SparseSubspaceClustering",
        {"solver": "elastic_net", "alpha": 200.0, "l1_ratio": 0.9, "affinity": "symmetric"},
        _YOU_ENSC,
        "elastic-net subspace clustering of MNIST (scattering + PCA 500)",
    ),
    "you2016-omp": Preset(
        "SparseSubspaceClustering",
        {
            "solver": "omp",
            "n_nonzero": 5,
            "tol": 1e-5,
            "affinity": "symmetric",
            "assign_labels": "normalized_kmeans",
        },
        _YOU_OMP,
        "SSC-OMP on MNIST (scattering + PCA 500)",
    ),
}


@validate_params(
    {
        "name": [str],
        "n_clusters": [Interval(Integral, 1, None, closed="left"), None],
    },
    prefer_skip_nested_validation=False,
)
def make_preset(name, n_clusters=8, **overrides):
    """The estimator of a preset.

    Parameters
    ----------
    name : str
        A key of :data:`PRESETS`.
    n_clusters : int or None, default=8
        None estimates it from the affinity, as the estimators do.
    **overrides
        Parameters to change (``random_state`` in particular); anything
        else departs from the paper.

    Returns
    -------
    estimator : estimator of :mod:`subclust.cluster`

    Raises
    ------
    ValueError
        Unknown preset.

    Examples
    --------
    >>> from subclust.cluster.presets import make_preset
    >>> make_preset("elhamifar2013-faces", 2).outlier_penalty
    'auto'
    >>> make_preset("ssc")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ValueError: Unknown preset 'ssc'; choose one of ['elhamifar2013-faces', ...].
    """
    if name not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}; choose one of {sorted(PRESETS)}.")
    import subclust.cluster

    preset = PRESETS[name]
    cls = getattr(subclust.cluster, preset.estimator)
    return cls(n_clusters=n_clusters, **{**preset.params, **overrides})
