"""Axes of the sampler's relative search space: lattices of ints and stepped floats, the cube
space built from them, and the decoding of a cube point back to each distribution's values."""

from __future__ import annotations

import numpy as np
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from effdl_kit.search._axes import _axis, _cube_space, _decode, _lattice


def test_lattices_of_ints_and_stepped_floats() -> None:
    ints = _lattice(IntDistribution(0, 4))
    assert ints is not None
    np.testing.assert_allclose(ints, np.array([0.0, 0.25, 0.5, 0.75, 1.0]))
    log = _lattice(IntDistribution(1, 100, log=True))
    assert log is not None and len(log) == 100 and log[0] == 0.0 and log[-1] == 1.0
    assert log[1] == pytest.approx(np.log(2) / np.log(100))
    steps = _lattice(FloatDistribution(0.0, 1.0, step=0.25))
    assert steps is not None
    np.testing.assert_allclose(steps, np.array([0.0, 0.25, 0.5, 0.75, 1.0]))
    assert _lattice(FloatDistribution(0.0, 1.0)) is None  # continuous
    assert _lattice(IntDistribution(0, 10**7)) is None  # too many values: rounded on decode


def test_cube_space_and_decoding_round_trip() -> None:
    dists = {"x": FloatDistribution(1e-4, 1.0, log=True), "n": IntDistribution(2, 10, step=2),
             "c": CategoricalDistribution(["a", None, 3]), "s": FloatDistribution(0, 1, step=0.1)}
    axes = [_axis(k, d, 16) for k, d in dists.items()]
    space = _cube_space(axes)
    assert space.n_features == 6 and space.blocks == [(2, 3)]
    assert [c for c, _ in space.numeric] == [0, 1, 5]
    x = np.array([0.5, 0.6, 0.1, 0.8, 0.0, 0.33])
    space.project(x[None, :])
    vals = {a.name: _decode(a, x[c:c + a.codes.shape[1]])
            for a, c in zip(axes, [0, 1, 2, 5], strict=True)}
    assert vals["x"] == pytest.approx(1e-2)
    assert vals["n"] == 6 and type(vals["n"]) is int
    assert vals["c"] is None
    assert vals["s"] == pytest.approx(0.3)
    for a in axes:
        d = a.distribution
        assert d._contains(d.to_internal_repr(vals[a.name]))
