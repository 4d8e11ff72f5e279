"""The ``survey`` experiment: compute-efficient DL survey (Bartoldson et al., JMLR 2023).

E1 Pareto
    The bench's residual CNN on generated 16x16 images (``synthetic``, difficulty 0.9), AdamW
    with a cosine schedule annealed over each budget, its learning rate tuned per budget on
    validation accuracy; the baseline, an A/A copy of it and every speedup method at the same
    budgets (epochs) and seeds, in a random order after warm-up; summed epoch training time
    vs test accuracy; the baseline's frontier; a table of where each method sits with a
    simultaneous bootstrap interval (:func:`~effdl_kit.speedups.frontier_table`), the A/A
    control and a positive control (the A/A arm at half the time). :func:`run_aa_study`
    repeats small A/A sweeps to measure how often the rule calls no effect "within noise".
E2 op microbenchmarks
    matmul, conv2d, add, ReLU, GELU, BatchNorm, LayerNorm, softmax over log-spaced sizes in
    float32 and bfloat16; the device's peak FLOP/s and bandwidth measured per dtype (the same
    statistic as the ops) and its per-call overhead; a roofline per dtype, every op placed
    by arithmetic intensity and classified against its own dtype's roof.
E3 FLOPs vs runtime
    Factorised and normalisation-free variants of the CNN against the baseline: FLOPs,
    parameters, operand bytes and measured training-step time.
E4 data-loader bottleneck
    Workers x per-sample augmentation cost -> step time split into data wait and compute.

Compute once, draw twice: :func:`run_survey` writes ``results.json``; :func:`redraw` draws the
figures and writes the tables from that file alone.

Budgets per scale (:meth:`Budget.for_scale`): ``smoke`` seconds (2 budgets, 2 seeds, 2
methods, tiny op grid); ``small`` about 20 minutes on a 2-core CPU (5 budgets, 5 seeds, 3
tuned rates, 11 methods: mixed precision is left out there; E2 on this CPU measured a bf16
matmul peak of 743 GFLOP/s against 92 GFLOP/s for fp32, median of 3 runs,
``docs/results/survey_ops.md``, but bf16 autocast training was not timed here); ``paper`` 5
budgets up to 32 epochs, 5 seeds, 5 tuned rates, every method including mixed precision,
device ``auto`` (meant for a GPU).

>>> import dataclasses
>>> from effdl_kit.experiments.survey import Budget
>>> budget = dataclasses.replace(Budget.for_scale("small"), n_seeds=1, methods=("ema",))
>>> budget.budgets, budget.n_seeds, budget.methods
((1, 2, 3, 4, 6), 1, ('ema',))
"""

from effdl_kit.experiments._registry import register

from ._aa import ACC_LABEL, AABudget, AAStudy, run_aa_study, wilson_interval
from ._analysis import dtype_roofs, load_results, op_regime_table, summary_metrics
from ._figures import (
    plot_flops_runtime,
    plot_frontier_gains,
    plot_loader,
    plot_pareto,
    plot_roofline,
    redraw,
)
from ._run import run_survey
from ._settings import (
    ALL_METHODS,
    FIGURE_LOADER,
    FIGURE_PARETO,
    FIGURE_ROOFLINE,
    FIGURE_VARIANTS,
    MODEL_PARAMS,
    NAME,
    PARTS,
    RESULTS_FILE,
    Budget,
    Method,
    Part,
    SurveyDevice,
    survey_config,
    survey_recipes,
)

__all__ = [
    "ACC_LABEL",
    "ALL_METHODS",
    "FIGURE_LOADER",
    "FIGURE_PARETO",
    "FIGURE_ROOFLINE",
    "FIGURE_VARIANTS",
    "MODEL_PARAMS",
    "NAME",
    "PARTS",
    "RESULTS_FILE",
    "AABudget",
    "AAStudy",
    "Budget",
    "Method",
    "Part",
    "SurveyDevice",
    "dtype_roofs",
    "load_results",
    "op_regime_table",
    "plot_flops_runtime",
    "plot_frontier_gains",
    "plot_loader",
    "plot_pareto",
    "plot_roofline",
    "redraw",
    "run_aa_study",
    "run_survey",
    "summary_metrics",
    "survey_config",
    "survey_recipes",
    "wilson_interval",
]

register(NAME, redraw=redraw)(run_survey)
