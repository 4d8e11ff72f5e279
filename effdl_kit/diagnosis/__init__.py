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

Recorded trials (:class:`TrialTrace`, JSON-able, one per JSONL row) are replayed under stop
rules (:class:`BTTacklerRule` with the ordering-dependent protection, :class:`MedianRule`,
:class:`CurveFitRule`, and the controls :class:`NoStopRule` / :class:`RandomStopRule`) by
:func:`replay_stop_rules`: TSBA, Top10HR, trials finished and epochs saved with bootstrap
CIs over random orderings, and each indicator's precision and recall (issue 15, part 2);
:func:`replay_tpe` lets a TPE sampler that sees the replayed results choose the order.

Two modes, side by side (``DiagnosisConfig.preset(name)``): ``"faithful"`` is the authors'
assessor rule by rule, checked by a differential test against an independent transcription
of it on 1,500 random inputs (``tests/diagnosis/test_diagnosis_faithful_golden.py``);
``"kit"`` (the defaults) follows the authors except where listed below; ``"legacy"`` is the
kit before issue 15. The kit defaults follow the authors in: AGV's low-gradient rule inside
the protection, LAR once 5 epochs are recorded (epoch index 4), SC's halves
``loss[:n//2]`` / ``loss[n//2:]`` (the middle epoch kept), and "when the NaN rule fires,
nothing else runs". A diagnosis at a trial's last epoch saves nothing and is not a stop
(``Diagnosis.stops``; the Optuna helper stores it under ``ATTR_LAST_EPOCH``, not
``ATTR_DIAGNOSIS``; the bench hook does not stop the run).

Deviations of the kit defaults from the authors, each with its reason and measurement:

* ``sc_rule="spread"``: SC compares the standard deviations of the two halves, not their
  coefficients of variation (``"paper_cov"`` is the paper's). Reason: the CoV ratio is 1
  under exponential decay to zero, so noise decides (fires on 30-70 % of such synthetic
  curves, ``test_diagnosis_indicators``). Measured on healthy digits trainings
  (the runs of ``false_positive_rate(n, seed=0, scale=...)``, any epoch): 24 runs of 8
  epochs, an indicator fired on 2 (spread) vs 11 (paper_cov), all SC; 48 of 12 epochs,
  1 vs 5; 24 of 20 epochs, 1 vs 1. Caveat: the argument holds
  for losses decaying to zero, not to a floor, and nothing is measured yet about recall; the
  choice waits for the trace dataset and replay of issue 15 (parts 1-2).
* ``loss_curves="train"``: SC (late), ULC and NMG watch the training loss only; the authors
  also run each on the validation loss (``"train_val"``). Measured (same healthy runs, no
  protection): flagged 1 of 48 at 12 epochs and 1 of 24 at 20 epochs with ``"train"``,
  6 of 48 and 6 of 24 with ``"train_val"`` (NMG on the noisy validation loss of 269 images
  fires; 4 of the 6 before the last epoch); equal (2 of 24) at 8 epochs. Recall not measured
  (needs the trace dataset).
* ``edge_cases="kit"``: arithmetic on degenerate input. A non-finite training loss fires
  AGV; loss rules skip a history holding NaN/Inf (the authors compare it: an Inf recent loss
  fires NMG, NaN never fires); the CoV divides by ``|mean|``; a layer pair with a zero
  denominator is left out of ``q`` (the authors skip EAG's ratio rule when any ``g_l`` is 0,
  and EAG/ERG fire on an Inf ratio); ULC and NMG need full windows (the authors' NMG compares
  ``mean(loss[-6:-3])`` with ``mean(loss[-3:])`` from the 4th epoch on); non-finite peer
  losses are left out of the protection's percentile. Reason: defined behaviour on NaN/Inf,
  zero and too-short histories; differences arise only on such inputs. Not measured (they
  are rare in healthy runs; the trace dataset will count them).

Defects of the authors' code no mode keeps: the NaN flag that never turned True (NaN/Inf
statistics are detected: AGV), the always-false ``type(x) is None`` test, the crashing
non-quick statistics path. The faithful mode's domain is the kit's ``EpochInput``: a training
loss every epoch, gradients accumulated that epoch.
"""

from effdl_kit.diagnosis._config import (
    AUTHORS_INDICATORS,
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
from effdl_kit.diagnosis._replay import (
    QUANTITIES,
    ReplayResult,
    default_rules,
    replay_stop_rules,
    replay_tpe,
    trace_space,
)
from effdl_kit.diagnosis._replay_rules import (
    BTTacklerRule,
    CurveFitRule,
    EpochRecord,
    MedianRule,
    NoStopRule,
    RandomStopRule,
    ReplayHistory,
    StopRule,
    TrialTrace,
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
    "AUTHORS_INDICATORS",
    "DEFAULT_INDICATORS",
    "EDGE_CASES",
    "INDICATORS",
    "LOSS_CURVES",
    "MODES",
    "PRESETS",
    "PROTECTABLE",
    "QUANTITIES",
    "SC_RULES",
    "SC_SPLITS",
    "STUDY_VARIANTS",
    "TOP_K",
    "BTTacklerPruner",
    "BTTacklerRule",
    "Check",
    "CurveFitPruner",
    "CurveFitRule",
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
    "EpochRecord",
    "FalsePositiveResult",
    "GradStats",
    "MedianRule",
    "NoStopRule",
    "PeerLosses",
    "RandomStopRule",
    "ReplayHistory",
    "ReplayResult",
    "StopRule",
    "StudyVariant",
    "TSBAResult",
    "TrialDiagnoser",
    "TrialHook",
    "TrialTrace",
    "WeightLayer",
    "check_enqueue",
    "default_rules",
    "diagnose_trial",
    "evaluate",
    "extrapolate_curve",
    "false_positive_rate",
    "find_weight_layers",
    "finished_points",
    "protects",
    "replay",
    "replay_stop_rules",
    "replay_tpe",
    "run_diagnosed_study",
    "top10hr",
    "trace_space",
    "tsba",
]
