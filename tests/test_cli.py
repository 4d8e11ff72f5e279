"""The ``effdl`` command line, called through ``main([...])`` and once as the console script."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from effdl_kit import cli
from effdl_kit._core.env import collect_env
from effdl_kit.cli import main
from effdl_kit.experiments import ExperimentSummary
from effdl_kit.reports import read_provenance


def test_env_prints_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["env"]) == 0
    out = capsys.readouterr().out
    env = collect_env()
    assert f"cpu       : {env.cpu_model}" in out
    assert "memory" in out and "torch" in out


def test_env_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["env", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["cpu_model"] == collect_env().cpu_model
    assert d["cores_logical"] >= 1


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        ([], "COMMAND"),
        (["bogus"], "invalid choice"),
        (["reproduce", "nope", "--scale", "smoke"], "invalid choice: 'nope'"),
        (["reproduce", "tour"], "--scale"),
        (["reproduce", "tour", "--scale", "huge"], "invalid choice: 'huge'"),
        (["reproduce", "tour", "--scale", "smoke", "--seed", "-1"], "[0, 2**32)"),
        (["reproduce", "tour", "--scale", "smoke", "--seed", "x"], "not an integer"),
        (["notebooks", "--scale", "smoke", "--timeout", "0"], "must be > 0"),
    ],
)
def test_bad_arguments_exit_2(argv: list[str], needle: str, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "usage: effdl" in err
    assert needle in err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for cmd in ("env", "reproduce", "figures", "notebooks"):
        assert cmd in out


def test_kit_errors_are_one_clean_line(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["figures", "--out", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("effdl: error: invalid value for 'out'")
    assert "Traceback" not in err
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    nbformat.write(new_notebook(cells=[new_code_cell("x = 1")]), nbs / "n.ipynb")
    assert main(["notebooks", "--dir", str(nbs), "--scale", "smoke",
                 "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("effdl: error: invalid value for 'notebook': 'n.ipynb'")
    assert err.count("\n") == 1


def test_reproduce_then_figures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "res"
    assert main(["reproduce", "tour", "--scale", "smoke", "--seed", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("tour: smoke scale, seed 2, ")
    assert str(out / "tour" / "tour_curves.pdf") in printed
    assert str(out / "tour" / "summary.json") in printed
    s = ExperimentSummary.from_json(out / "tour" / "summary.json")
    assert (s.scale, s.seed) == ("smoke", 2)

    pdf = out / "tour" / "tour_curves.pdf"
    first = read_provenance(pdf)
    pdf.unlink()
    assert main(["figures", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"tour ({out / 'tour'}):" in printed
    assert str(pdf) in printed
    again = read_provenance(pdf)  # redrawn from results.json, same run's seed and scale
    assert (again["seed"], again["scale"]) == (first["seed"], first["scale"]) == (2, "smoke")


def test_figures_on_empty_results(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["figures", "--out", str(tmp_path)]) == 0
    assert "no experiment results" in capsys.readouterr().out


def test_figures_readme_syncs_and_checks(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "docs" / "results").mkdir(parents=True)
    (tmp_path / "docs" / "results" / "t.md").write_text("# t\n\n| a |\n|---|\n| 1.5 |\n")
    readme = tmp_path / "README.md"
    good = "x\n<!-- results: docs/results/t.md#1 -->\n| a |\n|---|\n| 1.5 |\n<!-- /results -->\n"
    readme.write_text(good.replace("1.5", "1.6"))
    assert main(["figures", "--readme", str(readme), "--check"]) == 1
    out = capsys.readouterr().out
    assert "README line 5 (docs/results/t.md#1)" in out and "1.6" in out
    assert "1.6" in readme.read_text()  # --check writes nothing
    assert main(["figures", "--readme", str(readme)]) == 0
    assert "updated README line 5" in capsys.readouterr().out
    assert readme.read_text() == good
    assert main(["figures", "--readme", str(readme), "--check"]) == 0
    assert "0 difference(s)" in capsys.readouterr().out
    readme.write_text(good.replace("t.md", "gone.md"))
    assert main(["figures", "--readme", str(readme)]) == 1
    assert "gone.md is missing" in capsys.readouterr().err
    assert main(["figures", "--check"]) == 2


def test_notebooks_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    params = new_code_cell('SCALE = "small"\nSEED = 0\nOUT_DIR = "x"')
    params.metadata["tags"] = ["parameters"]
    body = new_code_cell("from pathlib import Path\n"
                         "Path(OUT_DIR, 'seen.txt').write_text(f'{SCALE} {SEED}')")
    nbformat.write(new_notebook(cells=[params, body]), nbs / "a.ipynb")
    out = tmp_path / "out"
    assert main(["notebooks", "--dir", str(nbs), "--scale", "smoke", "--seed", "5",
                 "--out", str(out)]) == 0
    assert (out / "seen.txt").read_text() == "smoke 5"
    assert (out / "notebooks" / "a.ipynb").is_file()
    assert (out / "summary.md").is_file()
    printed = capsys.readouterr().out
    assert "[1/1] a.ipynb: ok in " in printed


def test_console_script_env() -> None:
    exe = Path(sys.executable).with_name("effdl")
    assert exe.is_file(), "the console script is installed with the package"
    proc = subprocess.run([str(exe), "env"], capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert f"cpu       : {collect_env().cpu_model}" in proc.stdout
    bad = subprocess.run([str(exe), "reproduce", "nope", "--scale", "smoke"],
                         capture_output=True, text=True, timeout=120, check=False)
    assert bad.returncode == 2
    assert "invalid choice: 'nope'" in bad.stderr and "Traceback" not in bad.stderr


def test_engine_flags_of_an_experiment_that_takes_none_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for flag, value in (("--storage", "sqlite:///x.db"), ("--scheduler", "tcp://h:8786"),
                        ("--study-prefix", "p")):
        assert main(["reproduce", "tour", "--scale", "smoke", "--out", str(tmp_path),
                     flag, value]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"effdl: error: invalid value for '{flag}'")
        assert "'tour' does not take it" in err and "bttackler" in err
    assert not (tmp_path / "tour").exists()
    # a worker count and a cluster at once
    assert main(["build-components", "--n", "2", "--scale", "smoke", "--out",
                 str(tmp_path / "c.jsonl"), "--workers", "2", "--scheduler", "tcp://h:1"]) == 2
    assert "invalid value for '--workers'" in capsys.readouterr().err


def test_a_scheduler_that_does_not_answer_is_a_clean_error() -> None:
    from effdl_kit.cli import dask_executor
    from effdl_kit.errors import ConfigError

    with pytest.raises(ConfigError, match="scheduler.*connecting failed"), \
            dask_executor("tcp://127.0.0.1:1", timeout_s=1):
        pass
    with dask_executor(None) as none:
        assert none is None


@pytest.mark.slow
def test_build_components_on_a_dask_scheduler(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    distributed = pytest.importorskip("distributed")
    from effdl_kit.data import load_component_dataset

    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        assert main(["build-components", "--n", "2", "--scale", "smoke", "--seed", "3",
                     "--out", str(tmp_path / "c.jsonl"),
                     "--scheduler", cluster.scheduler_address]) == 0
    assert "c.jsonl: 2 rows" in capsys.readouterr().out
    df = load_component_dataset(tmp_path / "c.jsonl", only_ok=False)
    assert sorted(df["index"]) == [0, 1]


def test_device_flag_reaches_medn_only(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from effdl_kit.errors import DatasetNotFoundError
    from effdl_kit.experiments import get_experiment

    assert main(["reproduce", "tour", "--scale", "smoke", "--out", str(tmp_path),
                 "--device", "gpu"]) == 2
    err = capsys.readouterr().err
    assert "invalid value for '--device'" in err and "(experiments that do: medn)" in err
    seen: list[str] = []

    def fake(scale: str, seed: int, out: Path, *, device: str = "cpu") -> ExperimentSummary:
        seen.append(device)
        raise DatasetNotFoundError("latency_gpu", out, "stopped here by the test")

    import dataclasses

    from effdl_kit.experiments import _registry

    monkeypatch.setitem(_registry._REGISTRY, "medn",
                        dataclasses.replace(get_experiment("medn"), run=fake))
    assert main(["reproduce", "medn", "--scale", "smoke", "--out", str(tmp_path),
                 "--device", "gpu"]) == 2
    assert seen == ["gpu"] and "stopped here by the test" in capsys.readouterr().err


def test_build_latency_builds_resumes_and_refuses_other_arguments(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from effdl_kit.data import load_latency_dataset, provenance_path

    out = tmp_path / "lat.jsonl"
    argv = ["build-latency", "--out", str(out), "--module-types", "relu,linear", "--seed", "4",
            "--warmup", "1", "--repeats", "5", "--block", "1", "--no-progress"]
    assert main([*argv, "--n", "2"]) == 0, capsys.readouterr().err
    assert capsys.readouterr().out == f"{out}: 2 ok rows of 2\n"
    first = out.read_text().splitlines()
    assert main([*argv, "--n", "3"]) == 0, capsys.readouterr().err
    assert capsys.readouterr().out == f"{out}: 3 ok rows of 3\n"
    assert out.read_text().splitlines()[: len(first)] == first, "resumed, nothing redone"
    df = load_latency_dataset(out)
    assert sorted(df["index"]) == [0, 1, 2] and df["module_type"].tolist() == [
        "relu", "linear", "relu"]
    header = df.attrs["header"]
    assert (header["seed"], header["warmup"], header["repeats"]) == (4, 1, 5)
    runs = json.loads(provenance_path(out).read_text())["runs"]
    assert [r["rows_measured"] for r in runs] == [2, 1]
    # the same file with another seed: one clean error line, the file unchanged
    before = out.read_bytes()
    assert main([*argv, "--n", "3", "--seed", "5"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("effdl: error: invalid value for 'path'") and err.count("\n") == 1
    assert out.read_bytes() == before


@pytest.mark.parametrize(("extra", "needle"), [
    (["--module-types", "conv3d"], "effdl: error: invalid value for 'module_types'"),
    (["--repeats", "0"], "effdl: error: invalid value for 'repeats'"),
    (["--device", "tpu"], "effdl: error: invalid value for 'device'"),
    (["--n", "x"], "usage: effdl build-latency"),
    (["--seed", "-1"], "[0, 2**32)"),
])
def test_build_latency_bad_arguments_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str],
        needle: str) -> None:
    out = tmp_path / "lat.jsonl"
    assert main(["build-latency", "--n", "2", "--out", str(out), "--no-progress", *extra]) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
    if err.startswith("effdl: error:"):
        assert err.count("\n") == 1
    assert not out.exists()


def test_build_traces(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                      monkeypatch: pytest.MonkeyPatch) -> None:
    """``effdl build-traces``: the builder's rows and counts; a worker count and a cluster
    at once, or a foreign file at ``--out``, end with one error line."""
    from effdl_kit.experiments import bttackler

    seen: dict[str, object] = {}

    def fake(**kw: object) -> list[dict[str, object]]:
        seen.update(kw)
        return [{"index": 0, "status": "ok"}, {"index": 1, "status": "failed"}]

    monkeypatch.setattr(bttackler, "build_trace_dataset", fake)
    out = tmp_path / "t.jsonl"
    assert main(["build-traces", "--scale", "smoke", "--seed", "4", "--out", str(out),
                 "--workers", "1"]) == 0
    assert "t.jsonl: 2 traces (1 ok, 1 failed)" in capsys.readouterr().out
    assert (seen["scale"], seen["seed"], seen["path"], seen["max_workers"]) == (
        "smoke", 4, str(out), 1)
    assert main(["build-traces", "--scale", "smoke", "--out", str(out), "--workers", "2",
                 "--scheduler", "tcp://h:1"]) == 2
    assert "invalid value for '--workers'" in capsys.readouterr().err
    monkeypatch.undo()
    foreign = tmp_path / "foreign.jsonl"
    foreign.write_text('{"format": "something-else"}\n')
    assert main(["build-traces", "--scale", "smoke", "--out", str(foreign)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a BTTackler trace dataset" in err[0]


# --- every failure is one line and exit status 2, --debug shows the traceback (issue 17) ---


@pytest.fixture
def unwritable(tmp_path: Path) -> Iterator[Path]:
    """A folder in which this process cannot create anything: a 0555 folder, or, as root
    (who ignores permission bits), /sys (sysfs refuses new files to everyone)."""
    if os.geteuid() != 0:
        folder = tmp_path / "read-only"
        folder.mkdir()
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    try:
        (Path("/sys") / "effdl-probe").open("w").close()
    except PermissionError:
        yield Path("/sys")
        return
    pytest.skip("/sys is writable here and permission bits do not stop root")


def _one_line_error(capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("effdl: error: ") and "Traceback" not in err
    for needle in needles:
        assert needle in err, err
    return err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_build_components_out_a_directory(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["build-components", "--n", "2", "--scale", "smoke",
                 "--out", str(tmp_path)]) == 2
    _one_line_error(capsys, "invalid value for 'path' (--out)", "directory")


def test_build_components_out_in_an_unwritable_folder(
        unwritable: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = unwritable / "c.jsonl"
    assert main(["build-components", "--n", "2", "--scale", "smoke", "--out", str(out)]) == 2
    _one_line_error(capsys, "--out", str(out), "Permission denied")


def test_reproduce_out_in_an_unwritable_folder(
        unwritable: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = unwritable / "res"
    assert main(["reproduce", "tour", "--scale", "smoke", "--out", str(out)]) == 2
    _one_line_error(capsys, f"--out {str(out)!r}: PermissionError")


def test_reproduce_out_below_a_file(tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "f").write_text("x")
    out = tmp_path / "f" / "res"
    assert main(["reproduce", "tour", "--scale", "smoke", "--out", str(out)]) == 2
    _one_line_error(capsys, f"--out {str(out)!r}: NotADirectoryError")


def test_figures_readme_a_directory(tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["figures", "--readme", str(tmp_path)]) == 2
    _one_line_error(capsys, f"--readme {str(tmp_path)!r}: IsADirectoryError")


def test_storage_on_an_unreachable_postgresql(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    url = f"postgresql+psycopg://effdl:hunter2@127.0.0.1:{_free_port()}/optuna"
    assert main(["reproduce", "bttackler", "--scale", "smoke", "--out", str(tmp_path),
                 "--storage", url]) == 2
    err = _one_line_error(capsys, "invalid value for '--storage'", "effdl:***@127.0.0.1",
                          "Connection refused")
    assert "hunter2" not in err
    assert not (tmp_path / "bttackler").exists()  # refused before any work


def test_storage_mysql_url_without_its_driver(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    if importlib.util.find_spec("MySQLdb") is not None:
        pytest.skip("the MySQL driver is installed here")
    assert main(["reproduce", "bttackler", "--scale", "smoke", "--out", str(tmp_path),
                 "--storage", "mysql://u:pw@127.0.0.1/optuna"]) == 2
    err = _one_line_error(capsys, "invalid value for '--storage'", "'MySQLdb' is missing")
    assert ":pw@" not in err
    assert not (tmp_path / "bttackler").exists()


def test_storage_journal_in_an_unwritable_folder(
        unwritable: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    journal = unwritable / "j.log"
    assert main(["reproduce", "bttackler", "--scale", "smoke", "--out", str(tmp_path),
                 "--storage", str(journal)]) == 2
    _one_line_error(capsys, "invalid value for '--storage'", str(journal), "PermissionError")
    assert not (tmp_path / "bttackler").exists()


@pytest.mark.parametrize("command", [
    ["build-components", "--scale", "smoke"],
    ["build-latency"],
])
def test_a_row_count_beyond_memory_is_refused_up_front(
        command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "big.jsonl"
    assert main([*command, "--n", "100000000000", "--out", str(out)]) == 2
    _one_line_error(capsys, "invalid value for '--n': 100000000000", "rows on this machine")
    assert not out.exists()


def test_build_latency_repeats_below_the_builders_floor(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--repeats 3`` (under the builder's default floor of 5 timed calls) is taken, not
    refused for ``min_repeats``, a parameter the command line does not have."""
    out = tmp_path / "l.jsonl"
    assert main(["build-latency", "--n", "1", "--out", str(out), "--repeats", "3",
                 "--warmup", "1", "--module-types", "Linear", "--no-progress"]) == 0, \
        capsys.readouterr().err
    assert "1 ok rows of 1" in capsys.readouterr().out
    assert main(["build-latency", "--n", "1", "--out", str(out), "--repeats", "0"]) == 2
    _one_line_error(capsys, "invalid value for 'repeats' (--repeats): 0")


def test_debug_shows_the_traceback(unwritable: Path) -> None:
    out = str(unwritable / "res")
    with pytest.raises(PermissionError):
        main(["--debug", "reproduce", "tour", "--scale", "smoke", "--out", out])
    with pytest.raises(PermissionError):  # also after the command's name
        main(["reproduce", "tour", "--scale", "smoke", "--out", out, "--debug"])
    with pytest.raises(ValueError, match="'n'"):
        main(["--debug", "build-components", "--n", "0", "--scale", "smoke", "--out", out])


def test_an_unexpected_exception_is_one_line_with_status_1(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def broken(args: object) -> int:
        raise TypeError("boom\nsecond line")

    monkeypatch.setitem(cli._COMMANDS, "env", broken)
    assert main(["env"]) == 1
    _one_line_error(capsys, "unexpected TypeError: boom | second line", "--debug")
    with pytest.raises(TypeError, match="boom"):
        main(["env", "--debug"])


def test_console_script_debug_prints_the_traceback(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("effdl")
    run = subprocess.run([str(exe), "--debug", "figures", "--readme", str(tmp_path)],
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 1
    assert "Traceback (most recent call last)" in run.stderr
    assert run.stderr.rstrip().splitlines()[-1].startswith("IsADirectoryError")


def test_a_tls_scheduler_without_client_certificates(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dask = pytest.importorskip("dask")
    out = tmp_path / "c.jsonl"
    with dask.config.set({"distributed.comm.tls.ca-file": None,
                          "distributed.comm.tls.client.cert": None}):
        assert main(["build-components", "--n", "1", "--scale", "smoke", "--out", str(out),
                     "--scheduler", "tls://127.0.0.1:1"]) == 2
    _one_line_error(capsys, "invalid value for '--scheduler': 'tls://127.0.0.1:1'",
                    "none are set")
    assert not out.exists()


# ------------------------------------------------------------------------- effdl recommend
@pytest.mark.parametrize(("argv", "needles"), [
    (["--task", "mnist", "--device", "cpu", "--latency-ms", "2"],
     ("invalid value for 'task' (--task): 'mnist'", "'digits', 'synthetic'")),
    (["--task", "digits", "--device", "tpu", "--latency-ms", "2"],
     ("invalid value for 'device' (--device): 'tpu'", "'cpu', 'gpu'")),
    (["--task", "digits", "--device", "cpu", "--latency-ms", "0"],
     ("invalid value for 'latency_budget_ms' (--latency-ms): '0'", "> 0")),
    (["--task", "digits", "--device", "cpu", "--latency-ms", "-3"],
     ("'latency_budget_ms' (--latency-ms): '-3'",)),
    (["--task", "digits", "--device", "cpu", "--latency-ms", "fast"],
     ("'latency_budget_ms' (--latency-ms): 'fast'",)),
    (["--task", "digits", "--device", "cpu", "--latency-ms", "nan"],
     ("'latency_budget_ms' (--latency-ms): 'nan'",)),
    (["--task", "digits", "--device", "cpu", "--latency-ms", "2", "--scale", "huge"],
     ("invalid value for 'scale' (--scale): 'huge'",)),
    (["--task", "digits", "--device", "cpu", "--latency-ms", "2", "--mode", "x"],
     ("invalid value for 'mode' (--mode): 'x'",)),
    (["--task", "digits", "--device", "cpu", "--latency-ms", "2", "--top", "0"],
     ("invalid value for 'top' (--top): 0",)),
    (["--task", "digits", "--device", "cpu", "--latency-ms", "2", "--confidence", "1"],
     ("invalid value for 'confidence' (--confidence): 1.0", "(0, 1)")),
    (["--task", "digits", "--device", "cpu", "--latency-ms", "2", "--confirm", "-1"],
     ("invalid value for 'confirm' (--confirm): -1",)),
])
def test_recommend_bad_input_is_one_line(argv: list[str], needles: tuple[str, ...],
                                         capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import effdl_kit.recommend as recommend_pkg

    monkeypatch.setattr(recommend_pkg, "recommend",
                        lambda *a, **k: pytest.fail("work started before the checks"))
    assert main(["recommend", *argv]) == 2
    _one_line_error(capsys, *needles)


def test_recommend_prints_the_table_and_writes_the_json(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    import math

    import pandas as pd

    import effdl_kit.recommend as recommend_pkg
    from effdl_kit.recommend import Recommendation

    rows = pd.DataFrame({"depth": [1, 2, 3], "width": [16, 32, 64], "iteration": [1, 2, 3],
                         "accuracy": [0.5, 0.9, 0.7], "latency_ms": [0.5, 3.0, 1.0],
                         "latency_lo_ms": [0.3, 2.0, 0.7], "latency_hi_ms": [0.8, 4.0, 1.5],
                         "latency_sum_ms": [0.4, 2.5, 0.9], "p_feasible": [0.99, 0.2, 0.9]})
    seen: dict[str, object] = {}

    def fake(task: str, device: str, budget: float, **kw: object) -> Recommendation:
        seen.update(task=task, device=device, budget=budget, **kw)
        return Recommendation(task=task, device=device, latency_budget_ms=budget, seed=0,
                              scale="smoke", mode="constrained", components=["depth", "width"],
                              fixed={"lr": 0.01}, candidates=rows,
                              calibration={"coverage": 0.9, "n_models": 48,
                                           "interval": 0.9}, time_s={"total": 1.0})

    monkeypatch.setattr(recommend_pkg, "recommend", fake)
    out = tmp_path / "o"
    assert main(["recommend", "--task", "digits", "--device", "cpu", "--latency-ms", "2",
                 "--scale", "smoke", "--out", str(out), "--top", "2"]) == 0
    assert seen["budget"] == 2.0 and seen["scale"] == "smoke" and seen["task"] == "digits"
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["rank", "depth", "width"]
    assert lines[1].split()[:3] == ["1", "3", "64"]  # feasible and most accurate first
    assert lines[2].split()[:3] == ["2", "1", "16"]
    assert "90% covered on 48 held-out whole models" in text
    back = Recommendation.from_json(out / "recommendation.json")
    assert back.latency_budget_ms == 2.0 and len(back.candidates) == 3
    assert not math.isinf(back.latency_budget_ms)

    # --confirm 1: the top candidate really trained (smoke scale) and timed
    from effdl_kit.recommend import Confirmation

    assert main(["recommend", "--task", "digits", "--device", "cpu", "--latency-ms", "2",
                 "--scale", "smoke", "--out", str(out), "--confirm", "1"]) == 0
    text = capsys.readouterr().out
    assert "confirmed 1: " in text and "stopped by BTTackler" in text
    md = (out / "confirmation.md").read_text()
    assert md.startswith("# Recommendation confirmed: digits on cpu, budget 2.0 ms")
    assert md.count("| rank ") == 1 and "| components " in md
    assert "best realised Top-1 within the budget" in md
    conf = Confirmation.from_json(out / "confirmation.json")
    assert len(conf.trials) == 1 and conf.trials[0].components["depth"] == 3
    assert conf.trials[0].measured_ms > 0
