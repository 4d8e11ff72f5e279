"""Shared checks for tests: the kit's estimators (scikit-learn's contract) and figures.

:func:`check_figure` / :func:`assert_paper_ready` check a drawn figure against the
paper-ready rules (legends off the data and inside the figure, no overlapping tick labels,
text inside the canvas, the kit's style, no raw internal names).

>>> from effdl_kit.testing import check_estimator_contract
>>> check_estimator_contract(lambda: MEDN(epochs=5), X, y)  # doctest: +SKIP
"""

from effdl_kit.testing._checks import (
    CHECKS,
    check_estimator_contract,
    estimator_checks,
    parametrize_with_checks,
)
from effdl_kit.testing._figure_check import (
    RULES,
    FigureProblem,
    assert_paper_ready,
    check_figure,
)

__all__ = ["CHECKS", "RULES", "FigureProblem", "assert_paper_ready", "check_estimator_contract",
           "check_figure", "estimator_checks", "parametrize_with_checks"]
