"""One seeding call for every source of randomness (random, numpy, torch)."""

from __future__ import annotations

import random

import numpy as np
import torch


def set_seed(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; return a torch Generator seeded the same way.

    A seed of 0 is a seed like any other (some codebases treat 0 as "no seed": not here).
    """
    if seed is None or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(int(seed))


def rng(seed: int) -> np.random.Generator:
    """A numpy Generator for index sampling that does not touch global state."""
    return np.random.default_rng(seed)
