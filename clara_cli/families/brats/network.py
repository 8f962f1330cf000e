"""The BraTS network: MONAI's SegResNet, or SegResNetVAE whose VAE branch only trains.

The config builds it through :func:`brats_segresnet` so one variable chooses the variant
(``--set use_vae=true``); the checkpoint's saved config rebuilds the same class for
validation, inference and export.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from monai.networks.nets import SegResNet, SegResNetVAE

from clara_cli.errors import ConfigError

_VAE_PREFIX = "vae_"


def brats_segresnet(
    use_vae: bool = False,
    input_image_size: Sequence[int] | None = None,
    vae_estimate_std: bool = True,
    vae_default_std: float = 0.3,
    vae_nz: int = 256,
    **segresnet_args: Any,
) -> torch.nn.Module:
    """MONAI's SegResNet (the model card's network), or :class:`SegResNetWithVAE`.

    Args:
        use_vae: add the paper's VAE branch (training only; its loss term comes from the
            config's ``iteration``, :class:`clara_cli.families.brats.vae.VAELossIteration`).
        input_image_size: the training patch size; the VAE's dense layers are sized by it.
        vae_estimate_std: learn the latent standard deviation, which gives the KL term of
            the paper (False: a fixed std and an L2 penalty on the latent mean instead).
        vae_default_std: the fixed std when not estimated.
        vae_nz: latent size (half means, half standard deviations).
        segresnet_args: SegResNet's own arguments (init_filters, in/out channels, blocks...).
    """
    if not use_vae:
        return SegResNet(**segresnet_args)
    if input_image_size is None:
        raise ConfigError(
            "use_vae: SegResNetVAE needs input_image_size, the training patch size "
            '(pass "input_image_size": "{patch_size}" in the model args)'
        )
    return SegResNetWithVAE(
        input_image_size=input_image_size,
        vae_estimate_std=vae_estimate_std,
        vae_default_std=vae_default_std,
        vae_nz=vae_nz,
        **segresnet_args,
    )


class SegResNetWithVAE(SegResNetVAE):
    """MONAI's SegResNetVAE whose reconstruction branch runs only while training.

    Training forward returns ``(logits, vae_loss)`` (MONAI's VAE loss: L2 reconstruction +
    KL); eval forward returns the segmentation logits alone, so validation, inference and
    export see a plain segmentation network. The state dict is SegResNetVAE's. TorchScript
    export scripts :meth:`segmentation_network` instead (``__prepare_scriptable__``), which
    leaves out the VAE's dense layers: about 22 M of the 26 M weights at 224 x 224 x 144.
    """

    def __init__(self, input_image_size: Sequence[int], **kwargs: Any) -> None:
        vae_keys = ("vae_estimate_std", "vae_default_std", "vae_nz")
        # The VAE halves the bottleneck once more than the encoder does (MONAI floors it).
        factor = 2 ** len(kwargs.get("blocks_down", (1, 2, 2, 4)))
        size = [int(s) for s in input_image_size]
        if any(s % factor for s in size):
            raise ConfigError(
                f"SegResNetVAE's input_image_size (the training patch size) must be divisible "
                f"by {factor} along every axis, not {size}; e.g. [224, 224, 144]"
            )
        super().__init__(input_image_size=size, **kwargs)
        self._segresnet_args = {k: v for k, v in kwargs.items() if k not in vae_keys}

    def forward(self, x: torch.Tensor) -> Any:  # type: ignore[override]
        if self.training and tuple(x.shape[2:]) != tuple(self.input_image_size):
            raise ValueError(
                f"SegResNetVAE trains on patches of exactly input_image_size "
                f"{list(self.input_image_size)}, not {list(x.shape[2:])}: crop or pad the "
                "training patches to that size (RandSpatialCropd + SpatialPadd, patch_size)"
            )
        logits, vae_loss = super().forward(x)
        return (logits, vae_loss) if self.training else logits

    def segmentation_network(self) -> SegResNet:
        """A plain SegResNet with this network's segmentation weights (a copy)."""
        network = SegResNet(**self._segresnet_args)
        state = {k: v for k, v in self.state_dict().items() if not k.startswith(_VAE_PREFIX)}
        network.load_state_dict(state)
        return network.to(next(self.parameters()).device).train(self.training)

    def __prepare_scriptable__(self) -> SegResNet:
        """What ``torch.jit.script`` compiles: the network without its VAE branch."""
        return self.segmentation_network()
