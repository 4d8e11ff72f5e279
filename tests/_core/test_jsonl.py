"""The resumable JSON-lines dataset: append, torn last line, resume, provenance sidecar."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from effdl_kit._core.jsonl import (
    PROVENANCE_SUFFIX,
    DataWarning,
    JsonlDataset,
    JsonlLoadReport,
    check_rows,
    provenance_path,
)
from effdl_kit.errors import ConfigError, DataError

FMT = "test-dataset/1"


def dataset(path: Path) -> JsonlDataset:
    return JsonlDataset(path, fmt=FMT, kind="test dataset", statuses=("ok", "failed"))


def test_provenance_path_replaces_the_suffix() -> None:
    assert provenance_path("data/latency_cpu.jsonl") == Path("data/latency_cpu.provenance.json")
    assert provenance_path(Path("/x/y/components_cpu.jsonl")).name == (
        "components_cpu" + PROVENANCE_SUFFIX)
    assert dataset(Path("d/a.jsonl")).provenance == Path("d/a.provenance.json")


def test_the_shipped_sidecars_follow_the_rule() -> None:
    data = Path(__file__).resolve().parents[2] / "data"
    datasets = sorted(data.glob("*.jsonl"))
    assert datasets, "the shipped datasets are missing"
    for path in datasets:
        assert provenance_path(path).is_file(), path.name
    sidecars = {p.name for p in data.glob(f"*{PROVENANCE_SUFFIX}")}
    assert sidecars == {provenance_path(p).name for p in datasets}


def test_resume_creates_the_header_and_rows_append(tmp_path: Path) -> None:
    ds = dataset(tmp_path / "sub" / "d.jsonl")
    state = ds.resume({"seed": 3, "space": {"lr": [0.1]}})
    assert state.header is not None and state.rows == [] and state.torn == b""
    header = json.loads(ds.path.read_text().splitlines()[0])
    assert header["format"] == FMT and header["seed"] == 3 and header["created"]
    with ds.appender() as append:
        append({"index": 0, "status": "ok", "x": 1.5})
        # written and on disk before the appender closes
        assert ds.read().rows == [{"index": 0, "status": "ok", "x": 1.5}]
        append({"index": 1, "status": "failed", "error": "é"})
    text = ds.path.read_text(encoding="utf-8")
    assert text.endswith("\n") and len(text.splitlines()) == 3
    content = ds.read()
    assert content.header == header and [r["index"] for r in content.rows] == [0, 1]
    assert content.rows[1]["error"] == "é" and content.torn == b""


def test_a_torn_last_line_is_left_out_reported_and_cut_on_resume(tmp_path: Path) -> None:
    ds = dataset(tmp_path / "d.jsonl")
    ds.resume({"seed": 0})
    with ds.appender() as append:
        append({"index": 0, "status": "ok"})
    complete = ds.path.read_bytes()
    torn = '{"index": 1, "status": "ok", "name": "\u00e9'.encode()[:-1]  # cut mid-character
    with ds.path.open("ab") as fh:
        fh.write(torn)
    content = ds.read()
    assert [r["index"] for r in content.rows] == [0] and content.torn == torn
    assert content.torn_line == 3 and content.unterminated is None
    with pytest.warns(DataWarning, match=r"d\.jsonl': line 3 is torn .* 39 bytes are left out"):
        assert ds.load().torn == torn
    assert ds.path.read_bytes() == complete + torn, "reading changes nothing"
    resumed = ds.resume({"seed": 0})
    assert resumed.torn == torn and [r["index"] for r in resumed.rows] == [0]
    assert ds.path.read_bytes() == complete, "the torn tail is cut off, the rest kept as is"
    with ds.appender() as append:
        append({"index": 1, "status": "ok"})
    assert [r["index"] for r in ds.read().rows] == [0, 1] and ds.read().torn == b""


def test_resume_with_other_arguments_is_refused(tmp_path: Path) -> None:
    ds = dataset(tmp_path / "d.jsonl")
    ds.resume({"seed": 0, "scale": "smoke"})
    before = ds.path.read_bytes()
    with pytest.raises(ConfigError) as info:
        ds.resume({"seed": 1, "scale": "smoke"})
    assert info.value.field == "path" and "other seed" in str(info.value)
    assert ds.path.read_bytes() == before
    assert ds.resume({"seed": 0, "scale": "smoke"}).header is not None  # same ones: fine


@pytest.mark.parametrize(("text", "match"), [
    ('{"format": "other/1"}\n', "not a test dataset"),
    (f'{{"format": "{FMT}"}}\nnot json\n', "corrupt line 2"),
    (f'{{"format": "{FMT}"}}\n[1, 2]\n', "line 2 is not a JSON object"),
    (f'{{"format": "{FMT}"}}\n{{"index": "0", "status": "ok"}}\n', "integer 'index'"),
    (f'{{"format": "{FMT}"}}\n{{"index": true, "status": "ok"}}\n', "integer 'index'"),
    (f'{{"format": "{FMT}"}}\n{{"index": 0, "status": "done"}}\n', "'status' in"),
    ("null\n", "line 1 is not a JSON object"),
    ("[1, 2, 3]\n", "line 1 is not a JSON object"),
    (f'{{"format": "{FMT}"}}\nnull\n', "line 2 is not a JSON object"),
    (f'{{"format": "{FMT}"}}\n' + "[" * 100_000 + "\n", "line 2: JSON nested too deeply"),
    (f'{{"format": "{FMT}"}}\n{{"index": 1{"0" * 400}, "status": "ok"}}\n',
     "line 2: an integer of 401 digits"),
    (f'{{"format": "{FMT}"}}\n{{"index": 0, "status": "ok", "x": -{"9" * 19}}}\n',
     "line 2: an integer of 19 digits"),
    (f'{{"format": "{FMT}"}}\n\n{{"index": 0, "status": "ok"}}\n', "corrupt line 2"),
])
def test_corrupt_complete_lines_are_errors(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text(text)
    with pytest.raises(DataError, match=match):
        dataset(path).read()
    with pytest.raises(DataError, match=match):
        dataset(path).resume({})


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no test dataset at .* \(build one\)"):
        dataset(tmp_path / "missing.jsonl").load(hint=" (build one)")
    empty = tmp_path / "empty.jsonl"
    empty.write_text('{"format": "test-dat')  # only a torn header
    with pytest.raises(DataError, match="is empty"):
        dataset(empty).load()
    (tmp_path / "bytes.jsonl").write_bytes(b"\xff\xfe\n")
    with pytest.raises(DataError, match="line 1 is not UTF-8"):
        dataset(tmp_path / "bytes.jsonl").load()
    text = (f'{{"format": "{FMT}"}}\n{{"index": 0, "status": "ok"}}\n'
            '{"index": 1, "name": "\xe9"}\n')
    (tmp_path / "row.jsonl").write_bytes(text.encode("latin-1"))
    with pytest.raises(DataError, match=r"row\.jsonl': line 3 is not UTF-8 .* byte 22 of"):
        dataset(tmp_path / "row.jsonl").load()
    with pytest.raises(ConfigError, match="'path'"):
        dataset("  ")  # type: ignore[arg-type]


def test_provenance_keeps_every_run(tmp_path: Path) -> None:
    ds = dataset(tmp_path / "d.jsonl")
    ds.resume({"seed": 0})
    side = ds.write_provenance({"builder": "b", "rows": 1}, {"n_requested": 1})
    assert side == tmp_path / "d.provenance.json"
    ds.write_provenance({"builder": "b", "rows": 2}, {"n_requested": 2})
    doc = json.loads(side.read_text())
    assert doc["dataset"] == "d.jsonl" and doc["format"] == FMT and doc["rows"] == 2
    assert doc["machine"]["cores_logical"] >= 1
    assert [r["n_requested"] for r in doc["runs"]] == [1, 2]
    assert all(r["command"] and r["finished"] for r in doc["runs"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.jsonl", "d.provenance.json"]
    side.write_text("{not json")
    with pytest.raises(DataError, match="not a JSON provenance file"):
        ds.write_provenance({}, {})
    side.write_text('{"runs": 3}')
    with pytest.raises(DataError, match="no list of runs"):
        ds.write_provenance({}, {})


def test_a_complete_last_row_without_newline_is_kept_warned_and_terminated(
        tmp_path: Path) -> None:
    ds = dataset(tmp_path / "d.jsonl")
    ds.resume({"seed": 0})
    with ds.appender() as append:
        append({"index": 0, "status": "ok"})
    with ds.path.open("ab") as fh:
        fh.write(b'{"index": 1, "status": "ok", "x": [1, {"y": 2}]}')
    ds.release()
    content = ds.read()
    assert [r["index"] for r in content.rows] == [0, 1] and content.torn == b""
    assert content.unterminated == 3 and content.lines == [2, 3]
    with pytest.warns(DataWarning, match="line 3 lacks its final newline; the row is complete"):
        ds.load()
    report = JsonlLoadReport.of(str(ds.path), content)
    assert report.unterminated_line == 3 and "lacks its final newline" in report.summary()
    resumed = ds.resume({"seed": 0})
    assert [r["index"] for r in resumed.rows] == [0, 1]
    assert ds.path.read_bytes().endswith(b'2}]}\n'), "the resumed build added the newline"
    with ds.appender() as append:
        append({"index": 2, "status": "ok"})
    ds.release()
    assert [r["index"] for r in ds.read().rows] == [0, 1, 2]
    assert ds.read().unterminated is None


def test_duplicate_rows_are_left_out_recorded_and_warned(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    rows = [{"index": 0, "status": "ok", "v": 1}, {"index": 1, "status": "ok"},
            {"index": 0, "status": "failed", "v": 2}, {"index": 1, "status": "ok"}]
    path.write_text("\n".join(json.dumps(r) for r in [{"format": FMT}, *rows]) + "\n")
    content = dataset(path).read()
    assert content.rows == rows[:2] and content.duplicates == [(4, 2), (5, 3)]
    with pytest.warns(DataWarning, match=r"2 duplicate rows left out: line 4 \(repeats line 2\)"):
        dataset(path).load()
    keyed = JsonlDataset(path, fmt=FMT, kind="test dataset", statuses=("ok", "failed"),
                         key=("index", "status"))
    assert keyed.read().duplicates == [(5, 3)], "the key columns decide what repeats"
    report = JsonlLoadReport.of(str(path), content)
    assert report.n_rows == 2 and "duplicate rows left out" in report.summary()


def test_a_clean_file_loads_without_a_warning(tmp_path: Path, recwarn: pytest.WarningsRecorder
                                              ) -> None:
    ds = dataset(tmp_path / "d.jsonl")
    ds.resume({})
    with ds.appender() as append:
        append({"index": 0, "status": "ok"})
    ds.release()
    content = ds.load()
    assert not [w for w in recwarn if issubclass(w.category, DataWarning)]
    assert JsonlLoadReport.of("d", content).messages() == []


@pytest.mark.parametrize(("row", "match"), [
    ({"name": ["a"]}, "column 'name' holds list \\['a'\\]; allowed: text"),
    ({"name": {"a": 1}}, "column 'name' holds dict"),
    ({"size": "fast"}, "column 'size' holds str 'fast'; allowed: a number"),
    ({"size": True}, "column 'size' holds bool True; allowed: a number"),
    ({"y": "fast"}, "target 'y' of a 'ok' row holds str 'fast'; allowed: y > 0"),
    ({"y": -3}, "target 'y' .* holds int -3"),
    ({"y": float("nan")}, "target .y. .* holds float nan"),
    ({"y": float("inf")}, "target .y. .* holds float inf"),
    ({"y": None}, "target .y. .* holds NoneType None"),
])
def test_check_rows_names_file_line_and_column(tmp_path: Path, row: dict[str, object],
                                               match: str) -> None:
    path = tmp_path / "d.jsonl"
    good = {"index": 0, "status": "ok", "name": "a", "size": 3, "y": 1.5}
    lines = [{"format": FMT}, good, {**good, "index": 1, **row}]
    path.write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    content = dataset(path).read()
    kw = {"text": ["name"], "numeric": ["size"], "target": "y", "target_ok": lambda v: v > 0,
          "target_allowed": "y > 0"}
    with pytest.raises(DataError, match=f"d\\.jsonl': line 3: {match}"):
        check_rows(content, str(path), **kw)  # type: ignore[arg-type]
    check_rows(content, str(path), statuses=("failed",), **kw)  # type: ignore[arg-type]
