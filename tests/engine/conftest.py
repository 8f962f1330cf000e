"""A tiny MMAR (3D UNet 4-8-16, 16^3 patches) on 7 small phantoms, for the workflow tests.

`tests/engine/data/tiny_mmar` is copied per test, so the archive's default folders (models/,
eval/) land under tmp_path; its `custom/faults.py` handler kills or fails a run on request
(`--set kill_at_iteration=5`, `fail_on_rank=1 fail_at_iteration=2`, ...).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

TINY_MMAR = Path(__file__).parent / "data" / "tiny_mmar"


@pytest.fixture(scope="session")
def phantom_data(tmp_path_factory) -> Path:
    from clara_cli.families.spleen.phantom import PhantomOptions, synthesize_spleen

    out = tmp_path_factory.mktemp("phantoms")
    synthesize_spleen(
        out, num_cases=7, seed=0, options=PhantomOptions(in_plane_size=32), overwrite=True
    )
    return out


@pytest.fixture
def tiny_mmar(tmp_path, phantom_data) -> Path:
    """A fresh copy of the tiny MMAR whose data/ is the shared phantom set."""
    return copy_tiny_mmar(tmp_path / "mmar", phantom_data)


def copy_tiny_mmar(root: Path, data: Path) -> Path:
    shutil.copytree(TINY_MMAR, root)
    (root / "data").symlink_to(data, target_is_directory=True)
    return root
