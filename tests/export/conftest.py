"""Fixtures of the export tests."""

from __future__ import annotations

import pytest
import torch


class NoisyNet(torch.nn.Module):
    """Adds fresh noise at every call, so no export can reproduce the eager output."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv3d(1, 2, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) + torch.rand_like(x)


@pytest.fixture
def noisy_net() -> torch.nn.Module:
    """A network that every exporter's parity check must refuse."""
    return NoisyNet()
