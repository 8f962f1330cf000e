"""A Clara 4.1-style validation and inference config (MONAI 0.8 meta-dict semantics: ToTensord
last, Invertd with `*_meta_dict` keys, MetricsSaver reading `image_meta_dict`, SaveImaged) runs
unchanged through `clara validate` and `clara infer`, one warning per shim; and so do the real
fl_privacy archive's validation config and the meta-dict parts of deepgrow_2D's."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from click.testing import CliRunner

from clara_cli.cli.main import cli

pytestmark = pytest.mark.slow

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "mmar_41_meta"
CORPUS = Path(__file__).resolve().parents[3] / "shared" / "conformance" / "clara-examples"
if not CORPUS.is_dir():  # worktrees live beside main; CI has shared/ beside the clone
    CORPUS = Path("/work/shared/conformance/clara-examples")
CASES = ("spleen_01", "spleen_02", "spleen_03")


@pytest.fixture(scope="module")
def phantoms(tmp_path_factory) -> Path:
    """`clara synth spleen -n 3 --size 32`, every case in the validation and test lists."""
    root = tmp_path_factory.mktemp("meta_dict_phantoms")
    result = CliRunner().invoke(
        cli, ["synth", "spleen", "-n", "3", "--size", "32", "-o", str(root)]
    )
    assert result.exit_code == 0, result.output
    datalist_path = root / "dataset_0.json"
    datalist = json.loads(datalist_path.read_text(encoding="utf-8"))
    cases = sorted(datalist["training"] + datalist["validation"], key=lambda c: c["image"])
    datalist["validation"] = cases
    datalist["test"] = [{"image": c["image"]} for c in cases]
    datalist_path.write_text(json.dumps(datalist), encoding="utf-8")
    return root


def _torchscript_unet(path: Path) -> None:
    from monai.networks.nets import UNet

    torch.manual_seed(0)
    net = UNet(3, 1, 2, channels=(4, 8, 16), strides=(2, 2)).eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.jit.script(net).save(str(path))


@pytest.fixture
def mmar(tmp_path, phantoms) -> Path:
    root = tmp_path / "mmar_41_meta"
    shutil.copytree(FIXTURE, root)
    (root / "data").symlink_to(phantoms, target_is_directory=True)
    _torchscript_unet(root / "models" / "model.ts")
    return root


def _warnings(output: str) -> list[str]:
    # A warning may follow a progress bar's carriage-return line, so search, not match.
    return re.findall(r"warning: [^\n]*", output)


def _assert_once(warnings: list[str], *texts: str) -> None:
    for text in texts:
        assert sum(text in w for w in warnings) == 1, (text, "\n".join(warnings))


def _assert_on_input_grid(saved: Path, image: Path) -> np.ndarray:
    out, ref = sitk.ReadImage(str(saved)), sitk.ReadImage(str(image))
    assert out.GetSize() == ref.GetSize()
    assert np.allclose(out.GetSpacing(), ref.GetSpacing(), atol=1e-4)
    assert np.allclose(out.GetOrigin(), ref.GetOrigin(), atol=1e-3)
    assert np.allclose(out.GetDirection(), ref.GetDirection(), atol=1e-4)
    array = sitk.GetArrayFromImage(out)
    assert set(np.unique(array)) <= {0, 1}
    return array


def test_meta_dict_clara41_validation_writes_per_case_metrics_and_saved_images(mmar, phantoms):
    result = CliRunner().invoke(cli, ["validate", "-m", str(mmar)])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    _assert_once(
        _warnings(result.output),
        "config_validation.json: pre_transforms[6]: ToTensord's inverse now turns a MetaTensor",
        "post_transforms[1]: Invertd: meta_keys 'pred_meta_dict', 'label_meta_dict'; "
        "orig_meta_keys 'image_meta_dict': MONAI 0.x meta dicts",
        "post_transforms[3]: SaveImaged: meta_keys 'pred_meta_dict': MONAI 0.x meta dicts",
        "handlers[2]: MetricsSaver: batch_transform reads 'image_meta_dict'",
    )
    eval_dir = mmar / "eval"
    # MetricsSaver: one row per case, named by the image's file (from image_meta_dict).
    with (eval_dir / "val_mean_dice_raw.csv").open(encoding="utf-8") as f:
        raw = {Path(r["filename"]).name: float(r["mean"]) for r in csv.DictReader(f)}
    assert sorted(raw) == [f"{c}.nii.gz" for c in CASES]
    with (eval_dir / "metrics.csv").open(encoding="utf-8") as f:
        assert {line.split(",")[0] for line in f if line.strip()} >= {"val_mean_dice", "val_acc"}
    assert (eval_dir / "val_mean_dice_summary.csv").is_file()
    # clara's own recorder scores the same inverted prediction independently.
    with (eval_dir / "metrics_per_case.csv").open(encoding="utf-8") as f:
        ours = {r["case"]: float(r["dice_class_1"]) for r in csv.DictReader(f)}
    for case in CASES:
        assert raw[f"{case}.nii.gz"] == pytest.approx(ours[case], abs=1e-5)
    # SaveImaged: the argmax prediction, back on each input's own grid (its voxels are
    # compared with `clara infer`'s own output in the inference test).
    for case in CASES:
        saved = eval_dir / case / f"{case}_seg.nii.gz"
        array = _assert_on_input_grid(saved, phantoms / "imagesTr" / f"{case}.nii.gz")
        assert array.any()


def test_meta_dict_clara41_inference_writes_saveimaged_outputs(mmar, phantoms):
    result = CliRunner().invoke(cli, ["infer", "-m", str(mmar)])
    assert result.exit_code == 0, result.output
    assert "3 of 3 case(s) segmented" in result.output
    _assert_once(
        _warnings(result.output),
        "config_inference.json: pre_transforms[6]: ToTensord's inverse",
        "config_inference.json: post_transforms[1]: Invertd: meta_keys 'pred_meta_dict'",
        "config_inference.json: post_transforms[3]: SaveImaged: meta_keys 'pred_meta_dict'",
    )
    for case in CASES:
        image = phantoms / "imagesTr" / f"{case}.nii.gz"
        saved = _assert_on_input_grid(mmar / "eval" / case / f"{case}_seg.nii.gz", image)
        ours = sitk.GetArrayFromImage(sitk.ReadImage(str(mmar / "eval" / f"{case}_seg.nii.gz")))
        assert np.array_equal(saved, ours)


@pytest.mark.skipif(not (CORPUS / "fl_privacy").is_dir(), reason="the conformance corpus is absent")
def test_meta_dict_real_fl_privacy_validation_names_its_cases(tmp_path, phantoms):
    root = tmp_path / "fl_privacy"
    shutil.copytree(CORPUS / "fl_privacy", root)
    _torchscript_unet(root / "models" / "model.ts")
    result = CliRunner().invoke(
        cli,
        [
            "validate", "-m", str(root), "--set", f"DATA_ROOT={phantoms}",
            f"DATASET_JSON={phantoms / 'dataset_0.json'}",
            f"MMAR_TORCHSCRIPT={root / 'models' / 'model.ts'}",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    _assert_once(_warnings(result.output), "MetricsSaver: batch_transform reads 'image_meta_dict'")
    with (root / "eval" / "val_mean_dice_raw.csv").open(encoding="utf-8") as f:
        names = sorted(Path(r["filename"]).name for r in csv.DictReader(f))
    assert names == [f"{c}.nii.gz" for c in CASES]


@pytest.mark.skipif(
    not (CORPUS / "deepgrow_2D").is_dir(), reason="the conformance corpus is absent"
)
def test_meta_dict_real_deepgrow_2d_mixed_model_list_uses_the_first_enabled_entry(tmp_path):
    from monai.networks.nets import BasicUNet

    from clara_cli.errors import ConfigError
    from clara_cli.workflows.sections import evaluation_section
    from clara_cli.workflows.session import RunRequest, open_session

    def section(**overrides: str):
        request = RunRequest(
            CORPUS / "deepgrow_2D",
            "config/config_validation.json",
            overrides=overrides,
            device="cpu",
        )
        return evaluation_section(open_session(request))

    # `model`: [a TorchScript loader, the network as a component]; Clara used the first enabled.
    built = section(dont_load_ts_model="true", dont_load_ckpt_model="false")
    assert isinstance(built.get("model"), BasicUNet)
    ts_path = tmp_path / "model.ts"
    torch.jit.script(
        BasicUNet(spatial_dims=2, in_channels=3, out_channels=1, features=(4, 4, 8, 8, 16, 4))
    ).save(str(ts_path))
    loaded = section(MMAR_TORCHSCRIPT=str(ts_path))  # the archive's defaults: TorchScript
    assert isinstance(loaded.get("model"), torch.jit.ScriptModule)
    with pytest.raises(ConfigError, match="every entry is disabled"):
        section(dont_load_ts_model="true", dont_load_ckpt_model="true")
