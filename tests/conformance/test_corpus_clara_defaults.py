"""Clara's defaults where MONAI's differ, as the corpus's archives rely on them: a `model` list
mixing a TorchScript loader and a network, `train_stats.json`, PersistentDataset without
cache_dir."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from clara_cli.workflows.sections import evaluation_section
from clara_cli.workflows.session import RunRequest, open_session
from clara_cli.workflows.train import TrainResult, write_train_stats

UNET = {
    "name": "UNet",
    "args": {
        "spatial_dims": 3,
        "in_channels": 1,
        "out_channels": 2,
        "channels": [4, 8],
        "strides": [2],
    },
}


def _validation_mmar(mmar: Path, model: list) -> RunRequest:
    path = mmar / "config" / "config_validation.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config["model"] = model
    path.write_text(json.dumps(config), encoding="utf-8")
    return RunRequest(mmar, "config/config_validation.json", device="cpu")


def _model(request: RunRequest):
    session = open_session(request)
    return evaluation_section(session).get("model")


def test_a_model_list_with_a_network_builds_the_first_switched_on_entry(mmar_41):
    # deepgrow_2D's config_validation.json: a TorchScript loader, else the network (whose
    # weights its CheckpointLoader handler loads).
    model = [
        {"ts_path": "{MMAR_TORCHSCRIPT}", "disabled": "{dont_load_ts_model}"},
        {**UNET, "disabled": "{dont_load_ckpt_model}"},
    ]
    request = _validation_mmar(mmar_41, model)
    network = _model(request)
    assert type(network).__name__ == "UNet"  # the loader is switched off (dont_load_ts_model)


def test_a_model_list_loads_torchscript_when_that_entry_is_on(mmar_41, tmp_path):
    from monai.networks.nets import UNet

    scripted = torch.jit.script(UNet(**UNET["args"]))
    scripted.save(str(tmp_path / "model.ts"))
    model = [
        {"ts_path": str(tmp_path / "model.ts"), "disabled": False},
        {**UNET, "disabled": True},
    ]
    network = _model(_validation_mmar(mmar_41, model))
    assert isinstance(network, torch.jit.ScriptModule)


def test_a_model_list_with_every_entry_off_says_how_to_switch_one_on(mmar_41):
    from clara_cli.errors import ConfigError

    model = [{"ts_path": "x.ts", "disabled": True}, {**UNET, "disabled": True}]
    with pytest.raises(ConfigError, match="every entry is disabled.*dont_load_ckpt_model=false"):
        _model(_validation_mmar(mmar_41, model))


def test_train_stats_hold_time_epochs_and_the_best_key_metric(tmp_path):
    result = TrainResult(
        ckpt_dir=tmp_path,
        epochs_run=3,
        iterations=12,
        best_metric=0.5,
        best_epoch=2,
        key_metric="val_dice",
    )
    path = write_train_stats(result, 12.3456)
    assert json.loads(path.read_text(encoding="utf-8")) == {
        "total_time": 12.346,
        "total_epochs": 3,
        "total_iterations": 12,
        "key_metric": "val_dice",
        "best_key_metric": 0.5,
        "best_key_metric_epoch": 2,
    }


def test_persistent_dataset_without_cache_dir_gets_a_cache_folder_said_by_check(corpus, stand_ins):
    from clara_cli.families import load_families
    from clara_cli.workflows.check import check_archive

    load_families()
    report = check_archive(
        corpus / "deepgrow_2D", ["config/config_train.json"], overrides=stand_ins
    )
    assert report.ok, report.problems
    dataset = report.configs[0].resolved.get("train.dataset")
    assert dataset.class_name == "monai.data.dataset.PersistentDataset"
    assert "cache_dir" not in dataset.args  # filled when the run builds it, not when resolving
    folder = Path(stand_ins["MMAR_CKPT_DIR"]).parent / "cache" / "persistent" / "train"
    assert dataset.shims == [
        f"PersistentDataset: no cache_dir (optional in MONAI 0.x); caching to {folder} "
        "(keyed by item and pre-transforms, metadata kept)"
    ]
    assert not folder.exists()  # check makes nothing
