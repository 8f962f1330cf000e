"""The BraTS phantom: contrasts per channel, nested labels, geometry, both datalist layouts."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk
from click.testing import CliRunner

from clara_cli.cli.main import cli
from clara_cli.errors import DataError
from clara_cli.families.brats.phantom import (
    CHANNELS,
    PhantomOptions,
    make_brats_phantom,
    synthesize_brats,
)

SMALL = PhantomOptions(size=40)


@pytest.fixture(scope="module")
def case():
    images, label = make_brats_phantom((0, 3), SMALL)
    arrays = {
        name: sitk.GetArrayFromImage(i).astype(float)
        for name, i in zip(CHANNELS, images, strict=True)
    }
    return images, label, arrays, sitk.GetArrayFromImage(label)


def test_labels_are_brats_values_and_every_region_is_present(case):
    _, label, _, labels = case
    assert label.GetPixelID() == sitk.sitkUInt8
    assert set(np.unique(labels).tolist()) == {0, 1, 2, 4}


def test_core_is_nested_inside_rim_inside_oedema(case):
    from scipy.ndimage import binary_dilation

    _, _, arrays, labels = case
    brain = arrays["t1c"] > 0
    necrosis, tumour_core, whole = labels == 1, np.isin(labels, (1, 4)), labels > 0
    # Grown by one voxel (within the brain), the necrosis stays inside the core and the core
    # inside the whole tumour: nested shells, not regions side by side.
    assert not (binary_dilation(necrosis) & brain & ~tumour_core).any()
    assert not (binary_dilation(tumour_core) & brain & ~whole).any()
    assert (whole & ~tumour_core).sum() > tumour_core.sum() > necrosis.sum() > 0


def test_contrasts_differ_per_channel_as_in_real_scans(case):
    _, _, arrays, labels = case
    brain = arrays["t1c"] > 0
    healthy = brain & (labels == 0)

    def median(channel: str, mask: np.ndarray) -> float:
        return float(np.median(arrays[channel][mask]))

    enhancing, oedema = labels == 4, labels == 2
    # Enhancing rim: bright in T1c (contrast agent), not in T1.
    assert median("t1c", enhancing) > 1.3 * median("t1c", healthy)
    assert median("t1", enhancing) < median("t1", healthy)
    # Oedema: bright in T2 and FLAIR.
    for channel in ("t2", "flair"):
        assert median(channel, oedema) > 1.3 * median(channel, healthy)


def test_skull_stripped_with_one_brain_mask_and_one_geometry(case):
    images, label, arrays, _ = case
    masks = [arrays[name] > 0 for name in CHANNELS]
    for mask in masks[1:]:
        assert np.array_equal(mask, masks[0])
    assert 0.1 < masks[0].mean() < 0.6
    for image in images:
        assert image.GetPixelID() == sitk.sitkInt16
        assert image.GetSpacing() == label.GetSpacing() == (1.0, 1.0, 1.0)
        assert image.GetOrigin() == label.GetOrigin()
        assert image.GetDirection() == label.GetDirection()


def test_same_seed_same_case_other_seed_other_tumour():
    first = sitk.GetArrayFromImage(make_brats_phantom((0, 1), SMALL)[1])
    again = sitk.GetArrayFromImage(make_brats_phantom((0, 1), SMALL)[1])
    other = sitk.GetArrayFromImage(make_brats_phantom((0, 2), SMALL)[1])
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_too_small_is_refused():
    with pytest.raises(DataError, match="at least 24 voxels"):
        make_brats_phantom(0, PhantomOptions(size=16))


def test_the_two_layouts_hold_the_same_cases(tmp_path):
    files = synthesize_brats(tmp_path / "files", 2, seed=4, options=PhantomOptions(size=24))
    four_d = synthesize_brats(
        tmp_path / "4d", 2, seed=4, options=PhantomOptions(size=24), layout="4d"
    )
    files_items = json.loads(files.read_text())
    four_d_items = json.loads(four_d.read_text())
    item = files_items["training"][0]
    assert [p.rsplit("_", 1)[1] for p in item["image"]] == [f"{c}.nii.gz" for c in CHANNELS]
    case = item["label"].rsplit("/", 1)[1]
    packed = next(i for i in four_d_items["training"] if i["label"].endswith(case))
    volume = sitk.ReadImage(str(tmp_path / "4d" / packed["image"]))
    assert volume.GetDimension() == 4 and volume.GetSize()[3] == len(CHANNELS)
    stacked = sitk.GetArrayFromImage(volume)  # (channel, z, y, x)
    for index, path in enumerate(item["image"]):
        channel = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "files" / path)))
        assert np.array_equal(stacked[index], channel)
    msd = json.loads((tmp_path / "4d" / "dataset.json").read_text())
    assert msd["modality"] == {"0": "T1C", "1": "T1", "2": "T2", "3": "FLAIR"}
    assert set(msd["labels"]) == {"0", "1", "2", "4"}


def test_clara_synth_lists_and_writes_both_layouts(tmp_path):
    runner = CliRunner()
    listed = runner.invoke(cli, ["synth", "--help"])
    assert "brats" in listed.output and "brats-4d" in listed.output
    for name in ("brats", "brats-4d"):
        out = tmp_path / name
        result = runner.invoke(cli, ["synth", name, "-o", str(out), "-n", "2", "--size", "24"])
        assert result.exit_code == 0, result.output
        expected = 2 * len(CHANNELS) if name == "brats" else 2
        assert len(list((out / "imagesTr").iterdir())) == expected
