"""Helpers every layer shares: the threading policy, progress bars, parameter
validation and result tables. Nothing here knows about subspaces."""
