"""Opt-in `torch.compile` of the training network (`compile: true`, `clara train --compile`).

Measured on a 2-core bf16 CPU (MONAI UNet 96^3): bf16 + torch.compile trains 2.44x faster than
fp32 against 1.74x for bf16 alone, after a 34-46 s cold compile. Compilation is lazy: it happens
in the first forward, whose duration is logged on its own line so that the compile cost is not
mistaken for the iteration speed. When compiling (or a later recompile) fails, the network runs
eagerly for the rest of the run after one warning: an optimisation must never stop a training.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import torch

from clara_cli.errors import first_line

log = logging.getLogger("clara")


class CompiledForward(torch.nn.Module):
    """Runs a network through ``torch.compile``, or eagerly once compiling has failed.

    The wrapped module's parameters are shared (the compiled module is not registered as a
    submodule), so optimizers and checkpoints keep using the plain network.

    Args:
        module: the network (or its DDP wrapper).
        backend: ``torch.compile``'s backend; "inductor" generates fused kernels.

    Attributes:
        compile_seconds: duration of the first forward (compilation included), None before it.
        failed: True once compiling failed; the network then runs eagerly.
    """

    def __init__(self, module: torch.nn.Module, backend: Any = "inductor") -> None:
        super().__init__()
        self.module = module
        self.__dict__["_compiled"] = torch.compile(module, backend=backend)
        self.compile_seconds: float | None = None
        self.failed = False

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if self.failed:
            return self.module(*args, **kwargs)
        start = time.perf_counter()
        try:
            out = self.__dict__["_compiled"](*args, **kwargs)
        except Exception as err:
            # A model error proper is raised again by the eager run below, with its own message.
            self.failed = True
            log.warning(
                "torch.compile failed (%s); the network runs eagerly (uncompiled)", _reason(err)
            )
            return self.module(*args, **kwargs)
        if self.compile_seconds is None:
            self.compile_seconds = time.perf_counter() - start
            log.info(
                "torch.compile: first forward took %.1f s, compilation included (the backward "
                "compiles in the first backward)",
                self.compile_seconds,
            )
        return out


def _reason(err: BaseException) -> str:
    """The root cause: dynamo wraps a backend's error in BackendCompilerFailed."""
    root = err
    for _ in range(10):  # a bounded walk: cause chains can loop
        inner = getattr(root, "inner_exception", None) or root.__cause__
        if not isinstance(inner, BaseException):
            break
        root = inner
    return f"{type(root).__name__}: {first_line(root)}"
