"""Fuzzed module configurations: a clear kit error before anything is built, or a module whose
real output shape and parameter count match the spec's."""

from __future__ import annotations

from typing import Any

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from effdl_kit.errors import EffdlError
from effdl_kit.measure import MODULE_PARAMS, make_spec

NAMES = sorted({n for ps in MODULE_PARAMS.values() for n in ps} | {"groups", "bias"})
small = st.one_of(st.integers(-2, 12), st.none(), st.booleans(), st.floats(-2, 12),
                  st.text(max_size=3))


@settings(max_examples=200, deadline=None)
@given(module_type=st.one_of(st.sampled_from(sorted(MODULE_PARAMS)), st.text(max_size=8)),
       params=st.dictionaries(st.sampled_from(NAMES), small, max_size=8))
def test_arbitrary_module_configs(module_type: str, params: dict[str, Any]) -> None:
    try:
        spec = make_spec(module_type, **params)
    except EffdlError:
        return
    module = spec.build().eval()
    x = torch.zeros(spec.input_shape)
    with torch.inference_mode():
        out = module(x)
    out = out[0] if isinstance(out, tuple) else out
    assert tuple(out.shape) == tuple(spec.output_shape)
    assert sum(p.numel() for p in module.parameters()) == spec.n_params
    assert spec.flops >= 0 and spec.memory_bytes > 0


@st.composite
def complete_configs(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    mt = draw(st.sampled_from(sorted(MODULE_PARAMS)))
    values = st.one_of(st.integers(-1, 9), st.integers(1, 6))
    return mt, {k: draw(values) for k in MODULE_PARAMS[mt]}


@settings(max_examples=200, deadline=None)
@given(cfg=complete_configs())
def test_complete_module_configs(cfg: tuple[str, dict[str, Any]]) -> None:
    test_arbitrary_module_configs.hypothesis.inner_test(*cfg)  # type: ignore[attr-defined]


def test_some_fuzzed_configs_are_valid() -> None:
    """The generator above does produce buildable modules (so the checks run)."""
    spec = make_spec("conv2d", batch=1, channels=3, out_channels=4, hw=6, kernel_size=3,
                     stride=1, padding=1)
    test_arbitrary_module_configs.hypothesis.inner_test("conv2d", dict(spec.params))  # type: ignore[attr-defined]
