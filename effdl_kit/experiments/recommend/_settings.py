"""Settings of the comparison: training-free recommendation vs feedback-based search (issue 19).

How the latency budgets were chosen (fixed numbers, not tuned on the results): every
architecture of the small-scale searched grid (``prepare(task, "cpu", scale="small",
seed=0)``: 15,552 configurations, 432 distinct architectures per task) was built untrained and
timed on this machine's CPU with the confirmation protocol (batch 1, one intra-op thread,
10 warm-up calls, median of 50), each architecture weighted by how many grid configurations
share it. Measured percentiles (ms, 2026-12-02, the 2-core development machine):

========== ====== ====== ====== ====== ======
task        p10    p25    p50    p75    p80
========== ====== ====== ====== ====== ======
digits      0.095  0.120  0.156  0.215  0.240
synthetic   0.131  0.180  0.260  0.368  0.429
========== ====== ====== ====== ====== ======

"tight" is about the 25th percentile (a quarter of the grid feasible), "loose" about the 80th
(four fifths feasible). The calibrated latency predictor puts the digits tight budget near its
40th percentile (it under-predicts the smallest networks), so the predictor itself considers
the tight budget harder than it is on digits and easier on neither task by much.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from effdl_kit._core.errors import ConfigError
from effdl_kit._core.validate import check_int, check_scale

__all__ = ["BUDGET_NAMES", "COMPARISON_FILE", "METHODS", "NAME", "STEM", "BudgetName",
           "CompareBudget", "Method", "check_seeds"]

NAME = "recommend"
#: stem of the result files (``<stem>.json``, ``.md``, ``.png``)
STEM = "recommend_comparison"
#: the committed result file (small scale)
COMPARISON_FILE = Path(__file__).resolve().parents[3] / "docs" / "results" / f"{STEM}.json"

BudgetName = Literal["tight", "loose"]
BUDGET_NAMES: tuple[BudgetName, ...] = get_args(BudgetName)
#: ``recommend``: training-free route + its top-k trained; ``tpe`` / ``nsga2``: feedback-based
#: Optuna studies, every trial trained; ``recommend_b``: the recommend route again with other
#: search and training seeds (the A/A arm of the negative control)
Method = Literal["recommend", "tpe", "nsga2", "recommend_b"]
METHODS: tuple[Method, ...] = get_args(Method)

#: latency budgets (ms) per task, chosen from the measured grid (module docstring)
_BUDGETS_MS: dict[str, dict[str, float]] = {
    "digits": {"tight": 0.12, "loose": 0.24},
    "synthetic": {"tight": 0.18, "loose": 0.43},
}


@dataclass(frozen=True)
class CompareBudget:
    """Work done by :func:`~effdl_kit.experiments.recommend.run_comparison` at one scale.

    Attributes
    ----------
    scale : {"smoke", "small", "paper"}
        Also the scale of ``prepare``, of the recommendation's search and of every training.
    tasks : tuple of str
        Tasks compared.
    budgets_ms : dict
        Task -> {"tight": ms, "loose": ms} inference-latency budgets (batch 1, CPU).
    seeds : tuple of int
        Repeats: each seed is a search seed and the training seed of every method.
    top_k : int
        Recommended candidates trained, in rank order.
    n_trials : int
        Trainings of each feedback-based study (TPE, NSGA-II).
    tpe_startup : int
        TPE's random start-up trials (Optuna's default of 10 would leave almost nothing to
        the model in ``n_trials``).
    population_size : int
        NSGA-II's population (``n_trials / population_size`` generations, >= 2).
    n_iter : int or None
        Static-predictor calls of the recommendation's search (None: the scale's default).
    aa_seed_offset : int
        The A/A arm's search and training seed is ``seed + aa_seed_offset``.
    n_boot : int
        Bootstrap resamples of the analysis' confidence intervals.
    shuffle : bool
        Run a cell's methods in an order drawn per cell (else in :data:`METHODS` order);
        with ``match_compute`` the recommend route runs first and the others are shuffled.
    match_compute : bool
        Each feedback study trains at least ``n_trials`` and then goes on until it has spent
        the compute of the same cell's recommend route (prepare included), at most
        ``max_trials``: the comparison at equal compute is then read from the record, not
        extrapolated.
    max_trials : int
        Cap of a feedback study's trainings with ``match_compute`` (>= ``n_trials``).
    """

    scale: str
    tasks: tuple[str, ...]
    seeds: tuple[int, ...]
    top_k: int
    n_trials: int
    tpe_startup: int
    population_size: int
    n_iter: int | None = None
    aa_seed_offset: int = 10_000
    n_boot: int = 2_000
    shuffle: bool = True
    match_compute: bool = False
    max_trials: int = 0
    budgets_ms: dict[str, dict[str, float]] = field(default_factory=lambda: {
        t: dict(b) for t, b in _BUDGETS_MS.items()})

    def __post_init__(self) -> None:
        """Every field checked (:class:`ConfigError` naming it) before any work."""
        from effdl_kit.recommend import TASKS

        check_scale(self.scale)
        if not isinstance(self.tasks, tuple) or not self.tasks or len(set(self.tasks)) != len(
                self.tasks):
            raise ConfigError("tasks", self.tasks, f"a non-empty tuple of distinct tasks of "
                              f"{list(TASKS)}")
        for t in self.tasks:
            if t not in TASKS:
                raise ConfigError("tasks", t, TASKS)
            b = self.budgets_ms.get(t) if isinstance(self.budgets_ms, dict) else None
            if not isinstance(b, dict) or set(b) != set(BUDGET_NAMES):
                raise ConfigError(f"budgets_ms[{t!r}]", b, f"a dict with keys {BUDGET_NAMES}")
            for k, v in b.items():
                if (isinstance(v, bool) or not isinstance(v, int | float)
                        or not math.isfinite(v) or v <= 0):
                    raise ConfigError(f"budgets_ms[{t!r}][{k!r}]", v, "a finite number of ms > 0")
        check_seeds(self.seeds, self.aa_seed_offset)
        check_int("top_k", self.top_k, min_value=1)
        check_int("n_trials", self.n_trials, min_value=2)
        check_int("tpe_startup", self.tpe_startup, min_value=1, max_value=self.n_trials)
        check_int("population_size", self.population_size, min_value=2,
                  max_value=self.n_trials // 2)
        if self.n_iter is not None:
            check_int("n_iter", self.n_iter, min_value=1)
        check_int("n_boot", self.n_boot, min_value=100)
        if self.match_compute not in (True, False):
            raise ConfigError("match_compute", self.match_compute, (True, False))
        if self.match_compute:
            check_int("max_trials", self.max_trials, min_value=self.n_trials)

    @classmethod
    def for_scale(cls, scale: str) -> CompareBudget:
        """The budget of ``scale`` (``"smoke"``, ``"small"`` or ``"paper"``)."""
        return cls(**_SCALES[check_scale(scale)])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"scale": self.scale, "tasks": list(self.tasks), "seeds": list(self.seeds),
                "top_k": self.top_k, "n_trials": self.n_trials,
                "tpe_startup": self.tpe_startup, "population_size": self.population_size,
                "n_iter": self.n_iter, "aa_seed_offset": self.aa_seed_offset,
                "n_boot": self.n_boot, "shuffle": self.shuffle,
                "match_compute": self.match_compute, "max_trials": self.max_trials,
                "budgets_ms": {t: dict(b) for t, b in self.budgets_ms.items()}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CompareBudget:
        """Inverse of :meth:`to_dict`."""
        return cls(scale=str(d["scale"]), tasks=tuple(d["tasks"]),
                   seeds=tuple(int(s) for s in d["seeds"]), top_k=int(d["top_k"]),
                   n_trials=int(d["n_trials"]), tpe_startup=int(d["tpe_startup"]),
                   population_size=int(d["population_size"]),
                   n_iter=None if d.get("n_iter") is None else int(d["n_iter"]),
                   aa_seed_offset=int(d["aa_seed_offset"]), n_boot=int(d["n_boot"]),
                   shuffle=bool(d.get("shuffle", False)),
                   match_compute=bool(d.get("match_compute", False)),
                   max_trials=int(d.get("max_trials", 0)),
                   budgets_ms={t: {k: float(v) for k, v in b.items()}
                               for t, b in d["budgets_ms"].items()})


def check_seeds(seeds: Any, offset: int = 10_000) -> tuple[int, ...]:
    """``seeds`` as a tuple of distinct ints in ``[0, 2**31 - 1 - offset]`` (at least one).

    Raises
    ------
    ConfigError
        Not a non-empty sequence of distinct integers in range.
    """
    check_int("aa_seed_offset", offset, min_value=1, max_value=2**30)
    allowed = f"a non-empty sequence of distinct integers in [0, {SEED_MAX - offset}]"
    if isinstance(seeds, str | bytes) or not isinstance(seeds, tuple | list) or not seeds:
        raise ConfigError("seeds", seeds, allowed)
    out = tuple(check_int("seeds", s, min_value=0, max_value=SEED_MAX - offset) for s in seeds)
    if len(set(out)) != len(out):
        raise ConfigError("seeds", seeds, allowed)
    return out


#: largest training seed the bench takes
SEED_MAX = 2**31 - 1

_SCALES: dict[str, dict[str, Any]] = {
    # seconds: tests (one task, two seeds, few trainings)
    "smoke": {"scale": "smoke", "tasks": ("digits",), "seeds": (0, 1), "top_k": 2,
              "n_trials": 4, "tpe_startup": 2, "population_size": 2, "n_iter": 6,
              "n_boot": 500},
    # the committed result: about 35 min on the loaded 2-core machine (about 55 s a cell)
    # each feedback study trains at least n_trials and goes on until it has spent the
    # compute of the same cell's recommend route, prepare included (match_compute), at most
    # max_trials: about 20 min on a quiet 2-core machine
    "small": {"scale": "small", "tasks": ("digits", "synthetic"), "seeds": tuple(range(6)),
              "top_k": 3, "n_trials": 12, "tpe_startup": 4, "population_size": 4,
              "match_compute": True, "max_trials": 400},
    # bigger: more seeds and trials (a long run or a bigger machine)
    "paper": {"scale": "paper", "tasks": ("digits", "synthetic"), "seeds": tuple(range(20)),
              "top_k": 5, "n_trials": 40, "tpe_startup": 10, "population_size": 10,
              "n_boot": 5_000, "match_compute": True, "max_trials": 2_000},
}
