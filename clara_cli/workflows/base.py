"""The workflow contract and the registry that the CLI looks workflows up in.

A workflow is what one rank of a job runs: `train`, `validate`, `infer`, `export`, or a model
family's own variant (DeepGrow's click validation, ...). Each is an object with a `name`, the
type of its options, and a `run(request, options)` method. The built-in ones are registered
here by name; a model family names its own in its ``Family`` (see ``clara_cli/families``,
which sits above this package and chooses the workflow for an archive it claims). Adding a
workflow edits no dispatch code: write a module with a class that follows :class:`Workflow`
and register it (:func:`register_workflow`) or name it from a family.

Only the standard library is imported here: the CLI imports this module before it knows
whether torch is needed.
"""

from __future__ import annotations

import importlib
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

    Registering an object that is already registered (a module imported twice) is a no-op.

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
    """Every registered workflow name, sorted."""
    return sorted(_REGISTRY)


def get_workflow(name: str) -> Workflow:
    """The workflow registered as `name`.

    Raises:
        ConfigError: no such workflow (the message lists the registered ones).
    """
    entry = _REGISTRY.get(name)
    if entry is None:
        raise ConfigError(f"no workflow named {name!r}; registered: {', '.join(sorted(_REGISTRY))}")
    if isinstance(entry, str):
        module, _, attribute = entry.partition(":")
        entry = getattr(importlib.import_module(module), attribute)
        _REGISTRY[name] = entry
    return entry
