"""NRRD and MetaImage cases train, validate and infer like NIfTI ones (one reader everywhere).

MONAI alone has no NRRD/MetaImage reader without the `itk` or `pynrrd` packages; the wiring
rule `readers.simpleitk` gives every LoadImage(d) clara's SimpleITK reader for them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from clara_cli.workflows.infer import InferOptions, infer
from clara_cli.workflows.session import RunRequest
from clara_cli.workflows.train import train
from clara_cli.workflows.validate import validate

REPO = Path(__file__).resolve().parents[2]
SPLEEN = REPO / "mmars" / "clara_pt_spleen_ct_segmentation"


def _convert(phantom_data: Path, root: Path) -> tuple[Path, list[dict[str, str]]]:
    """Cases 1-2 as NRRD, 3-4 as MetaImage (.mha), under `root`; a datalist using them."""
    items = []
    for number, suffix in ((1, ".nrrd"), (2, ".nrrd"), (3, ".mha"), (4, ".mha")):
        item = {}
        for kind, key in (("imagesTr", "image"), ("labelsTr", "label")):
            source = phantom_data / kind / f"spleen_{number:02d}.nii.gz"
            target = root / kind / f"spleen_{number:02d}{suffix}"
            target.parent.mkdir(parents=True, exist_ok=True)
            image = sitk.ReadImage(str(source))
            for field in image.GetMetaDataKeys():  # NIfTI header fields MetaImage cannot hold
                image.EraseMetaData(field)
            sitk.WriteImage(image, str(target))
            item[key] = str(target)
        items.append(item)
    datalist = {"training": [items[0], items[2]], "validation": [items[1], items[3]]}
    path = root / "datalist.json"
    path.write_text(json.dumps(datalist), encoding="utf-8")
    return path, items


@pytest.mark.slow
def test_nrrd_and_mha_cases_train_validate_and_infer(tiny_mmar, phantom_data, band_model, tmp_path):
    datalist, items = _convert(phantom_data, tmp_path / "formats")
    overrides = {"DATASET_JSON": str(datalist), "epochs": 1}
    trained = train(
        RunRequest(tiny_mmar, "config/config_train.json", overrides=overrides, device="cpu")
    )
    assert trained.epochs_run == 1 and all(np.isfinite(trained.losses))
    result = validate(
        RunRequest(tiny_mmar, "config/config_validation.json", overrides=overrides, device="cpu")
    )
    assert sorted(row["case"] for row in result.rows) == ["spleen_02", "spleen_04"]  # .nrrd, .mha
    assert all(0.0 <= row["dice"]["spleen"] <= 1.0 for row in result.rows)

    spleen = {
        "MMAR_TORCHSCRIPT": str(band_model),
        "MMAR_CKPT_DIR": str(tmp_path / "models"),
        "dont_load_ts_model": False,
        "dont_load_ckpt_model": True,
        "pixdim": [2.0, 2.0, 2.0],
        "roi_size": [32, 32, 32],
        "amp": False,
    }
    request = RunRequest(SPLEEN, "config/config_inference.json", overrides=spleen, device="cpu")
    outputs = {}
    for item in (items[1], items[3]):  # one NRRD, one MetaImage input
        nifti = phantom_data / "imagesTr" / Path(item["image"]).name.split(".")[0]
        for source in (Path(item["image"]), nifti.with_suffix(".nii.gz")):
            out = tmp_path / "out" / source.name
            [case] = infer(
                request, InferOptions(input=source, output_dir=out, progress=False)
            ).cases
            assert case.error is None, case.error
            outputs[source.name] = sitk.ReadImage(str(case.segmentation))
        image = sitk.ReadImage(item["image"])
        got, expected = outputs[Path(item["image"]).name], outputs[nifti.name + ".nii.gz"]
        assert got.GetSize() == image.GetSize()
        np.testing.assert_allclose(got.GetOrigin(), image.GetOrigin(), atol=1e-4)
        np.testing.assert_allclose(got.GetDirection(), image.GetDirection(), atol=1e-6)
        # the same segmentation as from the NIfTI file: identical geometry on reading
        np.testing.assert_array_equal(sitk.GetArrayFromImage(got), sitk.GetArrayFromImage(expected))
        assert sitk.GetArrayFromImage(got).any()
