"""Predictors: the static performance predictor of EfficientDL (and, later, the latency predictors of MEDN)."""
