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
        self.enabled = True

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        with torch.autocast(self.device_type, dtype=self.dtype, enabled=self.enabled):
            out = self.module(*args, **kwargs)
        return _to_float(out)


class NonFiniteGradientFallback:
    """Redo a CPU bf16 training step in fp32 when its gradients are not finite.

    bf16 has no loss scaling to fall back on, and oneDNN's bf16 convolution backward on CPU
    returned NaN weight gradients for MONAI's AHNet (in nearly every step of the spleen
    recipe; never seen for UNet or SegResNet). Applying such a step would turn every weight
    into NaN, so this handler checks the gradients after `backward` and, when one is not
    finite, recomputes that step without autocast before the optimizer runs. After
    `max_fallbacks` such steps bf16 is switched off for the rest of the run: redoing every
    step costs more than fp32 alone. DDP has already averaged the gradients, so every rank
    takes the same decisions. Attach it to a MONAI SupervisedTrainer whose network is an
    :class:`AutocastForward`.
    """

    def __init__(self, wrapper: AutocastForward, max_fallbacks: int = 3) -> None:
        self.wrapper = wrapper
        self.max_fallbacks = max_fallbacks
        self.fallbacks = 0

    def attach(self, engine: Any) -> None:
        from monai.engines.utils import IterationEvents

        engine.add_event_handler(IterationEvents.BACKWARD_COMPLETED, self)

    def __call__(self, engine: Any) -> None:
        if not self.wrapper.enabled or _gradients_finite(engine.optimizer):
            return
        self.fallbacks += 1
        output = engine.state.output
        engine.optimizer.zero_grad(set_to_none=True)
        self.wrapper.enabled = False
        try:
            output["pred"] = engine.inferer(output["image"], engine.network)
            output["loss"] = engine.loss_function(output["pred"], output["label"]).mean()
            output["loss"].backward()
        finally:
            self.wrapper.enabled = self.fallbacks < self.max_fallbacks
        if self.wrapper.enabled:
            log.debug(
                "bf16 step %d had non-finite gradients; redone in fp32", engine.state.iteration
            )
        else:
            log.warning(
                "bf16 autocast gave non-finite gradients in %d steps of this network; training "
                "continues in fp32 (set amp=false to skip the bf16 attempt)",
                self.fallbacks,
            )


def _gradients_finite(optimizer: torch.optim.Optimizer) -> bool:
    grads = [
        p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None
    ]
    if not grads:
        return True
    # One fused reduction instead of a Python loop of per-tensor checks.
    norms = torch._foreach_norm(grads)
    return bool(torch.isfinite(torch.stack(norms)).all())


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
                self._ddp[key] = torch.nn.parallel.DistributedDataParallel(
                    net, device_ids=device_ids
                )
            net = self._ddp[key]
        if self.cpu_autocast_dtype is not None and self.dist.device.type == "cpu":
            net = AutocastForward(net, "cpu", self.cpu_autocast_dtype)
        return net


def unwrap(network: torch.nn.Module) -> torch.nn.Module:
    """The plain network inside DDP / autocast wrappers."""
    while isinstance(network, (AutocastForward, torch.nn.parallel.DistributedDataParallel)):
        network = network.module
    return network
