"""Clara 4.0 implicit wiring, one rule at a time, on real MONAI/torch classes (never built)."""

from __future__ import annotations

import logging

import pytest
import torch
from monai import engines, handlers

from clara_cli.engine.wiring import PlainState
from clara_cli.errors import ConfigError


def test_an_optimizer_gets_the_section_model_parameters(kit):
    model = torch.nn.Linear(2, 1)
    ctx = kit.context(torch.optim.Adam, {"lr": 0.1}, section=kit.Section(model=model))
    args = kit.before("implicit.optimizer_params", ctx)
    assert [p.shape for p in args["params"]] == [p.shape for p in model.parameters()]


def test_an_optimizer_without_params_and_model_is_a_config_error(kit):
    ctx = kit.context(torch.optim.Adam, {"lr": 0.1})
    with pytest.raises(ConfigError, match="train.thing: the optimizer has no 'params'"):
        kit.before("implicit.optimizer_params", ctx)


def test_explicit_optimizer_params_win(kit):
    section = kit.Section(model=torch.nn.Linear(2, 1))
    ctx = kit.context(torch.optim.Adam, {"params": "explicit"}, section=section)
    assert kit.before("implicit.optimizer_params", ctx)["params"] == "explicit"
    assert section.built == []


@pytest.mark.parametrize(
    "scheduler", [torch.optim.lr_scheduler.StepLR, torch.optim.lr_scheduler.ReduceLROnPlateau]
)
def test_a_scheduler_gets_the_section_optimizer(kit, scheduler):
    ctx = kit.context(scheduler, {"step_size": 2}, section=kit.Section(optimizer="opt"))
    assert kit.before("implicit.scheduler_optimizer", ctx)["optimizer"] == "opt"


def test_an_lr_schedule_handler_gets_the_section_scheduler(kit):
    ctx = kit.context(handlers.LrScheduleHandler, section=kit.Section(lr_scheduler="sched"))
    assert kit.before("implicit.lr_schedule_handler", ctx) == {"lr_scheduler": "sched"}


def test_a_validation_handler_gets_the_evaluator_and_the_configured_interval(kit):
    section = kit.Section(evaluator="ev")
    variables = {"num_interval_per_valid": "3"}
    ctx = kit.context(handlers.ValidationHandler, section=section, variables=variables)
    assert kit.before("implicit.validation_handler", ctx) == {"validator": "ev", "interval": 3}
    ctx = kit.context(handlers.ValidationHandler, {"interval": 5}, section=section)
    assert kit.before("implicit.validation_handler", ctx)["interval"] == 5
    assert (
        kit.before("implicit.validation_handler", kit.context(handlers.ValidationHandler))[
            "interval"
        ]
        == 1
    )


def test_a_list_of_names_becomes_a_save_dict_and_plain_dicts_get_state_dict(kit, caplog):
    model = torch.nn.Linear(2, 1)
    conf = {"train": {"model": {"name": "UNet"}}}
    section = kit.Section(model=model, conf=conf)
    ctx = kit.context(handlers.CheckpointSaver, {"save_dict": ["model", "conf"]}, section=section)
    with caplog.at_level(logging.WARNING, logger="clara"):
        args = kit.before("implicit.checkpoint_dicts", ctx)
    assert args["save_dict"]["model"] is model
    state = args["save_dict"]["conf"]
    assert isinstance(state, PlainState) and state.state_dict() is conf
    assert "save_dict as a list of names is Clara 4.0" in caplog.text
    state.load_state_dict({"validate": {}})
    assert conf == {"validate": {}}


def test_an_explicit_load_dict_keeps_its_objects(kit):
    model = torch.nn.Linear(2, 1)
    ctx = kit.context(handlers.CheckpointLoader, {"load_path": "m.pt", "load_dict": {"m": model}})
    assert kit.before("implicit.checkpoint_dicts", ctx)["load_dict"] == {"m": model}


def test_a_dataloader_gets_the_section_dataset(kit):
    ctx = kit.context(torch.utils.data.DataLoader, section=kit.Section(dataset="ds"))
    assert kit.before("implicit.dataloader_dataset", ctx) == {"dataset": "ds"}


def test_a_trainer_gets_every_section_key_it_takes_and_iteration_becomes_iteration_update(kit):
    keys = {
        "dataloader": "dl", "model": "net", "optimizer": "opt", "loss": "loss",
        "inferer": "inf", "post_transforms": "post", "key_metric": "km",
        "additional_metrics": "am", "handlers": "hs", "iteration": "step",
    }  # fmt: skip
    ctx = kit.context(engines.SupervisedTrainer, {"loss_function": "mine"}, kit.Section(**keys))
    args = kit.before("implicit.trainer_args", ctx)
    assert args == {
        "train_data_loader": "dl", "network": "net", "optimizer": "opt", "loss_function": "mine",
        "inferer": "inf", "postprocessing": "post", "key_train_metric": "km",
        "additional_metrics": "am", "train_handlers": "hs", "iteration_update": "step",
    }  # fmt: skip


def test_a_trainer_runs_the_configured_epochs_unless_the_config_says(kit):
    ctx = kit.context(engines.SupervisedTrainer, variables={"epochs": "4"})
    assert kit.before("implicit.max_epochs", ctx) == {"max_epochs": 4}
    ctx = kit.context(engines.SupervisedTrainer, {"max_epochs": 2}, variables={"epochs": "4"})
    assert kit.before("implicit.max_epochs", ctx) == {"max_epochs": 2}
    assert kit.before("implicit.max_epochs", kit.context(engines.SupervisedTrainer)) == {}


def test_an_evaluator_gets_its_section_keys_and_no_training_ones(kit):
    keys = {"dataloader": "dl", "model": "net", "key_metric": "km", "optimizer": "opt"}
    ctx = kit.context(engines.SupervisedEvaluator, section=kit.Section(name="validate", **keys))
    args = kit.before("implicit.evaluator_args", ctx)
    assert args == {"val_data_loader": "dl", "network": "net", "key_val_metric": "km"}


def test_implicit_rules_ignore_other_components(kit):
    names = [r.name for r in kit.rules_of("implicit")]
    for target in (torch.nn.Linear, handlers.StatsHandler, torch.nn.functional.relu):
        assert not [name for name in names if kit.applies(name, kit.context(target))]
    assert not kit.applies("implicit.trainer_args", kit.context(engines.SupervisedEvaluator))
