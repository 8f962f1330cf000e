"""How the `clara` group reports failures: one `Error:` line, the right exit code, no
traceback unless --debug.

Every subcommand runs inside :class:`ClaraGroup`, so a command needs no decorator to get
this: a :class:`~clara_cli.errors.ClaraError` (bad config, data, checkpoint) becomes
`Error: ...` and exit 1 (exit 2 for a wrong `--set`); any other exception is described by its root cause and exits 1;
Ctrl-C exits 130; click's own usage errors keep exit 2.
"""

from __future__ import annotations

import re
import sys
import traceback
from typing import Any

import click

from clara_cli.cli.options import debug_enabled
from clara_cli.cli.streams import make_text_streams_utf8
from clara_cli.errors import (
    ClaraError,
    OverrideError,
    clara_error_in,
    interrupted,
    user_message,
)


class _UsageValueError(click.ClickException):
    """A wrong command-line value (`--set`): exit 2, like click's usage errors."""

    exit_code = 2


class ClaraGroup(click.Group):
    """A click group that turns library errors into click errors in one place."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        make_text_streams_utf8()
        try:
            return super().main(*args, **kwargs)
        finally:
            _wait_for_pool_workers()

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            _close_progress_bars()
            raise
        except KeyboardInterrupt as err:
            _close_progress_bars()
            click.echo(str(err) or "Interrupted.", err=True)
            sys.exit(130)
        except OverrideError as err:
            raise _UsageValueError(str(err)) from None
        except ClaraError as err:
            _close_progress_bars()
            if debug_enabled(ctx):
                traceback.print_exc()
            raise click.ClickException(user_message(err)) from None
        except Exception as err:  # noqa: BLE001 - the last line of defence for the user
            _close_progress_bars()
            if interrupted(err):  # a Ctrl-C that a library re-raised as its own error
                if debug_enabled(ctx):
                    traceback.print_exc()
                click.echo("Interrupted.", err=True)
                sys.exit(130)
            cause = clara_error_in(err)
            if cause is not None and not debug_enabled(ctx):
                # A library error raised inside MONAI/ignite (a transform run by a loader).
                raise click.ClickException(user_message(cause)) from None
            if debug_enabled(ctx):
                traceback.print_exc()
                raise click.ClickException(describe_exception(err)) from None
            raise click.ClickException(
                f"{describe_exception(err)}\n  (run again with --debug for the traceback)"
            ) from None


def _wait_for_pool_workers(timeout: float = 30.0) -> None:
    """Let thread-pool workers finish the item they are on before the interpreter exits.

    When one item of a CacheDataset fails, MONAI leaves its ThreadPool with the other workers
    still inside a torch or ITK call; they are daemon threads, and the interpreter tearing
    down under them aborts the process ("terminate called without an active exception",
    exit 134 instead of 1). The pool is already terminated, so each ends after its item.
    """
    import threading
    import time

    deadline = time.monotonic() + timeout
    for thread in threading.enumerate():
        target = getattr(thread, "_target", None)
        if thread is threading.current_thread() or not thread.daemon:
            continue
        if getattr(target, "__module__", "") == "multiprocessing.pool":
            thread.join(max(0.0, deadline - time.monotonic()))


def _close_progress_bars() -> None:
    tqdm_module = sys.modules.get("tqdm")
    if tqdm_module is None:  # nothing imported tqdm, so no bar can be open
        return
    for bar in list(getattr(tqdm_module.tqdm, "_instances", ())):
        bar.close()


_TRANSFORM_WRAPPER = re.compile(r"^applying transform <([\w.]+) object at 0x[0-9a-f]+>$")


def describe_exception(err: BaseException) -> str:
    """The root cause of an unexpected error, with the pipeline step it happened in.

    MONAI wraps a failing transform's error as `RuntimeError("applying transform <...Spacingd
    object at 0x...>")` (once per Compose level), and ignite re-raises from inside the engine;
    the user needs the innermost error and the transform's name, not the wrapper's repr.
    """
    steps: list[str] = []
    seen: set[int] = set()
    current: BaseException = err
    while id(current) not in seen:
        seen.add(id(current))
        match = _TRANSFORM_WRAPPER.match(str(current))
        if match:
            steps.append(match.group(1).rsplit(".", 1)[-1])
        cause = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
        if cause is None:
            break
        current = cause
    worker = _worker_failure(str(current))
    if worker is not None:
        root, worker_steps = worker
        message, steps = root, steps + worker_steps[::-1]
    else:
        message = f"{type(current).__name__}: {current}"
    if steps:
        message = f"{message}\n  while applying transform {steps[-1]}"
    return message


_WORKER_HEADER = "Original Traceback (most recent call last):"


def _worker_failure(text: str) -> tuple[str, list[str]] | None:
    """(root error line, transforms it failed in) of an error a DataLoader worker raised.

    torch re-raises it in the main process with the worker's whole traceback as the message;
    its unindented lines are the chain of exceptions, innermost first.
    """
    if _WORKER_HEADER not in text:
        return None
    body = text.split(_WORKER_HEADER, 1)[1]
    errors = [
        line
        for line in body.splitlines()
        if line.strip()
        and not line.startswith((" ", "\t", "Traceback ", "The above exception", "During handling"))
    ]
    if not errors:
        return None
    steps = [
        m.group(1).rsplit(".", 1)[-1]
        for e in errors
        if (m := _TRANSFORM_WRAPPER.match(e.split(": ", 1)[-1]))
    ]
    return errors[0], steps


def configure_logging(debug: bool = False) -> None:
    """Send the library's `clara` logger to stderr (see `clara_cli.logs`)."""
    from clara_cli.logs import configure_logging as configure

    configure(debug)
