"""The replay study on the shipped traces: its positive and negative controls, the study's
tables and files, and the command's errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from effdl_kit.diagnosis import (
    BTTacklerRule,
    DiagnosisConfig,
    NoStopRule,
    RandomStopRule,
    ReplayHistory,
    replay_stop_rules,
)
from effdl_kit.errors import ConfigError, DataError
from effdl_kit.experiments.bttackler import (
    REPLAY_SETTINGS,
    TRACE_TASKS,
    ReplayBudget,
    ReplayStudy,
    ablation_rules,
    kit_traces_path,
    load_replay_study,
    load_traces,
    run_replay_study,
    study_rules,
    tsba_verdict,
)
from effdl_kit.experiments.bttackler._replay_main import main

N_ORDERINGS = 150  # CI half-widths of the controls' TSBA are a few points at this size


def _budget(traces: list) -> float:
    return 0.5 * sum(t.max_epochs for t in traces)


@pytest.mark.parametrize("task", list(TRACE_TASKS))
def test_positive_control_injected_pathologies_are_detected(task: str) -> None:
    """>= 30 % injected pathologies (lr 20, lr 1e-8, ReLU bias -3, deep sigmoid): the kit's
    BTTackler saves time with its CI above 0, and stops most injected traces."""
    natural = load_traces(task=task, injected=False)
    injected = load_traces(task=task, injected=True)
    mixed = natural + injected
    assert len(injected) / len(mixed) >= 0.30
    rule = BTTacklerRule(DiagnosisConfig.preset("kit"))
    res = replay_stop_rules(mixed, [rule], budget=_budget(mixed), n_orderings=N_ORDERINGS,
                            seed=1, n_boot=1000)
    mean, lo, _ = res.ci("bttackler", "tsba")
    assert lo > 0, (task, mean, lo)
    stops = [rule.first_stop(t, ReplayHistory())[0] is not None for t in injected]
    assert np.mean(stops) >= 0.5


@pytest.mark.parametrize("task", list(TRACE_TASKS))
def test_negative_controls_no_rule_and_random_stop(task: str) -> None:
    """No rule: TSBA exactly 0 and Top10HR exactly 50 in every ordering; a rule stopping at
    random with BTTackler's stop rate and stop epochs: TSBA not above 0 beyond its CI."""
    natural = load_traces(task=task, injected=False)
    kit = BTTacklerRule(DiagnosisConfig.preset("kit"))
    res = replay_stop_rules(natural, [kit, NoStopRule()], budget=_budget(natural),
                            n_orderings=N_ORDERINGS, seed=2, n_boot=1000)
    per = res.per_ordering[res.per_ordering["rule"] == "none"]
    assert (per["tsba"] == 0).all() and (per["top10hr"] == 50).all()
    rate = res.ci("bttackler", "stop_rate")[0]
    se = res.stop_epochs[res.stop_epochs["rule"] == "bttackler"]
    epochs = [int(e) for e, c in zip(se["epoch"], se["count"], strict=True)
              for _ in range(int(c))] or None
    rnd = replay_stop_rules(natural, [RandomStopRule(rate, stop_epochs=epochs)],
                            budget=_budget(natural), n_orderings=N_ORDERINGS, seed=2,
                            n_boot=1000)
    _, lo, _ = rnd.ci("random", "tsba")
    assert lo <= 0, (task, rnd.ci("random", "tsba"))


def test_rules_and_verdicts() -> None:
    names = [r.name for r in study_rules()]
    assert names == ["bttackler", "bttackler_faithful", "median", "curvefit", "none"]
    abl = [r.name for r in ablation_rules()]
    authors = DiagnosisConfig.preset("faithful").indicators
    assert abl[0] == "all" and abl[1:len(authors) + 1] == [f"drop_{c}" for c in authors]
    assert "kit" in abl and len(set(abl)) == len(abl)
    assert tsba_verdict(1.0, 5.0) == "saves time"
    assert tsba_verdict(-5.0, -1.0) == "costs time"
    assert tsba_verdict(-1.0, 1.0) == "within noise"
    with pytest.raises(ConfigError, match="n_orderings"):
        ReplayBudget(("cnn_digits",), 1, 2, 0.5, 200)
    with pytest.raises(ConfigError, match="budget_fraction"):
        ReplayBudget(("cnn_digits",), 10, 2, 1.5, 200)
    with pytest.raises(ConfigError, match="tasks"):
        ReplayBudget(("resnet",), 10, 2, 0.5, 200)


def subset(path: Path, per_task: int, injected: int) -> Path:
    """The first ``per_task`` natural and ``injected`` injected traces of each task of the
    shipped file (a test-sized trace file)."""
    lines = kit_traces_path().read_text().splitlines()
    keep = [lines[0]]
    for task in TRACE_TASKS:
        rows = [ln for ln in lines[1:] if f'"trace_task": "{task}"' in ln]
        keep += [ln for ln in rows if '"pathology": "none"' in ln][:per_task]
        keep += [ln for ln in rows if '"pathology": "none"' not in ln][:injected]
    path.write_text("\n".join(keep) + "\n")
    return path


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> ReplayStudy:
    budget = ReplayBudget(("cnn_digits", "transformer_co2"), n_orderings=12, tpe_runs=2,
                          budget_fraction=0.5, n_boot=200, ablation_orderings=4)
    path = subset(tmp_path_factory.mktemp("traces") / "t.jsonl", 40, 6)
    return run_replay_study(path, budget=budget, seed=0)


def test_study_tables(study: ReplayStudy) -> None:
    assert set(study.summary["setting"]) == set(REPLAY_SETTINGS)
    assert list(study.tasks["task"]) == ["cnn_digits", "transformer_co2"]
    for setting in REPLAY_SETTINGS:
        v = study.verdicts(setting)
        assert set(v["task"]) == {"cnn_digits", "transformer_co2"}
        none = v[v["rule"] == "none"]
        if setting != "ablation":
            assert (none["tsba"] == 0).all() and (none["tsba_hi"] == 0).all()
    assert "random_stop" in set(study.verdicts("random")["rule"])
    assert set(study.sc["group"]) == {"healthy", "bad"}
    healthy = study.sc[study.sc["group"] == "healthy"]
    assert (healthy["n"] >= 40).all()
    again = ReplayStudy.from_dict(json.loads(json.dumps(study.to_dict())))
    assert again.summary.equals(study.summary)
    assert again.ci("cnn_digits", "random", "none", "tsba") == (0.0, 0.0, 0.0)


def test_main_writes_files_and_redraws(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                       ) -> None:
    smoke_traces = tmp_path / "t.jsonl"
    lines = kit_traces_path().read_text().splitlines()
    task = [ln for ln in lines[1:] if '"cnn_digits"' in ln]
    keep = [lines[0], *[ln for ln in task if '"none"' in ln][:8],
            *[ln for ln in task if '"lr_high"' in ln][:4]]
    smoke_traces.write_text("\n".join(keep) + "\n")
    rc = main(["--scale", "smoke", "--traces", str(smoke_traces), "--out", str(tmp_path)])
    assert rc == 0
    md = (tmp_path / "bttackler_replay.md").read_text()
    assert "## Controls" in md and "## Slow convergence" in md
    assert (tmp_path / "bttackler_replay.png").stat().st_size > 10_000
    st = load_replay_study(tmp_path / "bttackler_replay.json")
    assert list(st.tasks["task"]) == ["cnn_digits"]
    capsys.readouterr()
    assert main(["--scale", "smoke", "--out", str(tmp_path / "t.jsonl")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "out" in err[0]
    with pytest.raises(DataError, match="not a BTTackler replay"):
        load_replay_study(smoke_traces)
