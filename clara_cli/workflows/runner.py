"""Run a command's workflow for an MMAR: read the config once, pick the workflow (a model
family may claim the archive), lay out the processes, run every rank.

This is what `clara train|validate|infer` call; tests and notebooks can call it too.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from clara_cli.launch.jobs import LaunchOptions, plan_job, run_job
from clara_cli.workflows.base import get_workflow, workflow_for
from clara_cli.workflows.session import RunRequest


def run_command(
    command: str,
    request: RunRequest,
    options: Any = None,
    launch: LaunchOptions | None = None,
    debug: bool = False,
) -> Any:
    """Run `command` ("train", "validate", "infer") on `request`'s archive.

    Args:
        command: the CLI command; the workflow is the family's for it, else the built-in one.
        request: the archive, config, variables and device.
        options: the workflow's options (its ``options_type``); None: its defaults.
        launch: the process layout; None: one process (or the config's ``multi_gpu``).
        debug: workers log at debug level and keep third-party warnings.

    Returns:
        Rank 0's result, or None in a process that does not hold rank 0.

    Raises:
        ClaraError: a missing or malformed config fails here, once, before any worker starts;
            an impossible layout or a failed worker raises DistributedError.
    """
    from clara_cli.mmar.resolver import _truthy
    from clara_cli.mmar.variables import substitute

    mmar = request.load()
    workflow = workflow_for(command, mmar.variables)
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
    return run_job(plan, run_workflow, (workflow.name, request, options), debug)


def run_workflow(name: str, request: RunRequest, options: Any) -> Any:
    """One rank: run the registered workflow `name` (a top-level function: workers get it)."""
    return get_workflow(name).run(request, options)
