"""How the `clara` logger prints, in the CLI process and in every worker process it starts.

Kept free of torch/MONAI imports: the CLI calls it before deciding whether to load them, and a
spawned worker calls it first thing, before importing the workflows.
"""

from __future__ import annotations

import logging
import sys
import warnings
from typing import Any


class _Format(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        if record.levelno >= logging.WARNING:
            return f"warning: {message}"
        return message


class _CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at each record, so redirections made after the first
    configure_logging call (click's CliRunner, pytest's capture) still get the messages."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def configure_logging(debug: bool = False) -> None:
    """Send the library's `clara` logger to stderr: info as is, warnings prefixed.

    Without `debug`, third-party deprecation chatter (MONAI/torch FutureWarnings about
    defaults our configs do not use) and ignite's own "run is terminating" lines are hidden:
    the user sees our one-line warnings and errors, not library internals. Safe to call more
    than once (one handler is installed).
    """
    logger = logging.getLogger("clara")
    if not any(getattr(h, "_clara", False) for h in logger.handlers):
        handler = _CurrentStderr()
        handler.setFormatter(_Format("%(message)s"))
        handler._clara = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if debug else logging.INFO)
    logger.propagate = False
    if not debug:
        for category in (FutureWarning, DeprecationWarning):
            warnings.filterwarnings("ignore", category=category)
        logging.getLogger("ignite").setLevel(logging.CRITICAL)
