"""The ``recommend`` experiment: training-free recommendation vs feedback-based search
(issue 19, item 3).

Which components to train for the best accuracy under an inference-latency budget: the
training-free route (:func:`effdl_kit.recommend.recommend` on the static predictor and the
calibrated latency models, then its top-k trained) against Optuna's TPE (latency as a
constraint) and NSGA-II (accuracy and latency as objectives), every trial trained, over the
same components, values and training seeds; an A/A arm (the training-free route with other
seeds) for the negative control.

:func:`run_comparison` runs the cells (resumable), :func:`comparison_table`,
:func:`comparison_verdicts` and :func:`comparison_controls` analyse them, and
:func:`plot_comparison` draws best feasible accuracy vs compute. The committed small-scale
result is :data:`COMPARISON_FILE` (``docs/results/recommend_comparison.json``), written by
``python -m effdl_kit.experiments.recommend._main --scale small --out docs/results``.

>>> from effdl_kit.experiments.recommend import CompareBudget
>>> CompareBudget.for_scale("small").budgets_ms["digits"]
{'tight': 0.12, 'loose': 0.24}
"""

from effdl_kit.experiments._registry import register

from ._analysis import (
    DELTA,
    bootstrap_ci,
    break_even,
    comparison_controls,
    comparison_table,
    comparison_verdicts,
    curve_at,
    inject,
    latency_noise,
    load_comparison,
    verdict_of,
)
from ._figures import plot_comparison, plot_comparison_panel
from ._main import redraw, render_comparison, run_recommend_experiment, write_comparison
from ._run import CELLS_FILE, TRAININGS_FILE, cell_key, run_comparison
from ._settings import BUDGET_NAMES, COMPARISON_FILE, METHODS, NAME, CompareBudget

__all__ = [
    "BUDGET_NAMES",
    "CELLS_FILE",
    "COMPARISON_FILE",
    "DELTA",
    "METHODS",
    "NAME",
    "TRAININGS_FILE",
    "CompareBudget",
    "bootstrap_ci",
    "break_even",
    "cell_key",
    "comparison_controls",
    "comparison_table",
    "comparison_verdicts",
    "curve_at",
    "inject",
    "latency_noise",
    "load_comparison",
    "plot_comparison",
    "plot_comparison_panel",
    "redraw",
    "render_comparison",
    "run_comparison",
    "verdict_of",
    "write_comparison",
]

register(NAME, redraw=redraw)(run_recommend_experiment)
