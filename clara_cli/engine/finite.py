"""Non-finite values stop a run where they enter or first show, and never reach a checkpoint.

A NaN voxel, or a learning rate that makes training diverge, turns the loss and then every
weight into NaN; MONAI's engines carry on and the checkpoint savers keep writing. Three checks
close that gap:

- :class:`RequireFinited` runs right after each ``LoadImaged`` of a datalist's dataset and
  refuses an image with NaN or infinite voxels, naming the file;
- :class:`NonFiniteLossGuard` wraps the trainer's iteration (outside the bf16 -> fp32 redo of
  :mod:`clara_cli.engine.precision`) and stops at the first non-finite loss, naming the epoch,
  the iteration and the cases of the batch (tagged under :data:`CASE_KEY` when the dataset is
  built, since configs usually drop the image metadata before batching);
- :func:`require_finite_weights` is asked by every checkpoint write.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from typing import Any

from clara_cli.errors import ClaraError, DataError

#: The datalist item key holding the case's file(s), carried through the transforms.
CASE_KEY = "clara_case"


def case_label(item: Mapping[str, Any]) -> str:
    """The file(s) a datalist item names, for messages: its image, else any path it holds."""
    for key in ("image", "img"):
        if key in item:
            value = item[key]
            return ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
    paths = [str(v) for v in item.values() if isinstance(v, str)]
    return ", ".join(paths) or "?"


def count_non_finite(value: Any) -> tuple[int, int]:
    """(NaN voxels, infinite voxels) of an image array or tensor; (0, 0) for integer data."""
    import torch

    tensor = value.as_tensor() if hasattr(value, "as_tensor") else torch.as_tensor(value)
    if not tensor.is_floating_point():
        return 0, 0
    finite = torch.isfinite(tensor)
    if bool(finite.all()):
        return 0, 0
    nan = int(torch.isnan(tensor).sum())
    return nan, int((~finite).sum()) - nan


def _filename(data: Mapping[Hashable, Any], key: Hashable) -> str:
    meta = getattr(data[key], "meta", None) or data.get(f"{key}_meta_dict") or {}
    name = meta.get("filename_or_obj") if isinstance(meta, Mapping) else None
    return str(name or data.get(CASE_KEY) or key)


def describe_non_finite(data: Mapping[Hashable, Any], key: Hashable) -> None:
    """Raise DataError naming the file when `data[key]` holds NaN or infinite voxels."""
    nan, inf = count_non_finite(data[key])
    if nan or inf:
        found = " and ".join(
            f"{n} {what} voxel(s)" for n, what in ((nan, "NaN"), (inf, "infinite")) if n
        )
        raise DataError(
            f"{_filename(data, key)}: the image holds {found} ({key!r})\n"
            "  fix or remove this case: one NaN or infinite voxel turns the loss "
            "and then every weight into NaN"
        )


def with_finite_checks(transform: Any) -> Any:
    """`transform` (a list or Compose) with a finiteness check after each LoadImaged.

    The config's own objects are left as they are (a `ref` may share them with another
    section); anything else is returned unchanged.
    """
    import copy

    from monai.transforms import Compose, LoadImaged

    from clara_cli.engine.inserted_transforms import RequireFinited

    steps = transform.transforms if isinstance(transform, Compose) else transform
    if not isinstance(steps, (list, tuple)) or not any(isinstance(t, LoadImaged) for t in steps):
        return transform
    checked: list[Any] = []
    for step in steps:
        checked.append(step)
        if isinstance(step, LoadImaged):
            checked.append(RequireFinited(keys=step.keys, allow_missing_keys=True))
    if isinstance(transform, Compose):
        compose = copy.copy(transform)
        # A list, as before the merge: a tuple here (MONAI's own type) moved the DeepGrow
        # regression's Dice (0.6188 -> 0.6066) for a reason not yet found.
        compose.transforms = checked  # type: ignore[assignment]
        return compose
    return checked


class NonFiniteLossGuard:
    """Stop training at the first NaN/Inf loss, naming the epoch, iteration and cases.

    Wraps the trainer's iteration (whatever it is, like the bf16 redo): attach it after
    :class:`~clara_cli.engine.precision.NonFiniteGradientFallback`, so a bf16 step that the
    fallback redid in fp32 is judged by its fp32 loss. The error ends the run before any
    handler of that iteration or epoch can save the weights.
    """

    def attach(self, engine: Any) -> None:
        iteration = engine._process_function

        def checked(engine: Any, batch: Any) -> Any:
            output = iteration(engine, batch)
            loss = _loss_value(output)
            if loss is not None and not math.isfinite(loss):
                raise ClaraError(_diverged_message(engine, batch, loss))
            return output

        checked.__wrapped__ = iteration  # type: ignore[attr-defined]  # inspect.unwrap
        engine._process_function = checked


def require_finite_weights(state: Mapping[str, Any], path: Any) -> None:
    """Refuse to write a checkpoint whose network weights are not all finite.

    Raises:
        ClaraError: a floating-point tensor of its ``model`` state_dict (or of `state` itself,
            when it is a bare state_dict) holds NaN or Inf.
    """
    import torch

    weights = state.get("model", state)
    if not isinstance(weights, Mapping):
        weights = getattr(weights, "state_dict", dict)()
    tensors = [t for t in weights.values() if isinstance(t, torch.Tensor) and t.is_floating_point()]
    if not tensors:
        return
    # One fused reduction instead of a Python loop of per-tensor checks.
    if bool(torch.isfinite(torch.stack(torch._foreach_norm(tensors))).all()):
        return
    bad = [name for name, t in weights.items() if t is not None and _has_non_finite(t)]
    if not bad:  # finite weights whose norm overflowed (|w| near the float limit)
        return
    raise ClaraError(
        f"refusing to write checkpoint {path}: {len(bad)} weight tensor(s) hold NaN or Inf "
        f"({', '.join(bad[:3])}{', ...' if len(bad) > 3 else ''})\n"
        "  training diverged; the previous checkpoint is intact"
    )


def _has_non_finite(tensor: Any) -> bool:
    import torch

    return (
        isinstance(tensor, torch.Tensor)
        and tensor.is_floating_point()
        and not bool(torch.isfinite(tensor).all())
    )


def _loss_value(output: Any) -> float | None:
    item = output[0] if isinstance(output, list) and output else output
    if isinstance(item, Mapping) and "loss" in item:
        value = item["loss"]
        return float(value.detach().float().mean() if hasattr(value, "detach") else value)
    return None


def _diverged_message(engine: Any, batch: Any, loss: float) -> str:
    state = engine.state
    length = state.epoch_length or 0
    step = f"iteration {(state.iteration - 1) % length + 1} of {length}" if length else ""
    where = f"epoch {state.epoch}, {step}".rstrip(", ")
    cases = _batch_cases(batch)
    shown = f"\n  cases in this batch: {', '.join(cases)}" if cases else ""
    return (
        f"training stopped: the loss is {loss} at {where} (global iteration "
        f"{state.iteration}){shown}\n"
        "  no checkpoint holds these weights; check these cases' images and labels, or lower "
        "the learning rate (a rate too high makes training diverge)"
    )


def _batch_cases(batch: Any) -> list[str]:
    items = batch if isinstance(batch, list) else [batch]
    found: list[str] = []
    for item in items:
        value = item.get(CASE_KEY) if isinstance(item, Mapping) else None
        for name in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(name, str) and name not in found:
                found.append(name)
    return found
