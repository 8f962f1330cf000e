"""Bad training data gives errors a user can act on (issue 15, defect 5): the bad case's own
file, what is wrong with it and what to do; no object reprs, no raw torch text."""

from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import pytest
import SimpleITK as sitk
import torch
from click.testing import CliRunner

from clara_cli.cli.main import cli
from clara_cli.engine.case_errors import BatchErrorNamer, check_label_range
from clara_cli.engine.finite import CASE_KEY
from clara_cli.errors import DataError


@pytest.fixture
def data(mmar_41, tmp_path):
    """A copy of the phantoms; returns (folder, the second training case's image and label)."""
    folder = tmp_path / "data"
    shutil.copytree(mmar_41 / "data", folder)
    case = json.loads((folder / "dataset_0.json").read_text(encoding="utf-8"))["training"][1]
    return folder, folder / case["image"], folder / case["label"]


def _train(mmar, folder, *overrides: str):
    args = ["train", "-m", str(mmar), "--device", "cpu", "--set", "epochs=1"]
    args += [f"DATA_ROOT={folder}", f"DATASET_JSON={folder / 'dataset_0.json'}", *overrides]
    return CliRunner().invoke(cli, args)


def _check_clear(result, bad_file) -> None:
    assert result.exit_code == 1, result.output
    error = result.output[result.output.index("Error: ") :]
    assert error.startswith(f"Error: {bad_file}"), error
    assert "remove" in error  # what to do
    assert " object at 0x" not in result.output and "Traceback" not in result.output
    assert "out of bounds" not in result.output and "applying transform <" not in result.output


@pytest.mark.slow
def test_a_truncated_image_is_named_as_unreadable(mmar_41, data):
    folder, image, _ = data
    image.write_bytes(image.read_bytes()[:3000])

    result = _train(mmar_41, folder)

    _check_clear(result, image)
    assert f"Error: {image}: the file cannot be read as an image: empty, truncated or not an " in (
        result.output
    )  # the image alone: its label is fine


@pytest.mark.slow
def test_an_empty_or_random_image_is_named_before_loading(mmar_41, data):
    folder, image, _ = data
    image.write_bytes(b"")

    result = _train(mmar_41, folder)

    assert result.exit_code == 1
    assert "1 file(s) cannot be read as images" in result.output
    assert f"{image} (empty)" in result.output
    assert "not on the same grid" not in result.output


@pytest.mark.slow
def test_a_label_value_without_an_output_channel_is_named(mmar_41, data):
    folder, image, label = data
    header = sitk.ReadImage(str(label))
    array = sitk.GetArrayFromImage(header)
    array[array > 0] = 7
    relabelled = sitk.GetImageFromArray(array)
    relabelled.CopyInformation(header)
    sitk.WriteImage(relabelled, str(label))

    result = _train(mmar_41, folder)

    assert result.exit_code == 1
    error = result.output[result.output.index("Error: ") :]
    assert error.startswith("Error: training failed at epoch 1, iteration ")
    assert str(image) in error.split(": a label", 1)[0]  # the batch's cases, this one among them
    assert ": a label holds the value 7, but the network has 2 output channels" in error
    assert "index 7" not in result.output and "Traceback" not in result.output


@pytest.mark.slow
def test_a_2d_image_for_a_3d_recipe_is_named(mmar_41, data):
    folder, image, label = data
    sitk.WriteImage(sitk.ReadImage(str(image))[:, :, 5], str(image))
    sitk.WriteImage(sitk.ReadImage(str(label))[:, :, 5], str(label))

    result = _train(mmar_41, folder)

    _check_clear(result, image)
    assert "the image has 2 spatial dimension(s) where the config gives 3" in result.output


def test_the_label_check_says_value_and_channels():
    loss = check_label_range(torch.nn.MSELoss())
    prediction = torch.zeros(1, 2, 4, 4, 4)
    target = torch.zeros(1, 1, 4, 4, 4)
    target[0, 0, 1, 1, 1] = 7

    with pytest.raises(DataError, match="label holds the value 7, but the network has 2 output"):
        loss(prediction, target)
    loss(prediction, torch.ones(1, 1, 4, 4, 4))  # values 0..1 pass


def test_a_batchnorm_step_on_one_value_names_the_batch_and_the_fix():
    norm = torch.nn.BatchNorm3d(2).train()
    engine = SimpleNamespace(
        state=SimpleNamespace(epoch=3, iteration=7),
        _process_function=lambda engine, batch: norm(batch["image"]),
    )
    BatchErrorNamer().attach(engine)
    batch = {"image": torch.zeros(1, 2, 1, 1, 1), CASE_KEY: ["/data/case_9.nii.gz"]}

    with pytest.raises(DataError) as info:
        engine._process_function(engine, batch)

    message = str(info.value)
    assert "epoch 3, iteration 7 on case(s) /data/case_9.nii.gz: a BatchNorm layer saw " in message
    assert "raise batch_size" in message


class _FailingCase(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 1

    def __getitem__(self, index: int):
        raise DataError("/data/case_3.nii.gz: the image holds 2 NaN voxel(s)\n  fix it")


def test_an_error_raised_in_a_loader_worker_keeps_its_own_message():
    from clara_cli.errors import user_message

    loader = torch.utils.data.DataLoader(_FailingCase(), num_workers=1)
    with pytest.raises(DataError) as info:
        list(loader)

    assert "Original Traceback" in str(info.value)  # torch's wrapping, which users never see
    assert (
        user_message(info.value) == "/data/case_3.nii.gz: the image holds 2 NaN voxel(s)\n  fix it"
    )


@pytest.mark.slow
def test_a_real_process_exits_1_not_abort_when_a_cached_item_fails(mmar_41, data):
    """MONAI's cache thread pool leaves a worker inside torch when an item fails; the process
    must still end with exit 1, not abort at teardown (exit 134)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    folder, image, _ = data
    image.write_bytes(image.read_bytes()[:3000])
    repo = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")]),
    }

    done = subprocess.run(
        [sys.executable, "-m", "clara_cli", "train", "-m", str(mmar_41), "--device", "cpu"]
        + ["--set", "epochs=1", f"DATA_ROOT={folder}", f"DATASET_JSON={folder / 'dataset_0.json'}"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        timeout=300,
    )

    assert done.returncode == 1, done.stderr[-2000:]
    assert f"Error: {image}: the file cannot be read as an image" in done.stderr
    assert "terminate called" not in done.stderr


@pytest.mark.slow
def test_on_two_processes_the_failing_rank_names_its_file(mmar_41, data):
    import os
    import re
    import subprocess
    import sys
    from pathlib import Path

    folder, image, _ = data
    image.write_bytes(image.read_bytes()[:3000])
    repo = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")]),
    }
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)

    done = subprocess.run(
        [sys.executable, "-m", "clara_cli", "train", "-m", str(mmar_41), "--device", "cpu"]
        + ["--nproc", "2", "--set", "epochs=1", f"DATA_ROOT={folder}"]
        + [f"DATASET_JSON={folder / 'dataset_0.json'}"],
        capture_output=True,
        encoding="utf-8",
        errors="replace",
        env=env,
        timeout=300,
    )

    assert done.returncode == 1, done.stderr[-2000:]
    expected = rf"Error: rank [01] of 2 failed: {re.escape(str(image))}: the file cannot be read "
    assert re.search(expected, done.stderr), done.stderr[-2000:]
    assert "DataError" not in done.stderr and "Traceback" not in done.stderr
    # The failing rank leaves without tearing down the process group's C++ threads.
    assert "terminate called" not in done.stderr and "Fatal Python error" not in done.stderr
