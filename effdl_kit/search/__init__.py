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

__all__ = [
    "ACQUISITIONS",
    "ENCODINGS",
    "INCUMBENTS",
    "KERNELS",
    "PRESETS",
    "AcquisitionName",
    "AlphaBetaBO",
    "AlphaBetaSampler",
    "AuthorsEncoding",
    "EncodingName",
    "GPSpread",
    "GridSpace",
    "IncumbentName",
    "KernelName",
    "PredictorProblem",
    "PresetName",
    "ReferenceRun",
    "SearchResult",
    "alpha_beta_acquisition",
    "base_row",
    "expected_improvement",
    "gp_collapse_report",
    "gp_spread",
    "grid_values",
    "predictor_problem",
    "probability_of_improvement",
    "reference_alpha_beta_bo",
    "sampler_factory",
    "upper_confidence_bound",
]
