"""BTTackler live, the controller: an Optuna study whose trials are diagnosed as they train.

:class:`DiagnosisController` validates the panel's parameters and runs
:func:`effdl_kit.diagnosis.run_diagnosed_study` on a task of the ``bttackler`` experiment
(its search space, sampler and data), ``plain`` (diagnosed, never stopped) or ``bttackler``;
every epoch is reported as progress, so the figure (drawn by :mod:`effdl_kit.reports`) grows
while the study runs. It also shows a finished ``effdl reproduce bttackler`` results folder:
TSBA / Top10HR bars next to the paper's numbers, and the headline table.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from effdl_kit._core import Scale, check_choice
from effdl_kit.diagnosis import (
    DiagnosedEpoch,
    DiagnosedStudy,
    DiagnosedStudyOptions,
    DiagnosedTrial,
    DiagnosisConfig,
    check_enqueue,
    run_diagnosed_study,
)
from effdl_kit.errors import ConfigError, EffdlError
from effdl_kit.experiments.bttackler import (
    METHODS,
    TASKS,
    RunSpec,
    headline_table,
    load_results,
    make_sampler,
    plot_metric_row,
    redraw,
    resolve_settings,
    result_tasks,
    suggest_config,
    task_data,
)
from effdl_kit.reports import (
    INDICATOR_SERIES,
    export_table,
    label,
    plot_indicator_curves,
    plot_trial_losses,
)
from effdl_kit.reports import figure as paper_figure

from ._controller import PanelController
from ._diagnosis_settings import DIAGNOSIS_DEFAULTS, THRESHOLDS, VARIANTS, DiagnosisRun

if TYPE_CHECKING:
    import optuna
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = [
    "DIAGNOSIS_DEFAULTS",
    "THRESHOLDS",
    "VARIANTS",
    "DiagnosisController",
    "DiagnosisRun",
]

class DiagnosisController(PanelController):
    """Controller of the diagnosis panel: an Optuna study with BTTackler, watched live.

    Parameters
    ----------
    scale : {"smoke", "small", "paper"}
        Picks the experiment's budget (:data:`~effdl_kit.experiments.bttackler.BUDGETS`:
        epochs, training-set size, search-space sizes, dataset, device) and the default
        number of trials (4, 12, 50).
    **params
        Any of

        * ``task`` ({"cnn", "lstm", "transformer"}), ``sampler`` ({"random", "tpe", "gp",
          "qmc"}), ``variant`` ({"plain", "bttackler"}), ``mode`` ({"report", "prune"}),
          ``n_trials`` (>= 1), ``epochs`` (>= 2), ``seed`` (>= 0);
        * ``indicators`` (a subset of :data:`~effdl_kit.diagnosis.INDICATORS`) and the
          thresholds of :data:`THRESHOLDS` (see :class:`~effdl_kit.diagnosis.DiagnosisConfig`);
        * ``enqueue``: hyper-parameter dicts tried first, in order, before the sampler's
          proposals (``({"lr": 20.0, "optimizer": "sgd"},)``: a trial built to explode; values
          outside the search range are used as given, with a note in the table);
        * ``indicator``: the quantity drawn next to the loss (a key of
          :data:`~effdl_kit.reports.INDICATOR_SERIES`; a view setting, no rerun needed).

        Validated on :meth:`run`, before any training.

    Attributes
    ----------
    options : DiagnosedStudyOptions or None
        The validated options of the current (or last) run (``options.config``: the
        diagnosis configuration).
    spec : RunSpec or None
        The experiment's run description (task, dataset, sizes) of the current (or last) run.
    study : optuna.Study or None
        The study of the current (or last) run.
    experiment : dict or None
        The payload of the results folder loaded with :meth:`load_experiment`.
    result : DiagnosedStudy or None
        The last successful run.
    """

    defaults: ClassVar[Mapping[str, Any]] = DIAGNOSIS_DEFAULTS["small"]
    name: ClassVar[str] = "diagnosis"
    unit: ClassVar[str] = "epoch"
    draws_yscale: ClassVar[bool] = True

    def __init__(self, *, scale: Scale = "small", **params: Any) -> None:
        self.options: DiagnosedStudyOptions | None = None
        self.spec: RunSpec | None = None
        self.study: optuna.Study | None = None
        self.experiment: dict[str, Any] | None = None
        self.experiment_dir: Path | None = None
        self.experiment_files: list[Path] = []
        self._live: DiagnosedStudy | None = None
        #: y scale of both axes of :meth:`figure` ("linear", the toggle's first choice, and
        #: None leave each axis its own default: log where the values span decades)
        self.yscale: str = "linear"
        super().__init__(scale=scale, **params)

    def scale_defaults(self, scale: Scale) -> Mapping[str, Any]:
        """``DIAGNOSIS_DEFAULTS[scale]``."""
        return DIAGNOSIS_DEFAULTS[scale]

    @property
    def live(self) -> list[DiagnosedEpoch]:
        """Every recorded epoch of the current (or last) run, in order."""
        return self._live.history if self._live is not None else []

    @property
    def trials(self) -> list[DiagnosedTrial]:
        """Every trial started in the current (or last) run, in order."""
        return self._live.trials if self._live is not None else []

    # ------------------------------------------------------------------ run
    def prepare(self) -> dict[str, Any]:
        """Check every parameter (no training): choices, counts, the diagnosis thresholds
        (through :class:`DiagnosisConfig`), the configurations tried first.

        Raises
        ------
        ConfigError
            A bad value, naming the field and what is allowed.
        DatasetNotFoundError
            CIFAR-10 asked for (paper scale with ``$EFFDL_CIFAR10``) and not found.
        """
        self._live, self.study = None, None
        p = self.params
        task = check_choice("task", p["task"], TASKS)
        sampler = check_choice("sampler", p["sampler"], METHODS)
        check_choice("indicator", p["indicator"], tuple(INDICATOR_SERIES))
        config = DiagnosisConfig(indicators=p["indicators"], **{k: p[k] for k in THRESHOLDS})
        if not isinstance(p["enqueue"], list | tuple):  # the library's None is "()" here
            raise ConfigError("enqueue", p["enqueue"],
                              "a list of {hyper-parameter: value} dicts (empty: none)")
        options = DiagnosedStudyOptions(
            n_trials=p["n_trials"], epochs=p["epochs"], variant=p["variant"], mode=p["mode"],
            config=config, enqueue=tuple(p["enqueue"]), seed=p["seed"])
        s = resolve_settings(self.scale, tasks=[task], methods=[sampler], epochs=options.epochs)
        dataset = "co2" if task == "transformer" else str(s["image_dataset"])
        spec = RunSpec(
            task=task, method=sampler, variant=options.variant, repeat=0, seed=options.seed,
            budget_s=math.inf, workers=1, max_trials=options.n_trials, epochs=options.epochs,
            dataset=dataset, n_train=s["n_train"], space=dict(s["space_ranges"]),
            data_dir=s["data_dir"] if dataset == "cifar10" else None, device=str(s["device"]),
            gp_startup=int(s["gp_startup"]))
        options = dataclasses.replace(options, direction=spec.direction, metric=spec.metric)
        check_enqueue(options.enqueue, lambda trial: suggest_config(trial, spec))
        self.options, self.spec = options, spec
        return {"options": options, "spec": spec}

    def compute(self, prepared: dict[str, Any]) -> DiagnosedStudy:
        """Run the study (:func:`~effdl_kit.diagnosis.run_diagnosed_study`), reporting each
        epoch and each trial as progress."""
        spec: RunSpec = prepared["spec"]

        def keep(run: DiagnosedStudy, _record: Any) -> None:
            self._live, self.study = run, run.study

        context = {"task": spec.task, "sampler": spec.method, "dataset": spec.dataset,
                   "n_train": spec.n_train, "space": dict(spec.space), "device": spec.device,
                   "scale": self.scale}
        run = run_diagnosed_study(
            lambda trial: suggest_config(trial, spec), task_data(spec), prepared["options"],
            sampler=make_sampler(spec.method, seed=spec.seed, gp_startup=spec.gp_startup),
            context=context, on_epoch=keep, on_trial=keep, progress=self.report_progress,
            should_stop=self.should_stop)
        self._live, self.study = run, run.study
        return run

    def partial_result(self) -> DiagnosedStudy | None:
        """The trials of a run interrupted inside the study (e.g. ``KeyboardInterrupt`` in a
        synchronous :meth:`run`): the live study so far, marked stopped; None before the
        first trial started. (A Stop ends the study itself, which returns the same.)"""
        run = self._live
        if run is None or not run.trials:
            return None
        run.stopped = True
        return run

    def progress_text(self) -> str:
        """``"2/12 trials, 5 epochs trained"`` ("" before any progress). The study's progress
        counts epoch slots (a trial stopped early counts all its epochs), so the status line
        says what actually ran."""
        run = self.result if isinstance(self.result, DiagnosedStudy) else self._live
        if self.last_progress is None or run is None or self.options is None:
            return super().progress_text()
        n = len(run.history)
        return (f"{len(run.finished())}/{self.options.n_trials} trials, {n} "
                f"{self.unit if n == 1 else self.unit + 's'} trained")

    # ------------------------------------------------------------------ views of the run
    def _shown(self) -> DiagnosedStudy | None:
        """The finished (or stopped) run, or the live one while running; None otherwise
        (nothing run yet, or the last run failed: nothing stale is shown)."""
        if isinstance(self.result, DiagnosedStudy):
            return self.result
        if self.status != "running":
            return None
        if self._live is not None:
            return self._live
        if self.options is not None:
            return DiagnosedStudy(self.options)  # nothing recorded yet
        return None

    def table(self) -> pd.DataFrame:
        """One row per trial (:attr:`~effdl_kit.diagnosis.DiagnosedStudy.table`), live while
        the study runs, the finished run's afterwards.

        Raises
        ------
        EffdlError
            Nothing has been run yet.
        """
        run = self._shown()
        if run is None or not run.trials:
            raise EffdlError("no trials yet: run the panel first")
        return run.table

    def epochs_frame(self) -> pd.DataFrame:
        """Every recorded epoch (:attr:`~effdl_kit.diagnosis.DiagnosedStudy.epochs`)."""
        run = self._shown()
        if run is None:
            raise EffdlError("no diagnosis run yet: run the panel first")
        return run.epochs

    def figure(self, indicator: str | None = None) -> Figure:
        """Per-trial curves of the training loss and of one indicator quantity on robust
        limits (an exploding trial does not flatten the others: its cut points are marked at
        the edge) and on :attr:`yscale`, the thresholds as dashed lines, the epoch where an
        indicator fired marked with its code (a cross: BTTackler stopped the trial; a circle:
        it fired in a plain run).

        Parameters
        ----------
        indicator : str, optional
            A key of :data:`~effdl_kit.reports.INDICATOR_SERIES`; default the ``indicator``
            parameter.

        Raises
        ------
        EffdlError
            Nothing has been run yet.
        ConfigError
            An unknown ``indicator``.
        """
        key = check_choice("indicator", indicator if indicator is not None
                           else self.params["indicator"], tuple(INDICATOR_SERIES))
        run = self._shown()
        if run is None:
            raise EffdlError("no diagnosis run yet: run the panel first")
        fig, (ax_loss, ax_ind) = paper_figure("double", aspect=0.8, ncols=2, pyplot=False)
        ys = None if self.yscale in (None, "linear") else self.yscale
        plot_trial_losses(run, ax=ax_loss, yscale=ys, robust=True)
        plot_indicator_curves(run, key, ax=ax_ind, yscale=ys, robust=True)
        for ax in (ax_loss, ax_ind):
            ax.set_xlabel(label("epoch"))
        legend = ax_loss.get_legend()
        if legend is not None:
            legend.set_title(label("trial"))
        fig.suptitle(self._title(run), fontsize="small")
        return fig

    def _title(self, run: DiagnosedStudy | None) -> str:
        spec = self.spec
        if spec is None or run is None:
            return "BTTackler diagnosis"
        bttackler = run.options.variant == "bttackler"
        what = (f"BTTackler ({run.options.mode})" if bttackler
                else "plain (diagnosed, not stopped)")
        n = len(run.finished())
        tail = (f"{run.n_stopped} of {n} trials stopped" if bttackler
                else f"indicators fired on {run.n_flagged} of {n} trials")
        return f"{spec.task} on {spec.dataset}, {spec.method}, {what}: {tail}"

    def summary(self) -> str:
        """One line about the last run (:meth:`DiagnosedStudy.summary`), or the status."""
        res = self.result
        if not isinstance(res, DiagnosedStudy):
            return self.status
        head = f"stopped ({self.stop_reason}), partial: " if self.status == "stopped" else ""
        return head + res.summary()

    def export_table(self, path_stem: str | Path,
                     formats: Sequence[str] = ("tex", "md", "csv")) -> list[Path]:
        """Write the trial table with :func:`effdl_kit.reports.export_table` (EffdlError when
        nothing has been run yet)."""
        t = self.table().drop(columns=["error", "note", "t_end"])
        caption = f"Trials of the diagnosis panel: {self._title(self._shown())}."
        return [Path(p) for p in export_table(t, path_stem, formats, caption=caption,
                                              float_format="{:.4g}")]

    # ------------------------------------------------------------------ the experiment
    def load_experiment(self, path: str | Path, *, rewrite: bool = False) -> dict[str, Any]:
        """Read a finished ``effdl reproduce bttackler`` results folder.

        Parameters
        ----------
        path : str or Path
            The folder holding ``results.json``.
        rewrite : bool
            Also redraw its figures and tables into the folder (the experiment's ``redraw``);
            the files go to :attr:`experiment_files`.

        Returns
        -------
        dict
            The payload (:func:`~effdl_kit.experiments.bttackler.load_results`).

        Raises
        ------
        ConfigError
            An empty path.
        DataError
            No or malformed ``results.json`` there.
        """
        if not isinstance(path, str | Path) or not str(path).strip():
            raise ConfigError("path", path, "the folder of a finished bttackler experiment")
        payload = load_results(path)
        self.experiment = payload
        self.experiment_dir = Path(path)
        self.experiment_files = redraw(path) if rewrite else []
        return payload

    def experiment_figure(self) -> Figure:
        """TSBA (top row) and Top10HR (bottom row) per task of the loaded experiment, bars
        per method x variant, the paper's 40.33 % / 72.25 % / 52.08 % as reference lines.

        Raises
        ------
        EffdlError
            No experiment loaded (:meth:`load_experiment`).
        """
        if self.experiment is None:
            raise EffdlError("no bttackler results loaded: call load_experiment(path) first")
        rows = self.experiment["aggregate"]
        tasks = result_tasks(rows) or ["cnn"]
        fig, axes = paper_figure("double", aspect=0.9 if len(tasks) > 1 else 0.45, nrows=2,
                                 ncols=len(tasks), pyplot=False, squeeze=False)
        plot_metric_row(rows, "tsba", list(axes[0]))
        plot_metric_row(rows, "top10hr", list(axes[1]))
        legend: dict[str, Any] = {}  # label -> handle, Top10HR's first, then TSBA's new ones
        for ax in (axes[1, 0], axes[0, 0]):
            for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
                legend.setdefault(lab, h)
        if legend:
            fig.legend(list(legend.values()), list(legend), loc="outside lower center", ncol=3,
                       fontsize="small", frameon=False)
        p = self.experiment
        fig.suptitle(f"BTTackler experiment, {p['scale']} scale, seed {p['seed']}",
                     fontsize="small")
        return fig

    def experiment_table(self) -> pd.DataFrame:
        """The loaded experiment's headline numbers next to the paper's (quantity, kit,
        paper): :func:`~effdl_kit.experiments.bttackler.headline_table`.

        Raises
        ------
        EffdlError
            No experiment loaded.
        """
        if self.experiment is None:
            raise EffdlError("no bttackler results loaded: call load_experiment(path) first")
        return headline_table(self.experiment["headline"])
