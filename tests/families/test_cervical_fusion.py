"""View fusion: three 2D models, each along its own axis, averaged as probabilities in 3D."""

from __future__ import annotations

import pytest
import torch

from clara_cli.errors import ConfigError
from clara_cli.families.cervical.fusion import ViewFusion, view_fusion


class ConstantView(torch.nn.Module):
    """2D "network" with fixed logits per class; records the slice shapes it is given."""

    def __init__(self, logits):
        super().__init__()
        self.logits = torch.tensor(logits, dtype=torch.float32)
        self.weight = torch.nn.Parameter(torch.zeros(1))  # so it has a device
        self.seen = set()

    def forward(self, x):
        assert x.dim() == 4, x.shape  # (slices, C, H, W): a 2D network never sees 3D
        self.seen.add(tuple(x.shape[2:]))
        return self.logits.view(1, -1, 1, 1).expand(x.shape[0], -1, *x.shape[2:]) + 0 * x


LOGITS = ([2.0, -1.0], [0.0, 0.0], [-1.5, 3.0])


def _softmax(logits):
    return torch.softmax(torch.tensor(logits), dim=0)


def test_fused_map_is_the_mean_of_the_three_views_probabilities():
    networks = [ConstantView(logits) for logits in LOGITS]
    volume = torch.randn(1, 1, 8, 16, 24)
    fused = torch.exp(ViewFusion(networks, [0, 1, 2], divisible=8)(volume))
    assert fused.shape == (1, 2, 8, 16, 24)
    expected = sum(_softmax(logits) for logits in LOGITS) / 3
    assert torch.allclose(fused[0, :, 3, 5, 7], expected, atol=1e-5)
    assert torch.allclose(fused.sum(dim=1), torch.ones(1, 8, 16, 24), atol=1e-5)
    # each model ran slice by slice along its own axis: sagittal (Y, Z), coronal (X, Z),
    # axial (X, Y) planes
    assert [net.seen for net in networks] == [{(16, 24)}, {(8, 24)}, {(8, 16)}]


@pytest.mark.parametrize("left_out", [0, 1, 2])
def test_every_view_changes_the_fused_map(left_out):
    volume = torch.randn(1, 1, 8, 8, 8)
    full = ViewFusion([ConstantView(x) for x in LOGITS], [0, 1, 2], divisible=8)(volume)
    kept = [i for i in range(3) if i != left_out]
    partial = ViewFusion([ConstantView(LOGITS[i]) for i in kept], kept, divisible=8)(volume)
    assert not torch.allclose(torch.exp(full), torch.exp(partial), atol=1e-3)


def test_output_is_log_probabilities_so_softmax_post_transforms_apply():
    volume = torch.randn(1, 1, 8, 8, 8)
    for networks, axes in (
        ([ConstantView(LOGITS[0])], [2]),
        ([ConstantView(x) for x in LOGITS], [0, 1, 2]),
    ):
        out = ViewFusion(networks, axes, divisible=8)(volume)
        assert torch.allclose(torch.softmax(out, 1), torch.exp(out), atol=1e-5)


def test_the_engine_pipeline_and_combiner_do_the_fusing(monkeypatch):
    from clara_cli.engine import inference

    calls = []
    original = inference.mean_of_probabilities

    def spy(outputs, weights=None):
        calls.append(len(outputs))
        return original(outputs, weights)

    monkeypatch.setattr(inference, "mean_of_probabilities", spy)
    ViewFusion([ConstantView(x) for x in LOGITS], [0, 1, 2], divisible=8)(
        torch.randn(1, 1, 8, 8, 8)
    )
    assert calls == [3]


def _checkpoint(path, seed):
    from clara_cli.families.cervical.networks import study_network

    spec = {
        "path": "clara_cli.families.cervical.networks.study_network",
        "args": {"architecture": "Linknet", "encoder": "random", "random_encoder": "resnet18",
                 "encoder_depth": 3, "in_channels": 1, "classes": 2},
    }  # fmt: skip
    torch.manual_seed(seed)
    network = study_network(**spec["args"])
    torch.save({"model": network.state_dict(), "train_conf": {"train": {"model": spec}}}, path)
    return network


def test_view_fusion_loads_one_checkpoint_per_axis_or_one_for_all(tmp_path):
    paths = [tmp_path / f"axis{i}.pt" for i in range(3)]
    originals = [_checkpoint(path, seed) for seed, path in enumerate(paths)]
    fused = view_fusion([str(p) for p in paths], axes=[0, 1, 2], divisible=8)
    assert fused.axes == [0, 1, 2] and len(fused.networks) == 3
    for loaded, original in zip(fused.networks, originals, strict=True):
        name, weight = next(iter(original.state_dict().items()))
        assert torch.equal(loaded.state_dict()[name], weight)
    single = view_fusion(str(paths[0]), axes="012", divisible=8)
    assert single.axes == [0, 1, 2] and len({id(n) for n in single.networks}) == 1
    with torch.no_grad():
        out = single(torch.randn(1, 1, 16, 8, 24))
    assert out.shape == (1, 2, 16, 8, 24) and torch.isfinite(out).all()


def test_view_fusion_says_what_is_wrong(tmp_path):
    path = tmp_path / "a.pt"
    _checkpoint(path, 0)
    with pytest.raises(ConfigError, match="2 checkpoints for 3 axes"):
        view_fusion([str(path), str(path)], axes=[0, 1, 2])
    with pytest.raises(ConfigError, match="checkpoint not found"):
        view_fusion([str(tmp_path / "missing.pt")] * 3)
    with pytest.raises(ConfigError, match="slice axis must be"):
        view_fusion(str(path), axes=[0, 3])
