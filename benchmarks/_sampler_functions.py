"""Test functions of the sampler benchmark, each with its search space and known minimum.

Every function is **minimised**; simple regret is ``|best value found − minimum|``. Classical
functions take their domains and minima from the Virtual Library of Simulation Experiments
(S. Surjanovic & D. Bingham, Simon Fraser University, https://www.sfu.ca/~ssurjano/), the
values quoted next to each; where the library rounds, the value used here is the exact one
(computed, and checked against the quoted value in ``tests/benchmarks_checks``). The mixed
variants' minima are computed here: by construction, or by exhausting their discrete part.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

__all__ = ["FUNCTIONS", "TestFunction", "branin", "hartmann6", "levy", "rosenbrock"]

F64 = npt.NDArray[np.float64]
Params = Mapping[str, Any]


@dataclass(frozen=True)
class TestFunction:
    """A benchmark function: its Optuna search space, its value and its known minimum.

    Parameters
    ----------
    name : str
        Short name used in tables and result files.
    space : dict of str to optuna.distributions.BaseDistribution
        The search space (``study.ask(space)``).
    evaluate : callable
        ``evaluate(params) -> float``, ``params`` as Optuna returns them.
    minimum : float
        The known global minimum over ``space``.
    argmin : dict
        Parameters (inside ``space``) at which ``evaluate`` returns ``minimum``.
    source : str
        Where ``minimum`` comes from.
    """

    __test__ = False  # not a pytest class, despite its name

    name: str
    space: dict[str, BaseDistribution]
    evaluate: Callable[[Params], float]
    minimum: float
    argmin: dict[str, Any]
    source: str
    tags: tuple[str, ...] = field(default=())


def _vec(params: Params, n: int) -> F64:
    return np.array([float(params[f"x{i}"]) for i in range(n)])


def _box(n: int, lo: float, hi: float) -> dict[str, BaseDistribution]:
    return {f"x{i}": FloatDistribution(lo, hi) for i in range(n)}


# ---------------------------------------------------------------------------- classical
_B_A, _B_B, _B_C = 1.0, 5.1 / (4 * math.pi**2), 5 / math.pi
_B_R, _B_S, _B_T = 6.0, 10.0, 1 / (8 * math.pi)


def branin(x1: float, x2: float) -> float:
    """Branin-Hoo on [-5, 10] x [0, 15]; SFU: f* = 0.397887 at (−π, 12.275), (π, 2.275), …"""
    return (_B_A * (x2 - _B_B * x1**2 + _B_C * x1 - _B_R) ** 2
            + _B_S * (1 - _B_T) * math.cos(x1) + _B_S)


#: exact minimum of Branin: the squared term vanishes and cos(x1) = −1 (SFU: 0.397887)
BRANIN_MIN = _B_S * _B_T

_H_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_H_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
                 [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]], dtype=np.float64)
_H_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                        [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]],
                       dtype=np.float64)
#: SFU quotes x* = (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573), f* = −3.32237;
#: the digits below are that point refined by L-BFGS-B (the test re-derives them)
HARTMANN6_ARGMIN = (0.20168952, 0.15001069, 0.47687398, 0.27533243, 0.31165162, 0.65730054)
HARTMANN6_MIN = -3.3223680114155


def hartmann6(x: F64) -> float:
    """Hartmann 6-d on [0, 1]^6 (SFU: f* = −3.32237)."""
    inner = np.sum(_H_A * (np.asarray(x, dtype=np.float64)[None, :] - _H_P) ** 2, axis=1)
    return float(-np.sum(_H_ALPHA * np.exp(-inner)))


def rosenbrock(x: F64) -> float:
    """Rosenbrock on [-5, 10]^d (SFU: f* = 0 at (1, …, 1))."""
    x = np.asarray(x, dtype=np.float64)
    return float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (x[:-1] - 1.0) ** 2))


def ackley(x: F64) -> float:
    """Ackley (a=20, b=0.2, c=2π) on [-32.768, 32.768]^d (SFU: f* = 0 at the origin)."""
    x = np.asarray(x, dtype=np.float64)
    d = len(x)
    return float(-20.0 * math.exp(-0.2 * math.sqrt(float(np.sum(x**2)) / d))
                 - math.exp(float(np.sum(np.cos(2 * math.pi * x))) / d) + 20.0 + math.e)


def levy(x: F64) -> float:
    """Levy on [-10, 10]^d (SFU: f* = 0 at (1, …, 1))."""
    w = 1.0 + (np.asarray(x, dtype=np.float64) - 1.0) / 4.0
    head = math.sin(math.pi * w[0]) ** 2
    mid = float(np.sum((w[:-1] - 1) ** 2 * (1 + 10 * np.sin(math.pi * w[:-1] + 1) ** 2)))
    tail = (w[-1] - 1) ** 2 * (1 + math.sin(2 * math.pi * w[-1]) ** 2)
    return float(head + mid + tail)


def styblinski_tang(x: F64) -> float:
    """Styblinski–Tang on [-5, 5]^d (SFU: f* = −39.16599·d at x_i = −2.903534)."""
    x = np.asarray(x, dtype=np.float64)
    return float(np.sum(x**4 - 16 * x**2 + 5 * x) / 2)


#: x_i at the minimum: the root of 4x³ − 32x + 5 = 0 in [-5, 0] (SFU quotes −2.903534)
ST_ARGMIN = float(min(r.real for r in np.roots([4.0, 0.0, -32.0, 5.0]) if abs(r.imag) < 1e-12))
#: per-coordinate minimum, exact: −39.16616570… (SFU rounds it to −39.16599)
ST_MIN_1D = (ST_ARGMIN**4 - 16 * ST_ARGMIN**2 + 5 * ST_ARGMIN) / 2


# ---------------------------------------------------------------------------- mixed
def _branin_int_minimum() -> tuple[float, dict[str, Any]]:
    """Branin with x1 an integer in [-5, 10]: for each x1, the best x2 in [0, 15] is the
    vertex of the square term (clipped to the bounds); the minimum is the best of the 16."""
    best: tuple[float, dict[str, Any]] = (math.inf, {})
    for x1 in range(-5, 11):
        x2 = min(max(_B_B * x1**2 - _B_C * x1 + _B_R, 0.0), 15.0)
        v = branin(float(x1), x2)
        if v < best[0]:
            best = (v, {"x0": x1, "x1": x2})
    return best


#: the levels of Hartmann-6's first coordinate in the categorical variant (unordered choices)
HARTMANN_CAT_LEVELS = (0.0, 0.1, 0.35, 0.6, 0.85)
#: minimum of Hartmann-6 with x1 restricted to HARTMANN_CAT_LEVELS: at level 0.1, the other
#: five coordinates by L-BFGS-B from 200 starts per level (the test re-derives it; the other
#: levels' minima: 0.0 −2.8408, 0.35 −3.0808, 0.6 −2.0409, 0.85 −1.3039)
HARTMANN_CAT_MIN = -3.194453132169404
HARTMANN_CAT_ARGMIN = (0.1, 0.1505181, 0.4826629, 0.27383585, 0.31248215, 0.65650602)

#: LEVY_LOG: x1 = −10 + 20 · (log10(lr) + 5) / 4, lr in [1e-5, 1e-1] (log scale)
_LR_LO, _LR_HI = 1e-5, 1e-1


def _levy_log(p: Params) -> float:
    x0 = -10.0 + 20.0 * (math.log10(float(p["lr"])) + 5.0) / 4.0
    return levy(np.array([x0, float(p["x1"]), float(p["x2"]), float(p["x3"])]))


# ---------------------------------------------------------------------------- training response
#: optimizer -> (lowest error, best log10 lr at batch size 128, steepness of the lr valley)
_OPTIMIZERS: dict[str, tuple[float, float, float]] = {
    "sgd": (0.085, -1.0, 0.020), "momentum": (0.072, -1.6, 0.030),
    "adam": (0.065, -3.2, 0.045), "adamw": (0.060, -3.0, 0.050),
}


def training_error(lr: float, batch_size: int, optimizer: str, dropout: float) -> float:
    """A validation error (1 − accuracy) shaped like a training response.

    ``u = log10(lr)``; the best ``u`` shifts by 0.3 per doubling of the batch size (the
    linear scaling rule); away from it the error rises quadratically then saturates (a
    diverging / stalled run); the best dropout grows with the batch size; batch sizes far
    from 128 cost a little. Each term is ≥ 0 and vanishes at its best value inside the box, so
    the minimum is ``min(lowest error) = 0.060`` (adamw, batch 128, lr = 1e-3, dropout 0.2).
    """
    e0, u128, k = _OPTIMIZERS[optimizer]
    u = math.log10(lr)
    lb = math.log2(batch_size)
    z = u - (u128 + 0.3 * (lb - 7.0))
    valley = 0.5 * k * z * z / (1.0 + 0.25 * z * z) * 8.0
    drop = 0.12 * (dropout - (0.2 + 0.04 * (lb - 7.0))) ** 2
    size = 0.004 * (lb - 7.0) ** 2
    return e0 + valley + drop + size


def _training(p: Params) -> float:
    return training_error(float(p["lr"]), int(p["batch_size"]), str(p["optimizer"]),
                          float(p["dropout"]))


# ---------------------------------------------------------------------------- registry
def _make() -> dict[str, TestFunction]:
    sfu = "Surjanovic & Bingham, Virtual Library of Simulation Experiments (SFU)"
    bmin, barg = _branin_int_minimum()
    fns = [
        TestFunction("branin", {"x0": FloatDistribution(-5, 10), "x1": FloatDistribution(0, 15)},
                     lambda p: branin(float(p["x0"]), float(p["x1"])), BRANIN_MIN,
                     {"x0": math.pi, "x1": 2.275}, f"{sfu}: 0.397887 (exact 5/(4π))"),
        TestFunction("hartmann6", _box(6, 0.0, 1.0), lambda p: hartmann6(_vec(p, 6)),
                     HARTMANN6_MIN, {f"x{i}": v for i, v in enumerate(HARTMANN6_ARGMIN)},
                     f"{sfu}: −3.32237"),
        TestFunction("rosenbrock4", _box(4, -5.0, 10.0), lambda p: rosenbrock(_vec(p, 4)), 0.0,
                     {f"x{i}": 1.0 for i in range(4)}, f"{sfu}: 0 at (1, 1, 1, 1)"),
        TestFunction("ackley5", _box(5, -32.768, 32.768), lambda p: ackley(_vec(p, 5)), 0.0,
                     {f"x{i}": 0.0 for i in range(5)}, f"{sfu}: 0 at the origin"),
        TestFunction("levy4", _box(4, -10.0, 10.0), lambda p: levy(_vec(p, 4)), 0.0,
                     {f"x{i}": 1.0 for i in range(4)}, f"{sfu}: 0 at (1, 1, 1, 1)"),
        TestFunction("styblinski_tang4", _box(4, -5.0, 5.0),
                     lambda p: styblinski_tang(_vec(p, 4)), 4 * ST_MIN_1D,
                     {f"x{i}": ST_ARGMIN for i in range(4)},
                     f"{sfu}: −39.16599·d (exact −39.1661657·d)"),
        TestFunction("branin_int", {"x0": IntDistribution(-5, 10), "x1": FloatDistribution(0, 15)},
                     lambda p: branin(float(p["x0"]), float(p["x1"])), bmin, barg,
                     "exhaustive over the 16 integers x1, closed-form best x2 for each",
                     ("int",)),
        TestFunction("hartmann6_cat",
                     {"x0": CategoricalDistribution(list(HARTMANN_CAT_LEVELS)),
                      **{f"x{i}": FloatDistribution(0.0, 1.0) for i in range(1, 6)}},
                     lambda p: hartmann6(_vec(p, 6)), HARTMANN_CAT_MIN,
                     {f"x{i}": v for i, v in enumerate(HARTMANN_CAT_ARGMIN)},
                     "each of the 5 levels of x1, L-BFGS-B over x2..x6 from 200 starts",
                     ("categorical",)),
        TestFunction("levy4_loglr",
                     {"lr": FloatDistribution(_LR_LO, _LR_HI, log=True),
                      **{f"x{i}": FloatDistribution(-10.0, 10.0) for i in range(1, 4)}},
                     _levy_log, 0.0,
                     {"lr": 10 ** -2.8, "x1": 1.0, "x2": 1.0, "x3": 1.0},
                     "Levy's minimum (0 at x = 1); x1 = 1 is lr = 10^−2.8", ("log",)),
        TestFunction("training_response",
                     {"lr": FloatDistribution(1e-5, 1.0, log=True),
                      "batch_size": IntDistribution(16, 1024, log=True),
                      "optimizer": CategoricalDistribution(list(_OPTIMIZERS)),
                      "dropout": FloatDistribution(0.0, 0.7)},
                     _training, min(v[0] for v in _OPTIMIZERS.values()),
                     {"lr": 1e-3, "batch_size": 128, "optimizer": "adamw", "dropout": 0.2},
                     "by construction (each term ≥ 0, zero at its best value)",
                     ("log", "int", "categorical")),
    ]
    return {f.name: f for f in fns}


#: every test function of the benchmark, by name
FUNCTIONS: dict[str, TestFunction] = _make()
