"""Each indicator's rule on hand-made statistics and loss histories, the SC deviation, the
protection rule, and the Diagnosis object."""

from collections.abc import Sequence

import numpy as np
import pytest
import torch
from torch import nn

from effdl_kit.diagnosis import (
    AUTHORS_INDICATORS,
    Diagnoser,
    DiagnosisConfig,
    EpochInput,
    evaluate,
)
from effdl_kit.diagnosis._indicators import RULES, layer_ratios, slope

CFG = DiagnosisConfig()


def _inp(epoch: int = 0, *, g: Sequence[float] = (1e-2, 1e-2, 1e-2),
         z: Sequence[float] = (0.0, 0.0, 0.0), losses: Sequence[float] | None = None,
         val: Sequence[float] | None = None, max_epochs: int = 20,
         has_grads: bool = True) -> EpochInput:
    losses = list(losses) if losses is not None else list(np.linspace(2.0, 1.0, epoch + 1))
    val = list(val) if val is not None else [float("nan")] * len(losses)
    return EpochInput(epoch=epoch, max_epochs=max_epochs, mean_abs=np.asarray(g, float),
                      zero_fraction=np.asarray(z, float), has_grads=has_grads,
                      train_losses=np.asarray(losses, float), val_losses=np.asarray(val, float))


def test_agv_thresholds_and_first_half_gate() -> None:
    assert RULES["AGV"](_inp(g=(2e4, 3e4, 1e4)), CFG).fired
    assert not RULES["AGV"](_inp(g=(9e3, 9e3, 9e3)), CFG).fired
    low = (5e-6, 6e-6, 7e-6)
    assert RULES["AGV"](_inp(epoch=9, g=low), CFG).fired  # 9 < 20 // 2
    assert not RULES["AGV"](_inp(epoch=10, g=low), CFG).fired  # second half: no low rule
    nan_loss = _inp(losses=[2.0, float("nan")], epoch=1)
    chk = RULES["AGV"](nan_loss, CFG)
    assert chk.fired and "non-finite training loss" in chk.reason
    # no gradients accumulated this epoch: not a NaN, the gradient rules just do not run
    none = _inp(g=(np.nan, np.nan), has_grads=False)
    assert not RULES["AGV"](none, CFG).ran and not RULES["EAG"](none, CFG).ran


def test_eag_and_erg_on_layer_ratios() -> None:
    np.testing.assert_allclose(layer_ratios(np.array([4.0, 2.0, 0.0, 1.0])), [2.0, 0.0])
    exploding = (1e4, 1.0, 1e-4)  # each layer 1e4 x the next
    chk = RULES["EAG"](_inp(g=exploding), CFG)
    assert chk.fired and chk.values["median_ratio"] == pytest.approx(1e4)
    assert not RULES["EAG"](_inp(g=(2.0, 1.0, 0.5)), CFG).fired
    vanishing = (1e-10, 1e-5, 1.0)
    chk = RULES["ERG"](_inp(g=vanishing), CFG)
    assert chk.fired and chk.values["median_ratio"] == pytest.approx(1e-5)
    dead = RULES["ERG"](_inp(g=(0.0, 0.1, 0.1)), CFG)
    assert dead.fired and dead.values["zero_grad_layers"] == 1.0
    # a dead layer's 0/0 ratio is left out: no EAG false alarm (the authors' NaN rule fired)
    assert not RULES["EAG"](_inp(g=(0.0, 0.0, 0.1)), CFG).fired
    assert not RULES["ERG"](_inp(epoch=10, g=(0.0, 0.1, 0.1)), CFG).ran  # first half only


def test_lar_starts_at_its_epoch() -> None:
    z = (0.6, 0.7, 0.2)
    assert not RULES["LAR"](_inp(epoch=3, z=z), CFG).ran
    assert RULES["LAR"](_inp(epoch=4, z=z), CFG).fired  # 5 epochs recorded, as the authors
    assert not RULES["LAR"](_inp(epoch=4, z=(0.6, 0.4, 0.2)), CFG).fired
    legacy = DiagnosisConfig.preset("legacy")
    assert not RULES["LAR"](_inp(epoch=4, z=z), legacy).ran
    assert RULES["LAR"](_inp(epoch=5, z=z), legacy).fired


def test_plc_fires_on_a_frozen_loss_only() -> None:
    assert not RULES["PLC"](_inp(epoch=1, losses=[2.3, 2.3]), CFG).ran  # needs 3 epochs
    assert RULES["PLC"](_inp(epoch=2, losses=[2.30001, 2.3, 2.30002]), CFG).fired
    assert not RULES["PLC"](_inp(epoch=2, losses=[2.3, 2.0, 1.8]), CFG).fired
    assert not RULES["PLC"](_inp(epoch=12, losses=[2.3] * 13), CFG).ran  # second half


def _decay(n: int, rng: np.random.Generator, rate: float = 0.75) -> np.ndarray:
    """An exponentially decaying loss with 2% multiplicative noise."""
    return 2.0 * rate ** np.arange(n) * (1.0 + 0.02 * rng.standard_normal(n))


def test_sc_paper_rule_fires_on_exponential_decay_and_the_default_does_not() -> None:
    """The CoV of a window is scale-invariant, so under exponential decay the two halves'
    CoVs are equal and noise decides; the default compares standard deviations."""
    rng = np.random.default_rng(0)
    paper = CFG.replace(sc_rule="paper_cov")
    runs = [_decay(12, rng) for _ in range(300)]
    fired_paper = np.mean([RULES["SC"](_inp(11, losses=r), paper).fired for r in runs])
    fired_default = np.mean([RULES["SC"](_inp(11, losses=r), CFG).fired for r in runs])
    assert 0.3 < fired_paper < 0.7
    assert fired_default == 0.0
    # slow convergence: flat start, then the loss starts moving -> both rules fire
    slow = [2.30, 2.30, 2.29, 2.29, 2.28, 2.25, 2.15, 2.0, 1.8, 1.55, 1.3, 1.0]
    assert RULES["SC"](_inp(11, losses=slow), CFG).fired
    assert RULES["SC"](_inp(11, losses=slow), paper).fired
    assert not RULES["SC"](_inp(9, losses=slow[:10]), CFG).ran  # first half


def test_ulc_fires_on_oscillating_or_rising_loss_in_the_second_half() -> None:
    osc = [2.0, 1.5, 1.2, 1.0, 0.9, 0.8, 1.0, 2.0, 1.0, 2.0, 1.0, 2.2]
    chk = RULES["ULC"](_inp(11, losses=osc), CFG)
    assert chk.fired and chk.values["slope"] >= 0.01 and chk.values["cov"] > 0.2
    rising = [2.0, 1.5, 1.2, 1.0, 0.9, 0.8, 0.9, 1.3, 2.0, 3.5, 6.0, 11.0]
    assert RULES["ULC"](_inp(11, losses=rising), CFG).fired
    falling = [2.0 * 0.7**t for t in range(12)]  # big CoV but negative slope
    assert not RULES["ULC"](_inp(11, losses=falling), CFG).fired
    assert not RULES["ULC"](_inp(9, losses=rising[:10]), CFG).ran
    assert slope(np.array([1.0, 3.0, 5.0])) == pytest.approx(2.0)


def test_nmg_and_its_tolerance() -> None:
    flat_then_worse = [2.0, 1.0, 1.0, 1.0, 1.0, 1.1, 1.1, 1.1]
    assert RULES["NMG"](_inp(7, losses=flat_then_worse), CFG).fired
    assert not RULES["NMG"](_inp(7, losses=flat_then_worse),
                            CFG.replace(nmg_tolerance=0.2)).fired
    assert not RULES["NMG"](_inp(7, losses=list(np.linspace(2, 1, 8))), CFG).fired
    assert not RULES["NMG"](_inp(4, losses=[1.0, 1.0, 1.0, 2.0, 2.0]), CFG).ran


def test_of_is_off_by_default_and_fires_when_enabled() -> None:
    val = [1.0, 0.8, 0.7, 0.72, 0.75, 0.8, 0.9, 1.0]
    inp = _inp(7, val=val, losses=list(np.linspace(2, 0.5, 8)))
    assert "OF.val_slope" not in evaluate(inp, CFG).values
    train_only = CFG.replace(loss_curves="train")
    on = train_only.replace(indicators=(*AUTHORS_INDICATORS, "OF"))
    d = evaluate(inp, on)
    assert d.fired == ("OF",) and d.values["OF.val_slope"] > 0
    # on the validation curve too (the authors'), NMG sees the rising validation loss
    both = evaluate(inp, on.replace(loss_curves="train_val"))
    assert both.fired == ("NMG", "OF") and both.values["NMG.val_recent_mean"] > 0.8
    assert "validation mean loss" in both.reason


def test_sc_split_keeps_the_middle_epoch_as_the_authors() -> None:
    # 7 losses: the authors' halves are loss[:3] and loss[3:] (the middle epoch, 3, is in the
    # second half); "drop_middle" compares loss[:3] with loss[4:]
    losses = [2.0, 1.9, 1.8, 0.5, 1.0, 1.0, 1.0]
    keep, drop = CFG, CFG.replace(sc_split="drop_middle")
    assert RULES["SC"](_inp(6, losses=losses, max_epochs=8), keep).fired
    assert not RULES["SC"](_inp(6, losses=losses, max_epochs=8), drop).fired
    assert RULES["SC"](_inp(6, losses=losses, max_epochs=8), keep).values["second"] == (
        pytest.approx(float(np.std(losses[3:]))))


def test_agv_low_rule_is_protectable_and_the_high_rule_is_not() -> None:
    low = _inp(epoch=2, g=(1e-7, 1e-7, 1e-7))
    d = evaluate(low, CFG, protected=True)
    assert not d and d.suppressed == ("AGV",)
    assert evaluate(low, CFG.replace(protect_agv_low=False), protected=True).fired == ("AGV",)
    assert evaluate(_inp(epoch=2, g=(2e4, 2e4, 2e4)), CFG, protected=True).fired == ("AGV",)


def test_validation_curve_rules_name_the_curve() -> None:
    train = list(np.linspace(2, 1, 12))
    val = [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.6, 1.5, 0.6, 1.6, 0.7, 1.9]  # rising and swinging
    both = CFG.replace(loss_curves="train_val")
    chk = RULES["ULC"](_inp(11, losses=train, val=val), both)
    assert chk.fired and chk.values["val_slope"] >= 0.01 and chk.values["slope"] < 0
    assert chk.reason.startswith("validation loss slope")
    assert not RULES["ULC"](_inp(11, losses=train, val=val), CFG).fired
    # a validation loss never given (NaN) does not fire anything
    assert not RULES["NMG"](_inp(11, losses=train), both).fired


def _tiny_diagnoser(peers: list[float] | None) -> tuple[Diagnoser, nn.Module]:
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
    peer_fn = None if peers is None else (lambda epoch: peers)
    return Diagnoser(model, max_epochs=20, peer_losses=peer_fn), model


def _epoch(d: Diagnoser, model: nn.Module, loss: float) -> object:
    model.zero_grad()
    model(torch.randn(8, 4)).pow(2).mean().backward()
    d.after_backward()
    return d.end_epoch(loss)


def test_protection_exempts_strong_trials_from_protectable_indicators_only() -> None:
    torch.manual_seed(0)
    peers = list(np.linspace(1.0, 2.0, 12))  # 10th percentile: 1.1
    strong, m1 = _tiny_diagnoser(peers)
    plain, m2 = _tiny_diagnoser(None)
    for loss in (0.5, 0.5, 0.5):  # frozen, but far better than the peers
        ds, dp = _epoch(strong, m1, loss), _epoch(plain, m2, loss)
    assert strong.protected and strong.protected_since == 0
    assert dp and dp.fired == ("PLC",)  # type: ignore[attr-defined]
    assert not ds and ds.suppressed == ("PLC",)  # type: ignore[attr-defined]
    nan = _epoch(strong, m1, float("nan"))  # AGV is never suppressed
    assert nan and "AGV" in nan.fired  # type: ignore[attr-defined]
    # too few peer records, or a loss above the quantile: not protected
    few, m3 = _tiny_diagnoser(peers[:9])
    weak, m4 = _tiny_diagnoser(peers)
    _epoch(few, m3, 0.5)
    _epoch(weak, m4, 1.5)
    assert not few.protected and not weak.protected


def test_diagnosis_object() -> None:
    torch.manual_seed(0)
    d, model = _tiny_diagnoser(None)
    healthy = _epoch(d, model, 2.0)
    assert not healthy and healthy.fired == () and healthy.reason == ""  # type: ignore[attr-defined]
    assert len(healthy.grad_mean_abs) == 2 and healthy.epoch == 0  # type: ignore[attr-defined]
    frozen = [_epoch(d, model, 2.0) for _ in range(2)][-1]
    assert frozen and frozen.fired == ("PLC",)  # type: ignore[attr-defined]
    info = frozen.to_dict()  # type: ignore[attr-defined]
    assert info["indicators"] == ["PLC"] and info["epoch"] == 2
    assert "PLC" in info["reason"] and "epoch 2" in info["reason"]
    assert "AGV.median_grad" in info["values"]
    assert d.first_fired is frozen and d.train_losses == [2.0, 2.0, 2.0]
    assert d.end_epoch(torch.tensor(2.0)).epoch == 3  # 0-d tensors are accepted
