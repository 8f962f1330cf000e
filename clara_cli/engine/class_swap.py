"""Change layers' classes in place: how clara gives a network's layers another forward.

A subclass whose `forward` differs (engine/bf16_conv_guard.py, engine/bf16_pooling.py) takes
over a layer without touching its parameters, state dict, hooks or the attribute that holds
it, so checkpoints, optimizers and the network's own forward see the same module.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import nn


def swap_classes(network: nn.Module, swaps: Mapping[type, type]) -> int:
    """Give every layer of `network` whose exact class is a key of `swaps` the class it maps
    to; returns how many layers were changed (0 when run again)."""
    changed = 0
    for module in network.modules():
        swap = swaps.get(type(module))
        if swap is not None:
            module.__class__ = swap
            changed += 1
    return changed
