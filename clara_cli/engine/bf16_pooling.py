"""3D max pooling and replication padding kept in bf16 under CPU autocast, at inference.

PyTorch's CPU autocast policy runs `max_pool3d`, `adaptive_max_pool3d` and
`replication_pad3d` in fp32 (the policy predates their bf16 kernels): their bf16 input is
copied to fp32, and every layer after them (BatchNorm, ReLU, cat, residual adds) then works on
fp32 activations, twice the bytes, until the next convolution casts them back. In AHNet (the
spleen MMAR) that is most of the network: BatchNorm, ReLU and cat wrote 330 M fp32 values per
pass of 2 windows of 96^3. These three operations only select or copy values, so their bf16
output holds the values autocast's fp32 one would (a bf16 value is exact in fp32); what
changes is that the layers after them run in bf16, as the layers after every convolution
already do under autocast.

Measured on a 2-vCPU Zen 5 (AHNet, 2 windows of 96^3, bf16 autocast, channels-last): 0.37-0.42 s
per forward pass against 0.47-0.54 s; on a random input its labels agree with fp32's on
99.78 % of voxels against autocast's 99.79 % (benchmarks/bench_infer.py measures whole
cases and the Dice). PyTorch has no switch for one operator's autocast policy, hence the
class swap below (as engine/onednn_conv.py does for batch-1 convolutions): parameters and
state dict are untouched, and only CPU inputs already in a lower precision, under an enabled
CPU autocast and with gradients off (inference and validation), take the other path. A
training step keeps PyTorch's policy: its backward would otherwise run in bf16 through these
layers too, which was not measured. `--set bf16_pooling=false` keeps PyTorch's policy
everywhere.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn

from clara_cli.engine.class_swap import swap_classes

log = logging.getLogger("clara")


class _KeepsInputPrecision(nn.Module):
    """Mixin: the layer's own forward, with CPU autocast off for a bf16/fp16 CPU input when
    gradients are off (the layer then returns its input's dtype)."""

    def forward(self, input: torch.Tensor) -> Any:
        if (
            input.device.type == "cpu"
            and input.dtype in (torch.bfloat16, torch.float16)
            and torch.is_autocast_enabled("cpu")
            and not torch.is_grad_enabled()
        ):
            with torch.autocast("cpu", enabled=False):
                return super().forward(input)
        return super().forward(input)


class Bf16MaxPool3d(_KeepsInputPrecision, nn.MaxPool3d):
    """`nn.MaxPool3d` that keeps a bf16 input in bf16 under CPU autocast, without gradients."""


class Bf16AdaptiveMaxPool3d(_KeepsInputPrecision, nn.AdaptiveMaxPool3d):
    """`nn.AdaptiveMaxPool3d` that keeps a bf16 input in bf16 under CPU autocast, without
    gradients."""


class Bf16ReplicationPad3d(_KeepsInputPrecision, nn.ReplicationPad3d):
    """`nn.ReplicationPad3d` that keeps a bf16 input in bf16 under CPU autocast, without
    gradients."""


#: Layer class -> its subclass that keeps bf16 under CPU autocast.
SWAPS: dict[type[nn.Module], type[nn.Module]] = {
    nn.MaxPool3d: Bf16MaxPool3d,
    nn.AdaptiveMaxPool3d: Bf16AdaptiveMaxPool3d,
    nn.ReplicationPad3d: Bf16ReplicationPad3d,
}


def keep_pooling_in_bf16(network: nn.Module) -> int:
    """Make the network's 3D max-pooling and replication-padding layers keep bf16 inputs in
    bf16 under CPU autocast when gradients are off; returns how many layers were changed
    (their class, in place)."""
    changed = swap_classes(network, SWAPS)
    if changed:
        log.debug("%d 3D pooling/padding layer(s) keep bf16 under CPU autocast", changed)
    return changed
