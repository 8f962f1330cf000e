"""The inference pipeline over one or more networks: the combiner and the slice-wise mode."""

from __future__ import annotations

import pytest
import torch
from monai.inferers import SimpleInferer

from clara_cli.engine.inference import (
    Member,
    Pipeline,
    mean_of_probabilities,
    slicewise_inferer,
)


def _net3d(seed: int, channels: int = 2) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Conv3d(1, channels, 3, padding=1).eval()


def _pipeline(*members: Member) -> Pipeline:
    return Pipeline(list(members), pre_transforms=None, post_transforms=None, device="cpu")


def test_one_network_passes_its_raw_output():
    net = _net3d(0)
    x = torch.rand(1, 1, 6, 5, 4)
    with torch.no_grad():
        out = _pipeline(Member(net, SimpleInferer())).predict(x)
        assert torch.equal(out, net(x))  # logits: the post-transforms apply the activation


def test_several_networks_are_averaged_as_probabilities():
    a, b = _net3d(0), _net3d(1)
    x = torch.rand(1, 1, 6, 5, 4)
    with torch.no_grad():
        out = _pipeline(Member(a, SimpleInferer()), Member(b, SimpleInferer())).predict(x)
        expected = (torch.softmax(a(x), 1) + torch.softmax(b(x), 1)) / 2
    assert torch.allclose(out, expected, atol=1e-6)
    assert torch.allclose(out.sum(1), torch.ones(1, 6, 5, 4), atol=1e-5)


def test_one_channel_outputs_use_sigmoid_and_weights_count():
    logits = [torch.full((1, 1, 2, 2, 2), 10.0), torch.full((1, 1, 2, 2, 2), -10.0)]
    merged = mean_of_probabilities(logits, [3.0, 1.0])
    assert torch.allclose(merged, torch.full_like(merged, 0.75), atol=1e-4)


def test_outputs_of_different_shapes_are_refused():
    with pytest.raises(ValueError, match="differ in shape"):
        mean_of_probabilities([torch.zeros(1, 2, 4, 4, 4), torch.zeros(1, 2, 4, 4, 3)])


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_a_2d_network_runs_on_every_slice_along_the_chosen_axis(axis):
    torch.manual_seed(2)
    net2d = torch.nn.Conv2d(1, 3, 3, padding=1).eval()
    volume = torch.rand(1, 1, 7, 6, 5)
    with torch.no_grad():
        out = _pipeline(Member(net2d, slicewise_inferer(axis, sw_batch_size=4))).predict(volume)
        slices = volume.unbind(dim=2 + axis)
        expected = torch.stack([net2d(s) for s in slices], dim=2 + axis)
    assert out.shape == (1, 3, 7, 6, 5)
    assert torch.allclose(out, expected, atol=1e-5)


def test_views_of_three_axes_fuse_into_one_map():
    torch.manual_seed(3)
    nets = [torch.nn.Conv2d(1, 2, 3, padding=1).eval() for _ in range(3)]
    volume = torch.rand(1, 1, 5, 5, 5)
    members = [Member(n, slicewise_inferer(axis)) for axis, n in enumerate(nets)]
    with torch.no_grad():
        fused = _pipeline(*members).predict(volume)
        views = [m.inferer(volume, m.network) for m in members]
    expected = sum(torch.softmax(v, 1) for v in views) / 3
    assert torch.allclose(fused, expected, atol=1e-5)
    # every view contributes: dropping one changes the map
    assert not torch.allclose(fused, sum(torch.softmax(v, 1) for v in views[:2]) / 2, atol=1e-4)


def test_slice_axis_must_be_spatial():
    with pytest.raises(ValueError, match="slice axis"):
        slicewise_inferer(3)
