"""EfficientDL's αβ-BO as an Optuna study on a shared storage (journal file or RDB).

:func:`run_alpha_beta_study` searches a :class:`~._setup.SearchSetup`'s grid with
:class:`~effdl_kit.search.AlphaBetaSampler`, one categorical parameter per searched component,
through :func:`effdl_kit._core.storage.run_study`: in local worker processes or on an executor
(a Dask client's ``get_executor()``), resuming what the storage already holds.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from typing import Any

from effdl_kit._core.errors import ConfigError
from effdl_kit._core.storage import StudyRun, make_storage, run_study
from effdl_kit._core.validate import check_executor, check_int
from effdl_kit.experiments.efficientdl._setup import SearchSetup, plain_value
from effdl_kit.search import AlphaBetaSampler, sampler_factory

__all__ = ["run_alpha_beta_study"]


def _optuna_choice(name: str, value: Any) -> bool | int | float | str | None:
    """A grid value as a plain Python value Optuna can store in a categorical distribution."""
    v = plain_value(value)
    if v is None or isinstance(v, bool | int | float | str):
        return v
    raise ConfigError(f"setup.problem.space.values[{name!r}]", value,
                      "grid values Optuna can store: None, bool, int, float or str "
                      "(numpy scalars are converted)")


class _GridObjective:
    """Picklable Optuna objective: the setup's predictor at one choice per searched component.

    Parameters
    ----------
    setup : SearchSetup
        Its ``problem.space`` gives the components and their grid values (one categorical
        parameter each, values converted to plain Python types).
    """

    def __init__(self, setup: SearchSetup) -> None:
        space = setup.problem.space
        self.setup = setup
        self.choices: dict[str, list[bool | int | float | str | None]] = {
            str(n): [_optuna_choice(str(n), v) for v in vals]
            for n, vals in zip(space.names, space.values, strict=True)}

    def __call__(self, trial: Any) -> float:
        """The predicted accuracy of the trial's configuration (the study maximises it)."""
        config = {n: trial.suggest_categorical(n, c) for n, c in self.choices.items()}
        return float(self.setup.problem.objective(config))


def run_alpha_beta_study(setup: SearchSetup, *, study_name: str, storage: Any, n_trials: int,
                         n_workers: int = 1, executor: Executor | None = None, seed: int = 0,
                         storage_kwargs: Mapping[str, Any] | None = None,
                         **sampler_kwargs: Any) -> StudyRun:
    """αβ-BO on the setup's predictor as an Optuna study on a shared storage.

    The study (direction maximize) has one categorical parameter per searched component, its
    grid values as choices (plain Python values), and the predictor as objective; trials are
    sampled by :class:`~effdl_kit.search.AlphaBetaSampler` and run by
    :func:`effdl_kit._core.storage.run_study`: created when missing, resumed when the storage
    holds it (finished trials are kept), run in local worker processes or on an executor.
    Unlike :func:`run_method`, the sampler gets no dataset rows as prior data: it starts with
    ``n_startup_trials`` random trials.

    Parameters
    ----------
    setup : SearchSetup
        From :func:`search_setup`; pickled into every worker.
    study_name : str
        Non-empty.
    storage : str, Path or optuna.storages.BaseStorage
        A journal-file path, an RDB URL (``postgresql+psycopg://user@host:5432/db``) or a
        storage (see :func:`effdl_kit._core.storage.make_storage`); a path or URL when
        workers run in other processes.
    n_trials : int
        Finished trials the study should hold at the end (>= 1; a few more when several
        workers finish at once).
    n_workers : int
        Worker processes (or executor jobs), each loading the study and optimising (>= 1).
        ``1`` without an executor runs in this process.
    executor : concurrent.futures.Executor, optional
        Where the workers run (a Dask client's ``get_executor()``). Default: local processes.
    seed : int
        Worker ``k``'s sampler gets seed ``seed + k`` (>= 0). With one worker the trials are
        the same wherever it runs.
    storage_kwargs : mapping, optional
        Keyword arguments of :func:`~effdl_kit._core.storage.make_storage` (RDB heartbeat:
        ``heartbeat_interval``, ``grace_period``, ``retries``).
    **sampler_kwargs
        :class:`~effdl_kit.search.AlphaBetaSampler` arguments other than ``seed`` (``alpha``,
        ``beta``, ``omega``, ``n_startup_trials``, ``max_observations``...).

    Returns
    -------
    StudyRun
        The study's finished trials by state, and the reasons of the failed ones.

    Raises
    ------
    ConfigError
        Any bad argument, naming it, before any trial runs.
    """
    if not isinstance(setup, SearchSetup):
        raise ConfigError("setup", type(setup).__name__, "a SearchSetup (see search_setup)")
    if not isinstance(study_name, str) or not study_name.strip():
        raise ConfigError("study_name", study_name, "a non-empty string")
    n_trials = check_int("n_trials", n_trials, min_value=1)
    n_workers = check_int("n_workers", n_workers, min_value=1)
    seed = check_int("seed", seed, min_value=0)
    check_executor(executor)
    storage_kw = _keyword_args("storage_kwargs", storage_kwargs, make_storage, skip=("storage",))
    sampler_kw = _keyword_args("sampler_kwargs", sampler_kwargs, AlphaBetaSampler.__init__,
                               skip=("self", "seed"))
    factory = sampler_factory(**sampler_kw)  # checks the values, naming the field
    objective = _GridObjective(setup)
    return run_study(study_name, objective, storage=storage, n_trials=n_trials,
                     n_workers=n_workers, direction="maximize", sampler_factory=factory,
                     seed=seed, executor=executor, storage_kwargs=storage_kw)


def _keyword_args(field: str, kwargs: Mapping[str, Any] | None, fn: Callable[..., Any], *,
                  skip: Sequence[str]) -> dict[str, Any]:
    """``kwargs`` as a dict, checked to be keyword arguments of ``fn`` other than ``skip``."""
    if kwargs is None:
        return {}
    allowed = [p for p in inspect.signature(fn).parameters if p not in skip]
    if not isinstance(kwargs, Mapping):
        raise ConfigError(field, kwargs, f"None or a mapping with keys among {allowed}")
    unknown = sorted(str(k) for k in kwargs if k not in allowed)
    if unknown:
        raise ConfigError(field, unknown, f"keys among {allowed}")
    return dict(kwargs)
