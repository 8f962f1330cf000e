"""2D encoder/decoder segmentation networks from segmentation_models_pytorch, built offline.

``smp_network`` is the factory a Clara config names by ``path``::

    "model": {
      "path": "clara_cli.families.slice2d.networks.smp_network",
      "args": {"architecture": "Unet", "encoder": "resnet34", "in_channels": 1, "classes": 5,
               "encoder_weights_file": "{PRETRAIN_WEIGHTS_FILE}"}
    }

The encoder starts from random weights unless ``encoder_weights_file`` names a local file of
ImageNet weights (a torchvision ``.pth`` state dict, or smp's own ``model.safetensors``):
smp itself would download them, which clara never does. The file must fit the encoder (every
encoder weight present, same shapes); a classifier head in it (``fc.*``) is ignored. For an
input that is not RGB the first convolution is adapted the way smp does it for its own
pretrained weights (summed for one channel, cycled and rescaled for more).
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any

from clara_cli.errors import ConfigError

#: Architecture names accepted (any case) -> segmentation_models_pytorch class names.
ARCHITECTURES = {"unet": "Unet", "fpn": "FPN", "linknet": "Linknet", "pspnet": "PSPNet"}

#: Backbone names of the SegTHOR entry (Keras segmentation_models) that smp spells otherwise.
ENCODER_ALIASES = {
    "resnext50": "resnext50_32x4d",
    "resnext101": "resnext101_32x8d",
    "inceptionv3": "tu-inception_v3",
}

# Prefixes of classification heads that ImageNet files carry and encoders do not have.
_HEAD_PREFIXES = ("fc.", "classifier.", "last_linear.", "head.", "logits.")


def smp_network(
    architecture: str = "Unet",
    encoder: str = "resnet34",
    in_channels: int = 1,
    classes: int = 2,
    encoder_weights_file: str | os.PathLike[str] | None = None,
    **kwargs: Any,
) -> Any:
    """A segmentation_models_pytorch network, its encoder random or read from a local file.

    Args:
        architecture: ``Unet``, ``FPN``, ``Linknet`` or ``PSPNet`` (any case).
        encoder: an smp encoder name (``resnet34``, ``densenet121``, ``vgg16``, ``tu-...``)
            or one of the entry's names in :data:`ENCODER_ALIASES`.
        in_channels: input channels (CT windows, MRI sequences).
        classes: output channels (background included), raw logits.
        encoder_weights_file: ImageNet weights of the encoder; None or "" for random init.
        **kwargs: passed to the smp class (``decoder_channels``, ``encoder_depth``, ...);
            None values are left out, so a config can leave them to smp's defaults.

    Raises:
        ConfigError: unknown architecture or encoder, or a weights file that is missing or
            does not fit the encoder.
    """
    import segmentation_models_pytorch as smp

    arch = ARCHITECTURES.get(str(architecture).lower())
    if arch is None:
        raise ConfigError(
            f"unknown 2D architecture {architecture!r}; choose one of "
            f"{', '.join(ARCHITECTURES.values())}"
        )
    name = resolve_encoder_name(encoder)
    weights = Path(encoder_weights_file) if encoder_weights_file else None
    if weights is not None and not weights.is_file():
        raise ConfigError(
            f"encoder weights file not found: {weights} (PRETRAIN_WEIGHTS_FILE)\n"
            "  give an existing .pth or .safetensors file of ImageNet weights for "
            f"{name!r}, or leave PRETRAIN_WEIGHTS_FILE empty to start from random weights"
        )
    network = getattr(smp, arch)(
        encoder_name=name,
        encoder_weights=None,
        in_channels=3 if weights is not None else in_channels,
        classes=classes,
        **{k: v for k, v in kwargs.items() if v is not None},
    )
    if weights is not None:
        load_encoder_weights(network.encoder, weights)
        adapt_input_channels(network.encoder, in_channels)
    return network


def resolve_encoder_name(encoder: str) -> str:
    """The smp name of `encoder` (the entry's aliases mapped).

    Raises:
        ConfigError: smp has no such encoder (the message suggests close names).
    """
    import segmentation_models_pytorch as smp

    name = ENCODER_ALIASES.get(encoder, encoder)
    known = smp.encoders.get_encoder_names()
    if name.startswith("tu-") or name in known:
        return name
    close = difflib.get_close_matches(name, list(known) + list(ENCODER_ALIASES), n=3)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise ConfigError(f"unknown encoder {encoder!r}.{hint}\n  smp encoders: {', '.join(known)}")


def load_encoder_weights(encoder: Any, path: str | os.PathLike[str]) -> None:
    """Load ImageNet weights from `path` into an smp encoder (3 input channels).

    Raises:
        ConfigError: the file cannot be read, lacks encoder weights, or has other shapes.
    """
    from segmentation_models_pytorch.encoders.timm_universal import TimmUniversalEncoder

    state = _read_state_dict(Path(path))
    # smp's timm encoders keep the timm model under `.model`; the file is that model's.
    target = encoder.model if isinstance(encoder, TimmUniversalEncoder) else encoder
    own = target.state_dict()
    state = {_strip(key): value for key, value in state.items()}
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own and not k.startswith(_HEAD_PREFIXES)]
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        details = "; ".join(
            f"{what}: {', '.join(keys[:4])}{' ...' if len(keys) > 4 else ''}"
            for what, keys in (
                ("missing", missing),
                ("not in the encoder", unexpected),
                ("other shape", wrong),
            )
            if keys
        )
        raise ConfigError(
            f"{path}: these weights do not fit the encoder ({details})\n"
            "  give the ImageNet weights of the same backbone, or no file for random init"
        )
    target.load_state_dict({k: state[k] for k in own})


def adapt_input_channels(encoder: Any, in_channels: int) -> None:
    """Adapt a pretrained 3-channel first convolution to `in_channels` (smp's rule)."""
    if in_channels == 3:
        return
    if hasattr(encoder, "set_in_channels"):
        encoder.set_in_channels(in_channels, pretrained=True)
    else:
        from segmentation_models_pytorch.encoders._utils import patch_first_conv

        patch_first_conv(encoder, in_channels, pretrained=True)


def trained_network(checkpoint: str | os.PathLike[str], device: Any = "cpu") -> Any:
    """The network a clara checkpoint was trained with, its weights loaded, in eval mode.

    The network is rebuilt from the checkpoint's ``train_conf`` (what clara's checkpoints
    save), so a config can name a second trained model (a first stage, a slice classifier)
    by its file alone.

    Raises:
        ConfigError: the file is missing, has no ``train_conf``, or its weights do not fit.
    """
    import torch

    from clara_cli.engine.checkpoint import load_checkpoint
    from clara_cli.mmar.resolver import Runtime, Section

    path = Path(checkpoint)
    if not path.is_file():
        raise ConfigError(f"checkpoint not found: {path}\n  train that model first")
    device = torch.device(device)
    saved = load_checkpoint(path, map_location=device)
    train_conf = saved.get("train_conf")
    spec = train_conf.get("train", {}).get("model") if isinstance(train_conf, dict) else None
    if spec is None or not isinstance(train_conf, dict):
        raise ConfigError(
            f"{path}: no train_conf with a train.model in this checkpoint, so its network "
            "cannot be rebuilt; use a model.pt written by `clara train`"
        )
    section = Section("train", {"model": spec}, str(path), Runtime(device=str(device)), train_conf)
    network = section.get("model")
    try:
        network.load_state_dict(saved.get("model", saved))
    except RuntimeError as err:
        raise ConfigError(f"{path}: the weights do not fit its own network: {err}") from None
    return network.to(device).eval()


def _read_state_dict(path: Path) -> dict[str, Any]:
    state: Any
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            import torch

            state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as err:
        raise ConfigError(f"{path}: cannot read encoder weights: {err}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not state:
        raise ConfigError(f"{path}: expected a state dict of tensors, found {type(state).__name__}")
    return state


def _strip(key: str) -> str:
    for prefix in ("module.", "encoder."):
        if key.startswith(prefix):
            key = key[len(prefix) :]
    return key
