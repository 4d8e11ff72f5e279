"""Thresholds and windows of the BTTackler indicators, as one validated dataclass."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from effdl_kit._core.errors import ConfigError
from effdl_kit._core.validate import check_choice, check_float, check_int

__all__ = [
    "AUTHORS_INDICATORS",
    "DEFAULT_INDICATORS",
    "EDGE_CASES",
    "INDICATORS",
    "LOSS_CURVES",
    "PRESETS",
    "PROTECTABLE",
    "SC_RULES",
    "SC_SPLITS",
    "DiagnosisConfig",
]

#: Every indicator code, in the order they are evaluated and reported.
INDICATORS: tuple[str, ...] = ("AGV", "EAG", "ERG", "LAR", "PLC", "SC", "ULC", "NMG", "OF")
#: The authors' indicators: all but OF (disabled in their code).
AUTHORS_INDICATORS: tuple[str, ...] = INDICATORS[:-1]
#: Enabled by default (the kit): the authors' without NMG, which the trace replay found to
#: stop good converged trials at random (see the package docstring).
DEFAULT_INDICATORS: tuple[str, ...] = tuple(c for c in AUTHORS_INDICATORS if c != "NMG")
#: Indicators a protected (strong) trial is exempt from; EAG, ULC and AGV's NaN/Inf and
#: high-gradient rules always apply (AGV's low-gradient rule is exempt with
#: ``protect_agv_low``, the default).
PROTECTABLE: frozenset[str] = frozenset({"ERG", "LAR", "PLC", "SC", "NMG"})
#: ``"spread"``: robust default; ``"paper_cov"``: the paper's coefficient-of-variation rule.
SC_RULES: tuple[str, ...] = ("spread", "paper_cov")
#: Loss curves SC (late), ULC and NMG look at: the training loss, or it and the validation loss.
LOSS_CURVES: tuple[str, ...] = ("train", "train_val")
#: How SC splits ``n`` losses: ``[:n//2]`` / ``[n//2:]`` (the authors'), or drop the middle one.
SC_SPLITS: tuple[str, ...] = ("keep_middle", "drop_middle")
#: ``"kit"``: guarded arithmetic on degenerate input; ``"authors"``: the authors' numpy code.
EDGE_CASES: tuple[str, ...] = ("kit", "authors")
#: Named configurations, see :meth:`DiagnosisConfig.preset`.
PRESETS: dict[str, dict[str, Any]] = {
    "kit": {},
    "faithful": {"indicators": AUTHORS_INDICATORS, "sc_rule": "paper_cov",
                 "edge_cases": "authors", "loss_curves": "train_val"},
    "legacy": {"indicators": AUTHORS_INDICATORS, "protect_agv_low": False,
               "lar_start_epoch": 5, "sc_split": "drop_middle", "nan_exclusive": False},
}


def _positive(name: str, value: Any) -> float:
    return check_float(name, value, min_value=0.0, min_inclusive=False)


@dataclass(frozen=True)
class DiagnosisConfig:
    """Thresholds and windows of the indicators (defaults: the authors' code, except NMG
    off, ``sc_rule``, ``loss_curves`` and ``edge_cases``; ``DiagnosisConfig.preset("faithful")``
    follows the authors in those too).

    Epochs are counted from 0; with ``max_epochs = E`` the *first half* is ``epoch < E // 2``
    and the *second half* the rest. ``g`` is the per-layer mean absolute weight gradient
    averaged over the epoch's batches, ``z`` the per-layer fraction of exactly-zero gradient
    entries, ``q_l = g_l / g_{l+1}`` the ratio of consecutive layers (forward order).

    Parameters
    ----------
    indicators : tuple of str
        Enabled indicator codes (subset of ``INDICATORS``); default ``DEFAULT_INDICATORS``:
        all but ``"OF"`` and ``"NMG"`` (the authors' ``AUTHORS_INDICATORS`` include NMG; the
        trace replay found it stops converged good trials: see the package docstring).
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
        First epoch (0-based) on which LAR runs. Default 4: the authors' "at least 5 epochs
        recorded" (the kit's default before issue 15 was 5).
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
        noise decides). Measured on the kit's 480 traces (``docs/results/bttackler_replay.md``,
        SC alone, any epoch but the last): false positives on 208 healthy traces 11.5 %
        [7.7, 16.3] (spread) vs 14.9 % [10.6, 19.7]; recall on 112 bad ones 25.9 % vs 28.6 %
        (within the CIs); replay TSBA equal on the CNNs, 1.5-3.4 points higher with the
        paper's rule on the LSTM and Transformer. The paper's rule also stops healthy Adam
        runs of the pathology suite, so the default stays ``"spread"``.
    sc_ratio : float
        Threshold of the SC ratio (second half / first half). Default 1.0.
    sc_split : {"keep_middle", "drop_middle"}
        How SC splits the ``n`` losses so far. ``"keep_middle"`` (default, the authors'
        ``int(n / 2)`` split): first half ``loss[:n // 2]``, second half ``loss[n // 2:]``, so
        with odd ``n`` the middle epoch belongs to the second half. ``"drop_middle"``: both
        halves ``n // 2`` long, the middle epoch left out (the kit before issue 15).
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
    loss_curves : {"train", "train_val"}
        ``"train"`` (default): SC (late), ULC and NMG run on the training loss only.
        ``"train_val"`` (the authors', the faithful preset): also, separately, on the
        validation loss; either firing fires the indicator. A validation loss that was never
        given (NaN) makes the validation half of each rule not fire. Measured on the kit's
        480 traces (the replay's ablation, 200 orderings): +0.5 to +2.7 TSBA points on the
        CNNs and the LSTM, but -89 % [-156, -35] instead of +3.5 % on the Transformer (its
        validation MSE is noisy); SC's false positives on 208 healthy traces 20.7 % vs
        11.5 %.
    protect_agv_low : bool
        True (default, the authors'): AGV's low-gradient rule is part of the protected group
        (the authors' VG), so a protected trial is exempt from it; AGV's NaN/Inf and
        high-gradient rules always apply. False: it always applies (the kit before issue 15).
    nan_exclusive : bool
        True (default, the authors'): when AGV's NaN/Inf rule fires, no other indicator runs
        that epoch (the diagnosis names AGV alone). False: the other rules run as well (EAG
        fires beside AGV on NaN gradients; the kit before issue 15).
    edge_cases : {"kit", "authors"}
        Arithmetic on degenerate input. ``"kit"`` (default): a non-finite training loss
        fires AGV; the loss rules skip a history holding a non-finite value; the coefficient
        of variation divides by ``|mean|``; a layer ratio with a zero denominator is left out
        of ``q`` (EAG/ERG judge the rest; NaN ``g`` fires EAG when ``nan_exclusive`` is
        False); ULC and NMG need full windows (``ulc_window``, ``2 * nmg_window`` losses).
        ``"authors"``: as the authors' numpy code: NaN/Inf losses are compared as they are
        (an Inf recent loss fires NMG, a NaN compares False), ``std / mean``, EAG's ratio rule
        is skipped when some ``g_l`` is 0 and fires on a non-finite ``q``, ERG fires on a
        non-finite ``q``, ULC and NMG run on the shorter windows slicing gives (NMG compares
        ``mean(loss[-6:-3])`` with ``mean(loss[-3:])`` from 4 losses on), SC compares the two
        halves directly (``second > first * sc_ratio``), and peers' NaN losses count in the
        protection's percentile (which then never protects).
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
    lar_start_epoch: int = 4
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
    loss_curves: str = "train"
    protect_agv_low: bool = True
    sc_split: str = "keep_middle"
    nan_exclusive: bool = True
    edge_cases: str = "kit"

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
        check_choice("loss_curves", self.loss_curves, LOSS_CURVES)
        check_choice("sc_split", self.sc_split, SC_SPLITS)
        check_choice("edge_cases", self.edge_cases, EDGE_CASES)
        for name in ("protect_agv_low", "nan_exclusive"):
            if getattr(self, name) not in (True, False):
                raise ConfigError(name, getattr(self, name), (True, False))

    @classmethod
    def preset(cls, name: str, **changes: Any) -> DiagnosisConfig:
        """A named configuration, with ``changes`` applied on top.

        Parameters
        ----------
        name : {"kit", "faithful", "legacy"}
            ``"kit"``: the defaults. ``"faithful"``: the authors' assessor rule by rule (the
            paper's coefficient-of-variation SC rule, SC/ULC/NMG on the validation loss too,
            the authors' arithmetic on degenerate input; see the package docstring for what
            it keeps of the authors' defects).
            ``"legacy"``: the kit's behaviour before issue 15 (training loss only, AGV's low
            rule unprotected, LAR from epoch 5, SC without the middle epoch, EAG beside AGV
            on NaN gradients).
        **changes
            Fields to override.

        Examples
        --------
        >>> DiagnosisConfig.preset("faithful").sc_rule
        'paper_cov'
        >>> DiagnosisConfig.preset("legacy", nmg_window=2).lar_start_epoch
        5
        """
        check_choice("name", name, tuple(PRESETS))
        return cls(**{**PRESETS[name], **changes})

    def replace(self, **changes: Any) -> DiagnosisConfig:
        """A copy with ``changes`` applied (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict (``indicators`` as a list)."""
        d = dataclasses.asdict(self)
        d["indicators"] = list(self.indicators)
        return d
