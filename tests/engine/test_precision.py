"""The bf16 -> fp32 redo wraps whatever iteration a trainer runs (MONAI's `iteration_update`
seam), so a family's own training step keeps its extra loss terms in the fp32 redo."""

from __future__ import annotations

import pytest
import torch
from monai.engines import SupervisedTrainer

from clara_cli.engine.precision import AutocastForward, NonFiniteGradientFallback


class _NanUnderAutocast(torch.nn.Module):
    """A tiny network whose output (hence every gradient) is NaN under CPU autocast only."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv3d(1, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        if torch.is_autocast_enabled("cpu"):
            out = out * torch.tensor(float("nan"))
        return out


def _batch() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(2, 1, 8, 8, 8, generator=generator)
    return {"image": image, "label": (image > 0.5).float()}


def _trainer(wrapper: AutocastForward, iteration=None, epochs: int = 1) -> SupervisedTrainer:
    network = wrapper.module
    return SupervisedTrainer(
        device=torch.device("cpu"),
        max_epochs=epochs,
        train_data_loader=[_batch()],
        network=wrapper,
        optimizer=torch.optim.SGD(network.parameters(), lr=0.1),
        loss_function=torch.nn.MSELoss(),
        iteration_update=iteration,
    )


def test_a_custom_iteration_is_redone_in_fp32_with_its_extra_loss_term():
    network = _NanUnderAutocast()
    wrapper = AutocastForward(network, "cpu", torch.bfloat16)
    calls: list[dict[str, object]] = []

    def iteration_with_extra_term(engine, batch):
        # A family's step: the supervised loss plus a second term (as a VAE adds its own).
        engine.optimizer.zero_grad()
        pred = engine.network(batch["image"])
        main = engine.loss_function(pred, batch["label"])
        extra = 0.5 * pred.pow(2).mean()
        loss = main + extra
        loss.backward()
        engine.optimizer.step()
        calls.append({"bf16": wrapper.enabled, "extra": float(extra.detach())})
        return {"loss": loss.detach(), "main": float(main.detach()), "extra": float(extra.detach())}

    before = [p.detach().clone() for p in network.parameters()]
    trainer = _trainer(wrapper, iteration_with_extra_term)
    fallback = NonFiniteGradientFallback(wrapper, max_fallbacks=3)
    fallback.attach(trainer)
    trainer.run()

    # The bf16 attempt stopped before its optimizer step; the redo ran the same iteration in fp32.
    assert [c["bf16"] for c in calls] == [False]
    assert fallback.fallbacks == 1
    output = trainer.state.output
    assert output["extra"] > 0 and torch.isfinite(torch.as_tensor(output["extra"]))
    assert float(output["loss"]) == pytest.approx(output["main"] + output["extra"], rel=1e-6)
    after = list(network.parameters())
    assert all(torch.isfinite(p).all() for p in after)
    assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))  # one real step
    assert wrapper.enabled  # one fallback of three allowed: bf16 is tried again next step


def test_bf16_is_switched_off_after_max_fallbacks():
    wrapper = AutocastForward(_NanUnderAutocast(), "cpu", torch.bfloat16)
    trainer = _trainer(wrapper, epochs=3)  # MONAI's own supervised iteration
    fallback = NonFiniteGradientFallback(wrapper, max_fallbacks=2)
    fallback.attach(trainer)
    trainer.run()
    assert fallback.fallbacks == 2 and not wrapper.enabled
    assert all(torch.isfinite(p).all() for p in wrapper.module.parameters())
    assert torch.isfinite(torch.as_tensor(trainer.state.output[0]["loss"]))


def test_finite_bf16_steps_are_not_redone():
    network = torch.nn.Conv3d(1, 1, 3, padding=1)
    wrapper = AutocastForward(network, "cpu", torch.bfloat16)
    trainer = _trainer(wrapper, epochs=2)
    fallback = NonFiniteGradientFallback(wrapper)
    fallback.attach(trainer)
    trainer.run()
    assert fallback.fallbacks == 0 and wrapper.enabled
