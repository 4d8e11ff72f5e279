"""Smoke check of the sampler benchmark's harness (seconds; never the full benchmark): a tiny
run writes every file, its regrets are best-so-far curves, the controls behave."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import optuna

from benchmarks._sampler_functions import FUNCTIONS
from benchmarks._sampler_runs import OracleSampler, load_runs, run_all, run_one, sampler_version
from benchmarks.bench_sampler_quality import Config, _parse, run_benchmark


def test_oracle_sampler_proposes_the_minimiser_when_told_to() -> None:
    fn = FUNCTIONS["training_response"]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for p, expect_hit in ((1.0, True), (0.0, False)):
        study = optuna.create_study(sampler=OracleSampler(fn.argmin, p, seed=0))
        for _ in range(5):
            t = study.ask(fn.space)
            study.tell(t, fn.evaluate(t.params))
        hits = [t.params == fn.argmin for t in study.trials]
        assert all(hits) if expect_hit else not any(hits)


def test_run_one_records_a_best_so_far_curve() -> None:
    r = run_one("branin", "random_2x", 0, 6)
    reg = r["regret"]
    assert len(reg) == 12  # factor 2
    assert all(b <= a for a, b in itertools.pairwise(reg))
    assert min(reg) > 0 and r["ms_all"] > 0


def test_tiny_benchmark_writes_every_file(tmp_path: Path) -> None:
    cfg = Config(functions=("branin", "training_response"),
                 samplers=("alpha_beta", "random", "tpe", "random_aa", "random_2x", "oracle"),
                 seeds=(0, 1), budgets=(6, 12), workers=1, out=tmp_path, command="test")
    summary = run_benchmark(cfg)
    for name in ("sampler_quality.json", "sampler_quality.md", "sampler_quality.png",
                 "sampler_quality_runs.jsonl"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert len(load_runs(tmp_path / "sampler_quality_runs.jsonl")) == 2 * 6 * 2
    data = json.loads((tmp_path / "sampler_quality.json").read_text())
    assert len(data["cells"]) == 2 * 2 * 6  # functions x budgets x samplers
    assert data["verdicts"]["target3_time"] is None  # GPSampler not run
    assert "Target 1, budget 12" in (tmp_path / "sampler_quality.md").read_text()
    assert summary["seeds"] == [0, 1]
    # a second call resumes: nothing is run again
    run_benchmark(cfg)
    assert len((tmp_path / "sampler_quality_runs.jsonl").read_text().splitlines()) == 24


def test_quick_mode_and_options() -> None:
    cfg = _parse(["--quick"])
    assert cfg.functions == ("branin", "hartmann6_cat", "training_response")
    assert cfg.seeds == (0, 1, 2) and max(cfg.budgets) == 20
    assert "docs" not in str(cfg.out)  # a quick run never overwrites the committed results
    full = _parse([])
    assert len(full.functions) >= 8 and full.budgets == (20, 40, 80) and len(full.seeds) >= 10
    assert {"alpha_beta", "random", "tpe", "gp", "random_aa", "oracle"} <= set(full.samplers)


def test_runs_made_with_other_code_are_redone(tmp_path: Path) -> None:
    path = tmp_path / "runs.jsonl"
    runs = run_all(["branin"], ["random", "tpe"], [0, 1], 4, path, log=lambda m: None)
    assert len(runs) == 4
    assert {r["version"] for r in runs} == {sampler_version("random")}
    stored = load_runs(path)
    stored[0]["version"] = "optuna 0.0"  # as if made with another Optuna
    stored[0]["regret"] = [-1.0] * 4
    path.write_text("".join(json.dumps(r) + "\n" for r in stored))
    messages: list[str] = []
    again = run_all(["branin"], ["random", "tpe"], [0, 1], 4, path, log=messages.append)
    assert "dropping 1 stored runs" in messages[0]
    assert len(again) == 4 and all(r["regret"][0] >= 0 for r in again)
    assert len(path.read_text().splitlines()) == 4
    assert sampler_version("alpha_beta").startswith("effdl_kit.search ")
