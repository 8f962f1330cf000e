"""Losses that one-hot encode the label refuse label values the network has no channel for.

A label value 7 with 2 output channels otherwise fails inside torch's one-hot encoding as
"index 7 is out of bounds for dimension 1 with size 2" (see
:func:`clara_cli.engine.case_errors.check_label_range`).
"""

from __future__ import annotations

from typing import Any

from clara_cli.engine.wiring.predicates import subclass_of
from clara_cli.engine.wiring.rules import BuildContext, Rule

_is_loss = subclass_of("torch.nn.modules.loss._Loss")


def _check_label_range(ctx: BuildContext) -> Any:
    from clara_cli.engine.case_errors import check_label_range, one_hot_encodes

    return check_label_range(ctx.obj) if one_hot_encodes(ctx.obj) else ctx.obj


RULES = (Rule("label_range.one_hot_losses", _is_loss, after=_check_label_range),)
