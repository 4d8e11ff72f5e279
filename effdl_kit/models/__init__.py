"""Predictors.

The static performance predictor of EfficientDL, and the per-module latency predictors of the
MEDN framework (LR, MLP, RF, MEDN), their metrics and auto-selection.
"""

from effdl_kit.models._factory import make_predictor
from effdl_kit.models._latency_models import (
    ACC_KEYS,
    LATENCY_BUDGETS,
    MODEL_KINDS,
    AutoSelection,
    LatencyEvaluation,
    auto_select,
    evaluate_latency_models,
    fit_latency_models,
    latency_metrics,
    make_latency_model,
    predict_model_latency,
)
from effdl_kit.models._latency_splits import (
    LATENCY_SPLITS,
    SPLITTERS,
    LatencySplit,
    SplitRows,
    split_latency_rows,
)
from effdl_kit.models._medn import MEDN
from effdl_kit.models._static import (
    SPLITS,
    PredictorEvaluation,
    evaluate_predictor,
    make_static_predictor,
)

__all__ = [
    "ACC_KEYS",
    "LATENCY_BUDGETS",
    "LATENCY_SPLITS",
    "MEDN",
    "MODEL_KINDS",
    "SPLITS",
    "SPLITTERS",
    "AutoSelection",
    "LatencyEvaluation",
    "LatencySplit",
    "PredictorEvaluation",
    "SplitRows",
    "auto_select",
    "evaluate_latency_models",
    "evaluate_predictor",
    "fit_latency_models",
    "latency_metrics",
    "make_latency_model",
    "make_predictor",
    "make_static_predictor",
    "predict_model_latency",
    "split_latency_rows",
]
