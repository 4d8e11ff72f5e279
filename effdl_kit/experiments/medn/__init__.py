"""The ``medn`` experiment: module latency predictors, auto-selection, ablation, whole models.

MEDN latency framework (arXiv 2312.06440) on the kit's CPU dataset ``data/latency_cpu.jsonl``
(:func:`~effdl_kit.data.build_latency_dataset`: eight module types measured on this machine
under four background-load levels), or with ``device="gpu"`` on ``data/latency_gpu.jsonl``
(the same eight types measured on an NVIDIA H200 under four load levels, two of them with a
concurrent GPU stream):

1. per module type, LR / MLP / RF / MEDN are fitted on 60 % of the rows and scored on a
   validation (20 %) and a test (20 %) split (acc@5/10/15 %, R², RMSPE, prediction time,
   serialised size; :func:`~effdl_kit.models.evaluate_latency_models`);
2. auto-selection (:func:`~effdl_kit.models.auto_select`) picks one model per module type
   on the *validation* scores (tolerances 1 point of acc@10 and 0.005 R²; fastest, and
   smallest) and reports its sample-weighted test metrics against MEDN alone (the paper:
   +2.5 % accuracy, +0.39 % R²);
3. ablation: the same predictors without the measurable parameters (device state), on all
   test rows and on the test rows measured under background load;
3b. every model and the ablation again under three splits (``Budget.splits``): the random
   one, one grouped by sampling configuration (a configuration timed twice never sits on both
   sides) and a time-blocked one (train on the earliest rows, test on the latest, so the
   device-state features cannot act as a clock), pooled test acc@10 with bootstrap 95 % CIs
   over the test rows (:func:`split_table`, figure ``medn_splits``), beside the noise
   ceiling: stored idle-level rows re-timed now with the same protocol, scored as if the
   re-measurement predicted the stored value (:func:`noise_ceiling`, ``Budget.noise_rows``);
4. beyond the paper: whole-model latency of small CNNs and a Transformer block predicted as
   the sum of per-module predictions (the auto-selected model of each type, fitted on all
   rows, at the device state read now) against the measured latency — on the GPU dataset
   only where this machine has a CUDA device to measure them on (else skipped, and said so).

When the shipped dataset is missing (an installed wheel), a small one is measured into the
experiment's directory first. Compute once, draw twice: :func:`run_medn` writes
``results.json``; :func:`redraw` draws the figures and writes the tables from it alone.

Budgets per scale (:meth:`Budget.for_scale`): ``smoke`` 30 rows per module type and tiny
models (seconds); ``small`` every row, :data:`~effdl_kit.models.LATENCY_BUDGETS` ``small`` (a
few minutes on a 2-core CPU); ``paper`` every row, the paper-scale model budgets.

>>> import dataclasses
>>> from effdl_kit.experiments.medn import Budget
>>> budget = dataclasses.replace(Budget.for_scale("smoke"), whole_models=("cnn-small",))
>>> budget.rows_per_type, budget.whole_models
(30, ('cnn-small',))
"""

from effdl_kit.experiments._registry import register

from ._analysis import (
    ablation_table,
    bootstrap_hits,
    load_results,
    scores_table,
    selection_table,
    split_table,
)
from ._figures import (
    plot_ablation,
    plot_accuracy,
    plot_pred_vs_true,
    plot_splits,
    plot_whole_models,
    redraw,
)
from ._run import (
    build_payload,
    fit_selected,
    load_medn_data,
    noise_ceiling,
    run_medn,
    whole_model_latency,
    whole_model_zoo,
)
from ._settings import (
    DEVICES,
    MODEL_LABELS,
    NAME,
    PAPER_GAIN,
    RESULTS_FILE,
    WHOLE_MODELS,
    Budget,
    Device,
    WholeModel,
)

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
    "ablation_table",
    "bootstrap_hits",
    "build_payload",
    "fit_selected",
    "load_medn_data",
    "load_results",
    "noise_ceiling",
    "plot_ablation",
    "plot_accuracy",
    "plot_pred_vs_true",
    "plot_splits",
    "plot_whole_models",
    "redraw",
    "run_medn",
    "scores_table",
    "selection_table",
    "split_table",
    "whole_model_latency",
    "whole_model_zoo",
]

register(NAME, redraw=redraw)(run_medn)
