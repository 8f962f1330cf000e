"""slice2d.inference: a 2D network slice by slice over a 3D volume, one or fused axes."""

from __future__ import annotations

import pytest
import torch
from monai.data import MetaTensor

from clara_cli.families.slice2d.inference import SliceWiseInferer, predict_volume
from clara_cli.families.slice2d.networks import smp_network


class Shape2D(torch.nn.Module):
    """Logits that depend on each slice alone; fails on anything but 2D multiples of 8."""

    def forward(self, x):
        assert x.dim() == 4 and x.shape[2] % 8 == 0 and x.shape[3] % 8 == 0, x.shape
        return torch.cat([x, -x, 2 * x], dim=1)


def test_one_axis_gives_the_network_logits_on_the_input_shape():
    volume = torch.randn(1, 1, 13, 10, 5)
    out = SliceWiseInferer(axis=2, sw_batch_size=3, divisible=8)(volume, Shape2D())
    assert out.shape == (1, 3, 13, 10, 5)
    assert torch.allclose(out, torch.cat([volume, -volume, 2 * volume], 1))


def test_three_axes_fuse_probabilities_and_keep_metadata():
    volume = MetaTensor(torch.randn(1, 1, 9, 8, 7), affine=torch.diag(torch.tensor([2.0, 2, 3, 1])))
    out = SliceWiseInferer(axis="012", divisible=8)(volume, Shape2D())
    expected = torch.softmax(torch.cat([volume, -volume, 2 * volume], 1).as_tensor(), dim=1)
    # the same slice-local network on three axes: the fused probabilities are its own
    assert torch.allclose(torch.softmax(out.as_tensor(), 1), expected, atol=1e-5)
    assert isinstance(out, MetaTensor) and torch.equal(out.affine, volume.affine)


def test_two_networks_are_averaged_as_probabilities():
    volume = torch.randn(1, 1, 8, 8, 4)
    a, b = Shape2D(), torch.nn.Sequential(Shape2D(), torch.nn.Identity())
    out = predict_volume(volume, [(a, 2), (b, 2)], divisible=8, weights=[3.0, 1.0])
    single = torch.softmax(torch.cat([volume, -volume, 2 * volume], 1), dim=1)
    assert torch.allclose(torch.exp(out), single, atol=1e-5)
    with pytest.raises(ValueError, match="2 networks but 1 weights"):
        predict_volume(volume, [(a, 2), (b, 2)], weights=[1.0])


def test_smp_network_on_a_volume_of_odd_size():
    net = smp_network("Unet", "resnet18", in_channels=1, classes=5).eval()
    with torch.no_grad():
        out = SliceWiseInferer(axis=2, sw_batch_size=4)(torch.randn(1, 1, 40, 50, 3), net)
    assert out.shape == (1, 5, 40, 50, 3) and torch.isfinite(out).all()
