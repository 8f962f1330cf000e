"""Run a worker function in this process or in N worker processes: the process layout of a job.

:func:`plan_job` decides how many processes a run needs on this node: ``--gpus N`` /
``--nproc N``, or the config's ``multi_gpu: true`` (every visible GPU). :func:`run_job` then
runs the worker here, or starts the workers with :func:`clara_cli.launch.spawn.launch`; a
process that torchrun or SLURM's srun started is already one worker and runs the function
directly, never spawning again. This module knows nothing of workflows: the caller passes a
top-level function and its (picklable) arguments.

Only the standard library is imported at module level: the CLI imports this module before it
knows whether torch is needed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from clara_cli.errors import DistributedError

log = logging.getLogger("clara")


@dataclass(frozen=True)
class LaunchOptions:
    """The command line's process layout (all optional: one process by default).

    Attributes:
        gpus: ``--gpus N``: N workers, one per GPU (CPU processes with ``--device cpu``).
        nproc: ``--nproc N``: N workers on the requested device.
        nnodes: machines in the job.
        node_rank: this machine's index (static rendezvous).
        master_addr: node 0's address (``None``: 127.0.0.1, or SLURM's launch node).
        master_port: node 0's port (``None``: a free port on a single node).
        rdzv_endpoint: ``host:port`` of a c10d rendezvous instead of master address/port.
    """

    gpus: int | None = None
    nproc: int | None = None
    nnodes: int = 1
    node_rank: int = 0
    master_addr: str | None = None
    master_port: int | None = None
    rdzv_endpoint: str | None = None


@dataclass(frozen=True)
class JobPlan:
    """Where and how many: the device kind and this node's process count.

    Attributes:
        device: ``"cpu"`` or ``"cuda"`` (never ``"auto"``).
        nproc_per_node: processes on this node.
        options: the layout options the plan came from.
        launcher: ``"torchrun"``/``"slurm"`` when an outside launcher started this process
            (it then runs as one worker), else ``None``.
    """

    device: str
    nproc_per_node: int
    options: LaunchOptions
    launcher: str | None = None

    @property
    def spawns(self) -> bool:
        """Whether this process starts workers (rather than running the function itself)."""
        return self.launcher is None and (self.nproc_per_node > 1 or self.options.nnodes > 1)


def plan_job(device: str, options: LaunchOptions | None = None, multi_gpu: bool = False) -> JobPlan:
    """Decide the process layout of a job.

    Args:
        device: ``"auto"`` (CUDA when visible), ``"cpu"`` or ``"cuda"``.
        options: the command line's layout; ``None`` means one process.
        multi_gpu: the config's ``multi_gpu`` (every visible GPU when no count is given).

    Raises:
        DistributedError: the layout is impossible (more GPUs than visible, ``--gpus`` with
            ``--nproc``, a node rank outside ``--nnodes``).
    """
    from clara_cli.launch.process_group import detect_launch_env

    options = options or LaunchOptions()
    if options.gpus is not None and options.nproc is not None:
        raise DistributedError(
            f"--gpus {options.gpus} and --nproc {options.nproc} both set the number of "
            "processes; give one of them"
        )
    launched = detect_launch_env(master_addr=options.master_addr, master_port=options.master_port)
    if launched is not None:
        if options.gpus or options.nproc:
            log.debug("started by %s: --gpus/--nproc ignored", launched["launcher"])
        return JobPlan(device, 1, options, launched["launcher"])
    kind, count = _plan(device, options, multi_gpu)
    return JobPlan(kind, count, options)


def run_job(
    plan: JobPlan, worker: Callable[..., Any], args: tuple[Any, ...], debug: bool = False
) -> Any:
    """Run ``worker(*args)`` as the plan says; rank 0's return value, else ``None``.

    ``worker`` must be a top-level function (it is pickled to spawned workers by reference)
    and ``args`` picklable.

    Raises:
        DistributedError: a worker failed (the message names the rank and its error).
    """
    if not plan.spawns:
        return run_worker(worker, args, debug) if plan.launcher else worker(*args)
    from clara_cli.launch.spawn import LaunchSpec, launch

    options = plan.options
    spec = LaunchSpec(
        nproc_per_node=plan.nproc_per_node,
        nnodes=options.nnodes,
        node_rank=options.node_rank,
        master_addr=options.master_addr or "127.0.0.1",
        master_port=options.master_port,
        rdzv_endpoint=options.rdzv_endpoint,
        device=plan.device,
    )
    total = plan.nproc_per_node * options.nnodes
    log.info("starting %d %s worker process(es)%s", total, plan.device.upper(), _nodes(options))
    results = launch(spec, run_worker, worker, args, debug)
    return next((r for r in results if r is not None), None)


def run_worker(worker: Callable[..., Any], args: tuple[Any, ...], debug: bool = False) -> Any:
    """One rank of a job: set up logging, run the worker, return its result on rank 0 only.

    The launcher pickles this function by name, so it stays a top-level function here.
    """
    from clara_cli.logs import configure_logging

    configure_logging(debug)
    result = worker(*args)
    rank = int(os.environ.get("RANK", os.environ.get("SLURM_PROCID", "0")))
    return result if rank == 0 else None


def _plan(requested: str, options: LaunchOptions, multi_gpu: bool) -> tuple[str, int]:
    """(device kind "cpu"/"cuda", processes on this node) for a job we start ourselves."""
    import torch

    from clara_cli.launch.spawn import check_gpus

    count = options.gpus or options.nproc
    if requested == "cpu":
        device = "cpu"
    elif requested == "cuda" or options.gpus is not None:
        # --gpus asks for GPUs: check_gpus explains how to run on CPU when none is visible.
        device = "cuda"
    else:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if count is None:
        count = _multi_gpu_count(multi_gpu, device)
    if device == "cuda":
        check_gpus(count)
    elif count > (os.cpu_count() or 1):
        log.warning(
            "%d CPU processes on %d cores: each gets one thread and they compete for cores",
            count,
            os.cpu_count() or 1,
        )
    return device, count


def _multi_gpu_count(multi_gpu: bool, device: str) -> int:
    """Clara's ``multi_gpu: true`` without --gpus: every visible GPU, else one process."""
    if not multi_gpu:
        return 1
    import torch

    visible = torch.cuda.device_count() if device == "cuda" else 0
    if visible >= 2:
        log.info("multi_gpu: true: using all %d visible GPUs", visible)
        return visible
    log.warning(
        "multi_gpu: true, but %s: running one process\n"
        "  to start several CPU processes instead: --device cpu --nproc N",
        "no GPU is in use" if device == "cpu" or visible == 0 else "only 1 GPU is visible",
    )
    return 1


def _nodes(options: LaunchOptions) -> str:
    if options.nnodes == 1:
        return ""
    return f" on {options.nnodes} nodes (this is node {options.node_rank})"
