"""Under CPU bf16 autocast, 3D convolutions of inputs no larger than their kernel run in fp32
(oneDNN's native bf16 weight gradient is wrong there: engine/bf16_conv_guard.py)."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch
from torch import nn

from clara_cli.engine.bf16_conv_guard import (
    GuardedConv3d,
    GuardedConvTranspose3d,
    GuardedOneDnnConv3d,
    guard_tiny_conv3d,
)
from clara_cli.engine.onednn_conv import route_batch1_conv3d


def _net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv3d(16, 16, 3, padding=1),
        nn.ReLU(),
        nn.ConvTranspose3d(16, 8, 2, stride=2),
        nn.Conv3d(8, 2, (3, 3, 1), padding=(1, 1, 0)),
    )


def _conv_dtypes(net: nn.Module, x: torch.Tensor) -> list[torch.dtype]:
    """The dtype each convolution computed in, under CPU bf16 autocast."""
    seen: list[torch.dtype] = []
    hooks = [
        m.register_forward_hook(lambda m, a, out: seen.append(out.dtype))
        for m in net.modules()
        if isinstance(m, nn.Conv3d | nn.ConvTranspose3d)
    ]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        net(x)
    for hook in hooks:
        hook.remove()
    return seen


def test_tiny_inputs_run_in_fp32_and_larger_ones_in_bf16():
    net = _net()
    assert guard_tiny_conv3d(net) == 3
    # 2^3 input: the 3^3 convolution and the 2^3 transposed one see inputs no larger than their
    # kernel; the last 3x3x1 convolution then sees 4^3, larger than 3 along every side.
    assert _conv_dtypes(net, torch.randn(2, 16, 2, 2, 2)) == [
        torch.float32, torch.float32, torch.bfloat16
    ]  # fmt: skip
    assert _conv_dtypes(net, torch.randn(2, 16, 6, 6, 6)) == [torch.bfloat16] * 3


def test_weight_gradients_of_tiny_inputs_match_fp32():
    """The case the guard is for: a bf16 step of a 2^3 input gives fp32's weight gradients
    to bf16 rounding (unguarded, oneDNN's native bf16 kernels return NaN or 1e28-1e37 there)."""
    net = _net()
    guarded = copy.deepcopy(net)
    guard_tiny_conv3d(guarded)
    x = torch.randn(4, 16, 2, 2, 2)
    net(x).square().mean().backward()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = guarded(x)
    out.float().square().mean().backward()
    for (name, p), q in zip(net.named_parameters(), guarded.parameters(), strict=True):
        assert torch.isfinite(q.grad).all(), name
        scale = p.grad.abs().max()
        assert (q.grad - p.grad).abs().max() <= 0.05 * scale, name


def test_fp32_and_no_autocast_run_as_before():
    net = _net()
    guarded = copy.deepcopy(net)
    guard_tiny_conv3d(guarded)
    x = torch.randn(1, 16, 2, 2, 2)
    assert torch.equal(net(x), guarded(x))
    with torch.autocast("cpu", dtype=torch.float16):  # not bf16: left to autocast as it was
        assert torch.equal(net(x), guarded(x))


def test_routed_layers_are_guarded_too_and_the_swap_is_idempotent():
    net = _net()
    assert route_batch1_conv3d(net) >= 1
    assert guard_tiny_conv3d(net) == 3
    assert guard_tiny_conv3d(net) == 0
    kinds = [type(m) for m in net if not isinstance(m, nn.ReLU)]
    expected_first = GuardedOneDnnConv3d if torch.backends.mkldnn.is_available() else GuardedConv3d
    assert kinds[0] is expected_first and kinds[1] is GuardedConvTranspose3d
    assert list(net.state_dict()) == list(_net().state_dict())


def test_guarded_network_pickles():
    net = _net()
    guard_tiny_conv3d(net)
    clone = pickle.loads(pickle.dumps(net))
    assert type(clone[0]) is GuardedConv3d


@pytest.mark.parametrize("amp", [True, False])
def test_network_preparer_guards_only_under_cpu_bf16(amp):
    from types import SimpleNamespace

    from clara_cli.engine.network import NetworkPreparer

    dist = SimpleNamespace(device=torch.device("cpu"), world_size=1)
    net = _net()
    NetworkPreparer(dist, torch.bfloat16 if amp else None, onednn_conv3d=False)(net, True)
    assert (type(net[0]) is GuardedConv3d) == amp
