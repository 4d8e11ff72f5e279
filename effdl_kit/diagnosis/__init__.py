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

Deviations of the kit defaults from the authors, each with its reason and measurement. The
measurements are the replay study on the kit's 480 recorded traces
(``docs/results/bttackler_replay.md``, written by ``python -m
effdl_kit.experiments.bttackler._replay_main --scale small``: 4 tasks x 80 natural traces of
20 epochs, TSBA with 95 % bootstrap CIs over random orderings; its ``ablation`` table switches
one choice at a time):

* **NMG off** (``DEFAULT_INDICATORS``; the authors' set is ``AUTHORS_INDICATORS``). Reason:
  "no more gain" fires on converged healthy trials about as often as on bad ones (precision
  0.40, 0.38, 0.44 and 0.04 against base rates of 0.43, 0.48, 0.25 and 0.25) and late, so it
  stops the best trials just short of their final metric. Measured (200 orderings): the kit
  default with NMG added back goes from TSBA +20.5 % to -98 % (CNN digits), +20.2 % to -31 %
  (CNN images), +17.7 % to -197 % (LSTM), +3.5 % to -194 % (Transformer); the authors' whole
  set with NMG left out goes from -87 % to +22 % (CNN digits) and -217 % to +22 % (LSTM), but
  from +40 % to +20 % on the CNN images, where NMG on the validation loss stops bad trials
  early — the one task on which it pays (on the Transformer the authors' set costs time with
  or without NMG: its validation-loss rules are the cause, see ``loss_curves``).
* ``sc_rule="spread"``: SC compares the standard deviations of the two halves, not their
  coefficients of variation (``"paper_cov"`` is the paper's). Reason: the CoV ratio is 1
  under exponential decay to zero, so noise decides: the paper's rule stops healthy Adam
  trainings of the pathology suite (``test_diagnosis_pathologies``). Measured on the traces
  (SC alone, any epoch but the last): false positives on 208 healthy traces 11.5 % [7.7,
  16.3] (spread) vs 14.9 % [10.6, 19.7] (paper's); recall on 112 bad traces 25.9 % vs
  28.6 % — within each other's CIs; in the replay the paper's rule is as good on the CNNs and
  1.5-3.4 TSBA points better on the LSTM and the Transformer. A small gain, not worth the
  false positives on short healthy runs.
* ``loss_curves="train"``: SC (late), ULC and NMG watch the training loss only; the authors
  also run each on the validation loss (``"train_val"``). Measured: +0.5 to +2.7 TSBA points
  on the CNNs and the LSTM, but -89 % [-156, -35] instead of +3.5 % on the Transformer, whose
  validation MSE is noisy; SC's false positives on healthy traces double (20.7 % vs 11.5 %).
* ``edge_cases="kit"``: arithmetic on degenerate input. A non-finite training loss fires
  AGV; loss rules skip a history holding NaN/Inf (the authors compare it: an Inf recent loss
  fires NMG, NaN never fires); the CoV divides by ``|mean|``; a layer pair with a zero
  denominator is left out of ``q`` (the authors skip EAG's ratio rule when any ``g_l`` is 0,
  and EAG/ERG fire on an Inf ratio); ULC and NMG need full windows (the authors' NMG compares
  ``mean(loss[-6:-3])`` with ``mean(loss[-3:])`` from the 4th epoch on); non-finite peer
  losses are left out of the protection's percentile. Reason: defined behaviour on NaN/Inf,
  zero and too-short histories. Measured: TSBA equal on the LSTM and the Transformer, 0.9
  and 2.2 points higher than the authors' arithmetic on the CNNs.

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
