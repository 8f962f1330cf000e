"""Options and parameter types shared by the subcommands: -m/-c/-e/--set, --device, the
process-layout options, and --debug.

Only click is imported here: `clara --help` must not load torch, MONAI or SimpleITK.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

#: Where --debug is remembered for the group's error handler (shared by nested contexts).
DEBUG_KEY = "clara.debug"


def _remember_debug(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.meta[DEBUG_KEY] = True
    return value


def debug_option(fn: F) -> F:
    """`--debug`: full tracebacks on errors (also accepted before the subcommand)."""
    return click.option(
        "--debug",
        is_flag=True,
        callback=_remember_debug,
        help="Show the full traceback of an error.",
    )(fn)


def debug_enabled(ctx: click.Context | None = None) -> bool:
    """Whether --debug was given to the group or the command."""
    ctx = ctx or click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.meta.get(DEBUG_KEY))


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


def mmar_option(fn: F) -> F:
    """`-m/--mmar MMAR_ROOT`, the current folder when omitted and it holds config/."""
    return click.option(
        "-m",
        "--mmar",
        "mmar_root",
        type=MmarDir(),
        default=None,
        callback=_mmar_or_current_folder,
        help="MMAR root folder (defaults to the current folder when it holds config/).",
    )(fn)


def env_option(fn: F) -> F:
    """`-e/--env`: the archive's environment.json."""
    return click.option(
        "-e",
        "--env",
        "env_path",
        default="config/environment.json",
        show_default=True,
        help="environment.json, relative to MMAR_ROOT unless absolute.",
    )(fn)


def mmar_options(default_config: str) -> Callable[[F], F]:
    """The options every MMAR command shares: -m, -c, -e, --set, --debug."""

    def decorate(fn: F) -> F:
        fn = debug_option(fn)
        fn = click.option(
            "--set",
            "overrides",
            multiple=True,
            metavar="KEY=VALUE",
            help="Override a variable (JSON-typed: 1e-4, true, [1,2]). "
            "Clara's form `--set a=1 b=2` and repeated `--set` both work.",
        )(fn)
        fn = env_option(fn)
        fn = click.option(
            "-c",
            "--config",
            "config_path",
            default=default_config,
            show_default=True,
            help="Workflow config, relative to MMAR_ROOT unless absolute.",
        )(fn)
        return mmar_option(fn)

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


def launch_options(fn: F) -> F:
    """Options that start several worker processes: --gpus/--nproc and the multi-node set.

    The command receives them as keyword arguments named like the options (`gpus`, `nproc`,
    `nnodes`, `node_rank`, `master_addr`, `master_port`, `rdzv_endpoint`). `--gpus` with
    `--nproc`, or a `--node-rank` outside `--nnodes`, is a usage error (exit 2), reported
    before anything is loaded.
    """

    @functools.wraps(fn)
    def checked(*args: Any, **kwargs: Any) -> Any:
        gpus, nproc = kwargs.get("gpus"), kwargs.get("nproc")
        if gpus is not None and nproc is not None:
            raise click.UsageError(
                f"--gpus {gpus} and --nproc {nproc} both set the number of processes; "
                "give one of them"
            )
        nnodes, node_rank = kwargs.get("nnodes") or 1, kwargs.get("node_rank") or 0
        if node_rank >= nnodes:
            raise click.BadParameter(
                f"must be between 0 and {nnodes - 1} (--nnodes {nnodes}), not {node_rank}",
                param_hint="'--node-rank'",
            )
        return fn(*args, **kwargs)

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
        checked = option(checked)
    return checked  # type: ignore[return-value]


def output_options(fn: F) -> F:
    """`-q/--quiet`, `-v/--verbose` and `--no-progress`, applied for the command's duration
    (workers too)."""

    @functools.wraps(fn)
    def with_output_mode(
        *args: Any, quiet: bool, verbose: bool, progress: bool, **kwargs: Any
    ) -> Any:
        from clara_cli.logs import output_mode

        if quiet and verbose:
            raise click.UsageError("-q/--quiet and -v/--verbose contradict each other; give one")
        with output_mode(quiet=quiet, progress=progress, verbose=verbose):
            return fn(*args, **kwargs)

    with_output_mode = click.option(
        "--no-progress",
        "progress",
        is_flag=True,
        flag_value=False,
        default=True,
        help="No progress bars (they are off anyway when stderr is not a terminal: one line "
        "per epoch is logged instead).",
    )(with_output_mode)
    with_output_mode = click.option(
        "-q",
        "--quiet",
        is_flag=True,
        help="Print only warnings, errors and the final result (no progress, no epoch lines).",
    )(with_output_mode)
    with_output_mode = click.option(
        "-v",
        "--verbose",
        is_flag=True,
        help="Also print debug lines: the library's details and MONAI StatsHandler's "
        "per-iteration lines (no tracebacks: that is --debug).",
    )(with_output_mode)
    return with_output_mode  # type: ignore[return-value]


def model_choice_options(fn: F) -> F:
    """`--checkpoint best|final|PATH` and `--model ckpt|ts|onnx|pt2` (validate, infer).

    The command receives `checkpoint` and `model`; `clara_cli.workflows.model_choice` maps
    them onto Clara's dont_load_ts_model / dont_load_ckpt_model / MMAR_CKPT / MMAR_TORCHSCRIPT.
    """
    fn = click.option(
        "--model",
        "model",
        type=click.Choice(["ckpt", "ts", "onnx", "pt2"]),
        default=None,
        help="Which model file: ckpt (MMAR_CKPT), ts (TorchScript, MMAR_TORCHSCRIPT), onnx "
        "(MMAR_TORCHSCRIPT with the suffix .onnx, as clara export writes it; run by "
        "onnxruntime) or pt2 (MMAR_PT2, torch.export).  "
        "[default: the config's choice, dont_load_ts_model / dont_load_ckpt_model]",
    )(fn)
    fn = click.option(
        "--checkpoint",
        "checkpoint",
        default=None,
        metavar="best|final|PATH",
        help="Load a training checkpoint: best (best key metric) or final (last epoch), as "
        "config_train.json's CheckpointSaver names them in MMAR_CKPT_DIR (model.pt, "
        "model_final.pt), or a file; implies --model ckpt.  [default: MMAR_CKPT]",
    )(fn)
    return fn
