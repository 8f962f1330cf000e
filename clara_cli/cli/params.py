"""Shared options, parameter types and error handling of the subcommands.

Only click is imported here: `clara --help` must not load torch, MONAI or SimpleITK.
"""

from __future__ import annotations

import functools
import json
import re
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from clara_cli.errors import ClaraError

F = TypeVar("F", bound=Callable[..., Any])


class ClaraCommand(click.Command):
    """A command that accepts Clara's `--set a=1 b=true` form as well as repeated `--set`.

    Clara's `medl.apps.*` took every K=V token after `--set`; click takes one value per
    option, so the tokens are rewritten to `--set a=1 --set b=true` before parsing.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, expand_set_tokens(args))


def expand_set_tokens(args: list[str]) -> list[str]:
    """Rewrite `--set a=1 b=2` into `--set a=1 --set b=2`; other tokens are kept."""
    out: list[str] = []
    expecting_value = False  # the token right after `--set` is its value
    in_set_run = False  # later K=V tokens continue the run until an option appears
    for token in args:
        if expecting_value:
            out.append(token)
            expecting_value, in_set_run = False, True
        elif token == "--set":
            out.append(token)
            expecting_value = True
        elif token.startswith("--set="):
            out.append(token)
            in_set_run = True
        elif in_set_run and "=" in token and not token.startswith("-"):
            out.extend(["--set", token])
        else:
            in_set_run = False
            out.append(token)
    return out


_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def join_number_tokens(args: list[str], flags: tuple[str, ...]) -> list[str]:
    """Rewrite `-r 1 1 3` into `-r 1,1,3` for each flag in `flags`; other tokens are kept.

    click gives an option a fixed number of values; options like tlt-dataconvert's `-r` take
    one or three, so the numbers following the flag are joined into one token before parsing.
    """
    out: list[str] = []
    index = 0
    while index < len(args):
        token = args[index]
        out.append(token)
        index += 1
        if token in flags:
            numbers = []
            while index < len(args) and _NUMBER.match(args[index]):
                numbers.append(args[index])
                index += 1
            if numbers:
                out.append(",".join(numbers))
    return out


def numbers_command(*flags: str) -> type[click.Command]:
    """A click.Command class whose `flags` accept several numbers (`--pixdim 1 1 3`)."""

    class NumbersCommand(click.Command):
        def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
            return super().parse_args(ctx, join_number_tokens(args, flags))

    return NumbersCommand


def parse_set_value(text: str) -> Any:
    """Type a `--set` value as JSON when it parses (also Python's True/False/None), else string."""
    python_words = {"True": True, "False": False, "None": None}
    if text in python_words:
        return python_words[text]
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_overrides(pairs: tuple[str, ...]) -> dict[str, Any]:
    """Turn `("a=1", "b=x")` into `{"a": 1, "b": "x"}`; a token without `=` is a usage error."""
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, not {pair!r}", param_hint="'--set'")
        overrides[key.strip()] = parse_set_value(value)
    return overrides


class MmarDir(click.ParamType):
    """An MMAR root: a directory holding `config/`."""

    name = "MMAR_ROOT"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        path = Path(value).expanduser()
        if not path.is_dir():
            self.fail(f"directory {str(path)!r} does not exist.", param, ctx)
        if not (path / "config").is_dir():
            self.fail(
                f"{str(path)!r} is not an MMAR: it has no config/ folder "
                "(an MMAR holds config/environment.json and config/config_*.json).",
                param,
                ctx,
            )
        return path.resolve()


def _mmar_or_current_folder(ctx: click.Context, param: click.Parameter, value: Any) -> Path:
    if value is not None:
        return value  # type: ignore[no-any-return]
    cwd = Path.cwd()
    if (cwd / "config").is_dir():
        return cwd
    raise click.MissingParameter(
        "pass -m MMAR_ROOT, or run from an MMAR folder (the current folder has no config/)",
        ctx=ctx,
        param=param,
    )


def mmar_options(default_config: str) -> Callable[[F], F]:
    """The options every MMAR command shares: -m, -c, -e, --set, --debug."""

    def decorate(fn: F) -> F:
        fn = click.option("--debug", is_flag=True, help="Show the full traceback of an error.")(fn)
        fn = click.option(
            "--set",
            "overrides",
            multiple=True,
            metavar="KEY=VALUE",
            help="Override a variable (JSON-typed: 1e-4, true, [1,2]). "
            "Clara's form `--set a=1 b=2` and repeated `--set` both work.",
        )(fn)
        fn = click.option(
            "-e",
            "--env",
            "env_path",
            default="config/environment.json",
            show_default=True,
            help="environment.json, relative to MMAR_ROOT unless absolute.",
        )(fn)
        fn = click.option(
            "-c",
            "--config",
            "config_path",
            default=default_config,
            show_default=True,
            help="Workflow config, relative to MMAR_ROOT unless absolute.",
        )(fn)
        fn = click.option(
            "-m",
            "--mmar",
            "mmar_root",
            type=MmarDir(),
            default=None,
            callback=_mmar_or_current_folder,
            help="MMAR root folder (defaults to the current folder when it holds config/).",
        )(fn)
        return fn

    return decorate


def device_option(fn: F) -> F:
    """`--device auto|cpu|cuda`."""
    return click.option(
        "--device",
        type=click.Choice(["auto", "cpu", "cuda"]),
        default="auto",
        show_default=True,
        help="Where to compute; auto uses CUDA when a GPU is visible.",
    )(fn)


def reports_errors(fn: F) -> F:
    """Run a command body, turning library errors into `Error: ...` and exit code 1.

    A traceback is shown only with `--debug` (on the command or the group). Progress bars
    left open by the error are closed first, so the message starts on a line of its own.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        debug = bool(kwargs.get("debug")) or bool((ctx.find_root().obj or {}).get("debug"))
        try:
            return fn(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            _close_progress_bars()
            raise
        except KeyboardInterrupt:
            _close_progress_bars()
            click.echo("Interrupted.", err=True)
            sys.exit(130)
        except ClaraError as err:
            _close_progress_bars()
            if debug:
                traceback.print_exc()
            raise click.ClickException(str(err)) from None
        except Exception as err:  # noqa: BLE001 - the last line of defence for the user
            _close_progress_bars()
            if debug:
                traceback.print_exc()
                raise click.ClickException(describe_exception(err)) from None
            raise click.ClickException(
                f"{describe_exception(err)}\n  (run again with --debug for the traceback)"
            ) from None

    return wrapper  # type: ignore[return-value]


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
    message = f"{type(current).__name__}: {current}"
    if steps:
        message = f"{message}\n  while applying transform {steps[-1]}"
    return message


def configure_logging(debug: bool = False) -> None:
    """Send the library's `clara` logger to stderr (see `clara_cli.engine.logs`)."""
    from clara_cli.engine.logs import configure_logging as configure

    configure(debug)


def launch_options(fn: F) -> F:
    """Options that start several worker processes: --gpus/--nproc and the multi-node set.

    The command receives them as keyword arguments named like the options (`gpus`, `nproc`,
    `nnodes`, `node_rank`, `master_addr`, `master_port`, `rdzv_endpoint`).
    """
    options = [
        click.option(
            "--gpus",
            type=click.IntRange(min=1),
            default=None,
            metavar="N",
            help="Start N worker processes, one per GPU (NCCL, DistributedDataParallel). "
            "With --device cpu: N CPU processes on gloo.",
        ),
        click.option(
            "--nproc",
            type=click.IntRange(min=1),
            default=None,
            metavar="N",
            help="Start N worker processes on --device (same as --gpus N on CUDA; on CPU the "
            "way to test the multi-process path).",
        ),
        click.option(
            "--nnodes",
            type=click.IntRange(min=1),
            default=1,
            metavar="N",
            show_default=True,
            help="Machines in the job; start the same command on each.",
        ),
        click.option(
            "--node-rank",
            type=click.IntRange(min=0),
            default=0,
            metavar="R",
            show_default=True,
            help="This machine's index, 0..nnodes-1 (with --master-addr/--master-port).",
        ),
        click.option(
            "--master-addr",
            default=None,
            metavar="ADDR",
            help="Address of node 0 (default 127.0.0.1; under SLURM the launch node).",
        ),
        click.option(
            "--master-port",
            type=click.IntRange(1, 65535),
            default=None,
            metavar="PORT",
            help="Port on node 0, the same on every node (default: a free port, one node only).",
        ),
        click.option(
            "--rdzv-endpoint",
            default=None,
            metavar="HOST:PORT",
            help="Meet at this c10d rendezvous instead (nodes need no --node-rank).",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn
