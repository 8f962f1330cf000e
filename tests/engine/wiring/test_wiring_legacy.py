"""Clara 4.0 `lambda x: ...` output transforms applied per item of MONAI 1.x engine output."""

from __future__ import annotations

import ignite.metrics
import torch
from monai import handlers

from clara_cli.registry import shims

_OUTPUT = [
    {"pred": torch.ones(2), "label": torch.zeros(2), "loss": 0.5},
    {"pred": torch.ones(2), "label": torch.ones(2), "loss": 0.5},
]


def _lambda_context(kit, target, text):
    fn = eval(text)  # what the resolver made of the config's "#lambda" string
    return kit.context(target, {"output_transform": fn}, spec={"args": {"output_transform": text}})


def test_a_config_lambda_on_a_monai_handler_is_applied_per_item(kit):
    ctx = _lambda_context(kit, handlers.StatsHandler, "lambda x: x['loss']")
    transform = kit.before("legacy.per_item_output_transform", ctx)["output_transform"]
    assert isinstance(transform, shims.PerItemTransform) and not transform.stack
    assert transform(_OUTPUT) == 0.5


def test_a_config_lambda_on_a_plain_ignite_metric_stacks_the_items(kit):
    ctx = _lambda_context(kit, ignite.metrics.Accuracy, "lambda x: (x['pred'], x['label'])")
    transform = kit.before("legacy.per_item_output_transform", ctx)["output_transform"]
    assert transform.stack
    preds, labels = transform(_OUTPUT)
    assert preds.shape == (2, 2) and labels.tolist() == [[0.0, 0.0], [1.0, 1.0]]


def test_transforms_not_written_as_lambdas_are_left_alone(kit):
    from monai.handlers import from_engine

    ctx = kit.context(handlers.MeanDice, {"output_transform": from_engine(["pred", "label"])})
    assert not kit.applies("legacy.per_item_output_transform", ctx)
    spec = {"args": {"output_transform": "#monai.handlers.from_engine(['loss'])"}}
    ctx = kit.context(handlers.StatsHandler, {"output_transform": None}, spec=spec)
    assert not kit.applies("legacy.per_item_output_transform", ctx)
