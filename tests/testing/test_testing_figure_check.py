"""The paper-ready figure check: each rule flags a small bad figure (positive control) and
passes a good one (negative control)."""

from __future__ import annotations

from collections.abc import Iterator

import matplotlib as mpl
import numpy as np
import pytest
from matplotlib.figure import Figure

from effdl_kit.errors import ConfigError
from effdl_kit.reports import figure, label
from effdl_kit.testing import RULES, assert_paper_ready, check_figure


@pytest.fixture(autouse=True)
def _plain_rc() -> Iterator[None]:
    """Matplotlib's defaults, as in a notebook without ``%load_ext effdl_kit``."""
    with mpl.rc_context():
        mpl.rcdefaults()
        yield


def _rules(fig: Figure) -> set[str]:
    return {p.rule for p in check_figure(fig)}


def _good() -> Figure:
    fig, ax = figure("single", pyplot=False)
    x = np.linspace(0, 10, 50)
    ax.plot(x, np.exp(-x / 3), label="decay")
    ax.plot(x, 0.5 + 0.0 * x, label="flat")
    ax.set_xlabel(label("epoch"))
    ax.set_ylabel(label("train_loss"))
    ax.set_ylim(0, 1.6)
    ax.legend(loc="upper right", ncols=2)
    return fig


def test_a_clean_kit_figure_passes_every_rule() -> None:
    assert check_figure(_good()) == []
    assert_paper_ready(_good())


def test_legend_over_curves_is_flagged() -> None:
    fig, ax = figure("single", pyplot=False)
    x = np.linspace(0, 1, 40)
    for k in range(4):
        ax.plot(x, x + 0.1 * k, label=f"run {k}")
    ax.legend(loc="center")
    assert "legend_overlap" in _rules(fig)
    # a line crossing a legend with only its two end points is still seen
    fig, ax = figure("single", pyplot=False)
    ax.plot([0, 1], [0.5, 0.5], label="straight")
    ax.set_ylim(0, 1)
    ax.legend(loc="center")
    assert "legend_overlap" in _rules(fig)


def test_legend_over_bars_and_scatter_is_flagged() -> None:
    fig, ax = figure("single", pyplot=False)
    ax.bar(np.arange(4), [9, 10, 9, 10], label="tall")
    ax.legend(loc="upper left")
    assert "legend_overlap" in _rules(fig)
    fig, ax = figure("single", pyplot=False)
    g = np.random.default_rng(0).uniform(0, 1, (400, 2))
    ax.scatter(g[:, 0], g[:, 1], s=3, label="points")
    ax.legend(loc="center")
    assert "legend_overlap" in _rules(fig)


def test_a_legend_beside_the_data_passes() -> None:
    fig, ax = figure("single", pyplot=False)
    ax.bar(np.arange(4), [1, 2, 1, 2], label="short")
    ax.set_ylim(0, 5)
    ax.legend(loc="upper right")
    assert "legend_overlap" not in _rules(fig)


def test_legend_leaving_the_figure_is_flagged() -> None:
    fig, ax = figure("single", pyplot=False, layout=None)
    ax.plot([0, 1], [0, 1], label="a long legend entry that runs out")
    ax.legend(loc="upper left", bbox_to_anchor=(0.8, 1.0))
    assert "legend_outside" in _rules(fig)
    fig.legends.clear()
    assert "legend_outside" not in _rules(_good())


def test_overlapping_tick_labels_are_flagged_and_rotation_fixes_them() -> None:
    names = ["batchnorm2d", "maxpool2d", "avgpool2d", "attention", "convolution"]
    fig, ax = figure("single", pyplot=False)
    ax.bar(np.arange(5), [1, 2, 3, 2, 1])
    ax.set_xticks(np.arange(5), names)
    assert "tick_overlap" in _rules(fig)
    fig, ax = figure("single", aspect=1.2, pyplot=False)
    ax.bar(np.arange(5), [1, 2, 3, 2, 1])
    ax.set_xticks(np.arange(5), names, rotation=45, ha="right")
    assert "tick_overlap" not in _rules(fig)


def test_text_outside_the_canvas_is_flagged() -> None:
    fig, ax = figure("single", pyplot=False)
    ax.text(1.4, 0.5, "far right", transform=ax.transAxes)
    assert "text_outside" in _rules(fig)
    fig, ax = figure("single", pyplot=False)
    ax.text(0.5, 0.5, "inside", transform=ax.transAxes)
    assert "text_outside" not in _rules(fig)


def test_a_figure_without_the_kit_style_is_flagged() -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 3), layout="constrained")
    try:
        ax.plot([0, 1], [0, 1])
        ax.set_xlabel("Epoch")
        assert "style" in _rules(fig)
    finally:
        plt.close(fig)


def test_the_kit_figure_has_the_kit_style_without_the_extension() -> None:
    # rcParams are matplotlib's defaults (sans-serif) here and stay so: a text added after
    # the figure was made is still drawn in the kit's font
    fig, ax = figure("single", pyplot=False)
    ax.plot([0, 1], [0, 1], label="line")
    ax.legend(loc="lower right")
    ax.annotate("added later", (0.1, 0.8), xycoords="axes fraction")
    assert mpl.rcParams["font.family"] == ["sans-serif"]
    assert "style" not in _rules(fig)


@pytest.mark.parametrize("text", ["kernel_size", "true top1", "hw", "n_trees"])
def test_raw_internal_names_are_flagged(text: str) -> None:
    fig, ax = figure("single", pyplot=False)
    ax.plot([0, 1], [0, 1])
    ax.set_xlabel(text)
    assert "raw_name" in _rules(fig), text


@pytest.mark.parametrize("text", ["Kernel size", "$x_1$ (s)", "Learning rate", "acc@10%"])
def test_labels_and_mathtext_are_not_raw_names(text: str) -> None:
    fig, ax = figure("single", pyplot=False)
    ax.plot([0, 1], [0, 1])
    ax.set_xlabel(text)
    assert "raw_name" not in _rules(fig), text


def test_lr_alone_is_a_raw_name() -> None:
    fig, ax = figure("single", pyplot=False)
    ax.plot([0, 1], [0, 1])
    ax.set_xlabel("lr")
    assert "raw_name" in _rules(fig)


def test_assert_paper_ready_lists_the_problems() -> None:
    fig, ax = figure("single", pyplot=False)
    ax.set_xlabel("kernel_size")
    with pytest.raises(AssertionError, match=r"my fig is not paper-ready:\n.*raw_name"):
        assert_paper_ready(fig, name="my fig")


def test_rules_subset_and_bad_arguments() -> None:
    fig, ax = figure("single", pyplot=False)
    ax.set_xlabel("kernel_size")
    assert check_figure(fig, rules=("style",)) == []
    assert len(RULES) == 6
    with pytest.raises(ConfigError) as err:
        check_figure(fig, rules=("pretty",))
    assert err.value.field == "rules"
    with pytest.raises(ConfigError) as err:
        check_figure(fig, overlap_tolerance=1.5)
    assert err.value.field == "overlap_tolerance"
    with pytest.raises(ConfigError) as err:
        check_figure("fig")  # type: ignore[arg-type]
    assert err.value.field == "fig"
