"""The BTTackler indicators as pure functions of one epoch's statistics and the loss history.

Each rule returns a :class:`Check`: whether it ran this epoch, whether it fired, the values it
compared and a one-line reason. Non-finite numbers are handled explicitly: a NaN/Inf gradient
statistic or training loss fires AGV (and EAG for gradients); the loss-curve rules skip a
history that holds a non-finite loss instead of comparing NaNs (which is always False).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from effdl_kit.diagnosis._config import DiagnosisConfig

__all__ = ["RULES", "Check", "EpochInput", "coefficient_of_variation", "layer_ratios", "slope"]


@dataclass(frozen=True)
class EpochInput:
    """What the rules see at the end of one epoch.

    Attributes
    ----------
    epoch : int
        0-based epoch index.
    max_epochs : int
        ``E``; the first half is ``epoch < E // 2``.
    mean_abs, zero_fraction : ndarray, shape (n_layers,)
        ``g`` and ``z`` of this epoch (NaN when ``has_grads`` is False).
    has_grads : bool
        Whether any batch's gradients were accumulated this epoch.
    train_losses : ndarray, shape (epoch + 1,)
        Training loss of every epoch so far, this one last.
    val_losses : ndarray, shape (epoch + 1,)
        Validation losses (NaN where not given).
    """

    epoch: int
    max_epochs: int
    mean_abs: np.ndarray
    zero_fraction: np.ndarray
    has_grads: bool
    train_losses: np.ndarray
    val_losses: np.ndarray

    @property
    def first_half(self) -> bool:
        return self.epoch < self.max_epochs // 2


@dataclass(frozen=True)
class Check:
    """Outcome of one rule at one epoch."""

    ran: bool
    fired: bool = False
    values: dict[str, float] = field(default_factory=dict)
    reason: str = ""


_SKIP = Check(ran=False)


def coefficient_of_variation(x: np.ndarray) -> float:
    """``std(x) / |mean(x)|`` (population std); NaN for a zero mean."""
    m = float(np.mean(x))
    if m == 0.0:
        return float("nan")
    return float(np.std(x)) / abs(m)


def slope(y: np.ndarray) -> float:
    """Least-squares slope of ``y`` against ``0, 1, ..., len(y) - 1`` (per epoch)."""
    t = np.arange(len(y), dtype=np.float64)
    tc = t - t.mean()
    return float(np.dot(tc, y - np.mean(y)) / np.dot(tc, tc))


def layer_ratios(g: np.ndarray) -> np.ndarray:
    """``q_l = g_l / g_{l+1}`` over consecutive layers with finite ``g`` and ``g_{l+1} > 0``.

    A zero denominator means no gradient reached layer ``l + 1``: that is ERG/LAR's business,
    not an amplification, so the pair is left out (the authors' ``0/0 = NaN`` fired EAG).
    """
    a, b = g[:-1], g[1:]
    ok = np.isfinite(a) & np.isfinite(b) & (b > 0)
    return a[ok] / b[ok]


def _finite_history(x: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(x)))


def agv(inp: EpochInput, cfg: DiagnosisConfig) -> Check:
    """Abnormal gradient values: NaN/Inf, ``median(g)`` too large, or too small (first half)."""
    loss = float(inp.train_losses[-1])
    g = inp.mean_abs
    if inp.has_grads and not _finite_history(g):
        bad = int(np.sum(~np.isfinite(g)))
        return Check(True, True, {"nonfinite_layers": float(bad), "train_loss": loss},
                     f"NaN/Inf gradients in {bad} of {len(g)} layers")
    if not np.isfinite(loss):
        return Check(True, True, {"nonfinite_layers": 0.0, "train_loss": loss},
                     f"non-finite training loss ({loss})")
    if not inp.has_grads:
        return _SKIP
    med = float(np.median(g))
    vals = {"median_grad": med}
    if med > cfg.agv_max_grad:
        return Check(True, True, vals, f"median |grad| {med:.3g} > {cfg.agv_max_grad:.3g}")
    if inp.first_half and med < cfg.agv_min_grad:
        return Check(True, True, vals, f"median |grad| {med:.3g} < {cfg.agv_min_grad:.3g}")
    return Check(True, False, vals)


def eag(inp: EpochInput, cfg: DiagnosisConfig) -> Check:
    """Exponentially amplified gradients: ``median(q)`` too large, or non-finite gradients."""
    if not inp.has_grads:
        return _SKIP
    g = inp.mean_abs
    if not _finite_history(g):
        return Check(True, True, {"median_ratio": float("nan")},
                     "non-finite layer gradient ratios")
    q = layer_ratios(g)
    if q.size == 0:
        return Check(True, False, {})
    med = float(np.median(q))
    fired = med > cfg.eag_max_ratio
    return Check(True, fired, {"median_ratio": med},
                 f"median layer gradient ratio {med:.3g} > {cfg.eag_max_ratio:.3g}"
                 if fired else "")


def erg(inp: EpochInput, cfg: DiagnosisConfig) -> Check:
    """Exponentially reduced gradients (first half): a layer with zero gradient, or a tiny
    ``median(|q|)``."""
    if not inp.has_grads or not inp.first_half or not _finite_history(inp.mean_abs):
        return _SKIP
    g = inp.mean_abs
    n_zero = int(np.sum(g == 0.0))
    q = layer_ratios(g)
    med = float(np.median(np.abs(q))) if q.size else float("nan")
    vals = {"zero_grad_layers": float(n_zero), "median_ratio": med}
    if n_zero:
        return Check(True, True, vals, f"{n_zero} of {len(g)} layers get exactly zero gradient")
    if q.size and med < cfg.erg_min_ratio:
        return Check(True, True, vals,
                     f"median layer gradient ratio {med:.3g} < {cfg.erg_min_ratio:.3g}")
    return Check(True, False, vals)


def lar(inp: EpochInput, cfg: DiagnosisConfig) -> Check:
    """Low activation ratio (dying units): ``median(z)`` too large, from ``lar_start_epoch``."""
    if not inp.has_grads or inp.epoch < cfg.lar_start_epoch:
        return _SKIP
    med = float(np.median(inp.zero_fraction))
    fired = med > cfg.lar_max_zero_fraction
    return Check(True, fired, {"median_zero_fraction": med},
                 f"median zero-gradient fraction {med:.3g} > {cfg.lar_max_zero_fraction:.3g}"
                 if fired else "")


def plc(inp: EpochInput, cfg: DiagnosisConfig) -> Check:
    """Passive loss change (first half): the loss has barely moved since the start."""
    losses = inp.train_losses
    if not inp.first_half or len(losses) < cfg.plc_min_epochs or not _finite_history(losses):
        return _SKIP
    cov = coefficient_of_variation(losses)
    fired = bool(cov < cfg.plc_min_cov)  # NaN (zero mean) compares False
    return Check(True, fired, {"loss_cov": cov},
                 f"training loss CoV {cov:.3g} < {cfg.plc_min_cov:.3g} over {len(losses)} epochs"
                 if fired else "")


def sc(inp: EpochInput, cfg: DiagnosisConfig) -> Check:
    """Slow convergence (second half): the second half of the loss history varies more than
    ``sc_ratio`` times the first half (spread: std; paper_cov: coefficient of variation)."""
    losses = inp.train_losses
    n = len(losses)
    if inp.first_half or n < cfg.sc_min_epochs or not _finite_history(losses):
        return _SKIP
    h = n // 2
    first, second = losses[:h], losses[n - h:]
    if cfg.sc_rule == "paper_cov":
        a, b = coefficient_of_variation(first), coefficient_of_variation(second)
    else:
        a, b = float(np.std(first)), float(np.std(second))
    ratio = b / a if a > 0 else (float("inf") if b > 0 else float("nan"))
    fired = bool(ratio > cfg.sc_ratio)
    what = "CoV" if cfg.sc_rule == "paper_cov" else "std"
    return Check(True, fired, {"first": a, "second": b, "ratio": ratio},
                 f"loss {what} of the second half / first half = {ratio:.3g} > {cfg.sc_ratio:.3g}"
                 if fired else "")


def ulc(inp: EpochInput, cfg: DiagnosisConfig) -> Check:
    """Unexpected loss change (second half): the recent loss rises and swings."""
    w = inp.train_losses[-cfg.ulc_window:]
    if inp.first_half or len(w) < cfg.ulc_window or not _finite_history(w):
        return _SKIP
    s, cov = slope(w), coefficient_of_variation(w)
    fired = bool(s >= cfg.ulc_min_slope and cov > cfg.ulc_min_cov)
    return Check(True, fired, {"slope": s, "cov": cov},
                 f"loss slope {s:.3g}/epoch >= {cfg.ulc_min_slope:.3g} and CoV {cov:.3g} > "
                 f"{cfg.ulc_min_cov:.3g} over the last {cfg.ulc_window} epochs" if fired else "")


def nmg(inp: EpochInput, cfg: DiagnosisConfig) -> Check:
    """No more gain: the mean of the last ``nmg_window`` losses exceeds that of the window
    before."""
    k = cfg.nmg_window
    w = inp.train_losses[-2 * k:]
    if len(w) < 2 * k or not _finite_history(w):
        return _SKIP
    before, recent = float(np.mean(w[:k])), float(np.mean(w[k:]))
    fired = recent > before * (1.0 + cfg.nmg_tolerance)
    return Check(True, fired, {"earlier_mean": before, "recent_mean": recent},
                 f"mean loss of the last {k} epochs {recent:.4g} > previous {k} {before:.4g}"
                 if fired else "")


def of(inp: EpochInput, cfg: DiagnosisConfig) -> Check:
    """Overfitting: the last ``of_window`` validation losses trend upwards."""
    w = inp.val_losses[-cfg.of_window:]
    if len(w) < cfg.of_window or not _finite_history(w):
        return _SKIP
    s = slope(w)
    fired = s > 0
    return Check(True, fired, {"val_slope": s},
                 f"validation loss slope {s:.3g}/epoch > 0 over the last {cfg.of_window} epochs"
                 if fired else "")


RULES: dict[str, Callable[[EpochInput, DiagnosisConfig], Check]] = {
    "AGV": agv, "EAG": eag, "ERG": erg, "LAR": lar, "PLC": plc, "SC": sc, "ULC": ulc,
    "NMG": nmg, "OF": of,
}
