"""What loading the DeepGrow family registers: the handler Clara 4.0 DeepGrow configs name and
the wiring that gives their evaluators the click loop.

Only light imports here: families are loaded when the CLI lists `clara synth` commands.
"""

from __future__ import annotations

#: The wiring rule's name (``clara train --debug`` logs it where it applies).
EVALUATOR_ITERATION_RULE = "deepgrow.evaluator_iteration"


def register() -> None:
    """Register `DeepgrowStatsHandler` and the evaluator `iteration` rule.

    Clara 4.0 DeepGrow configs name `deepgrow.handler.DeepgrowStatsHandler` (Clara-internal);
    clara_cli.registry.shims maps that path to this registry entry. Their validate section
    has an `iteration` (the click Interaction) that Clara handed to the evaluator implicitly,
    as it does for the trainer; without it the evaluator would score the initial seed alone.
    """
    from clara_cli.engine.wiring import Rule, register_rule, registered_rules, subclass_of
    from clara_cli.families.deepgrow.stats_handler import DeepgrowStatsHandler
    from clara_cli.registry.builtin import registry

    registry("handler").register("DeepgrowStatsHandler", DeepgrowStatsHandler)
    if EVALUATOR_ITERATION_RULE not in registered_rules().names():
        register_rule(
            Rule(
                EVALUATOR_ITERATION_RULE,
                subclass_of("monai.engines.Evaluator"),
                before=lambda ctx: ctx.fill_from_key("iteration_update", "iteration"),
            ),
            after="implicit.evaluator_args",
        )
