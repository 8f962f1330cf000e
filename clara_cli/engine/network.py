"""How the network runs on this rank: DistributedDataParallel for training, torch.compile when
the config asks for `compile` (training only), channels-last weights when it asks for
`channels_last`, CPU bf16 autocast when it asks for `amp` (3D convolutions of inputs no larger
than their kernel staying fp32: engine/bf16_conv_guard.py), and batch-1 3D convolutions through
oneDNN on the CPU unless it sets `onednn_conv3d` false (see engine/onednn_conv.py)."""

from __future__ import annotations

from typing import Any

import torch

from clara_cli.engine.bf16_conv_guard import guard_tiny_conv3d
from clara_cli.engine.compiled import CompiledForward
from clara_cli.engine.onednn_conv import route_batch1_conv3d
from clara_cli.engine.precision import AutocastForward


class NetworkPreparer:
    """Wraps the network a trainer/evaluator runs: DDP and torch.compile for training, CPU
    autocast for AMP.

    Args:
        dist: this rank's DistContext.
        cpu_autocast_dtype: dtype for CPU autocast, or None for fp32.
        compile: run the training network through torch.compile (see engine/compiled.py).
        channels_last: keep the network's convolution weights channels-last (2D or 3D), so
            oneDNN/cuDNN run its convolutions, and their outputs, in that layout; measured per
            network family in benchmarks/bench_channels_last.py.
        onednn_conv3d: on a CPU, run batch-1 fp32 3D convolutions through oneDNN (see
            engine/onednn_conv.py); not combined with `compile`, which picks its own kernels.
    """

    def __init__(
        self,
        dist: Any,
        cpu_autocast_dtype: torch.dtype | None,
        compile: bool = False,
        channels_last: bool = False,
        onednn_conv3d: bool = True,
    ) -> None:
        self.dist = dist
        self.cpu_autocast_dtype = cpu_autocast_dtype
        self.compile = compile
        self.channels_last = channels_last
        self.onednn_conv3d = onednn_conv3d and dist.device.type == "cpu" and not compile
        self._ddp: dict[int, torch.nn.Module] = {}
        self._compiled: dict[int, torch.nn.Module] = {}

    def __call__(self, network: torch.nn.Module, training: bool) -> torch.nn.Module:
        if self.channels_last:
            to_channels_last(network)
        if self.onednn_conv3d:
            route_batch1_conv3d(network)
        cpu_bf16 = self.cpu_autocast_dtype == torch.bfloat16 and self.dist.device.type == "cpu"
        if cpu_bf16:
            guard_tiny_conv3d(network)  # after the routing: guards routed layers too
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
