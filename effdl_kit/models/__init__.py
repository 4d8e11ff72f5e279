"""Predictors.

The static performance predictor of EfficientDL (and, later, the latency predictors of MEDN).
"""

from effdl_kit.models._static import (
    SPLITS,
    PredictorEvaluation,
    evaluate_predictor,
    make_static_predictor,
)

__all__ = ["SPLITS", "PredictorEvaluation", "evaluate_predictor", "make_static_predictor"]
