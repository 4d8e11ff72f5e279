"""One battery of checks for every predictor in the kit (scikit-learn's estimator contract).

Like scikit-learn's ``parametrize_with_checks``, but on the data the predictor is meant for
(the kit's predictors may, for instance, need a positive target). Each check takes an
``estimator_factory`` (a zero-argument callable returning a new, unfitted estimator), ``X``
(n_samples, n_features) and ``y`` (n_samples,) and raises ``AssertionError`` naming what broke.

Checks (:data:`CHECKS`, in order):

``init_stores_args_only``
    ``__init__`` sets exactly the parameters of its signature, nothing else, unchanged;
    ``get_params`` returns them.
``clone_and_set_params``
    ``sklearn.clone`` gives an equal-parameter, unfitted copy (it fails when ``__init__``
    modifies a parameter); ``set_params`` round-trips.
``unfitted_predict_raises``
    ``predict`` before ``fit`` raises ``NotFittedError``.
``fit_returns_self``
    ``fit`` returns the estimator itself.
``fitted_attributes``
    after ``fit``: ``n_features_in_`` is set, at least one other ``attr_`` attribute,
    no public attribute without a trailing underscore was added, ``check_is_fitted`` passes.
``fit_keeps_params_and_data``
    ``fit`` changes neither ``get_params()`` nor ``X`` / ``y``.
``predict_shape_and_finite``
    ``predict`` returns a finite float array of shape (n_samples,); ``score`` returns a float.
``fit_is_deterministic``
    two fits of two estimators from the factory predict the same.
``refit_forgets``
    fitting on other data then on ``X, y`` predicts like a fresh fit on ``X, y``.
``pickle_round_trip``
    a pickled and unpickled fitted estimator predicts the same.
``wrong_n_features_raises``
    ``predict`` with one column fewer raises ``ValueError``.
``bad_input_raises``
    NaN in ``X`` and ``y`` of the wrong length raise ``ValueError`` in ``fit``.
``dataframe_input``
    a DataFrame with string columns is accepted and predicts like the array.
"""

from __future__ import annotations

import copy
import inspect
import pickle
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

__all__ = [
    "CHECKS",
    "check_estimator_contract",
    "estimator_checks",
    "parametrize_with_checks",
]

Factory = Callable[[], Any]
Check = Callable[[Factory, np.ndarray, np.ndarray], None]


def _params_of(est: Any) -> dict[str, Any]:
    sig = inspect.signature(type(est).__init__)
    return {n: p for n, p in sig.parameters.items()
            if n != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    try:
        if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
            return bool(np.array_equal(a, b))
        if hasattr(a, "get_params") and hasattr(b, "get_params"):
            return type(a) is type(b) and repr(a) == repr(b)
        return bool(a == b) and type(a) is type(b)
    except Exception:
        return repr(a) == repr(b)


def _predict_close(a: np.ndarray, b: np.ndarray, what: str) -> None:
    assert np.allclose(a, b, rtol=1e-6, atol=1e-9), f"{what}: predictions differ " \
        f"(max abs diff {float(np.max(np.abs(a - b))):.3g})"


def check_init_stores_args_only(factory: Factory, X: np.ndarray, y: np.ndarray) -> None:
    est = factory()
    names = set(_params_of(est))
    attrs = {k for k in vars(est) if not k.startswith("_")}
    assert attrs == names, (f"__init__ must set exactly its parameters as attributes; extra "
                            f"{sorted(attrs - names)}, missing {sorted(names - attrs)}")
    params = est.get_params(deep=False)
    assert set(params) == names, f"get_params keys {sorted(params)} != {sorted(names)}"
    for k in names:
        assert params[k] is getattr(est, k), f"get_params()[{k!r}] is not the attribute"


def check_clone_and_set_params(factory: Factory, X: np.ndarray, y: np.ndarray) -> None:
    from sklearn.base import clone

    est = factory()
    try:
        c = clone(est)
    except RuntimeError as exc:  # sklearn: __init__ modified a parameter
        raise AssertionError(f"clone failed: {exc}") from exc
    assert type(c) is type(est) and c is not est
    p1, p2 = est.get_params(deep=False), c.get_params(deep=False)
    assert p1.keys() == p2.keys()
    for k in p1:
        assert _same(p1[k], p2[k]), f"clone changed parameter {k!r}: {p1[k]!r} -> {p2[k]!r}"
    assert c.set_params(**p1) is c, "set_params must return the estimator"
    for k in p1:
        assert _same(c.get_params(deep=False)[k], p1[k]), f"set_params lost {k!r}"


def check_unfitted_predict_raises(factory: Factory, X: np.ndarray, y: np.ndarray) -> None:
    from sklearn.exceptions import NotFittedError

    try:
        factory().predict(X)
    except NotFittedError:
        return
    raise AssertionError("predict before fit must raise sklearn's NotFittedError")


def check_fit_returns_self(factory: Factory, X: np.ndarray, y: np.ndarray) -> None:
    est = factory()
    assert est.fit(X, y) is est, "fit must return self"


def check_fitted_attributes(factory: Factory, X: np.ndarray, y: np.ndarray) -> None:
    from sklearn.utils.validation import check_is_fitted

    est = factory()
    before = set(vars(est))
    est.fit(X, y)
    added = set(vars(est)) - before
    public = {a for a in added if not a.startswith("_")}
    bad = sorted(a for a in public if not a.endswith("_"))
    assert not bad, f"fit added public attributes without a trailing underscore: {bad}"
    assert getattr(est, "n_features_in_", None) == X.shape[1], "n_features_in_ not set"
    assert public - {"n_features_in_"}, "fit set no fitted attribute besides n_features_in_"
    check_is_fitted(est)


def check_fit_keeps_params_and_data(factory: Factory, X: np.ndarray, y: np.ndarray) -> None:
    est = factory()
    params = {k: copy.deepcopy(v) for k, v in est.get_params(deep=False).items()}
    Xc, yc = X.copy(), y.copy()
    est.fit(Xc, yc)
    assert np.array_equal(Xc, X) and np.array_equal(yc, y), "fit modified X or y"
    after = est.get_params(deep=False)
    for k, v in params.items():
        assert _same(after[k], v), f"fit changed parameter {k!r}: {v!r} -> {after[k]!r}"


def check_predict_shape_and_finite(factory: Factory, X: np.ndarray, y: np.ndarray) -> None:
    est = factory().fit(X, y)
    p = np.asarray(est.predict(X))
    assert p.shape == (len(X),), f"predict returned shape {p.shape}, expected ({len(X)},)"
    assert np.issubdtype(p.dtype, np.floating), f"predict returned dtype {p.dtype}"
    assert np.all(np.isfinite(p)), "predict returned NaN or inf"
    s = est.score(X, y)
    assert isinstance(s, float | np.floating), f"score returned {type(s).__name__}"


def check_fit_is_deterministic(factory: Factory, X: np.ndarray, y: np.ndarray) -> None:
    a = factory().fit(X, y).predict(X)
    b = factory().fit(X, y).predict(X)
    _predict_close(np.asarray(a), np.asarray(b), "two fits with the same parameters")


def check_refit_forgets(factory: Factory, X: np.ndarray, y: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    other_X = X[rng.permutation(len(X))][: max(len(X) // 2, 4)] * 1.5
    other_y = y[: len(other_X)][::-1].copy()
    est = factory().fit(other_X, other_y).fit(X, y)
    fresh = factory().fit(X, y)
    _predict_close(np.asarray(est.predict(X)), np.asarray(fresh.predict(X)),
                   "a refit and a fresh fit")


def check_pickle_round_trip(factory: Factory, X: np.ndarray, y: np.ndarray) -> None:
    est = factory().fit(X, y)
    back = pickle.loads(pickle.dumps(est))
    _predict_close(np.asarray(est.predict(X)), np.asarray(back.predict(X)), "after pickling")


def check_wrong_n_features_raises(factory: Factory, X: np.ndarray, y: np.ndarray) -> None:
    est = factory().fit(X, y)
    try:
        est.predict(X[:, :-1])
    except ValueError:
        return
    raise AssertionError("predict with a different number of features must raise ValueError")


def check_bad_input_raises(factory: Factory, X: np.ndarray, y: np.ndarray) -> None:
    bad = X.astype(float).copy()
    bad[0, 0] = np.nan
    for what, args in (("NaN in X", (bad, y)), ("y of the wrong length", (X, y[:-1]))):
        try:
            factory().fit(*args)
        except ValueError:
            continue
        raise AssertionError(f"fit with {what} must raise ValueError")


def check_dataframe_input(factory: Factory, X: np.ndarray, y: np.ndarray) -> None:
    import pandas as pd

    cols = [f"f{i}" for i in range(X.shape[1])]
    df = pd.DataFrame(X, columns=cols)
    est = factory().fit(df, y)
    _predict_close(np.asarray(est.predict(df)), np.asarray(factory().fit(X, y).predict(X)),
                   "DataFrame vs array input")
    names = getattr(est, "feature_names_in_", None)
    assert names is None or list(names) == cols, "feature_names_in_ differs from the columns"


#: name -> check, in the order they run
CHECKS: dict[str, Check] = {
    "init_stores_args_only": check_init_stores_args_only,
    "clone_and_set_params": check_clone_and_set_params,
    "unfitted_predict_raises": check_unfitted_predict_raises,
    "fit_returns_self": check_fit_returns_self,
    "fitted_attributes": check_fitted_attributes,
    "fit_keeps_params_and_data": check_fit_keeps_params_and_data,
    "predict_shape_and_finite": check_predict_shape_and_finite,
    "fit_is_deterministic": check_fit_is_deterministic,
    "refit_forgets": check_refit_forgets,
    "pickle_round_trip": check_pickle_round_trip,
    "wrong_n_features_raises": check_wrong_n_features_raises,
    "bad_input_raises": check_bad_input_raises,
    "dataframe_input": check_dataframe_input,
}


def _prepare(estimator_factory: Any, X: Any, y: Any) -> tuple[Factory, np.ndarray, np.ndarray]:
    from effdl_kit._core.errors import ConfigError

    if not callable(estimator_factory):
        raise ConfigError("estimator_factory", estimator_factory,
                          "a zero-argument callable returning a new estimator")
    Xa = np.asarray(X, dtype=np.float64)
    ya = np.asarray(y, dtype=np.float64)
    if Xa.ndim != 2 or ya.ndim != 1 or len(Xa) != len(ya) or len(Xa) < 8 or Xa.shape[1] < 2:
        raise ConfigError("X, y", (Xa.shape, ya.shape),
                          "X of shape (n >= 8, p >= 2) and y of shape (n,)")
    return estimator_factory, Xa, ya


def estimator_checks(estimator_factory: Factory, X: Any, y: Any
                     ) -> Iterator[tuple[str, Callable[[], None]]]:
    """``(name, run)`` pairs, one per check of :data:`CHECKS`, bound to the arguments."""
    factory, Xa, ya = _prepare(estimator_factory, X, y)
    for name, check in CHECKS.items():
        def run(check: Check = check) -> None:
            check(factory, Xa, ya)

        yield name, run


def check_estimator_contract(estimator_factory: Factory, X: Any, y: Any, *,
                             checks: list[str] | None = None) -> list[str]:
    """Run the battery; return the names of the checks run (all passed).

    Parameters
    ----------
    estimator_factory : callable
        Returns a new, unfitted estimator each call.
    X : array-like, shape (n_samples, n_features)
        At least 8 rows and 2 columns.
    y : array-like, shape (n_samples,)
        A target the estimator accepts (latencies: > 0).
    checks : list of str, optional
        A subset of :data:`CHECKS` (default: all).

    Raises
    ------
    AssertionError
        The first failing check, its name first in the message.
    ConfigError
        A bad factory, ``X``/``y`` shape or check name.
    """
    from effdl_kit._core.validate import check_choice

    wanted = list(CHECKS) if checks is None else [check_choice("checks", c, tuple(CHECKS))
                                                  for c in checks]
    done = []
    for name, run in estimator_checks(estimator_factory, X, y):
        if name not in wanted:
            continue
        try:
            run()
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from exc
        done.append(name)
    return done


def parametrize_with_checks(factories: dict[str, Factory], X: Any, y: Any) -> Any:
    """A ``pytest.mark.parametrize`` over (estimator, check) pairs, like scikit-learn's.

    The decorated test takes one argument, ``check``: a zero-argument callable.

    Examples
    --------
    >>> @parametrize_with_checks({"medn": lambda: MEDN(epochs=5)}, X, y)  # doctest: +SKIP
    ... def test_contract(check):
    ...     check()
    """
    import pytest

    cases = []
    for est_name, factory in factories.items():
        for check_name, run in estimator_checks(factory, X, y):
            cases.append(pytest.param(run, id=f"{est_name}-{check_name}"))
    return pytest.mark.parametrize("check", cases)
