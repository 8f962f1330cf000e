"""Run a workflow for an MMAR: read the config once, lay out the processes, run every rank.

This is what `clara train|validate|infer|export` call (after
:func:`clara_cli.families.workflow_for` chose the workflow: a model family may claim the
archive); tests and notebooks can call it too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from clara_cli.launch.jobs import LaunchOptions, plan_job, run_job
from clara_cli.workflows.base import Workflow, get_workflow
from clara_cli.workflows.session import RunRequest


def run_command(
    workflow: Workflow | str,
    request: RunRequest,
    options: Any = None,
    launch: LaunchOptions | None = None,
    debug: bool = False,
    setup: Callable[[], Any] | None = None,
) -> Any:
    """Run a workflow on `request`'s archive, in one process or as the layout says.

    Args:
        workflow: the workflow object, or the name of a registered one ("train", ...).
        request: the archive, config, variables and device.
        options: the workflow's options (its ``options_type``); None: its defaults.
        launch: the process layout; None: one process (or the config's ``multi_gpu``).
        debug: workers log at debug level and keep third-party warnings.
        setup: a top-level function every rank calls first (the CLI passes
            ``clara_cli.families.load_families``, so spawned workers know the families'
            wiring rules and components too).

    Returns:
        Rank 0's result, or None in a process that does not hold rank 0.

    The run's record (`run.json`, see :mod:`clara_cli.workflows.run_record`) is written beside
    its outputs.

    Raises:
        ClaraError: a missing or malformed config fails here, once, before any worker starts;
            an impossible layout or a failed worker raises DistributedError.
    """
    from clara_cli.mmar.resolver import _truthy
    from clara_cli.mmar.variables import substitute

    mmar = request.load()
    if isinstance(workflow, str):
        workflow = get_workflow(workflow)
    if options is None:
        options = workflow.options_type()
    multi_gpu = "multi_gpu" in mmar.variables and _truthy(
        substitute(mmar.variables["multi_gpu"], mmar.variables, "multi_gpu", str(mmar.config_file))
    )
    launch = launch or LaunchOptions()
    plan = plan_job(request.device, launch, multi_gpu)
    request = replace(
        request,
        device=plan.device,
        master_addr=launch.master_addr,
        master_port=launch.master_port,
    )
    arguments = (workflow, request, options, setup)
    if not _writes_record(plan):
        return _run_interruptible(plan, arguments, debug, workflow.command, mmar)
    from clara_cli.workflows.run_record import recording, summarize

    processes = plan.nproc_per_node * launch.nnodes
    with recording(
        workflow.command, workflow.name, mmar, request.overrides, options, plan.device, processes
    ) as record:
        result = _run_interruptible(plan, arguments, debug, workflow.command, mmar)
        record["result"] = summarize(result)
    return result


def _run_interruptible(
    plan: Any, arguments: tuple[Any, ...], debug: bool, command: str, mmar: Any
) -> Any:
    """run_job; a Ctrl-C (even one a library wrapped in its own error) becomes `Interrupted`
    with how to continue."""
    from clara_cli.errors import Interrupted, interrupted

    try:
        return run_job(plan, run_workflow, arguments, debug)
    except BaseException as err:
        if isinstance(err, Interrupted) or not interrupted(err):
            raise
        raise Interrupted(how_to_continue(command, mmar)) from None


def how_to_continue(command: str, mmar: Any) -> str:
    """What to tell the user after Ctrl-C: for training, the epoch `--resume` continues from."""
    if command != "train":
        return "Interrupted."
    from clara_cli.engine.resume import find_resume_checkpoint
    from clara_cli.mmar.variables import substitute

    value = mmar.variables.get("MMAR_CKPT_DIR")
    if not value:
        return "Interrupted."
    folder = Path(substitute(value, mmar.variables, "MMAR_CKPT_DIR", str(mmar.config_file)))
    found = find_resume_checkpoint(folder) if folder.is_dir() else None
    if found is None:
        return "Interrupted before the first epoch was saved; nothing to resume yet."
    from clara_cli.engine.resume import epoch_in_name

    done = epoch_in_name(found)
    return (
        f"Interrupted; `clara train --resume` continues from epoch {done + 1} "
        f"({found.name} in {folder} holds epoch {done})."
    )


def _writes_record(plan: Any) -> bool:
    """The process that started the job writes its run record (under torchrun or srun,
    every process is one worker: rank 0's writes it)."""
    import os

    return plan.launcher is None or os.environ.get("RANK", "0") == "0"


def run_workflow(
    workflow: Workflow, request: RunRequest, options: Any, setup: Callable[[], Any] | None = None
) -> Any:
    """One rank: set up, then run the workflow (a top-level function: the launcher pickles it,
    and the workflow object travels by value, its class by reference)."""
    if setup is not None:
        setup()
    return workflow.run(request, options)
