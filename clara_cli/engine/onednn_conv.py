"""Batch-1 3D convolutions on the CPU through oneDNN, as PyTorch runs them from batch 2 on.

PyTorch chooses the kernel of an fp32 CPU convolution with a rule written for 2D images: a
3x3x3 convolution of batch 1 whose N*C*D*H is at most 20480 (every layer with few channels
at a 96^3 patch) goes to its native ``slow_conv3d`` instead of oneDNN. At batch 1 that is 54 %
of a MONAI UNet 96^3 training step (`benchmarks/bench_train_efficiency.py --profile --batch
1`); BraTS and DeepGrow 3D train at batch 1, and sliding windows run one at a time when a
config says ``sw_batch_size: 1``. Routing those calls to the oneDNN operator PyTorch itself uses
for larger batches (``aten.mkldnn_convolution``, with autograd) gives the same values to fp32
rounding; `benchmarks/bench_conv_batch1.py` measures the gain. PyTorch offers no switch for
this rule, hence the hand-written routing: only plain ``nn.Conv3d`` modules with zero padding
are touched, only fp32 CPU inputs of batch 1 take the other path, everything else (autocast,
GPUs, TorchScript, torch.compile, larger batches) runs exactly as before.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

log = logging.getLogger("clara")


class OneDnnConv3d(nn.Conv3d):
    """`nn.Conv3d` whose batch-1 fp32 CPU calls run oneDNN's convolution."""

    def _conv_forward(
        self, input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
    ) -> torch.Tensor:
        if (
            input.dim() == 5
            and input.size(0) == 1
            and input.device.type == "cpu"
            and input.dtype == torch.float32
            and weight.dtype == torch.float32
            and not torch.is_autocast_enabled("cpu")
            and not torch.jit.is_scripting()
            and not torch.compiler.is_compiling()
        ):
            return torch.ops.aten.mkldnn_convolution(
                input,
                weight,
                bias,
                list(self.padding),  # type: ignore[arg-type]
                list(self.stride),
                list(self.dilation),
                self.groups,
            )
        return super()._conv_forward(input, weight, bias)


def route_batch1_conv3d(network: nn.Module) -> int:
    """Make the network's plain `nn.Conv3d` layers run batch-1 CPU calls through oneDNN.

    Changes the layers' class in place (their parameters and state dict stay as they are);
    returns how many were changed. A no-op where PyTorch has no oneDNN.
    """
    if not (torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled):
        return 0
    changed = 0
    for module in network.modules():
        if (
            type(module) is nn.Conv3d
            and module.padding_mode == "zeros"
            and not isinstance(module.padding, str)
        ):
            module.__class__ = OneDnnConv3d
            changed += 1
    if changed:
        log.debug("%d Conv3d layer(s) run batch-1 CPU calls through oneDNN", changed)
    return changed
