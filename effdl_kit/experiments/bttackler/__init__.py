"""The ``bttackler`` experiment: diagnosis-based early termination inside HPO (KDD 2024).

BTTackler (arXiv 2602.23630) at kit scale, on the training bench, with Optuna as the engine.

Design (the paper's, see ``papers/bttackler.md``)
    Three tasks (:data:`TASKS`): ``cnn``, the paper's Cifar10CNN search space (4 conv + 3 FC
    layers, 13 hyper-parameters, StepLR x0.7 per epoch) on digits (upsampled to 16x16 so the
    four conv+pool stages fit), synthetic images or CIFAR-10; ``lstm``, an LSTM classifier
    reading images row by row (8 hyper-parameters); ``transformer``, a Transformer forecaster
    on the real Mauna Loa CO2 series (MSE, minimised). Four HPO methods (:data:`METHODS`, Optuna
    samplers): Random, TPE, GP (``GPSampler``) and QMC (scrambled Sobol). Four variants
    (:data:`VARIANTS`): ``plain``; ``bttackler`` (:class:`~effdl_kit.diagnosis.BTTacklerPruner`
    in mode ``"report"``, as in the paper: a diagnosed trial ends as COMPLETE with its current
    metric); ``median`` (``optuna.pruners.MedianPruner``); ``curvefit``
    (:class:`~effdl_kit.diagnosis.CurveFitPruner`, learning-curve extrapolation, see below).

Runs
    One run = (task, method, variant, repeat): a wall-time budget, ``workers`` worker
    processes (``spawn``, one torch thread each) on one Optuna study stored in a journal file
    (``runs/<task>/<method>/<variant>/rep<r>/journal.log``). The same runs scale out unchanged:
    ``executor=`` puts the workers on any ``concurrent.futures.Executor`` (a Dask cluster's
    ``client.get_executor()``), ``storage=`` keeps every run's study in one shared storage
    (PostgreSQL URL or journal path; study ``<study_prefix>/<task>/<method>/<variant>/rep<r>``).
    The run clock of each worker starts once every worker has loaded its data (a barrier kept
    in the study's storage); it stops asking for trials when the clock reaches the budget
    and aborts a trial still training then (recorded as FAIL, outcome ``"over_budget"``). A
    trial that raises, or ends with a non-finite metric, is recorded as FAIL with its error and
    the study goes on. Interrupting a run loses nothing already recorded: running the
    experiment again on the same directory re-opens every journal, marks trials left RUNNING
    as FAIL (outcome ``"interrupted"``), continues the clock where it stopped and finishes the
    remaining budget; completed runs are only read back. Plain and early-stopping variants of
    one (task, method, repeat) share the data split and the sampler seeds (common random
    numbers: with one worker, Random proposes the same configurations in the same order).

Measurements (exactly the paper's)
    A trial's *result* is its value: the last validation metric of a COMPLETE trial (also of a
    trial stopped by BTTackler), or the last reported one of a PRUNED trial (what NNI hands
    the tuner for an early-stopped trial). Only results of trials finished within the budget
    count. Per (task, method, variant, repeat), against the plain method of the same
    (task, method, repeat):

    * :func:`~effdl_kit.diagnosis.tsba` ``= (1 - T_i / T_j) x 100 %``; ``T_j`` the time
      (run clock) at which the plain run first reached its best result, ``T_i`` the time at
      which the variant first reached a result at least as good (ties count as reached). A
      variant that never reaches it within the budget gets ``T_i = budget``
      (``reached = False``): its TSBA is an upper bound of the true, unobserved one, so means
      are not flattered by dropping it.
    * :func:`~effdl_kit.diagnosis.top10hr`: the share of the 10 best results of the pooled
      trials of both runs that come from the variant, in %; trials tied with the 10th best
      share the remaining slots equally (so the two shares always add up to 100 %).
    * trials finished within the budget, and how often each indicator fired (trials of the
      ``bttackler`` runs whose stored diagnosis names it).

    Means are over repeats (and over tasks x methods for the headline numbers), next to the
    paper's 40.33 % (TSBA) and 72.25 % (Top10HR, BTTackler) / 52.08 % (Top10HR, early
    termination rules).

Learning-curve extrapolation rule (:class:`~effdl_kit.diagnosis.CurveFitPruner`)
    At epoch ``k`` (at least ``min_steps`` reported values, not the last epoch, at least
    ``n_startup_trials`` COMPLETE trials in the study), fit ``s(t) = c - a exp(-b t)``
    (``a >= 0``, ``1e-3 <= b <= 10``; ``s`` the metric with its sign turned so that higher is
    better, values rescaled to [0, 1]) to the trial's validation curve by least squares, and
    stop the trial when the extrapolated value at the last epoch is worse than the best
    COMPLETE result of the study by more than ``tolerance`` (relative, default 5 %, NNI's
    Curvefitting threshold 0.95). No fit (too few points, optimiser failure): no stop.

Budgets per scale (:meth:`Budget.for_scale`; :data:`BUDGETS` holds them as dicts)
    ``smoke``: the CNN only, Random and TPE x 4 variants, 1 repeat, 1 worker (in-process),
    3 trials of 4 epochs per run on 240 digits, tiny ranges (seconds; what the tests run).
    ``small``: the three tasks, Random and TPE x 4 variants (GP and QMC cut), 1 repeat,
    2 worker processes, 25 s per run, 8 epochs, narrower size ranges (10.6 minutes measured
    on the shared 2-core CPU, 7 to 42 finished trials per run). ``paper``: everything,
    3 repeats, 8 workers, 6 h per run, 20 epochs, CIFAR-10 when a path is given (else
    synthetic 32x32 images), Ex96Trans-like 96-in/96-out windows on CO2; device ``auto``.

Compute once, draw twice: :func:`run_bttackler` writes ``results.json`` (settings, every
trial record, the comparisons); :func:`redraw` draws the figures and writes the tables from
that file alone. The metrics and the curve-fitting pruner live in :mod:`effdl_kit.diagnosis`
(re-exported here), the trial step and the runner pieces in ``effdl_kit._core.storage``.

>>> import dataclasses
>>> from effdl_kit.experiments.bttackler import Budget
>>> budget = dataclasses.replace(Budget.for_scale("smoke"), methods=("tpe",), budget_s=30)
>>> budget.methods, budget.budget_s, budget.max_trials
(('tpe',), 30.0, 3)
"""

from effdl_kit.diagnosis import (
    TOP_K,
    BTTacklerPruner,
    CurveFitPruner,
    TSBAResult,
    extrapolate_curve,
    finished_points,
    top10hr,
    tsba,
)
from effdl_kit.experiments._registry import register

from ._analysis import (
    Comparison,
    Headline,
    VariantNumbers,
    aggregate,
    compare_runs,
    comparison_table,
    headline,
    headline_table,
    indicator_counts,
    load_results,
    runs_table,
)
from ._figures import METRIC_STYLE, plot_bars, plot_metric_row, redraw, result_tasks
from ._live import (
    LIVE_ARMS,
    LIVE_FILE,
    LIVE_FORMAT,
    LIVE_METHODS,
    LIVE_PRESETS,
    ArmSpec,
    LiveArm,
    LiveBudget,
    LiveMethod,
    LivePreset,
    live_data,
    run_arm,
    run_bttackler_live,
)
from ._live_analysis import (
    LIVE_CLOCKS,
    LIVE_QUANTITIES,
    arm_points,
    best_so_far,
    compare_live_arms,
    replay_reference,
    summarize_live,
)
from ._live_figures import plot_live_curves, plot_live_tsba, redraw_live
from ._replay_figures import (
    RULE_LABELS,
    plot_replay_controls,
    plot_replay_indicators,
    plot_replay_metric,
    replay_figure,
)
from ._replay_study import (
    REPLAY_SETTINGS,
    ReplayBudget,
    ReplayStudy,
    ablation_rules,
    load_replay_study,
    run_replay_study,
    sc_evidence,
    study_rules,
    tsba_verdict,
)
from ._run import run_bttackler, run_dir_of, run_study, task_data
from ._settings import (
    BUDGETS,
    CIFAR10_ENV,
    ETR_VARIANTS,
    FIGURE_TOP10HR,
    FIGURE_TSBA,
    IMAGE_DATASETS,
    JOURNAL_FILE,
    METHODS,
    NAME,
    PAPER,
    PRUNERS,
    RESULTS_FILE,
    SAMPLERS,
    SPACES,
    STUDY_NAME,
    TABLE_COMPARISON,
    TABLE_HEADLINE,
    TABLE_INDICATORS,
    TABLE_RUNS,
    TASKS,
    VARIANTS,
    Budget,
    ImageDataset,
    Method,
    RunSpec,
    SpaceName,
    Task,
    Variant,
    build_specs,
    make_pruner,
    make_sampler,
    resolve_settings,
)
from ._spaces import SEARCH_SPACES, suggest_config
from ._traces import (
    PATHOLOGIES,
    TRACE_DIAGNOSIS,
    TRACE_FORMAT,
    TRACE_TASKS,
    Pathology,
    TraceBudget,
    TraceTask,
    TraceTaskName,
    build_trace_dataset,
    kit_traces_path,
    load_traces,
    trace_config,
)

__all__ = [
    "BUDGETS",
    "CIFAR10_ENV",
    "ETR_VARIANTS",
    "FIGURE_TOP10HR",
    "FIGURE_TSBA",
    "IMAGE_DATASETS",
    "JOURNAL_FILE",
    "LIVE_ARMS",
    "LIVE_CLOCKS",
    "LIVE_FILE",
    "LIVE_FORMAT",
    "LIVE_METHODS",
    "LIVE_PRESETS",
    "LIVE_QUANTITIES",
    "METHODS",
    "METRIC_STYLE",
    "NAME",
    "PAPER",
    "PATHOLOGIES",
    "PRUNERS",
    "REPLAY_SETTINGS",
    "RESULTS_FILE",
    "RULE_LABELS",
    "SAMPLERS",
    "SEARCH_SPACES",
    "SPACES",
    "STUDY_NAME",
    "TABLE_COMPARISON",
    "TABLE_HEADLINE",
    "TABLE_INDICATORS",
    "TABLE_RUNS",
    "TASKS",
    "TOP_K",
    "TRACE_DIAGNOSIS",
    "TRACE_FORMAT",
    "TRACE_TASKS",
    "VARIANTS",
    "ArmSpec",
    "BTTacklerPruner",
    "Budget",
    "Comparison",
    "CurveFitPruner",
    "Headline",
    "ImageDataset",
    "LiveArm",
    "LiveBudget",
    "LiveMethod",
    "LivePreset",
    "Method",
    "Pathology",
    "ReplayBudget",
    "ReplayStudy",
    "RunSpec",
    "SpaceName",
    "TSBAResult",
    "Task",
    "TraceBudget",
    "TraceTask",
    "TraceTaskName",
    "Variant",
    "VariantNumbers",
    "ablation_rules",
    "aggregate",
    "arm_points",
    "best_so_far",
    "build_specs",
    "build_trace_dataset",
    "compare_live_arms",
    "compare_runs",
    "comparison_table",
    "extrapolate_curve",
    "finished_points",
    "headline",
    "headline_table",
    "indicator_counts",
    "kit_traces_path",
    "live_data",
    "load_replay_study",
    "load_results",
    "load_traces",
    "make_pruner",
    "make_sampler",
    "plot_bars",
    "plot_live_curves",
    "plot_live_tsba",
    "plot_metric_row",
    "plot_replay_controls",
    "plot_replay_indicators",
    "plot_replay_metric",
    "redraw",
    "redraw_live",
    "replay_figure",
    "replay_reference",
    "resolve_settings",
    "result_tasks",
    "run_arm",
    "run_bttackler",
    "run_bttackler_live",
    "run_dir_of",
    "run_replay_study",
    "run_study",
    "runs_table",
    "sc_evidence",
    "study_rules",
    "suggest_config",
    "summarize_live",
    "task_data",
    "top10hr",
    "trace_config",
    "tsba",
    "tsba_verdict",
]

register(NAME, redraw=redraw)(run_bttackler)
