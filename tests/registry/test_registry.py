"""Finding components by name or path, and building them with messages that name the key."""

from __future__ import annotations

import sys

import pytest

from clara_cli.errors import ComponentError
from clara_cli.registry import build, builtin

WHERE = "config_train.json: train.loss"


def test_names_are_found_in_the_table_of_their_kind_case_insensitively():
    import monai.losses
    import monai.networks.nets
    import torch.optim

    assert build.find_class({"name": "DiceLoss"}, "loss", WHERE)[0] is monai.losses.DiceLoss
    assert build.find_class({"name": "unet"}, "network", WHERE)[0] is monai.networks.nets.UNet
    assert build.find_class({"name": "Adam"}, "optimizer", WHERE)[0] is torch.optim.Adam


def test_the_ignite_accuracy_metric_is_found():
    import ignite.metrics

    assert build.find_class({"name": "Accuracy"}, "metric", WHERE)[0] is ignite.metrics.Accuracy


def test_an_unknown_name_suggests_the_closest_ones():
    with pytest.raises(ComponentError) as info:
        build.find_class({"name": "DiceLos"}, "loss", WHERE)
    message = str(info.value)
    assert message.startswith(f"{WHERE}.name: unknown loss 'DiceLos'.")
    assert "Did you mean 'DiceLoss'" in message


def test_a_name_with_an_alias_uses_the_class_before_the_hash():
    import monai.losses

    assert build.find_class({"name": "DiceLoss#main"}, "loss", WHERE)[0] is monai.losses.DiceLoss


def test_path_imports_user_code_from_custom(tmp_path, monkeypatch):
    custom = tmp_path / "custom"
    custom.mkdir()
    (custom / "my_nets.py").write_text(
        "class TinyNet:\n    def __init__(self, width=1):\n        self.width = width\n"
    )
    monkeypatch.syspath_prepend(str(custom))
    target, _ = build.find_class({"path": "my_nets.TinyNet", "name": "TinyNet"}, "network", WHERE)
    assert build.construct(target, "TinyNet", {"width": 3}, WHERE).width == 3
    sys.modules.pop("my_nets", None)


def test_a_bad_path_says_where_user_code_belongs():
    with pytest.raises(ComponentError, match="user code belongs in MMAR_ROOT/custom/"):
        build.find_class({"path": "no_such_module.Net"}, "network", WHERE)
    with pytest.raises(ComponentError, match="has no 'Dicelos'. Did you mean 'DiceLoss'"):
        build.find_class({"path": "monai.losses.Dicelos"}, "loss", WHERE)


def test_an_unknown_argument_names_the_component_the_key_and_the_accepted_ones():
    import monai.losses

    with pytest.raises(ComponentError) as info:
        build.construct(monai.losses.DiceLoss, "DiceLoss", {"to_onehot": True}, WHERE)
    message = str(info.value)
    assert f"{WHERE}.args.to_onehot: DiceLoss has no argument 'to_onehot'" in message
    assert "Did you mean 'to_onehot_y'" in message


def test_a_missing_required_argument_is_named():
    import torch.optim

    with pytest.raises(
        ComponentError, match="StepLR needs argument\\(s\\) 'optimizer', 'step_size'"
    ):
        build.construct(torch.optim.lr_scheduler.StepLR, "StepLR", {}, WHERE)


def test_a_constructor_failure_shows_the_arguments():
    import monai.networks.nets

    with pytest.raises(ComponentError) as info:
        build.construct(
            monai.networks.nets.UNet,
            "UNet",
            {
                "spatial_dims": 3,
                "in_channels": 1,
                "out_channels": 2,
                "channels": [4],
                "strides": [2],
            },
            WHERE,
        )
    assert "could not build UNet(spatial_dims=3" in str(info.value)


def test_every_kind_has_a_table_with_names():
    for kind in builtin._MODULES:
        assert builtin.registry(kind).names(), kind
