"""3D convolutions whose input is no larger than their kernel run in fp32 under CPU bf16 autocast.

oneDNN's native bf16 3D convolution (CPUs with AVX512_BF16/AMX; PyTorch 2.14.1's oneDNN)
returns wrong weight gradients when a spatial side of the input is not larger than the
kernel along it: a 3x3x3 convolution with padding 1 on a 2x2x2 input, 5x5x5 on up to 4^3, a
transposed 2x2x2 or 3x3x3 one on 2^3. Some entries come back NaN or 1e28-1e37, others finite
but wrong (relative error 0.4-1.4 against fp32 from the same bf16-rounded inputs); the
forward and the input gradient are right. 2D convolutions and every larger input measured
right (`benchmarks/bench_ahnet_bf16.py --kernels` prints the sweep). Such inputs occur at a
network's bottom: AHNet trained on 32^3 patches reaches 2^3 after four poolings, where its
3x3x1 dense-block convolutions hit the bug in every step, and the spleen recipe fell back to
fp32 for the whole run (engine/precision.py's `NonFiniteGradientFallback`, which only sees
the non-finite part). Running those few layers in fp32 costs next to nothing: they are the
network's smallest tensors. No PyTorch or oneDNN switch excludes them, hence these classes.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn

from clara_cli.engine.class_swap import swap_classes
from clara_cli.engine.onednn_conv import OneDnnConv3d

log = logging.getLogger("clara")


def _input_not_larger_than_kernel(module: nn.Module, input: torch.Tensor) -> bool:
    extent = [(k - 1) * d + 1 for k, d in zip(module.kernel_size, module.dilation, strict=True)]  # type: ignore[arg-type]
    return any(1 < e and s <= e for s, e in zip(input.shape[2:], extent, strict=True))


class _Fp32WhenInputIsTiny:
    """Mixin for 3D (transposed) convolutions: fp32 when bf16 autocast meets a tiny input."""

    def forward(self, input: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        if (
            input.device.type == "cpu"
            and torch.is_autocast_enabled("cpu")
            and torch.get_autocast_dtype("cpu") == torch.bfloat16
            and _input_not_larger_than_kernel(self, input)  # type: ignore[arg-type]
        ):
            with torch.autocast("cpu", enabled=False):
                return super().forward(input.float(), *args, **kwargs)  # type: ignore[misc]
        return super().forward(input, *args, **kwargs)  # type: ignore[misc]


class GuardedConv3d(_Fp32WhenInputIsTiny, nn.Conv3d):
    """`nn.Conv3d` that runs tiny inputs in fp32 under CPU bf16 autocast."""


class GuardedOneDnnConv3d(_Fp32WhenInputIsTiny, OneDnnConv3d):
    """`OneDnnConv3d` that runs tiny inputs in fp32 under CPU bf16 autocast."""


class GuardedConvTranspose3d(_Fp32WhenInputIsTiny, nn.ConvTranspose3d):
    """`nn.ConvTranspose3d` that runs tiny inputs in fp32 under CPU bf16 autocast."""


_GUARDED: dict[type, type] = {
    nn.Conv3d: GuardedConv3d,
    OneDnnConv3d: GuardedOneDnnConv3d,
    nn.ConvTranspose3d: GuardedConvTranspose3d,
}


def guard_tiny_conv3d(network: nn.Module) -> int:
    """Make the network's plain 3D (transposed) convolutions run in fp32 under CPU bf16
    autocast whenever their input is no larger than their kernel.

    Changes the layers' class in place (parameters and state dict stay as they are); returns
    how many were changed. Other inputs, other dtypes and other devices run as before.
    """
    changed = swap_classes(network, _GUARDED)
    if changed:
        log.debug("%d 3D convolution layer(s) run inputs no larger than their kernel in fp32 "
                  "under bf16 autocast", changed)  # fmt: skip
    return changed
