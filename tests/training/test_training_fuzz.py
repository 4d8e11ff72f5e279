"""Fuzzed training configurations: a clear kit error before any work, or a valid config."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from effdl_kit.errors import EffdlError
from effdl_kit.training import TrainConfig

values = st.one_of(st.none(), st.booleans(), st.integers(-3, 300),
                   st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=6),
                   st.sampled_from(["digits", "synthetic", "cnn", "mlp", "lstm", "adam", "sgd",
                                    "cosine", "flip", "bf16", "cpu", "cuda"]),
                   st.lists(st.integers(-2, 64), max_size=3),
                   st.dictionaries(st.sampled_from(["channels", "hidden", "norm", "activation",
                                                    "width", "dropout", "n_samples"]),
                                   st.one_of(st.integers(-2, 64), st.text(max_size=4),
                                             st.lists(st.integers(-2, 64), max_size=3)),
                                   max_size=3))
FIELDS = ["dataset", "model", "optimizer", "lr", "weight_decay", "momentum", "schedule",
          "batch_size", "epochs", "augmentation", "label_smoothing", "precision", "device",
          "threads", "n_train", "val_fraction", "test_fraction", "seed", "grad_clip",
          "model_params", "data_params"]


@settings(max_examples=150, deadline=None)
@given(kwargs=st.dictionaries(st.sampled_from(FIELDS), values, max_size=5))
def test_arbitrary_configs(kwargs: dict[str, Any]) -> None:
    try:
        cfg = TrainConfig(**kwargs)
    except EffdlError:
        return
    assert cfg.epochs >= 1 and cfg.batch_size >= 1 and cfg.lr > 0
    assert 0 <= cfg.val_fraction < 1 and 0 <= cfg.test_fraction < 1
