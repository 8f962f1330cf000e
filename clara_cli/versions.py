"""The software stack a run used: clara and the libraries it runs on (`clara --version`).

Read from the installed packages' metadata, so `clara --version` stays instant (no torch
import); a run record adds what only a live torch knows (its CUDA build, the GPUs).
"""

from __future__ import annotations

import platform
from importlib import metadata
from typing import Any

from clara_cli import __version__
from clara_cli.errors import first_line

#: Distribution names, in the order they are shown.
STACK = ("torch", "monai", "pytorch-ignite", "SimpleITK", "numpy", "scipy", "click", "tqdm")


def stack_versions() -> dict[str, str]:
    """clara, Python and each library of STACK: its installed version, or "not installed"."""
    found = {"clara": __version__, "python": platform.python_version()}
    for name in STACK:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def runtime_versions() -> dict[str, Any]:
    """stack_versions() plus torch's CUDA/cuDNN builds and the visible GPUs (imports torch)."""
    import torch

    found: dict[str, Any] = dict(stack_versions())
    found["cuda"] = torch.version.cuda or "none (CPU build)"
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    found["cudnn"] = str(cudnn) if cudnn else "none"
    try:
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        found["gpus"] = [torch.cuda.get_device_name(i) for i in range(count)]
    except (RuntimeError, AssertionError) as err:  # a broken driver must not fail a run
        found["gpus"] = f"unknown: {first_line(err)}"
    found["platform"] = platform.platform()
    return found


def format_versions(versions: dict[str, Any]) -> str:
    """One `name  version` line each, as MONAI's print_config lays them out."""
    width = max(len(name) for name in versions)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in versions.items())
