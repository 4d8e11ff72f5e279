"""export_table: LaTeX, Markdown and CSV contents."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from effdl_kit.errors import ConfigError
from effdl_kit.reports import export_table


@pytest.fixture
def df() -> pd.DataFrame:
    return pd.DataFrame({
        "optimizer": ["sgd", "adam_w"],
        "test acc": [0.912345, np.nan],
        "params": [13754, 200],
    })


def test_three_formats_written(tmp_path: Path, df: pd.DataFrame) -> None:
    paths = export_table(df, tmp_path / "a" / "tab", caption="Final results", label="tab:x")
    assert [p.name for p in paths] == ["tab.tex", "tab.md", "tab.csv"]
    tex, md = (p.read_text() for p in paths[:2])

    assert "\\begin{table}" in tex and "\\caption{Final results}" in tex
    assert "\\label{tab:x}" in tex
    assert "\\toprule" in tex and "\\midrule" in tex and "\\bottomrule" in tex
    assert "optimizer & test acc & params \\\\" in tex
    assert "sgd & 0.912 & 13754 \\\\" in tex
    assert "adam\\_w &  & 200 \\\\" in tex  # escaped underscore, empty missing value

    lines = md.splitlines()
    assert lines[0].split("|")[1:-1] == [" optimizer   ", "   test acc ", "   params "]
    assert lines[1].startswith("|:") and lines[1].endswith(":|")  # text left, numbers right
    assert [c.strip() for c in lines[2].split("|")[1:-1]] == ["sgd", "0.912", "13754"]
    assert [c.strip() for c in lines[3].split("|")[1:-1]] == ["adam_w", "", "200"]
    assert lines[-1] == "Table: Final results"

    back = pd.read_csv(paths[2])  # CSV keeps full precision and no index
    pd.testing.assert_frame_equal(back, df)


def test_index_written_when_meaningful(tmp_path: Path, df: pd.DataFrame) -> None:
    indexed = df.set_index("optimizer")
    tex, md, csv = export_table(indexed, tmp_path / "t", float_format="{:.1%}")
    assert "optimizer & test acc & params \\\\" in tex.read_text()
    assert "sgd & 91.2% & 13754" in tex.read_text()
    assert "| sgd " in md.read_text() and "91.2%" in md.read_text()
    assert pd.read_csv(csv).columns.tolist() == ["optimizer", "test acc", "params"]
    # and suppressed on request
    (tex2,) = export_table(indexed, tmp_path / "u", formats=["tex"], index=False)
    assert "sgd" not in tex2.read_text()


def test_callable_float_format_and_subset(tmp_path: Path, df: pd.DataFrame) -> None:
    (md,) = export_table(df, tmp_path / "t.md", formats="md",
                         float_format=lambda x: f"{x:.2e}")
    assert md.name == "t.md"
    assert "9.12e-01" in md.read_text()
    assert not (tmp_path / "t.tex").exists()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"formats": ("tex", "xlsx")}, "formats"), ({"formats": []}, "formats"),
     ({"float_format": "{:.3f} {}"}, "float_format"), ({"float_format": 3}, "float_format"),
     ({"caption": 1}, "caption")],
)
def test_bad_arguments_fail_before_writing(tmp_path: Path, df: pd.DataFrame, kwargs: dict,
                                           field: str) -> None:
    with pytest.raises(ConfigError) as err:
        export_table(df, tmp_path / "never" / "t", **kwargs)
    assert err.value.field == field
    assert not (tmp_path / "never").exists()


def test_not_a_dataframe(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'df'"):
        export_table([[1, 2]], tmp_path / "t")  # type: ignore[arg-type]


def test_humanized_headers_in_tex_and_md_machine_names_in_csv(tmp_path: Path) -> None:
    table = pd.DataFrame({"model": ["cnn"], "latency_ms": [1.25], "n_trees": [100]})
    tex, md, csv = export_table(table, tmp_path / "t", humanize=True)
    header = md.read_text().splitlines()[0]
    assert "Latency (ms)" in header and "Trees" in header and "latency_ms" not in header
    assert "Latency (ms)" in tex.read_text() and "latency\\_ms" not in tex.read_text()
    assert list(pd.read_csv(csv).columns) == ["model", "latency_ms", "n_trees"]
    plain = export_table(table, tmp_path / "p", formats=("md",))[0]
    assert "latency_ms" in plain.read_text()  # off by default
