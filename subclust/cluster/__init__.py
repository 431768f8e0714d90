"""Subspace-clustering estimators with the scikit-learn API."""

from subclust.cluster._k_subspaces import KSubspaces, k_subspaces

__all__ = ["KSubspaces", "k_subspaces"]
