"""The cervical family's pieces: the study's encoder names, the N4 transform, the archive."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from monai.data import MetaTensor

from clara_cli.errors import ConfigError
from clara_cli.families.cervical.networks import pretrained_file, study_network
from clara_cli.families.cervical.transforms import N4BiasFieldCorrectiond

MMAR = Path(__file__).resolve().parents[2] / "mmars" / "cervical_spine_segmentation"


def _encoder_kind(network):
    return type(network.encoder).__name__, sum(p.numel() for p in network.encoder.parameters())


def test_random_init_is_the_random_encoder_backbone():
    a = study_network("Linknet", "random", random_encoder="resnet18", encoder_depth=3)
    b = study_network("Linknet", "random init.", random_encoder="resnet18", encoder_depth=3)
    assert _encoder_kind(a) == _encoder_kind(b)
    assert type(a).__name__ == "Linknet"


def test_shallow_unet_gets_matching_decoder():
    net = study_network("Unet", "random", random_encoder="resnet18", encoder_depth=3)
    with torch.no_grad():
        assert net(torch.randn(2, 1, 32, 32)).shape == (2, 2, 32, 32)


def test_named_encoder_needs_its_weights_file(tmp_path, caplog):
    with pytest.raises(ConfigError, match="encoder 'resnet18' needs its ImageNet weights"):
        study_network("FPN", "resnet18", weights_dir=tmp_path)
    with caplog.at_level(logging.WARNING, logger="clara"):
        net = study_network("FPN", "resnet18", weights_dir=tmp_path, require_pretrained="false")
    assert "training it from random weights" in caplog.text and type(net).__name__ == "FPN"


def test_named_encoder_loads_the_local_file(tmp_path):
    import torchvision

    torch.manual_seed(3)
    imagenet_like = torchvision.models.resnet18(weights=None).state_dict()
    torch.save(imagenet_like, tmp_path / "resnet18.pth")
    assert pretrained_file("resnet18", tmp_path) == tmp_path / "resnet18.pth"
    assert pretrained_file("resnet50", tmp_path) is None and pretrained_file("x", None) is None
    net = study_network("Unet", "resnet18", weights_dir=tmp_path, in_channels=1)
    # one input channel: smp sums the RGB filters of the first convolution
    expected = imagenet_like["conv1.weight"].sum(dim=1, keepdim=True)
    assert torch.allclose(net.encoder.conv1.weight, expected)
    assert torch.equal(net.encoder.layer1[0].conv1.weight, imagenet_like["layer1.0.conv1.weight"])


def _phantom_volume(case=2):
    """A phantom as MONAI sees it after LoadImaged (C, X, Y, Z), its true log bias field."""
    from clara_cli.families.cervical.phantom import (
        PhantomOptions,
        cspine_volumes,
        make_cspine_phantom,
    )

    options = PhantomOptions(size=96)
    image, _ = make_cspine_phantom((0, case), options)
    volumes = cspine_volumes((0, case), options)
    array = sitk.GetArrayFromImage(image).astype(np.float32).transpose(2, 1, 0)
    affine = np.diag([*image.GetSpacing(), 1.0])
    volume = MetaTensor(torch.from_numpy(array[None].copy()), affine=torch.from_numpy(affine))
    return volume, np.log(volumes.bias).transpose(2, 1, 0), volumes.signal.transpose(2, 1, 0) > 100


def test_n4_transform_is_a_pass_through_when_off():
    volume, _, _ = _phantom_volume()
    data = {"image": volume}
    for enabled in (False, "false", "No"):
        assert N4BiasFieldCorrectiond("image", enabled=enabled)(data)["image"] is volume


def test_n4_transform_removes_the_bias_field_and_keeps_the_metadata():
    volume, log_bias, body = _phantom_volume()
    out = N4BiasFieldCorrectiond("image", enabled="true")({"image": volume})["image"]
    assert isinstance(out, MetaTensor) and out.dtype == torch.float32
    assert out.shape == volume.shape and torch.equal(out.affine, volume.affine)
    estimated = np.log(np.maximum(volume[0].numpy(), 1.0) / np.maximum(out[0].numpy(), 1.0))
    truth = log_bias[body] - log_bias[body].mean()
    found = estimated[body] - estimated[body].mean()
    assert np.corrcoef(truth, found)[0, 1] > 0.8


def test_n4_transform_rejects_bad_switch_and_shapes():
    with pytest.raises(ValueError, match="must be true or false"):
        N4BiasFieldCorrectiond("image", enabled="sometimes")
    with pytest.raises(ValueError, match="channel-first 3D"):
        N4BiasFieldCorrectiond("image")({"image": torch.ones(4, 4, 4)})


def test_archive_is_claimed_by_the_family_and_its_configs_are_valid_json():
    from clara_cli.families import family_for

    env = json.loads((MMAR / "config" / "environment.json").read_text())
    assert family_for(env).name == "cervical"
    configs = sorted(p.name for p in (MMAR / "config").glob("config_*.json"))
    assert configs == [
        "config_inference.json",
        "config_inference_fusion.json",
        "config_train.json",
        "config_validation.json",
        "config_validation_fusion.json",
    ]
    for name in configs:
        json.loads((MMAR / "config" / name).read_text())


def test_shipped_queue_is_the_studys_grid_and_the_cpu_queue_reads():
    from itertools import product

    from clara_cli.report.experiment_tables import read_layout
    from clara_cli.workflows.experiments import read_queue

    queue = read_queue(MMAR / "experiments" / "pipeline.csv")
    assert queue.columns == ("architecture", "encoder", "n4", "axis")
    grid = {
        (
            e.settings["architecture"],
            e.settings["encoder"],
            e.settings["n4"],
            str(e.settings["axis"]),
        )
        for e in queue.experiments
    }
    assert len(queue.experiments) == len(grid) == 96
    assert grid == set(
        product(
            ("Unet", "FPN", "Linknet", "PSPNet"),
            ("random", "resnet50", "inceptionv4"),
            (True, False),
            ("0", "1", "2", "012"),
        )
    )
    assert queue.experiments[-1].settings["axis"] == "012"  # a string, not the number 12
    cpu = read_queue(MMAR / "experiments" / "pipeline_cpu.csv")
    assert {e.settings["axis"] for e in cpu.experiments} == {0, 1, 2}
    layout = read_layout(queue.path)
    assert layout.group_by == "axis" and layout.columns["architecture"] == "Model"
