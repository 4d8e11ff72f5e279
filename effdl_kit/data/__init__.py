"""Dataset builders and loaders.

The EfficientDL system-component data: the authors' (loader, cleaning report, encoder) and the
kit's own.
"""

from effdl_kit.data._efficientdl import (
    EFFICIENTDL_CATEGORICAL_COLUMNS,
    EFFICIENTDL_COMPONENTS,
    EFFICIENTDL_FEATURES,
    EFFICIENTDL_GROUP,
    EFFICIENTDL_ID_COLUMNS,
    EFFICIENTDL_KEYWORD_COLUMNS,
    EFFICIENTDL_NUMERIC_COLUMNS,
    EFFICIENTDL_SYNONYMS,
    EFFICIENTDL_TARGET,
    UNKNOWN_GROUP,
    DroppedRow,
    LoadReport,
    efficientdl_xy,
    load_efficientdl,
    normalize_efficientdl,
    normalize_keywords,
    parse_learning_rate,
)
from effdl_kit.data._encoder import ComponentEncoder

__all__ = [
    "EFFICIENTDL_CATEGORICAL_COLUMNS",
    "EFFICIENTDL_COMPONENTS",
    "EFFICIENTDL_FEATURES",
    "EFFICIENTDL_GROUP",
    "EFFICIENTDL_ID_COLUMNS",
    "EFFICIENTDL_KEYWORD_COLUMNS",
    "EFFICIENTDL_NUMERIC_COLUMNS",
    "EFFICIENTDL_SYNONYMS",
    "EFFICIENTDL_TARGET",
    "UNKNOWN_GROUP",
    "ComponentEncoder",
    "DroppedRow",
    "LoadReport",
    "efficientdl_xy",
    "load_efficientdl",
    "normalize_efficientdl",
    "normalize_keywords",
    "parse_learning_rate",
]
