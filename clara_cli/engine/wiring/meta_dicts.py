"""MONAI 0.5-0.8 meta-dict semantics: Clara 4.x validation and inference configs on MetaTensor.

- `ToTensord`, `ToNumpyd`, `Invertd` and the DeepGrow transforms that index
  `<key>_meta_dict` become the legacy classes of
  :mod:`clara_cli.engine.meta_dicts` (same arguments; each warns once);
- a handler callable written against `*_meta_dict` keys (`MetricsSaver`'s
  `batch_transform: from_engine(['image_meta_dict'])`) sees each MetaTensor's metadata under
  that name;
- `Invertd`'s `meta_keys`/`orig_meta_keys` and `SaveImaged`'s `meta_keys` naming `*_meta_dict`
  are noted once: the metadata travels with the MetaTensor and MONAI reads it from there.
"""

from __future__ import annotations

import re
from typing import Any

from clara_cli.engine.wiring.predicates import subclass_of
from clara_cli.engine.wiring.rules import BuildContext, Rule
from clara_cli.registry import shims

_META_NAME = re.compile(r"""['"](\w+)_meta_dict['"]""")
_CALLABLE_ARGS = ("batch_transform", "output_transform")
_META_KEY_ARGS = ("meta_keys", "orig_meta_keys")
# MONAI's DeepGrow transforms that still index `<key>_meta_dict`.
_DEEPGROW_META_READERS = (
    "SpatialCropForegroundd",
    "SpatialCropGuidanced",
    "AddGuidanceFromPointsd",
    "RestoreLabeld",
    "Fetch2DSliced",
)


def _label(ctx: BuildContext) -> str:
    name = str(ctx.spec.get("name") or ctx.spec.get("path") or "")
    return name.rpartition(".")[2].partition("#")[0]


def _written(ctx: BuildContext, arg: str) -> Any:
    return (ctx.spec.get("args") or {}).get(arg)


def _adopt(ctx: BuildContext) -> Any:
    from clara_cli.engine.meta_dicts import adopt

    return adopt(ctx.obj, ctx.where)


def _reads_meta_dicts(ctx: BuildContext) -> bool:
    return any(
        isinstance(_written(ctx, arg), str) and _META_NAME.search(_written(ctx, arg))
        for arg in _CALLABLE_ARGS
    )


def _callable_message(ctx: BuildContext, arg: str) -> str | None:
    """What the shim says about the callable written in `arg`, or None when it reads no
    `*_meta_dict` key."""
    written = _written(ctx, arg)
    keys = sorted(set(_META_NAME.findall(written))) if isinstance(written, str) else []
    if not keys:
        return None
    names = ", ".join(f"'{k}_meta_dict'" for k in keys)
    return (
        f"{_label(ctx)}: {arg} reads {names} (MONAI 0.x meta dicts); given the metadata of "
        f"the {', '.join(map(repr, keys))} MetaTensor"
    )


def _callables_note(ctx: BuildContext) -> str | None:
    messages = [m for arg in _CALLABLE_ARGS if (m := _callable_message(ctx, arg))]
    return "; ".join(messages) or None


def _meta_dict_view(ctx: BuildContext) -> None:
    from clara_cli.engine.meta_dicts import MetaDictView

    for arg in _CALLABLE_ARGS:
        written = _written(ctx, arg)
        message = _callable_message(ctx, arg)
        if message is None or not callable(ctx.args.get(arg)):
            continue
        # A lambda on MONAI 0.x's one collated batch dict runs per item of today's list;
        # output_transform lambdas are already per item (legacy.per_item_output_transform).
        per_item = arg == "batch_transform" and written.lstrip().startswith("lambda")
        ctx.args[arg] = MetaDictView(ctx.args[arg], per_item)
        shims.warn_once(ctx.where, message)


def _names_meta_dicts(ctx: BuildContext) -> bool:
    return any(_meta_dict_names(_written(ctx, arg)) for arg in _META_KEY_ARGS)


def _meta_dict_names(value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value]
    return [v for v in values if isinstance(v, str) and v.endswith("_meta_dict")]


def _meta_keys_note(ctx: BuildContext) -> str:
    written = [
        f"{arg} {', '.join(map(repr, names))}"
        for arg in _META_KEY_ARGS
        if (names := _meta_dict_names(_written(ctx, arg)))
    ]
    return (
        f"{_label(ctx)}: {'; '.join(written)}: MONAI 0.x meta dicts; the metadata travels with "
        "each MetaTensor and is read from there"
    )


def _note_meta_keys(ctx: BuildContext) -> None:
    shims.warn_once(ctx.where, _meta_keys_note(ctx))


def _legacy_transform_note(ctx: BuildContext) -> str | None:
    """What the legacy class that replaces this MONAI transform does (None for a user's
    subclass, which is left alone)."""
    from clara_cli.engine.meta_dicts import LEGACY_NOTES

    return LEGACY_NOTES.get(ctx.target)  # type: ignore[call-overload]


RULES = (
    Rule(
        "meta_dicts.legacy_transforms",
        subclass_of(
            "monai.transforms.ToTensord",
            "monai.transforms.ToNumpyd",
            "monai.transforms.Invertd",
            *(f"monai.apps.deepgrow.transforms.{name}" for name in _DEEPGROW_META_READERS),
        ),
        after=_adopt,
        note=_legacy_transform_note,
    ),
    Rule(
        "meta_dicts.handler_callables",
        _reads_meta_dicts,
        before=_meta_dict_view,
        note=_callables_note,
    ),
    Rule(
        "meta_dicts.meta_key_arguments",
        lambda ctx: (
            _names_meta_dicts(ctx)
            and subclass_of("monai.transforms.Invertd", "monai.transforms.SaveImaged")(ctx)
        ),
        before=_note_meta_keys,
        note=_meta_keys_note,
    ),
)
