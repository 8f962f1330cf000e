"""`clara infer` as a library: outputs on the input grid, per-case failures, soft outputs.

The model is a scripted band-pass filter (smoothed intensity inside the spleen's HU window is
foreground), so the segmentations are meaningful without training and the run takes seconds.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from clara_cli.errors import DataError
from clara_cli.report.case_metrics import case_scores
from clara_cli.workflows.infer import InferOptions, infer
from clara_cli.workflows.session import RunRequest

REPO = Path(__file__).resolve().parents[2]
SPLEEN = REPO / "mmars" / "clara_pt_spleen_ct_segmentation"


@pytest.fixture(scope="module")
def phantom_dir(tmp_path_factory) -> Path:
    """Four 96 x 96 phantoms (identity, z-flipped and x/y-flipped directions); two validation.

    Larger than the shared 48 x 48 ones: at 2 mm those are so small that the label's own
    resampling moves the Dice of `clara validate` by more than 0.01.
    """
    from clara_cli.families.spleen.phantom import PhantomOptions, synthesize_spleen

    root = tmp_path_factory.mktemp("phantoms96")
    options = PhantomOptions(in_plane_size=96, z_extent_mm=(70.0, 90.0))
    synthesize_spleen(root, num_cases=4, seed=0, options=options, train_fraction=0.5)
    return root


def spleen_request(config: str, phantom_dir: Path, model: Path, tmp: Path, **extra) -> RunRequest:
    overrides = {
        "DATA_ROOT": str(phantom_dir),
        "DATASET_JSON": str(phantom_dir / "dataset_0.json"),
        "MMAR_TORCHSCRIPT": str(model),
        "MMAR_EVAL_OUTPUT_PATH": str(tmp / "eval"),
        "MMAR_CKPT_DIR": str(tmp / "models"),
        "dont_load_ts_model": False,
        "dont_load_ckpt_model": True,
        "pixdim": [2.0, 2.0, 2.0],
        "roi_size": [32, 32, 32],
        "amp": False,
        **extra,
    }
    return RunRequest(SPLEEN, config, overrides=overrides, device="cpu")


def _geometry(image: sitk.Image) -> tuple:
    return image.GetSize(), image.GetSpacing(), image.GetOrigin(), image.GetDirection()


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * np.count_nonzero(a & b) / max(np.count_nonzero(a) + np.count_nonzero(b), 1))


def _rotated_case(phantom_dir: Path, folder: Path) -> tuple[Path, Path]:
    """A phantom re-declared with axes swapped by a 90-degree rotation and new spacing."""
    direction = (0.0, -1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0)
    paths = []
    for kind in ("imagesTr", "labelsTr"):
        image = sitk.ReadImage(str(phantom_dir / kind / "spleen_01.nii.gz"))
        image.SetDirection(direction)
        image.SetSpacing((0.9, 0.7, 3.3))
        image.SetOrigin((12.5, -40.0, 7.25))
        path = folder / kind / "rotated_01.nii.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        sitk.WriteImage(image, str(path))
        paths.append(path)
    return paths[0], paths[1]


def test_segmentations_have_the_input_geometry_and_overlay_the_label(
    phantom_dir, band_model, tmp_path
):
    images = tmp_path / "images"
    shutil.copytree(phantom_dir / "imagesTr", images)
    rotated, rotated_label = _rotated_case(phantom_dir, tmp_path / "rotated")
    shutil.copy(rotated, images / rotated.name)
    request = spleen_request("config/config_inference.json", phantom_dir, band_model, tmp_path)

    result = infer(request, InferOptions(input=images, output_dir=tmp_path / "out"))

    assert not result.failed
    assert len(result.cases) == 5
    directions = set()
    for case in result.cases:
        image = sitk.ReadImage(case.image)
        seg = sitk.ReadImage(str(case.segmentation))
        assert case.segmentation == tmp_path / "out" / f"{case.name}_seg.nii.gz"
        assert _geometry(seg) == _geometry(image)
        assert seg.GetPixelID() == sitk.sitkUInt8
        directions.add(image.GetDirection())
        label_path = rotated_label if case.name == "rotated_01" else None
        label_path = label_path or phantom_dir / "labelsTr" / Path(case.image).name
        label = sitk.GetArrayFromImage(sitk.ReadImage(str(label_path))) > 0
        pred = sitk.GetArrayFromImage(seg) > 0
        # On the right grid the band filter finds the spleen (on the patient's left); a
        # flipped output would overlap the mirrored label instead.
        assert _dice(pred, label) > 2 * _dice(pred, label[::-1, ::-1, ::-1])
    assert len(directions) >= 3  # identity, flipped axes and the rotated case were all run


@pytest.mark.slow
def test_dice_of_the_output_equals_clara_validate(phantom_dir, band_model, tmp_path):
    from clara_cli.workflows.validate import validate

    validation = validate(
        spleen_request("config/config_validation.json", phantom_dir, band_model, tmp_path)
    )
    request = spleen_request(
        "config/config_inference.json", phantom_dir, band_model, tmp_path, datalist_key="validation"
    )
    result = infer(request, InferOptions(output_dir=tmp_path / "out"))

    assert sorted(c.name for c in result.cases) == sorted(r["case"] for r in validation.rows)
    for row in validation.rows:
        seg = sitk.ReadImage(str(tmp_path / "out" / f"{row['case']}_seg.nii.gz"))
        label = sitk.ReadImage(str(phantom_dir / "labelsTr" / f"{row['case']}.nii.gz"))
        spacing = seg.GetSpacing()[::-1]  # arrays are (z, y, x)
        ours = case_scores(
            sitk.GetArrayFromImage(seg), sitk.GetArrayFromImage(label), spacing, ["spleen"]
        )
        assert ours["dice"]["spleen"] == pytest.approx(row["dice"]["spleen"], abs=0.01)


def test_an_unreadable_input_fails_alone(phantom_dir, band_model, tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    good = images / "good.nii.gz"
    shutil.copy(phantom_dir / "imagesTr" / "spleen_01.nii.gz", good)
    data = good.read_bytes()
    (images / "broken.nii.gz").write_bytes(data[: len(data) // 3])  # truncated download
    (images / "empty.nii.gz").write_bytes(b"")
    request = spleen_request("config/config_inference.json", phantom_dir, band_model, tmp_path)

    result = infer(request, InferOptions(input=images, output_dir=tmp_path / "out"))

    failed = {case.name: case.error for case in result.failed}
    assert sorted(failed) == ["broken", "empty"]
    for name, error in failed.items():
        assert error.startswith(f"cannot read {images / name}.nii.gz: ")
    written = sorted(path.name for path in (tmp_path / "out").iterdir())
    assert written == ["good_seg.nii.gz", "manifest.csv"]


def test_probabilities_sum_to_one_and_argmax_to_the_labels(phantom_dir, band_model, tmp_path):
    request = spleen_request("config/config_inference.json", phantom_dir, band_model, tmp_path)
    image_path = phantom_dir / "imagesTr" / "spleen_02.nii.gz"
    options = InferOptions(input=image_path, output_dir=tmp_path / "out", probabilities=True)

    (case,) = infer(request, options).cases

    prob = sitk.ReadImage(str(case.probabilities))
    assert case.probabilities.name == "spleen_02_prob.nii.gz"
    assert _geometry(prob) == _geometry(sitk.ReadImage(str(image_path)))
    assert prob.GetNumberOfComponentsPerPixel() == 2
    soft = sitk.GetArrayFromImage(prob)  # (z, y, x, class)
    np.testing.assert_allclose(soft.sum(axis=-1), 1.0, atol=1e-5)
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(case.segmentation)))
    np.testing.assert_array_equal(soft.argmax(axis=-1), labels)


def _variant(tmp_path: Path, edit) -> Path:
    """A copy of the spleen MMAR whose config_inference.json is changed by `edit`."""
    root = tmp_path / "mmar"
    shutil.copytree(SPLEEN / "config", root / "config")
    path = root / "config" / "config_inference.json"
    config = json.loads(path.read_text())
    edit(config)
    path.write_text(json.dumps(config))
    return root


def test_invertd_in_the_config_gives_the_same_segmentation(phantom_dir, band_model, tmp_path):
    """The shipped config lets SimpleITK resample onto the input grid; a config ending in
    MONAI's Invertd hands over a prediction already on that grid. Both must agree."""

    def add_invertd(config):
        invert = {"keys": "pred", "transform": "@pre_transforms", "orig_keys": "image"}
        invert["nearest_interp"] = False  # interpolate the scores, as the SimpleITK path does
        config["post_transforms"].append({"name": "Invertd", "args": invert})

    image_path = phantom_dir / "imagesTr" / "spleen_03.nii.gz"  # x and y flipped
    shipped = spleen_request("config/config_inference.json", phantom_dir, band_model, tmp_path)
    (resampled,) = infer(shipped, InferOptions(input=image_path, output_dir=tmp_path / "a")).cases
    variant = spleen_request("config/config_inference.json", phantom_dir, band_model, tmp_path)
    variant.mmar_root = _variant(tmp_path, add_invertd)
    (inverted,) = infer(variant, InferOptions(input=image_path, output_dir=tmp_path / "b")).cases

    a, b = (sitk.ReadImage(str(c.segmentation)) for c in (resampled, inverted))
    assert _geometry(a) == _geometry(b) == _geometry(sitk.ReadImage(str(image_path)))
    # Both interpolate the scores linearly at the same points: at most rounding differs.
    labels_a, labels_b = sitk.GetArrayFromImage(a), sitk.GetArrayFromImage(b)
    assert labels_a.any()
    assert np.count_nonzero(labels_a != labels_b) <= labels_a.size * 1e-4


def test_probabilities_need_a_soft_output(phantom_dir, band_model, tmp_path):
    def discretize(config):
        config["post_transforms"].append(
            {"name": "AsDiscreted", "args": {"keys": "pred", "argmax": True}}
        )

    request = spleen_request("config/config_inference.json", phantom_dir, band_model, tmp_path)
    request.mmar_root = _variant(tmp_path, discretize)
    image_path = phantom_dir / "imagesTr" / "spleen_01.nii.gz"
    options = InferOptions(input=image_path, output_dir=tmp_path / "out", probabilities=True)

    (case,) = infer(request, options).cases

    assert "--probabilities needs soft outputs" in case.error
    assert case.segmentation is None


def test_a_missing_datalist_subset_names_the_way_out(phantom_dir, band_model, tmp_path):
    request = spleen_request(
        "config/config_inference.json", phantom_dir, band_model, tmp_path, datalist_key="holdout"
    )
    with pytest.raises(DataError, match=r"no 'holdout' list[\s\S]*--set datalist_key=NAME"):
        infer(request, InferOptions(output_dir=tmp_path / "out"))


def test_labels_first_give_what_invertd_nearest_and_argmax_give(phantom_dir, band_model, tmp_path):
    """`labels_first` takes the argmax at 2 mm and resamples the uint8 labels by nearest
    neighbour: the segmentation of a config ending in Invertd(nearest_interp=True) +
    AsDiscreted(argmax), on the input's grid, as uint8."""

    def add_invertd_nearest(config):
        invert = {"keys": "pred", "transform": "@pre_transforms", "orig_keys": "image"}
        config["post_transforms"].append({"name": "Invertd", "args": invert})
        config["post_transforms"].append(
            {"name": "AsDiscreted", "args": {"keys": "pred", "argmax": True}}
        )

    image_path = phantom_dir / "imagesTr" / "spleen_03.nii.gz"  # x and y flipped
    lean = spleen_request(
        "config/config_inference.json", phantom_dir, band_model, tmp_path, labels_first=True
    )
    (first,) = infer(lean, InferOptions(input=image_path, output_dir=tmp_path / "a")).cases
    variant = spleen_request("config/config_inference.json", phantom_dir, band_model, tmp_path)
    variant.mmar_root = _variant(tmp_path, add_invertd_nearest)
    (inverted,) = infer(variant, InferOptions(input=image_path, output_dir=tmp_path / "b")).cases

    a, b = (sitk.ReadImage(str(c.segmentation)) for c in (first, inverted))
    assert _geometry(a) == _geometry(b) == _geometry(sitk.ReadImage(str(image_path)))
    assert a.GetPixelID() == sitk.sitkUInt8
    labels_a, labels_b = sitk.GetArrayFromImage(a), sitk.GetArrayFromImage(b)
    assert labels_a.any()
    # Nearest-neighbour picks at half-voxel ties may differ; nothing else.
    assert np.count_nonzero(labels_a != labels_b) <= labels_a.size * 1e-3
