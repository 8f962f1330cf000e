"""Model families as plugins: each module here (or an installed package's ``clara.families``
entry point) declares one :class:`Family`, and the rest of clara finds it by name.

A family brings what is its own and nothing else: phantom generators (``clara synth NAME``),
workflows (registered by name, and the commands it takes over for the archives it claims),
wiring rules, training-step variants (through MONAI's ``iteration_update`` in its configs),
and report extras. Its module must import only the standard library at module level (the
CLI reads the families to list ``clara synth`` commands and must start instantly); every
heavy import goes inside the functions it names by ``"module:attribute"``.

Example (the whole seam of a family)::

    FAMILY = Family(
        name="spleen",
        description="spleen CT segmentation (AHNet)",
        phantoms=(Phantom("spleen", "Abdominal CT phantoms with spleen labels",
                          "clara_cli.families.spleen.phantom:synthesize"),),
    )
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from clara_cli.errors import ConfigError

log = logging.getLogger("clara")

ENTRY_POINT_GROUP = "clara.families"
#: The variable an archive sets (environment.json or --set) to choose its family.
FAMILY_VARIABLE = "CLARA_FAMILY"


@dataclass(frozen=True)
class PhantomRequest:
    """What ``clara synth NAME`` was asked for (the same options for every phantom).

    Attributes:
        output_dir: the folder to write (MSD layout: imagesTr/, labelsTr/, dataset.json and
            a training/validation datalist).
        num_cases: number of cases.
        seed: same seed, same bytes.
        size: the phantom's main voxel size (in-plane voxels for CT); None: its default.
        train_fraction: share of the cases in the datalist's training list.
        overwrite: write into a non-empty folder.
    """

    output_dir: Path
    num_cases: int = 12
    seed: int = 0
    size: int | None = None
    train_fraction: float = 0.8
    overwrite: bool = False

    def write_with(self, synthesize: Callable[..., Path], options: Any) -> Path:
        """Call a family's ``synthesize_*(output_dir, num_cases=, seed=, options=,
        train_fraction=, overwrite=)`` with this request; returns the datalist it wrote."""
        return synthesize(
            self.output_dir,
            num_cases=self.num_cases,
            seed=self.seed,
            options=options,
            train_fraction=self.train_fraction,
            overwrite=self.overwrite,
        )


@dataclass(frozen=True)
class Phantom:
    """A synthetic dataset a family can write.

    Attributes:
        name: the ``clara synth`` subcommand.
        summary: one line for ``--help``.
        generate: ``"module:function"``; ``function(PhantomRequest) -> Path`` writes the data
            and returns the datalist it wrote.
        description: longer help (what is realistic, what is not).
        default_size: the ``--size`` default.
    """

    name: str
    summary: str
    generate: str
    description: str = ""
    default_size: int = 128

    def run(self, request: PhantomRequest) -> Path:
        """Write the phantom dataset; returns its datalist."""
        result: Path = _load(self.generate)(request)
        return result


@dataclass(frozen=True)
class Family:
    """One model family's plug-in points (see the module docstring).

    Attributes:
        name: short name (``"spleen"``, ``"deepgrow"``); an archive selects the family with
            ``CLARA_FAMILY: NAME`` in environment.json.
        description: one line.
        phantoms: the synthetic datasets it writes.
        workflows: command -> the workflow this family runs for the archives it claims:
            ``"module:attribute"`` of a workflow object (``{"validate":
            "clara_cli.families.deepgrow.validate:WORKFLOW"}``), or the name of a workflow
            its ``register`` hook registered.
        processing_tasks: Clara ``PROCESSING_TASK`` values that select this family too
            (``("annotation",)`` for DeepGrow), so unchanged Clara archives are claimed.
        register: ``"module:function"`` called once when the family is loaded, to register
            its workflows (:func:`clara_cli.workflows.base.register_workflow`), wiring rules
            (:func:`clara_cli.engine.wiring.register_rule`) and components.
        report: ``"module:function"`` called after a validation with
            ``(rows, summary, output_dir, variables)`` to add family-specific report files.
    """

    name: str
    description: str
    phantoms: tuple[Phantom, ...] = ()
    workflows: Mapping[str, str] = field(default_factory=dict)
    processing_tasks: tuple[str, ...] = ()
    register: str | None = None
    report: str | None = None

    def claims(self, variables: Mapping[str, Any]) -> bool:
        """Whether an archive with these variables belongs to this family."""
        chosen = variables.get(FAMILY_VARIABLE)
        if isinstance(chosen, str) and chosen:
            return chosen.lower() == self.name
        task = variables.get("PROCESSING_TASK")
        return isinstance(task, str) and task.lower() in self.processing_tasks

    def write_report(self, *args: Any) -> None:
        """Run the family's report extras, if it has any."""
        if self.report is not None:
            _load(self.report)(*args)


_FAMILIES: dict[str, Family] = {}
_LOADED = False


def load_families() -> dict[str, Family]:
    """Every family: the modules of this package, then installed ``clara.families`` plugins.

    Each family's ``register`` hook runs once, when the families are first loaded.
    """
    global _LOADED
    if _LOADED:
        return _FAMILIES
    _LOADED = True
    for module in pkgutil.iter_modules(__path__, prefix=f"{__name__}."):
        _add(importlib.import_module(module.name), module.name)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        _add(entry.load(), entry.value)
    return _FAMILIES


def add_family(family: Family) -> None:
    """Register a family object directly (tests, notebooks); runs its ``register`` hook.

    Raises:
        ValueError: another family already uses the name or one of its phantom names.
    """
    if family.name in _FAMILIES and _FAMILIES[family.name] is not family:
        raise ValueError(f"two model families are named {family.name!r}")
    taken = {p.name: f.name for f in _FAMILIES.values() for p in f.phantoms if f is not family}
    for phantom in family.phantoms:
        if phantom.name in taken:
            raise ValueError(
                f"phantom {phantom.name!r} of family {family.name!r} is already written by "
                f"family {taken[phantom.name]!r}"
            )
    _FAMILIES[family.name] = family
    if family.register is not None:
        _load(family.register)()


def get_family(name: str) -> Family:
    """The family called `name`.

    Raises:
        ConfigError: no such family (the message lists them).
    """
    families = load_families()
    if name.lower() not in families:
        raise ConfigError(
            f"{FAMILY_VARIABLE}: no model family named {name!r}; "
            f"installed: {', '.join(sorted(families))}"
        )
    return families[name.lower()]


def family_for(variables: Mapping[str, Any]) -> Family | None:
    """The family that claims an archive with these variables, if any.

    Raises:
        ConfigError: ``CLARA_FAMILY`` names a family that is not installed.
    """
    chosen = variables.get(FAMILY_VARIABLE)
    if isinstance(chosen, str) and chosen:
        return get_family(chosen)
    return next((f for f in load_families().values() if f.claims(variables)), None)


def workflow_for(command: str, variables: Mapping[str, Any]) -> Any:
    """The workflow that runs `command` for an archive with these variables.

    A family that claims the archive (``CLARA_FAMILY``, or Clara's ``PROCESSING_TASK``) and
    names a workflow for the command gets it; otherwise the built-in workflow of that name.

    Raises:
        ConfigError: ``CLARA_FAMILY`` names no installed family, or no workflow is found.
    """
    from clara_cli.workflows.base import get_workflow

    family = family_for(variables)
    target = family.workflows.get(command) if family is not None else None
    if target is None:
        return get_workflow(command)
    return _load(target) if ":" in target else get_workflow(target)


def run_for_archive(
    command: str, request: Any, options: Any = None, launch: Any = None, debug: bool = False
) -> Any:
    """Run `command` on `request`'s archive with the workflow its family (if any) chooses.

    What `clara train|validate|infer|export` call: the config is read once here (and refused
    when it needs a package clara does not install, :mod:`clara_cli.mmar.requirements`), the
    workflow chosen (:func:`workflow_for`), and every rank loads the families first so their
    wiring rules and components exist in spawned workers too. Returns rank 0's result.
    """
    from clara_cli.mmar.early_check import check_component_names
    from clara_cli.mmar.requirements import missing_packages
    from clara_cli.workflows.runner import run_command

    mmar = request.load()
    refusal = missing_packages(mmar.config, str(mmar.config_file))
    if refusal:  # a whole-slide reader that is not installed: nothing can run
        raise ConfigError(str(refusal[0]))
    workflow = workflow_for(command, mmar.variables)
    # Misspelt component names are refused here, before torch/MONAI are imported (~10 s).
    check_component_names(mmar, getattr(workflow, "builds", None))
    return run_command(workflow, request, options, launch, debug, setup=load_families)


def phantoms() -> dict[str, Phantom]:
    """Every phantom of every family, by name."""
    return {p.name: p for f in load_families().values() for p in f.phantoms}


def _add(module: Any, where: str) -> None:
    family = getattr(module, "FAMILY", None)
    if family is None:
        return  # a helper module of the package, not a family
    if not isinstance(family, Family):
        raise TypeError(f"{where}: FAMILY must be a clara_cli.families.Family")
    add_family(family)


def _load(target: str) -> Any:
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)
