"""Building a config section: @references, #expressions, lambdas, disabled, rank, ref, aliases."""

from __future__ import annotations

import pytest

from clara_cli.errors import ComponentError, ConfigError
from clara_cli.mmar.resolver import Runtime, Section

SOURCE = "config_train.json"


def _section(
    spec: dict, rank: int = 0, name: str = "train", fallback: Section | None = None
) -> Section:
    return Section(name, spec, SOURCE, Runtime(rank=rank), {"train": spec}, fallback=fallback)


UNET = {
    "name": "UNet",
    "args": {
        "spatial_dims": 2,
        "in_channels": 1,
        "out_channels": 2,
        "channels": [4, 8],
        "strides": [2],
    },
}


def test_references_are_built_once_in_dependency_order():
    section = _section(
        {
            "optimizer": {"name": "Adam", "args": {"params": "#@model.parameters()", "lr": 0.1}},
            "lr_scheduler": {"name": "StepLR", "args": {"optimizer": "@optimizer", "step_size": 3}},
            "model": UNET,
        }
    )
    scheduler = section.get("lr_scheduler")
    assert scheduler.optimizer is section.get("optimizer")
    model_params = {id(p) for p in section.get("model").parameters()}
    optimizer_params = {
        id(p) for group in scheduler.optimizer.param_groups for p in group["params"]
    }
    assert optimizer_params == model_params


def test_a_reference_to_the_transform_list_composes_it():
    from monai.transforms import Compose

    section = _section(
        {
            "pre_transforms": [
                {"name": "ScaleIntensityd", "args": {"keys": "image"}},
                {"name": "Flipd", "args": {"keys": "image", "spatial_axis": 0}, "disabled": True},
            ],
            "dataset": {"name": "Dataset", "args": {"data": [], "transform": "@pre_transforms"}},
        }
    )
    transform = section.get("dataset").transform
    assert isinstance(transform, Compose)
    assert [type(t).__name__ for t in transform.transforms] == ["ScaleIntensityd"]


def test_disabled_as_a_variable_string_and_other_ranks_are_skipped():
    spec = {
        "handlers": [
            {"name": "StatsHandler", "rank": 0},
            {"name": "StatsHandler", "disabled": "true"},
            {"name": "StatsHandler", "disabled": "false", "args": {"iteration_log": False}},
        ]
    }
    assert len(_section(spec, rank=0).get("handlers")) == 2
    assert len(_section(spec, rank=1).get("handlers")) == 1


def test_lambda_strings_become_functions_and_expressions_see_monai():
    section = _section(
        {
            "handlers": [
                {"name": "StatsHandler", "args": {"output_transform": "lambda x: x['loss'] * 2"}},
                {
                    "name": "StatsHandler",
                    "args": {
                        "output_transform": "#monai.handlers.from_engine(['loss'], first=True)"
                    },
                },
            ]
        }
    )
    first, second = section.get("handlers")
    assert first.output_transform({"loss": 2}) == 4
    assert second.output_transform([{"loss": 3}, {"loss": 3}]) == 3


def test_circular_references_name_the_chain():
    section = _section(
        {
            "a": {"name": "Compose", "args": {"transforms": ["@b"]}},
            "b": {"name": "Compose", "args": {"transforms": ["@a"]}},
        }
    )
    with pytest.raises(ConfigError, match="circular references: @a -> @b -> @a"):
        section.get("a")


def test_a_reference_to_nothing_lists_what_the_section_defines():
    section = _section({"model": UNET, "loss": {"name": "DiceLoss", "args": {"x": "@modle"}}})
    with pytest.raises(
        ConfigError, match="reference @modle names nothing: this section defines loss, model"
    ):
        section.get("loss")


def test_ref_reuses_a_train_component_as_a_fresh_instance_and_aliases_work():
    train = _section(
        {
            "pre_transforms": [
                {
                    "name": "ScaleIntensityRanged#ct_window",
                    "args": {"keys": "image", "a_min": -57, "a_max": 164, "b_min": 0, "b_max": 1},
                },
                {"name": "Spacingd", "args": {"keys": "image", "pixdim": [2, 2, 2]}},
            ]
        }
    )
    validate = _section(
        {"pre_transforms": [{"ref": "ct_window"}, {"ref": "Spacingd"}]},
        name="validate",
        fallback=train,
    )
    reused = validate.get("pre_transforms").transforms
    original = train.get("pre_transforms").transforms
    assert [type(t).__name__ for t in reused] == ["ScaleIntensityRanged", "Spacingd"]
    assert reused[0] is not original[0]
    assert reused[0].scaler.a_min == -57


def test_a_ref_to_an_unknown_name_is_an_error():
    train = _section({"pre_transforms": []})
    validate = _section({"pre_transforms": [{"ref": "Nope"}]}, name="validate", fallback=train)
    with pytest.raises(ConfigError, match="no component named 'Nope' in the train section"):
        validate.get("pre_transforms")


def test_validate_falls_back_to_train_for_references():
    train = _section({"model": UNET})
    validate = _section(
        {
            "inferer": {"name": "SimpleInferer"},
            "x": {"name": "Compose", "args": {"transforms": []}},
        },
        name="validate",
        fallback=train,
    )
    assert validate.get("model") is train.get("model")


def test_clara_40_metrics_list_becomes_key_and_additional_metrics():
    section = _section(
        {
            "metrics": [
                {"name": "Accuracy", "log_label": "acc"},
                {"name": "MeanDice", "log_label": "val_mean_dice", "is_key_metric": True},
                {"name": "MeanDice", "log_label": "off", "disabled": True},
            ]
        }
    )
    assert list(section.get("key_metric")) == ["val_mean_dice"]
    assert list(section.get("additional_metrics")) == ["acc"]


def test_a_failing_expression_names_the_key():
    section = _section(
        {"model": UNET, "optimizer": {"name": "Adam", "args": {"params": "#@model.weights()"}}}
    )
    with pytest.raises(
        ComponentError, match=r"train.optimizer.args.params: expression '@model.weights\(\)' failed"
    ):
        section.get("optimizer")
