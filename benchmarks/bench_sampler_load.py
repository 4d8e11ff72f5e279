"""Load: a 1,000-trial Optuna study, 8 worker processes, the αβ-BO sampler, one journal file.

Each worker loops ``study.ask()`` (where Optuna runs the sampler's relative sampling: building
the grid, fitting the GP on at most ``max_observations`` trials, the acquisition over the grid),
evaluates a cheap objective (4 parameters: two floats, an int, a categorical) and tells the value;
it stores the seconds ``ask`` took and its resident memory as trial user attributes. Printed:
sampler seconds per trial and worker memory around trials 100, 500 and 1,000, so a growing cost
would show. ``EFFDL_BENCH_QUICK=1`` runs 120 trials with 2 workers.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import statistics
import tempfile
import time
from pathlib import Path

QUICK = os.environ.get("EFFDL_BENCH_QUICK") == "1"
N_TRIALS = 120 if QUICK else 1000
N_WORKERS = 2 if QUICK else 8
MARKS = (50, 100) if QUICK else (100, 500, 1000)
WINDOW = 20


def _objective(x: float, lr: float, depth: int, act: str) -> float:
    bonus = {"relu": 0.0, "gelu": -0.05, "tanh": 0.1}[act]
    return (x - 0.3) ** 2 + (math.log10(lr) + 2.5) ** 2 / 10 + (depth - 5) ** 2 / 50 + bonus


def _worker(path: str, study_name: str, seed: int, n_trials: int) -> None:
    import optuna
    import psutil
    import torch

    from effdl_kit.search import AlphaBetaSampler

    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(path))
    study = optuna.load_study(study_name=study_name, storage=storage,
                              sampler=AlphaBetaSampler(seed=seed, n_startup_trials=10))
    proc = psutil.Process()
    dists = {
        "x": optuna.distributions.FloatDistribution(-1.0, 1.0),
        "lr": optuna.distributions.FloatDistribution(1e-5, 1e-1, log=True),
        "depth": optuna.distributions.IntDistribution(1, 12),
        "act": optuna.distributions.CategoricalDistribution(["relu", "gelu", "tanh"]),
    }
    while len(study.get_trials(deepcopy=False)) < n_trials:
        t0 = time.perf_counter()
        trial = study.ask(dists)
        ask_s = time.perf_counter() - t0
        trial.set_user_attr("ask_s", ask_s)
        trial.set_user_attr("rss_mb", proc.memory_info().rss / 2**20)
        p = trial.params
        study.tell(trial, _objective(p["x"], p["lr"], p["depth"], p["act"]))


def main() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "study.log")
        storage = optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(path))
        optuna.create_study(study_name="load", storage=storage)
        t0 = time.perf_counter()
        ctx = mp.get_context("spawn")
        procs = [ctx.Process(target=_worker, args=(path, "load", seed, N_TRIALS))
                 for seed in range(N_WORKERS)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        wall = time.perf_counter() - t0
        study = optuna.load_study(study_name="load", storage=storage)
        trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
    done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    print(f"{len(done)} trials completed by {N_WORKERS} worker processes in {wall:.1f} s "
          f"(journal file storage; 2-core machine)")
    print(f"best value {min(t.value for t in done if t.value is not None):.4f}")
    for mark in MARKS:
        window = [t for t in done if mark - WINDOW < t.number + 1 <= mark]
        if not window:
            continue
        ask = [float(t.user_attrs["ask_s"]) for t in window]
        rss = [float(t.user_attrs["rss_mb"]) for t in window]
        print(f"  trials {mark - WINDOW + 1:>4}-{mark:<4}: sampler {statistics.mean(ask):.3f} s"
              f"/trial (max {max(ask):.3f}), worker RSS {statistics.mean(rss):.0f} MiB")


if __name__ == "__main__":
    main()
