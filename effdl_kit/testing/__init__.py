"""Shared checks for the kit's estimators (scikit-learn's contract), for tests.

>>> from effdl_kit.testing import check_estimator_contract
>>> check_estimator_contract(lambda: MEDN(epochs=5), X, y)  # doctest: +SKIP
"""

from effdl_kit.testing._checks import (
    CHECKS,
    check_estimator_contract,
    estimator_checks,
    parametrize_with_checks,
)

__all__ = ["CHECKS", "check_estimator_contract", "estimator_checks", "parametrize_with_checks"]
