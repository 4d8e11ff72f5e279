"""A registry of reproducible experiments, run by name at a scale with a seed.

An experiment is a function ``(scale, seed, out) -> ExperimentSummary`` registered with
:func:`register`; ``out`` is the experiment's own directory (``<out>/<name>/``), created by
:func:`run_experiment`, which also writes the summary to ``summary.json`` there. An
experiment may register a ``redraw(out_dir) -> list[Path]`` function that re-creates its
figures from the saved results without computing anything again.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from effdl_kit._core.env import EnvInfo, collect_env
from effdl_kit._core.errors import ConfigError, DataError
from effdl_kit._core.io import atomic_write_text
from effdl_kit._core.rng import SEED_MAX
from effdl_kit._core.validate import check_int, check_scale

__all__ = [
    "SUMMARY_FILE",
    "Experiment",
    "ExperimentFn",
    "ExperimentSummary",
    "RedrawFn",
    "RedrawOutcome",
    "experiment_options",
    "find_summaries",
    "get_experiment",
    "list_experiments",
    "make_summary",
    "output_files",
    "read_results",
    "redraw_experiments",
    "register",
    "run_experiment",
    "unregister",
]

SUMMARY_FILE = "summary.json"
ExperimentFn = Callable[[str, int, Path], "ExperimentSummary"]
RedrawFn = Callable[[Path], list[Path]]


@dataclass
class ExperimentSummary:
    """What one run of an experiment produced; JSON round trip with ``to_json``/``from_json``.

    Attributes
    ----------
    name, scale, seed
        Which experiment, at which scale, with which seed.
    env : dict
        :meth:`EnvInfo.to_dict` of the machine it ran on.
    metrics : dict
        Headline numbers (JSON-serialisable; nesting allowed).
    figures, tables : list of str
        Written files, relative to the experiment's directory.
    wall_time_s : float
        Seconds the run took.
    """

    name: str
    scale: str
    seed: int
    env: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)
    figures: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    wall_time_s: float = 0.0

    @property
    def env_info(self) -> EnvInfo:
        """``env`` as an :class:`EnvInfo`."""
        return EnvInfo.from_dict(self.env)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ExperimentSummary:
        """Inverse of :meth:`to_dict`; unknown or missing keys raise :class:`DataError`."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise DataError(f"unknown summary keys {sorted(unknown)}; expected {sorted(names)}")
        try:
            return cls(**d)
        except TypeError as exc:
            raise DataError(f"incomplete experiment summary: {exc}") from None

    def to_json(self, path: str | Path) -> Path:
        """Write the summary as indented JSON (parent directories created); return the path."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(p, json.dumps(self.to_dict(), indent=2, allow_nan=True) + "\n")
        return p

    @classmethod
    def from_json(cls, path: str | Path) -> ExperimentSummary:
        """Read a summary written by :meth:`to_json`."""
        p = Path(path)
        try:
            d = json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DataError(f"{str(p)!r} is not valid JSON: {exc}") from None
        if not isinstance(d, dict):
            raise DataError(f"{str(p)!r} does not hold an experiment summary")
        return cls.from_dict(d)


@dataclass(frozen=True)
class Experiment:
    """A registered experiment: its function, optional redraw function and description."""

    name: str
    run: ExperimentFn
    redraw: RedrawFn | None = None
    description: str = ""


_REGISTRY: dict[str, Experiment] = {}


def register(
    name: str, *, redraw: RedrawFn | None = None, description: str | None = None
) -> Callable[[ExperimentFn], ExperimentFn]:
    """Decorator registering ``fn(scale, seed, out) -> ExperimentSummary`` under ``name``.

    Parameters
    ----------
    name : str
        Registry key (used by ``effdl reproduce NAME``); an identifier-like string.
    redraw : callable, optional
        ``redraw(out_dir) -> list[Path]`` re-creating the figures from saved results.
    description : str, optional
        One line; defaults to the first line of the function's docstring.

    Raises
    ------
    ConfigError
        ``name`` is empty, malformed or already taken by a different function.
    """
    if not isinstance(name, str) or not name or not name.replace("_", "a").replace(
        "-", "a"
    ).isalnum():
        raise ConfigError("name", name, "a non-empty string of letters, digits, '_' or '-'")
    if redraw is not None and not callable(redraw):
        raise ConfigError("redraw", redraw, "a callable redraw(out_dir) -> list[Path]")

    def deco(fn: ExperimentFn) -> ExperimentFn:
        if not callable(fn):
            raise ConfigError("fn", fn, "a callable (scale, seed, out) -> ExperimentSummary")
        old = _REGISTRY.get(name)
        if old is not None and getattr(old.run, "__qualname__", None) != getattr(
            fn, "__qualname__", object()
        ):
            raise ConfigError("name", name, "a name not registered yet; taken: "
                              + ", ".join(sorted(_REGISTRY)))
        doc = (fn.__doc__ or "").strip().splitlines()
        _REGISTRY[name] = Experiment(name=name, run=fn, redraw=redraw,
                                     description=description or (doc[0] if doc else ""))
        return fn

    return deco


def unregister(name: str) -> None:
    """Remove ``name`` from the registry (for tests and interactive re-definition)."""
    get_experiment(name)
    del _REGISTRY[name]


def list_experiments() -> list[str]:
    """Names of the registered experiments, sorted."""
    return sorted(_REGISTRY)


def get_experiment(name: str) -> Experiment:
    """The registered experiment ``name``.

    Raises
    ------
    ConfigError
        Unknown name; the error lists the registered names.
    """
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ConfigError("name", name, list_experiments() or "(no experiment registered)")
    return _REGISTRY[name]


def _check_seed(seed: Any) -> int:
    return check_int("seed", seed, min_value=0, max_value=SEED_MAX)


def _check_out(out: Any) -> Path:
    if not isinstance(out, str | Path) or not str(out).strip():
        raise ConfigError("out", out, "a directory path")
    p = Path(out)
    if p.exists() and not p.is_dir():
        raise ConfigError("out", str(out), "a directory (this path is a file)")
    return p


def experiment_options(name: str) -> list[str]:
    """Keyword options the experiment ``name`` takes beyond ``(scale, seed, out)``, such as
    ``executor`` and ``storage`` for the ones that scale out."""
    params = inspect.signature(get_experiment(name).run).parameters
    return [p.name for p in list(params.values())[3:]
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]


def run_experiment(name: str, *, scale: str, seed: int = 0, out: str | Path,
                   **options: Any) -> ExperimentSummary:
    """Run a registered experiment and write ``<out>/<name>/summary.json``.

    Parameters
    ----------
    name : str
        A registered experiment (see :func:`list_experiments`).
    scale : {"smoke", "small", "paper"}
        Budget: seconds, minutes on a laptop CPU, or the paper's budget.
    seed : int
        Seed (0 <= seed < 2**32) passed to the experiment.
    out : str or Path
        Results root; the experiment writes into ``out/<name>/``.
    **options
        Keyword options of the experiment (see :func:`experiment_options`), e.g.
        ``executor=client.get_executor()`` or ``storage="postgresql+psycopg://..."``; None
        values are left out.

    Returns
    -------
    ExperimentSummary
        As returned by the experiment, with ``wall_time_s`` measured here.

    Raises
    ------
    ConfigError
        Unknown name, bad scale, seed, out or an option the experiment does not take (before
        anything runs), or an experiment function that does not return an
        :class:`ExperimentSummary`.
    """
    exp = get_experiment(name)
    check_scale(scale)
    seed = _check_seed(seed)
    root = _check_out(out)
    options = {k: v for k, v in options.items() if v is not None}
    allowed = experiment_options(name)
    for key in options:
        if key not in allowed:
            raise ConfigError(key, f"given to experiment {name!r}",
                              f"one of its options {allowed}" if allowed
                              else f"nothing: {name!r} takes no option")
    exp_dir = root / name
    exp_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    summary = exp.run(scale, seed, exp_dir, **options)
    wall = time.perf_counter() - t0
    if not isinstance(summary, ExperimentSummary):
        raise ConfigError(f"experiment {name!r} return value", type(summary).__name__,
                          "an ExperimentSummary")
    summary = dataclasses.replace(summary, name=name, scale=scale, seed=seed,
                                  wall_time_s=wall)
    summary.to_json(exp_dir / SUMMARY_FILE)
    return summary


def make_summary(name: str, scale: str, seed: int, **fields: Any) -> ExperimentSummary:
    """An :class:`ExperimentSummary` with this machine's environment filled in."""
    return ExperimentSummary(name=name, scale=scale, seed=seed, env=collect_env().to_dict(),
                             **fields)


def output_files(paths: Sequence[Path]) -> dict[str, list[str]]:
    """``{"figures": [...], "tables": [...]}``: the file names of a redraw, for
    :func:`make_summary` (PDF/SVG/PNG are figures; TeX/Markdown/CSV tables)."""
    return {"figures": [p.name for p in paths if p.suffix in (".pdf", ".svg", ".png")],
            "tables": [p.name for p in paths if p.suffix in (".tex", ".md", ".csv")]}


def read_results(out_dir: str | Path, name: str, *, required: Sequence[str] = (),
                 check: Callable[[dict[str, Any]], None] | None = None,
                 file: str = "results.json") -> dict[str, Any]:
    """The payload an experiment wrote to ``out_dir/results.json``, checked.

    Parameters
    ----------
    name : str
        The experiment that must have written it (its ``"experiment"`` field).
    required : sequence of str
        Top-level keys the payload must hold.
    check : callable, optional
        Further checks; raise ``KeyError``/``TypeError``/``ValueError`` to refuse the file.

    Raises
    ------
    DataError
        No file ("run the NAME experiment first"), or a malformed one ("not a NAME results
        file").
    """
    path = Path(out_dir) / file
    if not path.is_file():
        raise DataError(f"no {file} in {str(out_dir)!r}: run the {name} experiment first")
    article = "an" if name[:1].lower() in "aeio" else "a"
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(payload, dict) or payload.get("experiment") != name:
            raise ValueError(f"not written by the {name} experiment")
        missing = sorted(set(required) - set(payload))
        if missing:
            raise KeyError(f"lacks {missing}")
        payload["seed"] = int(payload["seed"])
        payload["scale"] = str(payload["scale"])
        if check is not None:
            check(payload)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise DataError(f"{str(path)!r} is not {article} {name} results file: {exc}") from None
    return payload


def find_summaries(out: str | Path) -> list[Path]:
    """Every ``summary.json`` below ``out`` (any depth), sorted."""
    root = Path(out)
    if not root.is_dir():
        return []
    return sorted(root.rglob(SUMMARY_FILE))


@dataclass(frozen=True)
class RedrawOutcome:
    """What :func:`redraw_experiments` did for one experiment directory."""

    name: str
    directory: Path
    paths: list[Path]
    skipped: str | None = None


def redraw_experiments(out: str | Path) -> list[RedrawOutcome]:
    """Redraw the figures of every experiment found under ``out`` from its saved results.

    An experiment directory is one holding a ``summary.json``; its experiment's registered
    ``redraw`` is called with that directory. Unknown experiments and experiments without a
    redraw function are reported as skipped.

    Raises
    ------
    ConfigError
        ``out`` is not an existing directory.
    """
    root = _check_out(out)
    if not root.is_dir():
        raise ConfigError("out", str(out), "an existing results directory")
    outcomes = []
    for path in find_summaries(root):
        summary = ExperimentSummary.from_json(path)
        exp = _REGISTRY.get(summary.name)
        if exp is None:
            outcomes.append(RedrawOutcome(summary.name, path.parent, [], "not registered"))
        elif exp.redraw is None:
            outcomes.append(RedrawOutcome(summary.name, path.parent, [], "no redraw function"))
        else:
            outcomes.append(RedrawOutcome(summary.name, path.parent,
                                          list(exp.redraw(path.parent))))
    return outcomes


def flat_metrics(metrics: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (for one-line-per-number reports)."""
    out: dict[str, Any] = {}
    for k, v in metrics.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flat_metrics(v, key + "."))
        else:
            out[key] = v
    return out


def fmt_number(v: Any) -> str:
    """Short text for a metric value."""
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        return f"{v:.4g}"
    return str(v)
