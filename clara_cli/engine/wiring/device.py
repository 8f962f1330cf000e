"""Device placement: every engine, module and checkpoint on this rank's device.

Clara configs were written for a GPU (`"device": "cuda"`, checkpoints saved from `cuda:0`);
here the rank's device may be another GPU or the CPU.
"""

from __future__ import annotations

from clara_cli.engine.wiring.predicates import subclass_of
from clara_cli.engine.wiring.rules import BuildContext, Rule
from clara_cli.registry import shims


def _engine_device(ctx: BuildContext) -> None:
    # Not a fill: the run (launcher, --device) decides where engines compute, not the config.
    ctx.args["device"] = ctx.facts.device


def _asks_for_unavailable_cuda(ctx: BuildContext) -> bool:
    value = ctx.args.get("device")
    return isinstance(value, str) and value.startswith("cuda") and str(ctx.facts.device) == "cpu"


def _cuda_fallback(ctx: BuildContext) -> None:
    value = ctx.args["device"]
    ctx.args["device"] = ctx.facts.device
    name = getattr(ctx.target, "__name__", "component")
    shims.warn_once(ctx.where, f"{name}: device {value!r} is not available here; using cpu")


def _map_location(ctx: BuildContext) -> None:
    if "load_path" in ctx.args:
        ctx.fill("map_location", {"cuda:0": str(ctx.facts.device)})


_ENGINES = ("monai.engines.Trainer", "monai.engines.Evaluator")
_CHECKPOINT_HANDLERS = ("monai.handlers.CheckpointSaver", "monai.handlers.CheckpointLoader")

RULES = (
    Rule("device.engine_device", subclass_of(*_ENGINES), before=_engine_device),
    Rule("device.cuda_fallback", _asks_for_unavailable_cuda, before=_cuda_fallback),
    Rule("device.map_location", subclass_of(*_CHECKPOINT_HANDLERS), before=_map_location),
    Rule(
        "device.module_to_device",
        subclass_of("torch.nn.Module", exclude=("torch.nn.modules.loss._Loss",)),
        after=lambda ctx: ctx.obj.to(ctx.facts.device),
    ),
)
