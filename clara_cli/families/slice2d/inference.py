"""Slice-wise inference of 2D networks over 3D volumes, on the engine's inference pipeline.

:class:`SliceWiseInferer` is a MONAI inferer a Clara config can name by ``path`` (in a
validate section or an inference config)::

    "inferer": {"path": "clara_cli.families.slice2d.inference.SliceWiseInferer",
                "args": {"axis": 2, "sw_batch_size": 16}}

It pads the slice planes to a multiple of the encoder's output stride (smp encoders need
32), runs :func:`clara_cli.engine.inference.slicewise_inferer` (MONAI's SliceInferer) on each
axis asked for, and crops back. On one axis the output is the network's logits. On several
(``"012"``) the views are fused by the engine's ``mean_of_probabilities`` and the output is
the log of the fused probabilities: softmax of it gives those probabilities back, so the
same post-transforms (``Activationsd softmax``, ``AsDiscreted argmax``) serve both.

For several networks (one per view axis, or an ensemble) use :func:`slice_members` with the
engine's :class:`~clara_cli.engine.inference.Pipeline`, or :func:`predict_volume`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from monai.inferers import Inferer

from clara_cli.families.slice2d.data import Axes, parse_axes

#: Probabilities are clamped to this before the log, so an exact 0 stays finite.
_TINY = 1e-7


class SliceWiseInferer(Inferer):
    """Run a 2D network on every slice of (B, C, X, Y, Z) volumes; one or three view axes.

    Args:
        axis: spatial axis to slice along (0, 1, 2; 2 is axial for RAS volumes), or several
            as a string (``"012"``) whose views are fused.
        sw_batch_size: slices per forward pass.
        divisible: pad each slice plane to a multiple of this (the encoder's output stride).
    """

    def __init__(self, axis: Axes = 2, sw_batch_size: int = 8, divisible: int = 32) -> None:
        super().__init__()
        self.axes = parse_axes(axis)
        self.sw_batch_size = int(sw_batch_size)
        self.divisible = max(1, int(divisible))

    def __call__(self, inputs: Any, network: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Logits (one axis) or log fused probabilities (several), shaped like `inputs`."""
        return predict_volume(
            inputs,
            [(network, axis) for axis in self.axes],
            sw_batch_size=self.sw_batch_size,
            divisible=self.divisible,
        )


def slice_members(
    networks: Sequence[tuple[Callable[..., Any], int]], sw_batch_size: int = 8
) -> list[Any]:
    """Engine pipeline members: each (network, axis) run slice by slice along its axis."""
    from clara_cli.engine.inference import Member, slicewise_inferer

    return [
        Member(network, slicewise_inferer(axis, sw_batch_size=sw_batch_size))
        for network, axis in networks
    ]


def predict_volume(
    volume: Any,
    networks: Sequence[tuple[Callable[..., Any], int]],
    sw_batch_size: int = 8,
    divisible: int = 32,
    weights: Sequence[float] | None = None,
) -> Any:
    """Slice-wise prediction of a (B, C, X, Y, Z) volume by one or several 2D networks.

    Args:
        volume: the input batch (a MetaTensor keeps its metadata in the output).
        networks: (network, axis) pairs; the same network may appear on several axes.
        sw_batch_size: slices per forward pass.
        divisible: pad the slice planes to a multiple of this, cropped back afterwards.
        weights: per-member weights of the fusion (default equal).

    Returns:
        One member: its logits. Several: the log of their mean probabilities (engine's
        :func:`~clara_cli.engine.inference.mean_of_probabilities`).
    """
    import torch
    from monai.utils import convert_to_dst_type

    from clara_cli.engine.inference import Pipeline, mean_of_probabilities

    if not networks:
        raise ValueError("predict_volume needs at least one (network, axis) pair")
    if len(volume.shape) != 5:
        raise ValueError(f"expected a (B, C, X, Y, Z) batch, not shape {tuple(volume.shape)}")
    members = slice_members(networks, sw_batch_size)
    planes = {a for _, axis in networks for a in range(3) if a != axis}
    if weights is not None:
        if len(weights) != len(members):
            raise ValueError(f"{len(members)} networks but {len(weights)} weights")
        for member, weight in zip(members, weights, strict=True):
            member.weight = float(weight)
    plain = volume.as_tensor() if hasattr(volume, "as_tensor") else torch.as_tensor(volume)
    padded, spatial = _pad(plain, sorted(planes), divisible)
    pipeline = Pipeline(members, None, None, padded.device, combine=mean_of_probabilities)
    output = pipeline.predict(padded)
    if len(members) > 1:
        output = torch.log(output.clamp_min(_TINY))
    output = output[(slice(None), slice(None), *(slice(0, n) for n in spatial))]
    return convert_to_dst_type(output.contiguous(), volume, dtype=output.dtype)[0]


def _pad(volume: Any, axes: Sequence[int], divisible: int) -> tuple[Any, tuple[int, ...]]:
    """Pad the spatial `axes` at their far end to a multiple of `divisible` (edge values)."""
    import torch.nn.functional as F

    spatial = tuple(int(n) for n in volume.shape[2:])
    extra = [(-n) % divisible if a in axes else 0 for a, n in enumerate(spatial)]
    if not any(extra):
        return volume, spatial
    # F.pad lists the last axis first: (z_low, z_high, y_low, y_high, x_low, x_high).
    widths = [w for n in reversed(extra) for w in (0, n)]
    return F.pad(volume, widths, mode="replicate"), spatial
