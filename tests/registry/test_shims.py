"""Clara 4.0/4.1 configs (MONAI 0.5-0.8 spellings) on today's MONAI, one warning each."""

from __future__ import annotations

import pytest

from clara_cli.errors import ComponentError
from clara_cli.registry import build, shims

WHERE = "config_train.json: train.post_transforms[1]"


def test_addchanneld_becomes_ensure_channel_first_with_one_warning(warnings_seen):
    import monai.transforms

    target, fixed = build.find_class({"name": "AddChanneld"}, "transform", WHERE)
    build.find_class({"name": "AddChanneld"}, "transform", WHERE)
    assert target is monai.transforms.EnsureChannelFirstd
    assert fixed == {"channel_dim": "no_channel"}
    messages = warnings_seen()
    assert messages == [
        f"{WHERE}: AddChanneld was removed from MONAI; using EnsureChannelFirstd(channel_dim='no_channel')"
    ]


def test_network_dimensions_becomes_spatial_dims(warnings_seen):
    from monai.networks.nets import UNet

    args = shims.upgrade_args("UNet", UNet, {"dimensions": 3, "in_channels": 1}, WHERE)
    assert args == {"spatial_dims": 3, "in_channels": 1}
    assert "UNet: 'dimensions' is MONAI 0.x; using spatial_dims=3" in warnings_seen()[0]


def test_asdiscreted_onehot_bool_with_n_classes_becomes_a_number(warnings_seen):
    from monai.transforms import AsDiscreted

    args = shims.upgrade_args(
        "AsDiscreted",
        AsDiscreted,
        {"keys": ["pred", "label"], "argmax": [True, False], "to_onehot": True, "n_classes": 2},
        WHERE,
    )
    assert args["to_onehot"] == 2 and "n_classes" not in args
    AsDiscreted(**args)  # accepted by today's MONAI


def test_asdiscreted_per_key_onehot_flags(warnings_seen):
    from monai.transforms import AsDiscreted

    args = shims.upgrade_args(
        "AsDiscreted",
        AsDiscreted,
        {"keys": ["pred", "label"], "to_onehot": [True, False], "n_classes": 3},
        WHERE,
    )
    assert args["to_onehot"] == [3, None]


def test_asdiscreted_threshold_values_and_logit_thresh_become_threshold(warnings_seen):
    from monai.transforms import AsDiscreted

    args = shims.upgrade_args(
        "AsDiscreted",
        AsDiscreted,
        {"keys": "pred", "threshold_values": True, "logit_thresh": 0.3},
        WHERE,
    )
    assert args == {"keys": "pred", "threshold": 0.3}


def test_onehot_true_without_a_class_count_is_an_error():
    from monai.transforms import AsDiscreted

    with pytest.raises(ComponentError, match="to_onehot=true needs n_classes"):
        shims.upgrade_args("AsDiscreted", AsDiscreted, {"keys": "pred", "to_onehot": True}, WHERE)


def test_batched_is_dropped_where_the_class_no_longer_takes_it(warnings_seen):
    from monai.apps.deepgrow.transforms import AddGuidanceSignald

    args = shims.upgrade_args(
        "AddGuidanceSignald", AddGuidanceSignald, {"image": "image", "batched": True}, WHERE
    )
    assert args == {"image": "image"}


def test_clara_internal_deepgrow_interaction_path_maps_to_monai(warnings_seen):
    from monai.apps.deepgrow.interaction import Interaction

    target, _ = build.find_class({"path": "deepgrow.interaction.ClickInteraction"}, None, WHERE)
    assert target is Interaction


def test_legacy_lambda_output_transforms_work_on_decollated_outputs():
    import torch

    loss = shims.PerItemTransform(lambda x: x["loss"])
    assert loss([{"loss": 0.5}, {"loss": 0.5}]) == 0.5
    assert loss({"loss": 0.7}) == 0.7
    pairs = shims.PerItemTransform(lambda x: (x["pred"], x["label"]))
    items = [{"pred": torch.zeros(2, 3), "label": torch.ones(2, 3)} for _ in range(2)]
    preds, labels = pairs(items)
    assert len(preds) == 2 and torch.equal(labels[1], torch.ones(2, 3))
    stacked = shims.PerItemTransform(lambda x: (x["pred"], x["label"]), stack=True)
    assert stacked(items)[0].shape == (2, 2, 3)


def test_orientation_labels_are_pinned_and_monai_does_not_warn():
    """Clara's axcodes meant MONAI's (L,R),(P,A),(I,S) labels; MONAI warns that this default
    will become None. The shim passes it explicitly: same meaning, no FutureWarning."""
    import warnings

    from monai.transforms import Orientationd

    from clara_cli.registry.shims import upgrade_args

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Orientationd(keys="image", axcodes="RAS")
    assert [w for w in caught if "labels" in str(w.message)]  # what the shim avoids
    args = upgrade_args("Orientationd", Orientationd, {"keys": "image", "axcodes": "RAS"}, "c")
    assert args["labels"] == (("L", "R"), ("P", "A"), ("I", "S"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Orientationd(**args)
    assert not [w for w in caught if "labels" in str(w.message)]
    kept = upgrade_args("Orientationd", Orientationd, {"keys": "image", "labels": None}, "c")
    assert kept["labels"] is None  # a config's own choice stays
