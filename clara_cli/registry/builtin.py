"""The component tables Clara 4.x searched, one per kind of config key."""

from __future__ import annotations

from functools import cache

from clara_cli.registry.registry import Registry

# Which modules a `name` is searched in, per kind (mmar-format.md section 3.3).
_MODULES: dict[str, tuple[str, ...]] = {
    "network": ("monai.networks.nets",),
    "loss": ("monai.losses", "torch.nn"),
    "optimizer": ("torch.optim", "monai.optimizers"),
    "lr_scheduler": ("torch.optim.lr_scheduler", "monai.optimizers.lr_scheduler"),
    "transform": ("monai.transforms", "monai.apps.deepgrow.transforms"),
    "dataset": ("monai.data",),
    "dataloader": ("monai.data", "torch.utils.data"),
    "inferer": ("monai.inferers",),
    "handler": ("clara_cli.engine.handlers", "monai.handlers", "ignite.handlers"),
    "metric": ("monai.handlers", "ignite.metrics"),
    "engine": ("monai.engines",),
    "interaction": ("monai.apps.deepgrow.interaction",),
}

# Section key → kind of component it holds.
KIND_BY_KEY: dict[str, str] = {
    "model": "network",
    "loss": "loss",
    "optimizer": "optimizer",
    "lr_scheduler": "lr_scheduler",
    "pre_transforms": "transform",
    "post_transforms": "transform",
    "dataset": "dataset",
    "dataloader": "dataloader",
    "inferer": "inferer",
    "handlers": "handler",
    "key_metric": "metric",
    "additional_metrics": "metric",
    "metrics": "metric",
    "trainer": "engine",
    "evaluator": "engine",
    "iteration": "interaction",
}

# Kinds searched, in order, for a component nested inside another's args.
ANY_KIND_ORDER = (
    "transform",
    "network",
    "loss",
    "inferer",
    "handler",
    "metric",
    "dataset",
    "dataloader",
    "optimizer",
    "lr_scheduler",
    "engine",
    "interaction",
)


@cache
def registry(kind: str) -> Registry:
    """The table for one kind (built on first use; importing MONAI happens here)."""
    return Registry(kind, _MODULES[kind])
