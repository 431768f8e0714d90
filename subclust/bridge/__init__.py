"""The bridge: compare the bases learned by clustering and by trained denoisers."""

from subclust.bridge.equivalence import EquivalenceReport, equivalence_report

__all__ = ["EquivalenceReport", "equivalence_report"]
