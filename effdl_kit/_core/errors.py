"""The kit's exception hierarchy.

Every error raised on bad input names the offending field and what is allowed, and is raised
before any work starts. The classes subclass the matching built-in (``ValueError``,
``FileNotFoundError``, ``RuntimeError``) so generic handlers keep working.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = [
    "ConfigError",
    "DataError",
    "DatasetNotFoundError",
    "DeviceNotAvailableError",
    "EffdlError",
    "TrainingError",
]


def _fmt_allowed(allowed: Iterable[Any] | str) -> str:
    if isinstance(allowed, str):
        return allowed
    return ", ".join(repr(a) for a in allowed)


class EffdlError(Exception):
    """Base class of every exception the kit raises on purpose."""


class ConfigError(EffdlError, ValueError):
    """A configuration field holds a value that is not allowed.

    Parameters
    ----------
    field : str
        Name of the offending field, dotted for nested ones (``"model.activation"``).
    value : object
        The value that was given.
    allowed : iterable or str
        The allowed values, or a phrase describing them (``"a float > 0"``).
    """

    def __init__(self, field: str, value: Any, allowed: Iterable[Any] | str) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed if isinstance(allowed, str) else tuple(allowed)
        super().__init__(
            f"invalid value for {field!r}: {value!r}; allowed: {_fmt_allowed(allowed)}"
        )


class DataError(EffdlError, ValueError):
    """Input data is malformed (wrong shape, missing column, corrupt file)."""


class DatasetNotFoundError(DataError, FileNotFoundError):
    """A dataset that must be read from a local path is not there."""

    def __init__(self, name: str, path: Any, hint: str = "") -> None:
        self.name = name
        self.path = path
        msg = f"dataset {name!r} not found at {str(path)!r}"
        super().__init__(msg + (f"; {hint}" if hint else ""))


class DeviceNotAvailableError(EffdlError, RuntimeError):
    """A requested device (e.g. ``"cuda"``) is not present on this machine."""

    def __init__(self, field: str, device: str, available: Iterable[str]) -> None:
        self.field = field
        self.device = device
        self.available = tuple(available)
        super().__init__(
            f"invalid value for {field!r}: device {device!r} is not available on this machine; "
            f"available: {_fmt_allowed(self.available)}"
        )


class TrainingError(EffdlError, RuntimeError):
    """Training failed in a way the caller should record (NaN loss, out of memory, ...)."""
