"""The bttackler experiment at smoke scale: metrics by hand, resume, failures, redraw, bad input.

(TSBA, Top10HR and the curve-fitting pruner on hand-made inputs: tests/diagnosis/.)"""

from __future__ import annotations

import functools
import json
import math
import multiprocessing as mp
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
import pytest

from effdl_kit._core.study import quiet_optuna
from effdl_kit.diagnosis import BTTacklerPruner, CurveFitPruner
from effdl_kit.errors import ConfigError, DatasetNotFoundError
from effdl_kit.experiments import ExperimentSummary, list_experiments, run_experiment
from effdl_kit.experiments.bttackler import (
    BUDGETS,
    FIGURE_TOP10HR,
    FIGURE_TSBA,
    JOURNAL_FILE,
    METHODS,
    RESULTS_FILE,
    TABLE_COMPARISON,
    TABLE_HEADLINE,
    TABLE_INDICATORS,
    TABLE_RUNS,
    VARIANTS,
    _run,
    build_specs,
    load_replay_study,
    load_results,
    make_pruner,
    make_sampler,
    redraw,
    resolve_settings,
    run_bttackler,
)
from effdl_kit.experiments.bttackler._settings import CIFAR10_ENV
from effdl_kit.reports import read_provenance
from effdl_kit.training import Hook, TrainState

#: the HPO part alone (the replay and the live experiment have tests of their own)
run_hpo = functools.partial(run_bttackler, replay=False, live=False)
SEED = 5
FIGURES = (FIGURE_TSBA, FIGURE_TOP10HR)
TABLES = (TABLE_COMPARISON, TABLE_RUNS, TABLE_INDICATORS, TABLE_HEADLINE)


@pytest.fixture(scope="module")
def exp_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("results")
    run_experiment("bttackler", scale="smoke", seed=SEED, out=out)
    return out


@pytest.fixture(scope="module")
def payload(exp_root: Path) -> dict[str, Any]:
    return load_results(exp_root / "bttackler")


def _no_training(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("training started")


# ----------------------------------------------------------------------------- registry, run


def test_is_registered() -> None:
    assert "bttackler" in list_experiments()


def test_smoke_run_writes_results_figures_tables_with_provenance(
        exp_root: Path, payload: dict[str, Any]) -> None:
    exp_dir = exp_root / "bttackler"
    summary = ExperimentSummary.from_json(exp_dir / "summary.json")
    assert (summary.name, summary.scale, summary.seed) == ("bttackler", "smoke", SEED)
    assert summary.figures == [*(f"{s}.{e}" for s in FIGURES for e in ("pdf", "svg", "png")),
                               "bttackler_replay.png", "bttackler_live.png"]
    assert summary.tables == [*(f"{s}.{e}" for s in TABLES for e in ("tex", "md", "csv")),
                              "bttackler_replay.md", "bttackler_live.md"]
    # the replay (kit's traces, smoke budget) and the paired live experiment ran too
    assert {r["rule"] for r in summary.metrics["replay"]} == {"bttackler", "bttackler_faithful"}
    assert summary.metrics["live"]
    assert load_replay_study(exp_dir / "bttackler_replay.json").budget["n_orderings"] == 20
    live = json.loads((exp_dir / "bttackler_live.json").read_text())
    assert live["scale"] == "smoke" and len(live["repeats"]) >= 2
    for f in [*summary.figures, *summary.tables, RESULTS_FILE]:
        assert (exp_dir / f).stat().st_size > 0
    assert (exp_dir / f"{FIGURE_TSBA}.pdf").read_bytes().startswith(b"%PDF")
    for stem in FIGURES:
        for ext in ("pdf", "svg", "png"):
            prov = read_provenance(exp_dir / f"{stem}.{ext}")
            assert (prov["seed"], prov["scale"], prov["experiment"]) == (SEED, "smoke",
                                                                         "bttackler")
            assert prov["budget"]["budget_s"] == BUDGETS["smoke"]["budget_s"]
            assert prov["paper"] == {"tsba": 40.33, "top10hr": 72.25, "top10hr_etr": 52.08}
    smoke = BUDGETS["smoke"]
    budget = payload["budget"]
    assert {k: budget[k] for k in smoke} == smoke
    runs = payload["runs"]
    assert len(runs) == len(smoke["tasks"]) * len(smoke["methods"]) * len(VARIANTS)
    for r in runs:
        assert 1 <= len(r["trials"]) <= smoke["max_trials"]
        assert (exp_dir / "runs" / r["task"] / r["method"] / r["variant"] / "rep0"
                / JOURNAL_FILE).is_file()
        for t in r["trials"]:
            assert len(t["params"]) == 13  # the paper's CNN search space
            assert t["state"] in ("COMPLETE", "PRUNED", "FAIL")
            if t["outcome"] == "bttackler":
                assert r["variant"] == "bttackler" and t["indicators"]
    # the summary's headline numbers are the ones in results.json
    assert summary.metrics["headline"] == payload["headline"]
    assert summary.metrics["paper"]["tsba"] == 40.33


# ----------------------------------------------------------------------------- metrics


def _by_hand_points(run: dict[str, Any]) -> list[tuple[float, float]]:
    pts = []
    for t in run["trials"]:
        if t["state"] in ("COMPLETE", "PRUNED") and t["value"] is not None and (
                t["t_end"] <= run["budget_s"]):
            pts.append((t["t_end"], t["value"]))
    return pts


def test_stored_tsba_and_top10hr_equal_a_recomputation_by_hand(
        payload: dict[str, Any]) -> None:
    runs = {(r["task"], r["method"], r["variant"], r["repeat"]): r for r in payload["runs"]}
    comps = payload["comparisons"]
    assert len(comps) == len(runs) - len(runs) // len(VARIANTS)  # every non-plain run
    for c in comps:
        run = runs[(c["task"], c["method"], c["variant"], c["repeat"])]
        base = runs[(c["task"], c["method"], "plain", c["repeat"])]
        pm, pb = _by_hand_points(run), _by_hand_points(base)
        best = max(v for _, v in pb)  # accuracy: maximise
        t_j = min(t for t, v in pb if v == best)
        hits = [t for t, v in pm if v >= best]
        t_i = min(hits) if hits else run["budget_s"]
        assert c["reached"] == bool(hits)
        assert c["t_baseline"] == pytest.approx(t_j) and c["t_method"] == pytest.approx(t_i)
        assert c["tsba"] == pytest.approx((1 - t_i / t_j) * 100)
        pooled = sorted([(v, 1) for _, v in pm] + [(v, 0) for _, v in pb], reverse=True)
        k = min(10, len(pooled))
        cut = pooled[k - 1][0]
        above = [s for v, s in pooled if v > cut]
        tied = [s for v, s in pooled if v == cut]
        hr = 100 * (sum(above) + (k - len(above)) * sum(tied) / len(tied)) / k
        assert c["top10hr"] == pytest.approx(hr)
    for row in payload["aggregate"]:
        cs = [c["tsba"] for c in comps
              if (c["task"], c["method"], c["variant"]) == (row["task"], row["method"],
                                                            row["variant"])]
        if row["variant"] != "plain":
            assert row["tsba_mean"] == pytest.approx(sum(cs) / len(cs))
        n = [len(_by_hand_points(r)) for k, r in runs.items()
             if k[:3] == (row["task"], row["method"], row["variant"])]
        assert row["trials_mean"] == pytest.approx(sum(n) / len(n))
    head = payload["headline"]
    bt_comps = [c for c in comps if c["variant"] == "bttackler"]
    assert head["tsba_bttackler"] == pytest.approx(
        sum(c["tsba"] for c in bt_comps) / len(bt_comps))
    assert head["top10hr_bttackler"] == pytest.approx(
        sum(c["top10hr"] for c in bt_comps) / len(bt_comps))
    fired = sum(len(t["indicators"]) for r in payload["runs"] if r["variant"] == "bttackler"
                for t in r["trials"] if t["state"] != "FAIL")
    assert sum(row["fired"] for row in payload["indicators"]) == fired


# ----------------------------------------------------------------------------- resume, failures


def _trial_key(t: dict[str, Any]) -> tuple[Any, ...]:
    return (t["number"], t["state"], t["value"], t["t_end"], json.dumps(t["params"]))


def test_rerun_on_the_same_directory_loses_and_repeats_nothing(
        exp_root: Path, payload: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_run, "train", _no_training)  # every run is over: nothing trains
    run_experiment("bttackler", scale="smoke", seed=SEED, out=exp_root)
    again = load_results(exp_root / "bttackler")
    for a, b in zip(payload["runs"], again["runs"], strict=True):
        assert [_trial_key(t) for t in a["trials"]] == [_trial_key(t) for t in b["trials"]]
    assert again["comparisons"] == payload["comparisons"]


def test_interrupted_run_resumes(tmp_path: Path) -> None:
    kw: dict[str, Any] = {"methods": ["random"], "variants": ["plain"]}
    run_hpo("smoke", SEED, tmp_path, max_trials=2, **kw)
    first = load_results(tmp_path)["runs"][0]
    assert [t["state"] for t in first["trials"]] == ["COMPLETE", "COMPLETE"]
    # a worker dies mid-trial: the journal holds a RUNNING trial
    journal = tmp_path / "runs" / "cnn" / "random" / "plain" / "rep0" / JOURNAL_FILE
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(journal)))
    study = optuna.load_study(study_name="bttackler", storage=storage)
    study.ask()
    run_hpo("smoke", SEED, tmp_path, max_trials=4, **kw)
    second = load_results(tmp_path)["runs"][0]
    trials = second["trials"]
    assert [t["number"] for t in trials] == [0, 1, 2, 3]
    assert [_trial_key(t) for t in trials[:2]] == [_trial_key(t) for t in first["trials"]]
    assert (trials[2]["state"], trials[2]["outcome"]) == ("FAIL", "interrupted")
    assert trials[3]["state"] == "COMPLETE" and trials[3]["segment"] == 1
    assert trials[3]["t_start"] >= first["elapsed_s"]  # the run clock goes on
    assert trials[3]["params"] != trials[0]["params"]  # a fresh sampler stream, no replay
    assert second["segments"] == 2
    run_hpo("smoke", SEED, tmp_path, max_trials=4, **kw)
    third = load_results(tmp_path)["runs"][0]
    assert [_trial_key(t) for t in third["trials"]] == [_trial_key(t) for t in trials]
    # a directory of another run is refused
    with pytest.raises(ConfigError, match="out"):
        run_hpo("smoke", SEED + 1, tmp_path, max_trials=4, **kw)


def test_failing_trial_is_recorded_and_the_run_goes_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}
    real_train = _run.train

    def flaky(config: Any, **kwargs: Any) -> Any:
        if kwargs.get("hooks"):  # trials (the warm-up has no hooks)
            calls["n"] += 1
            if calls["n"] == 2:
                raise RuntimeError("injected failure")
        return real_train(config, **kwargs)

    monkeypatch.setattr(_run, "train", flaky)
    run_hpo("smoke", SEED, tmp_path, methods=["random"], variants=["plain"])
    run = load_results(tmp_path)["runs"][0]
    states = [t["state"] for t in run["trials"]]
    assert states == ["COMPLETE", "FAIL", "COMPLETE"]
    failed = run["trials"][1]
    assert failed["outcome"] == "failed" and "injected failure" in failed["error"]
    assert failed["value"] is None
    agg = load_results(tmp_path)["aggregate"][0]
    assert agg["failed_mean"] == 1 and agg["trials_mean"] == 2 and agg["cut_mean"] == 0


def test_a_trial_still_training_when_the_budget_ends_is_cut(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_train = _run.train

    class Slow(Hook):
        def after_step(self, state: TrainState) -> None:
            time.sleep(0.15)

    def slow(config: Any, **kwargs: Any) -> Any:
        if kwargs.get("hooks"):  # trials (the warm-up has no hooks)
            kwargs["hooks"] = [*kwargs["hooks"], Slow()]
        return real_train(config, **kwargs)

    monkeypatch.setattr(_run, "train", slow)
    run_hpo("smoke", SEED, tmp_path, methods=["random"], variants=["plain"],
                  budget_s=0.3)
    payload = load_results(tmp_path)
    (run,) = payload["runs"]
    (trial,) = run["trials"]  # no trial starts once the clock is past the budget
    assert (trial["state"], trial["outcome"]) == ("FAIL", "over_budget")
    assert trial["error"] == "DeadlineExceeded: run budget of 0.3 s exhausted mid-trial"
    assert trial["t_end"] > 0.3 and trial["value"] is None
    agg = payload["aggregate"][0]
    assert (agg["cut_mean"], agg["failed_mean"], agg["trials_mean"]) == (1, 0, 0)


def test_an_interrupt_mid_trial_is_recorded_and_the_run_resumes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}
    real_train = _run.train

    def interrupted(config: Any, **kwargs: Any) -> Any:
        if kwargs.get("hooks"):
            calls["n"] += 1
            if calls["n"] == 2:
                raise KeyboardInterrupt("stop pressed")
        return real_train(config, **kwargs)

    kw: dict[str, Any] = {"methods": ["random"], "variants": ["plain"]}
    monkeypatch.setattr(_run, "train", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_hpo("smoke", SEED, tmp_path, **kw)
    monkeypatch.setattr(_run, "train", real_train)
    run_hpo("smoke", SEED, tmp_path, **kw)
    (run,) = load_results(tmp_path)["runs"]
    assert [t["state"] for t in run["trials"]] == ["COMPLETE", "FAIL", "COMPLETE"]
    cut = run["trials"][1]
    assert cut["outcome"] == "interrupted"
    assert cut["error"] == "interrupted: KeyboardInterrupt: stop pressed"
    assert run["segments"] == 2 and run["trials"][2]["segment"] == 1


@pytest.mark.slow
def test_parallel_worker_processes_share_one_journal(tmp_path: Path) -> None:
    spec = build_specs(resolve_settings("smoke", methods=["tpe"], variants=["plain"],
                                        budget_s=60.0, workers=2, max_trials=4), SEED)[0]
    with ProcessPoolExecutor(2, mp_context=mp.get_context("spawn"),
                             initializer=_run._init_worker) as pool:
        run = _run.run_study(spec, tmp_path, executor=pool)
    assert sorted(t["number"] for t in run["trials"]) == list(range(len(run["trials"])))
    assert 4 <= len(run["trials"]) <= 5  # both workers check the cap before asking
    assert {t["worker"] for t in run["trials"]} == {0, 1}
    assert all(t["state"] == "COMPLETE" for t in run["trials"])


# ----------------------------------------------------------------------------- redraw


def test_redraw_uses_the_json_only(exp_root: Path, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(exp_root / "bttackler" / RESULTS_FILE, tmp_path / RESULTS_FILE)
    monkeypatch.setattr(_run, "train", _no_training)
    monkeypatch.setattr(_run, "run_study", _no_training)
    monkeypatch.setattr(optuna, "load_study", _no_training)
    monkeypatch.setattr(optuna, "create_study", _no_training)
    paths = redraw(tmp_path)
    assert [p.name for p in paths] == [
        *(f"{s}.{e}" for s in FIGURES for e in ("pdf", "svg", "png")),
        *(f"{s}.{e}" for s in TABLES for e in ("tex", "md", "csv"))]
    for stem in TABLES:
        new = pd.read_csv(tmp_path / f"{stem}.csv")
        old = pd.read_csv(exp_root / "bttackler" / f"{stem}.csv")
        pd.testing.assert_frame_equal(new, old)
    (tmp_path / RESULTS_FILE).write_text("{}", encoding="utf-8")
    with pytest.raises(ValueError, match="bttackler"):
        redraw(tmp_path)


# ----------------------------------------------------------------------------- pieces


@pytest.mark.parametrize("method", METHODS)
def test_every_method_is_a_working_sampler(method: str) -> None:
    with quiet_optuna():
        study = optuna.create_study(sampler=make_sampler(method, seed=1, gp_startup=2))
        study.optimize(lambda t: (t.suggest_float("x", -1, 1) - 0.3) ** 2
                       + (t.suggest_categorical("c", ["a", "b"]) == "a"), n_trials=4)
    assert len(study.trials) == 4 and all(t.value is not None for t in study.trials)


def test_variants_map_to_pruners() -> None:
    assert isinstance(make_pruner("plain", epochs=4), optuna.pruners.NopPruner)
    assert isinstance(make_pruner("median", epochs=4), optuna.pruners.MedianPruner)
    assert isinstance(make_pruner("curvefit", epochs=4), CurveFitPruner)
    p = make_pruner("bttackler", epochs=4)
    assert isinstance(p, BTTacklerPruner) and p.mode == "report"


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"scale": "huge"}, "scale"),
    ({"seed": -1}, "seed"),
    ({"tasks": ["resnet"]}, "tasks"),
    ({"tasks": "cnn"}, "tasks"),
    ({"tasks": []}, "tasks"),
    ({"methods": ["smac"]}, "methods"),
    ({"variants": ["bttackler", "median"]}, "variants"),
    ({"variants": ["asha"]}, "variants"),
    ({"budget_s": 0}, "budget_s"),
    ({"budget_s": -3.0}, "budget_s"),
    ({"budget_s": math.inf}, "budget_s"),
    ({"workers": 0}, "workers"),
    ({"repeats": 0}, "repeats"),
    ({"epochs": 1}, "epochs"),
    ({"max_trials": 0}, "max_trials"),
    ({"dataset": "mnist"}, "dataset"),
])
def test_bad_input_is_refused_before_any_training(
        kwargs: dict[str, Any], field: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_run, "train", _no_training)
    monkeypatch.setattr(_run, "run_study", _no_training)
    args = {"scale": "smoke", "seed": 0, **kwargs}
    scale, seed = args.pop("scale"), args.pop("seed")
    with pytest.raises(ConfigError) as info:
        run_hpo(scale, seed, tmp_path / "out", **args)
    assert info.value.field == field
    assert not (tmp_path / "out").exists()


def test_cifar10_without_a_path_is_refused(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CIFAR10_ENV, raising=False)
    monkeypatch.setattr(_run, "train", _no_training)
    with pytest.raises(DatasetNotFoundError, match="cifar10"):
        run_hpo("smoke", 0, tmp_path, dataset="cifar10")
    for flag in ("replay", "live"):
        with pytest.raises(ConfigError, match=flag):
            run_bttackler("smoke", 0, tmp_path, **{flag: "yes"})
    with pytest.raises(DatasetNotFoundError, match="cifar10"):
        run_hpo("smoke", 0, tmp_path, dataset="cifar10", cifar10=tmp_path)
    # paper scale without CIFAR-10: synthetic images, with it: CIFAR-10
    assert resolve_settings("paper")["image_dataset"] == "synthetic"
