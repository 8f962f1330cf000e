"""The entry's slice classifier (is each organ on this slice?) and the gate it puts on the
segmenter's slice predictions.

Trained with ``config_train_classifier.json``: the same 2D slices as the segmenter, the
label map of each slice turned into one presence flag per organ (:class:`SlicePresenced`),
binary cross-entropy. At test time :class:`GatedSliceInferer` runs the segmenter slice by
slice and, on every slice where the classifier gives an organ a probability below
``threshold``, removes that organ from the slice's prediction (its logit is pushed far below
the others, so softmax gives it ~0 and argmax never picks it).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform

from clara_cli.families.slice2d.data import Axes
from clara_cli.families.slice2d.inference import SliceWiseInferer, predict_volume

#: Added to a gated-off organ's logit: far below any real logit, still finite in bf16.
_OFF = -1.0e4


class SliceClassifier(torch.nn.Module):
    """An smp encoder with a pooled linear head: one presence logit per organ per slice.

    Args:
        encoder: smp encoder name (or the entry's alias, see slice2d.networks).
        in_channels: input channels, as the segmenter's.
        classes: number of organs (presence flags).
        encoder_weights_file: ImageNet weights of the encoder; None or "" for random init.
        dropout: dropout before the linear layer.
    """

    def __init__(
        self,
        encoder: str = "resnet34",
        in_channels: int = 1,
        classes: int = 4,
        encoder_weights_file: str | os.PathLike[str] | None = None,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        from pathlib import Path

        from segmentation_models_pytorch.base import ClassificationHead
        from segmentation_models_pytorch.encoders import get_encoder

        from clara_cli.errors import ConfigError
        from clara_cli.families.slice2d.networks import (
            adapt_input_channels,
            load_encoder_weights,
            resolve_encoder_name,
        )

        name = resolve_encoder_name(encoder)
        weights = Path(encoder_weights_file) if encoder_weights_file else None
        if weights is not None and not weights.is_file():
            raise ConfigError(
                f"encoder weights file not found: {weights} (PRETRAIN_WEIGHTS_FILE)\n"
                "  give an existing file, or leave PRETRAIN_WEIGHTS_FILE empty for random init"
            )
        self.encoder = get_encoder(name, in_channels=3 if weights else in_channels, weights=None)
        if weights is not None:
            load_encoder_weights(self.encoder, weights)
            adapt_input_channels(self.encoder, in_channels)
        self.head = ClassificationHead(
            in_channels=self.encoder.out_channels[-1], classes=classes, dropout=dropout
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) slices -> (B, classes) presence logits."""
        return self.head(self.encoder(x)[-1])


def presence(label: Any, organs: Sequence[int]) -> torch.Tensor:
    """One flag (float 0/1) per organ: whether the label map holds it."""
    values = torch.as_tensor(label)
    return torch.tensor([float((values == organ).any()) for organ in organs])


class SlicePresenced(MapTransform):
    """Replace a 2D label map by its organ presence flags (the classifier's target).

    Args:
        keys: the label map(s).
        organs: label values, one flag each (``[1, 2, 3, 4]``).
    """

    def __init__(self, keys: KeysCollection, organs: Sequence[int] = (1, 2, 3, 4)) -> None:
        super().__init__(keys)
        self.organs = [int(o) for o in organs]

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = presence(d[key], self.organs)
        return d


def gate_logits(
    logits: torch.Tensor, presence_logits: torch.Tensor, organs: Sequence[int], threshold: float
) -> torch.Tensor:
    """Push down the logit of every organ the classifier says is absent from its slice.

    Args:
        logits: segmenter output (B, classes, H, W); channel `organ` is that organ's.
        presence_logits: classifier output (B, len(organs)).
        organs: the label value (= logit channel) of each presence flag.
        threshold: presence probability below which an organ is removed.
    """
    if presence_logits.shape != (logits.shape[0], len(organs)):
        raise ValueError(
            f"the slice classifier gave shape {tuple(presence_logits.shape)} for "
            f"{logits.shape[0]} slice(s); expected one flag per organ {list(organs)}"
        )
    if max(organs) >= logits.shape[1]:
        raise ValueError(f"organs {list(organs)} but the segmenter has {logits.shape[1]} channels")
    absent = torch.sigmoid(presence_logits.float()) < threshold  # (B, K)
    gated = logits.clone()
    for k, organ in enumerate(organs):
        off = absent[:, k].view(-1, *([1] * (logits.dim() - 1)))
        channel = gated[:, organ : organ + 1]
        gated[:, organ : organ + 1] = torch.where(off, channel + _OFF, channel)
    return gated


class GatedSliceInferer(SliceWiseInferer):
    """Slice-wise segmentation, each slice gated by the slice classifier when one is given.

    Args:
        classifier_checkpoint: the classifier's ``model.pt`` (``clara train -c
            config/config_train_classifier.json``), loaded on the first call when `gate`.
        gate: whether to gate (false: a plain :class:`SliceWiseInferer`).
        classifier: the classifier network itself, instead of a checkpoint.
        organs: label values of the classifier's flags, in order.
        threshold: presence probability below which an organ is removed from a slice.
        axis, sw_batch_size, divisible: as :class:`SliceWiseInferer` (one axis when gating).
    """

    def __init__(
        self,
        classifier_checkpoint: str | os.PathLike[str] = "",
        gate: bool = False,
        organs: Sequence[int] = (1, 2, 3, 4),
        threshold: float = 0.5,
        axis: Axes = 2,
        sw_batch_size: int = 8,
        divisible: int = 32,
        classifier: Callable[..., Any] | None = None,
    ) -> None:
        super().__init__(axis, sw_batch_size, divisible)
        self.organs = [int(o) for o in organs]
        self.threshold = float(threshold)
        self.gate = bool(gate) or classifier is not None
        self.classifier = classifier
        self.classifier_checkpoint = classifier_checkpoint
        if self.gate and classifier is None and not classifier_checkpoint:
            raise ValueError(
                "gate is on but no classifier_checkpoint is given: train the slice "
                "classifier (config_train_classifier.json) and point CLASSIFIER_CKPT at it"
            )

    def __call__(self, inputs: Any, network: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Logits of the (gated) segmenter, shaped like `inputs`."""
        if not self.gate:
            return super().__call__(inputs, network)
        if self.classifier is None:
            from clara_cli.families.slice2d.networks import trained_network

            self.classifier = trained_network(self.classifier_checkpoint, inputs.device)
        classifier = self.classifier

        def gated(slices: torch.Tensor) -> torch.Tensor:
            return gate_logits(network(slices), classifier(slices), self.organs, self.threshold)

        return predict_volume(
            inputs,
            [(gated, axis) for axis in self.axes],
            sw_batch_size=self.sw_batch_size,
            divisible=self.divisible,
        )
