"""Write files atomically: readers (and a killed run) never see half a file under its name.

Every writer of clara goes through here: checkpoints, datalists, metric tables, figures,
exported models, launcher records. The content is written to a temporary file in the target's
folder (`os.replace` is atomic only within one file system), then renamed over the target.
The file gets the mode a plain `open()` would give it (0666 & ~umask), not `mkstemp`'s 0600.
With `durable=True` the file and its folder are fsynced, so a crash right after the rename
cannot leave an empty file (checkpoints need this; reports do not).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


def atomic_write(
    path: str | os.PathLike[str], write: Callable[[IO[bytes]], None], *, durable: bool = False
) -> Path:
    """Call ``write(fileobj)`` on a temporary binary file, then move it to ``path``.

    Args:
        path: the final file; its folder is created if missing.
        write: writes the content to the binary file object it is given.
        durable: fsync the file and its folder (for checkpoints).

    Returns:
        The final path.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o666 & ~_umask())
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    if durable:
        _fsync_dir(target.parent)
    return target


def atomic_write_text(path: str | os.PathLike[str], text: str, *, durable: bool = False) -> Path:
    """Write ``text`` (UTF-8, newlines as given) to ``path`` atomically."""

    def write(handle: IO[bytes]) -> None:
        handle.write(text.encode("utf-8"))

    return atomic_write(path, write, durable=durable)


@contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``path`` for a writer that needs a file name.

    On success the temporary file replaces ``path``; on any error it is removed and ``path``
    is left untouched. ``suffix`` keeps the extension writers choose their format by
    (``".png"``, ``".onnx"``).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=f".tmp{suffix}", dir=target.parent
    )
    os.close(fd)
    temp = Path(tmp_name)
    try:
        yield temp
        os.chmod(temp, 0o666 & ~_umask())
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)


def _umask() -> int:
    # os.umask can only be read by setting it; restore at once.
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    if os.name != "posix":  # Windows cannot open a directory for fsync
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems (e.g. certain network mounts) refuse fsync on directories
    finally:
        os.close(fd)
