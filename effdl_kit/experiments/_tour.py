"""The ``tour`` experiment: the bench's CNN on digits, SGD against Adam.

Compute once, draw twice: :func:`run_tour` trains and saves every :class:`TrainResult` to
``results.json``; :func:`redraw` (also called at the end of the run) draws the training curves
and writes the results table from that file alone.

Budgets per scale (:meth:`Budget.for_scale`): ``smoke`` 2 epochs on 300 training images
(seconds), ``small`` 15 epochs on the full digits training split (about a minute on a 2-core
CPU), ``paper`` 40 epochs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from effdl_kit._core.errors import ConfigError, DataError
from effdl_kit._core.io import atomic_write_text
from effdl_kit._core.validate import check_int, check_scale
from effdl_kit.experiments._registry import ExperimentSummary, make_summary, register
from effdl_kit.reports import (
    export_table,
    figure,
    paper_style_context,
    plot_training_curves,
    save_figure,
)
from effdl_kit.training import TrainConfig, TrainResult, train

__all__ = ["OPTIMIZERS", "RESULTS_FILE", "Budget", "build_configs", "redraw", "run_tour"]

NAME = "tour"
RESULTS_FILE = "results.json"
FIGURE_STEM = "tour_curves"
TABLE_STEM = "tour_table"
#: The two optimizers compared.
Optimizer = Literal["sgd", "adam"]
#: The two optimizers compared, with their learning rates.
OPTIMIZERS: dict[Optimizer, dict[str, float]] = {
    "sgd": {"lr": 0.05, "momentum": 0.9},
    "adam": {"lr": 2e-3},
}


@dataclass(frozen=True)
class Budget:
    """Epochs and training-set size of the tour (``n_train`` None: the whole training split).

    Get one with :meth:`for_scale`; change a field with :func:`dataclasses.replace`.
    """

    epochs: int
    n_train: int | None

    def __post_init__(self) -> None:
        check_int("epochs", self.epochs, min_value=1)
        if self.n_train is not None:
            check_int("n_train", self.n_train, min_value=1)

    @classmethod
    def for_scale(cls, scale: str) -> Budget:
        """``smoke`` 2 epochs on 300 images, ``small`` 15 epochs and ``paper`` 40 epochs on
        the whole training split."""
        return _PER_SCALE[check_scale(scale)]


_PER_SCALE: dict[str, Budget] = {
    "smoke": Budget(epochs=2, n_train=300),
    "small": Budget(epochs=15, n_train=None),
    "paper": Budget(epochs=40, n_train=None),
}


def build_configs(scale: str, seed: int, *,
                  budget: Budget | None = None) -> dict[str, TrainConfig]:
    """The tour's training configs (one per optimizer) at ``scale`` (or with ``budget``)."""
    if budget is None:
        budget = Budget.for_scale(scale)
    elif not isinstance(budget, Budget):
        raise ConfigError("budget", budget, "a tour Budget (Budget.for_scale(scale), changed "
                          "with dataclasses.replace)")
    return {
        opt: TrainConfig(dataset="digits", model="cnn", optimizer=opt, batch_size=64,
                         seed=seed, epochs=budget.epochs, n_train=budget.n_train,
                         **params)  # type: ignore[arg-type]
        for opt, params in OPTIMIZERS.items()
    }


def run_tour(scale: str, seed: int, out: Path, *,
             budget: Budget | None = None) -> ExperimentSummary:
    """Train the digits CNN with SGD and with Adam; save results, curves and a table."""
    configs = build_configs(scale, seed, budget=budget)
    results = {opt: train(cfg) for opt, cfg in configs.items()}
    payload = {"experiment": NAME, "scale": scale, "seed": seed,
               "results": {opt: r.to_dict() for opt, r in results.items()}}
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / RESULTS_FILE, json.dumps(payload, indent=1) + "\n")
    paths = redraw(out)
    figures = [p.name for p in paths if p.suffix in (".pdf", ".svg", ".png")]
    tables = [p.name for p in paths if p.suffix in (".tex", ".md", ".csv")]
    metrics = {
        opt: {
            "final_val_accuracy": r.history[-1].val_metric,
            "test_accuracy": r.test_metric,
            "epochs": r.epochs_run,
            "train_time_s": r.wall_time_s,
        }
        for opt, r in results.items()
    }
    return make_summary(NAME, scale, seed, metrics=metrics, figures=figures, tables=tables,
                        wall_time_s=sum(r.wall_time_s for r in results.values()))


def load_results(out_dir: str | Path) -> tuple[dict[str, TrainResult], str, int]:
    """``(results by optimizer, scale, seed)`` read back from ``results.json``.

    Raises
    ------
    DataError
        No or malformed ``results.json`` in ``out_dir``.
    """
    path = Path(out_dir) / RESULTS_FILE
    if not path.is_file():
        raise DataError(f"no {RESULTS_FILE} in {str(out_dir)!r}: run the tour experiment first")
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        results = {opt: TrainResult.from_dict(d) for opt, d in payload["results"].items()}
        return results, str(payload["scale"]), int(payload["seed"])
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{str(path)!r} is not a tour results file: {exc}") from None


def results_table(results: dict[str, TrainResult]) -> pd.DataFrame:
    """One row per optimizer: final validation / test accuracy, training time, size, cost."""
    rows: list[dict[str, Any]] = []
    for opt, r in results.items():
        rows.append({
            "optimizer": opt,
            "lr": r.config.lr,
            "epochs": r.epochs_run,
            "final val acc": r.history[-1].val_metric if r.history else float("nan"),
            "test acc": r.test_metric,
            # summed epoch times: the run's wall time also holds one-off costs (data
            # loading, environment probe) that the first run of a process pays alone
            "train time (s)": sum(rec.time_s for rec in r.history),
            "params": r.n_params,
            "FLOPs/sample": r.flops,
        })
    return pd.DataFrame(rows)


def redraw(out_dir: str | Path) -> list[Path]:
    """Draw the tour's figure and write its table from ``results.json`` only (no training).

    Returns
    -------
    list of Path
        The figure files (PDF, SVG, PNG) then the table files (TeX, Markdown, CSV).
    """
    out = Path(out_dir)
    results, scale, seed = load_results(out)
    provenance = {
        "experiment": NAME,
        "source": RESULTS_FILE,
        "configs": {opt: r.config.to_dict() for opt, r in results.items()},
    }
    runs = list(results.values())
    labels = [f"{opt} (lr={r.config.lr:g})" for opt, r in results.items()]
    with paper_style_context():
        fig, (ax_loss, ax_acc) = figure("double", aspect=0.7, nrows=1, ncols=2, pyplot=False)
        plot_training_curves(runs, ax=ax_loss, metric="loss", split="both", labels=labels)
        plot_training_curves(runs, ax=ax_acc, metric="metric", split="val", labels=labels)
        ax_loss.set_title("cross-entropy loss")
        ax_acc.set_title("validation accuracy")
        paths = save_figure(fig, out / FIGURE_STEM, provenance=provenance, seed=seed,
                            scale=scale)
    table = results_table(results)
    paths += export_table(
        table, out / TABLE_STEM,
        caption=f"Digits CNN, SGD vs Adam ({scale} scale, seed {seed}).",
        label="tab:tour",
    )
    return paths


register(NAME, redraw=redraw)(run_tour)
