"""AlphaBetaBO's ``feasibility`` option: the acquisition times P(feasible), f* the best
feasible value; all-ones is the unconstrained search exactly (A/A)."""

from __future__ import annotations

import numpy as np
import pytest

from effdl_kit.errors import ConfigError
from effdl_kit.search import AlphaBetaBO, GridSpace


def _space() -> GridSpace:
    return GridSpace({"a": list(range(12)), "b": list(range(10))})


def _f(flat: int) -> float:
    a, b = divmod(flat, 10)
    return -((a - 9) ** 2) - (b - 7) ** 2  # optimum at a = 9, b = 7


def _picks(feasibility: np.ndarray | None, seed: int, n: int = 15) -> list[int]:
    bo = AlphaBetaBO(_space(), seed=seed, omega=0.0, feasibility=feasibility)
    out = []
    for _ in range(n):
        flat = bo.ask_index()
        bo.tell(flat, _f(flat))
        out.append(flat)
    return out


def test_all_ones_is_the_unconstrained_search() -> None:
    for seed in (0, 1):
        assert _picks(np.ones(120), seed) == _picks(None, seed)


def test_infeasible_candidates_are_never_the_argmax() -> None:
    # only a < 6 is feasible (P = 1), the rest P = 0: after the first (random) point the
    # argmax never leaves the feasible half, and it finds that half's optimum (5, 7)
    w = np.array([1.0 if flat // 10 < 6 else 0.0 for flat in range(120)])
    for seed in (0, 1, 2):
        picks = _picks(w, seed, n=25)
        assert all(p // 10 < 6 for p in picks[1:]), picks
        assert 57 in picks


def test_incumbent_is_the_best_feasible_value() -> None:
    w = np.array([1.0 if flat // 10 < 6 else 0.0 for flat in range(120)])
    bo = AlphaBetaBO(_space(), seed=0, feasibility=w)
    bo.tell(97, _f(97))  # the global optimum, infeasible
    bo.tell(10, _f(10))
    assert bo.f_star == _f(10)
    assert bo.best_value == _f(97)


@pytest.mark.parametrize("bad", [np.ones(5), np.full(120, 1.5), np.full(120, np.nan), "x"])
def test_bad_feasibility(bad: object) -> None:
    with pytest.raises(ConfigError, match="feasibility"):
        AlphaBetaBO(_space(), feasibility=bad)
