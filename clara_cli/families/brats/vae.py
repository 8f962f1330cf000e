"""The VAE-regularised training step (Myronenko 2018): loss = Dice + 0.1 (L2 + KL).

MONAI's SegResNetVAE returns ``(logits, vae_loss)`` while training, which its
SupervisedTrainer cannot use as is (the loss function would get a tuple). This step plugs
in through MONAI's own seam, the trainer's ``iteration_update`` (the config's
``"iteration"``), and still runs MONAI's step itself (AMP, gradient accumulation, events):
for the length of one iteration the trainer sees the logits as the network's output and a
loss function that adds the weighted VAE term. Because the whole iteration is a plain
callable of ``(engine, batch)``, clara's bf16 -> fp32 redo (NonFiniteGradientFallback) reruns
it unchanged.
"""

from __future__ import annotations

from typing import Any

import torch

from clara_cli.errors import ConfigError

#: The key of the VAE term in the iteration's output (``from_engine(["vae_loss"])``).
VAE_LOSS = "vae_loss"


class VAELossIteration:
    """A training iteration that adds ``vae_weight`` x the network's VAE loss to the loss.

    A network that returns a plain tensor (SegResNet) is trained exactly as MONAI's
    SupervisedTrainer would, so one config serves both variants.

    Args:
        vae_weight: weight of the VAE loss (MONAI's is L2 reconstruction + KL, so 0.1 gives
            the paper's 0.1 L2 + 0.1 KL).

    Example (the config's train section)::

        "iteration": {"path": "clara_cli.families.brats.vae.VAELossIteration",
                      "args": {"vae_weight": 0.1}}
    """

    def __init__(self, vae_weight: float = 0.1) -> None:
        if not vae_weight >= 0.0:
            raise ConfigError(f"vae_weight must be a number >= 0, not {vae_weight!r}")
        self.vae_weight = float(vae_weight)

    def __call__(self, engine: Any, batchdata: Any) -> Any:
        from monai.engines import SupervisedTrainer

        if not isinstance(engine, SupervisedTrainer):
            raise ConfigError(
                f"VAELossIteration runs inside a SupervisedTrainer, not {type(engine).__name__}"
            )
        network, loss_function = engine.network, engine.loss_function
        split = _LogitsOnly(network)
        engine.network = split
        engine.loss_function = _PlusVAELoss(loss_function, split, self.vae_weight)
        try:
            output = engine._iteration(engine, batchdata)
        finally:
            engine.network, engine.loss_function = network, loss_function
        if split.vae_loss is not None:
            # MONAI has already decollated the output into one dict per batch item (with the
            # loss replicated in each); the VAE term goes beside the loss in every one.
            value = split.vae_loss.detach().mean()
            for item in output if isinstance(output, list) else [output]:
                item[VAE_LOSS] = value
        return output


class _LogitsOnly(torch.nn.Module):
    """Passes the logits on and keeps the VAE loss of the last forward."""

    def __init__(self, network: torch.nn.Module) -> None:
        super().__init__()
        self.network = network
        self.vae_loss: torch.Tensor | None = None

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        output = self.network(*args, **kwargs)
        if isinstance(output, (tuple, list)) and len(output) == 2:
            logits, self.vae_loss = output
            return logits
        self.vae_loss = None
        return output


class _PlusVAELoss:
    """The config's loss plus the weighted VAE loss of the same forward pass."""

    def __init__(self, loss_function: Any, split: _LogitsOnly, weight: float) -> None:
        self.loss_function = loss_function
        self.split = split
        self.weight = weight

    def __call__(self, pred: Any, target: Any) -> torch.Tensor:
        loss = self.loss_function(pred, target)
        vae_loss = self.split.vae_loss
        if vae_loss is None:
            return loss  # type: ignore[no-any-return]
        return loss.mean() + self.weight * vae_loss.mean()
