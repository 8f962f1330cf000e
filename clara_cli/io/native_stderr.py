"""Keep the MetaImage reader's own stderr lines out of the terminal (shown with `-v`).

ITK's MetaImage library (MetaIO, inside SimpleITK) prints its parse errors straight to C++
`std::cerr` ("MetaImage: M_ReadElementsData: data not read completely", "DimSize required and
not defined.") before ITK raises the exception that clara turns into one `Error:` line naming
the file. `sitk.ProcessObject.SetGlobalWarningDisplay(False)` does not reach them and SimpleITK
has no other switch, so :func:`metaio_to_log` points file descriptor 2 at a temporary file
while a read runs, then logs MetaIO's lines (exactly those, by their known forms) at debug
level and writes every other byte back to stderr unchanged.

Reads may overlap (MONAI caches datasets with a thread pool): the first read to start redirects,
the last to finish restores and replays.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

log = logging.getLogger("clara")

#: The line forms MetaIO prints (metaImage.cxx, metaObject.cxx, metaUtils.cxx).
METAIO_LINE = re.compile(
    r"(Meta[A-Za-z]*: .*"  # "MetaImage: M_Read: Error parsing file", "MetaObject: Read: ..."
    r"|MET_[A-Za-z_]+: .*"  # "MET_ReadType: ..."
    r"|\s+ideal = \d+ : actual = \d+"  # continues "data not read completely"
    r"|\w+ required and not defined\.)"  # "DimSize required and not defined."
)

_lock = threading.Lock()
_depth = 0
_saved_fd: int | None = None
_capture: IO[bytes] | None = None


@contextmanager
def metaio_to_log() -> Iterator[None]:
    """Run the body with MetaIO's stderr lines sent to the `clara` logger (debug level)."""
    _enter()
    try:
        yield
    finally:
        _leave()


def _enter() -> None:
    global _depth, _saved_fd, _capture
    with _lock:
        if _depth == 0:
            try:
                sys.stderr.flush()
                capture = tempfile.TemporaryFile()
                saved = os.dup(2)
                os.dup2(capture.fileno(), 2)
            except (OSError, ValueError, AttributeError):
                return  # no usable descriptor 2: nothing to filter
            _saved_fd, _capture = saved, capture
        _depth += 1


def _leave() -> None:
    global _depth, _saved_fd, _capture
    with _lock:
        if _depth == 0:
            return  # _enter could not redirect
        _depth -= 1
        if _depth > 0 or _saved_fd is None or _capture is None:
            return
        try:
            sys.stderr.flush()
        except (OSError, ValueError, AttributeError):
            pass
        os.dup2(_saved_fd, 2)
        os.close(_saved_fd)
        _capture.seek(0)
        text = _capture.read()
        _capture.close()
        _saved_fd, _capture = None, None
    _replay(text)


def _replay(text: bytes) -> None:
    """MetaIO's lines to the log, everything else back to stderr as it was."""
    kept = []
    for line in text.splitlines(keepends=True):
        decoded = line.decode("utf-8", "replace").rstrip("\r\n")
        if METAIO_LINE.fullmatch(decoded):
            log.debug("ITK MetaImage reader: %s", decoded.strip())
        else:
            kept.append(line)
    if kept:
        os.write(2, b"".join(kept))


def _after_fork_in_child() -> None:
    """A process forked during a read (a DataLoader worker) gets its own stderr back."""
    global _lock, _depth, _saved_fd, _capture
    if _saved_fd is not None:
        os.dup2(_saved_fd, 2)
        os.close(_saved_fd)
    _lock, _depth, _saved_fd, _capture = threading.Lock(), 0, None, None


os.register_at_fork(after_in_child=_after_fork_in_child)
