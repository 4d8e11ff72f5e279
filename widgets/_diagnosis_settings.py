"""The DiagnosisPanel's settings: the parameters it exposes and their defaults per scale."""

from __future__ import annotations

from typing import Any

from effdl_kit.diagnosis import DEFAULT_INDICATORS, STUDY_VARIANTS, DiagnosedStudy, DiagnosisConfig
from effdl_kit.experiments.bttackler import BUDGETS

__all__ = ["DIAGNOSIS_DEFAULTS", "THRESHOLDS", "VARIANTS", "DiagnosisRun"]

#: What the panel compares: no early stop (diagnosed only) or BTTackler.
VARIANTS: tuple[str, ...] = STUDY_VARIANTS

#: The :class:`~effdl_kit.diagnosis.DiagnosisConfig` fields the panel exposes.
THRESHOLDS: tuple[str, ...] = (
    "agv_min_grad", "agv_max_grad", "eag_max_ratio", "erg_min_ratio",
    "lar_max_zero_fraction", "plc_min_cov", "sc_rule", "nmg_tolerance",
)

#: The result of one :meth:`DiagnosisController.run`: a finished
#: :class:`~effdl_kit.diagnosis.DiagnosedStudy` (``epochs`` and ``table`` frames, ``settings``,
#: ``metric``, ``direction``, ``wall_time_s``, ``study``, ``points()``, ``best()``).
DiagnosisRun = DiagnosedStudy

_N_TRIALS: dict[str, int] = {"smoke": 4, "small": 12, "paper": 50}
_DC = DiagnosisConfig()

#: Defaults per scale: the experiment's epochs and sizes (:data:`BUDGETS`), the authors'
#: thresholds, and no configuration tried first.
DIAGNOSIS_DEFAULTS: dict[str, dict[str, Any]] = {
    scale: {"task": "cnn", "sampler": "random", "variant": "bttackler", "mode": "report",
            "n_trials": _N_TRIALS[scale], "epochs": int(b["epochs"]), "seed": 0,
            "indicators": DEFAULT_INDICATORS,
            **{k: getattr(_DC, k) for k in THRESHOLDS},
            "enqueue": (), "indicator": "AGV.median_grad"}
    for scale, b in BUDGETS.items()
}
