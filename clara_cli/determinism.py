"""Seeded, deterministic runs: ``determinism.random_seed`` in an MMAR config.

Call :func:`seed_everything` in every worker after :func:`init_distributed` and before
building the model and the data pipeline. Every rank gets the *same* seed: the networks start
identical (DDP also broadcasts rank 0's weights) and, since each rank reads a disjoint shard of
the datalist, identical random streams do not repeat samples. If the data pipeline should draw
different random numbers on each rank (e.g. random crops of a shared cache), reseed it with
:func:`rank_seed` after the model is built.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

# cuBLAS needs a fixed workspace for deterministic matmuls; it reads this when CUDA starts.
_CUBLAS_WORKSPACE = ":4096:8"
_MAX_SEED = 2**32


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed Python, NumPy, torch (all devices) and MONAI; optionally ask for determinism.

    Args:
        seed: the random seed (taken modulo 2**32, as NumPy requires).
        deterministic: also make cuDNN deterministic, turn off its autotuner and call
            ``torch.use_deterministic_algorithms(True, warn_only=True)`` (an operation with
            no deterministic version warns instead of failing). Set ``CUBLAS_WORKSPACE_CONFIG``
            unless the user set it; it must happen before the first CUDA matmul.
    """
    seed = int(seed) % _MAX_SEED
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", _CUBLAS_WORKSPACE)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    _seed_monai(seed, deterministic)
    if deterministic:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        torch.use_deterministic_algorithms(True, warn_only=True)


def rank_seed(seed: int, rank: int) -> int:
    """A distinct, reproducible seed per rank: ``(seed + rank) % 2**32``."""
    return (int(seed) + int(rank)) % _MAX_SEED


def _seed_monai(seed: int, deterministic: bool) -> None:
    # MONAI keeps its own global seed, used to seed randomizable transforms and datasets.
    from monai.utils import set_determinism

    # set_determinism always makes cuDNN deterministic; restore its flags when not asked to.
    flags = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    set_determinism(seed=seed)
    if not deterministic:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = flags
