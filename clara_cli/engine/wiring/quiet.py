"""No MONAI traceback without `--debug`: the CLI prints the one-line error.

MONAI's `StatsHandler` logs every exception an engine raises, traceback included, through its
own stdout logger before re-raising it. Unless `--debug` was given, the handler only re-raises.

Its other lines (the loss of every iteration, the metrics of every epoch) go through the
`clara.stats` logger at debug level instead of MONAI's own stdout logger: `-v/--verbose`
shows them, with clara's other lines and on stderr like them; without it the per-epoch line
of clara_cli.engine.epoch_log says the same once per epoch.
"""

from __future__ import annotations

import logging
from typing import Any

from clara_cli.engine.wiring.predicates import subclass_of
from clara_cli.engine.wiring.rules import BuildContext, Rule


def _reraise(_engine: Any, error: BaseException) -> None:
    raise error


class _DebugLines:
    """A StatsHandler's logger: its info lines become debug lines of `clara.stats`."""

    name = "clara.stats"

    def __init__(self) -> None:
        self._log = logging.getLogger("clara.stats")

    def info(self, message: Any, *args: Any, **kwargs: Any) -> None:
        self._log.debug(message, *args, **kwargs)

    def getEffectiveLevel(self) -> int:  # noqa: N802 (logging's name)
        # StatsHandler.attach warns when its logger is above INFO; this one always prints
        # what -v asks for.
        return logging.INFO

    def __getattr__(self, name: str) -> Any:
        return getattr(self._log, name)


def _quiet_exceptions(ctx: BuildContext) -> Any:
    from clara_cli.logs import tracebacks_wanted

    if not tracebacks_wanted():
        # attach() registers `self.exception_raised`; the instance attribute is what it finds.
        ctx.obj.exception_raised = _reraise
    # A name keeps attach() from switching to the engine's logger.
    ctx.obj.name = _DebugLines.name
    ctx.obj.logger = _DebugLines()
    return ctx.obj


RULES = (
    Rule(
        "quiet.stats_handler_exceptions",
        subclass_of("monai.handlers.StatsHandler"),
        after=_quiet_exceptions,
    ),
)
