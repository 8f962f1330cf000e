"""View fusion: the probabilities of 2D models run along the three axes, averaged in 3D.

The study trains one 2D model per view (axis 0 sagittal, 1 coronal, 2 axial) or one on the
slices of all three ("012"). Fused, each model segments the volume slice by slice along its
own axis and the three probability maps are averaged, voxel by voxel. :class:`ViewFusion`
is that as a network a validation or inference config names as its ``model``::

    "model": {"path": "clara_cli.families.cervical.fusion.view_fusion",
              "args": {"checkpoints": ["{MODEL_AXIS0}", "{MODEL_AXIS1}", "{MODEL_AXIS2}"],
                       "axes": [0, 1, 2]}},
    "inferer": {"name": "SimpleInferer"}

Its forward pass is the shared slice machinery's
:func:`~clara_cli.families.slice2d.inference.predict_volume`, i.e. the engine's inference
:class:`~clara_cli.engine.inference.Pipeline` with one ``Member`` per (network, axis) and the
``mean_of_probabilities`` combiner. The output is the log of the fused probabilities, so the
usual post-transforms (``Activationsd softmax``, ``AsDiscreted argmax``) apply unchanged;
`clara validate` and `clara infer` run it like any single network.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from clara_cli.errors import ConfigError


class ViewFusion(torch.nn.Module):
    """2D networks, each run slice by slice along its own axis, fused by mean probability.

    Args:
        networks: the 2D networks (one per axis, or one network for all axes).
        axes: the axis each network runs along (same length as `networks`).
        sw_batch_size: slices per forward pass.
        divisible: pad slice planes to a multiple of this (the encoders' output stride).
    """

    def __init__(
        self,
        networks: Sequence[torch.nn.Module],
        axes: Sequence[int],
        sw_batch_size: int = 8,
        divisible: int = 32,
    ) -> None:
        super().__init__()
        if len(networks) != len(axes) or not networks:
            raise ConfigError(f"view fusion: {len(networks)} networks for {len(axes)} axes")
        self.networks = torch.nn.ModuleList(networks)
        self.axes = [int(a) for a in axes]
        self.sw_batch_size = int(sw_batch_size)
        self.divisible = int(divisible)

    def forward(self, volume: Any) -> Any:
        """Log fused probabilities (B, classes, X, Y, Z) of a (B, C, X, Y, Z) volume."""
        from clara_cli.families.slice2d.inference import predict_volume

        output = predict_volume(
            volume,
            list(zip(self.networks, self.axes, strict=True)),
            sw_batch_size=self.sw_batch_size,
            divisible=self.divisible,
        )
        if len(self.networks) == 1:  # one member: logits; make them log probabilities too
            output = torch.log_softmax(output, dim=1)
        return output


def view_fusion(
    checkpoints: Sequence[str] | str,
    axes: Sequence[int] | str = (0, 1, 2),
    sw_batch_size: int = 8,
    divisible: int = 32,
) -> ViewFusion:
    """Load trained 2D models and fuse them over `axes` (the config factory).

    Args:
        checkpoints: one clara checkpoint per axis (``models/axis0/model.pt``, ...), or a
            single one (a "012" model) applied along every axis.
        axes: the axes, in the order of `checkpoints` (``[0, 1, 2]`` or ``"012"``).
        sw_batch_size: slices per forward pass.
        divisible: pad slice planes to a multiple of this.

    Raises:
        ConfigError: a checkpoint is missing or cannot rebuild its network, or the numbers
            of checkpoints and axes do not match.
    """
    from clara_cli.families.slice2d.data import parse_axes
    from clara_cli.families.slice2d.networks import trained_network

    paths = [checkpoints] if isinstance(checkpoints, str) else list(checkpoints)
    try:
        parsed = parse_axes(axes if isinstance(axes, str) else list(axes))
    except ValueError as err:
        raise ConfigError(f"view fusion: {err}") from None
    if len(paths) == 1:
        network = trained_network(paths[0])
        return ViewFusion([network] * len(parsed), parsed, sw_batch_size, divisible)
    if len(paths) != len(parsed):
        raise ConfigError(
            f"view fusion: {len(paths)} checkpoints for {len(parsed)} axes {list(parsed)}; "
            "give one checkpoint per axis, or one model for all"
        )
    networks = [trained_network(path) for path in paths]
    return ViewFusion(networks, parsed, sw_batch_size, divisible)
