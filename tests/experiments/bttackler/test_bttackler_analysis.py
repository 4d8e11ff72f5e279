"""The analysis re-computed from the stored runs of the fixture (written before the experiment
became a package) equals what was stored then; the typed views round-trip the stored records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from effdl_kit.experiments.bttackler import (
    Comparison,
    Headline,
    aggregate,
    compare_runs,
    headline,
    headline_table,
    indicator_counts,
)

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def payload() -> dict[str, Any]:
    return dict(json.loads((FIXTURES / "results.json").read_text(encoding="utf-8")))


def test_the_analysis_of_the_stored_runs_equals_the_stored_analysis(
        payload: dict[str, Any]) -> None:
    runs = payload["runs"]
    comparisons = compare_runs(runs)
    assert comparisons == payload["comparisons"]
    assert aggregate(runs, comparisons) == payload["aggregate"]
    assert indicator_counts(runs) == payload["indicators"]
    assert headline(comparisons, runs) == payload["headline"]
    # the same keys in the same order: results.json stays the same file
    assert [list(c) for c in comparisons] == [list(c) for c in payload["comparisons"]]
    assert list(headline(comparisons, runs)) == list(payload["headline"])


def test_typed_views_round_trip_the_stored_records(payload: dict[str, Any]) -> None:
    for rec in payload["comparisons"]:
        c = Comparison.from_json(rec)
        assert c.to_json() == rec and isinstance(c.reached, bool)
    head = Headline.from_json(payload["headline"])
    assert head.to_json() == payload["headline"]
    assert head.variants["bttackler"].tsba == payload["headline"]["tsba_bttackler"]
    assert head.trials["plain"] == payload["headline"]["trials_plain"]


def test_an_older_headline_without_some_numbers_gives_nan_in_the_table() -> None:
    table = headline_table({"n_comparisons": 1, "tsba_bttackler": 12.5})
    kit = dict(zip(table["quantity"], table["kit"], strict=True))
    assert kit["TSBA, BTTackler (%)"] == 12.5
    assert all(v != v for q, v in kit.items() if q != "TSBA, BTTackler (%)")  # NaN
    assert table["paper"].notna().sum() == 3  # the paper's three numbers
