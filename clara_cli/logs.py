"""How the `clara` logger prints, in the CLI process and in every worker process it starts.

Kept free of torch/MONAI imports: the CLI calls it before deciding whether to load them, and a
spawned worker calls it first thing, before importing the workflows.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: Set by `--no-progress` / `-q` for the command's duration; spawned workers inherit them.
NO_PROGRESS_ENV = "CLARA_NO_PROGRESS"
QUIET_ENV = "CLARA_QUIET"
#: Set by `-v/--verbose`: the `clara` logger at DEBUG (MONAI StatsHandler lines included).
VERBOSE_ENV = "CLARA_VERBOSE"


def progress_bars_enabled() -> bool:
    """Whether to draw progress bars: stderr is a terminal, and neither `--no-progress`,
    `-q` nor tqdm's own TQDM_DISABLE asks otherwise.

    Piped or redirected (batch jobs, SLURM) a bar leaves `\r` frames, not lines: clara logs
    one line per epoch instead (clara_cli.engine.epoch_log).
    """
    if os.environ.get(NO_PROGRESS_ENV) or os.environ.get(QUIET_ENV):
        return False
    if os.environ.get("TQDM_DISABLE", "").lower() not in ("", "0", "false"):
        return False
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


@contextmanager
def output_mode(
    *, quiet: bool = False, progress: bool = True, verbose: bool = False
) -> Iterator[None]:
    """`-q`/`-v`/`--no-progress` for one command (this process and the workers it starts)."""
    saved = {name: os.environ.get(name) for name in (QUIET_ENV, NO_PROGRESS_ENV, VERBOSE_ENV)}
    if quiet:
        os.environ[QUIET_ENV] = "1"
    if verbose:
        os.environ[VERBOSE_ENV] = "1"
    if not progress:
        os.environ[NO_PROGRESS_ENV] = "1"
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


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
    """Send the library's `clara` logger to stderr: info as is, warnings prefixed (with `-q`,
    warnings and errors only; with `-v` or `debug`, debug lines too).

    Without `debug`, third-party deprecation chatter (MONAI/torch FutureWarnings and
    DeprecationWarnings) goes to the `clara` logger at debug level (shown with `-v`) and
    ignite's own "run is terminating" lines are hidden: the user sees our one-line warnings
    and errors, not library internals. Safe to call more
    than once (one handler is installed).
    """
    logger = logging.getLogger("clara")
    if not any(getattr(h, "_clara", False) for h in logger.handlers):
        handler = _CurrentStderr()
        handler.setFormatter(_Format("%(message)s"))
        handler._clara = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    quiet = bool(os.environ.get(QUIET_ENV))
    verbose = debug or bool(os.environ.get(VERBOSE_ENV))
    logger.setLevel(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)
    logger.propagate = False
    if not debug:
        _deprecations_to_debug_log()
        logging.getLogger("ignite").setLevel(logging.CRITICAL)


def _deprecations_to_debug_log() -> None:
    """Show FutureWarning/DeprecationWarning as debug lines of the `clara` logger; every other
    warning as Python shows it."""
    shown = warnings.showwarning
    if getattr(shown, "_clara", False):
        return

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: Any = None,
        line: str | None = None,
    ) -> None:
        if issubclass(category, (FutureWarning, DeprecationWarning)):
            logging.getLogger("clara").debug(
                "%s: %s (%s:%s)", category.__name__, message, filename, lineno
            )
        else:
            shown(message, category, filename, lineno, file, line)

    show._clara = True  # type: ignore[attr-defined]
    warnings.showwarning = show


def tracebacks_wanted() -> bool:
    """`--debug` (not `-v` alone): library tracebacks may be logged."""
    return logging.getLogger("clara").isEnabledFor(logging.DEBUG) and not (
        os.environ.get(VERBOSE_ENV)
    )
