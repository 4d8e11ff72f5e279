"""Fuzzed search spaces and optimiser settings: a clear kit error or a working optimiser."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from effdl_kit.errors import EffdlError
from effdl_kit.search import AlphaBetaBO, GridSpace

FUZZ = settings(max_examples=60, deadline=None)

values = st.one_of(st.none(), st.booleans(), st.integers(-5, 5),
                   st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=4))
value_lists = st.one_of(values, st.lists(values, max_size=5), st.text(max_size=5))
spaces = st.dictionaries(st.text(min_size=1, max_size=5), value_lists, max_size=4)


@FUZZ
@given(space=spaces)
def test_arbitrary_spaces(space: dict[str, Any]) -> None:
    try:
        s = GridSpace(space)
    except EffdlError:
        return
    n = s.n_candidates
    assert n == math.prod(len(v) for v in s.values) >= 1
    feats = s.features(np.arange(min(n, 50)))
    assert feats.shape == (min(n, 50), s.n_features) and np.isfinite(feats).all()


@FUZZ
@given(kwargs=st.fixed_dictionaries({}, optional={
    "alpha": values, "beta": values, "omega": values, "refit_every": values,
    "n_restarts": values, "noise": values, "nu": values, "max_candidates": values,
    "acquisition": values, "kappa": values, "seed": values, "allow_repeats": values}))
def test_arbitrary_settings(kwargs: dict[str, Any]) -> None:
    space = {"a": [0.0, 0.5, 1.0], "b": ["x", "y"]}
    try:
        bo = AlphaBetaBO(space, **kwargs)
    except EffdlError:
        return
    res = bo.optimize(lambda c: -abs(c["a"] - 0.5) + (c["b"] == "y"), 3, n_initial=2)
    assert len(res.history) == 5 and np.isfinite(res.best_value)


@FUZZ
@given(y=st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=4),
       width=st.integers(0, 4))
def test_arbitrary_observations(y: list[float], width: int) -> None:
    bo = AlphaBetaBO({"a": [0.0, 0.5, 1.0]}, seed=0, n_restarts=0)
    X = np.random.default_rng(0).random((len(y), width))
    try:
        bo.tell_features(X, y)
    except EffdlError:
        assert bo.n_observations == 0  # nothing half-recorded
        return
    assert bo.n_observations == len(y)
    assert 0 <= bo.ask_index() < 3
