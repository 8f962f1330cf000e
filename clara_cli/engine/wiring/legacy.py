"""Legacy rewrites: MONAI 0.x conventions in Clara 4.0 configs that would fail today.

Clara 4.0 output transforms are lambdas on one dict (`lambda x: x['loss']`); MONAI 1.x engines
hand handlers a list of per-item dicts, so the lambda is applied per item
(:class:`clara_cli.registry.shims.PerItemTransform`). Handlers from an archive's own code read
`engine.state.batch/output` as one batch dict too; they see both conventions
(:mod:`clara_cli.engine.batch_view`).
"""

from __future__ import annotations

import re

from clara_cli.engine.wiring.predicates import subclass_of
from clara_cli.engine.wiring.rules import BuildContext, Rule
from clara_cli.registry import shims


def _writes_lambda_output_transform(ctx: BuildContext) -> bool:
    # Only lambdas written in the config: from_engine(...) and our own defaults already
    # handle lists of per-item dicts.
    written = (ctx.spec.get("args") or {}).get("output_transform")
    return isinstance(written, str) and written.lstrip().startswith("lambda")


# A plain ignite metric (not MONAI's handler wrapper) updates on the whole batch at once, so
# the per-item results are stacked back into a batch.
_is_plain_ignite_metric = subclass_of(
    "ignite.metrics.Metric", exclude=("monai.handlers.IgniteMetricHandler",)
)


def _per_item_output_transform(ctx: BuildContext) -> None:
    stack = _is_plain_ignite_metric(ctx)
    ctx.args["output_transform"] = shims.PerItemTransform(ctx.args["output_transform"], stack)


#: Packages whose handlers follow today's engine conventions.
_CURRENT_LIBRARIES = ("monai", "ignite", "torch", "clara_cli")
_HANDLER_KEY = re.compile(r"(^|\.)handlers\[\d+\]$")


def _user_code_handler(ctx: BuildContext) -> bool:
    module = str(getattr(ctx.target, "__module__", "") or "")
    key_path = ctx.where.rpartition(": ")[2]
    return bool(_HANDLER_KEY.search(key_path)) and module.split(".")[0] not in _CURRENT_LIBRARIES


def _per_item_note(ctx: BuildContext) -> str:
    return (
        f"{getattr(ctx.target, '__name__', 'component')}: output_transform lambda written for "
        "MONAI 0.x's one batch dict; applied to each item of today's per-item engine output"
    )


def _batch_view_note(ctx: BuildContext) -> str:
    return (
        f"{getattr(ctx.target, '__name__', 'handler')} is the archive's own code: it also sees "
        "engine.state.batch/output as one batch dict, as MONAI 0.5 engines had them"
    )


def _batch_view(ctx: BuildContext) -> object:
    from clara_cli.engine.batch_view import attach_with_batch_view

    shims.warn_once(ctx.where, _batch_view_note(ctx))
    return attach_with_batch_view(ctx.obj)


RULES = (
    Rule(
        "legacy.per_item_output_transform",
        _writes_lambda_output_transform,
        before=_per_item_output_transform,
        note=_per_item_note,
    ),
    Rule(
        "legacy.user_handler_batch_view",
        _user_code_handler,
        after=_batch_view,
        note=_batch_view_note,
    ),
)
