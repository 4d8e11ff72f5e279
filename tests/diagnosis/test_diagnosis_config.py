"""Bad input: clear ConfigErrors naming the field, raised before any training."""

import pytest
import torch
from torch import nn

from effdl_kit.diagnosis import (
    AUTHORS_INDICATORS,
    DEFAULT_INDICATORS,
    INDICATORS,
    Diagnoser,
    DiagnosisConfig,
    DiagnosisHook,
)
from effdl_kit.errors import ConfigError
from effdl_kit.training import CallbackHook, TrainConfig, train


def test_defaults_are_the_authors_but_nmg_and_of_are_off() -> None:
    cfg = DiagnosisConfig()
    assert cfg.indicators == DEFAULT_INDICATORS and "OF" not in cfg.indicators
    assert set(INDICATORS) - set(cfg.indicators) == {"OF", "NMG"}
    assert set(INDICATORS) - set(AUTHORS_INDICATORS) == {"OF"}
    assert DiagnosisConfig.preset("faithful").indicators == AUTHORS_INDICATORS
    assert DiagnosisConfig.preset("legacy").indicators == AUTHORS_INDICATORS
    assert (cfg.agv_max_grad, cfg.agv_min_grad, cfg.eag_max_ratio, cfg.erg_min_ratio) == (
        1e4, 1e-5, 1e3, 1e-4)
    # LAR from the 5th recorded epoch (index 4), as the authors' "len(train_loss_list) >= 5"
    assert (cfg.lar_max_zero_fraction, cfg.lar_start_epoch, cfg.plc_min_cov) == (0.5, 4, 1e-4)
    assert (cfg.ulc_window, cfg.ulc_min_slope, cfg.ulc_min_cov, cfg.nmg_window) == (
        6, 0.01, 0.2, 3)
    assert (cfg.protect_quantile, cfg.protect_min_records) == (0.1, 10)
    assert cfg.sc_rule == "spread"
    assert (cfg.loss_curves, cfg.protect_agv_low, cfg.sc_split, cfg.nan_exclusive,
            cfg.edge_cases) == ("train", True, "keep_middle", True, "kit")
    # order is canonical and duplicates collapse
    assert DiagnosisConfig(indicators=("NMG", "AGV", "AGV")).indicators == ("AGV", "NMG")
    assert DiagnosisConfig().replace(sc_rule="paper_cov").to_dict()["sc_rule"] == "paper_cov"


@pytest.mark.parametrize(("field", "value"), [
    ("agv_max_grad", float("nan")),
    ("agv_max_grad", float("inf")),
    ("agv_min_grad", -1e-5),
    ("agv_min_grad", 0.0),
    ("agv_min_grad", 1e5),  # above agv_max_grad
    ("eag_max_ratio", -3.0),
    ("erg_min_ratio", float("-inf")),
    ("lar_max_zero_fraction", 1.0),
    ("lar_max_zero_fraction", -0.1),
    ("lar_start_epoch", -1),
    ("plc_min_cov", "small"),
    ("plc_min_epochs", 1),
    ("sc_rule", "cov"),
    ("sc_ratio", 0.0),
    ("ulc_window", 2),
    ("ulc_window", 6.0),
    ("ulc_min_slope", -0.01),
    ("nmg_window", True),
    ("nmg_tolerance", float("nan")),
    ("protect_quantile", 1.5),
    ("protect_min_records", 0),
    ("indicators", ("AGV", "XYZ")),
    ("indicators", "AGV"),
])
def test_bad_config_values_name_the_field(field: str, value: object) -> None:
    with pytest.raises(ConfigError) as info:
        DiagnosisConfig(**{field: value})  # type: ignore[arg-type]
    assert info.value.field == field
    assert f"invalid value for {field!r}" in str(info.value) and "allowed: " in str(info.value)


def test_bad_diagnoser_arguments() -> None:
    model = nn.Linear(3, 2)
    with pytest.raises(ConfigError, match="'max_epochs'"):
        Diagnoser(model, max_epochs=1)
    with pytest.raises(ConfigError, match="'max_epochs'"):
        Diagnoser(model, max_epochs=2.5)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="'config'"):
        Diagnoser(model, max_epochs=4, config={"agv_max_grad": 1})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="'model'.*at least one trainable"):
        Diagnoser(nn.Sequential(nn.ReLU(), nn.BatchNorm1d(3)), max_epochs=4)
    frozen = nn.Linear(3, 2).requires_grad_(False)
    with pytest.raises(ConfigError, match="'model'"):
        Diagnoser(frozen, max_epochs=4)
    with pytest.raises(ConfigError, match="'model'"):
        Diagnoser("resnet", max_epochs=4)  # type: ignore[arg-type]
    d = Diagnoser(model, max_epochs=4)
    with pytest.raises(ConfigError, match="'train_loss'"):
        d.end_epoch("low")
    with pytest.raises(ConfigError, match="'train_loss'"):
        d.end_epoch(torch.ones(3))
    with pytest.raises(ConfigError, match="'val_loss'"):
        d.end_epoch(1.0, val_loss=[1.0])
    assert d.epoch == 0  # nothing was recorded by the failed calls
    d.attach()
    with pytest.raises(ConfigError, match="'after_backward'"):
        d.after_backward()
    d.detach()


def test_hook_errors_come_before_the_first_epoch() -> None:
    with pytest.raises(ConfigError, match="'config'"):
        DiagnosisHook(config="strict")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="'stop'"):
        DiagnosisHook(stop="yes")  # type: ignore[arg-type]
    epochs_seen: list[int] = []
    spy = CallbackHook(before_forward=lambda s: epochs_seen.append(s.epoch))
    with pytest.raises(ConfigError, match="'epochs'.*>= 2"):
        train(TrainConfig(dataset="digits", model="mlp", epochs=1, n_train=128),
              hooks=[DiagnosisHook(), spy])
    assert epochs_seen == []  # no batch was trained
