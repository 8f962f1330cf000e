"""The archive end to end on tiny phantoms: a "012" model, fused over the three axes, and
inference along one axis on NRRD inputs, written on each input's own grid."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from clara_cli.families import run_for_archive
from clara_cli.families.cervical.phantom import PhantomOptions, synthesize_cspine
from clara_cli.workflows.infer import InferOptions
from clara_cli.workflows.session import RunRequest

MMAR = Path(__file__).resolve().parents[2] / "mmars" / "cervical_spine_segmentation"
TINY = {
    "epochs": 1,
    "num_interval_per_valid": 1,
    "pixdim": [3.0, 3.0, 3.0],
    "slice_size": [32, 32],
    "random_encoder": "resnet18",
    "encoder_depth": 3,
    "divisible": 8,
    "num_samples": 4,
    "amp": False,
}


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    root = tmp_path_factory.mktemp("cervical")
    mmar = root / "mmar"
    shutil.copytree(MMAR, mmar, ignore=shutil.ignore_patterns("models", "eval", "runs", "data"))
    synthesize_cspine(root / "data", 4, seed=3, options=PhantomOptions(size=48), train_fraction=0.5)
    return mmar, root / "data"


def _run(command, mmar, config, options=None, **overrides):
    request = RunRequest(mmar, config, overrides=overrides, device="cpu")
    return run_for_archive(command, request, options)


@pytest.mark.slow
def test_012_model_trains_and_fuses_over_the_three_axes(archive):
    mmar, data = archive
    trained = _run(
        "train", mmar, "config/config_train.json", DATA_ROOT=str(data), axis="012", **TINY
    )
    checkpoint = mmar / "models" / "axis012" / "model.pt"
    assert trained.epochs_run == 1 and checkpoint.is_file()
    result = _run(
        "validate",
        mmar,
        "config/config_validation_fusion.json",
        DATA_ROOT=str(data),
        fusion_checkpoints=[str(checkpoint)],
        fusion_axes="012",
        **{k: TINY[k] for k in ("pixdim", "divisible", "amp")},
    )
    assert result.output_dir == mmar / "eval" / "fused"
    assert result.summary["num_cases"] == 2 and 0.0 <= result.summary["mean_dice"] <= 1.0
    assert (mmar / "eval" / "fused" / "metrics_per_case.csv").is_file()


@pytest.mark.slow
def test_inference_along_one_axis_writes_on_each_inputs_grid(archive, tmp_path):
    mmar, data = archive
    _run("train", mmar, "config/config_train.json", DATA_ROOT=str(data), axis=2, **TINY)
    out = tmp_path / "out"
    result = _run(
        "infer",
        mmar,
        "config/config_inference.json",
        InferOptions(output_dir=out, progress=False),
        DATA_ROOT=str(data),
        datalist_key="validation",
        axis=2,
        **{k: TINY[k] for k in ("pixdim", "divisible", "amp")},
    )
    assert not result.failed and len(result.cases) == 2
    validation = json.loads((data / "dataset_0.json").read_text())["validation"]
    for item in validation:
        source = sitk.ReadImage(str(data / item["image"]))
        name = Path(item["image"]).name.removesuffix(".nrrd")
        seg = sitk.ReadImage(str(out / f"{name}_seg.nii.gz"))
        assert seg.GetSize() == source.GetSize()
        assert np.allclose(seg.GetDirection(), source.GetDirection())
        assert np.allclose(seg.GetOrigin(), source.GetOrigin(), atol=1e-3)
        assert set(np.unique(sitk.GetArrayViewFromImage(seg))) <= {0, 1}
