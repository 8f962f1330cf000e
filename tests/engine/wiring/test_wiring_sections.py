"""The built-in rules together: a Clara 4.0 train section (nothing wired) builds a trainer."""

from __future__ import annotations

import torch

from clara_cli.engine.checkpoint import AtomicDiskSaver
from clara_cli.engine.wiring import PlainState, Wiring
from clara_cli.mmar.resolver import Runtime, Section


def _clara_40_train(save_dir: str) -> dict:
    return {
        "model": {"path": "torch.nn.Linear", "args": {"in_features": 2, "out_features": 1}},
        "loss": {"path": "torch.nn.MSELoss"},
        "optimizer": {"name": "SGD", "args": {"lr": 0.1}},
        "lr_scheduler": {"name": "StepLR", "args": {"step_size": 1}},
        "dataset": {"name": "Dataset", "args": {"data": [{"x": 1}, {"x": 2}]}},
        "dataloader": {"name": "DataLoader", "args": {"batch_size": 1}},
        "handlers": [
            {"name": "LrScheduleHandler", "args": {"print_lr": False}},
            {"name": "StatsHandler", "args": {"tag_name": "train_loss"}},
            {
                "name": "CheckpointSaver",
                "args": {"save_dir": save_dir, "save_dict": ["model", "conf"], "save_final": True},
            },
        ],
        "trainer": {"name": "SupervisedTrainer", "args": {}},
    }


def test_a_clara_40_section_is_wired_into_a_trainer(tmp_path):
    prepared = []

    def prepare(network, training):
        prepared.append(training)
        return network

    wiring = Wiring({"epochs": "3"}, torch.device("cpu"), prepare_network=prepare)
    conf = {"train": _clara_40_train(str(tmp_path))}
    train = Section(
        "train", conf["train"], "config_train.json", Runtime(hooks=wiring.hooks()), conf
    )

    trainer = train.get("trainer")
    model, optimizer = train.get("model"), train.get("optimizer")
    assert trainer.network is model and prepared == [True]
    assert trainer.optimizer is optimizer and trainer.loss_function is train.get("loss")
    assert [p for p in optimizer.param_groups[0]["params"]] == list(model.parameters())
    assert train.get("lr_scheduler").optimizer is optimizer
    assert trainer.data_loader.dataset is train.get("dataset")
    assert trainer.state.max_epochs == 3
    assert trainer.amp is False and trainer.state.device == torch.device("cpu")
    schedule, stats, saver = train.get("handlers")
    assert schedule.lr_scheduler is train.get("lr_scheduler")
    assert stats.output_transform([{"loss": 0.5}, {"loss": 0.5}]) == 0.5
    assert isinstance(saver._final_checkpoint.save_handler, AtomicDiskSaver)
    assert isinstance(saver.save_dict["conf"], PlainState)
    assert saver.save_dict["model"] is model
