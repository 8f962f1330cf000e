"""Clara 4.0 implicit wiring: the arguments a 4.0 config leaves to the engine.

Clara 4.1 writes `"network": "@model"`; Clara 4.0 writes nothing and the engine passes the
section's `model`, `optimizer`, `loss`, ... to whatever takes them. Every rule here fills only
what the config left out.
"""

from __future__ import annotations

from typing import Any

from clara_cli.engine.wiring.predicates import subclass_of
from clara_cli.engine.wiring.rules import BuildContext, Rule
from clara_cli.errors import ConfigError
from clara_cli.registry import shims

# Trainer / evaluator constructor argument → the section key it comes from.
TRAINER_ARGS = {
    "train_data_loader": "dataloader",
    "network": "model",
    "optimizer": "optimizer",
    "loss_function": "loss",
    "inferer": "inferer",
    "postprocessing": "post_transforms",
    "key_train_metric": "key_metric",
    "additional_metrics": "additional_metrics",
    "train_handlers": "handlers",
    "iteration_update": "iteration",
}
EVALUATOR_ARGS = {
    "val_data_loader": "dataloader",
    "network": "model",
    "inferer": "inferer",
    "postprocessing": "post_transforms",
    "key_val_metric": "key_metric",
    "additional_metrics": "additional_metrics",
    "val_handlers": "handlers",
}


def _optimizer_params(ctx: BuildContext) -> None:
    if "params" in ctx.args:
        return
    model = ctx.section.get_optional("model")
    if model is None:
        raise ConfigError(f"{ctx.where}: the optimizer has no 'params' and the section no model")
    ctx.args["params"] = model.parameters()


def _validation_handler(ctx: BuildContext) -> None:
    ctx.fill_from_key("validator", "evaluator")
    if "interval" not in ctx.args:
        ctx.args["interval"] = int(ctx.facts.variables.get("num_interval_per_valid", 1))


def _checkpoint_dicts_note(ctx: BuildContext) -> str | None:
    lists = [key for key in ("save_dict", "load_dict") if isinstance(ctx.args.get(key), list)]
    return "; ".join(f"{key} as a list of names is Clara 4.0; mapped to a dict" for key in lists)


def _checkpoint_dicts(ctx: BuildContext) -> None:
    for key in ("save_dict", "load_dict"):
        value = ctx.args.get(key)
        if isinstance(value, list):
            value = {name: ctx.section.get(name) for name in value}
            shims.warn_once(ctx.where, f"{key} as a list of names is Clara 4.0; mapped to a dict")
        if isinstance(value, dict):
            # Clara saved "@conf" (a plain dict) beside the model; ignite needs state_dict().
            ctx.args[key] = {
                k: PlainState(v) if isinstance(v, dict) else v for k, v in value.items()
            }


def _engine_args(mapping: dict[str, str]) -> Any:
    def fill(ctx: BuildContext) -> None:
        for arg, key in mapping.items():
            ctx.fill_from_key(arg, key)

    return fill


def _max_epochs(ctx: BuildContext) -> None:
    if "epochs" in ctx.facts.variables:
        ctx.fill("max_epochs", int(ctx.facts.variables["epochs"]))


class PlainState:
    """A plain dict (the training config) given the state_dict interface ignite checkpoints need."""

    def __init__(self, value: dict[str, Any]) -> None:
        self.value = value

    def state_dict(self) -> dict[str, Any]:
        return self.value

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.value.clear()
        self.value.update(state)


_SCHEDULERS = (
    "torch.optim.lr_scheduler.LRScheduler",
    "torch.optim.lr_scheduler.ReduceLROnPlateau",
)
_CHECKPOINT_HANDLERS = ("monai.handlers.CheckpointSaver", "monai.handlers.CheckpointLoader")

RULES = (
    Rule(
        "implicit.optimizer_params", subclass_of("torch.optim.Optimizer"), before=_optimizer_params
    ),
    Rule(
        "implicit.scheduler_optimizer",
        subclass_of(*_SCHEDULERS),
        before=lambda ctx: ctx.fill_from_key("optimizer", "optimizer"),
    ),
    Rule(
        "implicit.lr_schedule_handler",
        subclass_of("monai.handlers.LrScheduleHandler"),
        before=lambda ctx: ctx.fill_from_key("lr_scheduler", "lr_scheduler"),
    ),
    Rule(
        "implicit.validation_handler",
        subclass_of("monai.handlers.ValidationHandler"),
        before=_validation_handler,
    ),
    Rule(
        "implicit.checkpoint_dicts",
        subclass_of(*_CHECKPOINT_HANDLERS),
        before=_checkpoint_dicts,
        note=_checkpoint_dicts_note,
    ),
    Rule(
        "implicit.dataloader_dataset",
        subclass_of("torch.utils.data.DataLoader"),
        before=lambda ctx: ctx.fill_from_key("dataset", "dataset"),
    ),
    Rule(
        "implicit.trainer_args",
        subclass_of("monai.engines.Trainer"),
        before=_engine_args(TRAINER_ARGS),
    ),
    Rule("implicit.max_epochs", subclass_of("monai.engines.Trainer"), before=_max_epochs),
    Rule(
        "implicit.evaluator_args",
        subclass_of("monai.engines.Evaluator"),
        before=_engine_args(EVALUATOR_ARGS),
    ),
)
