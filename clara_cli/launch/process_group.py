"""Start and stop the process group, and the few rank helpers the workflows need.

A worker process (started by :func:`clara_cli.launch.spawn.launch`, by ``torchrun`` or by
SLURM's ``srun``) calls :func:`init_distributed` first and :func:`shutdown` last. A plain
single process gets a :class:`DistContext` with ``world_size == 1`` and no process group, so
the same code runs in both cases: every helper here is a no-op (or the trivial answer) when
there is one process.

Typical use in a worker::

    ctx = init_distributed("cpu")
    try:
        ...  # build, wrap in DDP when ctx.is_distributed, train; write files if ctx.is_main
    finally:
        shutdown(ctx)
"""

from __future__ import annotations

import atexit
import gc
import logging
import os
import sys
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from clara_cli.errors import DistributedError

T = TypeVar("T")

#: How long a collective may wait for the other ranks before failing. Generous, because rank 0
#: may spend minutes writing checkpoints or metric files while the others wait at a barrier.
#: A crashed rank does not rely on this timeout: the launcher's agent stops the others at once.
DEFAULT_TIMEOUT = timedelta(minutes=30)

_TORCHRUN_VARS = ("RANK", "WORLD_SIZE")
_SLURM_VARS = ("SLURM_PROCID", "SLURM_NTASKS")


@dataclass(frozen=True)
class DistContext:
    """Where this process stands in the job.

    Attributes:
        rank: global rank, 0..world_size-1.
        world_size: number of processes in the job (1 without a launcher).
        local_rank: rank on this node; also the CUDA device index.
        device: the device this process computes on.
        backend: ``"nccl"`` or ``"gloo"`` when a process group is running, else ``None``.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        """True on the rank that logs, shows progress and writes files (rank 0)."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        """True when a process group is running (wrap the model in DDP, shard the data)."""
        return self.backend is not None


def detect_launch_env(
    environ: Mapping[str, str] | None = None,
    master_addr: str | None = None,
    master_port: int | None = None,
) -> dict[str, Any] | None:
    """Read the rank layout that torchrun (or our own launcher) or SLURM's srun set up.

    torchrun and :func:`clara_cli.launch.spawn.launch` export ``RANK``, ``WORLD_SIZE``,
    ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``. ``srun`` exports ``SLURM_PROCID``,
    ``SLURM_NTASKS`` and ``SLURM_LOCALID``; the master address is then ``master_addr``, else
    ``MASTER_ADDR``, else ``SLURM_LAUNCH_NODE_IPADDR``, and the port ``master_port``, else
    ``MASTER_PORT``, else one derived from ``SLURM_JOB_ID`` (the same on every task). A SLURM step with a single task
    (``srun -n 1``, or a batch script itself) is not treated as launched, so that
    ``clara train --gpus N`` inside it still starts its own N workers.

    Args:
        environ: the environment to read (default ``os.environ``).
        master_addr: master address to use under SLURM, overriding the environment.
        master_port: master port to use under SLURM, overriding the environment.

    Returns:
        ``{"launcher", "rank", "world_size", "local_rank", "master_addr", "master_port"}``,
        or ``None`` when no launcher started this process.

    Raises:
        DistributedError: a launcher variable is not an integer.
    """
    env = os.environ if environ is None else environ
    if all(name in env for name in _TORCHRUN_VARS):
        return {
            "launcher": "torchrun",
            "rank": _int_var(env, "RANK"),
            "world_size": _int_var(env, "WORLD_SIZE"),
            "local_rank": _int_var(env, "LOCAL_RANK", 0),
            "master_addr": env.get("MASTER_ADDR", "127.0.0.1"),
            "master_port": _int_var(env, "MASTER_PORT", 29500),
        }
    if all(name in env for name in _SLURM_VARS) and _int_var(env, "SLURM_NTASKS") > 1:
        addr = master_addr or env.get("MASTER_ADDR") or env.get("SLURM_LAUNCH_NODE_IPADDR")
        if not addr:
            raise DistributedError(
                "running under SLURM with several tasks, but the master address is unknown: "
                "SLURM_LAUNCH_NODE_IPADDR and MASTER_ADDR are unset\n"
                "  pass --master-addr or export MASTER_ADDR=<first node's address>"
            )
        if master_port is not None:
            port = master_port
        elif "MASTER_PORT" in env:
            port = _int_var(env, "MASTER_PORT")
        else:
            # Every task of the step must agree on the port without talking to each other.
            port = 15000 + _int_var(env, "SLURM_JOB_ID", 0) % 20000
        return {
            "launcher": "slurm",
            "rank": _int_var(env, "SLURM_PROCID"),
            "world_size": _int_var(env, "SLURM_NTASKS"),
            "local_rank": _int_var(env, "SLURM_LOCALID", 0),
            "master_addr": addr,
            "master_port": port,
        }
    return None


def init_distributed(
    device: str = "auto",
    timeout: timedelta = DEFAULT_TIMEOUT,
    master_addr: str | None = None,
    master_port: int | None = None,
) -> DistContext:
    """Join the process group when a launcher started this process; call it first in a worker.

    Without a launcher (or with one process) no process group is created. Under a launcher
    the backend is NCCL on CUDA (after ``torch.cuda.set_device(local_rank)``) and gloo on CPU.
    CPU workers get ``cpu_count // local_world_size`` threads each unless ``OMP_NUM_THREADS``
    is set, so that N workers do not oversubscribe the cores.

    Args:
        device: ``"auto"`` (CUDA when available), ``"cuda"``, ``"cuda:N"`` (one process
            only; workers use ``cuda:<local_rank>``) or ``"cpu"``.
        timeout: how long collectives wait for the other ranks.
        master_addr: master address under SLURM (see :func:`detect_launch_env`).
        master_port: master port under SLURM.

    Returns:
        The context describing this process.

    Raises:
        DistributedError: CUDA was asked for but is not available, there are fewer GPUs on
            this node than local ranks, or the process group cannot be created.
    """
    kind = _resolve_device_kind(device)
    launch_env = detect_launch_env(master_addr=master_addr, master_port=master_port)
    if dist.is_available() and dist.is_initialized():
        # Someone (a test harness, a notebook) already started the group: describe it.
        return _context_from_group(kind)
    if launch_env is None or launch_env["world_size"] <= 1:
        if kind == "cpu":
            return DistContext(device=torch.device("cpu"))
        requested = torch.device(device) if device.startswith("cuda:") else None
        index = requested.index if requested is not None else torch.cuda.current_device()
        return DistContext(device=torch.device("cuda", index))

    rank, world_size = launch_env["rank"], launch_env["world_size"]
    local_rank = launch_env["local_rank"]
    if kind == "cuda":
        visible = torch.cuda.device_count()
        if local_rank >= visible:
            raise DistributedError(
                f"rank {rank} has local rank {local_rank} but only {visible} GPU(s) are visible "
                "on this node\n  start at most one process per GPU, or run on CPU with "
                "--device cpu"
            )
        torch.cuda.set_device(local_rank)
        torch_device, backend = torch.device("cuda", local_rank), "nccl"
    else:
        torch_device, backend = torch.device("cpu"), "gloo"
        if "OMP_NUM_THREADS" not in os.environ:
            per_node = int(os.environ.get("LOCAL_WORLD_SIZE", world_size))
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // max(1, per_node)))

    init_method = None
    if launch_env["launcher"] == "slurm":
        init_method = f"tcp://{launch_env['master_addr']}:{launch_env['master_port']}"
    try:
        dist.init_process_group(
            backend=backend,
            init_method=init_method,
            rank=rank,
            world_size=world_size,
            timeout=timeout,
        )
    except Exception as err:
        raise DistributedError(
            f"rank {rank}/{world_size} could not join the {backend} process group at "
            f"{launch_env['master_addr']}:{launch_env['master_port']}: {err}\n"
            "  check that the master address is reachable and the port is free"
        ) from err
    atexit.register(_release_at_exit)
    return DistContext(rank, world_size, local_rank, torch_device, backend)


def _release_at_exit() -> None:
    """Free the process group while the interpreter still runs its threads.

    Objects of a finished run (DDP's reducer, the last collectives' work items) can hold the
    process group until the interpreter's final garbage collection. gloo's worker threads then
    need the GIL to free a work item's tensors, Python stops them instead, and the C++ runtime
    aborts the process ("terminate called without an active exception", exit -6, seen on a
    rank of a finished `torch.distributed.launch` run). atexit handlers run before that point.
    """
    if dist.is_initialized():
        dist.destroy_process_group()
    gc.collect()


def shutdown(ctx: DistContext) -> None:
    """Leave the process group (if any); call it last in a worker.

    Safe in a ``finally`` block: while an exception is propagating the group is left as is,
    because tearing it down would make the healthy ranks fail first (with "connection
    closed" errors) and the launcher could report theirs instead of the real error; the
    process exits right after, and the launcher stops the other ranks.
    """
    if not (ctx.is_distributed and dist.is_initialized()):
        return
    if sys.exc_info()[1] is not None:
        return
    dist.destroy_process_group()


def all_gather_objects(ctx: DistContext, obj: T) -> list[T]:
    """Collect one picklable object from every rank, in rank order, on every rank.

    Meant for small things (per-case metric rows, counts), not tensors of a model's size.
    """
    if not ctx.is_distributed:
        return [obj]
    gathered: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(gathered, obj)
    return gathered


def silence_other_ranks(ctx: DistContext) -> None:
    """On ranks other than 0, drop log records up to WARNING and all Python warnings.

    Call it right after :func:`init_distributed` so that logs and warnings appear once.
    ``logging.disable`` is used rather than the root level because handlers such as MONAI's
    StatsHandler log through loggers with their own level. Errors still show on every rank.
    Progress bars are the caller's: ``tqdm(..., disable=not ctx.is_main)``.
    """
    if ctx.is_main:
        return
    logging.disable(logging.WARNING)
    warnings.simplefilter("ignore")


def _resolve_device_kind(device: str) -> str:
    kind = device.split(":", 1)[0].lower()
    if kind == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if kind not in ("cuda", "cpu"):
        raise DistributedError(f"device must be 'auto', 'cuda' or 'cpu', not {device!r}")
    if kind == "cuda" and not torch.cuda.is_available():
        raise DistributedError(
            "device 'cuda' was asked for but CUDA is not available on this machine\n"
            "  run on CPU with --device cpu"
        )
    return kind


def _context_from_group(kind: str) -> DistContext:
    rank, world_size = dist.get_rank(), dist.get_world_size()
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    backend = str(dist.get_backend())
    if kind == "cuda":
        return DistContext(rank, world_size, local_rank, torch.device("cuda", local_rank), backend)
    return DistContext(rank, world_size, local_rank, torch.device("cpu"), backend)


def _int_var(env: Mapping[str, str], name: str, default: int | None = None) -> int:
    text = env.get(name)
    if text is None:
        if default is None:
            raise DistributedError(f"environment variable {name} is not set")
        return default
    try:
        return int(text)
    except ValueError:
        raise DistributedError(
            f"environment variable {name} must be an integer, not {text!r}"
        ) from None
