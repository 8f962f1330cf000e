"""The corpus archives' own `commands/*.sh`, unchanged, run by clara through `medl.apps.*`:
deepgrow_2D trains, exports and validates on phantom slices with only data paths and CPU sizes
given; pathology (whole-slide images) is refused with one message naming the reader."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _copy(corpus: Path, name: str, tmp_path: Path) -> Path:
    """The archive as its user would have it: the files unchanged, in a folder of their own
    (the scripts write models/ and eval/ beside their config/)."""
    return Path(shutil.copytree(corpus / name, tmp_path / name))


def _script(mmar: Path, name: str, *extra: str, timeout: int = 900) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONPATH"] = str(REPO)  # set_env.sh appends the archive's custom/
    for name_ in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name_, None)
    return subprocess.run(
        ["bash", str(mmar / "commands" / name), *extra],
        cwd=mmar,
        env=env,
        capture_output=True,
        encoding="utf-8",
        errors="replace",
        timeout=timeout,
    )


@pytest.mark.parametrize(
    ("script", "config", "where"),
    [
        ("train.sh", "config_train.json", "train.dataset: PatchWSIDataset"),
        ("export.sh", "config_train.json", "train.dataset: PatchWSIDataset"),
        ("validate.sh", "config_validation.json", "dataset: PatchWSIDataset"),
        ("infer.sh", "config_inference.json", "dataset: MaskedInferenceWSIDataset"),
    ],
)
def test_pathology_scripts_are_refused_naming_the_whole_slide_reader(
    corpus, tmp_path, script, config, where
):
    mmar = _copy(corpus, "pathology", tmp_path)
    result = _script(mmar, script, timeout=300)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert errors == [
        f"Error: {mmar / 'config' / config}: {where} reads whole-slide images with cuCIM, "
        "which is not installed: pip install cucim (or openslide-python with "
        "image_reader_name 'OpenSlide'); clara cannot run this config without it"
    ]
    assert "Traceback" not in result.stderr + result.stdout
    assert not (mmar / "models").exists() and not (mmar / "eval").exists()


@pytest.fixture
def deepgrow_2d_slices(tmp_path_factory) -> Path:
    """One training and one validation 2D slice of a phantom abdomen (DeepGrow layout)."""
    from clara_cli.data.deepgrow import prepare_deepgrow
    from clara_cli.families.deepgrow.phantom import AbdomenOptions, synthesize_abdomen

    root = tmp_path_factory.mktemp("dg2d_data")
    synthesize_abdomen(root / "raw", num_cases=2, options=AbdomenOptions(in_plane_size=32))
    datalist = prepare_deepgrow(root / "raw", root / "dg", dimensions=2, pixdim=[2, 2]).datalist
    items = json.loads(Path(datalist).read_text(encoding="utf-8"))
    small = {"training": items["training"][:1], "validation": items["validation"][:1]}
    path = root / "one_each.json"
    path.write_text(json.dumps(small), encoding="utf-8")
    return path


def test_deepgrow_2d_trains_exports_and_validates_through_its_own_scripts(
    corpus, tmp_path, deepgrow_2d_slices
):
    mmar = _copy(corpus, "deepgrow_2D", tmp_path)
    data = ["DATA_ROOT=/", f"DATASET_JSON={deepgrow_2d_slices}"]
    # Its spatial sizes, batch sizes and networks are literals: only epochs can shrink.
    train = _script(mmar, "train.sh", *data, "epochs=1")
    assert train.returncode == 0, train.stderr[-3000:]
    stats = json.loads((mmar / "models" / "train_stats.json").read_text(encoding="utf-8"))
    assert stats["total_epochs"] == 1 and stats["best_key_metric_epoch"] == 1
    # Clara's name for the best key metric's checkpoint: what export.sh reads.
    assert (mmar / "models" / "model.pt").is_file()
    # Its PersistentDataset has no cache_dir (optional in MONAI 0.x): cached beside models/.
    assert any((mmar / "cache" / "persistent" / "train").glob("*.pt"))
    export = _script(mmar, "export.sh")
    assert export.returncode == 0, export.stderr[-3000:]
    assert (mmar / "models" / "model.ts").is_file()
    validate = _script(mmar, "validate.sh", *data)
    assert validate.returncode == 0, validate.stderr[-3000:]
    assert "Traceback" not in validate.stderr
    assert any((mmar / "eval" / "segs").glob("*.png"))  # its custom SegmentationSaver
    assert (mmar / "eval" / "val_dice_raw.csv").is_file()  # its MetricsSaver
