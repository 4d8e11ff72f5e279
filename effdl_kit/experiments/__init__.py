"""Reproducible experiments: a registry run by name at a scale, plus the notebook runner.

>>> from effdl_kit.experiments import list_experiments, run_experiment
>>> list_experiments()
['bttackler', 'efficientdl', 'medn', 'recommend', 'survey', 'tour']
>>> run_experiment("tour", scale="smoke", seed=0, out="results")  # doctest: +SKIP
"""

from effdl_kit.experiments import (  # noqa: F401  (they register themselves)
    _tour,
    bttackler,
    efficientdl,
    medn,
    recommend,
    survey,
)
from effdl_kit.experiments._notebooks import (
    INJECTED_TAG,
    KERNEL_NAME,
    PARAMETERS_TAG,
    SLOW_CELL_S,
    TIMINGS_FILE,
    CellTiming,
    NotebookError,
    NotebookRun,
    cell_timings,
    inject_parameters,
    kernel_command,
    run_notebooks,
    write_summary,
)
from effdl_kit.experiments._registry import (
    SUMMARY_FILE,
    Experiment,
    ExperimentSummary,
    RedrawOutcome,
    experiment_options,
    find_summaries,
    get_experiment,
    list_experiments,
    make_summary,
    redraw_experiments,
    register,
    run_experiment,
    unregister,
)
from effdl_kit.experiments._tour import redraw as redraw_tour

__all__ = [
    "INJECTED_TAG",
    "KERNEL_NAME",
    "PARAMETERS_TAG",
    "SLOW_CELL_S",
    "SUMMARY_FILE",
    "TIMINGS_FILE",
    "CellTiming",
    "Experiment",
    "ExperimentSummary",
    "NotebookError",
    "NotebookRun",
    "RedrawOutcome",
    "bttackler",
    "cell_timings",
    "efficientdl",
    "experiment_options",
    "find_summaries",
    "get_experiment",
    "inject_parameters",
    "kernel_command",
    "list_experiments",
    "make_summary",
    "medn",
    "redraw_experiments",
    "redraw_tour",
    "register",
    "run_experiment",
    "run_notebooks",
    "survey",
    "unregister",
    "write_summary",
]
