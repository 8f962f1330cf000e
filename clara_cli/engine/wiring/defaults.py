"""Defaults for arguments today's MONAI requires and Clara's configs never wrote, and Clara's
own defaults where MONAI's differ (checkpoint file names).

MONAI 0.x metric and stats handlers read `engine.state.output` as one dict; MONAI 1.x engines
produce a list of per-item dicts, so the handlers need an `output_transform` that picks the
keys out of it.
"""

from __future__ import annotations

from clara_cli.engine.wiring.predicates import all_of, in_section, subclass_of
from clara_cli.engine.wiring.rules import BuildContext, Rule


def _metric_output(ctx: BuildContext) -> None:
    if "output_transform" not in ctx.args:
        from monai.handlers import from_engine

        ctx.args["output_transform"] = from_engine(["pred", "label"])


def _loss_output(ctx: BuildContext) -> None:
    if "output_transform" not in ctx.args:
        from monai.handlers import from_engine

        ctx.args["output_transform"] = from_engine(["loss"], first=True)


#: Clara's names for the checkpoints a CheckpointSaver writes when the config names none
#: (MONAI's are `checkpoint_key_metric=0.2195.pt` and `checkpoint_final_iteration=N.pt`):
#: archives' environment.json (`MMAR_CKPT: models/model.pt`) and scripts read these.
CLARA_CHECKPOINT_NAMES = {
    "key_metric_filename": ("save_key_metric", "model.pt"),
    "final_filename": ("save_final", "final_model.pt"),
}


def _clara_checkpoint_names(ctx: BuildContext) -> None:
    for name_arg, (switch, clara_name) in CLARA_CHECKPOINT_NAMES.items():
        if ctx.args.get(switch) and not ctx.args.get(name_arg) and name_arg in ctx.params:
            ctx.args[name_arg] = clara_name


_STATS_HANDLERS = ("monai.handlers.StatsHandler", "monai.handlers.TensorBoardStatsHandler")

RULES = (
    Rule(
        "defaults.clara_checkpoint_names",
        subclass_of("monai.handlers.CheckpointSaver"),
        before=_clara_checkpoint_names,
    ),
    Rule(
        "defaults.metric_output_transform",
        subclass_of("monai.handlers.IgniteMetricHandler"),
        before=_metric_output,
    ),
    Rule(
        "defaults.train_stats_output_transform",
        all_of(in_section("train"), subclass_of(*_STATS_HANDLERS)),
        before=_loss_output,
    ),
)
