"""Every figure the experiments export is paper-ready (issue 18, item 5): each redraw runs on
a committed results file (the tests' fixtures or ``docs/results/``), its figures are caught
before they are written and checked with :func:`effdl_kit.testing.check_figure`, and every
name a figure asked the label registry for is registered."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import matplotlib as mpl
import pytest
from matplotlib.figure import Figure

import effdl_kit.experiments.bttackler._figures as bttackler_figures
import effdl_kit.experiments.bttackler._live_figures as live_figures
import effdl_kit.experiments.efficientdl._confirm_figures as confirm_figures
import effdl_kit.experiments.efficientdl._figures as efficientdl_figures
import effdl_kit.experiments.medn._figures as medn_figures
import effdl_kit.experiments.survey._figures as survey_figures
from effdl_kit.reports import figure, record_label_misses
from effdl_kit.testing import check_figure

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "docs" / "results"
FIXTURES = Path(__file__).parent
_MODULES = (bttackler_figures, live_figures, confirm_figures, efficientdl_figures,
            medn_figures, survey_figures)


@pytest.fixture
def caught(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, Figure]]]:
    """The figures the redraws would write, as (file stem, figure); nothing is written.

    Runs with matplotlib's default rcParams (a kernel without ``%load_ext effdl_kit``): the
    kit's style must come from its own figure constructors.
    """
    figs: list[tuple[str, Figure]] = []

    def save(fig: Figure, path_stem: str | Path, *args: Any, **kwargs: Any) -> list[Path]:
        figs.append((Path(path_stem).name, fig))
        return []

    for module in _MODULES:
        monkeypatch.setattr(module, "save_figure", save)
    with mpl.rc_context():
        mpl.rcdefaults()
        yield figs


def _copy_results(src: Path, tmp: Path) -> Path:
    shutil.copy(src, tmp / "results.json")
    return tmp


def _redraw_medn(tmp: Path) -> None:  # the committed run holds every part (splits too)
    medn_figures.redraw(_copy_results(RESULTS / "medn_results.json", tmp))


def _redraw_survey(tmp: Path) -> None:
    """The fixture has all four parts; docs/ adds E1's gain panels and a two-dtype roofline."""
    survey_figures.redraw(_copy_results(FIXTURES / "survey/fixtures/results.json", tmp))
    pareto = json.loads((RESULTS / "survey_pareto.json").read_text())
    ops = json.loads((RESULTS / "survey_ops.json").read_text())
    for part, doc, section in (("pareto", pareto, pareto["pareto"]),
                               ("ops", ops, ops["runs"][0])):
        out = tmp / part
        out.mkdir()
        (out / "results.json").write_text(json.dumps(
            {"experiment": "survey", "scale": doc["scale"], "seed": 0, part: section}))
        survey_figures.redraw(out)


def _redraw_efficientdl(tmp: Path) -> None:  # datasets, search and confirmation
    efficientdl_figures.redraw(_copy_results(FIXTURES / "efficientdl/fixtures/results.json",
                                             tmp))


def _redraw_bttackler(tmp: Path) -> None:
    bttackler_figures.redraw(_copy_results(FIXTURES / "bttackler/fixtures/results.json", tmp))
    live_figures.redraw_live(json.loads((RESULTS / "bttackler_live.json").read_text()),
                             tmp / "bttackler_live")


REDRAWS: dict[str, tuple[Callable[[Path], None], set[str]]] = {
    "medn": (_redraw_medn, {"medn_accuracy", "medn_pred_vs_true", "medn_ablation",
                            "medn_splits"}),
    "survey": (_redraw_survey, {"survey_pareto", "survey_roofline", "survey_flops_runtime",
                                "survey_loader"}),
    "efficientdl": (_redraw_efficientdl, {"efficientdl_pred_vs_true", "efficientdl_importance",
                                          "efficientdl_search", "efficientdl_confirm"}),
    "bttackler": (_redraw_bttackler, {"bttackler_tsba", "bttackler_top10hr",
                                      "bttackler_live"}),
}


def _assert_all_ready(figs: list[tuple[str, Figure]]) -> None:
    report = [f"{name}: {p}" for name, fig in figs for p in check_figure(fig)]
    assert not report, "\n".join(report)


@pytest.mark.parametrize("experiment", sorted(REDRAWS))
def test_every_exported_figure_is_paper_ready(experiment: str, tmp_path: Path,
                                              caught: list[tuple[str, Figure]]) -> None:
    redraw, stems = REDRAWS[experiment]
    with record_label_misses() as misses:
        redraw(tmp_path)
    assert {name for name, _ in caught} == stems
    assert misses == set(), f"names without a registered label: {sorted(misses)}"
    _assert_all_ready(caught)


def test_the_replay_and_aa_figures_are_paper_ready() -> None:
    from effdl_kit.experiments.bttackler import replay_figure
    from effdl_kit.experiments.bttackler._replay_study import ReplayStudy
    from effdl_kit.experiments.survey._aa import AAStudy
    from effdl_kit.experiments.survey._pareto_main import plot_aa

    with mpl.rc_context(), record_label_misses() as misses:
        mpl.rcdefaults()
        replay = json.loads((RESULTS / "bttackler_replay.json").read_text())["study"]
        figs = [("bttackler_replay", replay_figure(ReplayStudy.from_dict(replay)))]
        aa = json.loads((RESULTS / "survey_aa.json").read_text())["study"]
        fig, ax = figure("double", aspect=0.45, pyplot=False)
        plot_aa(AAStudy.from_json(json.dumps(aa)), ax=ax)
        figs.append(("survey_aa", fig))
        _assert_all_ready(figs)
    assert misses == set()


def test_the_check_sees_what_the_issue_saw() -> None:
    """Positive control on real data: the E3 figure drawn the old way (single column, legend
    where matplotlib finds room, raw variant names) fails the check."""
    import numpy as np
    import pandas as pd

    rows = pd.DataFrame(json.loads((FIXTURES / "survey/fixtures/results.json").read_text())
                        ["variants"]["rows"])
    fig, ax = figure("single", aspect=0.8, pyplot=False)
    x = np.arange(len(rows))
    ax.bar(x - 0.2, rows["flops_ratio"], width=0.4, label="FLOPs / baseline")
    ax.bar(x + 0.2, rows["time_ratio"], width=0.4, label="step time / baseline")
    ax.set_xticks(x, [str(v).replace("_", "\n") for v in rows["variant"]])
    ax.legend(fontsize="x-small")
    rules = {p.rule for p in check_figure(fig)}
    assert {"legend_overlap", "raw_name"} <= rules
