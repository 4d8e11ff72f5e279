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
    RecommendController,
    SearchController,
    SpeedupController,
    TrainController,
)

CONTROLLERS = [TrainController, PredictorController, SearchController, LatencyController,
               SpeedupController, DiagnosisController, RecommendController]
#: parameters a run uses (the latency panel ignores the other module types' sizes)
USED = {LatencyController: {"module_type", "split", "seed", "warmup", "repeats",
                            *MODULE_PARAMS["conv2d"]}}
# an empty list is a real value for list parameters (no baselines), so lists hold junk
junk = st.one_of(st.none(), st.integers(-10**6, -1), st.floats(allow_nan=True).filter(
    lambda v: v != v or v < 0), st.text(min_size=9, max_size=12),
    st.lists(st.none(), min_size=1, max_size=2),
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


# ---------------------------------------------------------------- typed text in the number fields
_PANELS: dict[str, Any] = {}


def _panel(name: str) -> Any:
    """One panel per kind for all examples (building one is the slow part)."""
    from effdl_kit.widgets import (
        LatencyPanel,
        PredictorPanel,
        RecommendPanel,
        SearchPanel,
        SpeedupPanel,
    )

    if name not in _PANELS:
        make = {"search": SearchPanel, "predictor": PredictorPanel, "latency": LatencyPanel,
                "speedup": SpeedupPanel, "recommend": RecommendPanel}[name]
        _PANELS[name] = make(scale="smoke", interactive=False)
    return _PANELS[name]


typed = st.one_of(st.text(max_size=8), st.integers(-10**7, 10**7).map(str),
                  st.floats(allow_nan=True, allow_infinity=True).map(repr),
                  st.sampled_from(["abc", "5000", "-5", "0", "2.5", "1e3", " 7 ", ""]))


@pytest.mark.parametrize("name", ["search", "predictor", "latency", "speedup", "recommend"])
@settings(max_examples=15, deadline=None, phases=[Phase.generate],
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_typed_text_is_a_value_or_an_error_beside_its_field(name: str,
                                                            data: st.DataObject) -> None:
    from effdl_kit.widgets import NumberEntry

    panel = _panel(name)
    shown = set(panel.relevant_controls()) if name == "latency" else set(panel.controls)
    entries = {k: w for k, w in panel.controls.items()
               if isinstance(w, NumberEntry) and k in shown}
    key = data.draw(st.sampled_from(sorted(entries)))
    entry = entries[key]
    before = entry.value
    text = data.draw(typed)
    entry.text.value = text
    value, problem = entry.parse(text)
    try:
        if problem:
            assert entry.value == before, "a bad typed value never replaces the value"
            assert panel.error_text(key) == problem
            assert panel.start() is False  # refused before any work
            assert panel.controller.status == "error" and panel.controller.error_field == key
        else:
            assert entry.value == value and panel.error_text(key) == ""
            if entry.low is not None:
                assert value >= entry.low  # accepted as typed, inside the hard limits
            if entry.high is not None:
                assert value <= entry.high
    finally:
        entry.value = before
        if entry.text.value != entry.format(before):
            entry.text.value = entry.format(before)
