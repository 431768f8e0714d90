"""Reproductions of the paper's claims, as functions returning tables and results."""

from subclust.experiments.phase_transition import PhaseTransitionResult, phase_transition

__all__ = ["PhaseTransitionResult", "phase_transition"]
