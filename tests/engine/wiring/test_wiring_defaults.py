"""Output-transform defaults for MONAI 1.x handlers; the config's own transform wins."""

from __future__ import annotations

import torch
from monai import handlers

_OUTPUT = [
    {"pred": torch.ones(1), "label": torch.zeros(1), "loss": 0.5},
    {"pred": torch.ones(1) * 2, "label": torch.ones(1), "loss": 0.5},
]


def test_a_metric_handler_reads_pred_and_label_of_every_item(kit):
    args = kit.before("defaults.metric_output_transform", kit.context(handlers.MeanDice))
    preds, labels = args["output_transform"](_OUTPUT)
    assert [p.item() for p in preds] == [1.0, 2.0]
    assert [t.item() for t in labels] == [0.0, 1.0]


def test_train_stats_handlers_log_the_loss(kit):
    for handler in (handlers.StatsHandler, handlers.TensorBoardStatsHandler):
        args = kit.before("defaults.train_stats_output_transform", kit.context(handler))
        assert args["output_transform"](_OUTPUT) == 0.5


def test_an_explicit_output_transform_wins(kit):
    ctx = kit.context(handlers.MeanDice, {"output_transform": "mine"})
    assert kit.before("defaults.metric_output_transform", ctx) == {"output_transform": "mine"}
    ctx = kit.context(handlers.StatsHandler, {"output_transform": "mine"})
    assert kit.before("defaults.train_stats_output_transform", ctx) == {"output_transform": "mine"}


def test_validation_stats_handlers_and_other_components_keep_monai_defaults(kit):
    validate = kit.Section("validate")
    ctx = kit.context(handlers.StatsHandler, section=validate)
    assert not kit.applies("defaults.train_stats_output_transform", ctx)
    assert not kit.applies("defaults.metric_output_transform", kit.context(handlers.StatsHandler))


def test_checkpoints_get_clara_names_unless_the_config_names_them(kit):
    # Clara wrote models/model.pt (its environment.json's MMAR_CKPT) and final_model.pt.
    rule = "defaults.clara_checkpoint_names"
    args = kit.before(rule, kit.context(handlers.CheckpointSaver, {"save_key_metric": True}))
    assert args["key_metric_filename"] == "model.pt" and "final_filename" not in args
    args = kit.before(rule, kit.context(handlers.CheckpointSaver, {"save_final": True}))
    assert args["final_filename"] == "final_model.pt" and "key_metric_filename" not in args
    named = {"save_key_metric": True, "key_metric_filename": "best.pt"}
    assert kit.before(rule, kit.context(handlers.CheckpointSaver, named)) == named
    assert kit.before(rule, kit.context(handlers.CheckpointSaver, {"save_interval": 2})) == {
        "save_interval": 2
    }
