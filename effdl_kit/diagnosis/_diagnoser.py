"""The framework-free diagnoser: feed it gradients each batch and losses each epoch."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from effdl_kit._core.errors import ConfigError
from effdl_kit._core.validate import check_int
from effdl_kit.diagnosis._config import PROTECTABLE, DiagnosisConfig
from effdl_kit.diagnosis._indicators import RULES, EpochInput
from effdl_kit.diagnosis._stats import GradStats, find_weight_layers

__all__ = ["Diagnoser", "Diagnosis", "PeerLosses", "evaluate", "protects"]

#: ``peer_losses(epoch)`` -> the other trials' training losses at that epoch.
PeerLosses = Callable[[int], Sequence[float]]


@dataclass(frozen=True)
class Diagnosis:
    """The verdict of one epoch; ``bool(diagnosis)`` is True when an indicator fired.

    Attributes
    ----------
    epoch : int
        0-based epoch index.
    fired : tuple of str
        Codes of the indicators that fired (``INDICATORS`` order); empty when healthy.
    values : dict
        ``"CODE.quantity" -> float`` for every indicator that ran this epoch.
    reason : str
        Human-readable account of what fired ("" when healthy).
    protected : bool
        The trial is protected (strong) and exempt from ``PROTECTABLE`` indicators.
    suppressed : tuple of str
        Indicators that would have fired but were suppressed by the protection.
    grad_mean_abs, grad_zero_fraction : tuple of float
        Per-layer ``g`` and ``z`` of the epoch (forward order; NaN without gradients).
    last_epoch : bool
        The epoch is the trial's last (``epoch == max_epochs - 1``): a diagnosis there saves
        nothing, so it is not a stop (see :attr:`stops`).
    """

    epoch: int
    fired: tuple[str, ...]
    values: dict[str, float] = field(default_factory=dict)
    reason: str = ""
    protected: bool = False
    suppressed: tuple[str, ...] = ()
    grad_mean_abs: tuple[float, ...] = ()
    grad_zero_fraction: tuple[float, ...] = ()
    last_epoch: bool = False

    def __bool__(self) -> bool:
        return bool(self.fired)

    @property
    def stops(self) -> bool:
        """An indicator fired before the last epoch: the trial stops early."""
        return bool(self.fired) and not self.last_epoch

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (non-finite floats kept as Python floats)."""
        return {
            "epoch": self.epoch, "indicators": list(self.fired), "values": dict(self.values),
            "reason": self.reason, "protected": self.protected,
            "suppressed": list(self.suppressed), "last_epoch": self.last_epoch,
        }


def _as_loss(name: str, value: Any, *, optional: bool) -> float:
    if value is None and optional:
        return float("nan")
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ConfigError(name, tuple(value.shape), "a scalar (a number or 1-element tensor)")
        value = value.detach().item()
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ConfigError(name, value, "a real number" + (" or None" if optional else ""))
    return float(value)


def protects(loss: float, peers: Sequence[float], config: DiagnosisConfig) -> bool:
    """The protection rule: ``loss`` is at or below the ``protect_quantile`` of the other
    trials' training losses at the same epoch (at least ``protect_min_records`` of them).

    With ``config.edge_cases="kit"`` non-finite peers are left out and a non-finite ``loss``
    is never protected; with ``"authors"`` every recorded peer counts (a NaN peer makes the
    percentile NaN: nobody is protected at that epoch), as in the authors' code.
    """
    arr = np.asarray(peers, dtype=np.float64)
    if config.edge_cases == "kit":
        if not math.isfinite(loss):
            return False
        arr = arr[np.isfinite(arr)]
    if arr.size < config.protect_min_records:
        return False
    with np.errstate(all="ignore"):
        return bool(loss <= float(np.quantile(arr, config.protect_quantile)))


def evaluate(
    inp: EpochInput,
    config: DiagnosisConfig,
    *,
    protected: bool = False,
) -> Diagnosis:
    """Run every enabled indicator on one epoch's input and build the :class:`Diagnosis`.

    Also used to replay a recorded run under another configuration (see ``_fpr``).
    A protected trial is exempt from the ``PROTECTABLE`` indicators and, with
    ``config.protect_agv_low``, from AGV's low-gradient rule; with ``config.nan_exclusive``
    the NaN/Inf rule, when it fires, is the only one evaluated. ``last_epoch`` is set when
    ``inp.epoch == inp.max_epochs - 1``.
    """
    fired: list[str] = []
    suppressed: list[str] = []
    values: dict[str, float] = {}
    reasons: list[str] = []
    for code in config.indicators:
        check = RULES[code](inp, config)
        if not check.ran:
            continue
        values.update({f"{code}.{k}": float(v) for k, v in check.values.items()})
        if check.exclusive:  # the authors' NaN rule: nothing else runs this epoch
            values = {f"{code}.{k}": float(v) for k, v in check.values.items()}
            fired, suppressed, reasons = [code], [], [f"{code}: {check.reason}"]
            break
        if not check.fired:
            continue
        if protected and (code in PROTECTABLE or check.protectable):
            suppressed.append(code)
        else:
            fired.append(code)
            reasons.append(f"{code}: {check.reason}")
    return Diagnosis(
        epoch=inp.epoch, fired=tuple(fired), values=values,
        reason=f"epoch {inp.epoch}: " + "; ".join(reasons) if reasons else "",
        protected=protected, suppressed=tuple(suppressed),
        grad_mean_abs=tuple(float(v) for v in inp.mean_abs),
        grad_zero_fraction=tuple(float(v) for v in inp.zero_fraction),
        last_epoch=inp.epoch >= inp.max_epochs - 1,
    )


class Diagnoser:
    """Training diagnosis of one trial (BTTackler, arXiv 2602.23630).

    Parameters
    ----------
    model : torch.nn.Module
        The model being trained; its Conv/Linear/LSTM/attention weights are monitored.
    max_epochs : int
        The trial's epoch budget ``E`` (>= 2); splits the run into first and second half.
    config : DiagnosisConfig, optional
        Thresholds and windows (default: the authors' defaults, robust SC rule).
    peer_losses : callable, optional
        ``peer_losses(epoch)`` returns other trials' training losses at ``epoch``; enables
        the protection rule. Without it no trial is ever protected.

    Examples
    --------
    >>> diag = Diagnoser(model, max_epochs=20)  # doctest: +SKIP
    >>> for epoch in range(20):  # doctest: +SKIP
    ...     for x, y in loader:
    ...         loss = loss_fn(model(x), y); opt.zero_grad(); loss.backward()
    ...         diag.after_backward()
    ...         opt.step()
    ...     if diag.end_epoch(train_loss):
    ...         break
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        max_epochs: int,
        config: DiagnosisConfig | None = None,
        peer_losses: PeerLosses | None = None,
    ) -> None:
        self.max_epochs = check_int("max_epochs", max_epochs, min_value=2)
        if config is None:
            config = DiagnosisConfig()
        elif not isinstance(config, DiagnosisConfig):
            raise ConfigError("config", type(config).__name__, "a DiagnosisConfig or None")
        if peer_losses is not None and not callable(peer_losses):
            raise ConfigError("peer_losses", peer_losses, "a callable epoch -> losses, or None")
        self.config = config
        self.peer_losses = peer_losses
        self.layers = find_weight_layers(model)
        self._stats = GradStats(self.layers)
        self._handle: Any = None
        self.train_losses: list[float] = []
        self.val_losses: list[float] = []
        self.train_metrics: list[float] = []
        self.val_metrics: list[float] = []
        self.history: list[Diagnosis] = []
        #: every epoch's rule input, kept so a run can be replayed under another config
        self.inputs: list[EpochInput] = []
        self.protected = False
        self.protected_since: int | None = None

    @property
    def layer_names(self) -> tuple[str, ...]:
        """Names of the monitored layers, in forward (registration) order."""
        return tuple(lay.name for lay in self.layers)

    @property
    def epoch(self) -> int:
        """Index of the epoch being trained (= number of finished epochs)."""
        return len(self.train_losses)

    @property
    def first_fired(self) -> Diagnosis | None:
        """The first diagnosis in which an indicator fired, or None."""
        return next((d for d in self.history if d), None)

    # -- gradient collection ---------------------------------------------------------------
    def after_backward(self) -> None:
        """Accumulate this batch's weight gradients (call after ``backward``, before the
        optimizer step; after ``GradScaler.unscale_`` with loss scaling)."""
        if self._handle is not None:
            raise ConfigError("after_backward", "called while attach() collects gradients",
                              "either attach() or explicit after_backward() calls, not both")
        self._stats.add()  # gradients do not require grad: no graph is recorded

    def attach(self) -> Diagnoser:
        """Collect gradients automatically on every ``backward`` (no ``after_backward``
        calls needed), through one autograd multi-grad hook on the monitored weights.

        The hook sees each backward pass's own gradients (before accumulation into
        ``.grad``); with a ``GradScaler`` these are still scaled, so use explicit
        :meth:`after_backward` calls after ``unscale_`` instead.
        """
        if self._handle is None:
            def _hook(grads: Sequence[torch.Tensor | None]) -> None:
                with torch.no_grad():
                    self._stats.add(grads)

            self._handle = torch.autograd.graph.register_multi_grad_hook(
                self._stats.params, _hook)
        return self

    def detach(self) -> None:
        """Remove the hook installed by :meth:`attach` (no-op otherwise)."""
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    # -- per-epoch verdict ----------------------------------------------------------------
    def _check_protection(self, epoch: int, loss: float) -> None:
        if self.protected or self.peer_losses is None:
            return
        peers = [float(v) for v in self.peer_losses(epoch)]
        if protects(loss, peers, self.config):
            self.protected = True
            self.protected_since = epoch

    def end_epoch(
        self,
        train_loss: Any,
        val_loss: Any = None,
        train_metric: Any = None,
        val_metric: Any = None,
    ) -> Diagnosis:
        """Close the epoch: evaluate every enabled indicator and return the verdict.

        Parameters
        ----------
        train_loss : float or 0-d tensor
            The epoch's mean training loss (NaN/Inf allowed: it fires AGV).
        val_loss, train_metric, val_metric : float, optional
            ``val_loss`` feeds OF and, with ``loss_curves="train_val"``, SC, ULC and NMG
            (not given: NaN, those rules' validation half does not fire); the metrics are
            recorded for the caller.

        Returns
        -------
        Diagnosis
            Truthy when an indicator fired. The diagnoser keeps going if called again.
        """
        loss = _as_loss("train_loss", train_loss, optional=False)
        vloss = _as_loss("val_loss", val_loss, optional=True)
        tmet = _as_loss("train_metric", train_metric, optional=True)
        vmet = _as_loss("val_metric", val_metric, optional=True)
        epoch = self.epoch
        stats = self._stats.epoch()
        self.train_losses.append(loss)
        self.val_losses.append(vloss)
        self.train_metrics.append(tmet)
        self.val_metrics.append(vmet)
        self._check_protection(epoch, loss)
        inp = EpochInput(
            epoch=epoch, max_epochs=self.max_epochs, mean_abs=stats.mean_abs,
            zero_fraction=stats.zero_fraction, has_grads=stats.n_batches > 0,
            train_losses=np.asarray(self.train_losses, dtype=np.float64),
            val_losses=np.asarray(self.val_losses, dtype=np.float64),
        )
        self.inputs.append(inp)
        d = evaluate(inp, self.config, protected=self.protected)
        self.history.append(d)
        return d
