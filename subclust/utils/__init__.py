"""Helpers every layer shares: the threading policy, progress bars, parameter
validation, result tables and atomic writes. Nothing here knows about subspaces."""
