"""Checkpoint errors a user can act on (issue 15, defect 7): unsafe pickles told apart from
damaged files in both torch formats, never advising `weights_only=False`; another network's
weights summarised, not dumped; TorchScript failures naming the file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from monai.networks.nets import SegResNet, UNet

from clara_cli.engine.checkpoint import load_checkpoint
from clara_cli.engine.model_loading import load_torchscript
from clara_cli.engine.resume import load_weights
from clara_cli.engine.state_fit import guess_network, weights_mismatch
from clara_cli.errors import ClaraError, ConfigError


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("echo this must never run",))


def _unet() -> UNet:
    return UNet(3, 1, 2, (8, 16, 32), (2, 2), num_res_units=1)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_a_pickle_that_runs_code_is_refused_in_either_torch_format(tmp_path, legacy):
    path = tmp_path / "model.pt"
    torch.save(
        {"model": {"w": torch.zeros(2)}, "x": _RunsCode()},
        path,
        _use_new_zipfile_serialization=not legacy,
    )

    with pytest.raises(ClaraError) as info:
        load_checkpoint(path)

    message = str(info.value)
    assert message.startswith(f"refusing to load checkpoint {path}: ")
    assert "system" in message  # names the global it would have called
    assert "weights_only" not in message and "corrupt" not in message


def test_random_bytes_are_not_a_checkpoint_and_not_called_unsafe(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(bytes(range(256)) * 20)

    with pytest.raises(ClaraError) as info:
        load_checkpoint(path)

    message = str(info.value)
    assert message.startswith(f"cannot read checkpoint {path}: the file (5120 bytes) is not a ")
    assert "weights_only" not in message and "refusing" not in message


def test_an_empty_file_is_called_empty(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(b"")

    with pytest.raises(ClaraError, match="the file is empty"):
        load_checkpoint(path)


def test_a_safe_legacy_checkpoint_still_loads(tmp_path):
    path = tmp_path / "model.pt"
    torch.save({"model": {"w": torch.ones(2)}}, path, _use_new_zipfile_serialization=False)

    assert torch.equal(load_checkpoint(path)["model"]["w"], torch.ones(2))


def test_finetuning_from_an_unsafe_legacy_file_is_refused_as_validate_refuses_it(tmp_path):
    path = tmp_path / "model.pt"
    torch.save({"model": _RunsCode()}, path, _use_new_zipfile_serialization=False)

    with pytest.raises(ClaraError, match=f"refusing to load checkpoint {path}"):
        load_weights(_unet(), path, "cpu")


def test_another_networks_weights_are_summarised_and_named(tmp_path):
    path = tmp_path / "model.pt"
    torch.save({"model": SegResNet(init_filters=8).state_dict()}, path)

    with pytest.raises(ConfigError) as info:
        load_weights(_unet(), path, "cpu")

    message = str(info.value)
    assert message.startswith(f"{path}: the saved weights do not fit the configured network: ")
    assert "the configured network is a UNet (3D, 1 input channel(s)," in message
    assert "the file seems to hold a SegResNet (3D, 1 input channel(s)," in message
    unet_keys, segres_keys = len(_unet().state_dict()), len(SegResNet(init_filters=8).state_dict())
    assert f"{unet_keys} missing (model.0." in message
    assert f"{segres_keys} unexpected (convInit.conv.weight, " in message
    assert len(message) < 1200  # a summary, not torch's list of every key


def test_another_output_count_is_reported_as_shapes():
    two, three = _unet(), UNet(3, 1, 3, (8, 16, 32), (2, 2), num_res_units=1)

    message = weights_mismatch(two, three.state_dict())

    assert message is not None and "missing" not in message and "unexpected" not in message
    assert "of another shape (model.2." in message and "(3,) vs (2,)" in message
    assert weights_mismatch(two, two.state_dict()) is None


def test_networks_are_guessed_from_their_keys():
    assert guess_network(_unet().state_dict()) == "UNet"
    assert guess_network(SegResNet(init_filters=8).state_dict()) == "SegResNet"
    assert guess_network(torch.nn.Linear(2, 2).state_dict()) is None


@pytest.mark.parametrize(
    "content, problem",
    [
        (b"", "the file is empty"),
        (b"\x00garbage" * 100, "not a TorchScript archive"),
        (None, "a PyTorch archive but not TorchScript"),
    ],
    ids=["empty", "garbage", "checkpoint"],
)
def test_a_torchscript_file_that_cannot_load_is_named(tmp_path, content, problem):
    path = tmp_path / "model.ts"
    if content is None:
        torch.save({"model": {"w": torch.zeros(1)}}, path)
    else:
        path.write_bytes(content)

    with pytest.raises(ConfigError) as info:
        load_torchscript(Path(path), "cpu")

    message = str(info.value)
    assert message.startswith(f"cannot load TorchScript model {path}: ")
    assert problem in message and "internal miniz error" not in message


def test_a_configs_own_checkpoint_loader_file_is_checked_before_training(tmp_path):
    from monai.handlers import CheckpointLoader

    from clara_cli.workflows.train import _refuse_unreadable_loader_files

    path = tmp_path / "pretrained.pt"
    torch.save({"model": _RunsCode()}, path, _use_new_zipfile_serialization=False)
    loader = CheckpointLoader(load_path=str(path), load_dict={"model": _unet()})

    with pytest.raises(ClaraError, match=f"refusing to load checkpoint {path}"):
        _refuse_unreadable_loader_files([loader])
