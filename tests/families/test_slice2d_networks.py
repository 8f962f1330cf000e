"""slice2d.networks: smp factory offline, encoder weights from a local file only."""

from __future__ import annotations

import pytest
import torch

from clara_cli.errors import ConfigError
from clara_cli.families.slice2d.networks import (
    resolve_encoder_name,
    smp_network,
    trained_network,
)


@pytest.mark.parametrize("architecture", ["Unet", "fpn", "Linknet", "PSPNet"])
def test_every_architecture_builds_and_keeps_the_slice_size(architecture):
    net = smp_network(architecture, "resnet18", in_channels=2, classes=5).eval()
    with torch.no_grad():
        out = net(torch.randn(1, 2, 64, 64))
    assert out.shape == (1, 5, 64, 64)


def test_entry_backbone_names_map_to_smp():
    assert resolve_encoder_name("resnext50") == "resnext50_32x4d"
    assert resolve_encoder_name("densenet121") == "densenet121"


def test_unknown_names_say_what_exists():
    with pytest.raises(ConfigError, match="Did you mean 'resnet34'"):
        smp_network("Unet", "resnet43")
    with pytest.raises(ConfigError, match="Unet, FPN, Linknet, PSPNet"):
        smp_network("UNETR", "resnet18")


def _imagenet_like_file(tmp_path, suffix=".pth"):
    """A torchvision-style state dict of a resnet18 (with its fc head), random values."""
    donor = smp_network("Unet", "resnet18", in_channels=3, classes=2).encoder
    state = {
        k: torch.randn_like(v) if v.is_floating_point() else v
        for k, v in donor.state_dict().items()
    }
    state["fc.weight"], state["fc.bias"] = torch.randn(1000, 512), torch.randn(1000)
    path = tmp_path / f"resnet18{suffix}"
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(path))
    else:
        torch.save(state, path)
    return path, state


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_encoder_weights_come_from_the_local_file(tmp_path, suffix):
    path, state = _imagenet_like_file(tmp_path, suffix)
    net = smp_network("Unet", "resnet18", in_channels=3, classes=2, encoder_weights_file=path)
    assert torch.equal(net.encoder.layer4[1].conv2.weight, state["layer4.1.conv2.weight"])
    # one input channel: smp's rule for pretrained first convolutions (sum over RGB)
    gray = smp_network("Unet", "resnet18", in_channels=1, classes=2, encoder_weights_file=path)
    assert torch.allclose(gray.encoder.conv1.weight, state["conv1.weight"].sum(1, keepdim=True))


def test_random_init_without_a_file_differs_between_builds():
    a = smp_network("Unet", "resnet18", in_channels=1, classes=2, encoder_weights_file="")
    b = smp_network("Unet", "resnet18", in_channels=1, classes=2)
    assert not torch.equal(a.encoder.conv1.weight, b.encoder.conv1.weight)


def test_missing_or_unfitting_weights_file_fails(tmp_path):
    with pytest.raises(ConfigError, match="not found.*PRETRAIN_WEIGHTS_FILE"):
        smp_network("Unet", "resnet18", encoder_weights_file=tmp_path / "none.pth")
    path, _ = _imagenet_like_file(tmp_path)
    with pytest.raises(ConfigError, match="do not fit the encoder"):
        smp_network("Unet", "resnet34", encoder_weights_file=path)


def test_trained_network_rebuilds_from_the_checkpoint(tmp_path):
    spec = {
        "path": "clara_cli.families.slice2d.networks.smp_network",
        "args": {"architecture": "Unet", "encoder": "resnet18", "in_channels": 1, "classes": 3},
    }
    net = smp_network("Unet", "resnet18", in_channels=1, classes=3)
    path = tmp_path / "model.pt"
    torch.save({"model": net.state_dict(), "train_conf": {"train": {"model": spec}}}, path)
    rebuilt = trained_network(path)
    assert not rebuilt.training
    x = torch.randn(1, 1, 32, 32)
    with torch.no_grad():
        assert torch.allclose(rebuilt(x), net.eval()(x))
    torch.save({"model": net.state_dict()}, path)
    with pytest.raises(ConfigError, match="no train_conf"):
        trained_network(path)
