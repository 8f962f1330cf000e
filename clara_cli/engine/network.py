"""How the network runs on this rank: DistributedDataParallel for training, torch.compile when
the config asks for `compile` (training only), channels-last weights when it asks for
`channels_last` (by default under CPU bf16 for the network classes that measured faster so),
CPU bf16 autocast when it asks for `amp` (3D convolutions of inputs no larger
than their kernel staying fp32: engine/bf16_conv_guard.py), and batch-1 3D convolutions through
oneDNN on the CPU unless it sets `onednn_conv3d` false (see engine/onednn_conv.py)."""

from __future__ import annotations

import logging
from typing import Any

import torch

from clara_cli.engine.bf16_conv_guard import guard_tiny_conv3d
from clara_cli.engine.bf16_pooling import keep_pooling_in_bf16
from clara_cli.engine.compiled import CompiledForward
from clara_cli.engine.onednn_conv import route_batch1_conv3d
from clara_cli.engine.precision import AutocastForward

log = logging.getLogger("clara")

# Network classes whose CPU bf16 training step measured faster with channels-last weights, 2
# cores with native bf16 (Zen 5), torch 2.14.1, default / channels-last per step:
# `benchmarks/bench_channels_last.py` (batch 2, 48^3, 2D 192^2): MONAI UNet 1.12-1.17x, AHNet
# 1.19x, smp Unet 1.13x, Linknet 1.16x, PSPNet 1.37x; `bench_train_efficiency.py` (batch 1,
# 96^3): UNet 1.1-1.4x, AHNet 1.3-1.45x; the spleen phantom recipe (AHNet, 32^3) trained in
# 91 s instead of 120 s. Left out: SegResNet 0.72-0.82x, BasicUNet 0.80x, smp FPN 1.01x.
# In fp32 the same CPU gained too little or nothing, so fp32 stays as PyTorch lays it out.
CHANNELS_LAST_UNDER_CPU_BF16 = frozenset({"UNet", "AHNet", "Unet", "Linknet", "PSPNet"})


class NetworkPreparer:
    """Wraps the network a trainer/evaluator runs: DDP and torch.compile for training, CPU
    autocast for AMP.

    Args:
        dist: this rank's DistContext.
        cpu_autocast_dtype: dtype for CPU autocast, or None for fp32.
        compile: run the training network through torch.compile (see engine/compiled.py).
        channels_last: keep the network's convolution weights channels-last (2D or 3D), so
            oneDNN/cuDNN run its convolutions, and their outputs, in that layout; measured per
            network family in benchmarks/bench_channels_last.py. None: only under CPU bf16
            autocast, for the classes in `CHANNELS_LAST_UNDER_CPU_BF16`.
        onednn_conv3d: on a CPU, run batch-1 fp32 3D convolutions through oneDNN (see
            engine/onednn_conv.py); not combined with `compile`, which picks its own kernels.
        bf16_pooling: under CPU bf16 autocast, 3D max pooling keeps bf16 activations in bf16
            in the forward passes without gradients (validation; see engine/bf16_pooling.py).
    """

    def __init__(
        self,
        dist: Any,
        cpu_autocast_dtype: torch.dtype | None,
        compile: bool = False,
        channels_last: bool | None = None,
        onednn_conv3d: bool = True,
        bf16_pooling: bool = True,
    ) -> None:
        self.dist = dist
        self.cpu_autocast_dtype = cpu_autocast_dtype
        self.compile = compile
        self.channels_last = channels_last
        self.onednn_conv3d = onednn_conv3d and dist.device.type == "cpu" and not compile
        self.bf16_pooling = bf16_pooling
        self._ddp: dict[int, torch.nn.Module] = {}
        self._compiled: dict[int, torch.nn.Module] = {}

    def __call__(self, network: torch.nn.Module, training: bool) -> torch.nn.Module:
        cpu_bf16 = self.cpu_autocast_dtype == torch.bfloat16 and self.dist.device.type == "cpu"
        channels_last = self.channels_last
        if channels_last is None:
            channels_last = cpu_bf16 and type(network).__name__ in CHANNELS_LAST_UNDER_CPU_BF16
            if channels_last:
                log.debug("%s trains with channels-last weights under CPU bf16 (measured faster; "
                          "--set channels_last=false turns it off)", type(network).__name__)  # fmt: skip
        if channels_last:
            to_channels_last(network)
        if self.onednn_conv3d:
            route_batch1_conv3d(network)
        if cpu_bf16:
            guard_tiny_conv3d(network)  # after the routing: guards routed layers too
            if self.bf16_pooling:
                keep_pooling_in_bf16(network)
        net = network
        if training and self.dist.world_size > 1 and any(p.requires_grad for p in net.parameters()):
            key = id(network)
            if key not in self._ddp:
                device_ids = [self.dist.device.index] if self.dist.device.type == "cuda" else None
                self._ddp[key] = torch.nn.parallel.DistributedDataParallel(
                    net, device_ids=device_ids
                )
            net = self._ddp[key]
        if training and self.compile:
            # One compiled wrapper per network: a trainer built twice must not compile twice.
            net = self._compiled.setdefault(id(net), CompiledForward(net))
        if self.cpu_autocast_dtype is not None and self.dist.device.type == "cpu":
            net = AutocastForward(net, "cpu", self.cpu_autocast_dtype)
        return net


def to_channels_last(network: torch.nn.Module) -> torch.nn.Module:
    """Convert the network's convolution weights to channels-last, in place (the parameters
    stay the same objects, so an optimizer built on them keeps working).

    3D networks get `channels_last_3d`, 2D ones `channels_last`; a network with both kinds of
    weights is left as it is (one format cannot serve both).
    """
    dims = {p.dim() for p in network.parameters() if p.dim() in (4, 5)}
    if len(dims) == 1:
        fmt = torch.channels_last_3d if dims == {5} else torch.channels_last
        network.to(memory_format=fmt)
    return network
