"""Windows run in smaller forward passes than the sliding-window inferer batches them."""

from __future__ import annotations

import pytest
import torch
from monai.inferers import sliding_window_inference

from clara_cli.engine.window_passes import WindowPasses


class _Recorder(torch.nn.Module):
    """A 3D network that records the batch size of every forward pass."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv3d(1, 2, 3, padding=1)
        self.batches: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.batches.append(x.shape[0])
        return self.conv(x)


def test_window_passes_give_the_sliding_window_output_of_one_pass():
    volume = torch.rand(1, 1, 40, 36, 30)
    net = _Recorder().eval()
    with torch.no_grad():
        whole = sliding_window_inference(volume, (16, 16, 16), 5, net, overlap=0.5)
        net.batches.clear()
        passes = sliding_window_inference(volume, (16, 16, 16), 5, WindowPasses(net, 2), 0.5)
    assert torch.allclose(passes, whole, atol=1e-6)
    assert max(net.batches) == 2  # the inferer's batches of 5 ran as 2 + 2 + 1


def test_window_passes_join_tuple_outputs_and_refuse_a_size_below_one():
    net = WindowPasses(lambda x: (x * 2, x + 1), 1)  # type: ignore[arg-type]
    x = torch.arange(6.0).reshape(3, 2)
    doubled, shifted = net(x)
    assert torch.equal(doubled, x * 2) and torch.equal(shifted, x + 1)
    with pytest.raises(ValueError, match=">= 1"):
        WindowPasses(torch.nn.Identity(), 0)


def test_clara_infer_runs_two_windows_per_pass_on_a_cpu_unless_told():
    from types import SimpleNamespace

    from clara_cli.workflows.infer import _windows_per_pass

    def session(device: str, **variables: object) -> SimpleNamespace:
        return SimpleNamespace(
            var=lambda name, default=None: variables.get(name, default),
            dist=SimpleNamespace(device=torch.device(device)),
        )

    assert _windows_per_pass(session("cpu")) == 2
    assert _windows_per_pass(session("cpu", windows_per_pass=0)) == 0
    assert _windows_per_pass(session("meta")) == 0  # GPUs: the inferer's batches as they come
