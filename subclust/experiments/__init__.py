"""Reproductions of the paper's claims, as functions returning tables and results."""

from subclust.experiments.phase_transition import PhaseTransitionResult, phase_transition
from subclust.experiments.memorization import (
    MemorizationResult,
    classify_samples,
    memorization_shares,
    memorization_sweep,
)

__all__ = ["PhaseTransitionResult", "phase_transition"]
__all__ += ["MemorizationResult", "classify_samples", "memorization_shares", "memorization_sweep"]
from subclust.experiments.generation import (
    DenoiserComparison,
    ImageGeneration,
    compare_denoisers,
    generate_images,
    molrg_comparison,
)
from subclust.experiments.wasserstein_rate import RateResult, wasserstein_rate

__all__ += ["DenoiserComparison", "ImageGeneration", "compare_denoisers", "generate_images",
            "molrg_comparison", "RateResult", "wasserstein_rate"]
from subclust.experiments.subspace_score import SubspaceScoreResult, subspace_score_experiment

__all__ += ["SubspaceScoreResult", "subspace_score_experiment"]
from subclust.experiments.minkowski_score import (
    MinkowskiScoreResult,
    box_counting_dimension,
    embed_isometric,
    minkowski_score,
    sample_set,
)

__all__ += ["MinkowskiScoreResult", "box_counting_dimension", "embed_isometric",
            "minkowski_score", "sample_set"]
from subclust.experiments.network_transition import (
    NetworkTransitionResult,
    fit_crossing,
    fit_line,
    network_transition,
)

__all__ += ["NetworkTransitionResult", "fit_crossing", "fit_line", "network_transition"]
