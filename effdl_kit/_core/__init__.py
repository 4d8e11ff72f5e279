"""Lowest layer: errors, validation, randomness, environment info, numba settings."""

from effdl_kit._core.env import EnvInfo, GPUInfo, collect_env, git_revision, kit_version
from effdl_kit._core.errors import (
    ConfigError,
    DataError,
    DatasetNotFoundError,
    DeviceNotAvailableError,
    EffdlError,
    TrainingError,
)
from effdl_kit._core.numba_config import configure_numba
from effdl_kit._core.rng import SEED_MAX, as_generator, spawn_seeds, torch_generator, torch_seeded
from effdl_kit._core.types import DIRECTIONS, Direction, ProgressFn
from effdl_kit._core.validate import SCALES, Scale, check_choice, check_scale

__all__ = [
    "DIRECTIONS",
    "SCALES",
    "SEED_MAX",
    "ConfigError",
    "DataError",
    "DatasetNotFoundError",
    "DeviceNotAvailableError",
    "Direction",
    "EffdlError",
    "EnvInfo",
    "GPUInfo",
    "ProgressFn",
    "Scale",
    "TrainingError",
    "as_generator",
    "check_choice",
    "check_scale",
    "collect_env",
    "configure_numba",
    "git_revision",
    "kit_version",
    "spawn_seeds",
    "torch_generator",
    "torch_seeded",
]
