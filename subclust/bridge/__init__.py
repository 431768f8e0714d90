"""The bridge: compare the bases learned by clustering and by trained denoisers."""

from subclust.bridge.equivalence import EquivalenceReport, equivalence_report
from subclust.bridge.attributes import (
    ATTRIBUTES,
    AttributeCorrespondence,
    attribute_correspondence,
    measure_digit,
    measure_digits,
)
from subclust.bridge.jacobian import (
    JacobianBasis,
    RankProfile,
    jacobian_basis,
    jacobian_matrix,
    rank_profile,
)

__all__ = ["EquivalenceReport", "equivalence_report"]
__all__ += [
    "ATTRIBUTES", "AttributeCorrespondence", "attribute_correspondence",
    "measure_digit", "measure_digits",
    "JacobianBasis", "RankProfile", "jacobian_basis", "jacobian_matrix", "rank_profile",
]
