"""Speed benchmarks: each prints figures and a ratio against its reference, measured in the
same run. ``make bench`` runs them all (``python -m benchmarks``)."""
