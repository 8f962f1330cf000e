"""No MONAI traceback without `--debug`: the CLI prints the one-line error.

MONAI's `StatsHandler` logs every exception an engine raises, traceback included, through its
own stdout logger before re-raising it. Unless the `clara` logger is at debug level, the
handler only re-raises.
"""

from __future__ import annotations

import logging
from typing import Any

from clara_cli.engine.wiring.predicates import subclass_of
from clara_cli.engine.wiring.rules import BuildContext, Rule


def _reraise(_engine: Any, error: BaseException) -> None:
    raise error


def _quiet_exceptions(ctx: BuildContext) -> Any:
    if not logging.getLogger("clara").isEnabledFor(logging.DEBUG):
        # attach() registers `self.exception_raised`; the instance attribute is what it finds.
        ctx.obj.exception_raised = _reraise
    return ctx.obj


RULES = (
    Rule(
        "quiet.stats_handler_exceptions",
        subclass_of("monai.handlers.StatsHandler"),
        after=_quiet_exceptions,
    ),
)
