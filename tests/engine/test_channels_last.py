"""Channels-last training network: `--set channels_last=true|false`, and by default under CPU
bf16 for the network classes measured faster so."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from clara_cli.engine.network import NetworkPreparer, to_channels_last


def _dist() -> SimpleNamespace:
    return SimpleNamespace(world_size=1, device=torch.device("cpu"))


@pytest.mark.parametrize(
    ("conv", "shape", "fmt"),
    [
        (torch.nn.Conv3d, (2, 1, 8, 8, 8), torch.channels_last_3d),
        (torch.nn.Conv2d, (2, 1, 8, 8), torch.channels_last),
    ],
)
def test_channels_last_converts_in_place_and_keeps_the_output(conv, shape, fmt):
    torch.manual_seed(0)
    net = torch.nn.Sequential(conv(1, 4, 3, padding=1), torch.nn.ReLU(), conv(4, 2, 3, padding=1))
    x = torch.rand(*shape)
    with torch.no_grad():
        before = net(x)
    weight = net[0].weight
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    prepared = NetworkPreparer(_dist(), None, channels_last=True)(net, training=True)
    assert prepared is net and net[0].weight is weight  # the optimizer's parameters
    # The second layer: with one input channel both layouts have the same strides.
    assert net[2].weight.is_contiguous(memory_format=fmt)
    assert not net[2].weight.is_contiguous()
    with torch.no_grad():
        assert torch.allclose(net(x), before, atol=1e-5)
    start = net[2].weight.detach().clone()
    net(x).sum().backward()
    optimizer.step()  # steps the converted parameters
    assert not torch.equal(net[2].weight.detach(), start)


def test_channels_last_is_off_by_default_and_a_known_switch():
    from clara_cli.errors import OverrideError
    from clara_cli.mmar.set_values import check_overrides

    net = torch.nn.Conv3d(2, 2, 3)
    NetworkPreparer(_dist(), None)(net, training=True)
    assert net.weight.is_contiguous()
    assert check_overrides({"channels_last": True}, {}, []) == {"channels_last": True}
    with pytest.raises(OverrideError, match="true or false"):
        check_overrides({"channels_last": "yes"}, {}, [])


class UNet(torch.nn.Sequential):
    """Named like MONAI's UNet, one of the classes channels-last is on for under CPU bf16."""


@pytest.mark.parametrize(
    ("name", "autocast", "setting", "expected"),
    [
        ("UNet", torch.bfloat16, None, True),
        ("UNet", None, None, False),  # fp32: as PyTorch lays it out
        ("UNet", torch.bfloat16, False, False),  # the user's false wins
        ("Sequential", torch.bfloat16, None, False),  # a class not measured faster
        ("Sequential", None, True, True),
    ],
)
def test_channels_last_by_default_only_under_cpu_bf16_for_measured_classes(
    name, autocast, setting, expected
):
    layers = (torch.nn.Conv3d(2, 4, 3), torch.nn.Conv3d(4, 2, 3))
    net = UNet(*layers) if name == "UNet" else torch.nn.Sequential(*layers)
    NetworkPreparer(_dist(), autocast, channels_last=setting, onednn_conv3d=False)(net, True)
    assert net[1].weight.is_contiguous(memory_format=torch.channels_last_3d) == expected
    assert net[1].weight.is_contiguous() != expected


def test_mixed_2d_and_3d_weights_are_left_alone():
    net = torch.nn.Sequential(torch.nn.Conv2d(2, 2, 3), torch.nn.Conv3d(2, 2, 3))
    to_channels_last(net)
    assert all(p.is_contiguous() for p in net.parameters())
