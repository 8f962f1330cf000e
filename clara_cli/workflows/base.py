"""The workflow contract and the registry that the CLI looks workflows up in.

A workflow is what one rank of a job runs: `train`, `validate`, `infer`, or a model family's
own variant (DeepGrow's click validation, ...). Each is an object with a `name`, the type of
its options, and a `run(request, options)` method; it is registered once by name, and
`clara <command>` finds it with :func:`get_workflow` (or :func:`workflow_for`, which lets a
model family claim a command for the archives it serves). Adding a workflow edits no
dispatch code: write a module with a class that follows :class:`Workflow` and call
:func:`register_workflow` (a family does so in its module, see ``clara_cli/families``).

Only the standard library is imported here: the CLI imports this module before it knows
whether torch is needed.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from clara_cli.errors import ConfigError


@runtime_checkable
class Workflow(Protocol):
    """What every workflow provides.

    Attributes:
        name: the registry key (``"train"``, ``"validate"``, ``"deepgrow_validate"``).
        command: the CLI command it serves (``"train"``, ``"validate"``, ``"infer"``).
        default_config: the MMAR config it reads unless ``-c`` names another.
        options_type: the dataclass of its command-line options (typed, picklable: it
            travels to worker processes).
    """

    name: str
    command: str
    default_config: str
    options_type: type

    def run(self, request: Any, options: Any) -> Any:
        """Run in this process (one rank of the job); return a result on every rank."""
        ...


# name -> workflow object, or "module:attribute" still to import (keeps start-up light).
_REGISTRY: dict[str, Workflow | str] = {
    "train": "clara_cli.workflows.train:WORKFLOW",
    "validate": "clara_cli.workflows.validate:WORKFLOW",
    "infer": "clara_cli.workflows.infer:WORKFLOW",
    "export": "clara_cli.workflows.export:WORKFLOW",
}


def register_workflow(workflow: Workflow | str, name: str | None = None) -> None:
    """Register a workflow object, or a ``"module:attribute"`` path imported when first used.

    Raises:
        ValueError: the name is taken by another workflow.
    """
    key = name or (workflow.name if not isinstance(workflow, str) else None)
    if key is None:
        raise ValueError("a workflow given as 'module:attribute' needs a name")
    current = _REGISTRY.get(key)
    if current is not None and current is not workflow and current != workflow:
        raise ValueError(f"workflow {key!r} is already registered")
    _REGISTRY[key] = workflow


def workflow_names() -> list[str]:
    """Every registered workflow name (families' included), sorted."""
    _load_families()
    return sorted(_REGISTRY)


def get_workflow(name: str) -> Workflow:
    """The workflow registered as `name`.

    Raises:
        ConfigError: no such workflow (the message lists the registered ones).
    """
    if name not in _REGISTRY:
        _load_families()
    entry = _REGISTRY.get(name)
    if entry is None:
        raise ConfigError(f"no workflow named {name!r}; registered: {', '.join(sorted(_REGISTRY))}")
    if isinstance(entry, str):
        module, _, attribute = entry.partition(":")
        entry = getattr(importlib.import_module(module), attribute)
        _REGISTRY[name] = entry
    return entry


def workflow_for(command: str, variables: Mapping[str, Any]) -> Workflow:
    """The workflow that runs `command` for an archive with these variables.

    A model family may claim the archive (``CLARA_FAMILY``, or Clara's own
    ``PROCESSING_TASK``) and name its own workflow for the command; otherwise the built-in
    workflow of that name runs.
    """
    from clara_cli.families import family_for

    family = family_for(variables)
    if family is not None and command in family.workflows:
        return get_workflow(family.workflows[command])
    return get_workflow(command)


def _load_families() -> None:
    from clara_cli.families import load_families

    load_families()
