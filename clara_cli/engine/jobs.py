"""Run a workflow in this process or in N worker processes: what `clara train|validate` call.

:func:`run_job` decides how many processes a run needs: ``--gpus N`` / ``--nproc N``, or the
config's ``multi_gpu: true`` (every visible GPU). It then runs the workflow here, or starts the
workers with :func:`clara_cli.engine.launch.launch`; a process that torchrun or SLURM's srun
started is already one worker and runs the workflow directly, never spawning again.

Only the standard library is imported at module level: the CLI imports this module before it
knows whether torch is needed.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from typing import Any

from clara_cli.engine.session import RunRequest
from clara_cli.errors import DistributedError

log = logging.getLogger("clara")

WORKFLOWS = ("train", "validate", "infer")


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


def run_job(
    kind: str, request: RunRequest, options: LaunchOptions | None = None, debug: bool = False
) -> Any:
    """Run the ``kind`` workflow ("train", "validate", "infer") with the requested layout.

    Args:
        kind: which workflow.
        request: the run's inputs; ``request.device`` is "auto", "cpu" or "cuda".
        options: the process layout; ``None`` means one process (or the config's multi_gpu).
        debug: workers log at debug level and keep third-party warnings.

    Returns:
        Rank 0's result (``TrainResult`` / ``ValidationResult`` / ``InferenceResult``; infer
        takes its ``InferOptions`` from ``request.extra["infer"]``), or ``None`` in a process
        that does not hold rank 0 (a worker started by torchrun/srun, another node).

    Raises:
        DistributedError: the layout is impossible (more GPUs than visible, ``--gpus`` with
            ``--nproc``), or a worker failed (the message names the rank and its error).
    """
    from clara_cli.engine.distributed import detect_launch_env

    if kind not in WORKFLOWS:
        raise ValueError(f"unknown workflow {kind!r}; expected one of {WORKFLOWS}")
    options = options or LaunchOptions()
    if options.gpus is not None and options.nproc is not None:
        raise DistributedError(
            f"--gpus {options.gpus} and --nproc {options.nproc} both set the number of "
            "processes; give one of them"
        )
    launched = detect_launch_env(master_addr=options.master_addr)
    if launched is not None:
        # torchrun/srun started this process as one rank: run it, do not spawn again.
        if options.gpus or options.nproc:
            log.debug("started by %s: --gpus/--nproc ignored", launched["launcher"])
        _export_master(launched["launcher"], options)
        return run_worker(kind, request, debug)

    device, count = _plan(request, options)
    request = replace(request, device=device)
    if count == 1 and options.nnodes == 1:
        return _run_here(kind, request)
    from clara_cli.engine.launch import LaunchSpec, launch

    _load_config(request)  # a missing or malformed config fails here, once, not in every rank
    spec = LaunchSpec(
        nproc_per_node=count,
        nnodes=options.nnodes,
        node_rank=options.node_rank,
        master_addr=options.master_addr or "127.0.0.1",
        master_port=options.master_port,
        rdzv_endpoint=options.rdzv_endpoint,
        device=device,
    )
    total = count * options.nnodes
    log.info("starting %d %s worker process(es)%s", total, device.upper(), _nodes(options))
    results = launch(spec, run_worker, kind, request, debug)
    return next((r for r in results if r is not None), None)


def run_worker(kind: str, request: RunRequest, debug: bool = False) -> Any:
    """One rank of a job: set up logging, run the workflow, return the result on rank 0 only.

    The launcher pickles this function by name, so it stays a top-level function here.
    """
    from clara_cli.engine.logs import configure_logging

    configure_logging(debug)
    result = _run_here(kind, request)
    rank = int(os.environ.get("RANK", os.environ.get("SLURM_PROCID", "0")))
    return result if rank == 0 else None


def _run_here(kind: str, request: RunRequest) -> Any:
    if kind == "infer":
        from clara_cli.engine.inference import infer

        return infer(request, request.extra.get("infer"))
    from clara_cli.engine import workflows

    return workflows.train(request) if kind == "train" else workflows.validate(request)


def _plan(request: RunRequest, options: LaunchOptions) -> tuple[str, int]:
    """(device kind "cpu"/"cuda", processes on this node) for a job we start ourselves."""
    import torch

    from clara_cli.engine.launch import check_gpus

    requested = request.device
    count = options.gpus or options.nproc
    if requested == "cpu":
        device = "cpu"
    elif requested == "cuda" or options.gpus is not None:
        # --gpus asks for GPUs: check_gpus explains how to run on CPU when none is visible.
        device = "cuda"
    else:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if count is None:
        count = _multi_gpu_count(request, device)
    if device == "cuda":
        check_gpus(count)
    elif count > (os.cpu_count() or 1):
        log.warning(
            "%d CPU processes on %d cores: each gets one thread and they compete for cores",
            count,
            os.cpu_count() or 1,
        )
    return device, count


def _multi_gpu_count(request: RunRequest, device: str) -> int:
    """Clara's ``multi_gpu: true`` without --gpus: every visible GPU, else one process."""
    if not _config_flag(request, "multi_gpu"):
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


def _load_config(request: RunRequest) -> Any:
    from clara_cli.mmar.loader import load_mmar_config

    return load_mmar_config(
        request.mmar_root, request.config_path, request.env_path, request.overrides
    )


def _config_flag(request: RunRequest, name: str) -> bool:
    from clara_cli.mmar.resolver import _truthy
    from clara_cli.mmar.variables import substitute

    mmar = _load_config(request)
    if name not in mmar.variables:
        return False
    return _truthy(substitute(mmar.variables[name], mmar.variables, name, str(mmar.config_file)))


def _export_master(launcher: str, options: LaunchOptions) -> None:
    # Under srun the command line may name the master; init_distributed reads the environment.
    if launcher != "slurm":
        return
    if options.master_addr:
        os.environ["MASTER_ADDR"] = options.master_addr
    if options.master_port:
        os.environ["MASTER_PORT"] = str(options.master_port)


def _nodes(options: LaunchOptions) -> str:
    if options.nnodes == 1:
        return ""
    return f" on {options.nnodes} nodes (this is node {options.node_rank})"
