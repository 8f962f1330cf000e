"""How the network runs on this rank: device placement, DDP, and autocast on CPU.

MONAI's engines only know CUDA AMP (`torch.autocast("cuda")` + GradScaler). On a CPU the
config's `amp: true` becomes bf16 autocast through a thin wrapper module instead, so the same
config runs mixed precision on both.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

log = logging.getLogger("clara")


class AutocastForward(torch.nn.Module):
    """Runs a network's forward under `torch.autocast` and returns float32 outputs.

    The wrapped module's parameters are shared, so optimizers and checkpoints keep using
    the plain network.
    """

    def __init__(self, module: torch.nn.Module, device_type: str, dtype: torch.dtype) -> None:
        super().__init__()
        self.module = module
        self.device_type = device_type
        self.dtype = dtype

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        with torch.autocast(self.device_type, dtype=self.dtype):
            out = self.module(*args, **kwargs)
        return _to_float(out)


def _to_float(out: Any) -> Any:
    if isinstance(out, torch.Tensor):
        return out.float() if out.is_floating_point() else out
    if isinstance(out, (list, tuple)):
        return type(out)(_to_float(o) for o in out)
    if isinstance(out, dict):
        return {k: _to_float(v) for k, v in out.items()}
    return out


class NetworkPreparer:
    """Wraps the network a trainer/evaluator runs: DDP for training, CPU autocast for AMP.

    Args:
        dist: this rank's DistContext.
        cpu_autocast_dtype: dtype for CPU autocast, or None for fp32.
    """

    def __init__(self, dist: Any, cpu_autocast_dtype: torch.dtype | None) -> None:
        self.dist = dist
        self.cpu_autocast_dtype = cpu_autocast_dtype
        self._ddp: dict[int, torch.nn.Module] = {}

    def __call__(self, network: torch.nn.Module, training: bool) -> torch.nn.Module:
        net = network
        if training and self.dist.world_size > 1 and any(p.requires_grad for p in net.parameters()):
            key = id(network)
            if key not in self._ddp:
                device_ids = [self.dist.device.index] if self.dist.device.type == "cuda" else None
                self._ddp[key] = torch.nn.parallel.DistributedDataParallel(net, device_ids=device_ids)
            net = self._ddp[key]
        if self.cpu_autocast_dtype is not None and self.dist.device.type == "cpu":
            net = AutocastForward(net, "cpu", self.cpu_autocast_dtype)
        return net


def unwrap(network: torch.nn.Module) -> torch.nn.Module:
    """The plain network inside DDP / autocast wrappers."""
    while isinstance(network, (AutocastForward, torch.nn.parallel.DistributedDataParallel)):
        network = network.module
    return network
