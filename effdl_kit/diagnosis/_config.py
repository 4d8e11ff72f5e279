"""Thresholds and windows of the BTTackler indicators, as one validated dataclass."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from effdl_kit._core.errors import ConfigError
from effdl_kit._core.validate import check_choice, check_float, check_int

__all__ = [
    "DEFAULT_INDICATORS",
    "INDICATORS",
    "PROTECTABLE",
    "SC_RULES",
    "DiagnosisConfig",
]

#: Every indicator code, in the order they are evaluated and reported.
INDICATORS: tuple[str, ...] = ("AGV", "EAG", "ERG", "LAR", "PLC", "SC", "ULC", "NMG", "OF")
#: Enabled by default: all but OF (disabled in the authors' code as well).
DEFAULT_INDICATORS: tuple[str, ...] = INDICATORS[:-1]
#: Indicators a protected (strong) trial is exempt from; AGV, EAG, ULC always apply.
PROTECTABLE: frozenset[str] = frozenset({"ERG", "LAR", "PLC", "SC", "NMG"})
#: ``"spread"``: robust default; ``"paper_cov"``: the paper's coefficient-of-variation rule.
SC_RULES: tuple[str, ...] = ("spread", "paper_cov")


def _positive(name: str, value: Any) -> float:
    return check_float(name, value, min_value=0.0, min_inclusive=False)


@dataclass(frozen=True)
class DiagnosisConfig:
    """Thresholds and windows of the indicators (defaults: the authors' code).

    Epochs are counted from 0; with ``max_epochs = E`` the *first half* is ``epoch < E // 2``
    and the *second half* the rest. ``g`` is the per-layer mean absolute weight gradient
    averaged over the epoch's batches, ``z`` the per-layer fraction of exactly-zero gradient
    entries, ``q_l = g_l / g_{l+1}`` the ratio of consecutive layers (forward order).

    Parameters
    ----------
    indicators : tuple of str
        Enabled indicator codes (subset of ``INDICATORS``); default all but ``"OF"``.
    agv_max_grad : float
        AGV fires when ``median(g)`` exceeds it (every epoch). Default 1e4.
    agv_min_grad : float
        AGV fires when ``median(g)`` is below it (first half only). Default 1e-5.
    eag_max_ratio : float
        EAG fires when ``median(q)`` exceeds it. Default 1e3.
    erg_min_ratio : float
        ERG fires (first half) when ``median(|q|)`` is below it, or some ``g_l`` is 0.
        Default 1e-4.
    lar_max_zero_fraction : float
        LAR fires when ``median(z)`` exceeds it, in [0, 1). Default 0.5.
    lar_start_epoch : int
        First epoch on which LAR runs. Default 5.
    plc_min_cov : float
        PLC fires (first half) when the std/mean of the training losses so far is below it.
        Default 1e-4.
    plc_min_epochs : int
        PLC needs this many losses. Default 3.
    sc_rule : str
        ``"spread"`` (default, robust): SC fires when the standard deviation of the second
        half of the loss history exceeds ``sc_ratio`` times that of the first half, i.e. the
        loss is not decelerating. ``"paper_cov"``: the paper's rule, comparing the
        coefficients of variation of the two halves (fires on about half of all smoothly,
        exponentially converging runs, because that ratio is 1 under exponential decay and
        noise decides). Measured with ``false_positive_rate(24, seed=0, scale=...)``: on 24
        healthy configurations the paper's rule fired on 33.3% (smoke: 8 epochs) and 8.3%
        (small: 12 epochs) of them; the default on 8.3% and 4.2% (all causes included).
    sc_ratio : float
        Threshold of the SC ratio (second half / first half). Default 1.0.
    sc_min_epochs : int
        SC needs this many losses. Default 6.
    ulc_window : int
        ULC looks at the last ``ulc_window`` losses (second half only). Default 6.
    ulc_min_slope : float
        ULC fires when the least-squares slope (loss units per epoch) is at least this ...
        Default 0.01.
    ulc_min_cov : float
        ... and the window's coefficient of variation exceeds this. Default 0.2.
    nmg_window : int
        NMG compares the mean of the last ``nmg_window`` losses with the mean of the
        ``nmg_window`` before them; fires when the recent mean is larger. Default 3.
    nmg_tolerance : float
        Relative tolerance: NMG fires when ``recent > earlier * (1 + nmg_tolerance)``.
        Default 0.0 (the paper).
    of_window : int
        OF fires when the slope of the last ``of_window`` validation losses is > 0. Default 6.
    protect_quantile : float
        A trial whose training loss is at or below this quantile of the other trials' losses
        at the same epoch is protected from ``PROTECTABLE`` indicators for good. Default 0.1.
    protect_min_records : int
        The quantile needs at least this many other trials' losses at that epoch. Default 10.
    """

    indicators: tuple[str, ...] = DEFAULT_INDICATORS
    agv_max_grad: float = 1e4
    agv_min_grad: float = 1e-5
    eag_max_ratio: float = 1e3
    erg_min_ratio: float = 1e-4
    lar_max_zero_fraction: float = 0.5
    lar_start_epoch: int = 5
    plc_min_cov: float = 1e-4
    plc_min_epochs: int = 3
    sc_rule: str = "spread"
    sc_ratio: float = 1.0
    sc_min_epochs: int = 6
    ulc_window: int = 6
    ulc_min_slope: float = 0.01
    ulc_min_cov: float = 0.2
    nmg_window: int = 3
    nmg_tolerance: float = 0.0
    of_window: int = 6
    protect_quantile: float = 0.1
    protect_min_records: int = 10

    def __post_init__(self) -> None:
        inds = self.indicators
        if isinstance(inds, str) or not isinstance(inds, tuple | list | frozenset | set):
            raise ConfigError("indicators", inds, f"a tuple of codes from {INDICATORS}")
        for code in inds:
            check_choice("indicators", code, INDICATORS)
        # canonical order, no duplicates
        object.__setattr__(self, "indicators", tuple(c for c in INDICATORS if c in set(inds)))
        for name in ("agv_max_grad", "agv_min_grad", "eag_max_ratio", "erg_min_ratio",
                     "plc_min_cov", "sc_ratio", "ulc_min_cov"):
            _positive(name, getattr(self, name))
        if self.agv_min_grad >= self.agv_max_grad:
            raise ConfigError("agv_min_grad", self.agv_min_grad,
                              f"a finite number > 0 and < agv_max_grad={self.agv_max_grad}")
        check_float("lar_max_zero_fraction", self.lar_max_zero_fraction, min_value=0.0,
                    max_value=1.0, max_inclusive=False)
        check_float("ulc_min_slope", self.ulc_min_slope, min_value=0.0)
        check_float("nmg_tolerance", self.nmg_tolerance, min_value=0.0)
        check_float("protect_quantile", self.protect_quantile, min_value=0.0, max_value=1.0,
                    min_inclusive=False)
        check_int("lar_start_epoch", self.lar_start_epoch, min_value=0)
        check_int("plc_min_epochs", self.plc_min_epochs, min_value=2)
        check_int("sc_min_epochs", self.sc_min_epochs, min_value=4)
        check_int("ulc_window", self.ulc_window, min_value=3)
        check_int("nmg_window", self.nmg_window, min_value=1)
        check_int("of_window", self.of_window, min_value=3)
        check_int("protect_min_records", self.protect_min_records, min_value=1)
        check_choice("sc_rule", self.sc_rule, SC_RULES)

    def replace(self, **changes: Any) -> DiagnosisConfig:
        """A copy with ``changes`` applied (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict (``indicators`` as a list)."""
        d = dataclasses.asdict(self)
        d["indicators"] = list(self.indicators)
        return d
