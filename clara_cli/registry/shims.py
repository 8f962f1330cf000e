"""Run Clara 4.0/4.1 configs (written for MONAI 0.5–0.8) on today's MONAI.

Each shim rewrites a removed name or a renamed argument to its modern spelling and reports it
once, naming the file, the component and the modern spelling (mmar-format.md section 7).
"""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("clara")
_reported: set[tuple[str, str]] = set()


def warn_once(where: str, message: str) -> None:
    """Log `where: message` once per process."""
    if (where, message) in _reported:
        return
    _reported.add((where, message))
    log.warning("%s: %s", where, message)


# Removed classes: old name → (kind, new name, extra args, note).
RENAMED_CLASSES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "AddChanneld": ("transform", "EnsureChannelFirstd", {"channel_dim": "no_channel"}),
    "AddChannel": ("transform", "EnsureChannelFirst", {"channel_dim": "no_channel"}),
    "AsChannelFirstd": ("transform", "EnsureChannelFirstd", {"channel_dim": -1}),
    "AsChannelFirst": ("transform", "EnsureChannelFirst", {"channel_dim": -1}),
    "SegmentationSaver": ("handler", "SegmentationSaver", {}),  # ours, in engine.handlers
}

# Clara-internal modules that no longer exist: dotted path → (kind, registry name).
RENAMED_PATHS: dict[str, tuple[str, str]] = {
    "deepgrow.interaction.ClickInteraction": ("interaction", "Interaction"),
    "deepgrow.handler.DeepgrowStatsHandler": ("handler", "DeepgrowStatsHandler"),
}


def legacy_class(name: str) -> tuple[str, str, dict[str, Any]] | None:
    """(kind, modern name, fixed args) for a removed class name, else None."""
    return RENAMED_CLASSES.get(name)


def legacy_path(path: str) -> tuple[str, str] | None:
    """(kind, registry name) for a Clara-internal dotted path, else None."""
    return RENAMED_PATHS.get(path)


def upgrade_args(
    label: str,
    target: Callable[..., Any],
    args: dict[str, Any],
    where: str,
    report: Callable[[str, str], None] = warn_once,
) -> dict[str, Any]:
    """Rewrite MONAI 0.x argument spellings of `target` into today's, warning once each.

    Args:
        label: the component's name in the config (for messages).
        target: the class or function about to be called.
        args: its keyword arguments (not modified).
        where: `<file>: <key path>` for messages.
        report: called with (where, note) for each rewrite (default: warn once).
    """
    args = dict(args)
    params = _parameters(target)
    if params is None:
        return args
    if "dimensions" in args and "dimensions" not in params and "spatial_dims" in params:
        args["spatial_dims"] = args.pop("dimensions")
        report(
            where, f"{label}: 'dimensions' is MONAI 0.x; using spatial_dims={args['spatial_dims']}"
        )
    name = getattr(target, "__name__", "")
    if name in ("AsDiscrete", "AsDiscreted"):
        _upgrade_as_discrete(label, args, where, report)
    if name in ("Orientation", "Orientationd") and "labels" in params and "labels" not in args:
        # The configs' axcodes ("RAS") mean the (L,R),(P,A),(I,S) labels, MONAI's default until
        # it turns None (then a meta-tensor's space decides; MONAI warns of the change at each
        # build): pinned here, so the meaning stays the one the configs were written for.
        args["labels"] = (("L", "R"), ("P", "A"), ("I", "S"))
    if "batched" in args and "batched" not in params:
        args.pop("batched")
        report(where, f"{label}: 'batched' was removed (transforms are batch-aware); dropped")
    return args


def _upgrade_as_discrete(
    label: str, args: dict[str, Any], where: str, report: Callable[[str, str], None]
) -> None:
    n_classes = args.pop("n_classes", None)
    if n_classes is None:
        n_classes = args.pop("num_classes", None)
    onehot = args.get("to_onehot")
    if isinstance(onehot, bool) or (
        isinstance(onehot, list) and any(isinstance(v, bool) for v in onehot)
    ):

        def fix(flag: Any) -> Any:
            return (n_classes if flag else None) if isinstance(flag, bool) else flag

        if any(onehot) if isinstance(onehot, list) else onehot:
            if n_classes is None:
                from clara_cli.errors import ComponentError

                raise ComponentError(
                    f"{where}: {label}: to_onehot=true needs n_classes (MONAI 0.x) "
                    "or to_onehot=<number of classes>"
                )
        args["to_onehot"] = [fix(v) for v in onehot] if isinstance(onehot, list) else fix(onehot)
        report(
            where,
            f"{label}: to_onehot=true + n_classes is MONAI 0.x; using to_onehot={args['to_onehot']}",
        )
    elif n_classes is not None and onehot is None:
        report(where, f"{label}: n_classes without to_onehot has no effect; dropped")
    thresh_flag = args.pop("threshold_values", None)
    logit = args.pop("logit_thresh", None)
    if thresh_flag is not None or logit is not None:
        flags = thresh_flag if isinstance(thresh_flag, list) else [thresh_flag]
        on = any(bool(f) for f in flags)
        args["threshold"] = (0.5 if logit is None else logit) if on else None
        report(
            where,
            f"{label}: threshold_values/logit_thresh are MONAI 0.x; using threshold={args['threshold']}",
        )


def _parameters(target: Callable[..., Any]) -> dict[str, inspect.Parameter] | None:
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return None
    return dict(sig.parameters)


class PerItemTransform:
    """Apply a MONAI 0.5-era `output_transform` lambda to today's decollated engine output.

    Clara 4.0 configs wrote `"lambda x: x['loss']"` or `"lambda x: (x['pred'], x['label'])"`
    for an engine output that was one batch dict; since MONAI 0.6 it is a list of per-item
    dicts. This calls the lambda on each item: a tuple result becomes a tuple of lists (what
    MONAI's metric handlers take, or stacked tensors for plain ignite metrics), anything else
    is the first item's value (the loss, equal on every item).

    Args:
        fn: the config's lambda.
        stack: stack tensors per position (for ignite metrics such as Accuracy).
    """

    def __init__(self, fn: Callable[[Any], Any], stack: bool = False) -> None:
        self.fn = fn
        self.stack = stack

    def __call__(self, output: Any) -> Any:
        if not (isinstance(output, list) and output and isinstance(output[0], dict)):
            return self.fn(output)
        results = [self.fn(item) for item in output]
        if not isinstance(results[0], tuple):
            return results[0]
        columns = [list(column) for column in zip(*results, strict=True)]
        if self.stack:
            import torch

            return tuple(torch.stack(column) for column in columns)
        return tuple(columns)


# Module attributes MONAI 0.x had and user code (an archive's custom/) still imports:
# module → {old name: today's name}.
REMOVED_ATTRIBUTES: dict[str, dict[str, str]] = {
    "monai.metrics": {"compute_meandice": "compute_dice"},
}


def provide_removed_attributes() -> None:
    """Make MONAI 0.x names importable again for user code, each warning once when used.

    Installs a module `__getattr__` (PEP 562) on each module of `REMOVED_ATTRIBUTES`, so
    `from monai.metrics import compute_meandice` in an archive's custom code gets today's
    `compute_dice` instead of failing the import. MONAI itself is not changed otherwise.
    """
    for module_name, renamed in REMOVED_ATTRIBUTES.items():
        module = importlib.import_module(module_name)
        if getattr(module, "__getattr__", None) is not None:
            continue  # installed already (or MONAI defines its own)

        def lookup(name: str, _module: Any = module, _renamed: dict[str, str] = renamed) -> Any:
            if name not in _renamed:
                raise AttributeError(f"module {_module.__name__!r} has no attribute {name!r}")
            new = _renamed[name]
            warn_once("user code", f"{_module.__name__}.{name} is MONAI 0.x; using {new} instead")
            return getattr(_module, new)

        module.__getattr__ = lookup  # type: ignore[attr-defined,method-assign]
