"""SegResNetVAE's training-only branch and the VAE loss through the trainer's iteration seam."""

from __future__ import annotations

import math

import pytest
import torch
from monai.data import DataLoader
from monai.engines import SupervisedTrainer
from monai.losses import DiceLoss
from monai.networks.nets import SegResNet, SegResNetVAE

from clara_cli.engine.precision import AutocastForward, NonFiniteGradientFallback
from clara_cli.errors import ConfigError
from clara_cli.families.brats.network import brats_segresnet
from clara_cli.families.brats.vae import VAE_LOSS, VAELossIteration

ARGS = {"init_filters": 8, "in_channels": 4, "out_channels": 3, "blocks_down": [1, 1, 1, 1]}
PATCH = (16, 16, 16)


def test_the_default_is_monais_segresnet():
    network = brats_segresnet(**ARGS)
    assert type(network) is SegResNet


def test_vae_branch_runs_only_while_training():
    torch.manual_seed(0)
    network = brats_segresnet(use_vae=True, input_image_size=PATCH, **ARGS)
    assert isinstance(network, SegResNetVAE)
    x = torch.randn(2, 4, *PATCH)
    logits, vae_loss = network.train()(x)
    assert logits.shape == (2, 3, *PATCH) and vae_loss.dim() == 0 and vae_loss > 0
    assert torch.is_tensor(network.eval()(x)) and network(x).shape == (2, 3, *PATCH)
    # The eval network on another size: the VAE's dense layers are not involved.
    assert network(torch.randn(1, 4, 32, 16, 24)).shape == (1, 3, 32, 16, 24)


def test_state_dict_is_segresnetvaes_and_export_drops_the_branch():
    torch.manual_seed(0)
    network = brats_segresnet(use_vae=True, input_image_size=PATCH, **ARGS).eval()
    reference = SegResNetVAE(input_image_size=PATCH, vae_estimate_std=True, **ARGS)
    assert network.state_dict().keys() == reference.state_dict().keys()
    reference.load_state_dict(network.state_dict())

    scripted = torch.jit.script(network)
    names = [name for name, _ in scripted.named_parameters()]
    assert names and not any(name.startswith("vae_") for name in names)
    x = torch.randn(1, 4, *PATCH)
    with torch.no_grad():
        assert torch.allclose(scripted(x), network(x), atol=1e-6)
        assert torch.allclose(reference.eval()(x)[0], network(x), atol=1e-6)


def test_vae_patch_size_is_checked():
    with pytest.raises(ConfigError, match="divisible by 16"):
        brats_segresnet(use_vae=True, input_image_size=(16, 16, 24), **ARGS)
    with pytest.raises(ConfigError, match="input_image_size"):
        brats_segresnet(use_vae=True, **ARGS)
    network = brats_segresnet(use_vae=True, input_image_size=PATCH, **ARGS).train()
    with pytest.raises(ValueError, match="exactly input_image_size"):
        network(torch.randn(1, 4, 32, 16, 16))


class _FakeVAE(torch.nn.Module):
    """Logits from a convolution and a deterministic 'VAE loss' from a separate weight."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv3d(4, 3, 1)
        self.latent = torch.nn.Parameter(torch.full((8,), 0.5))

    def forward(self, x: torch.Tensor):
        logits = self.conv(x)
        return (logits, (self.latent**2).mean()) if self.training else logits


def _loader() -> DataLoader:
    generator = torch.Generator().manual_seed(0)
    items = [
        {
            "image": torch.randn(4, 8, 8, 8, generator=generator),
            "label": (torch.rand(3, 8, 8, 8, generator=generator) > 0.5).float(),
        }
        for _ in range(4)
    ]
    return DataLoader(items, batch_size=2, shuffle=False)


def _trainer(network: torch.nn.Module, iteration, lr: float = 0.1) -> SupervisedTrainer:
    return SupervisedTrainer(
        device=torch.device("cpu"),
        max_epochs=1,
        train_data_loader=_loader(),
        network=network,
        optimizer=torch.optim.SGD(network.parameters(), lr=lr),
        loss_function=DiceLoss(sigmoid=True),
        iteration_update=iteration,
    )


def test_loss_is_dice_plus_weighted_vae_term_and_trains_the_branch():
    torch.manual_seed(0)
    network = _FakeVAE()
    trainer = _trainer(network, VAELossIteration(vae_weight=0.1))
    seen: list[tuple[float, float, float]] = []

    def record(engine):
        item = engine.state.output[0]
        seen.append((float(item["loss"]), float(item[VAE_LOSS]), float(item["pred"].sum())))

    expected_first = None
    with torch.no_grad():
        batch = next(iter(_loader()))
        logits, vae = network.train()(batch["image"])
        expected_first = float(DiceLoss(sigmoid=True)(logits, batch["label"]) + 0.1 * vae)
    from ignite.engine import Events

    trainer.add_event_handler(Events.ITERATION_COMPLETED, record)
    trainer.run()
    assert len(seen) == 2
    assert seen[0][0] == pytest.approx(expected_first, rel=1e-5)
    assert seen[0][1] == pytest.approx(0.25)
    # The VAE term has a gradient: its weight moved (SGD on mean(latent^2) * 0.1).
    assert float(network.latent.detach()[0]) < 0.5
    assert trainer.network is network and trainer.loss_function.__class__ is DiceLoss


def test_a_plain_network_trains_exactly_as_monais_own_step():
    results = []
    for iteration in (None, VAELossIteration()):
        torch.manual_seed(0)
        network = torch.nn.Conv3d(4, 3, 1)
        trainer = _trainer(network, iteration)
        trainer.run()
        results.append((network.weight.detach().clone(), trainer.state.output[0]["loss"]))
        assert VAE_LOSS not in trainer.state.output[0]
    assert torch.equal(results[0][0], results[1][0])
    assert float(results[0][1]) == float(results[1][1])


def test_survives_the_bf16_to_fp32_redo():
    torch.manual_seed(0)
    plain = _FakeVAE()
    wrapper = AutocastForward(plain, "cpu", torch.bfloat16)
    trainer = _trainer(wrapper, VAELossIteration(vae_weight=0.1))
    fallback = NonFiniteGradientFallback(wrapper)
    fallback.attach(trainer)
    attempts: list[bool] = []

    def poison(grad: torch.Tensor) -> torch.Tensor:
        # A bf16 attempt gets a NaN gradient, as oneDNN's bf16 backward gave AHNet.
        attempts.append(wrapper.enabled)
        return grad * float("nan") if wrapper.enabled else grad

    plain.latent.register_hook(poison)
    trainer.run()
    assert fallback.fallbacks == 2  # each iteration's bf16 attempt was redone in fp32
    assert attempts == [True, False, True, False]
    assert all(torch.isfinite(p).all() for p in plain.parameters())
    output = trainer.state.output[0]
    assert math.isfinite(float(output["loss"])) and float(output[VAE_LOSS]) > 0
