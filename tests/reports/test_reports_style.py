"""Paper style, figure sizes and font embedding."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pytest

from effdl_kit.errors import ConfigError
from effdl_kit.reports import (
    DOUBLE_COLUMN_IN,
    SINGLE_COLUMN_IN,
    figure,
    paper_rc,
    paper_style,
    paper_style_context,
    save_figure,
)


@pytest.fixture(autouse=True)
def _restore_rc() -> object:
    with mpl.rc_context():
        yield


def test_column_widths() -> None:
    assert SINGLE_COLUMN_IN == 3.33
    assert DOUBLE_COLUMN_IN == 6.9


def test_paper_style_sets_camera_ready_rcparams() -> None:
    paper_style()
    rc = mpl.rcParams
    assert rc["pdf.fonttype"] == 42
    assert rc["ps.fonttype"] == 42
    assert rc["savefig.bbox"] == "tight"
    assert rc["savefig.dpi"] == 300
    assert rc["font.family"] == ["serif"]
    assert rc["font.serif"][0] == "DejaVu Serif"
    assert not rc["axes.spines.top"]


def test_font_scale_and_context_change_font_sizes() -> None:
    paper_style("paper", 1.0)
    small = mpl.rcParams["axes.labelsize"]
    paper_style("paper", 2.0)
    assert mpl.rcParams["axes.labelsize"] == pytest.approx(2 * small)
    paper_style("talk", 1.0)
    assert mpl.rcParams["axes.labelsize"] > small


def test_context_manager_restores_previous_settings() -> None:
    mpl.rcParams["pdf.fonttype"] = 3
    mpl.rcParams["font.family"] = ["sans-serif"]
    with paper_style_context(font_scale=1.2):
        assert mpl.rcParams["pdf.fonttype"] == 42
        assert mpl.rcParams["font.family"] == ["serif"]
    assert mpl.rcParams["pdf.fonttype"] == 3
    assert mpl.rcParams["font.family"] == ["sans-serif"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"context": "journal"}, "context"), ({"font_scale": 0}, "font_scale"),
     ({"font_scale": "big"}, "font_scale")],
)
def test_bad_style_arguments(kwargs: dict, field: str) -> None:
    before = dict(mpl.rcParams)
    with pytest.raises(ConfigError) as err:
        paper_style(**kwargs)
    assert err.value.field == field
    with pytest.raises(ConfigError), paper_style_context(**kwargs):
        pass
    assert dict(mpl.rcParams) == before  # nothing changed


def test_figure_sizes() -> None:
    fig, _ = figure("single")
    assert tuple(fig.get_size_inches()) == pytest.approx((3.33, 3.33 * 0.62))
    plt.close(fig)
    fig, axes = figure("double", aspect=0.5, nrows=2, ncols=3, pyplot=False)
    assert axes.shape == (2, 3)
    assert tuple(fig.get_size_inches()) == pytest.approx((6.9, 6.9 / 3 * 0.5 * 2))
    assert fig not in [plt.figure(n) for n in plt.get_fignums()]  # detached from pyplot


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"width": "triple"}, "width"), ({"width": 3.3}, "width"), ({"aspect": -1}, "aspect"),
     ({"nrows": 0}, "nrows"), ({"ncols": 1.5}, "ncols")],
)
def test_figure_bad_arguments(kwargs: dict, field: str) -> None:
    with pytest.raises(ConfigError) as err:
        figure(**kwargs)
    assert err.value.field == field
    if field == "width":
        assert set(err.value.allowed) == {"single", "double"}
        assert "'single'" in str(err.value) and "'double'" in str(err.value)


def test_pdf_embeds_truetype_fonts(tmp_path: Path) -> None:
    with paper_style_context():
        fig, ax = figure("single", pyplot=False)
        ax.plot(np.arange(5), np.arange(5) ** 2)
        ax.set_xlabel("epoch")
        (pdf,) = save_figure(fig, tmp_path / "t", formats=("pdf",))
    data = pdf.read_bytes()
    assert b"/FontFile2" in data  # TrueType font program embedded
    assert b"/Subtype /Type3" not in data
    assert re.search(rb"/BaseFont /([A-Z]{6}\+)?DejaVuSerif", data)


def test_paper_rc_is_a_fresh_dict() -> None:
    a = paper_rc()
    a["pdf.fonttype"] = 3
    assert paper_rc()["pdf.fonttype"] == 42


def _drawn_pixels() -> np.ndarray:
    """A kit figure (figure + plot_training_curves) rendered to RGBA."""
    import pandas as pd

    from effdl_kit.reports import plot_training_curves

    hist = pd.DataFrame({"epoch": range(5), "train_loss": [2.0, 1.5, 1.1, 0.9, 0.8],
                         "val_loss": [2.1, 1.7, 1.3, 1.2, 1.2],
                         "train_metric": [0.1, 0.3, 0.5, 0.6, 0.7],
                         "val_metric": [0.1, 0.25, 0.4, 0.5, 0.55]})
    fig, ax = figure("single", pyplot=False)
    plot_training_curves(hist, ax=ax)
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba()).copy()  # type: ignore[attr-defined]


def test_kit_figures_look_the_same_with_or_without_the_extension() -> None:
    mpl.rcdefaults()  # a fresh kernel: no %load_ext effdl_kit
    plain = _drawn_pixels()
    assert mpl.rcParams["font.family"] == ["sans-serif"]  # the figure changed nothing global
    paper_style()  # what %load_ext effdl_kit does
    loaded = _drawn_pixels()
    assert plain.shape == loaded.shape
    assert np.array_equal(plain, loaded)


def test_kit_figure_in_a_fresh_process_passes_the_style_rule() -> None:
    import subprocess
    import sys

    code = ("import matplotlib; matplotlib.use('Agg')\n"
            "from effdl_kit.reports import figure\n"
            "from effdl_kit.testing import check_figure\n"
            "fig, ax = figure('single', pyplot=False)\n"
            "ax.plot([0, 1], [0, 1], label='a'); ax.legend(loc='lower right')\n"
            "ax.set_xlabel('Epoch')\n"
            "print(sorted({p.rule for p in check_figure(fig)}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.strip() == "[]", out.stderr


def test_a_caller_style_context_is_kept_by_the_kit_figure() -> None:
    with paper_style_context("talk"):
        talk = mpl.rcParams["axes.labelsize"]
        _, ax = figure("single", pyplot=False)
    assert ax.xaxis.label.get_fontsize() == pytest.approx(talk)
    _, ax2 = figure("single", pyplot=False)
    assert ax2.xaxis.label.get_fontsize() < talk
