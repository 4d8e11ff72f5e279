"""Whole models measured on a device: the held-out set the latency interval is calibrated on.

The per-module latency models never see these: each row is a whole candidate network (the
model components drawn from the kit's component space, on one of the tasks, batch 1),
built by the training bench and timed with :func:`~effdl_kit.measure.measure_latency` (warm-up
then timed calls, median kept, device state read just before). The shipped set is
``data/whole_models_cpu.json`` (:func:`build_whole_models`, its provenance inside the file);
:func:`calibrate_predictor` predicts each of them at its recorded device state and fits the
interval's bias and scale (:func:`~._latency.calibrate`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from effdl_kit._core.errors import DataError
from effdl_kit._core.io import atomic_write_text
from effdl_kit._core.validate import check_int
from effdl_kit.recommend._candidates import build_candidate
from effdl_kit.recommend._latency import Calibration, LatencyPredictor, calibrate
from effdl_kit.recommend._settings import TASKS

__all__ = ["WHOLE_FORMAT", "build_whole_models", "calibrate_predictor", "load_whole_models",
           "whole_models_path"]

WHOLE_FORMAT = "effdl-whole-model-latency/1"
_ROW_KEYS = ("task", "components", "measured_ms", "mem_available_mib", "utilization_pct",
             "load_avg_1m")


def whole_models_path(device: str) -> Path:
    """``<repo>/data/whole_models_{device}.json`` (device kind ``"cpu"`` or ``"gpu"``)."""
    return Path(__file__).resolve().parents[2] / "data" / f"whole_models_{device}.json"


def _sample_components(rng: np.random.Generator) -> dict[str, Any]:
    from effdl_kit.data import COMPONENT_GROUPS, default_component_space

    space = default_component_space().values
    out = {}
    for name in COMPONENT_GROUPS["model"]:
        vals = space[name]
        v = vals[int(rng.integers(len(vals)))]
        out[name] = v.item() if isinstance(v, np.generic) else v
    return out


def build_whole_models(path: str | Path, *, device: str = "cpu", n_models: int = 40,
                       seed: int = 0, warmup: int = 10, repeats: int = 50) -> Path:
    """Measure ``n_models`` candidate networks on ``device`` and write them to ``path``.

    Tasks alternate over :data:`~._settings.TASKS`; one intra-op thread on a CPU (as the
    latency dataset's rows).
    """
    from effdl_kit._core.env import collect_env
    from effdl_kit.measure import measure_latency

    check_int("n_models", n_models, min_value=3)
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_models):
        task = TASKS[i % len(TASKS)]
        comps = _sample_components(rng)
        model, shape = build_candidate(comps, {}, task, seed=seed + i)
        res = measure_latency(model, shape, device=device if device == "cpu" else "cuda",
                              warmup=warmup, repeats=repeats,
                              threads=1 if device == "cpu" else None, seed=seed + i)
        st = res.state
        rows.append({"task": task, "components": comps, "input_shape": list(shape),
                     "measured_ms": res.median_ms, "mem_available_mib": st.mem_available_mib,
                     "utilization_pct": st.utilization_pct, "load_avg_1m": st.load_avg_1m})
    doc = {"format": WHOLE_FORMAT, "device": device, "seed": seed,
           "protocol": {"warmup": warmup, "repeats": repeats, "batch": 1,
                        "threads": 1 if device == "cpu" else None,
                        "statistic": "median of the timed calls"},
           "builder": "effdl_kit.recommend.build_whole_models",
           "env": collect_env().to_dict(), "rows": rows}
    return atomic_write_text(path, json.dumps(doc, indent=1) + "\n")


def load_whole_models(path: str | Path) -> pd.DataFrame:
    """Rows of a whole-model file (``df.attrs["header"]``: everything but the rows).

    Raises
    ------
    DataError
        Not such a file, or a row lacking a field.
    """
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read whole-model latencies from {str(path)!r}: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("format") != WHOLE_FORMAT:
        raise DataError(f"{str(path)!r} is not a {WHOLE_FORMAT} file")
    rows = doc.get("rows")
    if not isinstance(rows, list) or not all(
            isinstance(r, dict) and all(k in r for k in _ROW_KEYS) for r in rows):
        raise DataError(f"{str(path)!r}: every row needs the fields {list(_ROW_KEYS)}")
    df = pd.DataFrame(rows)
    df.attrs["header"] = {k: v for k, v in doc.items() if k != "rows"}
    return df


def calibrate_predictor(predictor: LatencyPredictor, rows: pd.DataFrame | None, *,
                        note: str = "") -> Calibration:
    """Predict each measured whole model at its recorded state and fit the interval.

    ``rows`` None (no measurement for the device): the uncalibrated raw ensemble interval,
    coverage NaN, ``note`` saying why.
    """
    if rows is None or not len(rows):
        return Calibration(note=note or "no whole-model measurements for this device: "
                           "the interval is the raw bootstrap ensemble's (uncalibrated)")
    models = [build_candidate(r["components"], {}, str(r["task"]))
              for _, r in rows.iterrows()]
    states: list[Mapping[str, float]] = [
        {k: float(r[k]) for k in ("mem_available_mib", "utilization_pct", "load_avg_1m")}
        for _, r in rows.iterrows()]
    main, members = predictor.sums(models, states)
    return calibrate(main, predictor.log_sigma(members), rows["measured_ms"].to_numpy(float),
                     note=note)
