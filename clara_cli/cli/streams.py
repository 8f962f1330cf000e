"""Text output that survives an ASCII locale (`LC_ALL=C` with `PYTHONUTF8=0`, minimal CI
images, cron jobs).

Reports print `±`, file names may hold any character, and a plain `print` or logging call
into an ASCII `sys.stdout` raises `UnicodeEncodeError` in the middle of a run. click already
writes UTF-8 bytes to such a stream; this makes `print`, logging and tqdm do the same, so
output is uniform and nothing crashes on a character.
"""

from __future__ import annotations

import io
import sys

_PROBE = "\u00b1\u2192"  # characters our reports print: ± →


def make_text_streams_utf8() -> None:
    """Re-encode stdout/stderr as UTF-8 when their encoding cannot write `±`; else no-op."""
    for stream in (sys.stdout, sys.stderr):
        if not isinstance(stream, io.TextIOWrapper):
            continue  # pytest's capture, a notebook: not a real console stream
        try:
            _PROBE.encode(stream.encoding or "ascii")
        except (UnicodeEncodeError, LookupError):
            stream.reconfigure(encoding="utf-8", errors="backslashreplace")
