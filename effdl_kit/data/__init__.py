"""Dataset builders and loaders.

The EfficientDL system-component data: the authors' (loader, cleaning report, encoder) and the
kit's own.
"""

from effdl_kit._core.jsonl import provenance_path
from effdl_kit.data._components import (
    COMPONENT_GROUPS,
    ComponentSpace,
    build_component_dataset,
    component_config,
    default_component_space,
    load_component_dataset,
    sample_components,
)
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
from effdl_kit.data._latency import (
    INFERABLE_COLUMNS,
    LATENCY_FORMAT,
    LATENCY_TARGET,
    MEASURABLE_COLUMNS,
    latency_data_path,
    latency_features,
    latency_xy,
    load_latency_dataset,
    sample_module_spec,
    sampling_ranges,
    spec_feature_frame,
)
from effdl_kit.data._latency_build import build_latency_dataset

__all__ = [
    "COMPONENT_GROUPS",
    "EFFICIENTDL_CATEGORICAL_COLUMNS",
    "EFFICIENTDL_COMPONENTS",
    "EFFICIENTDL_FEATURES",
    "EFFICIENTDL_GROUP",
    "EFFICIENTDL_ID_COLUMNS",
    "EFFICIENTDL_KEYWORD_COLUMNS",
    "EFFICIENTDL_NUMERIC_COLUMNS",
    "EFFICIENTDL_SYNONYMS",
    "EFFICIENTDL_TARGET",
    "INFERABLE_COLUMNS",
    "LATENCY_FORMAT",
    "LATENCY_TARGET",
    "MEASURABLE_COLUMNS",
    "UNKNOWN_GROUP",
    "ComponentEncoder",
    "ComponentSpace",
    "DroppedRow",
    "LoadReport",
    "build_component_dataset",
    "build_latency_dataset",
    "component_config",
    "default_component_space",
    "efficientdl_xy",
    "latency_data_path",
    "latency_features",
    "latency_xy",
    "load_component_dataset",
    "load_efficientdl",
    "load_latency_dataset",
    "normalize_efficientdl",
    "normalize_keywords",
    "parse_learning_rate",
    "provenance_path",
    "sample_components",
    "sample_module_spec",
    "sampling_ranges",
    "spec_feature_frame",
]
