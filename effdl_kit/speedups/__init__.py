"""Training speedup methods (compute-efficient DL survey): functions plus bench hooks."""
