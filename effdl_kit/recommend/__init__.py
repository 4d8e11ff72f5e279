"""Latency-aware component recommendation: the four papers joined (issue 19).

Which components should I train, on this machine, for the best accuracy under an
inference-latency budget, without training every candidate? EfficientDL's static predictor
scores configurations, each candidate's untrained network gets a latency predicted by the MEDN
framework's auto-selected per-module models (calibrated on whole models measured on the
device), and αβ-BO searches with its acquisition weighted by P(latency <= budget).

Public API::

    recommend(task, device, latency_budget_ms, ...) -> Recommendation
    Recommendation               ranked table(), pareto(), train_configs(), to_json/from_json
    confirm(rec, top) -> Confirmation
                                 the top candidates trained (BTTackler-guarded) and timed
    train_and_measure            one candidate trained and timed (shared with the comparison)
    check_request                the input checks recommend runs before any work
    prepare, search_candidates   the two halves of recommend (shared fitted parts)
    LatencyPredictor, Calibration, calibrate, fit_latency_predictor
                                 per-module latency ensemble and its whole-model calibration
    build_whole_models, load_whole_models, calibrate_predictor, whole_models_path
                                 the whole-model measurements behind the calibration
    CandidateSpace, candidate_space, build_candidate, architecture_key
                                 the static predictor's grid and the candidates' networks
    RecommendBudget, TASKS, DEVICE_KINDS, MODES, LATENCY_COMPONENTS, INTERVAL
"""

from effdl_kit.recommend._calibration import (
    build_whole_models,
    calibrate_predictor,
    load_whole_models,
    whole_models_path,
)
from effdl_kit.recommend._candidates import (
    CandidateSpace,
    architecture_key,
    build_candidate,
    candidate_space,
)
from effdl_kit.recommend._confirm import (
    CONFIRM_FORMAT,
    MEASURE_PROTOCOL,
    Confirmation,
    TrainedCandidate,
    confirm,
    train_and_measure,
)
from effdl_kit.recommend._latency import (
    Calibration,
    LatencyPredictor,
    calibrate,
    fit_latency_predictor,
)
from effdl_kit.recommend._recommend import (
    check_request,
    latency_devices,
    prepare,
    recommend,
    search_candidates,
)
from effdl_kit.recommend._result import RESULT_FORMAT, Recommendation
from effdl_kit.recommend._settings import (
    DEVICE_KINDS,
    INTERVAL,
    LATENCY_COMPONENTS,
    MODES,
    TASKS,
    Mode,
    RecommendBudget,
    TaskName,
)

__all__ = [
    "CONFIRM_FORMAT",
    "DEVICE_KINDS",
    "INTERVAL",
    "LATENCY_COMPONENTS",
    "MEASURE_PROTOCOL",
    "MODES",
    "RESULT_FORMAT",
    "TASKS",
    "Calibration",
    "CandidateSpace",
    "Confirmation",
    "LatencyPredictor",
    "Mode",
    "RecommendBudget",
    "Recommendation",
    "TaskName",
    "TrainedCandidate",
    "architecture_key",
    "build_candidate",
    "build_whole_models",
    "calibrate",
    "calibrate_predictor",
    "candidate_space",
    "check_request",
    "confirm",
    "fit_latency_predictor",
    "latency_devices",
    "load_whole_models",
    "prepare",
    "recommend",
    "search_candidates",
    "train_and_measure",
    "whole_models_path",
]
