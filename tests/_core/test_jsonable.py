"""The JSON helpers every results file goes through."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from effdl_kit._core.jsonable import as_float, json_float, records


def test_json_float_maps_non_finite_to_none_and_back_to_nan() -> None:
    assert json_float(None) is None
    assert json_float(np.float32(0.5)) == 0.5 and type(json_float(np.float32(0.5))) is float
    for bad in (math.nan, math.inf, -math.inf):
        assert json_float(bad) is None
        assert math.isnan(as_float(json_float(bad)))
    assert as_float(3) == 3.0


def test_records_are_plain_json_at_full_precision() -> None:
    frame = pd.DataFrame({"a": np.array([1, 2], dtype=np.int64),
                          "b": [0.1 + 0.2, math.nan], "c": ["x", None], 3: [np.inf, 1.0]})
    rows = records(frame)
    assert rows == [{"a": 1, "b": 0.1 + 0.2, "c": "x", "3": None},
                    {"a": 2, "b": None, "c": None, "3": 1.0}]
    assert type(rows[0]["a"]) is int
    json.dumps(rows, allow_nan=False)  # strict JSON: no NaN / Infinity left
