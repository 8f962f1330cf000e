"""Mixed precision on CPU: bf16 autocast around the network, and the fp32 redo of a step
whose bf16 gradients are not finite.

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


class _NonFiniteGradients(Exception):
    """Raised before the optimizer step of a bf16 iteration whose gradients are not finite."""


class NonFiniteGradientFallback:
    """Redo a CPU bf16 training iteration in fp32 when its gradients are not finite.

    bf16 has no loss scaling to fall back on, and oneDNN's bf16 convolution backward on CPU
    returned NaN weight gradients for MONAI's AHNet in nearly every step of the spleen recipe
    (3D inputs no larger than the kernel; engine/bf16_conv_guard.py now runs those in fp32,
    and this stays as the net for whatever else goes non-finite). Applying such a step would
    turn every weight into NaN, so a pre-hook on the optimizer's `step` checks the gradients first; when one is
    not finite the step is not taken and the trainer's whole iteration is run again without
    autocast. The iteration is whatever the trainer runs (MONAI's supervised step, a config's
    `iteration` such as DeepGrow's click `Interaction`, a family's step with an extra loss
    term), so the redo computes exactly what the bf16 attempt did. After `max_fallbacks`
    such iterations bf16 is switched off for the rest of the run: redoing every step costs
    more than fp32 alone. DDP has already averaged the gradients, so every rank takes the
    same decision. Attach it to a MONAI trainer whose network is an :class:`AutocastForward`.
    """

    def __init__(self, wrapper: AutocastForward, max_fallbacks: int = 3) -> None:
        self.wrapper = wrapper
        self.max_fallbacks = max_fallbacks
        self.fallbacks = 0

    def attach(self, engine: Any) -> None:
        """Wrap the engine's iteration and check the gradients before each optimizer step."""
        engine.optimizer.register_step_pre_hook(self._check)
        iteration = engine._process_function

        def guarded(engine: Any, batch: Any) -> Any:
            try:
                return iteration(engine, batch)
            except _NonFiniteGradients:
                return self._redo(iteration, engine, batch)

        guarded.__wrapped__ = iteration  # type: ignore[attr-defined]  # inspect.unwrap
        engine._process_function = guarded

    def _check(self, optimizer: torch.optim.Optimizer, *args: Any) -> None:
        if self.wrapper.enabled and not _gradients_finite(optimizer):
            raise _NonFiniteGradients

    def _redo(self, iteration: Any, engine: Any, batch: Any) -> Any:
        self.fallbacks += 1
        engine.optimizer.zero_grad(set_to_none=True)
        self.wrapper.enabled = False
        try:
            return iteration(engine, batch)
        finally:
            self.wrapper.enabled = self.fallbacks < self.max_fallbacks
            if self.wrapper.enabled:
                log.debug(
                    "bf16 step %d had non-finite gradients; redone in fp32", engine.state.iteration
                )
            else:
                log.warning(
                    "bf16 autocast gave non-finite gradients in %d steps of this network; "
                    "training continues in fp32 (set amp=false to skip the bf16 attempt)",
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
