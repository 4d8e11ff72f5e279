"""Model inspection: permutation importance (numba-accelerated for tree ensembles)."""

from effdl_kit.inspection._permutation import (
    FAST_ESTIMATORS,
    METHODS,
    permutation_importance,
    top_components,
)

__all__ = ["FAST_ESTIMATORS", "METHODS", "permutation_importance", "top_components"]
