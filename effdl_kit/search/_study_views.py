"""In-kernel views of an Optuna study: parameter importances and a trials table.

Every study the kit writes (a journal file per study, or an RDB URL such as PostgreSQL, see
:func:`effdl_kit._core.storage.make_storage`) opens with :func:`load_kit_study`;
:func:`param_importances` ranks its parameters with one of Optuna's importance evaluators
(seeded), :func:`trials_frame` lists its complete trials — parameters, objective value and the
kit's user attributes made readable (:data:`KIT_TRIAL_ATTRS`). The figures are drawn by
``effdl_kit.reports`` (``plot_param_importances``, ``plot_parallel_coordinates``).

>>> import optuna
>>> optuna.logging.set_verbosity(optuna.logging.WARNING)
>>> study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
>>> study.optimize(lambda t: t.suggest_float("x", 0, 1) + 0.01 * t.suggest_int("n", 0, 3),
...                n_trials=20)
>>> param_importances(study, evaluator="fanova", seed=0)["param"].tolist()
['x', 'n']
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import optuna
import pandas as pd
from optuna.distributions import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.importance import (
    BaseImportanceEvaluator,
    FanovaImportanceEvaluator,
    MeanDecreaseImpurityImportanceEvaluator,
    PedAnovaImportanceEvaluator,
)

from effdl_kit._core import SEED_MAX
from effdl_kit._core.errors import ConfigError
from effdl_kit._core.storage import StudyRun, make_storage
from effdl_kit._core.validate import check_choice, check_int

__all__ = [
    "IMPORTANCE_EVALUATORS",
    "KIT_STUDY_ATTRS",
    "KIT_TRIAL_ATTRS",
    "ImportanceEvaluatorName",
    "load_kit_study",
    "param_importances",
    "trials_frame",
]

ImportanceEvaluatorName = Literal["fanova", "mdi", "ped_anova"]

#: evaluator name -> ``factory(seed) -> optuna importance evaluator``: fANOVA (a random forest's
#: functional ANOVA, Optuna's default), MDI (mean decrease in impurity of a random forest),
#: PED-ANOVA (a quantile-based, deterministic estimate: the seed is not used)
IMPORTANCE_EVALUATORS: dict[str, Callable[[int], BaseImportanceEvaluator]] = {
    "fanova": lambda seed: FanovaImportanceEvaluator(seed=seed),
    "mdi": lambda seed: MeanDecreaseImpurityImportanceEvaluator(seed=seed),
    "ped_anova": lambda seed: PedAnovaImportanceEvaluator(),
}

#: the trial user attributes the kit writes: key -> what it holds
KIT_TRIAL_ATTRS: dict[str, str] = {
    "t_start": "run-clock seconds when the trial was asked for (the study's run clock: "
               "time since the run started, or a process clock in local studies)",
    "t_end": "run-clock seconds when the objective returned or raised",
    "worker": "index of the worker process that ran the trial (BTTackler runs)",
    "segment": "run segment (0 for the first session, +1 for each resume; BTTackler runs)",
    "outcome": "how a BTTackler-run trial ended: complete, bttackler (stopped early by a "
               "diagnosis), median, curvefit (pruned), over_budget, failed, interrupted",
    "bttackler": "BTTackler's diagnosis that stopped the trial: epoch, indicators fired, "
                 "their values, reason, mode, metric at the stop",
    "bttackler_last_epoch": "a diagnosis made at the trial's last epoch (not a stop)",
    "bttackler_train_losses": "the trial's training loss per epoch (null where non-finite)",
    "test_top1": "test top-1 accuracy of a confirmation (AutoML) trial",
    "fail_reason": "why a failed trial failed (exception type and message, 'non-finite "
                   "objective value: nan', 'interrupted: ...' or 'stale: ...')",
    "traceback": "last frames of the traceback of a trial whose objective raised",
    "retry_of": "number of the trial (left running by a dead worker) this one retries",
}

#: the study user attributes the kit writes: key -> what it holds
KIT_STUDY_ATTRS: dict[str, str] = {
    "worker_errors": "workers that raised, were lost or exited with an error (list of text)",
    "spec": "the run's identity (task, method, variant, seed, search space; BTTackler runs)",
    "segments": "number of run segments started (BTTackler runs)",
    "elapsed_s": "run-clock seconds used so far, over all segments (BTTackler runs)",
    "ready:<segment>:<worker>": "start-barrier flags of multi-worker runs",
}

_COMPLETE = (optuna.trial.TrialState.COMPLETE,)
_MAX_TEXT = 200


def load_kit_study(storage: Any, study_name: str | StudyRun | None = None) -> optuna.Study:
    """Open a study the kit wrote, for reading.

    Parameters
    ----------
    storage : str, Path or optuna.storages.BaseStorage
        A journal file (an existing path), an RDB URL (``postgresql+psycopg://...``,
        ``sqlite:///...``) or a storage.
    study_name : str, StudyRun or None
        The study, or the :class:`~effdl_kit._core.storage.StudyRun` a run returned; None
        when the storage holds exactly one study.

    Returns
    -------
    optuna.Study

    Raises
    ------
    ConfigError
        ``storage`` is not a storage, a journal path that does not exist, or ``study_name``
        is not in it (the message lists the studies it holds).
    """
    if isinstance(storage, str | os.PathLike) and "://" not in str(storage) \
            and not Path(storage).is_file():
        raise ConfigError("storage", str(storage),
                          "an existing journal file, an RDB URL or an optuna storage")
    st = make_storage(storage, heartbeat_interval=None)
    names = [s.study_name for s in st.get_all_studies()]
    name = study_name.study_name if isinstance(study_name, StudyRun) else study_name
    if name is None:
        if len(names) != 1:
            raise ConfigError("study_name", None, f"the name of one of the {len(names)} "
                              f"studies in the storage: {names}")
        name = names[0]
    check_choice("study_name", name, names)
    return optuna.load_study(study_name=name, storage=st)


def _single_objective(study: optuna.Study) -> None:
    if not isinstance(study, optuna.Study):
        raise ConfigError("study", type(study).__name__,
                          "an optuna.Study (load_kit_study opens a kit storage)")
    if len(study.directions) != 1:
        raise ConfigError("study", f"{len(study.directions)} objectives",
                          "a single-objective study")


def _common_params(trials: list[optuna.trial.FrozenTrial]) -> list[str]:
    """Parameters every trial has, in the order of the first trial."""
    names = list(trials[0].params)
    return [n for n in names if all(n in t.params for t in trials[1:])]


def param_importances(study: optuna.Study, *, evaluator: ImportanceEvaluatorName = "fanova",
                      seed: int = 0) -> pd.DataFrame:
    """Importance of each parameter for the objective, from the study's complete trials.

    Parameters
    ----------
    study : optuna.Study
        Single-objective, with at least 2 complete trials and 2 parameters present in all of
        them (the importances of a single parameter would be 1 by construction).
    evaluator : {"fanova", "mdi", "ped_anova"}
        See :data:`IMPORTANCE_EVALUATORS`.
    seed : int
        Seed of the evaluator's random forest (fANOVA, MDI): the same seed gives the same
        importances.

    Returns
    -------
    pandas.DataFrame
        Columns ``param`` (str) and ``importance`` (float, normalised to sum to 1), one row
        per parameter, most important first; ``attrs`` holds ``evaluator``, ``seed``,
        ``n_trials`` and ``study_name``.

    Raises
    ------
    ConfigError
        Bad ``evaluator`` or ``seed``, a multi-objective study, fewer than 2 complete trials
        or fewer than 2 common parameters — before any evaluation.
    """
    check_choice("evaluator", evaluator, tuple(IMPORTANCE_EVALUATORS))
    seed = check_int("seed", seed, min_value=0, max_value=SEED_MAX)
    _single_objective(study)
    trials = study.get_trials(deepcopy=False, states=_COMPLETE)
    if len(trials) < 2:
        raise ConfigError("study", f"{len(trials)} complete trial(s)",
                          "a study with at least 2 complete trials")
    params = _common_params(trials)
    if len(params) < 2:
        raise ConfigError("study", f"{len(params)} parameter(s) common to its complete "
                          f"trials {params}", "a study with at least 2 searched parameters")
    with warnings.catch_warnings():  # PED-ANOVA is marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        try:
            # sorted: Optuna 5.1's MDI evaluator names its importances in the order of
            # `params` but computes them in sorted order (mislabelled otherwise)
            scores = optuna.importance.get_param_importances(
                study, evaluator=IMPORTANCE_EVALUATORS[evaluator](seed), params=sorted(params))
        except ValueError as exc:  # a parameter whose distribution changed between trials
            raise ConfigError("study", str(exc), "a study whose parameters keep one "
                              "distribution over its complete trials") from None
    frame = pd.DataFrame({"param": list(scores), "importance": [float(v) for v in
                                                                 scores.values()]})
    frame = frame.sort_values("importance", ascending=False, kind="stable",
                              ignore_index=True)
    frame.attrs.update(evaluator=evaluator, seed=seed, n_trials=len(trials),
                       study_name=study.study_name)
    return frame


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT - 1] + "…"


def _diagnosis_text(value: Any) -> str:
    """A stored BTTackler diagnosis as ``"epoch 3: EG, VG"`` (its reason when present)."""
    if not isinstance(value, Mapping):
        return _text(value)
    inds = ", ".join(str(i) for i in value.get("indicators", []))
    head = f"epoch {value['epoch']}: " if "epoch" in value else ""
    return head + (inds or str(value.get("reason", "")))


def _last_loss(value: Any) -> float | None:
    if isinstance(value, list) and value and isinstance(value[-1], int | float):
        return float(value[-1])
    return None


def _scalar(value: Any) -> Any:
    return value if value is None or isinstance(value, bool | int | float | str) \
        else _text(value)


#: user attribute -> (column of trials_frame, how its value is shown)
_ATTR_COLUMNS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "worker": ("worker", _scalar),
    "segment": ("segment", _scalar),
    "outcome": ("outcome", _scalar),
    "test_top1": ("test_top1", _scalar),
    "retry_of": ("retry_of", _scalar),
    "bttackler": ("diagnosis", _diagnosis_text),
    "bttackler_last_epoch": ("last_epoch_diagnosis", _diagnosis_text),
    "bttackler_train_losses": ("final_train_loss", _last_loss),
}
#: user attributes not shown as columns: duration_s replaces the clock readings, and a
#: complete trial has no failure
_HIDDEN_ATTRS = frozenset({"t_start", "t_end", "fail_reason", "traceback"})


def _distribution_attrs(trials: list[optuna.trial.FrozenTrial], params: list[str]
                        ) -> tuple[list[str], dict[str, list[Any]], list[str]]:
    """(log-scaled params, categorical params -> choices, integer params)."""
    log: list[str] = []
    cats: dict[str, list[Any]] = {}
    ints: list[str] = []
    for name in params:
        dist = next(t.distributions[name] for t in trials if name in t.distributions)
        if isinstance(dist, CategoricalDistribution):
            cats[name] = list(dist.choices)
        elif isinstance(dist, FloatDistribution | IntDistribution):
            if dist.log:
                log.append(name)
            if isinstance(dist, IntDistribution):
                ints.append(name)
    return log, cats, ints


def trials_frame(study: optuna.Study) -> pd.DataFrame:
    """The study's complete trials as a table a person reads.

    Parameters
    ----------
    study : optuna.Study
        Single-objective.

    Returns
    -------
    pandas.DataFrame
        One row per complete trial (by number): ``number``, one column per parameter (its
        value as suggested; missing where a trial did not have it), ``value`` (the
        objective), ``duration_s`` (``t_end - t_start`` when both were recorded) and the
        kit's other user attributes made readable: ``worker``, ``segment``, ``outcome``,
        ``test_top1``, ``retry_of`` as stored, ``diagnosis`` and ``last_epoch_diagnosis``
        as ``"epoch 3: EG, VG"``, ``final_train_loss`` (the last of
        ``bttackler_train_losses``); any other user attribute under its key (lists and dicts
        as JSON text, at most 200 characters). A user attribute whose key is a parameter's
        name is shown as ``user_attr:<key>``. ``attrs`` holds ``study_name``, ``direction``
        ("minimize"/"maximize"), ``params``, ``objective`` (``"value"``), ``log_params``,
        ``categorical`` (param -> choices in the distribution's order) and ``int_params``.

    Raises
    ------
    ConfigError
        Not a single-objective ``optuna.Study``.
    """
    _single_objective(study)
    trials = sorted(study.get_trials(deepcopy=False, states=_COMPLETE), key=lambda t: t.number)
    params: list[str] = []
    for t in trials:
        params += [p for p in t.params if p not in params]
    taken = {"number", "value", "duration_s", *params}
    rows = []
    for t in trials:
        row: dict[str, Any] = {"number": t.number, **{p: t.params.get(p) for p in params},
                               "value": t.value}
        ua = t.user_attrs
        start, end = ua.get("t_start"), ua.get("t_end")
        if isinstance(start, int | float) and isinstance(end, int | float) \
                and math.isfinite(end - start):
            row["duration_s"] = float(end - start)
        for key, val in ua.items():
            if key in _HIDDEN_ATTRS:
                continue
            col, show = _ATTR_COLUMNS.get(key, (key, _scalar))
            row[f"user_attr:{col}" if col in taken else col] = show(val)
        rows.append(row)
    frame = pd.DataFrame(rows, columns=None if rows else ["number", *params, "value"])
    log, cats, ints = _distribution_attrs(trials, params) if trials else ([], {}, [])
    frame.attrs.update(study_name=study.study_name, direction=study.direction.name.lower(),
                       params=params, objective="value", log_params=log, categorical=cats,
                       int_params=ints)
    return frame
