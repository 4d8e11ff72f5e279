import numpy as np
import pytest
import torch

from effdl_kit._core.errors import ConfigError
from effdl_kit._core.rng import as_generator, spawn_seeds, torch_generator, torch_seeded


def test_generators_are_reproducible() -> None:
    assert as_generator(3).integers(0, 10**9) == as_generator(3).integers(0, 10**9)
    g = np.random.default_rng(1)
    assert as_generator(g) is g
    a, b = spawn_seeds(7, 2)
    assert a != b and spawn_seeds(7, 2) == [a, b]
    assert torch.equal(torch.rand(3, generator=torch_generator(5)),
                       torch.rand(3, generator=torch_generator(5)))


def test_torch_seeded_restores_global_state() -> None:
    torch.manual_seed(123)
    expected = torch.rand(2)
    torch.manual_seed(123)
    with torch_seeded(9):
        inside = torch.rand(2)
    after = torch.rand(2)
    assert torch.equal(after, expected)  # the caller's stream continues untouched
    with torch_seeded(9):
        assert torch.equal(torch.rand(2), inside)


def test_bad_seed() -> None:
    with pytest.raises(ConfigError, match="'seed'"):
        as_generator(-1)
