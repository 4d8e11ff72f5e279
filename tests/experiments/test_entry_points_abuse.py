"""The experiments' ``python -m`` entry points: bad flags and an ``--out`` they cannot create
give one line (naming the flag) and exit code 2 before any work, never a traceback."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from effdl_kit.experiments.bttackler._live_main import main as live_main
from effdl_kit.experiments.bttackler._replay_main import main as replay_main
from effdl_kit.experiments.efficientdl._confirm_main import main as confirm_main
from effdl_kit.experiments.efficientdl._search_main import main as search_main

Main = Callable[[Sequence[str] | None], int]


@pytest.mark.parametrize("main", [live_main, replay_main, confirm_main, search_main],
                         ids=["live", "replay", "confirm", "search"])
def test_an_out_below_a_file_is_one_line(main: Main, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("")
    assert main(["--scale", "smoke", "--out", str(tmp_path / "file" / "sub")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize(("main", "args", "flag"), [
    (live_main, ["--epoch-budget", "0"], "--epoch-budget"),
    (live_main, ["--repeats", "x"], "--repeats"),
    (confirm_main, ["--seed0", "-1"], "--seed0"),
    (confirm_main, ["--seeds", "0"], "--seeds"),
], ids=["epoch-budget", "repeats", "seed0", "seeds"])
def test_bad_flags_name_the_flag(main: Main, args: list[str], flag: str, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--scale", "smoke", "--out", str(tmp_path), *args]) == 2
    err = capsys.readouterr().err
    assert flag in err and err.count("\n") == 1 and "Traceback" not in err
