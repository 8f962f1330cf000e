"""3D max pooling and replication padding keep bf16 activations in bf16 under CPU autocast."""

from __future__ import annotations

import copy
import pickle
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from clara_cli.engine.bf16_pooling import (
    Bf16AdaptiveMaxPool3d,
    Bf16MaxPool3d,
    Bf16ReplicationPad3d,
    keep_pooling_in_bf16,
)
from clara_cli.engine.inference import prepare_for_inference


def _net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv3d(1, 4, 3, padding=1),
        nn.MaxPool3d(2),
        nn.BatchNorm3d(4).eval(),
        nn.ReLU(),
        nn.ReplicationPad3d(1),
        nn.Conv3d(4, 4, 3),
        nn.AdaptiveMaxPool3d(4),
        nn.Conv3d(4, 2, 1),
    )


def test_the_3d_pooling_and_padding_layers_are_swapped_and_the_state_dict_is_unchanged():
    net = _net()
    state = {key: value.clone() for key, value in net.state_dict().items()}
    assert keep_pooling_in_bf16(net) == 3
    kinds = [type(m) for m in net]
    assert kinds[1] is Bf16MaxPool3d and kinds[4] is Bf16ReplicationPad3d
    assert kinds[6] is Bf16AdaptiveMaxPool3d
    assert list(net.state_dict()) == list(state)
    assert all(torch.equal(net.state_dict()[k], v) for k, v in state.items())
    assert keep_pooling_in_bf16(net) == 0  # idempotent
    # 2D pooling: PyTorch's CPU autocast already keeps it in bf16
    assert keep_pooling_in_bf16(nn.Sequential(nn.MaxPool2d(2), nn.AdaptiveMaxPool2d(2))) == 0


@pytest.mark.parametrize(
    ("plain", "swapped"),
    [
        (nn.MaxPool3d(2, stride=2, padding=1), Bf16MaxPool3d(2, stride=2, padding=1)),
        (nn.AdaptiveMaxPool3d(3), Bf16AdaptiveMaxPool3d(3)),
        (nn.ReplicationPad3d((1, 2, 0, 1, 2, 0)), Bf16ReplicationPad3d((1, 2, 0, 1, 2, 0))),
    ],
)
def test_without_gradients_under_cpu_autocast_a_bf16_input_stays_bf16_with_autocasts_values(
    plain, swapped
):
    x = torch.randn(2, 3, 7, 6, 5).to(torch.bfloat16)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        want, got = plain(x), swapped(x)
    assert want.dtype == torch.float32  # PyTorch's policy: fp32 for these 3D operators
    assert got.dtype == torch.bfloat16
    assert torch.equal(got.float(), want)  # selecting/copying values is exact in bf16


def test_other_inputs_and_passes_with_gradients_run_as_before():
    plain, swapped = nn.MaxPool3d(2), Bf16MaxPool3d(2)
    fp32 = torch.randn(1, 2, 4, 4, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert swapped(fp32).dtype == plain(fp32).dtype == torch.float32
        # a training step (gradients on) keeps PyTorch's policy, backward included
        trained = fp32.to(torch.bfloat16).requires_grad_()
        out = swapped(trained)
        assert out.dtype == torch.float32
        out.sum().backward()
        assert trained.grad is not None
    bf16 = fp32.to(torch.bfloat16)
    assert swapped(bf16).dtype == plain(bf16).dtype == torch.bfloat16  # no autocast
    assert torch.equal(swapped(fp32), plain(fp32))


def test_the_layers_after_pooling_run_on_bf16_activations_and_stay_close_to_fp32():
    x = torch.rand(2, 1, 16, 16, 16)
    with torch.inference_mode():
        exact = _net()(x)
        seen: list[torch.dtype] = []
        for switch in (False, True):
            net = prepare_for_inference(_net(), torch.bfloat16, bf16_pooling=switch)
            norm = net.module[2]
            hook = norm.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
            out = net(x)
            hook.remove()
            assert out.dtype == torch.float32
            torch.testing.assert_close(out, exact, rtol=0.05, atol=0.05)
    assert seen == [torch.float32, torch.bfloat16]


@pytest.mark.parametrize(
    ("dtype", "switch"), [(torch.bfloat16, True), (torch.bfloat16, False), (None, True)]
)
def test_inference_networks_are_swapped_only_under_autocast_and_the_switch(dtype, switch):
    net = prepare_for_inference(_net(), dtype, bf16_pooling=switch)
    inner = net.module if dtype is not None else net
    assert (type(inner[1]) is Bf16MaxPool3d) == (dtype is not None and switch)


def test_swapped_networks_pickle_and_copy():
    net = _net()
    keep_pooling_in_bf16(net)
    x = torch.rand(1, 1, 8, 8, 8)
    for clone in (pickle.loads(pickle.dumps(net)), copy.deepcopy(net)):
        assert type(clone[1]) is Bf16MaxPool3d
        torch.testing.assert_close(clone(x), net(x))


@pytest.mark.parametrize(("amp", "switch"), [(True, True), (True, False), (False, True)])
def test_evaluation_networks_of_train_and_validate_are_swapped_under_cpu_bf16(amp, switch):
    from clara_cli.engine.network import NetworkPreparer

    net = _net()
    dist = SimpleNamespace(world_size=1, device=torch.device("cpu"))
    dtype = torch.bfloat16 if amp else None
    prepared = NetworkPreparer(dist, dtype, onednn_conv3d=False, bf16_pooling=switch)(net, False)
    assert (type(net[1]) is Bf16MaxPool3d) == (amp and switch)
    with torch.no_grad():
        assert prepared(torch.rand(1, 1, 8, 8, 8)).shape == (1, 2, 4, 4, 4)


@pytest.mark.parametrize(("variables", "expected"), [({}, True), ({"bf16_pooling": False}, False)])
def test_clara_infer_reads_the_bf16_pooling_switch(variables, expected):
    from clara_cli.workflows.infer import network_options

    session = SimpleNamespace(
        var=lambda name, default=None: variables.get(name, default),
        dist=SimpleNamespace(device=torch.device("cpu")),
    )
    assert network_options(session)["bf16_pooling"] is expected


def test_bf16_pooling_is_a_switch_clara_reads():
    from clara_cli.errors import OverrideError
    from clara_cli.mmar.set_values import check_overrides

    assert check_overrides({"bf16_pooling": False}, {}, []) == {"bf16_pooling": False}
    with pytest.raises(OverrideError, match="bf16_pooling"):
        check_overrides({"bf16_pooling": "sometimes"}, {}, [])
