"""`clara train` that must fail loudly: divergence, NaN images, a label on another grid than
its image."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from click.testing import CliRunner

from clara_cli.cli.main import cli


def _train(mmar, *overrides: str):
    args = ["train", "-m", str(mmar), "--device", "cpu", "--set", "epochs=1", *overrides]
    return CliRunner().invoke(cli, args)


def _all_finite(path) -> bool:
    state = torch.load(path, weights_only=True)
    return all(torch.isfinite(t).all() for t in state["model"].values() if t.is_floating_point())


@pytest.mark.slow
def test_a_diverging_run_stops_at_the_first_nan_loss_and_writes_no_checkpoint(mmar_41):
    result = _train(mmar_41, "learning_rate=1e30")

    assert result.exit_code == 1
    assert "Error: training stopped: the loss is nan at epoch 1, iteration" in result.output
    assert "cases in this batch: " in result.output and "spleen_" in result.output
    assert "Traceback" not in result.output
    assert not list((mmar_41 / "models").glob("*.pt"))  # no NaN model, final or best


@pytest.mark.slow
def test_an_image_with_nan_voxels_is_named_before_training(mmar_41, tmp_path):
    import json
    import shutil

    data = tmp_path / "data"
    shutil.copytree(mmar_41 / "data", data)
    datalist = json.loads((data / "dataset_0.json").read_text(encoding="utf-8"))
    bad = data / datalist["training"][1]["image"]
    image = sitk.ReadImage(str(bad), sitk.sitkFloat32)
    array = sitk.GetArrayFromImage(image)
    array[2, 2, 2:5] = np.nan
    poisoned = sitk.GetImageFromArray(array)
    poisoned.CopyInformation(image)
    sitk.WriteImage(poisoned, str(bad))

    result = _train(mmar_41, f"DATA_ROOT={data}", f"DATASET_JSON={data / 'dataset_0.json'}")

    assert result.exit_code == 1
    assert f"Error: {bad}: the image holds 3 NaN voxel(s)" in result.output
    assert "Traceback" not in result.output and " object at 0x" not in result.output
    assert not (mmar_41 / "models").exists()


@pytest.mark.slow
def test_a_label_on_another_grid_than_its_image_is_refused_naming_both(mmar_41, tmp_path):
    import json
    import shutil

    data = tmp_path / "data"
    shutil.copytree(mmar_41 / "data", data)
    datalist = json.loads((data / "dataset_0.json").read_text(encoding="utf-8"))
    case = datalist["validation"][0]
    label = sitk.ReadImage(str(data / case["label"]))
    sitk.WriteImage(label[:, :, :-2], str(data / case["label"]))

    result = _train(mmar_41, f"DATA_ROOT={data}", f"DATASET_JSON={data / 'dataset_0.json'}")

    assert result.exit_code == 1
    assert "validate.dataset: image and label are not on the same grid" in result.output
    assert f"{data / case['image']} / {data / case['label']}: size (" in result.output
    assert "Traceback" not in result.output
    assert not list((mmar_41 / "models").glob("*.pt"))
