"""What loading the DeepGrow family registers: its two workflows and its handler.

Only light imports here: families are loaded when the CLI lists `clara synth` commands.
"""

from __future__ import annotations


def register() -> None:
    """Register `deepgrow_infer`, `deepgrow_validate` and the `DeepgrowStatsHandler` handler."""
    from clara_cli.families.deepgrow.stats_handler import DeepgrowStatsHandler
    from clara_cli.registry.builtin import registry
    from clara_cli.workflows.base import register_workflow

    register_workflow("clara_cli.families.deepgrow.infer:WORKFLOW", "deepgrow_infer")
    register_workflow("clara_cli.families.deepgrow.validate:WORKFLOW", "deepgrow_validate")
    # Clara 4.0 DeepGrow configs name `deepgrow.handler.DeepgrowStatsHandler` (Clara-internal);
    # clara_cli.registry.shims maps that path to this registry entry.
    registry("handler").register("DeepgrowStatsHandler", DeepgrowStatsHandler)
