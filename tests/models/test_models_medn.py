"""MEDN: the estimator contract, that it learns, its two heads, and bad input."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from effdl_kit.errors import ConfigError
from effdl_kit.models import MEDN, latency_metrics
from effdl_kit.testing import check_estimator_contract

RNG = np.random.default_rng(0)
X = np.column_stack([RNG.integers(1, 64, 160), RNG.integers(8, 256, 160),
                     RNG.uniform(0, 100, 160)]).astype(float)
# a latency-like target: multiplicative in the sizes, slowed by utilisation
Y = 1e-3 * X[:, 0] * X[:, 1] * (1 + X[:, 2] / 100) + 0.01


def test_contract() -> None:
    check_estimator_contract(lambda: MEDN(epochs=8, batch_size=32), X[:60], Y[:60])


def test_learns_a_multiplicative_latency_law() -> None:
    m = MEDN(epochs=150, random_state=1).fit(X[:120], Y[:120])
    assert m.n_iter_ == 150 and len(m.loss_curve_) == 150
    assert m.loss_curve_[-1] < 0.2 * m.loss_curve_[0]
    met = latency_metrics(Y[120:], m.predict(X[120:]))
    assert met["acc15"] >= 0.6 and met["r2_log"] > 0.9, met


def test_heads_and_fitted_state() -> None:
    m = MEDN(hidden=(16, 8), latent=4, head_hidden=8, epochs=5).fit(X, Y)
    assert m.n_features_in_ == 3 and m.x_mean_.shape == (3,)
    assert set(m.net_.keys()) == {"encoder", "predictor", "decoder"}
    assert m.net_["encoder"][-1].out_features == 4
    assert m.reconstruct(X[:5]).shape == (5, 3)
    assert m.predict(X[:5]).shape == (5,) and (m.predict(X[:5]) > 0).all()


def test_reconstruction_weight_changes_training() -> None:
    a = MEDN(lam=0.0, epochs=20).fit(X, Y)
    b = MEDN(lam=1.0, epochs=20).fit(X, Y)
    assert not np.allclose(a.predict(X), b.predict(X))
    # with lam=1 the decoder learns to reconstruct; with lam=0 it is never trained
    def recon_err(m: MEDN) -> float:
        Z = np.sign(X) * np.log1p(np.abs(X))
        return float(np.mean((m.reconstruct(X) - (Z - m.x_mean_) / m.x_scale_) ** 2))

    assert recon_err(b) < recon_err(a)


def test_no_global_rng_use_and_thread_setting_restored() -> None:
    state = torch.random.get_rng_state()
    threads = torch.get_num_threads()
    MEDN(epochs=3, threads=1).fit(X, Y).predict(X)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.get_num_threads() == threads


@pytest.mark.parametrize(("params", "field"), [
    ({"hidden": ()}, "hidden"),
    ({"hidden": (8, 0)}, "hidden"),
    ({"latent": 0}, "latent"),
    ({"lam": -1.0}, "lam"),
    ({"epochs": 0}, "epochs"),
    ({"lr": 0.0}, "lr"),
    ({"batch_size": 1.5}, "batch_size"),
    ({"log_target": "yes"}, "log_target"),
    ({"threads": 0}, "threads"),
])
def test_bad_hyperparameters_fail_before_training(params: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        MEDN(**params).fit(X, Y)
    assert info.value.field == field


def test_log_target_needs_positive_latencies() -> None:
    with pytest.raises(ValueError, match="> 0"):
        MEDN(epochs=1).fit(X, Y - 1.0)
    m = MEDN(epochs=2, log_target=False).fit(X, Y - 1.0)
    assert np.isfinite(m.predict(X)).all()
