"""Settings of the EfficientDL confirmation by real training: its budget, arms and tasks.

``ConfirmBudget`` is chosen by scale with ``for_scale`` and changed with
:func:`dataclasses.replace` (the new values are checked); ``initial_rows=None`` means every kit
row is told to the GP. ``kernel="authors", incumbent="labels"`` runs αβ-BO with the authors'
GP and incumbent instead of the kit's working choices.

Seeds per scale: 10 at ``small`` and ``paper``. On the small run
(``docs/results/efficientdl_confirm.md``) the 95% intervals of the paired differences the
verdicts rest on (αβ-BO's pick vs TPE, TPE vs the predictor's argmax, the argmax vs αβ-BO's pick)
are ±0.4 to ±4.5 accuracy points wide, and ±20 to ±45 points for a random grid point (whose
accuracy spans 0.05-0.95 over seeds): 10 seeds tell a search failure from a predictor failure
once either costs about 3 points or more, and the predictor's ranking against a random point
by a wide margin.

Time (2-core CPU shared with other jobs, load average 6-10): a training of the bench takes
0.1-0.4 s, so the 30-trial TPE study about 5 s, while one αβ-BO recommendation with the 1,600
kit rows as the GP's initial data takes about 100 s (about 30 s on an idle machine); the whole
small run (10 seeds x 2 tasks, every arm) took 37 minutes, so the small scale keeps the TPE
study's 30 trials.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

from effdl_kit._core.validate import Scale, check_choice, check_int, check_scale
from effdl_kit.experiments.efficientdl._settings import _check_rows
from effdl_kit.search import INCUMBENTS, KERNELS, IncumbentName, KernelName

__all__ = [
    "ARMS",
    "ARM_LABELS",
    "CIFAR_TASK",
    "FIGURE_CONFIRM",
    "PAPER_ACCURACY_GAIN_POINTS",
    "PAPER_SPEEDUP",
    "TABLE_CONFIRM",
    "TARGET",
    "TASKS",
    "TOP_ARM",
    "Arm",
    "ConfirmBudget",
    "ConfirmTask",
    "TaskName",
]

FIGURE_CONFIRM = "efficientdl_confirm"
TABLE_CONFIRM = "efficientdl_confirm"
#: Target column of the kit's data, the confirmation's predictor target.
TARGET = "top1"

#: The paper's headline: +1.31 Top-1 points on CIFAR-10 over AutoML, about 20x faster.
PAPER_ACCURACY_GAIN_POINTS = 1.31
PAPER_SPEEDUP = 20.0

#: What is trained per (task, seed), each once with the seed's training seed:
#: ``alpha_beta`` αβ-BO's pick; ``argmax`` the predictor's exhaustive argmax over the grid;
#: ``top5`` the predictor's :data:`TOP_ARM` best grid candidates (rank 1 is the argmax);
#: ``random`` and ``random_b`` two seeded uniform grid points (independent draws: their
#: difference is the A/A control); ``tpe`` the best trial (by validation) of the TPE study
#: that trains every trial.
Arm = Literal["alpha_beta", "argmax", "top5", "random", "random_b", "tpe"]
ARMS: tuple[Arm, ...] = get_args(Arm)
ARM_LABELS: dict[Arm, str] = {
    "alpha_beta": "αβ-BO pick", "argmax": "predictor argmax", "top5": "predictor top-5",
    "random": "random grid point", "random_b": "random grid point (A/A)",
    "tpe": "Optuna TPE (training feedback)",
}
#: Grid candidates of the ``top5`` arm.
TOP_ARM = 5

@dataclass(frozen=True)
class ConfirmBudget:
    """Budget of the confirmation by real training.

    Attributes
    ----------
    n_seeds : int
        Default seeds ``0 .. n_seeds - 1``.
    bo_iter : int
        αβ-BO iterations on the predictor.
    tpe_trials : int
        Optuna TPE trials, each a real training.
    train_scale : {"smoke", "small", "paper"}
        Passed to :func:`~effdl_kit.data.component_config` (``smoke`` caps a training at one
        epoch on 128 images, about 1 s).
    n_trees, n_repeats : int
        Predictor trees and permutation repeats.
    refit_every, n_restarts : int
        αβ-BO fast mode: kernel refit period, optimizer restarts of the first fit (>= 0).
    initial_rows : int or None
        Kit rows told to the GP (a seeded draw); None: all rows.
    kernel : {"fitted_noise", "authors"}, default "fitted_noise"
        αβ-BO's GP (:class:`~effdl_kit.search.AlphaBetaBO`): the kit's amplitude- and
        noise-fitted kernel, or the authors' unit-amplitude one (which collapses on the kit's
        data; see the README).
    incumbent : {"evaluated", "labels"}, default "evaluated"
        f* of EI and PI: the best predictor value the search evaluated, or the authors' best
        label of the prior rows (which the predictor never reaches).
    """

    n_seeds: int
    bo_iter: int
    tpe_trials: int
    train_scale: Scale
    n_trees: int
    n_repeats: int
    refit_every: int
    n_restarts: int
    initial_rows: int | None
    kernel: KernelName = "fitted_noise"
    incumbent: IncumbentName = "evaluated"

    def __post_init__(self) -> None:
        for name in ("n_seeds", "bo_iter", "tpe_trials", "n_trees", "n_repeats",
                     "refit_every"):
            check_int(name, getattr(self, name), min_value=1)
        check_int("n_restarts", self.n_restarts, min_value=0)
        check_scale(self.train_scale)
        _check_rows("initial_rows", self.initial_rows)
        check_choice("kernel", self.kernel, KERNELS)
        check_choice("incumbent", self.incumbent, INCUMBENTS)

    @classmethod
    def for_scale(cls, scale: str) -> ConfirmBudget:
        """The confirmation budget of ``scale``. At ``smoke`` the GP gets a seeded subset of
        200 kit rows (a full 1,600-row GP fit takes tens of seconds).

        Raises
        ------
        ConfigError
            ``scale`` is not one of ``"smoke"``, ``"small"``, ``"paper"``.
        """
        return _CONFIRM_BUDGETS[check_scale(scale)]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


_CONFIRM_BUDGETS: Mapping[Scale, ConfirmBudget] = {
    "smoke": ConfirmBudget(n_seeds=1, bo_iter=8, tpe_trials=4, train_scale="smoke",
                           n_trees=30, n_repeats=2, refit_every=50, n_restarts=0,
                           initial_rows=200),
    "small": ConfirmBudget(n_seeds=10, bo_iter=50, tpe_trials=30, train_scale="small",
                           n_trees=300, n_repeats=10, refit_every=50, n_restarts=1,
                           initial_rows=None),
    "paper": ConfirmBudget(n_seeds=10, bo_iter=500, tpe_trials=100, train_scale="paper",
                           n_trees=500, n_repeats=30, refit_every=50, n_restarts=10,
                           initial_rows=None),
}


# ----------------------------------------------------------------------------- tasks


#: The confirmation's downstream tasks.
TaskName = Literal["digits", "synthetic_shift", "cifar10"]


@dataclass(frozen=True)
class ConfirmTask:
    """A downstream task of the confirmation.

    Attributes
    ----------
    name : str
    dataset : str
        The training bench's dataset (``TrainConfig.dataset``).
    predictor_dataset : str
        The value of the ``dataset`` component the predictor is given (one it was trained on).
    n_train : int
        Training images used (the ``n_train`` component).
    data_params : dict
        ``TrainConfig.data_params`` of every training (replaces the kit's synthetic task).
    description : str
    """

    name: str
    dataset: str
    predictor_dataset: str
    n_train: int
    data_params: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""

    def data_components(self) -> dict[str, Any]:
        """The data group's components as the predictor sees them."""
        return {"dataset": self.predictor_dataset, "n_train": self.n_train}


#: The two downstream tasks every confirmation runs (see :mod:`._confirm`).
TASKS: dict[TaskName, ConfirmTask] = {
    "digits": ConfirmTask(
        "digits", "digits", "digits", 1200, {},
        "scikit-learn 8x8 digits (the kit data's own task), 1,200 training images",
    ),
    "synthetic_shift": ConfirmTask(
        "synthetic_shift", "synthetic", "synthetic", 1200,
        {"n_samples": 2000, "n_classes": 5, "image_size": 12, "channels": 1,
         "difficulty": 0.65, "data_seed": 2024},
        "transfer: generated 12x12 grayscale images, 5 classes, difficulty 0.65, seed 2024 "
        "(the kit data's synthetic task: 16x16 RGB, 10 classes, difficulty 0.5, seed 0)",
    ),
}
#: CIFAR-10 from a local copy (needs ``cifar_dir``).
CIFAR_TASK = ConfirmTask(
    "cifar10", "cifar10", "synthetic", 1200, {},
    "CIFAR-10 (local python-pickle copy), 1,200 training images; the predictor sees it as "
    "'synthetic'",
)
