"""Defaults for arguments today's MONAI requires and Clara's configs never wrote.

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


_STATS_HANDLERS = ("monai.handlers.StatsHandler", "monai.handlers.TensorBoardStatsHandler")

RULES = (
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
