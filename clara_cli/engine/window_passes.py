"""Fewer windows per forward pass than the sliding-window inferer hands the network."""

from __future__ import annotations

from typing import Any

import torch


class WindowPasses(torch.nn.Module):
    """Runs a batch of windows through the network `size` windows at a time.

    A sliding-window inferer hands the network `sw_batch_size` windows at once, and a 3D
    network's activations grow with the batch: AHNet on 4 windows of 96^3 holds about 2 GB
    of activations on a CPU. Each window's output does not depend on the others, so running
    them in smaller passes and concatenating gives the same output for less peak memory
    (the config's `sw_batch_size` keeps its meaning for the stitching). MONAI's inferers
    have no such knob (their `buffer_steps` batches the stitching, not the forward pass).
    """

    def __init__(self, module: torch.nn.Module, size: int) -> None:
        super().__init__()
        if size < 1:
            raise ValueError(f"windows per pass must be >= 1, not {size}")
        self.module = module
        self.size = size

    def forward(self, windows: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        if windows.shape[0] <= self.size:
            return self.module(windows, *args, **kwargs)
        parts = [self.module(part, *args, **kwargs) for part in windows.split(self.size)]
        if isinstance(parts[0], torch.Tensor):
            return torch.cat(parts)
        if isinstance(parts[0], (list, tuple)):
            return type(parts[0])(torch.cat(outs) for outs in zip(*parts, strict=True))
        if isinstance(parts[0], dict):
            return {key: torch.cat([part[key] for part in parts]) for key in parts[0]}
        raise TypeError(f"cannot join network outputs of type {type(parts[0]).__name__}")
