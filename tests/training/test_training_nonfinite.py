"""``TrainResult.nonfinite_loss``: how a diverged training names itself (issue 17, item 4)."""

from __future__ import annotations

import pytest

from effdl_kit.training import DataBundle, TrainConfig, load_data, train


@pytest.fixture(scope="module")
def data() -> DataBundle:
    return load_data("digits", seed=0, n_train=120)


def _cfg(lr: float) -> TrainConfig:
    # SGD at lr 100 in batches of 8: the MLP's training loss is NaN in its first epoch
    return TrainConfig(dataset="digits", model="mlp", n_train=120, epochs=3, lr=lr,
                       optimizer="sgd", batch_size=8, threads=1, seed=0)


def test_a_diverged_run_names_its_first_nonfinite_epoch(data: DataBundle) -> None:
    res = train(_cfg(100.0), data=data)
    assert res.nonfinite_loss == "non-finite loss: training loss nan at epoch 0"
    assert res.stop_reason == "non-finite training loss" and res.epochs_run == 1
    # trained on without the stop: the first non-finite epoch is still the one named
    on = train(_cfg(100.0), data=data, stop_on_nonfinite=False)
    assert on.epochs_run == 3 and on.nonfinite_loss == res.nonfinite_loss


def test_a_sound_run_has_no_nonfinite_loss(data: DataBundle) -> None:
    res = train(_cfg(0.05), data=data)
    assert res.nonfinite_loss is None and res.stop_reason is None and res.epochs_run == 3
