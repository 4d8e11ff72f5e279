"""The bttackler runner (``_run.run_study``): a diverged training is a failed trial, and the
runner's worker pool leaves no process behind when the experiment is terminated."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from effdl_kit.experiments.bttackler import _run, build_specs, resolve_settings

SEED = 5


def _spec(**kw: Any) -> Any:
    settings = resolve_settings("smoke", methods=["random"], variants=["plain"],
                                max_trials=3, budget_s=120.0, **kw)
    return build_specs(settings, SEED)[0]


def test_a_diverged_training_is_a_failed_trial_with_its_reason(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_train = _run.train
    calls = {"n": 0}

    def diverging(config: Any, **kwargs: Any) -> Any:
        if kwargs.get("hooks"):  # trials (the warm-up has no hooks)
            calls["n"] += 1
            if calls["n"] == 2:  # SGD at lr 100 in batches of 8: NaN loss in epoch 0
                config = dataclasses.replace(config, lr=100.0, optimizer="sgd",
                                             batch_size=8)
        return real_train(config, **kwargs)

    monkeypatch.setattr(_run, "train", diverging)
    run = _run.run_study(_spec(), tmp_path)
    states = [t["state"] for t in run["trials"]]
    assert states == ["COMPLETE", "FAIL", "COMPLETE"]
    bad = run["trials"][1]
    assert bad["outcome"] == "failed" and bad["value"] is None and bad["epochs"] == 1
    assert bad["error"].startswith("TrainingError: non-finite loss: training loss nan")
