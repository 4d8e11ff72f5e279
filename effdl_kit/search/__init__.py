"""Search: EfficientDL's αβ-BO (arXiv 2410.14743), acquisition functions and search spaces.

Public API::

    alpha_beta_acquisition, expected_improvement, probability_of_improvement,
    upper_confidence_bound            pure functions of (mean, std, best) arrays (numba)
    GridSpace                         per-component value lists and their GP encoding
    AlphaBetaBO, SearchResult         ask/tell/optimize; faithful (refit_every=1) or fast mode
    AlphaBetaSampler                  αβ-BO as an Optuna sampler
    reference_alpha_beta_bo           the plain numpy/scikit-learn loop, for checks and benchmarks
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
    AcquisitionName,
    AlphaBetaBO,
    SearchResult,
)
from effdl_kit.search._gp import KERNELS, KernelName
from effdl_kit.search._predictor import (
    PredictorProblem,
    base_row,
    grid_values,
    predictor_problem,
)
from effdl_kit.search._reference import ReferenceRun, reference_alpha_beta_bo
from effdl_kit.search._sampler import AlphaBetaSampler, sampler_factory
from effdl_kit.search._space import GridSpace

__all__ = [
    "ACQUISITIONS",
    "KERNELS",
    "AcquisitionName",
    "AlphaBetaBO",
    "AlphaBetaSampler",
    "GridSpace",
    "KernelName",
    "PredictorProblem",
    "ReferenceRun",
    "SearchResult",
    "alpha_beta_acquisition",
    "base_row",
    "expected_improvement",
    "grid_values",
    "predictor_problem",
    "probability_of_improvement",
    "reference_alpha_beta_bo",
    "sampler_factory",
    "upper_confidence_bound",
]
