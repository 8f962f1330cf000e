"""The entry's two-stage window pipeline at test time, as a MONAI inferer a config names.

Stage 1 is a model trained on the fixed window (``config_train.json``). Its predicted mask
gives each organ's window (:func:`~clara_cli.families.segthor.windowing.organ_windows`), and
stage 2, trained on mask-derived windows (``config_train_mask_window.json``), segments the
CT normalised with those windows. The config's pre-transforms must leave the CT in HU (no
intensity scaling): the inferer does both normalisations itself.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from clara_cli.families.segthor.windowing import (
    DEFAULT_WINDOW,
    WindowRule,
    apply_windows,
    as_window,
    organ_windows,
)
from clara_cli.families.slice2d.data import Axes
from clara_cli.families.slice2d.inference import SliceWiseInferer, predict_volume


class TwoStageWindowInferer(SliceWiseInferer):
    """Stage 1 on a fixed window -> organ windows from its mask -> stage 2 (the config's model).

    Args:
        first_stage_checkpoint: the stage-1 ``model.pt``, loaded on the first call (on the
            inputs' device).
        first_stage: the stage-1 network itself, instead of a checkpoint.
        organs: label values, one window channel each, as stage 2 was trained.
        first_stage_window: (level, width) stage 1 was trained on.
        width_sigmas, min_width, fallback: the window rule stage 2 was trained with.
        axis, sw_batch_size, divisible: as :class:`SliceWiseInferer`.
    """

    def __init__(
        self,
        first_stage_checkpoint: str | os.PathLike[str] = "",
        first_stage: Callable[..., Any] | None = None,
        organs: Sequence[int] = (1, 2, 3, 4),
        first_stage_window: Sequence[float] = DEFAULT_WINDOW,
        width_sigmas: float = 3.0,
        min_width: float = 80.0,
        fallback: Sequence[float] = DEFAULT_WINDOW,
        axis: Axes = 2,
        sw_batch_size: int = 8,
        divisible: int = 32,
    ) -> None:
        super().__init__(axis, sw_batch_size, divisible)
        if first_stage is None and not first_stage_checkpoint:
            raise ValueError(
                "the two-stage inferer needs a first_stage_checkpoint (FIRST_STAGE_CKPT)"
            )
        self.first_stage = first_stage
        self.first_stage_checkpoint = first_stage_checkpoint
        self.organs = [int(o) for o in organs]
        self.first_stage_window = as_window(first_stage_window)
        self.rule = WindowRule(float(width_sigmas), float(min_width), as_window(fallback))
        #: The windows of the last batch, one list per item (for reports and tests).
        self.last_windows: list[list[tuple[float, float]]] = []

    def __call__(self, inputs: Any, network: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Stage-2 logits for a (B, 1, X, Y, Z) batch of CTs in HU."""
        import torch
        from monai.utils import convert_to_dst_type

        if inputs.shape[1] != 1:
            raise ValueError(
                f"the two-stage inferer needs the CT in HU as one channel, not {inputs.shape[1]} "
                "channels: remove the intensity scaling from the config's pre_transforms"
            )
        hu = inputs.as_tensor() if hasattr(inputs, "as_tensor") else torch.as_tensor(inputs)
        level, width = self.first_stage_window
        first_input = ((hu.float() - (level - width / 2.0)) / width).clamp(0.0, 1.0)
        masks = self._predict(first_input, self._first_stage(hu.device)).argmax(dim=1)
        self.last_windows = []
        second = []
        for item in range(hu.shape[0]):
            windows = organ_windows(hu[item], masks[item], self.organs, self.rule)
            self.last_windows.append(windows)
            second.append(apply_windows(hu[item], windows))
        output = self._predict(torch.stack(second).to(hu.device), network)
        return convert_to_dst_type(output, inputs, dtype=output.dtype)[0]

    def _first_stage(self, device: Any) -> Callable[..., Any]:
        if self.first_stage is None:
            from clara_cli.families.slice2d.networks import trained_network

            self.first_stage = trained_network(self.first_stage_checkpoint, device)
        return self.first_stage

    def _predict(self, volume: Any, network: Callable[..., Any]) -> Any:
        return predict_volume(
            volume,
            [(network, axis) for axis in self.axes],
            sw_batch_size=self.sw_batch_size,
            divisible=self.divisible,
        )
