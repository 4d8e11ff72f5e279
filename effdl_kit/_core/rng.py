"""Explicit randomness: seeds in, generators out; global state is never relied on."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np

from effdl_kit._core.validate import check_int

if TYPE_CHECKING:
    import torch

__all__ = ["SEED_MAX", "as_generator", "spawn_seeds", "torch_generator", "torch_seeded"]

#: The largest seed the kit accepts anywhere (numpy's and Optuna's samplers' bound, 2**32 - 1);
#: derived seeds are taken modulo ``SEED_MAX + 1``.
SEED_MAX = 2**32 - 1

SeedLike = int | np.random.Generator | None


def as_generator(seed: SeedLike) -> np.random.Generator:
    """Return a ``numpy.random.Generator`` for ``seed`` (an int, a Generator, or None)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        return np.random.default_rng()
    return np.random.default_rng(check_int("seed", seed, min_value=0))


def spawn_seeds(seed: int, n: int) -> list[int]:
    """``n`` independent child seeds derived from ``seed`` with ``SeedSequence.spawn``."""
    check_int("seed", seed, min_value=0)
    check_int("n", n, min_value=0)
    children = np.random.SeedSequence(seed).spawn(n)
    return [int(c.generate_state(1, dtype=np.uint32)[0]) for c in children]


def torch_generator(seed: int, device: str = "cpu") -> torch.Generator:
    """A seeded ``torch.Generator`` (used for data order, dropout masks stay global)."""
    import torch

    g = torch.Generator(device=device)
    g.manual_seed(check_int("seed", seed, min_value=0))
    return g


@contextmanager
def torch_seeded(seed: int, *, cuda: bool = False) -> Iterator[None]:
    """Run a block with torch's global RNG seeded, restoring the caller's RNG state after.

    Model initialisation and dropout draw from torch's global generator; forking it keeps
    results reproducible without leaking state into the user's session.
    """
    import torch

    devices: list[int] = list(range(torch.cuda.device_count())) if cuda else []
    with torch.random.fork_rng(devices=devices, enabled=True):
        torch.manual_seed(check_int("seed", seed, min_value=0))
        yield
