"""Engine hooks applied while a config section is built.

Clara 4.1 configs wire components explicitly (`"network": "@model"`); Clara 4.0 configs leave
it to the engine. `Wiring.before_build` fills every standard argument a config omitted, puts
components on this rank's device, loads datalists (this rank's shard only), and replaces
MONAI 0.x conventions that would fail today. Explicit arguments always win.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

from clara_cli.errors import ConfigError, DataError
from clara_cli.registry import shims

log = logging.getLogger("clara")

# Trainer / evaluator constructor argument → section key it comes from.
_TRAINER_ARGS = {
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
_EVALUATOR_ARGS = {
    "val_data_loader": "dataloader",
    "network": "model",
    "inferer": "inferer",
    "postprocessing": "post_transforms",
    "key_val_metric": "key_metric",
    "additional_metrics": "additional_metrics",
    "val_handlers": "handlers",
}


class Wiring:
    """The hooks one workflow run gives its config sections.

    Args:
        variables: the run's merged variables (`epochs`, `amp`, `num_interval_per_valid`...).
        device: the torch device of this rank.
        rank, world_size: this process's place in the job.
        amp_enabled: whether the engines run MONAI's (CUDA) AMP.
        prepare_network: wraps the network a trainer or evaluator runs (DDP, CPU autocast).
    """

    def __init__(
        self,
        variables: dict[str, Any],
        device: Any,
        rank: int = 0,
        world_size: int = 1,
        amp_enabled: bool = False,
        prepare_network: Callable[[Any, bool], Any] | None = None,
    ) -> None:
        self.variables = variables
        self.device = device
        self.rank = rank
        self.world_size = world_size
        self.amp_enabled = amp_enabled
        self.prepare_network = prepare_network or (lambda net, training: net)

    def hooks(self) -> dict[str, Callable[..., Any]]:
        """The hooks for `Runtime.hooks`."""
        return {"before_build": self.before_build, "after_build": self.after_build}

    # ------------------------------------------------------------------ before
    def before_build(
        self, section: Any, target: Any, spec: dict[str, Any], args: dict[str, Any], where: str
    ) -> dict[str, Any]:
        import torch
        from monai import engines, handlers

        params = _parameter_names(target)
        fill = _Filler(section, params, args)
        is_class = inspect.isclass(target)

        if is_class and issubclass(target, torch.optim.Optimizer) and "params" not in args:
            model = section.get_optional("model")
            if model is None:
                raise ConfigError(
                    f"{where}: the optimizer has no 'params' and the section no model"
                )
            args["params"] = model.parameters()
        if is_class and _is_scheduler(target):
            fill.from_key("optimizer", "optimizer")
        if is_class and issubclass(target, handlers.LrScheduleHandler):
            fill.from_key("lr_scheduler", "lr_scheduler")
        if is_class and issubclass(target, handlers.ValidationHandler):
            fill.from_key("validator", "evaluator")
            if "interval" not in args:
                args["interval"] = int(self.variables.get("num_interval_per_valid", 1))
        if is_class and issubclass(target, (handlers.CheckpointSaver, handlers.CheckpointLoader)):
            for key in ("save_dict", "load_dict"):
                if isinstance(args.get(key), list):
                    args[key] = {name: section.get(name) for name in args[key]}
                    shims.warn_once(
                        where, f"{key} as a list of names is Clara 4.0; mapped to a dict"
                    )
                if isinstance(args.get(key), dict):
                    # Clara saved "@conf" (a plain dict) beside the model; ignite needs state_dict().
                    args[key] = {
                        k: PlainState(v) if isinstance(v, dict) else v for k, v in args[key].items()
                    }
            if "map_location" in params and "map_location" not in args and "load_path" in args:
                args["map_location"] = {"cuda:0": str(self.device)}
        if (
            is_class
            and issubclass(target, handlers.IgniteMetricHandler)
            and "output_transform" not in args
        ):
            from monai.handlers import from_engine

            args["output_transform"] = from_engine(["pred", "label"])
        if (
            is_class
            and section.name == "train"
            and issubclass(target, (handlers.StatsHandler, handlers.TensorBoardStatsHandler))
            and "output_transform" not in args
        ):
            from monai.handlers import from_engine

            args["output_transform"] = from_engine(["loss"], first=True)
        if is_class and issubclass(target, torch.utils.data.DataLoader):
            fill.from_key("dataset", "dataset")
        if (
            is_class
            and issubclass(target, torch.utils.data.Dataset)
            and "data_list_file_path" in spec
        ):
            args["data"] = self._load_datalist(spec, where, even=section.name == "train")
            fill.from_key("transform", "pre_transforms")
        if is_class and issubclass(target, engines.Trainer):
            self._fill_engine(fill, args, _TRAINER_ARGS, training=True)
            if "max_epochs" in params and "max_epochs" not in args and "epochs" in self.variables:
                args["max_epochs"] = int(self.variables["epochs"])
        elif is_class and issubclass(target, engines.Evaluator):
            self._fill_engine(fill, args, _EVALUATOR_ARGS, training=False)
        self._fix_device(args, params, target, where)
        self._adapt_legacy_lambdas(target, spec, args, where)
        return args

    def _adapt_legacy_lambdas(
        self, target: Any, spec: dict[str, Any], args: dict[str, Any], where: str
    ) -> None:
        # Only lambdas written in the config: from_engine(...) and our own defaults already
        # handle lists of per-item dicts.
        written = (spec.get("args") or {}).get("output_transform")
        if not (isinstance(written, str) and written.lstrip().startswith("lambda")):
            return
        import ignite.metrics
        from monai import handlers

        stack = (
            inspect.isclass(target)
            and issubclass(target, ignite.metrics.Metric)
            and not issubclass(target, handlers.IgniteMetricHandler)
        )
        args["output_transform"] = shims.PerItemTransform(args["output_transform"], stack)

    def _fill_engine(
        self, fill: _Filler, args: dict[str, Any], mapping: dict[str, str], training: bool
    ) -> None:
        for arg, key in mapping.items():
            fill.from_key(arg, key)
        args["device"] = self.device
        if "amp" in fill.params:
            args["amp"] = self.amp_enabled
        if "network" in args and args["network"] is not None:
            args["network"] = self.prepare_network(args["network"], training)

    def _fix_device(self, args: dict[str, Any], params: set[str], target: Any, where: str) -> None:
        value = args.get("device")
        if isinstance(value, str) and value.startswith("cuda") and str(self.device) == "cpu":
            args["device"] = self.device
            name = getattr(target, "__name__", "component")
            shims.warn_once(where, f"{name}: device {value!r} is not available here; using cpu")

    def _load_datalist(self, spec: dict[str, Any], where: str, even: bool) -> list[dict[str, Any]]:
        from clara_cli.io.datalist import load_datalist, shard

        path = spec["data_list_file_path"]
        base = spec.get("data_file_base_dir") or self.variables.get("DATA_ROOT", "")
        key = spec.get("data_list_key", "training")
        try:
            items = load_datalist(path, key, base)
        except DataError as err:
            raise DataError(f"{where}: {err}") from None
        if not even and len(items) < self.world_size:
            raise DataError(
                f"{where}: the {key!r} list has {len(items)} item(s), fewer than the "
                f"{self.world_size} processes: every process needs one to evaluate\n"
                f"  run with at most {len(items)} process(es)"
            )
        return shard(items, self.rank, self.world_size, even=even)

    # ------------------------------------------------------------------- after
    def after_build(self, section: Any, obj: Any, spec: dict[str, Any], where: str) -> Any:
        import torch
        from monai import engines, handlers

        from clara_cli.engine.checkpoint import make_checkpoint_saver_atomic

        if isinstance(obj, torch.nn.Module) and not isinstance(obj, torch.nn.modules.loss._Loss):
            obj = obj.to(self.device)
        if isinstance(obj, engines.SupervisedTrainer):
            self._prepare_trainer(obj)
        if isinstance(obj, handlers.CheckpointSaver):
            # MONAI writes in place: a kill mid-write would leave a truncated model.pt.
            make_checkpoint_saver_atomic(obj)
        return obj

    def _prepare_trainer(self, trainer: Any) -> None:
        import torch

        from clara_cli.engine.precision import AutocastForward, NonFiniteGradientFallback

        if trainer.amp and trainer.scaler is not None:
            # MONAI still builds the deprecated torch.cuda.amp.GradScaler; use torch.amp's.
            trainer.scaler = torch.amp.GradScaler("cuda")
        if isinstance(trainer.network, AutocastForward):
            NonFiniteGradientFallback(trainer.network).attach(trainer)


class PlainState:
    """A plain dict (the training config) given the state_dict interface ignite checkpoints need."""

    def __init__(self, value: dict[str, Any]) -> None:
        self.value = value

    def state_dict(self) -> dict[str, Any]:
        return self.value

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.value.clear()
        self.value.update(state)


class _Filler:
    """Fills constructor arguments from section keys, only where the config left them out."""

    def __init__(self, section: Any, params: set[str], args: dict[str, Any]) -> None:
        self.section = section
        self.params = params
        self.args = args

    def from_key(self, arg: str, key: str) -> None:
        if arg in self.params and arg not in self.args:
            value = self.section.get_optional(key)
            if value is not None:
                self.args[arg] = value


def _parameter_names(target: Any) -> set[str]:
    try:
        return set(inspect.signature(target).parameters)
    except (TypeError, ValueError):
        return set()


def _is_scheduler(target: type) -> bool:
    import torch

    bases = (torch.optim.lr_scheduler.LRScheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    return issubclass(target, bases)
