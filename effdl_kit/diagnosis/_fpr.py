"""False-positive rate of the diagnosis on healthy random configurations.

Healthy configurations are drawn from a region of the bench's space where training works
(Adam/AdamW/SGD-momentum at moderate learning rates, standard inits, MLP/CNN/LSTM on
``digits``); each is trained to its full budget with the diagnoser watching but not stopping,
and counts as a false positive if any enabled indicator fires at any epoch (in an HPO run
that trial would have been stopped). A drawn configuration that does not actually learn
(best validation accuracy below ``min_accuracy``) is not healthy: it is set aside and
another is drawn. The same recorded runs are replayed under the paper's SC rule
(``sc_rule="paper_cov"``) to measure that deviation's effect. No protection rule is applied
(no peers), so the rates are upper bounds for a study.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from effdl_kit._core.validate import check_float, check_int, check_scale
from effdl_kit.diagnosis._config import INDICATORS, DiagnosisConfig
from effdl_kit.diagnosis._diagnoser import Diagnosis, evaluate
from effdl_kit.diagnosis._hook import DiagnosisHook
from effdl_kit.diagnosis._indicators import EpochInput
from effdl_kit.training import TrainConfig, load_data, train

__all__ = ["FalsePositiveResult", "false_positive_rate", "replay", "sample_healthy_config"]

_SCALES: dict[str, dict[str, Any]] = {
    "smoke": {"epochs": 8, "n_train": 512},
    "small": {"epochs": 12, "n_train": None},
    "paper": {"epochs": 20, "n_train": None},
}


def replay(inputs: Sequence[EpochInput], config: DiagnosisConfig) -> list[Diagnosis]:
    """Evaluate recorded epoch inputs (``Diagnoser.inputs``) under another configuration."""
    return [evaluate(inp, config) for inp in inputs]


def sample_healthy_config(rng: np.random.Generator, *, epochs: int, n_train: int | None,
                          seed: int) -> TrainConfig:
    """One random configuration from the healthy region of the bench's space."""
    model = str(rng.choice(["mlp", "cnn", "lstm"]))
    opt = str(rng.choice(["adam", "adamw", "sgd"]))
    lr = float(np.exp(rng.uniform(np.log(5e-4), np.log(3e-3)))) if opt != "sgd" else \
        float(np.exp(rng.uniform(np.log(1e-2), np.log(1e-1))))
    act = str(rng.choice(["relu", "tanh", "gelu", "elu", "leaky_relu"]))
    params: dict[str, Any]
    if model == "mlp":
        depth = int(rng.integers(1, 4))
        params = {"hidden": tuple(int(rng.choice([64, 128, 256])) for _ in range(depth)),
                  "activation": act, "norm": str(rng.choice(["none", "layer"]))}
    elif model == "cnn":
        params = {"channels": (8, 16) if rng.random() < 0.5 else (16, 32), "activation": act,
                  "norm": str(rng.choice(["none", "batch"])),
                  "width": int(rng.choice([32, 64, 128])),
                  "dropout": float(rng.choice([0.0, 0.1, 0.2]))}
    else:
        params = {"hidden_size": int(rng.choice([32, 64, 128])),
                  "num_layers": int(rng.integers(1, 3))}
        lr = lr * 3 if opt != "sgd" else lr  # LSTMs on 8 rows train slowly at small LRs
    schedule = str(rng.choice(["constant", "cosine", "step"]))
    wd = 0.0 if rng.random() < 0.5 else float(np.exp(rng.uniform(np.log(1e-5), np.log(1e-3))))
    return TrainConfig(
        dataset="digits", model=model, optimizer=opt, lr=lr, weight_decay=wd, momentum=0.9,
        schedule=schedule, step_size=2, gamma=0.7,
        batch_size=int(rng.choice([32, 64, 128])), epochs=epochs, n_train=n_train,
        threads=1, seed=seed, model_params=params,
    )


@dataclass(frozen=True)
class FalsePositiveResult:
    """Outcome of :func:`false_positive_rate`.

    Attributes
    ----------
    rate : float
        Share of healthy configurations on which a default indicator fired (any epoch).
    paper_sc_rate : float
        The same with the paper's SC rule (``sc_rule="paper_cov"``), all else default.
    fired_by : dict
        Indicator code -> healthy configurations on which it fired (any epoch), defaults.
    paper_fired_by : dict
        The same under the paper's SC rule.
    runs : pandas.DataFrame
        One row per healthy configuration: model, optimizer, lr, schedule, best accuracy,
        first firing epoch and codes (defaults and paper SC).
    n_configs, n_rejected : int
        Healthy configurations measured; drawn ones set aside for not learning.
    """

    scale: str
    seed: int
    n_configs: int
    n_rejected: int
    rate: float
    paper_sc_rate: float
    fired_by: dict[str, int] = field(default_factory=dict)
    paper_fired_by: dict[str, int] = field(default_factory=dict)
    runs: pd.DataFrame = field(default_factory=pd.DataFrame)

    def summary(self) -> str:
        """A few lines for a report."""
        return (
            f"false-positive rate over {self.n_configs} healthy configs ({self.scale}, seed "
            f"{self.seed}): {self.rate:.1%} (fired: {self.fired_by or 'none'}); with the "
            f"paper's SC rule: {self.paper_sc_rate:.1%} (fired: {self.paper_fired_by or 'none'})"
            f"; {self.n_rejected} drawn configs did not learn and were set aside"
        )


def _first(ds: Sequence[Diagnosis]) -> Diagnosis | None:
    return next((d for d in ds if d), None)


def false_positive_rate(
    n_configs: int = 20,
    *,
    seed: int = 0,
    scale: str = "small",
    config: DiagnosisConfig | None = None,
    min_accuracy: float = 0.7,
) -> FalsePositiveResult:
    """Measure how often the diagnosis fires on healthy trainings.

    Parameters
    ----------
    n_configs : int
        Healthy configurations to measure (>= 1; the issue asks for >= 20).
    seed : int
        Seeds the configuration draws and each run's seed.
    scale : {"smoke", "small", "paper"}
        Epoch budget and training-set size (8 / 12 / 20 epochs on digits).
    config : DiagnosisConfig, optional
        The configuration under test (default: the defaults).
    min_accuracy : float
        A drawn configuration is healthy when its best validation accuracy reaches this.

    Returns
    -------
    FalsePositiveResult
    """
    check_int("n_configs", n_configs, min_value=1, max_value=10_000)
    check_int("seed", seed, min_value=0)
    scale = check_scale(scale)
    check_float("min_accuracy", min_accuracy, min_value=0.0, max_value=1.0)
    cfg = config or DiagnosisConfig()
    paper = cfg.replace(sc_rule="paper_cov", sc_ratio=1.0)
    settings = _SCALES[scale]
    rng = np.random.default_rng(seed)
    data = load_data("digits", seed=seed, n_train=settings["n_train"])
    rows: list[dict[str, Any]] = []
    rejected = 0
    fired_by: Counter[str] = Counter()
    paper_by: Counter[str] = Counter()
    old_threads = torch.get_num_threads()
    try:
        while len(rows) < n_configs and rejected < 3 * n_configs + 10:
            tc = sample_healthy_config(rng, epochs=settings["epochs"],
                                       n_train=settings["n_train"],
                                       seed=int(rng.integers(0, 2**31 - 1)))
            hook = DiagnosisHook(cfg, stop=False)
            res = train(tc, hooks=[hook], data=data)
            if not res.best_val_metric() >= min_accuracy:
                rejected += 1
                continue
            assert hook.diagnoser is not None
            ours = hook.diagnoses
            theirs = replay(hook.diagnoser.inputs, paper)
            for codes, counter in (({c for d in ours for c in d.fired}, fired_by),
                                   ({c for d in theirs for c in d.fired}, paper_by)):
                counter.update(codes)
            f_ours, f_paper = _first(ours), _first(theirs)
            rows.append({
                "model": tc.model, "optimizer": tc.optimizer, "lr": tc.lr,
                "schedule": tc.schedule, "batch_size": tc.batch_size,
                "model_params": str(dict(tc.model_params)),
                "best_val_accuracy": res.best_val_metric(),
                "final_train_loss": res.history[-1].train_loss,
                "fired_epoch": f_ours.epoch if f_ours else None,
                "fired": "+".join(f_ours.fired) if f_ours else "",
                "paper_sc_fired_epoch": f_paper.epoch if f_paper else None,
                "paper_sc_fired": "+".join(f_paper.fired) if f_paper else "",
            })
    finally:
        torch.set_num_threads(old_threads)
    runs = pd.DataFrame(rows)
    n = len(rows)
    rate = float(np.mean([r["fired"] != "" for r in rows])) if n else float("nan")
    prate = float(np.mean([r["paper_sc_fired"] != "" for r in rows])) if n else float("nan")
    order = {c: i for i, c in enumerate(INDICATORS)}
    return FalsePositiveResult(
        scale=scale, seed=seed, n_configs=n, n_rejected=rejected, rate=rate,
        paper_sc_rate=prate,
        fired_by=dict(sorted(fired_by.items(), key=lambda kv: order[kv[0]])),
        paper_fired_by=dict(sorted(paper_by.items(), key=lambda kv: order[kv[0]])),
        runs=runs,
    )
