"""The bttackler runner (``_run.run_study``): a diverged training is a failed trial, and the
runner's worker pool leaves no process behind when the experiment is terminated."""

from __future__ import annotations

import dataclasses
import signal
import subprocess
import sys
import time
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


def _children_after_sigterm(code: str, n_children: int, timeout_s: float = 90.0
                            ) -> tuple[int, list[Any]]:
    """Start ``code`` in a Python process, wait for ``n_children`` descendants, SIGTERM it;
    returns its exit status and the descendants still alive 5 s after it ended."""
    import psutil

    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        parent = psutil.Process(proc.pid)
        deadline = time.time() + timeout_s
        kids: list[psutil.Process] = []
        while time.time() < deadline and proc.poll() is None:
            kids = parent.children(recursive=True)
            if len(kids) >= n_children:
                break
            time.sleep(0.1)
        assert len(kids) >= n_children, "the workers never started"
        time.sleep(0.5)  # let them get into their work
        kids = parent.children(recursive=True)
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=20)
        _, alive = psutil.wait_procs(kids, timeout=5)
        return rc, alive
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_sigterm_leaves_no_worker_of_the_runner_behind(tmp_path: Path) -> None:
    kw = {"methods": ["random"], "variants": ["plain"], "workers": 2, "max_trials": 200,
          "budget_s": 600.0, "replay": False, "live": False}
    code = ("from pathlib import Path\n"
            "from effdl_kit.experiments.bttackler import run_bttackler\n"
            f"run_bttackler('smoke', {SEED}, Path({str(tmp_path)!r}), **{kw!r})\n")
    rc, alive = _children_after_sigterm(code, n_children=2)
    assert rc == 143  # SystemExit(128 + SIGTERM): the runner's cleanup ran
    assert alive == [], f"orphaned workers: {[p.pid for p in alive]}"


def test_sigterm_leaves_no_arm_of_the_live_experiment_behind(tmp_path: Path) -> None:
    code = ("from effdl_kit.experiments.bttackler import run_bttackler_live\n"
            f"run_bttackler_live('smoke', {SEED}, {str(tmp_path)!r})\n")
    rc, alive = _children_after_sigterm(code, n_children=2)
    assert rc == 143 and not (tmp_path / "bttackler_live.json").exists()
    assert alive == [], f"orphaned workers: {[p.pid for p in alive]}"
