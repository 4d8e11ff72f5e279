"""Records of the EfficientDL confirmation by real training.

:class:`Recommendation` (EfficientDL's pick for a task and what the predictor says about the
grid, no training), :class:`ArmRow` (one trained arm of one task x seed) and
:class:`ConfirmRow` (one task x seed: the search's facts, the headline arms, and every arm's
:class:`ArmRow` as a dict in ``arms``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["ArmRow", "ConfirmRow", "Recommendation"]


@dataclass
class Recommendation:
    """EfficientDL's recommendation for one task (no training involved).

    Attributes
    ----------
    task, scale : str
    seed : int
    components : dict
        Every component of the training to run: the base with the searched values applied
        (data components = the task's).
    searched : dict
        The Top-5 components' recommended values (αβ-BO's pick).
    predicted_top1 : float
        The predictor's accuracy for the recommendation (its value in the exhaustive pass).
    top5 : list of str
        The searched components, by decreasing permutation importance.
    importance : dict of str to float
        Mean R² drop of every controllable component.
    grid : dict of str to list
        The value list searched per component.
    base : dict
        Every predictor input at its default (data components = the task's).
    search_s : float
        Wall time of the whole recommendation (``predictor_s + bo_s``).
    predictor_s, bo_s : float
        Predictor fit + permutation importance; αβ-BO (problem, initial rows, iterations).
    n_iter, n_initial_rows : int
        αβ-BO iterations and initial observations.
    kernel, incumbent : str
        αβ-BO's GP kernel and incumbent (:class:`~._confirm_settings.ConfirmBudget`).
    n_candidates : int
        Grid size (the product of the value lists' lengths).
    grid_max : float
        The predictor's maximum over the grid (one batched pass over every candidate).
    best_configs : list of dict
        The predictor's best grid candidates (searched components only), best first; ties go
        to the lower flat index. The first is the exhaustive argmax.
    best_predicted : list of float
        Their predicted accuracies.
    alpha_beta_rank : int
        Rank of αβ-BO's pick among the grid's candidates by predicted accuracy (1: the argmax;
        ties share the better rank).
    grid_s : float
        Wall time of the exhaustive pass (not part of ``search_s``).
    """

    task: str
    scale: str
    seed: int
    components: dict[str, Any]
    searched: dict[str, Any]
    predicted_top1: float
    top5: list[str]
    importance: dict[str, float]
    grid: dict[str, list[Any]]
    base: dict[str, Any]
    search_s: float
    predictor_s: float
    bo_s: float
    n_iter: int
    n_initial_rows: int
    kernel: str = "fitted_noise"
    incumbent: str = "evaluated"
    n_candidates: int = 0
    grid_max: float = float("nan")
    best_configs: list[dict[str, Any]] = field(default_factory=list)
    best_predicted: list[float] = field(default_factory=list)
    alpha_beta_rank: int = 0
    grid_s: float = 0.0

    @property
    def search_regret(self) -> float:
        """``grid_max − predicted_top1``: how far αβ-BO's pick is below the predictor's
        maximum, on the predictor (>= 0)."""
        return self.grid_max - self.predicted_top1

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


@dataclass
class ArmRow:
    """One arm of one task x seed, trained once (see :data:`~._confirm_settings.ARMS`).

    Attributes
    ----------
    task : str
    seed : int
    arm : str
        One of :data:`~._confirm_settings.ARMS`.
    rank : int
        Position within the arm: 1..5 for ``top5`` (by decreasing predicted accuracy),
        1 otherwise.
    config : dict
        The searched components' values trained (the rest is the recommendation's base).
    predicted_top1 : float
        The predictor's accuracy for ``config`` (for ``tpe``: of the study's best trial).
    test_top1, val_top1 : float
        Realised test and last-epoch validation accuracy (NaN when the training failed).
    train_s : float
        Wall time of the training (the shared one's when ``reused_from`` is set).
    time_s : float
        Wall time of the arm as a method: ``alpha_beta`` recommendation + training;
        ``argmax``/``top5`` predictor fit + exhaustive pass + training; ``random``/
        ``random_b`` the training; ``tpe`` the whole study.
    reused_from : str or None
        ``"arm:rank"`` whose training this row shares: the same configuration with the same
        seed is trained once (e.g. ``top5`` rank 1 is the argmax).
    error : str or None
        Why the training failed.
    """

    task: str
    seed: int
    arm: str
    rank: int
    config: dict[str, Any]
    predicted_top1: float
    test_top1: float
    val_top1: float
    train_s: float
    time_s: float
    reused_from: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


@dataclass
class ConfirmRow:
    """One task x seed of the confirmation (see :mod:`._confirm` for the times).

    Attributes
    ----------
    task, scale : str
    seed : int
    top5 : list of str
    predicted_top1 : float
        The predictor's accuracy for (a)'s recommendation (αβ-BO's pick).
    efficientdl_top1, automl_top1 : float
        Test accuracy of (a)'s one training and of (b)'s best trial (NaN when failed).
    efficientdl_val_top1, automl_val_top1 : float
        Their last-epoch validation accuracy.
    diff_points : float
        ``100 * (efficientdl_top1 - automl_top1)``.
    efficientdl_time_s, automl_time_s : float
        Wall times of (a) (recommendation + training) and (b) (the whole study).
    time_ratio : float
        ``automl_time_s / efficientdl_time_s``.
    ratio_search_only : float
        ``automl_time_s / (bo_s + train_s)``: the predictor's fit left out.
    predictor_s, bo_s, train_s : float
        Parts of (a): predictor fit + importance, αβ-BO, the training.
    config_a, config_b : dict
        The five searched components' values chosen by (a) and (b).
    tpe_trials, tpe_failed : int
        Trials run by (b) and how many failed.
    bo_iter : int
    train_epochs, train_n_train : int
        Epochs and training images of every training (after the scale's caps).
    error_a, error_b : str or None
        Why (a)'s training failed / why (b) has no result.
    kernel, incumbent : str
        αβ-BO's GP kernel and incumbent.
    n_candidates : int
        Grid size.
    grid_max : float
        The predictor's exhaustive maximum over the grid.
    search_regret : float
        ``grid_max − predicted_top1`` (>= 0): αβ-BO's shortfall on the predictor.
    alpha_beta_rank : int
        Rank of αβ-BO's pick by predicted accuracy (1: the argmax).
    grid_s : float
        Wall time of the exhaustive pass.
    arms : list of dict
        Every arm's :class:`ArmRow` (``to_dict``), in :data:`~._confirm_settings.ARMS` order.
    """

    task: str
    scale: str
    seed: int
    top5: list[str]
    predicted_top1: float
    efficientdl_top1: float
    efficientdl_val_top1: float
    automl_top1: float
    automl_val_top1: float
    diff_points: float
    efficientdl_time_s: float
    automl_time_s: float
    time_ratio: float
    ratio_search_only: float
    predictor_s: float
    bo_s: float
    train_s: float
    config_a: dict[str, Any]
    config_b: dict[str, Any]
    tpe_trials: int
    tpe_failed: int
    bo_iter: int
    train_epochs: int
    train_n_train: int
    error_a: str | None = None
    error_b: str | None = None
    kernel: str = "fitted_noise"
    incumbent: str = "evaluated"
    n_candidates: int = 0
    grid_max: float = float("nan")
    search_regret: float = float("nan")
    alpha_beta_rank: int = 0
    grid_s: float = 0.0
    arms: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)
