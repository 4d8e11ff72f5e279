"""save_figure / read_provenance: provenance round trip through PDF, SVG and PNG metadata."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from effdl_kit._core.env import git_revision, kit_version
from effdl_kit.errors import ConfigError, DataError
from effdl_kit.reports import (
    FIGURE_FORMATS,
    provenance_record,
    read_pdf_info,
    read_provenance,
    save_figure,
)
from effdl_kit.reports._figures import _pdf_dict, _pdf_literal


def _fig() -> Figure:
    fig = Figure(figsize=(3, 2))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot([0, 1, 2], [2.0, 1.0, 1.5], label="loss")
    ax.set_title("curves")
    return fig


@pytest.mark.parametrize("fmt", FIGURE_FORMATS)
def test_provenance_round_trips_through_each_format(tmp_path: Path, fmt: str) -> None:
    extra = {
        "notebook": "00_tour",
        "config": {"lr": 0.002, "epochs": 2, "tags": ("a", "b"), "path": Path("/x/y")},
        "note": "parens ( ) \\ backslash, quotes \" and unicode: é α ≤ <tag> & amp",
        "count": np.int64(7),
    }
    paths = save_figure(_fig(), tmp_path / "sub" / "dir" / "fig", formats=(fmt,),
                        provenance=extra, seed=11, scale="smoke")
    assert paths == [tmp_path / "sub" / "dir" / f"fig.{fmt}"]
    assert paths[0].stat().st_size > 100
    rec = read_provenance(paths[0])
    assert rec["seed"] == 11
    assert rec["scale"] == "smoke"
    assert rec["effdl_kit_version"] == kit_version()
    assert rec["git_revision"] == git_revision()
    assert rec["timestamp"].endswith("+00:00")
    assert rec["notebook"] == "00_tour"
    assert rec["config"] == {"lr": 0.002, "epochs": 2, "tags": ["a", "b"], "path": "/x/y"}
    assert rec["note"] == extra["note"]
    assert rec["count"] == 7


def test_all_formats_by_default_in_order(tmp_path: Path) -> None:
    paths = save_figure(_fig(), tmp_path / "f.pdf", seed=0)  # a known suffix is dropped
    assert [p.name for p in paths] == ["f.pdf", "f.svg", "f.png"]
    recs = [read_provenance(p) for p in paths]
    assert all(r["seed"] == 0 and r["scale"] is None for r in recs)
    assert len({json.dumps(r, sort_keys=True) for r in recs}) == 1  # one record, three files


def test_file_formats_are_real(tmp_path: Path) -> None:
    pdf, svg, png = save_figure(_fig(), tmp_path / "f", dpi=200)
    assert pdf.read_bytes().startswith(b"%PDF-")
    assert b"<svg" in svg.read_bytes()[:2000]
    from PIL import Image

    with Image.open(png) as im:
        assert im.format == "PNG"
        assert im.info["dpi"][0] == pytest.approx(200, abs=1)
    info = read_pdf_info(pdf)
    assert info["Title"] == "f"
    assert info["Keywords"] == "effdl-kit provenance"
    assert json.loads(info["Subject"])["effdl_kit_version"] == kit_version()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"formats": ("pdf", "jpg")}, "formats"),
        ({"formats": ()}, "formats"),
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"scale": "huge"}, "scale"),
        ({"provenance": {"obj": object()}}, "provenance.obj"),
        ({"provenance": ["not", "a", "mapping"]}, "provenance"),
        ({"dpi": 0}, "dpi"),
    ],
)
def test_bad_arguments_fail_before_writing(tmp_path: Path, kwargs: dict, field: str) -> None:
    target = tmp_path / "never" / "fig"
    with pytest.raises(ConfigError) as err:
        save_figure(_fig(), target, **kwargs)
    assert err.value.field == field
    assert field in str(err.value)
    assert not (tmp_path / "never").exists()


def test_not_a_figure_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'fig'"):
        save_figure("a figure", tmp_path / "f")  # type: ignore[arg-type]


def test_read_provenance_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        read_provenance(tmp_path / "x.jpg")
    assert err.value.field == "format"
    assert set(err.value.allowed) == set(FIGURE_FORMATS)
    with pytest.raises(FileNotFoundError):
        read_provenance(tmp_path / "missing.pdf")
    # files written without provenance
    fig = _fig()
    for fmt in FIGURE_FORMATS:
        p = tmp_path / f"plain.{fmt}"
        fig.savefig(p, format=fmt)
        with pytest.raises(DataError, match="no effdl-kit provenance"):
            read_provenance(p)


def test_provenance_record_caller_entries_override() -> None:
    rec = provenance_record({"scale": "custom", "x": 1.0, "bad": float("nan")}, seed=3)
    assert rec["scale"] == "custom"
    assert rec["seed"] == 3
    assert rec["x"] == 1.0
    assert rec["bad"] == "nan"  # JSON has no NaN: recorded as text


def test_pdf_info_decodes_utf16_title(tmp_path: Path) -> None:
    p = tmp_path / "u.pdf"
    _fig().savefig(p, format="pdf", metadata={"Title": "Verlust ≤ α (é)", "Author": "a(b)c"})
    assert b"\xfe\xff" in p.read_bytes()  # matplotlib wrote the title as UTF-16BE
    info = read_pdf_info(p)
    assert info["Title"] == "Verlust ≤ α (é)"
    assert info["Author"] == "a(b)c"


def test_pdf_string_escapes() -> None:
    raw = rb"(a\(b\) (nested) \\ \101\102C \n\t\
joined\q)"
    value, end = _pdf_literal(raw, 0)
    assert value == b"a(b) (nested) \\ ABC \n\tjoinedq"
    assert end == len(raw)
    d = _pdf_dict(
        rb"<< /Title (x\051y) /Subject <FEFF00E9> /Trapped /False /Pages 3 0 R"
        rb" /Arr [1 (])] /N 12 /Sub << /K (v) >> >>", 0)
    assert d == {"Title": "x)y", "Subject": "é", "Trapped": "/False", "Pages": "3 0 R",
                 "N": "12"}
    with pytest.raises(DataError):
        _pdf_literal(b"(unterminated", 0)
