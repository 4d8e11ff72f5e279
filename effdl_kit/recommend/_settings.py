"""Settings of the latency-aware recommendation: tasks, devices, modes and budgets per scale."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from effdl_kit._core.validate import check_scale

__all__ = ["DEVICE_KINDS", "INTERVAL", "LATENCY_COMPONENTS", "MODES", "MODULE_TYPES", "TASKS",
           "Mode", "RecommendBudget", "TaskName"]

#: the tasks the training bench can build *and* the kit's component data covers
TaskName = Literal["digits", "synthetic"]
TASKS: tuple[TaskName, ...] = get_args(TaskName)
#: device kinds the kit's latency datasets are built for (``data/latency_{kind}.jsonl``)
DEVICE_KINDS: tuple[str, ...] = ("cpu", "gpu")
#: ``"constrained"``: the acquisition weighted by P(latency <= budget); ``"unconstrained"``:
#: plain αβ-BO on the predicted accuracy (latency predicted and reported, not used)
Mode = Literal["constrained", "unconstrained"]
MODES: tuple[Mode, ...] = get_args(Mode)
#: components that fix the shapes of the modules (always searched: they move the latency)
LATENCY_COMPONENTS: tuple[str, ...] = ("depth", "base_channels", "width", "kernel_size")
#: module types a candidate CNN calls that the latency datasets cover
MODULE_TYPES: tuple[str, ...] = ("conv2d", "linear", "maxpool2d", "avgpool2d", "batchnorm2d",
                                 "relu")
#: nominal level of the reported latency interval
INTERVAL = 0.90


@dataclass(frozen=True)
class RecommendBudget:
    """Work done by :func:`~effdl_kit.recommend.recommend` at one scale.

    Attributes
    ----------
    n_trees, n_repeats : int
        Static predictor's forest size; permutation-importance repeats.
    top_k : int
        Components added to the search by importance (besides :data:`LATENCY_COMPONENTS`).
    values_per_component : int
        At most this many values of each importance-ranked component.
    max_grid : int
        Grid size cap (value lists of ranked components shrink until the grid fits).
    init_rows : int
        Component-data rows of the task told to the GP before the search.
    n_iter : int
        Static-predictor calls of the search.
    latency_kinds : tuple of str
        Per-module model kinds auto-selection chooses among.
    latency_params : dict
        Their hyper-parameters (kind -> parameters).
    rows_per_type : int or None
        Latency rows per module type used (None: all).
    n_bootstrap : int
        Bootstrap members of the per-module latency ensemble (the interval's spread).
    """

    n_trees: int
    n_repeats: int
    top_k: int
    values_per_component: int
    max_grid: int
    init_rows: int
    n_iter: int
    latency_kinds: tuple[str, ...]
    latency_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    rows_per_type: int | None = None
    n_bootstrap: int = 8

    @classmethod
    def for_scale(cls, scale: str) -> RecommendBudget:
        """The budget of ``scale`` (``"smoke"``, ``"small"`` or ``"paper"``)."""
        return cls(**_BUDGETS[check_scale(scale)])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"n_trees": self.n_trees, "n_repeats": self.n_repeats, "top_k": self.top_k,
                "values_per_component": self.values_per_component, "max_grid": self.max_grid,
                "init_rows": self.init_rows, "n_iter": self.n_iter,
                "latency_kinds": list(self.latency_kinds),
                "latency_params": {k: dict(v) for k, v in self.latency_params.items()},
                "rows_per_type": self.rows_per_type, "n_bootstrap": self.n_bootstrap}


_BUDGETS: dict[str, dict[str, Any]] = {
    "smoke": {"n_trees": 30, "n_repeats": 1, "top_k": 2, "values_per_component": 3,
              "max_grid": 3_000, "init_rows": 30, "n_iter": 12, "latency_kinds": ("lr", "rf"),
              "latency_params": {"rf": {"n_estimators": 15}}, "rows_per_type": 150,
              "n_bootstrap": 4},
    "small": {"n_trees": 120, "n_repeats": 2, "top_k": 4, "values_per_component": 4,
              "max_grid": 20_000, "init_rows": 120, "n_iter": 60,
              "latency_kinds": ("lr", "mlp", "rf", "medn"),
              "latency_params": {"mlp": {"max_iter": 300}, "rf": {"n_estimators": 60},
                                 "medn": {"epochs": 120}},
              "rows_per_type": 400, "n_bootstrap": 6},
    "paper": {"n_trees": 300, "n_repeats": 5, "top_k": 5, "values_per_component": 6,
              "max_grid": 100_000, "init_rows": 400, "n_iter": 300,
              "latency_kinds": ("lr", "mlp", "rf", "medn"),
              "latency_params": {"mlp": {"max_iter": 2000}, "rf": {"n_estimators": 300},
                                 "medn": {"epochs": 600}},
              "rows_per_type": None, "n_bootstrap": 16},
}
