"""What :func:`~effdl_kit.recommend.recommend` returns: the evaluated candidates and how.

:class:`Recommendation` holds one row per candidate the search evaluated (its searched
components, predicted accuracy, predicted latency with its interval, P(latency <= budget)),
the settings, the latency calibration and where it ran. :meth:`~Recommendation.table` ranks
them, :meth:`~Recommendation.pareto` gives the predicted accuracy-vs-latency front, and
:meth:`~Recommendation.train_configs` the training configurations of the top ones: the entry
point of confirmation by real training (issue 19, item 2).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from effdl_kit._core.errors import ConfigError, DataError
from effdl_kit._core.io import atomic_write_text
from effdl_kit._core.jsonable import json_ready
from effdl_kit._core.validate import check_int

__all__ = ["RESULT_FORMAT", "Recommendation"]

RESULT_FORMAT = "effdl-recommendation/1"
#: columns of :attr:`Recommendation.candidates` besides the searched components
METRIC_COLUMNS = ("iteration", "accuracy", "latency_ms", "latency_lo_ms", "latency_hi_ms",
                  "latency_sum_ms", "p_feasible")


def write_result(doc: dict[str, Any], path: str | Path | None) -> str:
    """``doc`` as JSON text (non-finite numbers refused); written atomically to ``path``."""
    text = json.dumps(doc, indent=1, allow_nan=False)
    if path is not None:
        atomic_write_text(path, text + "\n")
    return text


def read_result(source: str | Path, fmt: str, what: str) -> dict[str, Any]:
    """The JSON document in ``source`` (its text, or a file holding it) of format ``fmt``.

    Raises
    ------
    DataError
        Unreadable, not JSON, or not a ``fmt`` document (``what`` names it in the message).
    """
    text = str(source)
    if not text.lstrip().startswith("{"):
        try:
            text = Path(source).read_text(encoding="utf-8")
        except OSError as exc:
            raise DataError(f"cannot read {what} from {str(source)!r}: {exc}") from exc
    try:
        d = json.loads(text)
    except ValueError as exc:
        raise DataError(f"not JSON: {exc}") from exc
    if not isinstance(d, dict) or d.get("format") != fmt:
        raise DataError(f"not a {fmt} result")
    return d


@dataclass
class Recommendation:
    """Candidates recommended for a task under a latency budget on a device.

    Attributes
    ----------
    task, device : str
    latency_budget_ms : float
        ``inf`` allowed (no constraint in effect).
    seed : int
    scale : {"smoke", "small", "paper"}
    mode : {"constrained", "unconstrained"}
    components : list of str
        The searched components (grid order).
    fixed : dict
        Every other component's value.
    candidates : DataFrame
        One row per evaluated candidate, in evaluation order: the components, then
        :data:`METRIC_COLUMNS`.
    calibration : dict
        :meth:`~._latency.Calibration.to_dict` (bias, scale, coverage, coverage_raw, ...).
    latency_models : dict
        Module type -> auto-selected model kind.
    search : dict
        Grid size, architectures predicted, iterations, importance ranking, budget.
    stopped : bool
        The search was stopped before its last iteration (``should_stop``).
    latency_model : LatencyPredictor or None
        The latency model the candidates were predicted with (set by
        :func:`~effdl_kit.recommend.recommend`; not saved in the JSON, None after
        :meth:`from_json`); :func:`~effdl_kit.recommend.confirm` uses it to predict each
        measured network at the device state of its measurement.
    confidence : float
        In ``"constrained"`` mode a candidate counts as feasible when P(latency <= budget)
        >= ``confidence`` (0.5: more likely in than out; 0.9: in with 90 % probability).
    time_s : dict
        Wall seconds per stage.
    env : dict
        Hardware and package versions (:func:`effdl_kit._core.env.collect_env`).
    """

    task: str
    device: str
    latency_budget_ms: float
    seed: int
    scale: str
    mode: str
    components: list[str]
    fixed: dict[str, Any]
    candidates: pd.DataFrame
    calibration: dict[str, Any] = field(default_factory=dict)
    latency_models: dict[str, str] = field(default_factory=dict)
    search: dict[str, Any] = field(default_factory=dict)
    stopped: bool = False
    time_s: dict[str, float] = field(default_factory=dict)
    env: dict[str, Any] = field(default_factory=dict)
    confidence: float = 0.5
    latency_model: Any = field(default=None, repr=False, compare=False)

    # ------------------------------------------------------------------ views
    def table(self, top: int | None = None) -> pd.DataFrame:
        """Candidates ranked: rank, components, predicted accuracy and latency, P(feasible).

        ``mode="constrained"``: candidates with P(latency <= budget) >= ``confidence`` first,
        each
        part by predicted accuracy (then lower latency); ``"unconstrained"``: by predicted
        accuracy alone. ``top``: the first rows only.
        """
        df = self.candidates.drop(columns=["iteration"], errors="ignore").copy()
        keys, asc = ["accuracy", "latency_ms"], [False, True]
        if self.mode == "constrained":
            df["_ok"] = df["p_feasible"] >= self.confidence
            keys, asc = ["_ok", *keys], [False, *asc]
        df = df.sort_values(keys, ascending=asc, kind="stable").drop(columns=["_ok"],
                                                                     errors="ignore")
        df.insert(0, "rank", np.arange(1, len(df) + 1))
        df = df.reset_index(drop=True)
        if top is not None:
            df = df.head(check_int("top", top, min_value=1))
        return df

    def pareto(self) -> pd.DataFrame:
        """The predicted front: candidates no other one beats on both higher accuracy and
        lower predicted latency, by increasing latency."""
        df = self.candidates.sort_values(["latency_ms", "accuracy"], ascending=[True, False],
                                         kind="stable")
        best = -math.inf
        keep = []
        for i, acc in zip(df.index, df["accuracy"], strict=True):
            if acc > best:
                keep.append(i)
                best = acc
        return df.loc[keep].drop(columns=["iteration"], errors="ignore").reset_index(drop=True)

    def within_budget_share(self, top: int | None = None) -> float:
        """Share of the (top) ranked candidates whose predicted latency is within budget."""
        t = self.table(top)
        return float(np.mean(t["latency_ms"] <= self.latency_budget_ms)) if len(t) else math.nan

    def train_configs(self, top: int = 3, *, seed: int | None = None) -> list[Any]:
        """The training bench's :class:`~effdl_kit.training.TrainConfig` of the ``top``
        ranked candidates (fixed components filled in), ready for real training."""
        from effdl_kit.data import component_config

        out = []
        for _, r in self.table(top).iterrows():
            comps = {**self.fixed, **{c: r[c] for c in self.components}}
            comps = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in comps.items()}
            for k in ("depth", "base_channels", "width", "kernel_size", "epochs",
                      "batch_size", "n_train", "threads"):
                if k in comps and isinstance(comps[k], float) and comps[k].is_integer():
                    comps[k] = int(comps[k])
            out.append(component_config(comps, scale=self.scale,
                                        seed=self.seed if seed is None else seed))
        return out

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (the budget ``inf`` as the string ``"inf"``)."""
        budget: Any = "inf" if math.isinf(self.latency_budget_ms) else self.latency_budget_ms
        return json_ready({
            "format": RESULT_FORMAT, "task": self.task, "device": self.device,
            "latency_budget_ms": budget, "seed": self.seed, "scale": self.scale,
            "mode": self.mode, "components": self.components, "fixed": self.fixed,
            "candidates": self.candidates.to_dict(orient="list"),
            "calibration": self.calibration, "latency_models": self.latency_models,
            "search": self.search, "stopped": self.stopped, "time_s": self.time_s,
            "env": self.env, "confidence": self.confidence})

    def to_json(self, path: str | Path | None = None) -> str:
        """The result as JSON text; also written (atomically) to ``path`` when given."""
        return write_result(self.to_dict(), path)

    @classmethod
    def from_json(cls, source: str | Path) -> Recommendation:
        """Read :meth:`to_json`'s text, or a file holding it.

        Raises
        ------
        DataError
            Not a recommendation result.
        """
        d = read_result(source, RESULT_FORMAT, "a recommendation")
        budget = d["latency_budget_ms"]
        cal = {k: (math.nan if v is None and k in ("coverage", "coverage_raw") else v)
               for k, v in d.get("calibration", {}).items()}
        return cls(task=d["task"], device=d["device"],
                   latency_budget_ms=math.inf if budget == "inf" else float(budget),
                   seed=int(d["seed"]), scale=d["scale"], mode=d["mode"],
                   components=list(d["components"]), fixed=dict(d["fixed"]),
                   candidates=pd.DataFrame(d["candidates"]), calibration=cal,
                   latency_models=dict(d.get("latency_models", {})),
                   search=dict(d.get("search", {})), stopped=bool(d.get("stopped", False)),
                   time_s=dict(d.get("time_s", {})), env=dict(d.get("env", {})),
                   confidence=float(d.get("confidence", 0.5)))

    def __post_init__(self) -> None:
        missing = [c for c in (*self.components, *METRIC_COLUMNS)
                   if c not in self.candidates.columns]
        if missing:
            raise ConfigError("candidates", sorted(map(str, self.candidates.columns)),
                              f"a frame with the columns {missing}")
