"""The shared estimator battery passes a good estimator and catches each broken contract."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.linear_model import Ridge
from sklearn.utils.validation import check_is_fitted, validate_data

from effdl_kit.errors import ConfigError
from effdl_kit.testing import (
    CHECKS,
    check_estimator_contract,
    estimator_checks,
    parametrize_with_checks,
)

RNG = np.random.default_rng(0)
X = RNG.uniform(1.0, 10.0, size=(40, 3))
y = 1.0 + X @ np.array([0.5, 0.2, 0.1])


class Good(RegressorMixin, BaseEstimator):
    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = alpha

    def fit(self, X: Any, y: Any) -> Good:
        X, y = validate_data(self, X, y)
        self.coef_ = np.linalg.lstsq(X, y, rcond=None)[0]
        return self

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return np.asarray(X @ self.coef_, dtype=float)


class SetsInInit(Good):
    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = alpha
        self.cache = {}  # not a parameter


class ValidatesInInit(Good):
    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = float(alpha) * 1.0 if alpha != 1 else 1.0


class NoSelf(Good):
    def fit(self, X: Any, y: Any) -> Any:  # type: ignore[override]
        super().fit(X, y)
        return None


class PublicAttr(Good):
    def fit(self, X: Any, y: Any) -> PublicAttr:
        super().fit(X, y)
        self.weights = self.coef_  # no trailing underscore
        return self


class Noisy(Good):
    def predict(self, X: Any) -> np.ndarray:
        return super().predict(X) + np.random.default_rng().normal(size=len(X))


class ChangesParams(Good):
    def fit(self, X: Any, y: Any) -> ChangesParams:
        self.alpha = 2.0
        return super().fit(X, y)  # type: ignore[return-value]


class Remembers(Good):
    def fit(self, X: Any, y: Any) -> Remembers:
        first = not hasattr(self, "coef_")
        super().fit(X, y)
        if not first:
            self.coef_ = self.coef_ * 1.01
        return self


class NoChecks(Good):
    def predict(self, X: Any) -> np.ndarray:
        if not hasattr(self, "coef_"):
            return np.zeros(len(X))
        return np.asarray(np.asarray(X)[:, : len(self.coef_)] @ self.coef_, dtype=float)


def test_good_estimators_pass_every_check() -> None:
    assert check_estimator_contract(Good, X, y) == list(CHECKS)
    assert check_estimator_contract(lambda: Ridge(alpha=0.1), X, y) == list(CHECKS)
    assert check_estimator_contract(Good, X, y, checks=["fit_returns_self"]) == [
        "fit_returns_self"]


@pytest.mark.parametrize(("cls", "check"), [
    (SetsInInit, "init_stores_args_only"),
    (NoSelf, "fit_returns_self"),
    (PublicAttr, "fitted_attributes"),
    (Noisy, "fit_is_deterministic"),
    (ChangesParams, "fit_keeps_params_and_data"),
    (Remembers, "refit_forgets"),
    (NoChecks, "unfitted_predict_raises"),
])
def test_each_broken_contract_is_caught(cls: type, check: str) -> None:
    with pytest.raises(AssertionError, match=check):
        check_estimator_contract(cls, X, y)


def test_validating_in_init_is_caught_when_it_changes_the_value() -> None:
    with pytest.raises(AssertionError, match="clone_and_set_params"):
        check_estimator_contract(lambda: ValidatesInInit(alpha=2), X, y)


def test_bad_arguments() -> None:
    with pytest.raises(ConfigError, match="estimator_factory"):
        check_estimator_contract(Good(), X, y)  # an instance, not a factory
    with pytest.raises(ConfigError):
        check_estimator_contract(Good, X[:4], y[:4])
    with pytest.raises(ConfigError, match="checks"):
        check_estimator_contract(Good, X, y, checks=["nope"])
    assert [name for name, _ in estimator_checks(Good, X, y)] == list(CHECKS)


@parametrize_with_checks({"good": Good, "ridge": lambda: Ridge()}, X, y)
def test_parametrize_with_checks(check: Any) -> None:
    check()
