"""Public home of the kit's exceptions and warnings (see :mod:`effdl_kit._core.errors`)."""

from effdl_kit._core.errors import (
    ConfigError,
    DataError,
    DatasetNotFoundError,
    DeviceNotAvailableError,
    EffdlError,
    TrainingError,
)
from effdl_kit._core.filelock import FileLockedError
from effdl_kit._core.jsonl_content import DataWarning

__all__ = [
    "ConfigError",
    "DataError",
    "DataWarning",
    "DatasetNotFoundError",
    "DeviceNotAvailableError",
    "EffdlError",
    "FileLockedError",
    "TrainingError",
]
