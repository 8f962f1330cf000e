"""`clara synth cspine`: T2-like cervical-spine phantoms in NRRD, spine mask, bias field."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from clara_cli.data.n4 import n4_correct
from clara_cli.errors import DataError
from clara_cli.families.cervical.phantom import (
    PhantomOptions,
    cspine_volumes,
    make_cspine_phantom,
    synthesize_cspine,
)

SMALL = PhantomOptions(size=64)


def _to_lps(image: sitk.Image) -> np.ndarray:
    """The array (z, y, x) with identity direction: x left, y posterior, z head."""
    return sitk.GetArrayFromImage(sitk.DICOMOrient(image, "LPS"))


def test_same_seed_same_bytes_other_seed_other_case():
    a_img, a_mask = make_cspine_phantom((3, 1), SMALL)
    b_img, b_mask = make_cspine_phantom((3, 1), SMALL)
    c_img, _ = make_cspine_phantom((3, 2), SMALL)
    assert (
        sitk.GetArrayViewFromImage(a_img).tobytes() == sitk.GetArrayViewFromImage(b_img).tobytes()
    )
    assert (
        sitk.GetArrayViewFromImage(a_mask).tobytes() == sitk.GetArrayViewFromImage(b_mask).tobytes()
    )
    assert a_img.GetSize() != c_img.GetSize() or not np.array_equal(
        sitk.GetArrayViewFromImage(a_img), sitk.GetArrayViewFromImage(c_img)
    )


@pytest.mark.parametrize("case", [1, 2, 3])
def test_sagittal_geometry_and_types(case):
    image, mask = make_cspine_phantom((0, case))
    assert sitk.GetArrayViewFromImage(image).dtype == np.int16
    assert set(np.unique(sitk.GetArrayViewFromImage(mask))) == {0, 1}
    sx, sy, sz = image.GetSpacing()
    assert sy == sz and sx == pytest.approx(2.5 * sy)  # thick sagittal slices
    nx, ny, nz = image.GetSize()
    assert nz == 128 and 140 <= nz * sz <= 170  # tall: head-feet
    assert nx * sx < ny * sy < nz * sz  # narrow left-right, deeper front-back, tallest
    for getter in ("GetSize", "GetSpacing", "GetOrigin", "GetDirection"):
        assert getattr(image, getter)() == getattr(mask, getter)()


def test_t2_contrast_and_air_around_the_neck():
    volumes = cspine_volumes((0, 1), SMALL)
    image, mask = make_cspine_phantom((0, 1), SMALL)
    array = sitk.GetArrayFromImage(image).astype(float)
    spine = sitk.GetArrayFromImage(mask).astype(bool)
    signal = volumes.signal
    air = signal == 0
    assert 0.02 < air.mean() < 0.4  # air in front of and behind the neck
    assert array[air].mean() < 60  # Rician noise floor only
    csf = signal > 850
    assert csf.any() and signal[csf].mean() > signal[spine].mean() > 150
    assert 0.01 < spine.mean() < 0.10


def test_spine_is_a_column_of_vertebrae_and_discs_along_the_long_axis():
    image, mask = make_cspine_phantom((0, 4))
    spine = _to_lps(mask).astype(bool)
    covered = spine.reshape(spine.shape[0], -1).any(axis=1)
    assert covered.mean() > 0.8  # the column runs through most of the head-feet extent
    volumes = cspine_volumes((0, 4))
    nucleus = (volumes.signal >= 650) & (volumes.signal <= 780) & volumes.spine
    has_disc = nucleus.reshape(nucleus.shape[0], -1).any(axis=1)  # numpy rows = z slices
    discs = int(np.count_nonzero(has_disc[1:] & ~has_disc[:-1]) + has_disc[0])
    assert 5 <= discs <= 7  # 6-8 vertebrae, a disc between each pair


def test_bias_field_is_smooth_multiplicative_and_n4_removes_most_of_it():
    volumes = cspine_volumes((0, 2), PhantomOptions(size=96))
    image, _ = make_cspine_phantom((0, 2), PhantomOptions(size=96))
    log_bias = np.log(volumes.bias)
    assert 0.2 < log_bias.max() - log_bias.min() <= 0.9 + 1e-6  # a factor of 1.2 to 2.5
    body = volumes.signal > 100
    corrected = n4_correct(image)
    estimated = np.log(
        np.maximum(sitk.GetArrayFromImage(image).astype(float), 1.0)
        / np.maximum(sitk.GetArrayFromImage(corrected).astype(float), 1.0)
    )
    truth = log_bias[body] - log_bias[body].mean()
    found = estimated[body] - estimated[body].mean()
    assert np.corrcoef(truth, found)[0, 1] > 0.8
    assert np.std(truth - found) < 0.5 * np.std(truth)


def test_written_as_nrrd_in_msd_layout(tmp_path):
    datalist_path = synthesize_cspine(tmp_path, num_cases=3, seed=2, options=SMALL)
    datalist = json.loads(datalist_path.read_text())
    items = datalist["training"] + datalist["validation"]
    assert len(items) == 3 and all(item["image"].endswith(".nrrd") for item in items)
    description = json.loads((tmp_path / "dataset.json").read_text())
    assert description["modality"] == {"0": "MRI"}
    assert description["labels"] == {"0": "background", "1": "spine"}
    image, mask = make_cspine_phantom((2, 1), SMALL)
    read = sitk.ReadImage(str(tmp_path / "imagesTr" / "cspine_01.nrrd"))
    assert np.array_equal(sitk.GetArrayViewFromImage(read), sitk.GetArrayViewFromImage(image))
    assert read.GetDirection() == image.GetDirection()


def test_nrrd_loads_through_the_configs_reader(tmp_path):
    from monai.transforms import Compose, EnsureChannelFirstd, LoadImaged, Orientationd

    synthesize_cspine(tmp_path, num_cases=2, seed=0, options=SMALL)
    chain = Compose(
        [
            LoadImaged(["image", "label"], reader="clara_cli.io.monai_reader.SimpleITKReader"),
            EnsureChannelFirstd(["image", "label"]),
            Orientationd(["image", "label"], axcodes="RAS", labels=None),
        ]
    )
    data = chain(
        {
            "image": str(tmp_path / "imagesTr" / "cspine_01.nrrd"),
            "label": str(tmp_path / "labelsTr" / "cspine_01.nrrd"),
        }
    )
    _, nx, ny, nz = data["image"].shape
    assert nz == 64 and nx < ny < nz  # RAS: axis 0 left-right (sagittal slices), 2 head-feet
    assert data["label"].sum() > 0


def test_too_small_is_refused():
    with pytest.raises(DataError, match="at least 32"):
        make_cspine_phantom(0, PhantomOptions(size=16))


def test_synth_cli_lists_and_writes_cspine(tmp_path):
    from click.testing import CliRunner

    from clara_cli.cli.main import cli

    runner = CliRunner()
    listing = runner.invoke(cli, ["synth", "--help"])
    assert "cspine" in listing.output
    result = runner.invoke(cli, ["synth", "cspine", "-o", str(tmp_path), "-n", "2", "--size", "48"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "imagesTr").iterdir()) == [
        "cspine_01.nrrd",
        "cspine_02.nrrd",
    ]
