"""E1's A/A study with real trainings at smoke scale (20 independent sweeps), and the result
files of the E1 command."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from effdl_kit.errors import ConfigError
from effdl_kit.experiments.survey import ACC_LABEL, AABudget, AAStudy, run_aa_study, wilson_interval
from effdl_kit.experiments.survey._pareto_main import main, plot_aa, render_aa
from effdl_kit.reports import figure
from effdl_kit.speedups import AA_LABEL, POSITIVE_LABEL


@pytest.fixture(scope="module")
def study() -> AAStudy:
    return run_aa_study("smoke", 0)


def test_aa_arms_are_within_noise_in_at_least_95_percent_of_repeats(study: AAStudy) -> None:
    """The issue's A/A test: the baseline relabelled as a method is called within noise in
    >= 95 % of 20 independent real sweeps, on both clocks; the fixed-size positive control
    (+10 accuracy points at equal time) moves the frontier in >= 95 %.

    channels_last has bit-identical accuracy, so any verdict it gets comes from its time; on
    this tiny CNN its paired time ratio varies from run to run (about 0.7-1.3 over repeats;
    the fresh-clone CI once saw 2 of 20 repeats called *moves*), so it is not a pure A/A pair:
    it must never be *behind* and is within noise in most repeats (>= 70 %)."""
    s = study.summary().set_index(["method", "clock", "interval"])
    v = study.verdicts
    for clock in ("wall", "cpu"):
        assert s.loc[(AA_LABEL, clock, "t"), "repeats"] == 20
        assert s.loc[(AA_LABEL, clock, "t"), "within noise"] >= 0.95
        assert s.loc[(ACC_LABEL, clock, "t"), "moves"] >= 0.95
        cl = v[(v["method"] == "channels_last") & (v["clock"] == clock)
               & (v["interval"] == "t")]
        assert not (cl["verdict"] == "behind the frontier").any()
        assert (cl["verdict"] == "within noise").mean() >= 0.7
    # both interval kinds, both clocks and every arm are reported
    assert {m for m, _, _ in s.index} == {AA_LABEL, POSITIVE_LABEL, ACC_LABEL,
                                          "channels_last"}
    assert {i for _, _, i in s.index} == {"t", "percentile"}
    lo, hi = s.loc[(AA_LABEL, "wall", "t"), ["within noise low", "within noise high"]]
    assert lo <= s.loc[(AA_LABEL, "wall", "t"), "within noise"] <= hi
    ratios = study.ratio_summary().set_index(["method", "clock"])
    assert {m for m, _ in ratios.index} == {AA_LABEL, "channels_last"}
    assert 0.5 < ratios.loc[(AA_LABEL, "cpu"), "median"] < 2.0


def test_study_round_trips_and_renders(study: AAStudy, tmp_path: Path) -> None:
    again = AAStudy.from_json(study.to_json())
    assert again.summary().equals(study.summary())
    doc = {"command": "cmd", "date": "today", "env": {}, "wall_s": 60.0,
           "study": json.loads(study.to_json())}
    text = render_aa(doc)
    assert "A/A study" in text and AA_LABEL in text and "Wilson" in text
    _fig, ax = figure("double", pyplot=False)
    plot_aa(study, ax=ax)
    assert len(ax.patches) == 4 * 4  # (2 clocks x 2 intervals) x 4 arms


def test_wilson_interval_and_bad_budgets() -> None:
    lo, hi = wilson_interval(19, 20)
    assert lo == pytest.approx(0.7639, abs=1e-3) and hi == pytest.approx(0.9911, abs=1e-3)
    assert wilson_interval(0, 10)[0] == pytest.approx(0.0, abs=1e-12)
    assert wilson_interval(10, 10)[1] == pytest.approx(1.0)
    with pytest.raises(ConfigError, match="n_seeds"):
        dataclasses.replace(AABudget.for_scale("smoke"), n_seeds=1)
    with pytest.raises(ConfigError, match="methods"):
        dataclasses.replace(AABudget.for_scale("smoke"), methods=("warp",))
    with pytest.raises(ConfigError, match="scale"):
        run_aa_study("huge")
    with pytest.raises(ConfigError, match="budget"):
        run_aa_study("smoke", budget="cheap")  # type: ignore[arg-type]


def test_e1_command_writes_its_result_files(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--scale", "smoke", "--out", str(tmp_path)]) == 0
    doc = json.loads((tmp_path / "survey_pareto.json").read_text())
    assert doc["command"].endswith(f"--scale smoke --out {tmp_path}")
    assert {"runs", "tuning", "frontier", "controls"} <= set(doc["pareto"])
    md = (tmp_path / "survey_pareto.md").read_text()
    assert "## Verdicts" in md and "Tuned baseline" in md and "A/A" in md
    assert (tmp_path / "survey_pareto.png").stat().st_size > 0
    # --reanalyze: the stored runs judged again, nothing trained, the command recorded
    before = json.loads((tmp_path / "survey_pareto.json").read_text())["pareto"]["runs"]
    assert main(["--scale", "smoke", "--out", str(tmp_path), "--reanalyze"]) == 0
    again = json.loads((tmp_path / "survey_pareto.json").read_text())
    assert again["pareto"]["runs"] == before and "--reanalyze" in again["reanalyzed"]["command"]
    assert "judged again" in (tmp_path / "survey_pareto.md").read_text()
    capsys.readouterr()
    assert main(["--scale", "smoke", "--out", str(tmp_path / "empty"), "--reanalyze"]) == 2
    assert "no E1 result" in capsys.readouterr().err
    # bad input: one line, exit code 2, nothing written
    capsys.readouterr()
    assert main(["--scale", "huge", "--out", str(tmp_path / "x")]) == 2
    assert capsys.readouterr().err.count("\n") == 1 and not (tmp_path / "x").exists()
    (tmp_path / "file").write_text("")
    assert main(["--scale", "smoke", "--out", str(tmp_path / "file")]) == 2



def test_e1_and_e2_commands_refuse_an_out_they_cannot_create_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from effdl_kit.experiments.survey._ops_main import main as ops_main

    (tmp_path / "file").write_text("")
    for run in (main, ops_main):
        capsys.readouterr()
        assert run(["--scale", "smoke", "--out", str(tmp_path / "file" / "sub")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
