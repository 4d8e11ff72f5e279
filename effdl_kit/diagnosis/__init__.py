"""BTTackler: training diagnosis that stops bad trials (KDD 2024, arXiv 2602.23630).

Per-layer gradient statistics gathered on-device each batch, nine indicators evaluated each
epoch (AGV, EAG, ERG, LAR, PLC, SC, ULC, NMG; OF off by default), the protection rule for
strong trials, and three ways in:

* :class:`Diagnoser` for any PyTorch loop (``after_backward()`` / ``end_epoch(...)``);
* :class:`DiagnosisHook` for the kit's bench (``train(cfg, hooks=[DiagnosisHook()])``);
* :class:`BTTacklerPruner` + :func:`diagnose_trial` / :class:`TrialHook` for Optuna studies.

The paper's measurements of early termination inside HPO, :func:`tsba` and :func:`top10hr`
(over :func:`finished_points`), and the learning-curve rule it is compared with,
:class:`CurveFitPruner`, live here too, and so does the live diagnosed study a panel
watches: :func:`run_diagnosed_study` returns a :class:`DiagnosedStudy` (every trial and
epoch, with ``on_epoch`` / ``on_trial`` callbacks and a stop between epochs).

Deviations from the authors' code (each measured, see the method card in ``DiagnosisConfig``
and ``false_positive_rate``): SC's default compares standard deviations ("spread") instead
of coefficients of variation (``sc_rule="paper_cov"`` restores the paper's rule); a layer
ratio with a zero denominator is left out of ``q`` instead of firing EAG as NaN; a non-finite
training loss fires AGV; NaN/Inf are detected explicitly (the authors' flag never turned True).
"""

from effdl_kit.diagnosis._config import (
    DEFAULT_INDICATORS,
    EDGE_CASES,
    INDICATORS,
    LOSS_CURVES,
    PRESETS,
    PROTECTABLE,
    SC_RULES,
    SC_SPLITS,
    DiagnosisConfig,
)
from effdl_kit.diagnosis._curvefit import CurveFitPruner, extrapolate_curve
from effdl_kit.diagnosis._diagnoser import Diagnoser, Diagnosis, PeerLosses, evaluate, protects
from effdl_kit.diagnosis._fpr import FalsePositiveResult, false_positive_rate, replay
from effdl_kit.diagnosis._hook import DiagnosisHook
from effdl_kit.diagnosis._indicators import Check, EpochInput
from effdl_kit.diagnosis._metrics import TOP_K, TSBAResult, finished_points, top10hr, tsba
from effdl_kit.diagnosis._optuna import (
    ATTR_DIAGNOSIS,
    ATTR_LAST_EPOCH,
    ATTR_LOSSES,
    MODES,
    BTTacklerPruner,
    TrialDiagnoser,
    TrialHook,
    diagnose_trial,
)
from effdl_kit.diagnosis._stats import EpochGradStats, GradStats, WeightLayer, find_weight_layers
from effdl_kit.diagnosis._study import check_enqueue, run_diagnosed_study
from effdl_kit.diagnosis._study_result import (
    STUDY_VARIANTS,
    DiagnosedEpoch,
    DiagnosedStudy,
    DiagnosedStudyOptions,
    DiagnosedTrial,
    StudyVariant,
)

__all__ = [
    "ATTR_DIAGNOSIS",
    "ATTR_LAST_EPOCH",
    "ATTR_LOSSES",
    "DEFAULT_INDICATORS",
    "EDGE_CASES",
    "INDICATORS",
    "LOSS_CURVES",
    "MODES",
    "PRESETS",
    "PROTECTABLE",
    "SC_RULES",
    "SC_SPLITS",
    "STUDY_VARIANTS",
    "TOP_K",
    "BTTacklerPruner",
    "Check",
    "CurveFitPruner",
    "DiagnosedEpoch",
    "DiagnosedStudy",
    "DiagnosedStudyOptions",
    "DiagnosedTrial",
    "Diagnoser",
    "Diagnosis",
    "DiagnosisConfig",
    "DiagnosisHook",
    "EpochGradStats",
    "EpochInput",
    "FalsePositiveResult",
    "GradStats",
    "PeerLosses",
    "StudyVariant",
    "TSBAResult",
    "TrialDiagnoser",
    "TrialHook",
    "WeightLayer",
    "check_enqueue",
    "diagnose_trial",
    "evaluate",
    "extrapolate_curve",
    "false_positive_rate",
    "find_weight_layers",
    "finished_points",
    "protects",
    "replay",
    "run_diagnosed_study",
    "top10hr",
    "tsba",
]
