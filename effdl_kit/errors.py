"""Public home of the kit's exceptions (see :mod:`effdl_kit._core.errors`)."""

from effdl_kit._core.errors import (
    ConfigError,
    DataError,
    DatasetNotFoundError,
    DeviceNotAvailableError,
    EffdlError,
    TrainingError,
)

__all__ = [
    "ConfigError",
    "DataError",
    "DatasetNotFoundError",
    "DeviceNotAvailableError",
    "EffdlError",
    "TrainingError",
]
