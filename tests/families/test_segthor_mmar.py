"""The SegTHOR archive end to end through the CLI on tiny thorax phantoms: train the
segmenter, the slice classifier and the mask-window stage 2, then validate and infer with
the plain, gated and two-stage configs (one epoch each: wiring, not accuracy)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from click.testing import CliRunner

from clara_cli.cli.main import cli
from clara_cli.families.segthor.phantom import ThoraxOptions, synthesize_thorax

MMAR = Path(__file__).resolve().parents[2] / "mmars" / "segthor_thoracic_oar"
SMALL = [
    "encoder=resnet18", "pixdim=[6,6,-1]", "crop_size=[64,64,-1]", "amp=false",
    "sw_batch_size=32", "cache_rate=1.0", "num_workers=0",
]  # fmt: skip
TRAIN = ["epochs=1", "num_interval_per_valid=1", "slices_per_volume=4", "batch_size=2"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    root = tmp_path_factory.mktemp("segthor")
    data = root / "data"
    synthesize_thorax(data, num_cases=4, seed=3, options=ThoraxOptions(64, (90.0, 110.0)),
                      train_fraction=0.5)  # fmt: skip
    mmar = root / "mmar"
    shutil.copytree(MMAR, mmar, ignore=shutil.ignore_patterns("models", "eval", "data"))
    return mmar, data


def _clara(command: str, mmar: Path, data: Path, *args: str, config: str | None = None):
    sets = [f"DATA_ROOT={data}", f"DATASET_JSON={data / 'dataset_0.json'}", *SMALL]
    extra = ["-c", config] if config else []
    result = CliRunner().invoke(cli, [command, "-m", str(mmar), *extra, *args, "--set", *sets])
    assert result.exit_code == 0, result.output
    return result


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_train_validate_infer_plain_gated_two_stage(archive, tmp_path):
    mmar, data = archive
    models = mmar / "models"
    _clara("train", mmar, data, "--set", *TRAIN)
    assert (models / "model.pt").is_file()

    # plain validation: 3D Dice/HD95 per organ and the leaderboard layout
    _clara("validate", mmar, data)
    rows = _rows(mmar / "eval" / "metrics_per_case.csv")
    assert len(rows) == 2
    assert {"dice_oesophagus", "dice_heart", "dice_trachea", "dice_aorta", "hd95_aorta"} <= set(
        rows[0]
    )
    board = (mmar / "eval" / "leaderboard.md").read_text(encoding="utf-8")
    assert board.startswith("| date | oesophagus | heart | trachea | aorta |")

    # inference: one label map on the input's own grid
    case = json.loads((data / "dataset_0.json").read_text(encoding="utf-8"))["validation"][0][
        "image"
    ]
    _clara("infer", mmar, data, "--input", str(data / case), "--output", str(tmp_path / "out"))
    source = sitk.ReadImage(str(data / case))
    (seg_path,) = (tmp_path / "out").glob("*_seg.nii.gz")
    seg = sitk.ReadImage(str(seg_path))
    assert seg.GetSize() == source.GetSize() and seg.GetDirection() == source.GetDirection()
    assert np.allclose(seg.GetOrigin(), source.GetOrigin()) and np.allclose(
        seg.GetSpacing(), source.GetSpacing()
    )
    assert set(np.unique(sitk.GetArrayFromImage(seg))) <= {0, 1, 2, 3, 4}

    # slice classifier, then validation gated by it
    _clara("train", mmar, data, "--set", *TRAIN, f"MMAR_CKPT_DIR={models / 'classifier'}",
           config="config/config_train_classifier.json")  # fmt: skip
    assert (models / "classifier" / "model.pt").is_file()
    _clara("validate", mmar, data, "--set", "gate_slices=true",
           f"MMAR_EVAL_OUTPUT_PATH={mmar / 'eval_gated'}")  # fmt: skip
    assert len(_rows(mmar / "eval_gated" / "metrics_per_case.csv")) == 2

    # two-stage windows: stage 2 trained on label windows, stage 1 = the plain model
    _clara("train", mmar, data, "--set", *TRAIN, f"MMAR_CKPT_DIR={models / 'mask_window'}",
           config="config/config_train_mask_window.json")  # fmt: skip
    _clara("validate", mmar, data, "--set", f"MMAR_EVAL_OUTPUT_PATH={mmar / 'eval_two'}",
           config="config/config_validation_two_stage.json")  # fmt: skip
    assert (mmar / "eval_two" / "leaderboard.csv").is_file()
    _clara("infer", mmar, data, "--input", str(data / case), "--output", str(tmp_path / "two"),
           config="config/config_inference_two_stage.json")  # fmt: skip
    assert len(list((tmp_path / "two").glob("*_seg.nii.gz"))) == 1
