"""Errors caused by one case's data name that case's files and say what to do.

MONAI wraps a failing transform's error as "applying transform <...Compose object at 0x...>"
and a failing training step surfaces as raw torch text ("index 7 is out of bounds"); neither
says which of hundreds of files is at fault. Two wrappers close that gap:

- :class:`CaseNamingCompose` (given to every datalist dataset) turns an error of the
  transforms into a DataError naming the item's files;
- :class:`BatchErrorNamer` (wrapping the trainer's iteration) names the cases of the batch
  a training step failed on.

:func:`check_label_range` (wired onto losses that one-hot encode the label) turns a label value
the network has no output channel for into a clear error instead of torch's index error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from monai.transforms import Compose

from clara_cli.errors import ClaraError, DataError, clara_error_in, first_line, root_cause

_STEP = re.compile(r"^applying transform <([\w.]+) object at 0x[0-9a-f]+>$")

#: Root-cause messages of an image file that cannot be read (nibabel, gzip, ITK, MONAI).
_UNREADABLE = re.compile(
    r"cannot find a suitable reader|ImageFileError|not a gzip file|Compressed file ended|"
    r"Error -3 while decompressing|end-of-stream|Unexpected end|unable to determine ImageIO|"
    r"Unable to read|file is empty|truncated|EOF",
    re.IGNORECASE,
)

#: MONAI's complaint when a size or spacing has more entries than the image has axes.
_DIMENSIONS = re.compile(r"Sequence must have length (\d+), got (\d+)")

_ADVICE = (
    "check this case's files against the config (dimensions, sizes, label values): fix or "
    "replace them, or remove the case from the datalist (`clara prepare-dataset` checks a "
    "whole dataset)"
)


class BatchDataError(DataError):
    """A problem of the data in a batch, found where the case is not known (the loss)."""


def transform_step(err: BaseException) -> str | None:
    """The innermost transform MONAI says it was applying when `err` happened, if any."""
    step = None
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        match = _STEP.match(str(current))
        if match:
            step = match.group(1).rsplit(".", 1)[-1]
        current = current.__cause__ or current.__context__
    return step


def explain(err: BaseException) -> str:
    """What is wrong, in the user's terms, for an error raised by a case's data."""
    root = root_cause(err)
    text = first_line(root)
    step = transform_step(err)
    if (step or "").startswith("LoadImage") and (
        _UNREADABLE.search(f"{type(root).__name__}: {text}")
        or isinstance(root, (OSError, EOFError))
    ):
        return f"the file cannot be read as an image: empty, truncated or not an image ({text})"
    dims = _DIMENSIONS.search(text)
    if dims:
        have, want = dims.group(1), dims.group(2)
        return (
            f"the image has {have} spatial dimension(s) where the config gives {want} "
            f"(a {have}D image for a {want}D model?): convert the case to {want}D, or use a "
            f"{have}D config ({text}, while applying transform {step or '?'})"
        )
    if "more than 1 value per channel" in text:
        return (
            "a BatchNorm layer saw a single value per channel (batch of 1 and a 1-voxel feature "
            "map): raise batch_size, use larger patches, or use instance normalisation"
        )
    where = f" (while applying transform {step})" if step else ""
    return f"{type(root).__name__}: {text}{where}"


def case_error(files: str, err: BaseException) -> DataError:
    """A DataError naming `files`, saying what `err` means and what to do."""
    return DataError(f"{files}: {explain(err)}\n  {_ADVICE}")


def _item_files(item: Any) -> list[str]:
    from clara_cli.engine.finite import CASE_KEY

    if not isinstance(item, Mapping):
        return []
    # Before loading: the datalist's paths; after (a cached item): the training tag, else
    # the file names in the loaded images' metadata.
    paths = [str(v) for k, v in item.items() if k != CASE_KEY and isinstance(v, str)]
    if not paths and isinstance(item.get(CASE_KEY), str):
        paths = [item[CASE_KEY]]
    if not paths:
        metas = [getattr(v, "meta", None) for v in item.values()]
        paths = [str(m["filename_or_obj"]) for m in metas if m and m.get("filename_or_obj")]
    return list(dict.fromkeys(paths))


def _unreadable_among(files: list[str]) -> list[str]:
    """Of an item's files, the NIfTI files that end early (the one a load failed on)."""
    from pathlib import Path

    from clara_cli.io.nifti_integrity import require_complete_nifti

    bad = []
    for name in files:
        try:
            require_complete_nifti(Path(name))
        except DataError:
            bad.append(name)
    return bad


class CaseNamingCompose(Compose):
    """A Compose whose failures name the files of the item it was applied to."""

    def __call__(self, input_: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        try:
            return super().__call__(input_, *args, **kwargs)
        except ClaraError:
            raise
        except Exception as err:
            own = clara_error_in(err)
            if own is not None:  # a check of clara's (NaN voxels) already names the file
                raise own.with_traceback(None) from None
            files = _item_files(input_)
            if not files:
                raise
            if (transform_step(err) or "").startswith("LoadImage"):
                files = _unreadable_among(files) or files
            raise case_error(" / ".join(files), err) from err


def naming_cases(transform: Any) -> Any:
    """`transform` (a list or plain Compose) as a :class:`CaseNamingCompose`.

    A copy: the config's own Compose may be shared with another section. Other transform
    types (a custom Compose subclass) are returned unchanged.
    """
    import copy

    if isinstance(transform, (list, tuple)):
        return CaseNamingCompose(list(transform))
    if type(transform) is Compose:
        named = copy.copy(transform)
        named.__class__ = CaseNamingCompose
        return named
    return transform


class BatchErrorNamer:
    """Name the batch's cases when a training step fails on its data.

    Wraps the trainer's iteration (attach after the non-finite loss guard, which names its
    cases itself). Errors of clara that do not concern the batch pass unchanged.
    """

    def attach(self, engine: Any) -> None:
        iteration = engine._process_function

        def named(engine: Any, batch: Any) -> Any:
            try:
                return iteration(engine, batch)
            except ClaraError as err:
                if not isinstance(err, BatchDataError):
                    raise
                raise DataError(_batch_message(engine, batch, str(err))) from err
            except Exception as err:
                if _is_out_of_memory(err):
                    raise
                raise DataError(_batch_message(engine, batch, explain(err))) from err

        named.__wrapped__ = iteration  # type: ignore[attr-defined]  # inspect.unwrap
        engine._process_function = named


def _is_out_of_memory(err: BaseException) -> bool:
    return isinstance(err, MemoryError) or "out of memory" in str(err).lower()


def _batch_message(engine: Any, batch: Any, what: str) -> str:
    from clara_cli.engine.finite import _batch_cases

    cases = _batch_cases(batch)
    state = engine.state
    named = ", ".join(cases) if cases else "(the batch carries no file names)"
    return (
        f"training failed at epoch {state.epoch}, iteration {state.iteration} on case(s) "
        f"{named}: {what}\n  {_ADVICE}"
    )


def check_label_range(loss: Any) -> Any:
    """Make a loss that one-hot encodes its target refuse label values it has no channel for.

    torch reports these as "index 7 is out of bounds for dimension 1 with size 2" from deep
    inside the one-hot encoding; this says which value and how many classes the network has.
    """
    forward = loss.forward

    def checked(input: Any, target: Any, *args: Any, **kwargs: Any) -> Any:
        channels = int(input.shape[1])
        if channels > 1 and target.numel():
            low, high = float(target.min()), float(target.max())
            if low < 0 or high >= channels:
                bad = high if high >= channels else low
                raise BatchDataError(
                    f"a label holds the value {bad:g}, but the network has {channels} output "
                    f"channels (label values 0 to {channels - 1}); relabel the case, or raise "
                    "the network's out_channels to the number of classes"
                )
        return forward(input, target, *args, **kwargs)

    loss.forward = checked
    return loss


def one_hot_encodes(loss: Any) -> bool:
    """Whether a loss (or a loss inside it) one-hot encodes its target (`to_onehot_y`)."""
    modules = loss.modules() if hasattr(loss, "modules") else [loss]
    return any(getattr(m, "to_onehot_y", False) is True for m in modules)
