"""Search: EfficientDL's αβ-BO (arXiv 2410.14743), acquisition functions and search spaces.

Public API::

    alpha_beta_acquisition, expected_improvement, probability_of_improvement,
    upper_confidence_bound            pure functions of (mean, std, best) arrays (numba)
    GridSpace                         per-component value lists and their GP encoding
                                      (encoding="kit" multi-hot, or "authors": 1 column each)
    AlphaBetaBO, SearchResult         ask/tell/optimize; preset "kit" (fast) or "faithful"
                                      (AlphaBetaBO.faithful: the authors' choices); PRESETS
    AuthorsEncoding                   the authors' one-column-per-component GP encoding
    AlphaBetaSampler                  αβ-BO as an Optuna sampler
    reference_alpha_beta_bo           the kit preset's refit_every=1 loop in plain numpy/
                                      scikit-learn (the kit's own code: a baseline, not the
                                      faithful check; that is tests/search/..._golden.py)
    gp_spread, gp_collapse_report     the faithful GP on prior rows: length scale, σ spread
    predictor_problem, base_row, grid_values
                                      search a fitted static predictor over Top-k components
    load_kit_study, param_importances, trials_frame
                                      in-kernel views of any study the kit wrote (journal
                                      file or RDB): importances (fANOVA, MDI, PED-ANOVA,
                                      seeded) and a readable table of the complete trials
    dashboard_command, dashboard_server
                                      the same study in optuna-dashboard on loopback (a
                                      child process or a thread, stopped with its ``with``
                                      block)
"""

from effdl_kit.search._acquisition import (
    alpha_beta_acquisition,
    expected_improvement,
    probability_of_improvement,
    upper_confidence_bound,
)
from effdl_kit.search._alpha_beta_bo import (
    ACQUISITIONS,
    INCUMBENTS,
    PRESETS,
    AcquisitionName,
    AlphaBetaBO,
    IncumbentName,
    PresetName,
    SearchResult,
)
from effdl_kit.search._authors import AuthorsEncoding
from effdl_kit.search._dashboard import (
    DASHBOARD_MODES,
    DashboardMode,
    dashboard_command,
    dashboard_server,
    free_port,
)
from effdl_kit.search._gp import KERNELS, KernelName
from effdl_kit.search._gp_check import GPSpread, gp_collapse_report, gp_spread
from effdl_kit.search._predictor import (
    PredictorProblem,
    base_row,
    grid_values,
    predictor_problem,
)
from effdl_kit.search._reference import ReferenceRun, reference_alpha_beta_bo
from effdl_kit.search._sampler import AlphaBetaSampler, sampler_factory
from effdl_kit.search._space import ENCODINGS, EncodingName, GridSpace
from effdl_kit.search._study_views import (
    IMPORTANCE_EVALUATORS,
    KIT_STUDY_ATTRS,
    KIT_TRIAL_ATTRS,
    ImportanceEvaluatorName,
    load_kit_study,
    param_importances,
    trials_frame,
)

__all__ = [
    "ACQUISITIONS",
    "DASHBOARD_MODES",
    "ENCODINGS",
    "IMPORTANCE_EVALUATORS",
    "INCUMBENTS",
    "KERNELS",
    "KIT_STUDY_ATTRS",
    "KIT_TRIAL_ATTRS",
    "PRESETS",
    "AcquisitionName",
    "AlphaBetaBO",
    "AlphaBetaSampler",
    "AuthorsEncoding",
    "DashboardMode",
    "EncodingName",
    "GPSpread",
    "GridSpace",
    "ImportanceEvaluatorName",
    "IncumbentName",
    "KernelName",
    "PredictorProblem",
    "PresetName",
    "ReferenceRun",
    "SearchResult",
    "alpha_beta_acquisition",
    "base_row",
    "dashboard_command",
    "dashboard_server",
    "expected_improvement",
    "free_port",
    "gp_collapse_report",
    "gp_spread",
    "grid_values",
    "load_kit_study",
    "param_importances",
    "predictor_problem",
    "probability_of_improvement",
    "reference_alpha_beta_bo",
    "sampler_factory",
    "trials_frame",
    "upper_confidence_bound",
]
