"""Checkpoints that survive a crash mid-write and cannot run code when loaded.

Writing: every file goes to a hidden temporary file in the target folder
(``.model.pt.<random>.tmp``), is flushed and fsynced, renamed over the target with
:func:`os.replace` (atomic on POSIX and Windows), and the folder is fsynced so that the rename
itself survives a power cut. A kill at any moment leaves either the old file or the new one;
the temporary file is removed on any Python-level failure (only a SIGKILL can leave one
behind, and it never has the target's name).

Reading: :func:`load_checkpoint` uses ``torch.load(..., weights_only=True)``, which only
rebuilds tensors and plain containers; a file that needs arbitrary unpickling is refused.

Naming for resume: periodic checkpoints are ``checkpoint_epoch=<N>.pt`` (optionally with a
prefix, e.g. ``net_checkpoint_epoch=<N>.pt``), which is also what ignite's ``Checkpoint`` and
MONAI's ``CheckpointSaver`` (``save_interval``, epoch level) write for a multi-item save_dict;
with a single item they write ``<item>_epoch=<N>.pt``. :func:`latest_checkpoint` returns the
file ``*epoch=<N>.pt`` with the largest N (temporary files never match).

MONAI's ``CheckpointSaver`` writes with ``atomic=False`` (see ``_DiskSaver`` in
``monai/handlers/checkpoint_saver.py``) and ignite's ``DiskSaver(atomic=True)`` renames but
never fsyncs; :class:`AtomicDiskSaver` and :func:`make_checkpoint_saver_atomic` close both gaps.
"""

from __future__ import annotations

import os
import pickle
import pickletools
import re
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from ignite.handlers import DiskSaver

from clara_cli.engine.finite import require_finite_weights
from clara_cli.errors import ClaraError
from clara_cli.io.atomic import atomic_write

#: Periodic checkpoints: ours (``checkpoint_epoch=N.pt``) and ignite's/MONAI's
#: (``[prefix_]<name>_epoch=N.pt``, where <name> is "checkpoint" or the single saved key).
CHECKPOINT_PATTERN = re.compile(r"^(?:[^.].*_)?epoch=(\d+)\.pt$")


def checkpoint_name(epoch: int, prefix: str = "") -> str:
    """File name of the periodic checkpoint of ``epoch``: ``[prefix_]checkpoint_epoch=N.pt``."""
    return f"{prefix}_checkpoint_epoch={epoch}.pt" if prefix else f"checkpoint_epoch={epoch}.pt"


def save_checkpoint(obj: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write ``obj`` with ``torch.save`` atomically (see the module docstring).

    Raises:
        ClaraError: the file cannot be written, or the weights hold NaN/Inf (the previous
            file, if any, is intact).
    """
    require_finite_weights(obj, path)
    try:
        return atomic_write(path, lambda handle: torch.save(dict(obj), handle), durable=True)
    except OSError as err:
        raise ClaraError(
            f"cannot write checkpoint {path}: {err.strerror or err}\n"
            "  check free disk space and write permission; the previous checkpoint is intact"
        ) from err


def load_checkpoint(path: str | os.PathLike[str], map_location: Any = "cpu") -> dict[str, Any]:
    """Load a checkpoint safely with ``torch.load(..., weights_only=True)``.

    Args:
        path: the checkpoint file.
        map_location: where tensors go (default CPU).

    Returns:
        The saved dictionary.

    Raises:
        ClaraError: the file is missing, truncated or corrupt, is not a dictionary, or holds
            Python objects that only unsafe unpickling could rebuild (refused, never retried
            unsafely: such a file can run arbitrary code).
    """
    source = Path(path)
    if not source.is_file():
        raise ClaraError(f"checkpoint not found: {source}")
    try:
        obj = torch.load(source, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        unsafe = _unsafe_globals(source)
        if unsafe:
            raise ClaraError(
                f"refusing to load checkpoint {source}: it contains Python objects that can run "
                f"code when loaded ({', '.join(unsafe)})\n"
                "  only tensors, numbers, strings and plain containers are accepted; re-save the "
                "state_dicts from a trusted environment"
            ) from None
        raise _corrupt(source, err) from err
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as err:
        raise _corrupt(source, err) from err
    if not isinstance(obj, dict):
        raise ClaraError(
            f"checkpoint {source} holds a {type(obj).__name__}, not a dictionary of state_dicts"
        )
    return obj


class AtomicDiskSaver(DiskSaver):
    """ignite's ``DiskSaver`` with fsync, a fixed file name option and umask permissions.

    Pass it as ``save_handler`` to ``ignite.handlers.Checkpoint``, or use
    :func:`make_checkpoint_saver_atomic` on a MONAI ``CheckpointSaver``. Like ``DiskSaver``,
    it writes only on ``save_on_rank`` (rank 0).

    Args:
        dirname: output folder (created when missing).
        filename: when given, always write this name (MONAI's ``final_filename`` /
            ``key_metric_filename``) instead of the name ignite chooses.
        save_on_rank: the rank that writes.
    """

    def __init__(
        self, dirname: str | os.PathLike[str], filename: str | None = None, save_on_rank: int = 0
    ) -> None:
        super().__init__(
            Path(dirname),
            atomic=True,
            create_dir=True,
            require_empty=False,
            save_on_rank=save_on_rank,
        )
        self.filename = filename

    def __call__(
        self, checkpoint: Mapping[str, Any], filename: str, metadata: Mapping | None = None
    ) -> None:
        super().__call__(checkpoint, self.filename or filename, metadata)

    def remove(self, filename: str) -> None:
        # ignite removes the previous best/final file *before* writing the next one. With a
        # fixed name the next write replaces the file atomically, so removing it first would
        # only open a window in which a kill leaves no model.pt at all.
        if self.filename is not None:
            return
        super().remove(filename)

    def _save_func(self, checkpoint: Mapping[str, Any], path: Path, func: Callable) -> None:
        require_finite_weights(checkpoint, path)
        atomic_write(path, lambda handle: func(checkpoint, handle, **self.kwargs), durable=True)


def make_checkpoint_saver_atomic(saver: Any) -> Any:
    """Make a MONAI ``CheckpointSaver`` write atomically, with fsync; returns the same saver.

    MONAI builds its ignite ``Checkpoint`` objects with a non-atomic private ``DiskSaver`` and
    offers no way to pass another, so this swaps their ``save_handler`` (keeping the fixed file
    names). Call it right after constructing the saver, before ``attach``.
    """
    for attr in ("_final_checkpoint", "_key_metric_checkpoint", "_interval_checkpoint"):
        checkpoint = getattr(saver, attr, None)
        if checkpoint is None:
            continue
        old = checkpoint.save_handler
        checkpoint.save_handler = AtomicDiskSaver(
            old.dirname,
            filename=getattr(old, "filename", None),
            save_on_rank=getattr(old, "save_on_rank", 0),
        )
    return saver


def _corrupt(source: Path, err: BaseException) -> ClaraError:
    what = _what_is_wrong(source)
    detail = "" if what == "the file is empty" else f" ({_reason(err)})"
    return ClaraError(
        f"cannot read checkpoint {source}: {what}{detail}\n"
        "  use an earlier checkpoint, or train again without resuming"
    )


def _what_is_wrong(source: Path) -> str:
    size = source.stat().st_size
    if size == 0:
        return "the file is empty"
    with source.open("rb") as handle:
        head = handle.read(4)
    # torch.save writes a zip archive, or (legacy format) a pickle starting with PROTO.
    if head.startswith(b"PK") or head[:1] == b"\x80":
        return "the file is truncated or corrupt"
    return f"the file ({size} bytes) is not a PyTorch checkpoint"


#: torch's weights_only refusal: advice (never to be repeated) around the one useful line.
_TORCH_REASON = re.compile(r"^(Unsupported operand \d+|.*GLOBAL [\w.]+.*)$", re.MULTILINE)


def _reason(err: BaseException) -> str:
    """A short cause of a failed load, without torch's advice to load unsafely."""
    text = str(err)
    if "weights_only" in text:
        match = _TORCH_REASON.search(text)
        return match.group(1).strip() if match else "unreadable pickle data"
    first = text.splitlines()[0] if text else "no detail"
    return f"{type(err).__name__}: {first}"


def _unsafe_globals(source: Path) -> list[str]:
    """Python globals a checkpoint would import when unpickled, other than torch's own.

    torch lists them for its zip format only; the legacy format (a few pickles one after
    the other) and plain pickles are scanned with the standard library's opcode reader,
    which parses without executing anything.
    """
    if zipfile.is_zipfile(source):
        try:
            return list(torch.serialization.get_unsafe_globals_in_checkpoint(source))
        except Exception:  # noqa: BLE001 - a file it cannot parse is reported as corrupt instead
            return []
    try:
        from torch._weights_only_unpickler import _get_allowed_globals

        allowed = set(_get_allowed_globals())
    except ImportError:  # a torch without it: its own rebuild functions are the usual ones
        allowed = set()
    found = [
        name
        for name in _pickled_globals(source)
        if name not in allowed and not name.startswith(("torch.", "collections.OrderedDict"))
    ]
    return list(dict.fromkeys(found))


def _pickled_globals(source: Path, max_pickles: int = 4) -> list[str]:
    """`module.name` of every GLOBAL/STACK_GLOBAL in the first pickles of the file."""
    names: list[str] = []
    with source.open("rb") as handle:
        for _ in range(max_pickles):
            strings: list[str] = []
            try:
                for opcode, arg, _pos in pickletools.genops(handle):
                    if opcode.name == "GLOBAL" and isinstance(arg, str):
                        names.append(arg.replace(" ", ".", 1))
                    elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                        names.append(f"{strings[-2]}.{strings[-1]}")
                    elif isinstance(arg, str):
                        strings.append(arg)
            except Exception:  # noqa: BLE001 - not (or no more) pickle data: stop scanning
                break
    return names


__all__ = [
    "CHECKPOINT_PATTERN",
    "AtomicDiskSaver",
    "checkpoint_name",
    "load_checkpoint",
    "make_checkpoint_saver_atomic",
    "save_checkpoint",
]
