"""The static predictor for a component dataset: the right encoder, then the random forest."""

from __future__ import annotations

from sklearn.pipeline import Pipeline

from effdl_kit.data import ComponentData, ComponentEncoder
from effdl_kit.models._static import make_static_predictor

__all__ = ["make_predictor"]


def make_predictor(data: ComponentData, *, n_trees: int, seed: int) -> Pipeline:
    """The static predictor (encoder + random forest) for ``data``.

    Parameters
    ----------
    data : ComponentData
        From :func:`~effdl_kit.data.load_component_data` (or built by hand). With declared
        features (``data.numeric`` not None, the kit's data) the encoder takes exactly those
        columns; otherwise (the authors' data) it infers the column kinds, leaving out the
        identifiers and the group column.
    n_trees : int
        Trees of the random forest (>= 1).
    seed : int
        The forest's ``random_state``.

    Returns
    -------
    sklearn.pipeline.Pipeline
        Steps ``("encoder", ComponentEncoder)`` and ``("forest", RandomForestRegressor)``,
        not fitted.
    """
    if data.numeric is None:
        encoder = ComponentEncoder(exclude_columns=[*data.id_columns, data.groups_col])
    else:
        encoder = ComponentEncoder(keyword_columns=data.keyword or [],
                                   numeric_columns=data.numeric,
                                   categorical_columns=data.categorical or [])
    return make_static_predictor(encoder=encoder, n_estimators=n_trees, random_state=seed)
