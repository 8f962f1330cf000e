"""Non-finite values: refused when an image is loaded, at the first NaN loss (after the bf16
redo), and by every checkpoint write."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ignite.engine import Events
from monai.engines import SupervisedTrainer
from monai.transforms import Compose, EnsureChannelFirstd, LoadImaged

from clara_cli.engine.checkpoint import AtomicDiskSaver, save_checkpoint
from clara_cli.engine.finite import (
    CASE_KEY,
    NonFiniteLossGuard,
    count_non_finite,
    require_finite_weights,
    with_finite_checks,
)
from clara_cli.engine.precision import AutocastForward, NonFiniteGradientFallback
from clara_cli.errors import ClaraError, DataError


class _NanOnMarkedInput(torch.nn.Module):
    """Outputs NaN for an input whose first voxel is negative (one chosen batch)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv3d(1, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        return out * torch.tensor(float("nan")) if bool(x.flatten()[0] < 0) else out


def _batch(cases: list[str], poisoned: bool = False) -> dict:
    image = torch.rand(len(cases), 1, 6, 6, 6, generator=torch.Generator().manual_seed(0))
    if poisoned:
        image[0, 0, 0, 0, 0] = -1.0
    return {"image": image, "label": (image > 0.5).float(), CASE_KEY: cases}


def _trainer(network: torch.nn.Module, batches: list[dict], epochs: int = 1) -> SupervisedTrainer:
    plain = network.module if isinstance(network, AutocastForward) else network
    return SupervisedTrainer(
        device=torch.device("cpu"),
        max_epochs=epochs,
        train_data_loader=batches,
        network=network,
        optimizer=torch.optim.SGD(plain.parameters(), lr=0.1),
        loss_function=torch.nn.MSELoss(),
    )


def test_the_first_nan_loss_stops_training_naming_epoch_iteration_and_cases():
    batches = [_batch(["a.nii.gz", "b.nii.gz"]), _batch(["c.nii.gz", "d.nii.gz"], poisoned=True)]
    trainer = _trainer(_NanOnMarkedInput(), batches, epochs=2)
    NonFiniteLossGuard().attach(trainer)
    seen: list[int] = []
    trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda e: seen.append(e.state.iteration))

    with pytest.raises(ClaraError) as caught:
        trainer.run()

    message = str(caught.value)
    assert "the loss is nan at epoch 1, iteration 2 of 2" in message
    assert "c.nii.gz, d.nii.gz" in message and "a.nii.gz" not in message
    assert "learning rate" in message
    assert seen == [1]  # no handler ran for the diverged iteration


def test_a_bf16_nan_redone_in_fp32_is_not_a_divergence():
    class NanUnderAutocast(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv3d(1, 1, 3, padding=1)

        def forward(self, x):
            out = self.conv(x)
            return out * float("nan") if torch.is_autocast_enabled("cpu") else out

    wrapper = AutocastForward(NanUnderAutocast(), "cpu", torch.bfloat16)
    trainer = _trainer(wrapper, [_batch(["a.nii.gz"])])
    fallback = NonFiniteGradientFallback(wrapper)
    fallback.attach(trainer)
    NonFiniteLossGuard().attach(trainer)  # outside the redo, as the wiring rules order them
    trainer.run()
    assert fallback.fallbacks == 1
    assert torch.isfinite(torch.as_tensor(trainer.state.output[0]["loss"]))


def _write(path, array: np.ndarray) -> str:
    import SimpleITK as sitk

    sitk.WriteImage(sitk.GetImageFromArray(array), str(path))
    return str(path)


def test_an_image_with_nan_or_inf_voxels_is_refused_when_loaded(tmp_path):
    good = np.zeros((4, 4, 4), np.float32)
    bad = good.copy()
    bad[1, 1, 1:3] = np.nan
    bad[2, 2, 2] = np.inf
    config = [LoadImaged(keys=["image", "label"]), EnsureChannelFirstd(keys=["image", "label"])]
    transform = with_finite_checks(config)
    assert len(config) == 2  # the config's list is not changed
    item = {
        "image": _write(tmp_path / "a.nii.gz", good),
        "label": _write(tmp_path / "l.nii.gz", good),
    }
    assert transform[2](transform[1](transform[0](item)))["image"].shape == (1, 4, 4, 4)

    item["image"] = _write(tmp_path / "bad.nii.gz", bad)
    with pytest.raises(DataError, match=r"bad\.nii\.gz: the image holds 2 NaN voxel\(s\) and 1 "):
        transform[1](transform[0](item))


def test_a_compose_gets_the_check_and_other_pipelines_are_left_alone():
    compose = Compose([LoadImaged(keys="image")])
    checked = with_finite_checks(compose)
    assert checked is not compose and len(checked.transforms) == 2
    assert len(compose.transforms) == 1
    no_loader = [EnsureChannelFirstd(keys="image")]
    assert with_finite_checks(no_loader) is no_loader


def test_integer_images_are_not_checked():
    assert count_non_finite(np.ones((2, 2), np.int16)) == (0, 0)
    assert count_non_finite(np.array([np.nan, np.inf, -np.inf, 1.0])) == (1, 2)


def test_non_finite_weights_are_never_written(tmp_path):
    net = torch.nn.Linear(2, 2)
    with torch.no_grad():
        net.weight[0, 0] = float("nan")
    target = tmp_path / "resume_checkpoint_epoch=1.pt"
    with pytest.raises(ClaraError, match="refusing to write checkpoint .*weight"):
        save_checkpoint({"model": net.state_dict(), "epoch": 1}, target)
    saver = AtomicDiskSaver(tmp_path, filename="model.pt")
    with pytest.raises(ClaraError, match="refusing to write checkpoint"):
        saver({"model": net.state_dict()}, "model.pt")
    assert list(tmp_path.iterdir()) == []
    require_finite_weights({"model": torch.nn.Linear(2, 2).state_dict()}, target)  # finite: ok


def test_huge_but_finite_weights_are_written(tmp_path):
    import torch

    from clara_cli.engine.finite import require_finite_weights

    # The fused norm of these overflows to inf; every value is still finite.
    huge = torch.full((4,), 3.0e38)
    require_finite_weights({"model": {"w": huge}}, tmp_path / "model.pt")
