"""The BTTackler indicators as pure functions of one epoch's statistics and the loss history.

Each rule returns a :class:`Check`: whether it ran this epoch, whether it fired, the values it
compared and a one-line reason. Non-finite numbers are handled explicitly: a NaN/Inf gradient
statistic fires AGV (alone with ``nan_exclusive``); with ``edge_cases="kit"`` a non-finite
training loss fires AGV too and the loss-curve rules skip a history that holds a non-finite
loss; with ``edge_cases="authors"`` they compute as the authors' numpy code does.
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
    #: the firing belongs to the protected group whatever the indicator (AGV's low rule)
    protectable: bool = False
    #: the NaN/Inf rule fired with ``nan_exclusive``: no other indicator runs this epoch
    exclusive: bool = False


_SKIP = Check(ran=False)


def coefficient_of_variation(x: np.ndarray) -> float:
    """``std(x) / |mean(x)|`` (population std); NaN for a zero mean."""
    m = float(np.mean(x))
    if m == 0.0:
        return float("nan")
    return float(np.std(x)) / abs(m)


def _authors_cov(x: np.ndarray) -> float:
    """The authors' ``np.std(x) / np.mean(x)``, numpy semantics (NaN for an empty ``x``)."""
    if x.size == 0:
        return float("nan")
    with np.errstate(all="ignore"):
        return float(np.float64(np.std(x)) / np.float64(np.mean(x)))


def _mean(x: np.ndarray) -> float:
    """``np.mean`` with numpy semantics: NaN for an empty slice, no warnings."""
    if x.size == 0:
        return float("nan")
    with np.errstate(all="ignore"):
        return float(np.mean(x))


def slope(y: np.ndarray) -> float:
    """Least-squares slope of ``y`` against ``0, 1, ..., len(y) - 1`` (per epoch); NaN for
    fewer than 2 points or a non-finite ``y``."""
    if len(y) < 2 or not _finite_history(y):
        return float("nan")
    t = np.arange(len(y), dtype=np.float64)
    tc = t - t.mean()
    with np.errstate(all="ignore"):
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


def _authors_ratios(g: np.ndarray) -> np.ndarray:
    """The authors' ``q = g[:-1] / g[1:]`` as it is (Inf/NaN for zero denominators)."""
    with np.errstate(all="ignore"):
        return np.asarray(g[:-1] / g[1:], dtype=np.float64)


def _median(x: np.ndarray) -> float:
    return float(np.median(x)) if x.size else float("nan")


def _curves(inp: EpochInput, cfg: DiagnosisConfig) -> list[tuple[str, np.ndarray]]:
    """The loss curves SC (late), ULC and NMG run on: ``("", train)`` and, with
    ``loss_curves="train_val"``, ``("val_", val)``."""
    out = [("", np.asarray(inp.train_losses, dtype=np.float64))]
    if cfg.loss_curves == "train_val":
        out.append(("val_", np.asarray(inp.val_losses, dtype=np.float64)))
    return out


def _on_curves(
    inp: EpochInput, cfg: DiagnosisConfig,
    one: Callable[[np.ndarray, DiagnosisConfig], Check],
) -> Check:
    """Run a loss-curve rule on each curve; it fires when it fires on any of them."""
    ran, fired, values, reasons = False, False, {}, []
    for prefix, losses in _curves(inp, cfg):
        chk = one(losses, cfg)
        if not chk.ran:
            continue
        ran = True
        values.update({prefix + k: v for k, v in chk.values.items()})
        if chk.fired:
            fired = True
            reasons.append(("validation " if prefix else "training ") + chk.reason)
    return Check(ran, fired, values, "; ".join(reasons)) if ran else _SKIP


def agv(inp: EpochInput, cfg: DiagnosisConfig) -> Check:
    """Abnormal gradient values: NaN/Inf, ``median(g)`` too large, or too small (first half)."""
    loss = float(inp.train_losses[-1])
    g = inp.mean_abs
    if inp.has_grads and not (_finite_history(g) and _finite_history(inp.zero_fraction)):
        bad = int(np.sum(~np.isfinite(g) | ~np.isfinite(inp.zero_fraction)))
        return Check(True, True, {"nonfinite_layers": float(bad), "train_loss": loss},
                     f"NaN/Inf gradients in {bad} of {len(g)} layers",
                     exclusive=cfg.nan_exclusive)
    if cfg.edge_cases == "kit" and not np.isfinite(loss):
        return Check(True, True, {"nonfinite_layers": 0.0, "train_loss": loss},
                     f"non-finite training loss ({loss})", exclusive=cfg.nan_exclusive)
    if not inp.has_grads:
        return _SKIP
    med = _median(g)
    vals = {"median_grad": med}
    if med > cfg.agv_max_grad:
        return Check(True, True, vals, f"median |grad| {med:.3g} > {cfg.agv_max_grad:.3g}")
    if inp.first_half and med < cfg.agv_min_grad:
        return Check(True, True, vals, f"median |grad| {med:.3g} < {cfg.agv_min_grad:.3g}",
                     protectable=cfg.protect_agv_low)
    return Check(True, False, vals)


def eag(inp: EpochInput, cfg: DiagnosisConfig) -> Check:
    """Exponentially amplified gradients: ``median(q)`` too large, or non-finite gradients."""
    if not inp.has_grads:
        return _SKIP
    g = inp.mean_abs
    if not _finite_history(g):
        return Check(True, True, {"median_ratio": float("nan")},
                     "non-finite layer gradient ratios")
    if cfg.edge_cases == "authors":
        if np.any(g == 0.0):  # the authors leave a dead layer to ERG
            return Check(True, False, {})
        q = _authors_ratios(g)
        if not _finite_history(q):
            return Check(True, True, {"median_ratio": float("nan")},
                         "non-finite layer gradient ratios")
    else:
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
    q = np.abs(_authors_ratios(g) if cfg.edge_cases == "authors" else layer_ratios(g))
    med = _median(q)
    vals = {"zero_grad_layers": float(n_zero), "median_ratio": med}
    if n_zero:
        return Check(True, True, vals, f"{n_zero} of {len(g)} layers get exactly zero gradient")
    if cfg.edge_cases == "authors" and not _finite_history(q):
        return Check(True, True, vals, "non-finite layer gradient ratios")
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
    authors = cfg.edge_cases == "authors"
    if (not inp.first_half or len(losses) < cfg.plc_min_epochs
            or not (authors or _finite_history(losses))):
        return _SKIP
    cov = _authors_cov(losses) if authors else coefficient_of_variation(losses)
    fired = bool(cov < cfg.plc_min_cov)  # NaN (zero mean) compares False
    return Check(True, fired, {"loss_cov": cov},
                 f"training loss CoV {cov:.3g} < {cfg.plc_min_cov:.3g} over {len(losses)} epochs"
                 if fired else "")


def _sc_one(losses: np.ndarray, cfg: DiagnosisConfig) -> Check:
    n = len(losses)
    authors = cfg.edge_cases == "authors"
    if n < cfg.sc_min_epochs or not (authors or _finite_history(losses)):
        return _SKIP
    h = n // 2
    first = losses[:h]
    second = losses[h:] if cfg.sc_split == "keep_middle" else losses[n - h:]
    if cfg.sc_rule == "paper_cov":
        cov = _authors_cov if authors else coefficient_of_variation
        a, b = cov(first), cov(second)
    else:
        a, b = float(np.std(first)), float(np.std(second))
    with np.errstate(all="ignore"):
        ratio = b / a if a > 0 else (float("inf") if b > 0 else float("nan"))
        fired = bool(b > a * cfg.sc_ratio) if authors else bool(ratio > cfg.sc_ratio)
    what = "CoV" if cfg.sc_rule == "paper_cov" else "std"
    return Check(True, fired, {"first": a, "second": b, "ratio": ratio},
                 f"loss {what} of the second half / first half = {ratio:.3g} > {cfg.sc_ratio:.3g}"
                 if fired else "")


def sc(inp: EpochInput, cfg: DiagnosisConfig) -> Check:
    """Slow convergence (second half): the second half of the loss history varies more than
    ``sc_ratio`` times the first half (spread: std; paper_cov: coefficient of variation), on
    the training loss and (``loss_curves="train_val"``) the validation loss."""
    if inp.first_half:
        return _SKIP
    return _on_curves(inp, cfg, _sc_one)


def _ulc_one(losses: np.ndarray, cfg: DiagnosisConfig) -> Check:
    w = losses[-cfg.ulc_window:]
    authors = cfg.edge_cases == "authors"
    if not authors and (len(w) < cfg.ulc_window or not _finite_history(w)):
        return _SKIP
    s = slope(w)
    cov = _authors_cov(w) if authors else coefficient_of_variation(w)
    fired = bool(s >= cfg.ulc_min_slope and cov > cfg.ulc_min_cov)
    return Check(True, fired, {"slope": s, "cov": cov},
                 f"loss slope {s:.3g}/epoch >= {cfg.ulc_min_slope:.3g} and CoV {cov:.3g} > "
                 f"{cfg.ulc_min_cov:.3g} over the last {len(w)} epochs" if fired else "")


def ulc(inp: EpochInput, cfg: DiagnosisConfig) -> Check:
    """Unexpected loss change (second half): the recent loss rises and swings (training and,
    with ``loss_curves="train_val"``, validation loss)."""
    if inp.first_half:
        return _SKIP
    return _on_curves(inp, cfg, _ulc_one)


def _nmg_one(losses: np.ndarray, cfg: DiagnosisConfig) -> Check:
    k = cfg.nmg_window
    if cfg.edge_cases == "authors":  # numpy slicing, whatever the history's length
        earlier, recent_w = losses[-2 * k:-k], losses[-k:]
    else:
        w = losses[-2 * k:]
        if len(w) < 2 * k or not _finite_history(w):
            return _SKIP
        earlier, recent_w = w[:k], w[k:]
    before, recent = _mean(earlier), _mean(recent_w)
    with np.errstate(all="ignore"):
        fired = bool(recent > before * (1.0 + cfg.nmg_tolerance))
    return Check(True, fired, {"earlier_mean": before, "recent_mean": recent},
                 f"mean loss of the last {k} epochs {recent:.4g} > previous {k} {before:.4g}"
                 if fired else "")


def nmg(inp: EpochInput, cfg: DiagnosisConfig) -> Check:
    """No more gain: the mean of the last ``nmg_window`` losses exceeds that of the window
    before (training and, with ``loss_curves="train_val"``, validation loss)."""
    return _on_curves(inp, cfg, _nmg_one)


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
