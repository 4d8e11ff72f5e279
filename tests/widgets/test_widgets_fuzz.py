"""Fuzzed panel parameters: a bad value ends as an error shown in the panel, never a crash."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from effdl_kit._core import SCALES
from effdl_kit.errors import EffdlError
from effdl_kit.measure import MODULE_PARAMS
from effdl_kit.widgets import (
    DiagnosisController,
    LatencyController,
    PredictorController,
    SearchController,
    SpeedupController,
    TrainController,
)

CONTROLLERS = [TrainController, PredictorController, SearchController, LatencyController,
               SpeedupController, DiagnosisController]
#: parameters a run uses (the latency panel ignores the other module types' sizes)
USED = {LatencyController: {"module_type", "split", "seed", "warmup", "repeats",
                            *MODULE_PARAMS["conv2d"]}}
junk = st.one_of(st.none(), st.integers(-10**6, -1), st.floats(allow_nan=True).filter(
    lambda v: v != v or v < 0), st.text(min_size=9, max_size=12), st.lists(st.none(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.none(), min_size=1, max_size=2))


@pytest.mark.parametrize("cls", CONTROLLERS, ids=lambda c: c.__name__)
@settings(max_examples=12, deadline=None, phases=[Phase.generate],
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_bad_values_are_recorded_not_raised(cls: Any, data: st.DataObject) -> None:
    ctrl = cls(scale="smoke")
    key = data.draw(st.sampled_from(sorted(USED.get(cls, ctrl.params))))
    # None is a real value where some scale's default is None ("all rows" for n_train)
    none_ok = any(ctrl.scale_defaults(s).get(key, 0) is None for s in SCALES)
    value = data.draw(junk.filter(lambda v: v is not None) if none_ok else junk)
    ctrl.set(**{key: value})
    result = ctrl.run()  # never raises for bad input
    assert result is None, f"{key}={value!r} was accepted"
    assert ctrl.status == "error" and isinstance(ctrl.exception, EffdlError)
    assert key in str(ctrl.error) or "'" in str(ctrl.error)


@settings(max_examples=10, deadline=None, phases=[Phase.generate])
@given(value=st.one_of(junk, st.sampled_from(["Random", "grouped ", "time-blocked", ""])))
def test_latency_split_fuzz_is_an_error_naming_split(value: Any) -> None:
    ctrl = LatencyController(scale="smoke")
    ctrl.set(split=value)
    assert ctrl.run() is None
    assert ctrl.status == "error" and "split" in str(ctrl.error)
