"""Shared fixtures: tiny synthetic volumes (anisotropic, non-zero origin, flipped direction),
DICOM series, small spleen phantoms, and tiny MMARs copied from tests/fixtures."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def restore_global_flags():
    """Seeded runs switch on deterministic algorithms process-wide; restore them after each test."""
    saved = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
    )
    yield
    torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[2], saved[3]


REPO = Path(__file__).parent.parent


@pytest.fixture(scope="session")
def clara_examples() -> Path:
    """../shared/conformance/clara-examples beside the checkout (or its worktree folder): the
    real Clara 4.x archives, read only."""
    for parent in REPO.resolve().parents:
        candidate = parent / "shared" / "conformance" / "clara-examples"
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"no shared/conformance/clara-examples above {REPO}")


@pytest.fixture
def warnings_seen(caplog):
    """Clara's warnings from here on, as a function returning their messages; the
    once-per-run shim warnings are reset so that each test sees its own."""
    from clara_cli.registry import shims

    shims._reported.clear()
    caplog.set_level(logging.WARNING, logger="clara")
    logger = logging.getLogger("clara")
    propagate, logger.propagate = logger.propagate, True
    yield lambda: [r.getMessage() for r in caplog.records if r.name == "clara"]
    logger.propagate = propagate


@pytest.fixture
def count_modules(monkeypatch) -> list[str]:
    """The class names of the torch.nn.Modules built from here on. The component tables are
    loaded first: importing them is allowed, building a component is what is counted."""
    from clara_cli.registry import builtin

    for kind in builtin._MODULES:
        builtin.registry(kind).names()
    created: list[str] = []
    original = torch.nn.Module.__init__

    def counting(self, *args, **kwargs):
        created.append(type(self).__name__)
        original(self, *args, **kwargs)

    monkeypatch.setattr(torch.nn.Module, "__init__", counting)
    return created


@pytest.fixture(scope="session")
def phantom_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six small spleen phantoms (48 x 48 in-plane, 40-50 mm long): 4 training, 2 validation.

    The datalist's `test` list holds the validation images (for inference configs).
    """
    import json

    from clara_cli.families.spleen.phantom import PhantomOptions, synthesize_spleen

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
def trained_41(mmar_41: Path) -> Path:
    """mmar_41 with a random-weight checkpoint (saved with its train_conf) and the spleen
    MMAR's inference config, which runs on this MMAR's 2 mm grid and small window."""

    from clara_cli.engine.model_loading import build_network
    from clara_cli.workflows.session import RunRequest, open_session

    session = open_session(RunRequest(mmar_41, "config/config_train.json", device="cpu"))
    network = build_network(session.conf, session, "test")
    (mmar_41 / "models").mkdir()
    torch.save(
        {"model": network.state_dict(), "train_conf": session.conf}, mmar_41 / "models" / "model.pt"
    )
    repo = Path(__file__).resolve().parents[1]
    shutil.copy(
        repo / "mmars" / "clara_pt_spleen_ct_segmentation" / "config" / "config_inference.json",
        mmar_41 / "config",
    )
    return mmar_41


class BandNet(torch.nn.Module):
    """Two-class scores: foreground where the smoothed, scaled intensity is in the spleen band
    (a weightless stand-in for a trained spleen model on the phantoms)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        smooth = torch.nn.functional.avg_pool3d(x, 3, stride=1, padding=1, count_include_pad=False)
        foreground = 40.0 * torch.minimum(smooth - 0.70, 0.92 - smooth)
        return torch.cat([-foreground, foreground], dim=1)


@pytest.fixture(scope="session")
def band_model(tmp_path_factory) -> Path:
    """BandNet saved as TorchScript, for MMAR_TORCHSCRIPT."""
    path = tmp_path_factory.mktemp("model") / "band.ts"
    torch.jit.save(torch.jit.script(BandNet()), str(path))
    return path


@pytest.fixture
def mmar_40(tmp_path: Path, phantom_dir: Path) -> Path:
    """A tiny Clara 4.0 (implicit wiring, MONAI 0.x spellings) MMAR."""
    return copy_mmar("mmar_40", tmp_path, phantom_dir)


SPACING = (0.8, 0.8, 2.5)
ORIGIN = (-12.0, 30.5, 7.25)
FLIPPED = (-1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, -1.0)


def sphere_ct(
    size: tuple[int, int, int] = (24, 20, 16), seed: int = 0
) -> tuple[sitk.Image, sitk.Image]:
    """An int16 "CT" (air around a 40 HU body with a 130 HU sphere) and its uint8 label."""
    rng = np.random.default_rng(seed)
    nx, ny, nz = size
    z, y, x = np.meshgrid(
        (np.arange(nz) - nz / 2) * SPACING[2],
        (np.arange(ny) - ny / 2) * SPACING[1],
        (np.arange(nx) - nx / 2) * SPACING[0],
        indexing="ij",
    )
    array = np.full((nz, ny, nx), -1000, dtype=np.int16)
    array[1:-1, 2:-2, 2:-2] = 40
    inside = x**2 + y**2 + z**2 <= (0.35 * nx * SPACING[0]) ** 2
    array[inside] = 130
    array += rng.integers(-5, 6, array.shape).astype(np.int16)
    image = sitk.GetImageFromArray(array)
    label = sitk.GetImageFromArray(inside.astype(np.uint8))
    for item in (image, label):
        item.SetSpacing(SPACING)
        item.SetOrigin(ORIGIN)
        item.SetDirection(FLIPPED)
    return image, label


@pytest.fixture
def ct_pair() -> tuple[sitk.Image, sitk.Image]:
    return sphere_ct()


@pytest.fixture
def make_ct_pair():
    """A factory: make_ct_pair(size=(24, 20, 16), seed=0) -> (image, label)."""
    return sphere_ct


def write_dicom_series(
    image: sitk.Image,
    folder,
    series_uid: str,
    description: str = "phantom",
    *,
    tags: dict[str, str] | None = None,
    positions=None,
    decimals: int = 6,
    reverse_files: bool = False,
):
    """Write a 3D int16 image as a DICOM series (one file per slice) that keeps its geometry.

    `tags` are added to every slice (e.g. PatientID "0010|0020"); `positions` replace the
    slices' ImagePositionPatient (as scanners write them: jittered, tilted); `decimals` rounds
    them; `reverse_files` numbers the files and instances against the slice order.
    """
    from pathlib import Path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    direction = np.asarray(image.GetDirection()).reshape(3, 3)
    orientation = "\\".join(f"{v:.6f}" for v in (*direction[:, 0], *direction[:, 1]))
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for k in range(image.GetDepth()):
        slice_ = image[:, :, k]
        if positions is None:
            position = image.TransformIndexToPhysicalPoint((0, 0, k))
        else:
            position = positions[k]
        number = image.GetDepth() - k if reverse_files else k + 1
        slice_tags = {
            "0008|0060": "CT",
            "0008|103e": description,
            "0020|000d": series_uid + ".0",
            "0020|000e": series_uid,
            "0020|0013": str(number),
            "0020|0032": "\\".join(f"{v:.{decimals}f}" for v in position),
            "0020|0037": orientation,
            "0028|0030": f"{image.GetSpacing()[1]:.6f}\\{image.GetSpacing()[0]:.6f}",
            "0018|0050": f"{image.GetSpacing()[2]:.6f}",
            "0008|0018": f"{series_uid}.{number}",
            **(tags or {}),
        }
        for key, value in slice_tags.items():
            slice_.SetMetaData(key, value)
        writer.SetFileName(str(folder / f"{series_uid}_{number - 1:03d}.dcm"))
        writer.Execute(slice_)
    return folder


@pytest.fixture
def dicom_writer():
    """write_dicom_series(image, folder, series_uid, description="phantom") -> folder."""
    return write_dicom_series
