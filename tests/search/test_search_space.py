"""GridSpace: mixed-radix indexing, encodings, distance tables, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from effdl_kit.errors import ConfigError
from effdl_kit.search import GridSpace


@pytest.fixture
def space() -> GridSpace:
    return GridSpace({"lr": [1e-4, 1e-3, 1e-2, 1e-1], "opt": ["sgd", "adam", "rmsprop"],
                      "depth": [2, 3, 4]}, fixed=[0.5, -1.0])


def test_sizes_and_indexing(space: GridSpace) -> None:
    assert space.n_candidates == 36
    assert space.n_features == 1 + 3 + 1 + 2
    flat = np.arange(36)
    codes = space.decode(flat)
    np.testing.assert_array_equal(space.encode_index(codes), flat)
    # the last component varies fastest
    assert space.config(0) == {"lr": 1e-4, "opt": "sgd", "depth": 2}
    assert space.config(1) == {"lr": 1e-4, "opt": "sgd", "depth": 3}
    assert space.config(35) == {"lr": 1e-1, "opt": "rmsprop", "depth": 4}
    assert space.index_of({"lr": 1e-2, "opt": "adam", "depth": 4}) == 2 * 9 + 1 * 3 + 2
    assert [c for c in space.chunks(10)] == [(0, 10), (10, 20), (20, 30), (30, 36)]


def test_default_encoding(space: GridSpace) -> None:
    f = space.features([space.index_of({"lr": 1e-3, "opt": "rmsprop", "depth": 4})])[0]
    # lr: log10 scaled to [0, 1]; opt: one-hot; depth: linear (spans < 10x); fixed appended
    np.testing.assert_allclose(f, [1 / 3, 0, 0, 1, 1.0, 0.5, -1.0])
    off = space.encode_configs([{"lr": 10**-2.5, "opt": "sgd", "depth": 3.5}])[0]
    np.testing.assert_allclose(off, [0.5, 1, 0, 0, 0.75, 0.5, -1.0])


def test_distance_tables_reassemble_squared_distances(space: GridSpace) -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(7, space.n_features))
    table, rest = space.distance_tables(X)
    flat = np.arange(space.n_candidates)
    C = space.features(flat)
    rows = space.decode(flat) + space.offsets[None, :]
    d2 = rest[None, :] + table[rows].sum(axis=1)
    np.testing.assert_allclose(d2, ((C[:, None, :] - X[None]) ** 2).sum(2), rtol=1e-12)


def test_custom_blocks() -> None:
    s = GridSpace({"a": ["x", "y"]}, blocks={"a": [[0.0, 1.0, 2.0], [1.0, 1.0, 1.0]]})
    assert s.n_features == 3
    np.testing.assert_array_equal(s.features([1]), [[1.0, 1.0, 1.0]])


@pytest.mark.parametrize(("args", "field"), [
    ({}, "space"),
    ({"a": []}, "space['a']"),
    ({"a": [1, 1]}, "space['a']"),
    ({"a": "abc"}, "space['a']"),
    ({"a": [1.0, float("nan")]}, "space['a']"),
])
def test_bad_spaces(args: dict[str, list[float]], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        GridSpace(args)
    assert field in str(info.value)


def test_bad_blocks_and_configs(space: GridSpace) -> None:
    with pytest.raises(ConfigError, match="blocks"):
        GridSpace({"a": [1, 2]}, blocks={"a": [[1.0]]})
    with pytest.raises(ConfigError, match="blocks"):
        GridSpace({"a": [1, 2]}, blocks={"b": [[1.0], [2.0]]})
    with pytest.raises(ConfigError, match="opt"):
        space.index_of({"lr": 1e-3, "opt": "lion", "depth": 2})
    with pytest.raises(ConfigError, match="config"):
        space.index_of({"lr": 1e-3})
    with pytest.raises(ConfigError, match="candidate index"):
        space.decode([36])


def test_authors_encoding_one_column_per_component() -> None:
    space = GridSpace({"lr": [1e-3, 1e-2, 1e-1], "aug": ["a", "a,b", "b"],
                       "opt": ["x", "y", "z"]}, encoding="authors")
    assert space.n_features == 3 and space.encoding == "authors"
    f = space.features(np.arange(space.n_candidates))
    # lr: log10(x) / log10(max); aug: bits over [a, b] (a = 10b = 2, "a,b" = 3, b = 1),
    # min-max scaled; opt: index / (n - 1)
    np.testing.assert_allclose(np.unique(f[:, 0]), [1.0, 2.0, 3.0])
    assert space.config(0) == {"lr": 1e-3, "aug": "a", "opt": "x"}
    np.testing.assert_allclose(f[0], [3.0, 0.5, 0.0])
    np.testing.assert_allclose(f[space.index_of({"lr": 1e-1, "aug": "a,b", "opt": "y"})],
                               [1.0, 1.0, 0.5])
    np.testing.assert_allclose(f[space.index_of({"lr": 1e-2, "aug": "b", "opt": "z"})],
                               [2.0, 0.0, 1.0])
    off = space.encode_configs([{"lr": 10**-1.5, "aug": "b", "opt": "x"}])[0]
    np.testing.assert_allclose(off, [1.5, 0.0, 0.0])
    with pytest.raises(ConfigError, match="encoding"):
        GridSpace({"a": [1, 2]}, encoding="onehot")  # type: ignore[arg-type]
