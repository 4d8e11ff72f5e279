"""System-component datasets ready for the static predictor: the authors' and the kit's.

``authors``
    The authors' ``dataset.json`` (1,658 trained models; not shipped with the kit, located by
    :func:`efficientdl_data_path`), cleaned by :func:`~effdl_kit.data.load_efficientdl`.
    Groups for grouped CV: the ``Architecture`` column.
``kit``
    The kit's own dataset ``data/components_cpu.jsonl`` (real trainings on this kind of CPU,
    located by :func:`kit_data_path`). Features: the components of the file's header
    ``space`` that take more than one value (numbers numeric; strings and bools
    categorical). Groups: the model family ``"cnn-d{depth}-c{base_channels}-k{kernel_size}"``.

:func:`load_component_data` gives either as a :class:`ComponentData` (frame, target, group
column, declared features, component groups), the one container the predictor factory
(:func:`effdl_kit.models.make_predictor`), the EfficientDL experiment and its panels share.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd

from effdl_kit._core.errors import DataError, DatasetNotFoundError
from effdl_kit._core.validate import check_choice
from effdl_kit.data._components import COMPONENT_GROUPS, load_component_dataset
from effdl_kit.data._efficientdl import (
    EFFICIENTDL_COMPONENTS,
    EFFICIENTDL_GROUP,
    EFFICIENTDL_ID_COLUMNS,
    EFFICIENTDL_TARGET,
    efficientdl_xy,
    load_efficientdl,
)

__all__ = [
    "COMPONENT_DATASETS",
    "KIT_GROUP_COLUMN",
    "KIT_TARGET",
    "ComponentData",
    "ComponentDatasetName",
    "efficientdl_data_path",
    "kit_data_path",
    "kit_family",
    "kit_features",
    "load_component_data",
]

#: The two system-component datasets: the authors' and the kit's own.
ComponentDatasetName = Literal["authors", "kit"]
#: Their names, in the order they are reported.
COMPONENT_DATASETS: tuple[ComponentDatasetName, ...] = get_args(ComponentDatasetName)
#: Target column of the kit's dataset.
KIT_TARGET = "top1"
#: Group column added to the kit's dataset (model family).
KIT_GROUP_COLUMN = "family"


def efficientdl_data_path() -> Path:
    """Path of the authors' ``dataset.json``.

    Looked up under ``$EFFDL_RESEARCH_DATA`` (default: ``<repo>/../shared/research_data``) as
    ``efficientdl/dataset.json``. The file has no licence and is never copied into the kit.

    Raises
    ------
    DatasetNotFoundError
        The file is not there; the message says how to point the kit at it.
    """
    default = Path(__file__).resolve().parents[3] / "shared" / "research_data"
    base = Path(os.environ.get("EFFDL_RESEARCH_DATA", str(default)))
    path = base / "efficientdl" / "dataset.json"
    if not path.is_file():
        raise DatasetNotFoundError(
            "efficientdl", path,
            "set EFFDL_RESEARCH_DATA to the folder holding efficientdl/dataset.json "
            "(the authors' data of arXiv 2410.14743; it is not shipped with the kit)",
        )
    return path


def kit_data_path() -> Path:
    """Path of the kit's own component dataset ``data/components_cpu.jsonl``.

    Raises
    ------
    DatasetNotFoundError
        The file is missing from the checkout (it is not part of an installed wheel).
    """
    path = Path(__file__).resolve().parents[2] / "data" / "components_cpu.jsonl"
    if not path.is_file():
        raise DatasetNotFoundError(
            "components_cpu", path,
            "run from a source checkout of effdl-kit (data/ is not installed), or rebuild it "
            "with effdl_kit.data.build_component_dataset",
        )
    return path


def kit_features(space: Mapping[str, Sequence[Any]]) -> tuple[list[str], list[str]]:
    """The kit dataset's features: ``(numeric, categorical)`` component names.

    Parameters
    ----------
    space : mapping of str to sequence
        The dataset header's ``space`` (component -> the values it was drawn from).

    Returns
    -------
    numeric, categorical : list of str
        Components taking more than one value, in ``space`` order: all-number value lists are
        numeric, others (strings, bools) categorical.
    """
    numeric: list[str] = []
    categorical: list[str] = []
    for name, values in space.items():
        if len({json.dumps(v) for v in values}) < 2:
            continue
        is_num = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        (numeric if is_num else categorical).append(name)
    return numeric, categorical


def kit_family(df: pd.DataFrame) -> pd.Series:
    """Model-family label ``"cnn-d{depth}-c{base_channels}-k{kernel_size}"`` per row.

    Parameters
    ----------
    df : pandas.DataFrame, shape (n_rows, ...)
        Holds ``depth``, ``base_channels`` and ``kernel_size``.

    Returns
    -------
    pandas.Series, shape (n_rows,)
        Named :data:`KIT_GROUP_COLUMN`, on ``df``'s index.

    Raises
    ------
    DataError
        One of the three columns is missing.
    """
    missing = [c for c in ("depth", "base_channels", "kernel_size") if c not in df.columns]
    if missing:
        raise DataError(f"kit dataset lacks the columns {missing} needed for the model family")
    return pd.Series(
        [f"cnn-d{d}-c{c}-k{k}" for d, c, k in
         zip(df["depth"], df["base_channels"], df["kernel_size"], strict=True)],
        index=df.index, name=KIT_GROUP_COLUMN,
    )


@dataclass
class ComponentData:
    """One system-component dataset ready for the predictor.

    Attributes
    ----------
    name : {"authors", "kit"}
    frame : pandas.DataFrame
        Features, target and group column (identifiers too, for the authors' data).
    target, groups_col : str
    id_columns : tuple of str
        Columns never used as features.
    numeric, categorical, keyword : list of str or None
        Declared feature columns (None: inferred by the encoder, the authors' data).
    component_groups : dict of str to str
        Component -> EfficientDL group (model, training, data, hardware).
    source : str
        The file read.
    load_report : str
        Human-readable lines on what loading fixed or dropped.
    """

    name: ComponentDatasetName
    frame: pd.DataFrame
    target: str
    groups_col: str
    id_columns: tuple[str, ...]
    source: str
    load_report: str
    component_groups: dict[str, str] = field(default_factory=dict)
    numeric: list[str] | None = None
    categorical: list[str] | None = None
    keyword: list[str] | None = None

    @property
    def n_rows(self) -> int:
        """Rows in :attr:`frame`."""
        return len(self.frame)

    @property
    def n_groups(self) -> int:
        """Distinct group labels."""
        return int(self.frame[self.groups_col].nunique())

    def eval_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`~effdl_kit.models.evaluate_predictor` for this data."""
        return {"target": self.target, "groups_col": self.groups_col,
                "id_columns": self.id_columns}

    def xy(self) -> tuple[pd.DataFrame, np.ndarray]:
        """Features and target (identifiers and the group column removed).

        Returns
        -------
        X : pandas.DataFrame, shape (n_rows, n_features)
        y : ndarray of float64, shape (n_rows,)
        """
        X, y, _ = efficientdl_xy(self.frame, **self.eval_kwargs())
        return X, y


def _load_authors() -> ComponentData:
    """The authors' data, cleaned (see :func:`~effdl_kit.data.load_efficientdl`)."""
    path = efficientdl_data_path()
    df = load_efficientdl(path)
    report = df.attrs["load_report"]
    return ComponentData(
        name="authors", frame=df, target=EFFICIENTDL_TARGET, groups_col=EFFICIENTDL_GROUP,
        id_columns=tuple(EFFICIENTDL_ID_COLUMNS), source=str(path),
        load_report=report.summary(),
        component_groups={c: g for g, cs in EFFICIENTDL_COMPONENTS.items() for c in cs},
    )


def _load_kit() -> ComponentData:
    """The kit's data: successful trainings, its varying components, the model family."""
    path = kit_data_path()
    raw = load_component_dataset(path)
    header = raw.attrs.get("header") or {}
    space = header.get("space")
    if not isinstance(space, Mapping) or not space:
        raise DataError(f"{str(path)!r} has no component 'space' in its header")
    numeric, categorical = kit_features(space)
    missing = [c for c in (*numeric, *categorical, KIT_TARGET) if c not in raw.columns]
    if missing:
        raise DataError(f"{str(path)!r} lacks the columns {missing}")
    frame = raw[[*numeric, *categorical, KIT_TARGET]].copy()
    frame[KIT_GROUP_COLUMN] = kit_family(raw)
    n_all = len(load_component_dataset(path, only_ok=False))
    report = (
        f"{path}: {n_all} rows -> {len(frame)} rows kept "
        f"({n_all - len(frame)} failed trainings dropped)\n"
        f"  scale {header.get('scale')!r}, seed {header.get('seed')!r}, "
        f"created {header.get('created')!r}\n"
        f"  {len(numeric)} numeric components: {', '.join(numeric)}\n"
        f"  {len(categorical)} categorical components: {', '.join(categorical)}\n"
        f"  {frame[KIT_GROUP_COLUMN].nunique()} model families (groups)"
    )
    return ComponentData(
        name="kit", frame=frame, target=KIT_TARGET, groups_col=KIT_GROUP_COLUMN, id_columns=(),
        source=str(path), load_report=report,
        component_groups={c: g for g, cs in COMPONENT_GROUPS.items() for c in cs},
        numeric=numeric, categorical=categorical, keyword=[],
    )


#: dataset name -> its loader
_LOADERS: dict[ComponentDatasetName, Callable[[], ComponentData]] = {
    "authors": _load_authors, "kit": _load_kit,
}


def load_component_data(name: ComponentDatasetName) -> ComponentData:
    """Load one of :data:`COMPONENT_DATASETS` for the predictor.

    Parameters
    ----------
    name : {"authors", "kit"}

    Returns
    -------
    ComponentData

    Raises
    ------
    ConfigError
        ``name`` is not in :data:`COMPONENT_DATASETS`.
    DatasetNotFoundError
        Its file is missing.
    DataError
        The kit's file lacks its component space or columns.
    """
    check_choice("dataset", name, COMPONENT_DATASETS)
    return _LOADERS[name]()
