"""The resolved, not-built view of a config (`resolve_config`): classes, arguments with
reference/expression markers, shims, switched-off components, and the problems it finds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clara_cli.errors import ConfigError
from clara_cli.mmar.items import Expression, Reference, ResolvedComponent
from clara_cli.mmar.loader import load_mmar_config
from clara_cli.mmar.resolved_config import resolve_config

UNET = {
    "name": "UNet",
    "args": {
        "dimensions": 2,
        "in_channels": 1,
        "out_channels": 2,
        "channels": [4, 8],
        "strides": [2],
    },
}
TRAIN = {
    "learning_rate": 0.01,
    "dont_load_ckpt_model": True,
    "train": {
        "model": UNET,
        "optimizer": {
            "name": "Adam",
            "args": {"params": "#@model.parameters()", "lr": "{learning_rate}"},
        },
        "lr_scheduler": {"name": "StepLR", "args": {"optimizer": "@optimizer", "step_size": 3}},
        "pre_transforms": [
            {"name": "LoadImaged", "args": {"keys": "image"}},
            {"name": "AddChanneld", "args": {"keys": "image"}},
        ],
        "handlers": [
            {"name": "StatsHandler", "rank": 0, "args": {"output_transform": "lambda x: x"}},
            {
                "name": "CheckpointLoader",
                "disabled": "{dont_load_ckpt_model}",
                "args": {"load_path": "{MMAR_CKPT}", "load_dict": {"model": "@model"}},
            },
        ],
    },
    "validate": {
        "pre_transforms": [{"ref": "LoadImaged"}],
        "evaluator": {"name": "SupervisedEvaluator", "args": {"network": "@model"}},
    },
}


def _mmar(tmp_path: Path, config: dict, **overrides) -> object:
    (tmp_path / "config").mkdir(parents=True, exist_ok=True)
    (tmp_path / "config" / "config_train.json").write_text(json.dumps(config))
    return load_mmar_config(tmp_path, "config/config_train.json", overrides=overrides)


def test_the_resolved_view_lists_classes_args_and_markers_without_building(tmp_path, count_modules):
    import monai
    import torch

    resolved = resolve_config(_mmar(tmp_path, TRAIN, learning_rate=0.5))

    assert resolved.ok, resolved.problems
    model = resolved.get("train.model")
    assert model.target is monai.networks.nets.UNet
    assert model.args["spatial_dims"] == 2 and "dimensions" not in model.args
    assert model.shims == ["UNet: 'dimensions' is MONAI 0.x; using spatial_dims=2"]
    optimizer = resolved.get("train.optimizer")
    assert optimizer.target is torch.optim.Adam
    assert optimizer.args["params"] == Expression("#@model.parameters()")
    assert optimizer.args["params"].references == ("model",)
    assert optimizer.args["lr"] == 0.5  # --set learning_rate=0.5, with its type
    assert resolved.get("train.lr_scheduler").args["optimizer"] == Reference("optimizer")
    assert resolved.get("train.lr_scheduler").references() == {"optimizer"}
    add_channel = resolved.get("train.pre_transforms[1]")
    assert add_channel.class_name == "monai.transforms.utility.dictionary.EnsureChannelFirstd"
    assert add_channel.args == {"channel_dim": "no_channel", "keys": "image"}
    assert "AddChanneld was removed from MONAI" in add_channel.shims[0]
    reused = resolved.get("validate.pre_transforms[0]")
    assert reused.reuses == "train.pre_transforms[0]"
    assert reused.target is monai.transforms.LoadImaged
    assert reused.where.endswith("config_train.json: validate.pre_transforms[0]")
    stats, loader = resolved.get("train.handlers")
    assert stats.rank == 0 and stats.args["output_transform"] == Expression("lambda x: x")
    assert loader.disabled and loader.target is None and loader.args == {}
    assert "(disabled)" in loader.describe()

    paths = [c.key_path for c in resolved.components()]
    assert "train.handlers[1]" in paths and "validate.evaluator" in paths
    assert all(isinstance(c, ResolvedComponent) for c in resolved.components())
    assert count_modules == []  # nothing was built


def test_a_component_for_another_rank_is_not_resolved(tmp_path):
    config = {"train": {"handlers": [{"name": "Nope", "rank": 0, "args": {"x": "{NOPE}"}}]}}
    resolved = resolve_config(_mmar(tmp_path, config), rank=1)
    assert resolved.ok
    (handler,) = resolved.get("train.handlers")
    assert handler.for_other_rank and handler.rank == 0
    assert "(rank 0 only)" in handler.describe()
    assert not resolve_config(_mmar(tmp_path, config), rank=0).ok


def test_reference_cycles_are_problems_that_name_the_chain(tmp_path):
    config = {
        "train": {
            "a": {"name": "Compose", "args": {"transforms": ["@b"]}},
            "b": {"name": "Compose", "args": {"transforms": ["#[@c]"]}},
            "c": {"name": "Compose", "args": {"transforms": ["@a"]}},
            "d": {"name": "Compose", "args": {"transforms": ["@a"]}},
        }
    }
    resolved = resolve_config(_mmar(tmp_path, config))
    messages = [str(p) for p in resolved.problems]
    assert len(messages) == 1, messages
    assert "circular references: @a -> @b -> @c -> @a" in messages[0]


def test_problems_are_collected_with_file_key_path_and_suggestions(tmp_path):
    config = {
        "learning_rate": 0.1,
        "train": {
            "loss": {"name": "DiceLos"},
            "optimizer": {"name": "Adam", "args": {"lr": "{learning_rat}"}},
            "lr_scheduler": {"name": "StepLR", "args": {"optimizer": "@optimiser"}},
            "pre_transforms": [
                {"name": "LoadImaged", "args": {"keys": "image"}},
                {"name": "Spacingd", "args": {"keys": "image", "pixdim": "{pixdim}"}},
            ],
        },
    }
    resolved = resolve_config(_mmar(tmp_path, config))
    by_path = {p.key_path: str(p) for p in resolved.problems}
    assert set(by_path) == {
        "train.loss",
        "train.optimizer",
        "train.pre_transforms[1]",
        "train.lr_scheduler",
    }
    source = str(tmp_path / "config" / "config_train.json")
    assert f"{source}: train.loss.name: unknown loss 'DiceLos'" in by_path["train.loss"]
    assert "Did you mean 'DiceLoss'" in by_path["train.loss"]
    assert (
        f"{source}: train.optimizer.args.lr: unresolved variable {{learning_rat}}"
        in (by_path["train.optimizer"])
    )
    assert "Did you mean 'learning_rate'" in by_path["train.optimizer"]
    assert (
        "train.pre_transforms[1].args.pixdim: unresolved variable {pixdim}"
        in (by_path["train.pre_transforms[1]"])
    )
    assert "reference @optimiser names nothing" in by_path["train.lr_scheduler"]
    # The item that resolved is still listed.
    assert resolved.get("train.pre_transforms[0]").label == "LoadImaged"


def test_references_follow_the_sections_fallbacks(tmp_path):
    resolved = resolve_config(_mmar(tmp_path, TRAIN))
    # validate's @model is train's; train's @evaluator is validate's; @conf always exists.
    assert resolved.ok, resolved.problems
    config = json.loads(json.dumps(TRAIN))
    config["train"]["handlers"][0]["args"]["x"] = "@evaluator"
    config["train"]["handlers"][0]["args"]["conf"] = "@conf"
    config["validate"]["evaluator"]["args"]["handlers"] = "@handlers"  # train's: a cycle
    config["train"]["handlers"][0]["name"] = "Compose"
    problems = [str(p) for p in resolve_config(_mmar(tmp_path, config)).problems]
    assert len(problems) == 1 and "circular references: @handlers -> @evaluator" in problems[0]


def test_sections_can_be_chosen_and_get_suggests_close_paths(tmp_path):
    resolved = resolve_config(_mmar(tmp_path, TRAIN), sections=["validate"])
    assert list(resolved.sections) == ["validate"]
    assert resolved.get("validate.evaluator").label == "SupervisedEvaluator"
    with pytest.raises(ConfigError, match="Did you mean 'validate.evaluator'"):
        resolved.get("validate.evaluater")
    with pytest.raises(ConfigError, match="no section infer: this config has train, validate"):
        resolve_config(_mmar(tmp_path, TRAIN), sections=["infer"])
