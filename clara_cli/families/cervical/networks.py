"""The study's networks: an architecture over a "random init." or an ImageNet-pretrained encoder.

The study's tables name the encoder as ``random init.``, ``resnet50`` or ``inceptionv4``;
its queue file (``pipeline.csv``) uses the same words, so a config says
``"encoder": "{encoder}"`` and this factory turns the word into the shared 2D factory's
arguments (:func:`clara_cli.families.slice2d.networks.smp_network`):

- ``random``: the ``random_encoder`` backbone (resnet34, smp's default) from random weights;
- any smp encoder name: that backbone with its ImageNet weights from a local file,
  ``<PRETRAIN_WEIGHTS_DIR>/<encoder>.pth`` (or ``.safetensors``); nothing is downloaded.
  Without the file the run stops, unless ``require_pretrained`` is false (CPU tests on
  phantoms): then the backbone starts from random weights, with a warning.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from clara_cli.errors import ConfigError

log = logging.getLogger("clara")

#: The study's word for an encoder trained from scratch.
RANDOM = "random"
_SUFFIXES = (".pth", ".pt", ".safetensors")
_UNET_DECODER = (256, 128, 64, 32, 16)


def study_network(
    architecture: str = "Unet",
    encoder: str = RANDOM,
    weights_dir: str | os.PathLike[str] | None = None,
    random_encoder: str = "resnet34",
    require_pretrained: bool = True,
    in_channels: int = 1,
    classes: int = 2,
    **kwargs: Any,
) -> Any:
    """An smp ``Unet | FPN | Linknet | PSPNet`` as the study's tables name it.

    Args:
        architecture: ``Unet``, ``FPN``, ``Linknet`` or ``PSPNet``.
        encoder: ``random`` or an smp encoder name (``resnet50``, ``inceptionv4``).
        weights_dir: the folder of ImageNet encoder weights (``<encoder>.pth``).
        random_encoder: the backbone of a ``random`` encoder.
        require_pretrained: a named encoder without its weights file is an error (else a
            warning, and random weights).
        in_channels: input channels (1: one MRI sequence).
        classes: output channels, background included.
        **kwargs: passed on to the smp class (``encoder_depth``, ...).

    Raises:
        ConfigError: a named encoder without its weights file (and ``require_pretrained``).
    """
    from clara_cli.families.slice2d.networks import smp_network

    depth = kwargs.get("encoder_depth")
    if str(architecture).lower() == "unet" and depth and "decoder_channels" not in kwargs:
        # smp's Unet lists 5 decoder widths; a shallower encoder takes its last `depth`
        kwargs["decoder_channels"] = _UNET_DECODER[-int(depth) :]
    if str(encoder).lower() in (RANDOM, "random init.", "none", ""):
        return smp_network(architecture, random_encoder, in_channels, classes, None, **kwargs)
    weights = pretrained_file(encoder, weights_dir)
    if weights is None:
        where = f"{weights_dir}" if weights_dir else "PRETRAIN_WEIGHTS_DIR (not set)"
        message = (
            f"encoder {encoder!r} needs its ImageNet weights: no {encoder}.pth or "
            f"{encoder}.safetensors in {where}"
        )
        if _truthy(require_pretrained):
            raise ConfigError(
                f"{message}\n  put the file there (clara downloads nothing), use encoder "
                "'random', or set require_pretrained=false to train it from random weights"
            )
        log.warning("%s; training it from random weights (require_pretrained is false)", message)
    return smp_network(architecture, encoder, in_channels, classes, weights, **kwargs)


def pretrained_file(encoder: str, weights_dir: str | os.PathLike[str] | None) -> Path | None:
    """``<weights_dir>/<encoder>.pth|.pt|.safetensors``, the first that exists, else None."""
    if not weights_dir:
        return None
    for suffix in _SUFFIXES:
        candidate = Path(weights_dir) / f"{encoder}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)
