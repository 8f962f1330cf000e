"""Batch-1 fp32 3D convolutions on the CPU run through oneDNN, with the same values."""

from __future__ import annotations

import copy
import pickle
from types import SimpleNamespace

import pytest
import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile

from clara_cli.engine.inference import prepare_for_inference
from clara_cli.engine.network import NetworkPreparer
from clara_cli.engine.onednn_conv import OneDnnConv3d, route_batch1_conv3d

pytestmark = pytest.mark.skipif(
    not torch.backends.mkldnn.is_available(), reason="this PyTorch build has no oneDNN"
)


def _net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv3d(1, 4, 3, padding=1),
        nn.PReLU(),
        nn.Conv3d(4, 4, 3, stride=2, padding=1),
        nn.ConvTranspose3d(4, 4, 2, stride=2),
        nn.Conv3d(4, 4, 3, padding=1, padding_mode="reflect"),
        nn.Conv3d(4, 2, 1),
    )


def _conv_kernels(net: nn.Module, x: torch.Tensor) -> set[str]:
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        net(x).sum().backward()
    return {e.name for e in prof.events() if "conv" in e.name}


def test_plain_zero_padded_conv3d_layers_are_routed_and_the_state_dict_is_unchanged():
    net = _net()
    keys = list(net.state_dict())
    assert route_batch1_conv3d(net) == 3
    assert [type(m) is OneDnnConv3d for m in net] == [True, False, True, False, False, True]
    assert list(net.state_dict()) == keys
    assert route_batch1_conv3d(net) == 0  # idempotent


def test_batch1_takes_onednn_with_the_same_values_and_gradients():
    x = torch.randn(1, 1, 12, 12, 12)
    reference, routed = _net(), _net()
    route_batch1_conv3d(routed)
    plain, plain_routed = reference[:3], routed[:3]  # the layers that are routed
    assert "aten::slow_conv3d_forward" in _conv_kernels(plain, x)
    kernels = _conv_kernels(plain_routed, x)
    assert "aten::mkldnn_convolution" in kernels and "aten::slow_conv3d_forward" not in kernels
    reference.zero_grad()
    routed.zero_grad()
    ref_out, out = reference(x), routed(x)
    ref_out.square().sum().backward()
    out.square().sum().backward()
    torch.testing.assert_close(out, ref_out, rtol=1e-4, atol=1e-5)
    for got, want in zip(routed.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(got.grad, want.grad, rtol=1e-4, atol=1e-4)


def test_other_calls_run_as_before():
    routed = _net()
    route_batch1_conv3d(routed)
    with torch.no_grad():
        # batch 2 (PyTorch already picks oneDNN), and an unbatched input, take PyTorch's path
        torch.testing.assert_close(
            routed(torch.ones(2, 1, 8, 8, 8)), _net()(torch.ones(2, 1, 8, 8, 8))
        )
        torch.testing.assert_close(routed(torch.ones(1, 8, 8, 8)), _net()(torch.ones(1, 8, 8, 8)))


def test_routed_networks_pickle_and_copy():
    routed = _net()
    route_batch1_conv3d(routed)
    for clone in (pickle.loads(pickle.dumps(routed)), copy.deepcopy(routed)):
        assert type(clone[0]) is OneDnnConv3d
        torch.testing.assert_close(
            clone(torch.ones(1, 1, 8, 8, 8)), routed(torch.ones(1, 1, 8, 8, 8))
        )


def _dist() -> SimpleNamespace:
    return SimpleNamespace(world_size=1, device=torch.device("cpu"))


@pytest.mark.parametrize(
    ("options", "routed"),
    [({}, True), ({"onednn_conv3d": False}, False), ({"compile": True}, False)],
)
def test_training_networks_are_routed_unless_switched_off_or_compiled(options, routed):
    net = _net()
    NetworkPreparer(_dist(), None, **options)(net, training=True)
    assert (type(net[0]) is OneDnnConv3d) == routed


@pytest.mark.parametrize("switch", [True, False])
def test_inference_networks_follow_the_switch(switch):
    net = prepare_for_inference(_net(), onednn_conv3d=switch)
    assert (type(net[0]) is OneDnnConv3d) == switch
