"""The config sections of a run, wired for this rank: what train, validate and infer build on.

A training config has `train` and `validate` sections; a validation or inference config has
its components at the top level, plus a `model` entry that says where the network comes from.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from clara_cli.errors import ConfigError
from clara_cli.workflows.session import Session

log = logging.getLogger("clara")


def section_runtime(session: Session, amp_requested: bool) -> Any:
    """The Runtime (rank, device, wiring hooks) config sections of this run are built with.

    `amp_requested` is the config's `amp`: CUDA AMP in MONAI's engines, or CPU bf16 autocast
    around the network (see engine/amp.py). The variable `compile` (`clara train --compile`)
    runs the training network through torch.compile (see engine/compiled.py); `channels_last`
    keeps its convolution weights channels-last (unset: where it measured faster, see
    engine/network.py), `onednn_conv3d` false keeps PyTorch's own kernel choice for batch-1
    3D convolutions on a CPU (see engine/network.py), and `bf16_pooling` false keeps
    PyTorch's fp32 policy for 3D max pooling under CPU bf16 (see engine/bf16_pooling.py).
    """
    from clara_cli.engine.amp import resolve_amp
    from clara_cli.engine.network import NetworkPreparer
    from clara_cli.engine.wiring import Wiring
    from clara_cli.mmar.resolver import Runtime
    from clara_cli.mmar.variables import truthy

    dist = session.dist
    amp = resolve_amp(amp_requested, dist.device)
    wiring = Wiring(
        session.variables,
        dist.device,
        rank=dist.rank,
        world_size=dist.world_size,
        amp_enabled=amp.enabled and amp.device_type == "cuda",
        prepare_network=NetworkPreparer(
            dist,
            amp.dtype if amp.enabled and amp.device_type == "cpu" else None,
            compile=truthy(session.var("compile", False)),
            channels_last=_optional_switch(session.var("channels_last", None)),
            onednn_conv3d=truthy(session.var("onednn_conv3d", True)),
            bf16_pooling=truthy(session.var("bf16_pooling", True)),
        ),
    )
    return Runtime(dist.rank, dist.world_size, str(dist.device), wiring.hooks())


def _optional_switch(value: Any) -> bool | None:
    from clara_cli.mmar.variables import truthy

    return None if value is None else truthy(value)


def build_sections(session: Session, amp_requested: bool) -> tuple[Any, Any]:
    """The train and validate Sections of a training config, wired for this rank.

    Each section resolves its components from the config as written (a disabled component's
    variables are never needed); `@conf` is the session's substituted config.
    """
    from clara_cli.mmar.resolver import Section

    config = session.mmar.config
    if not isinstance(config.get("train"), dict):
        raise ConfigError(
            f"{session.mmar.config_file}: no 'train' section: is this a training config?"
        )
    runtime = section_runtime(session, amp_requested)
    source = str(session.mmar.config_file)

    def conf() -> dict[str, Any]:
        return session.conf

    train = Section("train", config["train"], source, runtime, conf, variables=session.variables)
    validate = None
    if isinstance(config.get("validate"), dict):
        validate = Section(
            "validate",
            config["validate"],
            source,
            runtime,
            conf,
            fallback=train,
            variables=session.variables,
        )
        train.links["evaluator"] = lambda: validate.get("evaluator")
    return train, validate


def evaluation_section(
    session: Session, name: str = "validate", required: tuple[str, ...] = ("evaluator",)
) -> Any:
    """The top-level Section of a validation/inference config, its model provided.

    Args:
        session: the run.
        name: the section's name ("validate", "infer"), also used in messages.
        required: keys the config must have (they say which kind of config it is).
    """
    from clara_cli.engine.model_loading import is_loader_spec, load_network
    from clara_cli.mmar import layout
    from clara_cli.mmar.resolver import Section

    config = session.mmar.config
    runtime = section_runtime(session, bool(session.var("amp", False)))
    # A copy: an export's own preprocessing may replace values (_use_export_preprocessing).
    spec = copy.deepcopy({k: config[k] for k in layout.SECTION_KEYS if k in config})
    source = str(session.mmar.config_file)
    for key in required:
        if key not in spec:
            kind = {"validate": "validation", "infer": "inference"}.get(name, name)
            raise ConfigError(f"{source}: no '{key}': is this a {kind} config?")
    section = Section(
        name, spec, source, runtime, lambda: session.conf, prefix="", variables=session.variables
    )
    model_spec = spec.get("model")
    if model_spec is None or is_loader_spec(model_spec):
        # Resolved like any entry: a disabled loader stays as written, its variables unused.
        loaders = (
            section.resolver.entry("model")
            if model_spec is not None
            else [{"ckpt_path": str(session.path_var("MMAR_CKPT"))}]
        )
        if _use_export_preprocessing(spec, loaders, session):
            section = Section(
                name,
                spec,
                source,
                runtime,
                lambda: session.conf,
                prefix="",
                variables=session.variables,
            )
        section.provide("model", load_network(loaders, session, f"{source}: model"))
    elif isinstance(model_spec, list) and any(is_loader_spec(item) for item in model_spec):
        section.provide("model", _first_enabled_model(section, session, source))
    return section


def _use_export_preprocessing(spec: dict[str, Any], loaders: Any, session: Session) -> bool:
    """When the model is an export that records its preprocessing (clara export), put that
    into `spec` in place of the config's values, saying what was used and what changed.

    Returns:
        True when `spec` changed (its Section must be rebuilt).
    """
    from clara_cli.engine.model_loading import enabled_export
    from clara_cli.export.metadata import apply_to_section_spec, describe, read_metadata

    export = enabled_export(loaders, session)
    if export is None or not export.is_file():
        return False
    meta = read_metadata(export)
    if meta is None:
        log.info(
            "%s records no preprocessing (an older or foreign export): using the config's", export
        )
        return False
    log.info("%s was exported with its preprocessing: %s", export.name, describe(meta))
    resolved = {k: session.conf[k] for k in spec if k in session.conf}
    changes = apply_to_section_spec(spec, resolved, meta)
    for change in changes:
        log.warning("using the exported model's preprocessing, not the config's: %s", change)
    return bool(changes)


def _first_enabled_model(section: Any, session: Session, source: str) -> Any:
    """Clara 4.0's mixed `model` list (DeepGrow: a TorchScript loader, then the network as a
    component whose weights a CheckpointLoader handler loads): the first enabled entry."""
    from clara_cli.engine.model_loading import is_loader_spec, load_network
    from clara_cli.errors import ConfigError
    from clara_cli.mmar.items import ResolvedComponent
    from clara_cli.mmar.variables import truthy

    for index, entry in enumerate(section.resolver.entry("model")):
        if isinstance(entry, ResolvedComponent):
            if not entry.skipped:
                return section.build(entry, f"model[{index}]")
        elif is_loader_spec(entry) and not truthy(entry.get("disabled")):
            return load_network([entry], session, f"{source}: model[{index}]")
    raise ConfigError(
        f"{source}: model: every entry is disabled (dont_load_ts_model / dont_load_ckpt_model); "
        "enable one, e.g. --set dont_load_ckpt_model=false"
    )
