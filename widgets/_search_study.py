"""The study behind a :class:`~effdl_kit.widgets.SearchPanel` run, for its importance and
parallel-coordinate views.

The search methods of the EfficientDL study do not all run in Optuna (the grid αβ-BO and random
search do not), so the panel records the configuration of every predictor call
(:class:`RecordingProblem`) and builds one in-memory Optuna study of all of them
(:func:`evaluations_study`): one trial per call, the searched components as parameters with
their grid's values (numbers as numeric distributions, log-scaled when they span two decades or
more, anything else categorical), the predictor's output as the value (maximised) and the
method, seed and call number as user attributes. :func:`effdl_kit.search.param_importances` and
:func:`effdl_kit.search.trials_frame` then read it like any study the kit writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from effdl_kit.errors import EffdlError
from effdl_kit.experiments.efficientdl import (
    DATASET_LABELS,
    METHOD_LABELS,
    SearchSetup,
    plot_search_curves,
)
from effdl_kit.search import PredictorProblem

if TYPE_CHECKING:
    import optuna
    import pandas as pd
    from matplotlib.axes import Axes

__all__ = ["OBJECTIVE_LABEL", "RecordingProblem", "draw_curves", "draw_importance",
           "draw_parallel",
           "evaluations_study", "plain_value", "recording_setup"]

#: what the study's value is, as figures name it
OBJECTIVE_LABEL = "Predicted accuracy"


@dataclass
class RecordingProblem(PredictorProblem):
    """A :class:`~effdl_kit.search.PredictorProblem` that appends every configuration it is
    asked to evaluate to :attr:`sink` (the same predictor, the same values)."""

    sink: list[dict[str, Any]] = field(default_factory=list)

    def objective(self, config: Mapping[str, Any]) -> float:
        """The predictor's output for ``config``, recorded."""
        self.sink.append({k: plain_value(v) for k, v in dict(config).items()})
        return super().objective(config)


def plain_value(v: Any) -> Any:
    """``v`` as a plain Python value (numpy scalars converted)."""
    return v.item() if isinstance(v, np.generic) else v


def recording_setup(setup: SearchSetup, sink: list[dict[str, Any]]) -> SearchSetup:
    """``setup`` whose problem records each evaluated configuration into ``sink``."""
    p = setup.problem
    rec = RecordingProblem(**{f.name: getattr(p, f.name) for f in fields(p)}, sink=sink)
    return replace(setup, problem=rec)


def _distribution(values: Sequence[Any]) -> optuna.distributions.BaseDistribution:
    import optuna

    vals = [plain_value(v) for v in values]
    numeric = len(vals) > 1 and all(isinstance(v, int | float) and not isinstance(v, bool)
                                    for v in vals)
    if not numeric:
        return optuna.distributions.CategoricalDistribution(list(dict.fromkeys(vals)))
    lo, hi = min(vals), max(vals)
    if all(isinstance(v, int) for v in vals):
        return optuna.distributions.IntDistribution(int(lo), int(hi))
    log = lo > 0 and hi / lo >= 100
    return optuna.distributions.FloatDistribution(float(lo), float(hi), log=log)


def evaluations_study(evaluations: pd.DataFrame, values: Mapping[str, Sequence[Any]], *,
                      name: str = "search panel") -> optuna.Study:
    """An in-memory Optuna study with one complete trial per evaluated configuration.

    Parameters
    ----------
    evaluations : pandas.DataFrame
        One row per predictor call: ``method``, ``seed``, ``iteration``, ``value`` and one
        column per searched component.
    values : mapping of str to sequence
        Each searched component's grid values (``SearchSetup.describe()["values"]``).
    name : str
        The study's name.

    Returns
    -------
    optuna.Study
        Direction "maximize"; calls with a non-finite value are left out.

    Raises
    ------
    EffdlError
        No call has a finite value.
    """
    import optuna

    from effdl_kit._core.study import quiet_optuna

    dists = {c: _distribution(v) for c, v in values.items()}
    trials = []
    for row in evaluations.to_dict(orient="records"):
        value = float(row["value"])
        if not np.isfinite(value):
            continue
        params = {}
        for c, d in dists.items():
            v = plain_value(row[c])
            params[c] = float(v) if isinstance(d, optuna.distributions.FloatDistribution) \
                else v
        trials.append(optuna.trial.create_trial(
            params=params, distributions=dists, value=value,
            user_attrs={"method": str(row["method"]), "seed": int(row["seed"]),
                        "iteration": int(row["iteration"])}))
    if not trials:
        raise EffdlError("no predictor call with a finite value: nothing to draw")
    with quiet_optuna():
        study = optuna.create_study(direction="maximize", study_name=name)
        study.add_trials(trials)
    return study


def draw_importance(study: optuna.Study, *, ax: Axes, seed: int) -> pd.DataFrame:
    """fANOVA importance of each searched component for the predictor's output, on ``ax``;
    the importance frame."""
    from effdl_kit.reports import plot_param_importances
    from effdl_kit.search import param_importances

    frame = param_importances(study, evaluator="fanova", seed=seed)
    plot_param_importances(frame, ax=ax)
    ax.set_title(f"What drives the predicted accuracy ({len(study.trials)} predictor calls)",
                 fontsize="small")
    return frame


def draw_parallel(study: optuna.Study, *, ax: Axes) -> None:
    """Parallel coordinates of every evaluated configuration, coloured by the predicted
    accuracy, on ``ax``."""
    from effdl_kit.reports import plot_parallel_coordinates
    from effdl_kit.search import trials_frame

    plot_parallel_coordinates(trials_frame(study), ax=ax, objective_label=OBJECTIVE_LABEL)


def draw_curves(curves: pd.DataFrame, *, ax: Axes, earlier: Sequence[Any] = (),
                yscale: str = "linear", setup: Mapping[str, Any] | None = None) -> None:
    """Mean simple regret per method with its 95 % band over seeds, on ``ax``.

    Parameters
    ----------
    curves : pandas.DataFrame
        The run's (or the live run's) predictor calls with their regret.
    ax : matplotlib.axes.Axes
    earlier : sequence of RunRecord
        Earlier kept runs, overlaid thin and dashed with their run label in the legend.
    yscale : {"linear", "log", "symlog"}
        The regret axis ("log" is drawn symmetric-log: a regret of 0 is the grid maximum).
    setup : dict, optional
        ``SearchSetup.describe()``: names the dataset, grid and searched components in the
        title.
    """
    from effdl_kit.reports import label, legend_beside

    plot_search_curves(curves, ax=ax, legend=False)
    names = {str(k): v for k, v in METHOD_LABELS.items()}
    for run in earlier:
        for i, (m, g) in enumerate(run.result["curves"].groupby("method", sort=False)):
            mean = g.groupby("iteration")["regret"].mean()
            ax.plot(mean.index, mean.to_numpy(), lw=0.8, ls="--", alpha=0.45,
                    color=f"C{(i + run.number) % 10}",
                    label=f"{run.label}: {names.get(str(m), str(m))}")
    if yscale == "linear":
        ax.set_yscale("linear")
        ax.set_ylim(bottom=0.0)
    if setup is not None:
        fixed = (f"; fixed at the task: {', '.join(map(label, setup['fixed']))}"
                 if setup["fixed"] else "")
        ax.set_title(f"{DATASET_LABELS[setup['dataset']]}: {setup['n_candidates']} candidates "
                     f"over {', '.join(map(label, setup['components']))}{fixed}",
                     fontsize="x-small", wrap=True)
    legend_beside(ax, fontsize="x-small", frameon=False)
