"""The bad inputs of the robustness corpus: one row per case, across every command.

A case is a name, the command line (with `{mmar}`, `{data}` and `{tmp}` placeholders), an
optional setup that breaks something in the case's own folder, the exit code it must end with
(2: usage, 1: anything else) and the text its single `Error:` line must hold (the file, key
or value at fault).
"""

from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk

SPLEEN = Path(__file__).resolve().parents[2] / "mmars" / "clara_pt_spleen_ct_segmentation"

#: CPU-sized values for the spleen recipe, for the cases that get as far as building it.
TINY = [
    "--set",
    "epochs=1",
    "pixdim=[4,4,4]",
    "roi_size=[32,32,32]",
    "patch_size=[32,32,32]",
    "amp=false",
    "num_workers=0",
    "cache_rate=0",
    "batch_size=1",
    "num_samples=1",
]


@dataclass
class Workspace:
    """A case's folders: `tmp` (its own), `mmar` (a copy of the spleen MMAR in tmp) and
    `data` (the shared phantoms, or the case's own copy once `own_data` was called)."""

    tmp: Path
    mmar: Path
    data: Path

    def own_data(self) -> Path:
        """Copy the shared data into tmp (to break it) and point the MMAR at the copy."""
        copy = self.tmp / "data"
        shutil.copytree(self.data, copy)
        self.data = copy
        set_env(self, DATA_ROOT=str(copy), DATASET_JSON=str(copy / "dataset_0.json"))
        return copy

    def placeholders(self) -> dict[str, str]:
        return {"mmar": str(self.mmar), "data": str(self.data), "tmp": str(self.tmp)}


Setup = Callable[[Workspace], None]


@dataclass(frozen=True)
class Case:
    name: str
    args: list[str]
    names: str  # text the Error: line must hold (placeholders allowed)
    setup: Setup | None = None
    exit_code: int = 1
    marks: tuple[str, ...] = field(default=())


# --- helpers that break things ---------------------------------------------------------------


def set_env(ws: Workspace, **values: str) -> None:
    path = ws.mmar / "config" / "environment.json"
    env = json.loads(path.read_text(encoding="utf-8"))
    env.update(values)
    path.write_text(json.dumps(env, indent=2), encoding="utf-8")


def edit_config(name: str, edit: Callable[[dict], None]) -> Setup:
    def setup(ws: Workspace) -> None:
        path = ws.mmar / "config" / name
        config = json.loads(path.read_text(encoding="utf-8"))
        edit(config)
        path.write_text(json.dumps(config, indent=2), encoding="utf-8")

    return setup


def write_text(relative: str, text: str) -> Setup:
    def setup(ws: Workspace) -> None:
        path = ws.tmp / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")

    return setup


def write_bytes(relative: str, data: bytes) -> Setup:
    def setup(ws: Workspace) -> None:
        path = ws.tmp / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    return setup


def both(*setups: Setup) -> Setup:
    def setup(ws: Workspace) -> None:
        for step in setups:
            step(ws)

    return setup


RANDOM = np.random.default_rng(0).bytes(4096)


def _image(ws: Workspace, index: int = 0) -> Path:
    return sorted((ws.data / "imagesTr").glob("*.nii.gz"))[index]


def truncated_copy(relative: str) -> Setup:
    """tmp/<relative>: the first phantom image cut in half."""

    def setup(ws: Workspace) -> None:
        data = _image(ws).read_bytes()
        path = ws.tmp / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data[: len(data) // 2])

    return setup


def image_2d(relative: str) -> Setup:
    def setup(ws: Workspace) -> None:
        path = ws.tmp / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        sitk.WriteImage(sitk.Image(32, 32, sitk.sitkFloat32), str(path))

    return setup


def break_training_image(how: str) -> Setup:
    """Replace the datalist's training image (in the case's own data copy)."""

    def setup(ws: Workspace) -> None:
        data = ws.own_data()
        datalist = json.loads((data / "dataset_0.json").read_text(encoding="utf-8"))
        path = data / datalist["training"][0]["image"]
        if how == "nan":
            image = sitk.ReadImage(str(path), sitk.sitkFloat32)
            array = sitk.GetArrayFromImage(image)
            array[:] = np.nan
            nan = sitk.GetImageFromArray(array)
            nan.CopyInformation(image)
            sitk.WriteImage(nan, str(path))
        elif how == "label-grid":
            label_path = data / datalist["training"][0]["label"]
            label = sitk.ReadImage(str(label_path))
            sitk.WriteImage(label[:, :, :-3], str(label_path))
        elif how == "missing":
            path.unlink()
        elif how == "truncated":
            content = path.read_bytes()
            path.write_bytes(content[: len(content) // 2])
        elif how == "random":
            path.write_bytes(RANDOM)
        elif how == "empty":
            path.write_bytes(b"")
        elif how == "2d":
            sitk.WriteImage(sitk.Image(32, 32, sitk.sitkFloat32), str(path))
        elif how == "label-7":
            label_path = data / datalist["training"][0]["label"]
            label = sitk.ReadImage(str(label_path))
            array = sitk.GetArrayFromImage(label)
            array[array > 0] = 7
            seven = sitk.GetImageFromArray(array)
            seven.CopyInformation(label)
            sitk.WriteImage(seven, str(label_path))

    return setup


def file_in_the_way(relative: str) -> Setup:
    """tmp/<relative> is a regular file, so no folder can be made below it (even as root)."""

    def setup(ws: Workspace) -> None:
        path = ws.tmp / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("not a folder", encoding="utf-8")

    return setup


def datalist(content: str) -> Setup:
    """The case's own datalist file, set as DATASET_JSON."""

    def setup(ws: Workspace) -> None:
        path = ws.tmp / "datalist.json"
        path.write_text(content, encoding="utf-8")
        set_env(ws, DATASET_JSON=str(path))

    return setup


def checkpoint(content: bytes) -> Setup:
    def setup(ws: Workspace) -> None:
        models = ws.mmar / "models"
        models.mkdir(exist_ok=True)
        (models / "model.pt").write_bytes(content)

    return setup


def dicom_folder(ws: Workspace) -> None:
    folder = ws.tmp / "dicom" / "study"
    folder.mkdir(parents=True)
    for i in range(3):
        (folder / f"IM{i:04d}.dcm").write_bytes(b"\0" * 128 + b"DICM" + RANDOM[:200])


def _set(config: dict, key: str, value: object) -> None:
    config[key] = value


def _train_model_name(name: str) -> Callable[[dict], None]:
    def edit(config: dict) -> None:
        config["train"]["model"]["name"] = name

    return edit


def _train_optimizer_ref(ref: str) -> Callable[[dict], None]:
    def edit(config: dict) -> None:
        config["train"]["lr_scheduler"]["args"]["optimizer"] = ref

    return edit


def _train_loss_arg(config: dict) -> None:
    config["train"]["loss"]["args"]["no_such_argument"] = 1


def _train_variable(config: dict) -> None:
    config["train"]["optimizer"]["args"]["lr"] = "{learnin_rate}"


def _drop_validate(config: dict) -> None:
    del config["train"]["model"]


QUEUE_HEADER = "learning_rate,epochs\n"

# --- the corpus ------------------------------------------------------------------------------

DC = ["dataconvert", "-o", "{tmp}/out"]
TRAIN = ["train", "-m", "{mmar}", "--device", "cpu"]
VALIDATE = ["validate", "-m", "{mmar}", "--device", "cpu"]
INFER = ["infer", "-m", "{mmar}", "--device", "cpu"]
EXPORT = ["export", "-m", "{mmar}"]
CHECK = ["check", "-m", "{mmar}"]

CASES: list[Case] = [
    # the group
    Case("unknown-command", ["trian"], "trian", exit_code=2),
    Case("unknown-option", [*TRAIN, "--epochs", "3"], "--epochs", exit_code=2),
    # dataconvert
    Case("dc-missing-input", [*DC, "-d", "{tmp}/nope"], "nope", exit_code=2),
    Case(
        "dc-output-inside-input",
        ["dataconvert", "-d", "{data}", "-o", "{data}/out"],
        "{data}",
        exit_code=2,
    ),
    Case("dc-output-ext-png", [*DC, "-d", "{data}", "-e", ".png"], ".png", exit_code=2),
    Case("dc-resolution-zero", [*DC, "-d", "{data}", "-r", "0"], "0", exit_code=2),
    Case("dc-resolution-two-values", [*DC, "-d", "{data}", "-r", "1", "2"], "2", exit_code=2),
    Case("dc-jobs-zero", [*DC, "-d", "{data}", "-j", "0"], "--jobs", exit_code=2),
    Case(
        "dc-spacing-tolerance",
        [*DC, "-d", "{data}", "--spacing-tolerance", "2"],
        "--spacing-tolerance",
        exit_code=2,
    ),
    Case("dc-empty-folder", [*DC, "-d", "{tmp}/in"], "{tmp}/in", write_text("in/readme.txt", "x")),
    Case(
        "dc-truncated-nifti",
        [*DC, "-d", "{tmp}/in"],
        "broken.nii.gz",
        truncated_copy("in/broken.nii.gz"),
    ),
    Case(
        "dc-random-bytes",
        [*DC, "-d", "{tmp}/in"],
        "random.nii.gz",
        write_bytes("in/random.nii.gz", RANDOM),
    ),
    Case(
        "dc-empty-file",
        [*DC, "-d", "{tmp}/in"],
        "empty.nii.gz",
        write_bytes("in/empty.nii.gz", b""),
    ),
    Case(
        "dc-text-as-nrrd",
        [*DC, "-d", "{tmp}/in"],
        "notes.nrrd",
        write_text("in/notes.nrrd", "this is not an image\n"),
    ),
    Case(
        "dc-gzip-of-garbage",
        [*DC, "-d", "{tmp}/in"],
        "garbage.nii.gz",
        write_bytes("in/garbage.nii.gz", gzip.compress(RANDOM)),
    ),
    Case("dc-bad-dicom", [*DC, "-d", "{tmp}/dicom"], "dicom", dicom_folder),
    # prepare-dataset
    Case("pd-missing-root", ["prepare-dataset", "-d", "{tmp}/nope"], "nope", exit_code=2),
    Case(
        "pd-empty-root",
        ["prepare-dataset", "-d", "{tmp}/empty"],
        "{tmp}/empty",
        write_text("empty/readme.txt", "x"),
    ),
    Case(
        "pd-dataset-json-syntax",
        ["prepare-dataset", "-d", "{tmp}/ds"],
        "dataset.json",
        write_text("ds/dataset.json", '{"training": [}'),
    ),
    Case(
        "pd-split-zero", ["prepare-dataset", "-d", "{data}", "--split", "0"], "--split", exit_code=2
    ),
    Case(
        "pd-folds-one", ["prepare-dataset", "-d", "{data}", "--folds", "1"], "--folds", exit_code=2
    ),
    Case(
        "pd-deepgrow-no-output",
        ["prepare-dataset", "-d", "{data}", "--deepgrow"],
        "--output",
        exit_code=2,
    ),
    Case("pd-existing-datalist", ["prepare-dataset", "-d", "{data}"], "dataset_0.json"),
    Case(
        "pd-missing-label",
        ["prepare-dataset", "-d", "{tmp}/ds", "-o", "{tmp}/ds/list.json"],
        "{tmp}/ds",
        both(truncated_copy("ds/imagesTr/case_1.nii.gz"), write_text("ds/labelsTr/other.txt", "x")),
    ),
    # train: command line and --set
    Case("train-no-mmar", ["train", "-m", "{tmp}/nope"], "nope", exit_code=2),
    Case(
        "train-mmar-without-config",
        ["train", "-m", "{tmp}/empty"],
        "config",
        write_text("empty/readme.txt", "x"),
        exit_code=2,
    ),
    Case("train-set-epochs-abc", [*TRAIN, "--set", "epochs=abc"], "epochs", exit_code=2),
    Case("train-set-epochs-negative", [*TRAIN, "--set", "epochs=-1"], "epochs", exit_code=2),
    Case("train-set-amp-maybe", [*TRAIN, "--set", "amp=maybe"], "amp", exit_code=2),
    Case("train-set-pixdim-2d", [*TRAIN, "--set", "pixdim=[2,2]"], "pixdim", exit_code=2),
    Case("train-set-typo", [*TRAIN, "--set", "epoch=1"], "epoch", exit_code=2),
    Case("train-set-no-equals", [*TRAIN, "--set", "epochs"], "epochs", exit_code=2),
    Case("train-set-bad-json-list", [*TRAIN, "--set", "pixdim=[2,2,"], "pixdim", exit_code=2),
    Case("train-bad-device", [*TRAIN, "--device", "tpu"], "--device", exit_code=2),
    Case("train-nproc-zero", [*TRAIN, "--nproc", "0"], "--nproc", exit_code=2),
    Case(
        "train-node-rank-out-of-range",
        [*TRAIN, "--nnodes", "2", "--node-rank", "5", "--master-port", "29555"],
        "--node-rank",
        exit_code=2,
    ),
    Case("train-bad-master-port", [*TRAIN, "--master-port", "70000"], "--master-port", exit_code=2),
    # train: configs
    Case("train-config-missing", [*TRAIN, "-c", "config/nope.json"], "nope.json"),
    Case(
        "train-config-syntax",
        TRAIN,
        "config_train.json",
        write_text("m/config/config_train.json", '{"epochs": 1,\n "train": {]}\n'),
    ),
    Case(
        "train-config-duplicate-key",
        TRAIN,
        "epochs",
        write_text("m/config/config_train.json", '{"epochs": 1, "epochs": 2, "train": {}}'),
    ),
    Case("train-env-missing", [*TRAIN, "-e", "config/nope.json"], "nope.json"),
    Case(
        "train-env-syntax",
        TRAIN,
        "environment.json",
        write_text("m/config/environment.json", '{"DATA_ROOT": "data",}'),
    ),
    Case(
        "train-unknown-network",
        [*TRAIN, *TINY],
        "UNetX",
        edit_config("config_train.json", _train_model_name("UNetX")),
    ),
    Case(
        "train-bad-ref",
        [*TRAIN, *TINY],
        "@optimizr",
        edit_config("config_train.json", _train_optimizer_ref("@optimizr")),
    ),
    Case(
        "train-unknown-argument",
        [*TRAIN, *TINY],
        "no_such_argument",
        edit_config("config_train.json", _train_loss_arg),
    ),
    Case(
        "train-undefined-variable",
        [*TRAIN, *TINY],
        "learnin_rate",
        edit_config("config_train.json", _train_variable),
    ),
    Case(
        "train-no-model", [*TRAIN, *TINY], "model", edit_config("config_train.json", _drop_validate)
    ),
    # train: datalists and data
    Case("train-datalist-missing", [*TRAIN, *TINY, "DATASET_JSON={tmp}/nope.json"], "nope.json"),
    Case(
        "train-datalist-syntax",
        [*TRAIN, *TINY],
        "datalist.json",
        datalist('{"training": [{"image": "a"},]}'),
    ),
    Case("train-datalist-no-training", [*TRAIN, *TINY], "training", datalist('{"validation": []}')),
    Case(
        "train-datalist-missing-image", [*TRAIN, *TINY], "spleen_", break_training_image("missing")
    ),
    Case(
        "train-nan-image", [*TRAIN, *TINY], "spleen_", break_training_image("nan"), marks=("slow",)
    ),
    Case(
        "train-label-on-other-grid",
        [*TRAIN, *TINY],
        "spleen_",
        break_training_image("label-grid"),
        marks=("slow",),
    ),
    *(
        Case(
            f"train-{how}-image",
            [*TRAIN, *TINY],
            "spleen_",
            break_training_image(how),
            marks=("slow",),
        )  # fmt: skip
        for how in ("truncated", "random", "empty", "2d")
    ),
    Case(
        "train-label-value-7",
        # Two samples per batch: at batch 1 AHNet's BatchNorm may see a 1-voxel feature map
        # first (the crop of this tiny phantom is clipped at random) and fail on that instead.
        [*TRAIN, *TINY, "num_samples=2"],
        "7",
        break_training_image("label-7"),
        marks=("slow",),
    ),
    Case(
        "train-models-folder-unwritable",
        [*TRAIN, *TINY, "MMAR_CKPT_DIR={tmp}/blocker/models"],
        "{tmp}/blocker",
        file_in_the_way("blocker"),
    ),
    Case(
        "train-finetune-missing-checkpoint",
        [*TRAIN, *TINY, "dont_load_ckpt_model=false", "MMAR_CKPT={tmp}/nope.pt"],
        "nope.pt",
    ),
    # validate
    Case("validate-missing-checkpoint", [*VALIDATE, *TINY[:1], "pixdim=[4,4,4]"], "model.pt"),
    Case(
        "validate-random-checkpoint",
        [*VALIDATE, "--set", "pixdim=[4,4,4]"],
        "model.pt",
        checkpoint(RANDOM),
    ),
    Case(
        "validate-empty-checkpoint",
        [*VALIDATE, "--set", "pixdim=[4,4,4]"],
        "model.pt",
        checkpoint(b""),
    ),
    Case(
        "validate-missing-torchscript",
        [*VALIDATE, "--set", "dont_load_ts_model=false", "dont_load_ckpt_model=true"],
        "model.ts",
    ),
    Case(
        "validate-config-syntax",
        VALIDATE,
        "config_validation.json",
        write_text("m/config/config_validation.json", "{"),
    ),
    Case(
        "validate-eval-folder-unwritable",
        [*VALIDATE, "--set", "pixdim=[4,4,4]", "MMAR_EVAL_OUTPUT_PATH={tmp}/blocker/eval"],
        "{tmp}/blocker",
        both(file_in_the_way("blocker"), checkpoint(b"")),
    ),
    Case("validate-set-roi-words", [*VALIDATE, "--set", "roi_size=abc"], "roi_size", exit_code=2),
    Case("validate-unknown-option", [*VALIDATE, "--resume"], "--resume", exit_code=2),
    # infer
    Case("infer-missing-input", [*INFER, "-i", "{tmp}/nope.nii.gz"], "nope.nii.gz", exit_code=2),
    Case(
        "infer-output-is-input",
        [*INFER, "-i", "{data}/imagesTr", "-o", "{data}/imagesTr"],
        "imagesTr",
        exit_code=2,
    ),
    Case(
        "infer-missing-checkpoint", [*INFER, "-i", "{data}/imagesTr", "-o", "{tmp}/out"], "model.pt"
    ),
    Case(
        "infer-clicks-on-segmentation-model",
        [*INFER, "-i", "{data}/imagesTr/spleen_01.nii.gz", "-o", "{tmp}/out", "--fg", "1,2,3"],
        "--fg",
    ),
    Case(
        "infer-bad-click",
        [*INFER, "-i", "{data}/imagesTr/spleen_01.nii.gz", "--fg", "1,2"],
        "1,2",
        exit_code=2,
    ),
    Case(
        "infer-empty-folder",
        [*INFER, "-i", "{tmp}/in", "-o", "{tmp}/out"],
        "{tmp}/in",
        write_text("in/readme.txt", "x"),
    ),
    Case(
        "infer-datalist-syntax",
        [*INFER, "-i", "{tmp}/list.json", "-o", "{tmp}/out"],
        "list.json",
        write_text("list.json", "{"),
    ),
    # export
    Case(
        "export-input-shape-unclosed",
        [*EXPORT, "--input-shape", "[1,1,32,32"],
        "--input-shape",
        exit_code=2,
    ),
    Case(
        "export-input-shape-words",
        [*EXPORT, "--input-shape", "one,two"],
        "--input-shape",
        exit_code=2,
    ),
    Case("export-missing-checkpoint", EXPORT, "model.pt"),
    Case("export-empty-checkpoint", EXPORT, "model.pt", checkpoint(b"")),
    Case("export-random-checkpoint", EXPORT, "model.pt", checkpoint(RANDOM)),
    Case("export-tolerance-zero", [*EXPORT, "--tolerance", "0"], "--tolerance", exit_code=2),
    Case("export-bad-format", [*EXPORT, "--format", "tflite"], "tflite", exit_code=2),
    # check
    Case(
        "check-unknown-network",
        CHECK,
        "config_train.json",
        edit_config("config_train.json", _train_model_name("UNetX")),
    ),
    Case("check-config-missing", [*CHECK, "-c", "config/nope.json"], "nope.json"),
    Case(
        "check-config-syntax",
        CHECK,
        "config_train.json",
        write_text("m/config/config_train.json", "{\n"),
    ),
    # synth
    Case("synth-unknown-phantom", ["synth", "liver", "-o", "{tmp}/out"], "liver", exit_code=2),
    Case(
        "synth-one-case",
        ["synth", "spleen", "-o", "{tmp}/out", "-n", "1"],
        "--num-cases",
        exit_code=2,
    ),
    Case(
        "synth-tiny-size",
        ["synth", "spleen", "-o", "{tmp}/out", "--size", "8"],
        "--size",
        exit_code=2,
    ),
    Case(
        "synth-non-empty-output",
        ["synth", "spleen", "-o", "{tmp}/full", "-n", "2"],
        "{tmp}/full",
        write_text("full/keep.txt", "x"),
    ),
    Case(
        "synth-output-is-file",
        ["synth", "spleen", "-o", "{tmp}/file", "-n", "2"],
        "file",
        write_text("file", "x"),
        exit_code=2,
    ),
    # experiments
    Case(
        "experiments-missing-queue", ["experiments", "run", "{tmp}/q.csv", "-m", "{mmar}"], "q.csv"
    ),
    Case(
        "experiments-empty-queue",
        ["experiments", "run", "{tmp}/q.csv", "-m", "{mmar}"],
        "q.csv",
        write_text("q.csv", "# nothing\n"),
    ),
    Case(
        "experiments-duplicate-column",
        ["experiments", "run", "{tmp}/q.csv", "-m", "{mmar}"],
        "epochs",
        write_text("q.csv", "epochs,epochs\n1,2\n"),
    ),
    Case(
        "experiments-too-many-cells",
        ["experiments", "run", "{tmp}/q.csv", "-m", "{mmar}"],
        "q.csv",
        write_text("q.csv", QUEUE_HEADER + "1e-4,1,7\n"),
    ),
    Case(
        "experiments-status-missing-queue",
        ["experiments", "status", "{tmp}/q.csv", "-m", "{mmar}"],
        "q.csv",
    ),
]
