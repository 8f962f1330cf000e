"""Shared fixtures: small spleen phantoms and tiny MMARs copied from tests/fixtures."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).parent.parent


@pytest.fixture(scope="session")
def phantom_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six small spleen phantoms (48 x 48 in-plane, 40-50 mm long): 4 training, 2 validation.

    The datalist's `test` list holds the validation images (for inference configs).
    """
    import json

    from clara_cli.data.synth import PhantomOptions, synthesize_spleen

    root = tmp_path_factory.mktemp("phantoms")
    options = PhantomOptions(in_plane_size=48, z_extent_mm=(40.0, 50.0))
    datalist_path = synthesize_spleen(
        root, num_cases=6, seed=0, options=options, train_fraction=0.67
    )
    datalist = json.loads(datalist_path.read_text())
    datalist["test"] = [{"image": item["image"]} for item in datalist["validation"]]
    datalist_path.write_text(json.dumps(datalist, indent=2))
    return root


def copy_mmar(name: str, destination: Path, data: Path) -> Path:
    """Copy tests/fixtures/<name> to `destination`, its data/ a link to `data`."""
    root = destination / name
    shutil.copytree(FIXTURES / name, root)
    (root / "data").symlink_to(data, target_is_directory=True)
    return root


@pytest.fixture
def mmar_41(tmp_path: Path, phantom_dir: Path) -> Path:
    """A tiny Clara 4.1 (explicit @wiring) MMAR: a 3-level UNet on 16^3 patches at 2 mm."""
    return copy_mmar("mmar_41", tmp_path, phantom_dir)


@pytest.fixture
def mmar_40(tmp_path: Path, phantom_dir: Path) -> Path:
    """A tiny Clara 4.0 (implicit wiring, MONAI 0.x spellings) MMAR."""
    return copy_mmar("mmar_40", tmp_path, phantom_dir)
