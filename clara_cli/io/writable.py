"""Check that an output folder can be written before a run spends any time.

A folder that cannot be written is otherwise found late: TensorBoard's writer thread fails
in the background after the first epoch, a checkpoint save fails after a whole epoch, the
evaluation report fails after a whole validation. The check creates nothing: a folder that
does not exist yet is writable when its nearest existing parent is a folder we may write in.
"""

from __future__ import annotations

import os
from pathlib import Path

from clara_cli.errors import ClaraError


def require_writable_folder(folder: str | os.PathLike[str], what: str) -> Path:
    """Return `folder` as a Path when it exists and is writable, or could be created.

    Args:
        folder: the output folder.
        what: what the folder is for, for the message ("checkpoint folder MMAR_CKPT_DIR").

    Raises:
        ClaraError: the folder (or the parent it would be created in) is a file, or is not
            writable by this user.
    """
    target = Path(folder).absolute()
    existing = target
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ClaraError(
            f"cannot write the {what} {target}: {existing} is a file, not a folder\n"
            "  choose another folder, or move the file out of the way"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        reason = "is not writable" if existing == target else f"cannot be created in {existing}"
        raise ClaraError(
            f"cannot write the {what} {target}: the folder {reason} (permission denied)\n"
            "  choose a folder you can write to, or change its permissions"
        )
    return target
