"""Model inspection: permutation importance (numba-accelerated for tree ensembles)."""
