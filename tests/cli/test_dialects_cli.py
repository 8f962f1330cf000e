"""Train and validate tiny MMARs written in both Clara 4.x dialects, through the CLI."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from click.testing import CliRunner

from clara_cli.cli.main import cli
from clara_cli.engine.checkpoint import load_checkpoint

pytestmark = pytest.mark.slow


def test_clara_41_explicit_wiring_trains_and_validates(mmar_41):
    runner = CliRunner()
    result = runner.invoke(cli, ["train", "-m", str(mmar_41), "--set", "epochs=2"])
    assert result.exit_code == 0, result.output
    assert "epoch 2/2: loss" in result.output and "val_mean_dice" in result.output
    models = mmar_41 / "models"
    for name in ("model.pt", "model_final.pt", "train_curves.png"):
        assert (models / name).is_file(), name
    assert list(models.glob("events.out.tfevents.*")) == []  # no TensorBoard handler in this config
    saved = load_checkpoint(models / "model.pt")
    assert saved["train_conf"]["train"]["model"]["name"] == "UNet"
    assert saved["train_conf"]["epochs"] == 2  # the resolved config, --set applied

    result = runner.invoke(cli, ["validate", "-m", str(mmar_41)])
    assert result.exit_code == 0, result.output
    assert "Validation: 2 cases, mean Dice" in result.output
    eval_dir = mmar_41 / "eval"
    rows = list(csv.DictReader((eval_dir / "metrics_per_case.csv").open()))
    assert len(rows) == 2
    summary = json.loads((eval_dir / "metrics_summary.json").read_text())
    assert summary["num_cases"] == 2
    dices = [float(r[k]) for r in rows for k in r if k.startswith("dice")]
    assert summary["mean_dice"] == pytest.approx(sum(dices) / len(dices), abs=1e-6)
    assert (eval_dir / "dice_per_case.png").is_file()
    assert len(list((eval_dir / "overlays").glob("*.png"))) == 2


def test_clara_40_implicit_wiring_and_monai_0x_spellings_run_with_one_warning_each(mmar_40):
    result = CliRunner().invoke(cli, ["train", "-m", str(mmar_40)])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("warning: ")]
    expected = [
        "train.pre_transforms[1]: AddChanneld was removed from MONAI; using EnsureChannelFirstd",
        "train.model: UNet: 'dimensions' is MONAI 0.x; using spatial_dims=3",
        "train.post_transforms[1]: AsDiscreted: to_onehot=true + n_classes is MONAI 0.x; using to_onehot=2",
        "train.handlers[3]: save_dict as a list of names is Clara 4.0; mapped to a dict",
        "validate.pre_transforms[1]: AddChanneld was removed from MONAI",
    ]
    for text in expected:
        assert sum(text in w for w in warnings) == 1, (text, warnings)
    assert all("config_train.json: " in w for w in warnings if "MONAI" in w)
    # The implicit wiring happened: validation ran every epoch, metrics from the `metrics` list.
    assert "epoch 2/2: loss" in result.output and "val_mean_dice" in result.output
    models = mmar_40 / "models"
    assert (models / "model.pt").is_file()
    periodic = load_checkpoint(models / "checkpoint_epoch=2.pt")
    assert set(periodic) >= {"model", "optimizer", "lr_scheduler"}
    assert periodic["optimizer"]["param_groups"][0]["lr"] == pytest.approx(1e-3)


def test_clara_40_checkpoint_loader_finetunes_from_mmar_ckpt(mmar_40, tmp_path):
    from monai.networks.nets import UNet

    torch.manual_seed(1)
    net = UNet(3, 1, 2, channels=(4, 8, 16), strides=(2, 2), num_res_units=1, norm="batch")
    torch.save({"model": net.state_dict()}, tmp_path / "start.pt")
    result = CliRunner().invoke(
        cli,
        [
            "train", "-m", str(mmar_40),
            "--set", "dont_load_ckpt_model=false", f"MMAR_CKPT={tmp_path / 'start.pt'}", "epochs=1",
            "learning_rate=0",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    final = load_checkpoint(mmar_40 / "models" / "checkpoint_epoch=1.pt")["model"]
    start = net.state_dict()
    # lr=0: the weights are the loaded ones (BatchNorm running stats do change).
    weights = [k for k in start if k.endswith("weight")]
    assert all(torch.equal(final[k], start[k]) for k in weights)


def test_clara_40_additional_metrics_are_computed(mmar_40):
    from clara_cli.workflows.session import RunRequest
    from clara_cli.workflows.train import train

    result = train(RunRequest(mmar_40, "config/config_train.json", overrides={"epochs": 1}))
    assert result.key_metric == "val_mean_dice"
    row = result.history[0]
    assert 0.0 <= row["val_acc"] <= 1.0 and 0.0 <= row["val_mean_dice"] <= 1.0
    assert row["loss"] > 0
