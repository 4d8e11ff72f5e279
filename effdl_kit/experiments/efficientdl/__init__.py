"""The ``efficientdl`` experiment: static predictor, random vs grouped CV, Top-5, αβ-BO, training.

EfficientDL (arXiv 2410.14743) on two system-component datasets
(:func:`~effdl_kit.data.load_component_data`): the authors' ``dataset.json`` (not shipped with
the kit, located by :func:`~effdl_kit.data.efficientdl_data_path`) and the kit's own
``data/components_cpu.jsonl``.

For each dataset the random-forest predictor (:func:`~effdl_kit.models.make_predictor`) is
cross-validated under random and grouped folds (R², MAE, Spearman; mean ± std over folds,
out-of-fold predictions kept), refitted on all rows, and scored by permutation importance with
every component's encoded columns permuted together; the Top-5 components come with Student-t
confidence intervals over the repeats (:func:`analyse_dataset`). On the authors' predictor,
αβ-BO is compared with baselines and ablated (:func:`compare_methods`, :func:`ablation`); on
the kit's, EfficientDL's recommendation is trained once against an Optuna TPE study that
trains every trial (:func:`run_confirmation`).

Compute once, draw twice: :func:`run_efficientdl` writes everything to ``results.json``;
:func:`redraw` draws the figures and writes the tables from that file alone.

The parts, each importing only those above it::

    _settings   names, options (Literal types), Budget / SearchBudget
    _analysis   analyse_dataset, the result tables of the predictor and the search
    _search     search_setup, the method registry (METHOD_RUNS), compare_methods, ablation
    _study      run_alpha_beta_study (αβ-BO as an Optuna study on a shared storage)
    _figures    the plots (each on a given ax) and redraw
    _run        run_efficientdl, run_search

and the confirmation by real training, in parts of its own::

    _confirm_settings   ConfirmBudget, the tasks (ConfirmTask, TASKS)
    _confirm_analysis   Recommendation, ConfirmRow, confirmation_summary
    _confirm            recommend, confirm, run_confirmation, run_confirm (real trainings)
    _confirm_figures    plot_confirmation, redraw_confirmation

Budgets per scale (:meth:`Budget.for_scale`): ``smoke`` 30 trees, 3 folds, 3 repeats
(seconds); ``small`` 300 trees, 5 folds, 10 repeats (a couple of minutes on a 2-core CPU);
``paper`` 500 trees, 10 folds, 30 repeats. :class:`SearchBudget` and :class:`ConfirmBudget`
hold the other two parts' budgets; change one with :func:`dataclasses.replace`.
"""

from effdl_kit.data import (
    KIT_GROUP_COLUMN,
    KIT_TARGET,
    ComponentData,
    efficientdl_data_path,
    kit_data_path,
    kit_family,
    kit_features,
    load_component_data,
)
from effdl_kit.experiments._registry import register
from effdl_kit.experiments.efficientdl._analysis import (
    analyse_dataset,
    importance_frame,
    load_results,
    metrics_table,
    top_table,
)
from effdl_kit.experiments.efficientdl._confirm import (
    confirm,
    confirmation_payload,
    controllable_components,
    recommend,
    run_confirm,
    run_confirmation,
)
from effdl_kit.experiments.efficientdl._confirm_analysis import (
    COMPARISONS,
    ArmComparison,
    PairedComparison,
    arm_frame,
    compare_arms,
    confirmation_summary,
    confirmation_verdicts,
    failure_driver,
    seed_table,
)
from effdl_kit.experiments.efficientdl._confirm_figures import (
    confirmation_table,
    plot_confirmation,
    plot_predicted_vs_realised,
)
from effdl_kit.experiments.efficientdl._confirm_records import (
    ArmRow,
    ConfirmRow,
    Recommendation,
)
from effdl_kit.experiments.efficientdl._confirm_settings import (
    ARM_LABELS,
    ARMS,
    CIFAR_TASK,
    FIGURE_CONFIRM,
    PAPER_ACCURACY_GAIN_POINTS,
    PAPER_SPEEDUP,
    TABLE_CONFIRM,
    TASKS,
    TOP_ARM,
    Arm,
    ConfirmBudget,
    ConfirmTask,
    TaskName,
)
from effdl_kit.experiments.efficientdl._control import (
    CONTROL_GRID,
    OPTIMUM_VALUE,
    KnownOptimum,
    known_optimum_setup,
)
from effdl_kit.experiments.efficientdl._figures import (
    plot_ablation,
    plot_importance,
    plot_predicted_vs_true,
    plot_search_curves,
    redraw,
)
from effdl_kit.experiments.efficientdl._methods import (
    METHOD_RUNS,
    MethodRun,
    grid_config,
    optuna_distributions,
    run_method,
)
from effdl_kit.experiments.efficientdl._regret import (
    ZERO_REGRET,
    aa_control,
    ablation_table,
    ablation_tables,
    final_regrets,
    method_table,
    positive_control_table,
    regret_bands,
    regret_verdicts,
)
from effdl_kit.experiments.efficientdl._run import run_efficientdl, run_search
from effdl_kit.experiments.efficientdl._search import ablation, compare_methods, positive_control
from effdl_kit.experiments.efficientdl._settings import (
    ABLATION_METHOD,
    CONFIDENCE,
    CONTROLLABLE_GROUPS,
    DATASET_LABELS,
    DATASETS,
    EXTRA_CONTROLLABLE,
    FIGURE_IMPORTANCE,
    FIGURE_SCATTER,
    FIGURE_SEARCH,
    METHOD_LABELS,
    METHODS,
    NAME,
    RESULTS_FILE,
    SEARCH_COMPONENTS,
    SEARCH_TARGETS,
    SHOW_K,
    SPLITS,
    TABLE_ABLATION,
    TABLE_METRICS,
    TABLE_OMEGA,
    TABLE_SEARCH,
    TABLE_TOP,
    TABLE_VERDICTS,
    TOP_K,
    Budget,
    DatasetName,
    Method,
    SearchBudget,
    SearchComponents,
    Split,
)
from effdl_kit.experiments.efficientdl._setup import (
    SearchSetup,
    prior_rows,
    search_setup,
    searchable_components,
)
from effdl_kit.experiments.efficientdl._study import run_alpha_beta_study
from effdl_kit.models import make_predictor

__all__ = [
    "ABLATION_METHOD",
    "ARMS",
    "ARM_LABELS",
    "CIFAR_TASK",
    "COMPARISONS",
    "CONFIDENCE",
    "CONTROLLABLE_GROUPS",
    "CONTROL_GRID",
    "DATASETS",
    "DATASET_LABELS",
    "EXTRA_CONTROLLABLE",
    "FIGURE_CONFIRM",
    "FIGURE_IMPORTANCE",
    "FIGURE_SCATTER",
    "FIGURE_SEARCH",
    "KIT_GROUP_COLUMN",
    "KIT_TARGET",
    "METHODS",
    "METHOD_LABELS",
    "METHOD_RUNS",
    "NAME",
    "OPTIMUM_VALUE",
    "PAPER_ACCURACY_GAIN_POINTS",
    "PAPER_SPEEDUP",
    "RESULTS_FILE",
    "SEARCH_COMPONENTS",
    "SEARCH_TARGETS",
    "SHOW_K",
    "SPLITS",
    "TABLE_ABLATION",
    "TABLE_CONFIRM",
    "TABLE_METRICS",
    "TABLE_OMEGA",
    "TABLE_SEARCH",
    "TABLE_TOP",
    "TABLE_VERDICTS",
    "TASKS",
    "TOP_ARM",
    "TOP_K",
    "ZERO_REGRET",
    "Arm",
    "ArmComparison",
    "ArmRow",
    "Budget",
    "ComponentData",
    "ConfirmBudget",
    "ConfirmRow",
    "ConfirmTask",
    "DatasetName",
    "KnownOptimum",
    "Method",
    "MethodRun",
    "PairedComparison",
    "Recommendation",
    "SearchBudget",
    "SearchComponents",
    "SearchSetup",
    "Split",
    "TaskName",
    "aa_control",
    "ablation",
    "ablation_table",
    "ablation_tables",
    "analyse_dataset",
    "arm_frame",
    "compare_arms",
    "compare_methods",
    "confirm",
    "confirmation_payload",
    "confirmation_summary",
    "confirmation_table",
    "confirmation_verdicts",
    "controllable_components",
    "efficientdl_data_path",
    "failure_driver",
    "final_regrets",
    "grid_config",
    "importance_frame",
    "kit_data_path",
    "kit_family",
    "kit_features",
    "known_optimum_setup",
    "load_component_data",
    "load_results",
    "make_predictor",
    "method_table",
    "metrics_table",
    "optuna_distributions",
    "plot_ablation",
    "plot_confirmation",
    "plot_importance",
    "plot_predicted_vs_realised",
    "plot_predicted_vs_true",
    "plot_search_curves",
    "positive_control",
    "positive_control_table",
    "prior_rows",
    "recommend",
    "redraw",
    "regret_bands",
    "regret_verdicts",
    "run_alpha_beta_study",
    "run_confirm",
    "run_confirmation",
    "run_efficientdl",
    "run_method",
    "run_search",
    "search_setup",
    "searchable_components",
    "seed_table",
    "top_table",
]

register(NAME, redraw=redraw)(run_efficientdl)
