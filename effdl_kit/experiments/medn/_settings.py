"""Settings of the ``medn`` experiment: names of its files, the options, the budget per scale."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from effdl_kit._core.errors import ConfigError
from effdl_kit._core.validate import check_choice, check_int, check_scale
from effdl_kit.models import LATENCY_BUDGETS, LATENCY_SPLITS, LatencySplit

__all__ = [
    "DEVICES",
    "MODEL_LABELS",
    "NAME",
    "PAPER_GAIN",
    "RESULTS_FILE",
    "WHOLE_MODELS",
    "Budget",
    "Device",
    "WholeModel",
]

NAME = "medn"
RESULTS_FILE = "results.json"
FIGURE_ACCURACY = "medn_accuracy"
FIGURE_SCATTER = "medn_pred_vs_true"
FIGURE_ABLATION = "medn_ablation"
TABLE_SCORES = "medn_scores"
TABLE_SELECTION = "medn_selection"
TABLE_ABLATION = "medn_ablation"
TABLE_WHOLE = "medn_whole_models"
FIGURE_SPLITS = "medn_splits"
TABLE_SPLITS = "medn_splits"
#: the paper's gain of auto-selection over MEDN alone (points of acc@10 and of R²)
PAPER_GAIN = {"acc_points": 2.5, "r2_points": 0.39}
#: model kind -> label in figures and tables
MODEL_LABELS = {"lr": "LR", "mlp": "MLP", "rf": "RF", "medn": "MEDN"}

#: which shipped dataset: measured on this kind of device
Device = Literal["cpu", "gpu"]
DEVICES: tuple[Device, ...] = get_args(Device)

#: the small whole models of the whole-model check (:func:`whole_model_zoo`)
WholeModel = Literal["cnn-small", "cnn-wide", "cnn-deep", "transformer-block"]
WHOLE_MODELS: tuple[WholeModel, ...] = get_args(WholeModel)


@dataclass(frozen=True)
class Budget:
    """Everything a scale decides for the ``medn`` experiment.

    Get one with :meth:`for_scale`; change a field with :func:`dataclasses.replace` (the
    fields are checked again).

    Attributes
    ----------
    rows_per_type : int or None
        Rows per module type, sampled with the seed (None: every row).
    whole_models : tuple of WholeModel
        The whole models predicted as a sum of modules and measured.
    warmup, repeats : int
        Timing of each whole model.
    model_params : mapping
        Model kind -> keyword arguments of the predictors (see
        :data:`~effdl_kit.models.LATENCY_BUDGETS`).
    splits : tuple of LatencySplit
        The splits every model and the measurable-parameter ablation are scored under
        (:data:`~effdl_kit.models.LATENCY_SPLITS`: random, grouped by configuration,
        time-blocked); the headline scores are the random split's.
    n_boot : int
        Bootstrap resamples of the test rows (stratified by module type) for the CIs of the
        split table.
    noise_rows : int
        Stored idle-level rows re-timed with the dataset's protocol for the noise ceiling
        (acc@10 % of the re-measurement against the stored value; 0: none).
    """

    rows_per_type: int | None
    whole_models: tuple[WholeModel, ...]
    warmup: int
    repeats: int
    model_params: Mapping[str, Mapping[str, Any]]
    splits: tuple[LatencySplit, ...] = LATENCY_SPLITS
    n_boot: int = 1000
    noise_rows: int = 0

    def __post_init__(self) -> None:
        if self.rows_per_type is not None:
            check_int("rows_per_type", self.rows_per_type, min_value=1)
        if isinstance(self.whole_models, str) or not isinstance(self.whole_models,
                                                                 tuple | list):
            raise ConfigError("whole_models", self.whole_models,
                              f"a tuple of names out of {WHOLE_MODELS}")
        for name in self.whole_models:
            check_choice("whole_models", name, WHOLE_MODELS)
        check_int("warmup", self.warmup, min_value=0)
        check_int("repeats", self.repeats, min_value=1)
        if not isinstance(self.model_params, Mapping):
            raise ConfigError("model_params", self.model_params,
                              "a mapping model kind -> keyword arguments")
        if isinstance(self.splits, str) or not isinstance(self.splits, tuple | list) or not (
                self.splits):
            raise ConfigError("splits", self.splits,
                              f"a non-empty tuple of names out of {LATENCY_SPLITS}")
        for split in self.splits:
            check_choice("splits", split, LATENCY_SPLITS)
        check_int("n_boot", self.n_boot, min_value=10)
        check_int("noise_rows", self.noise_rows, min_value=0)

    @classmethod
    def for_scale(cls, scale: str) -> Budget:
        """The budget of ``scale``: ``smoke`` 30 rows per module type and tiny models
        (seconds); ``small`` every row, :data:`~effdl_kit.models.LATENCY_BUDGETS` ``small``
        (a few minutes on a 2-core CPU); ``paper`` every row, the paper-scale model budgets.

        Raises
        ------
        ConfigError
            An unknown scale.
        """
        scale = check_scale(scale)
        params = {kind: dict(p) for kind, p in LATENCY_BUDGETS[scale].items()}
        return cls(model_params=params, **_PER_SCALE[scale])

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (the ``budget`` recorded in ``results.json``)."""
        d = dataclasses.asdict(self)
        d["whole_models"] = list(self.whole_models)
        d["splits"] = list(self.splits)
        d["model_params"] = {k: dict(v) for k, v in self.model_params.items()}
        return d


_ALL: tuple[WholeModel, ...] = ("cnn-small", "cnn-wide", "cnn-deep", "transformer-block")
_PER_SCALE: dict[str, dict[str, Any]] = {
    "smoke": {"rows_per_type": 30, "whole_models": ("cnn-small", "transformer-block"),
              "warmup": 2, "repeats": 5, "noise_rows": 8},
    "small": {"rows_per_type": None, "whole_models": _ALL, "warmup": 5, "repeats": 25,
              "noise_rows": 160},
    "paper": {"rows_per_type": None, "whole_models": _ALL, "warmup": 10, "repeats": 50,
              "noise_rows": 400},
}
