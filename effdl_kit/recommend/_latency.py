"""Whole-model inference latency of untrained candidates, with a calibrated interval.

Per module type the four MEDN-paper models (LR, MLP, RF, MEDN; the kinds of the budget) are
scored on held-out rows of the device's latency dataset and one is auto-selected
(:func:`~effdl_kit.models.evaluate_latency_models`, :func:`~effdl_kit.models.auto_select`);
the chosen kind is refitted on all rows (the **main** predictor) and on ``n_bootstrap``
bootstrap resamples (the **ensemble**). A candidate's latency is the sum of the main
predictor's per-module predictions over the calls it makes
(:func:`~effdl_kit.models.predict_model_latency`'s rule; calls of types no dataset covers add
nothing), and the ensemble's sums give its spread ``σ`` of the log-latency.

The predictive distribution is log-normal, ``log L ~ N(log(sum) + b, (k·σ)²)``, where the bias
``b`` and the scale ``k`` are calibrated on whole models measured on the device and never seen
by the per-module predictors (:mod:`._calibration`): ``b`` the median log-ratio measured /
predicted, ``k`` the split-conformal quantile of ``|residual| / σ`` that makes the nominal
90 % interval cover 90 % of them. The reported coverage is leave-one-out: each model's
interval comes from ``b, k`` fitted on the others. Without whole-model measurements for the
device the interval is the raw ensemble's (``b = 0, k = 1``) and the coverage is NaN.

Predictions are cached per architecture (:func:`~._candidates.architecture_key`): candidates
that differ only in training components cost nothing more.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.stats import norm
from sklearn.exceptions import ConvergenceWarning

from effdl_kit._core.errors import DataError
from effdl_kit.data import load_latency_dataset, spec_feature_frame
from effdl_kit.models import auto_select, evaluate_latency_models, make_latency_model
from effdl_kit.recommend._settings import INTERVAL, MODULE_TYPES, RecommendBudget

__all__ = ["Calibration", "LatencyPredictor", "calibrate", "fit_latency_predictor"]

F64 = npt.NDArray[np.float64]
_STATE_COLUMNS = ("mem_available_mib", "utilization_pct", "load_avg_1m")
#: floor of the ensemble's log-spread (a member set that agrees exactly still has error)
_MIN_SIGMA = 1e-3


@dataclass
class Calibration:
    """Bias and scale of the log-latency interval, and how well it covers whole models.

    Attributes
    ----------
    bias : float
        Added to the log of the predicted sum (median log-ratio measured / predicted).
    scale : float
        Multiplies the ensemble's log-spread.
    coverage : float
        Leave-one-out share of held-out whole models inside their nominal interval (NaN:
        no whole-model measurement for the device).
    coverage_raw : float
        The same share for the raw ensemble interval (no bias, scale 1).
    n_models : int
        Whole models measured.
    interval : float
        Nominal level (0.9).
    note : str
        Where the measurements came from, or why there are none.
    """

    bias: float = 0.0
    scale: float = 1.0
    coverage: float = math.nan
    coverage_raw: float = math.nan
    n_models: int = 0
    interval: float = INTERVAL
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN as None)."""
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in self.__dict__.items()}


def _fit_bias_scale(resid: F64, sigma: F64, level: float) -> tuple[float, float]:
    """``b`` = median residual, ``k`` = the split-conformal ``ceil((n+1)·level)/n`` quantile
    of ``|resid − b| / σ`` over the normal quantile of the level."""
    b = float(np.median(resid))
    score = np.sort(np.abs(resid - b) / sigma)
    n = len(score)
    rank = min(n, math.ceil((n + 1) * level)) - 1
    z = float(norm.ppf(0.5 + level / 2))
    return b, max(float(score[rank]) / z, 1e-6)


def calibrate(predicted_ms: Any, sigma: Any, measured_ms: Any, *, level: float = INTERVAL,
              note: str = "") -> Calibration:
    """Fit the bias and scale on whole models; coverage by leave-one-out.

    Parameters
    ----------
    predicted_ms, sigma, measured_ms : array_like, shape (n_models,)
        Predicted sum, ensemble log-spread, measured median latency of each whole model.

    Raises
    ------
    DataError
        Fewer than 3 models, or non-positive / non-finite values.
    """
    p = np.asarray(predicted_ms, dtype=np.float64)
    s = np.maximum(np.asarray(sigma, dtype=np.float64), _MIN_SIGMA)
    m = np.asarray(measured_ms, dtype=np.float64)
    if len(p) < 3 or not (np.isfinite(p).all() and (p > 0).all() and np.isfinite(m).all()
                          and (m > 0).all()):
        raise DataError("calibration needs at least 3 whole models with finite latencies > 0")
    resid = np.log(m) - np.log(p)
    z = float(norm.ppf(0.5 + level / 2))
    raw = float(np.mean(np.abs(resid) <= z * s))
    hits = []
    for j in range(len(p)):
        keep = np.arange(len(p)) != j
        b, k = _fit_bias_scale(resid[keep], s[keep], level)
        hits.append(abs(resid[j] - b) <= z * k * s[j])
    b, k = _fit_bias_scale(resid, s, level)
    return Calibration(bias=b, scale=k, coverage=float(np.mean(hits)), coverage_raw=raw,
                       n_models=len(p), interval=level, note=note)


@dataclass
class LatencyPredictor:
    """Per-module latency models of one device and the whole-model distribution they give.

    Attributes
    ----------
    device : str
        ``"cpu"`` or ``"gpu"``.
    choices : DataFrame
        Auto-selection per module type (model kind and its held-out metrics).
    main : dict
        Module type -> the chosen kind fitted on all rows.
    members : list of dict
        Bootstrap ensemble: module type -> fitted model, one dict per member.
    state : dict
        Device state predictions are made for (median of the dataset's idle rows).
    calibration : Calibration
    fit_s : float
        Wall seconds :func:`~effdl_kit.recommend.prepare` took to fit the static predictor, these
        models and the calibration (a recommendation that reuses them is charged them).
    """

    device: str
    choices: pd.DataFrame
    main: dict[str, Any]
    members: list[dict[str, Any]]
    state: dict[str, float]
    calibration: Calibration = field(default_factory=Calibration)
    fit_s: float = 0.0
    _cache: dict[str, tuple[float, float]] = field(default_factory=dict, repr=False)

    @property
    def kinds(self) -> dict[str, str]:
        """Module type -> auto-selected model kind."""
        return {str(r["module_type"]): str(r["model"]) for _, r in self.choices.iterrows()}

    def sums(self, models: Sequence[tuple[Any, Sequence[int]]],
             states: Sequence[Mapping[str, float]] | None = None) -> tuple[F64, F64]:
        """Predicted sums of per-module latencies of whole models (ms).

        Parameters
        ----------
        models : sequence of (torch.nn.Module, input shape)
        states : sequence of dict, optional
            Device state per model (default: :attr:`state` for all).

        Returns
        -------
        main : ndarray, shape (n_models,)
            Sum of the main predictors' per-module predictions.
        members : ndarray, shape (n_models, n_members)
            The same sum under each ensemble member.
        """
        from effdl_kit.measure import module_specs_from_model
        from effdl_kit.recommend._candidates import one_thread

        n, n_mem = len(models), len(self.members)
        main = np.zeros(n)
        mem = np.zeros((n, n_mem))
        by_type: dict[str, list[tuple[int, Any]]] = {}
        with one_thread():
            for i, (model, shape) in enumerate(models):
                for call in module_specs_from_model(model, shape):
                    if call.spec is not None and call.spec.module_type in self.main:
                        by_type.setdefault(call.spec.module_type, []).append((i, call.spec))
        for mt, items in by_type.items():
            owners = np.array([i for i, _ in items])
            ref = self.state
            X = spec_feature_frame([sp for _, sp in items],
                                   mem_available_mib=float(ref["mem_available_mib"]),
                                   utilization_pct=float(ref["utilization_pct"]),
                                   load_avg_1m=float(ref["load_avg_1m"]))
            if states is not None:  # each model at its own recorded state
                for col in _STATE_COLUMNS:
                    if col in X.columns:
                        X[col] = [float(states[i][col]) for i, _ in items]
            np.add.at(main, owners, np.asarray(self.main[mt].predict(X), dtype=np.float64))
            for b, member in enumerate(self.members):
                np.add.at(mem[:, b], owners, np.asarray(member[mt].predict(X),
                                                        dtype=np.float64))
        return main, mem

    @staticmethod
    def log_sigma(members: F64) -> F64:
        """Ensemble spread of the log-latency per model (floored), shape (n_models,)."""
        logs = np.log(np.maximum(members, 1e-9))
        return np.maximum(logs.std(axis=1, ddof=1) if logs.shape[1] > 1
                          else np.zeros(len(logs)), _MIN_SIGMA)

    def predict(self, keys: Sequence[str], build: Any) -> pd.DataFrame:
        """Calibrated latency of architectures, cached by key.

        Parameters
        ----------
        keys : sequence of str
            Architecture keys (duplicates fine).
        build : callable
            ``build(key) -> (module, input shape)`` for keys not cached yet.

        Returns
        -------
        DataFrame
            One row per key: ``latency_sum_ms`` (the sum of per-module predictions),
            ``latency_ms`` (calibrated median), ``log_sd`` (calibrated log-spread),
            ``latency_lo_ms``, ``latency_hi_ms`` (the nominal interval).
        """
        todo = [k for k in dict.fromkeys(keys) if k not in self._cache]
        if todo:
            main, mem = self.sums([build(k) for k in todo])
            for k, s, sd in zip(todo, main, self.log_sigma(mem), strict=True):
                self._cache[k] = (float(s), float(sd))
        return self._calibrated(np.array([self._cache[k][0] for k in keys]),
                                np.array([self._cache[k][1] for k in keys]))

    def predict_at(self, models: Sequence[tuple[Any, Sequence[int]]],
                   states: Sequence[Mapping[str, float]]) -> pd.DataFrame:
        """Calibrated latency of whole models, each at its own device state (MEDN's
        measurable parameters: available memory, other processes' CPU use, load average), not
        cached; the frame of :meth:`predict`.

        The check of a measured latency: the recommendation predicts at the reference (idle)
        state, the measurement happens at whatever state the machine is in then.
        """
        main, mem = self.sums(models, states)
        return self._calibrated(main, self.log_sigma(mem))

    def _calibrated(self, s: F64, log_sd: F64) -> pd.DataFrame:
        cal = self.calibration
        z = float(norm.ppf(0.5 + cal.interval / 2))
        sd = cal.scale * log_sd
        centre = np.log(np.maximum(s, 1e-9)) + cal.bias
        return pd.DataFrame({"latency_sum_ms": s, "latency_ms": np.exp(centre),
                             "log_sd": sd, "latency_lo_ms": np.exp(centre - z * sd),
                             "latency_hi_ms": np.exp(centre + z * sd)})

    @staticmethod
    def p_within(frame: pd.DataFrame, budget_ms: float) -> F64:
        """P(latency <= budget) under the calibrated log-normal, per row of :meth:`predict`."""
        if math.isinf(budget_ms):
            return np.ones(len(frame))
        z = (math.log(budget_ms) - np.log(frame["latency_ms"].to_numpy())) / \
            frame["log_sd"].to_numpy()
        return np.asarray(norm.cdf(z), dtype=np.float64)


def _reference_state(df: pd.DataFrame) -> dict[str, float]:
    rows = df[df["load_level"] == "idle"] if "load_level" in df.columns else df
    if not len(rows):
        rows = df
    return {c: float(np.nanmedian(rows[c].to_numpy(dtype=float))) for c in _STATE_COLUMNS}


def fit_latency_predictor(device: str, budget: RecommendBudget, *, seed: int,
                          path: Any = None) -> LatencyPredictor:
    """Auto-select, refit and bootstrap the per-module models of ``device``'s dataset.

    Parameters
    ----------
    device : {"cpu", "gpu"}
    budget : RecommendBudget
        Kinds, their parameters, rows per module type, bootstrap members.
    seed : int
    path : path, optional
        The latency dataset (default: the shipped one of the device).

    Raises
    ------
    DataError
        The dataset lacks a module type candidates call.
    """
    from effdl_kit.data import latency_data_path, latency_xy

    df = load_latency_dataset(latency_data_path(device) if path is None else path)
    present = set(df["module_type"])
    types = [m for m in MODULE_TYPES if m in present]
    if "conv2d" not in types or "linear" not in types:
        raise DataError(f"the {device} latency dataset lacks conv2d or linear rows")
    df = df[df["module_type"].isin(types)]
    if budget.rows_per_type is not None:
        df = pd.concat([g.sample(n=min(budget.rows_per_type, len(g)), random_state=seed)
                        for _, g in df.groupby("module_type", sort=False)]).sort_index()
    params = {k: dict(v) for k, v in budget.latency_params.items()
              if k in budget.latency_kinds}
    with warnings.catch_warnings():
        # an MLP stopped at the scale's iteration budget is judged by its held-out scores
        warnings.simplefilter("ignore", ConvergenceWarning)
        ev = evaluate_latency_models(df, module_types=types, kinds=budget.latency_kinds,
                                     seed=seed, params=params, timing_repeats=1)
        sel = auto_select(ev.scores, baseline=budget.latency_kinds[-1])
        kinds = {str(r["module_type"]): str(r["model"]) for _, r in sel.choices.iterrows()}
        rng = np.random.default_rng(seed)
        main: dict[str, Any] = {}
        members: list[dict[str, Any]] = [{} for _ in range(budget.n_bootstrap)]
        for mt, kind in kinds.items():
            X, y = latency_xy(df, mt)
            kw = params.get(kind, {})
            main[mt] = make_latency_model(kind, random_state=seed, **kw).fit(X, y)
            for b in range(budget.n_bootstrap):
                idx = rng.integers(0, len(y), len(y))
                members[b][mt] = make_latency_model(kind, random_state=seed + b + 1,
                                                    **kw).fit(X.iloc[idx], y[idx])
    return LatencyPredictor(device=device, choices=sel.choices, main=main, members=members,
                            state=_reference_state(df))
