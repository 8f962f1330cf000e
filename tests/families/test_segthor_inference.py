"""SegTHOR inference: the two-stage window pipeline and the slice-classifier gate."""

from __future__ import annotations

import pytest
import torch
from monai.data import MetaTensor

from clara_cli.families.segthor.gating import (
    GatedSliceInferer,
    SliceClassifier,
    SlicePresenced,
    gate_logits,
)
from clara_cli.families.segthor.two_stage import TwoStageWindowInferer
from clara_cli.families.segthor.windowing import WindowRule, apply_windows, organ_windows


class ThresholdSegmenter(torch.nn.Module):
    """'Predicts' organ 1 where the (fixed-window) input is above 0.5, organ 2 below 0.1."""

    def forward(self, x):
        v = x[:, :1]
        organ1, organ2 = (v > 0.5).float(), (v < 0.1).float()
        background = 1 - organ1 - organ2
        return 10 * torch.cat([background, organ1, organ2], 1)


class Recorder(torch.nn.Module):
    """Stage 2: records the slices it is given, predicts background."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        self.seen.append(x.clone())
        return torch.zeros(x.shape[0], 3, *x.shape[2:])


def test_two_stage_windows_come_from_the_first_stage_mask():
    # CT in HU: 'organ 1' voxels at 300 and 350 HU, 'organ 2' at -150 HU, the rest 40 HU
    hu = torch.full((1, 1, 8, 8, 3), 40.0)
    hu[0, 0, :2, :, :] = 300.0
    hu[0, 0, :2, :4, :] = 350.0
    hu[0, 0, 6:, :, :] = -150.0
    stage2 = Recorder()
    inferer = TwoStageWindowInferer(
        first_stage=ThresholdSegmenter(),
        organs=[1, 2],
        first_stage_window=(40.0, 400.0),  # [-160, 240]: 300 HU -> 1.0, -150 HU -> 0.025
        width_sigmas=2.0,
        min_width=50.0,
        divisible=8,
    )
    out = inferer(MetaTensor(hu), stage2)
    assert out.shape == (1, 3, 8, 8, 3) and isinstance(out, MetaTensor)
    # organ 1: mean 325, sd 25 -> width max(50, 2 x 2 x 25) = 100; organ 2: uniform -> 50
    assert inferer.last_windows == [[(325.0, 100.0), (-150.0, 50.0)]]
    seen = torch.cat(stage2.seen)  # (Z, 2, X, Y): slices along z, one channel per organ
    expected = apply_windows(hu[0], inferer.last_windows[0]).permute(3, 0, 1, 2)
    assert torch.allclose(seen, expected)
    assert torch.allclose(seen[0, 0, 0, :4], torch.full((4,), 0.75))  # (350 - 275) / 100
    assert torch.allclose(seen[0, 0, 0, 4:], torch.full((4,), 0.25))  # (300 - 275) / 100
    assert torch.allclose(seen[0, 1, 7], torch.full((8,), 0.5)) and seen[0, 1, 3].eq(1).all()


def test_two_stage_needs_hu_and_a_first_stage():
    with pytest.raises(ValueError, match="first_stage_checkpoint"):
        TwoStageWindowInferer()
    inferer = TwoStageWindowInferer(first_stage=ThresholdSegmenter(), divisible=8)
    with pytest.raises(ValueError, match="CT in HU as one channel"):
        inferer(torch.zeros(1, 2, 8, 8, 2), Recorder())


def test_two_stage_matches_the_training_windows_when_stage_one_is_right():
    hu = torch.randn(1, 1, 8, 8, 2) * 50 + 40
    hu[0, 0, :3] += 400
    mask = (hu > 40).long()  # what ThresholdSegmenter predicts on the [-160, 240] window
    rule = WindowRule()
    inferer = TwoStageWindowInferer(first_stage=ThresholdSegmenter(), organs=[1], divisible=8)
    inferer(hu, Recorder())
    assert inferer.last_windows[0] == organ_windows(hu[0], mask[0], [1], rule)


def test_gate_removes_absent_organs_per_slice():
    logits = torch.zeros(2, 3, 4, 4)
    logits[:, 2] = 5.0  # organ 2 wins everywhere
    presence = torch.tensor([[3.0, -3.0], [3.0, 3.0]])  # slice 0: organ 2 absent
    gated = gate_logits(logits, presence, organs=[1, 2], threshold=0.5)
    assert (gated[0].argmax(0) != 2).all() and (gated[1].argmax(0) == 2).all()
    assert torch.equal(gated[1], logits[1]) and torch.isfinite(gated).all()
    with pytest.raises(ValueError, match="one flag per organ"):
        gate_logits(logits, presence[:, :1], organs=[1, 2], threshold=0.5)


class SliceIndexClassifier(torch.nn.Module):
    """Organ 1 'present' only on slices whose mean input is positive."""

    def forward(self, x):
        score = x.mean(dim=(1, 2, 3))
        return torch.stack([10 * torch.sign(score), torch.full_like(score, 10.0)], 1)


def test_gated_inferer_gates_slice_by_slice():
    volume = torch.ones(1, 1, 8, 8, 4)
    volume[..., 1] = -1.0  # slice 1: classifier says organ 1 absent
    segmenter = lambda x: torch.cat([torch.zeros_like(x), 5 + torch.zeros_like(x), x * 0], 1)  # noqa: E731
    plain = GatedSliceInferer(divisible=8)(volume, segmenter)
    assert (plain.argmax(1) == 1).all()
    gated = GatedSliceInferer(classifier=SliceIndexClassifier(), organs=[1, 2], divisible=8)
    labels = gated(volume, segmenter).argmax(1)[0]
    assert (labels[..., 1] == 0).all() and (labels[..., [0, 2, 3]] == 1).all()
    with pytest.raises(ValueError, match="CLASSIFIER_CKPT"):
        GatedSliceInferer(gate=True)


def test_slice_classifier_and_presence_targets():
    net = SliceClassifier("resnet18", in_channels=1, classes=4).eval()
    with torch.no_grad():
        assert net(torch.randn(2, 1, 64, 64)).shape == (2, 4)
    label = torch.zeros(1, 6, 6)
    label[0, 1, 1], label[0, 2, 2] = 2, 4
    out = SlicePresenced("label")({"label": label})
    assert out["label"].tolist() == [0.0, 1.0, 0.0, 1.0]
